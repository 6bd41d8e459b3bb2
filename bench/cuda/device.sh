#!/usr/bin/env bash
# The GPU machine's half of the CUDA checks and benchmarks (it has nvcc, a GPU, PyTorch; no Node).
# DIR is what bench/cuda/prepare.ts wrote (src/, cases.bin, models/, layers/); builds go to
# $BUILD (default DIR/../.devcuda-build, kept between calls while the machine stays warm);
# results go to $OUT/results.tar.gz for bench/cuda/compare.ts.
#
#   bash device.sh DIR [build] [kernels] [parity] [sanitize] [bench] [peers] [decode]
set -uo pipefail
DIR=$(cd "$1" && pwd); shift
BUILD=${BUILD:-$DIR/../.devcuda-build}
RES=${RES:-/tmp/moec-results}
mkdir -p "$BUILD/lib" "$BUILD/models" "$BUILD/layers" "$RES"
ARCH="-gencode=arch=compute_90a,code=sm_90a"
NVFLAGS="-O3 -std=c++20 -lineinfo --expt-relaxed-constexpr -Xcudafe --diag_suppress=177"
JOBS=$(nproc)
LIBOBJ="runtime ops tune cstyle formats_used $(for f in $(cat "$DIR/formats.txt"); do echo -n "mm_$f "; done)"
export DIR BUILD ARCH NVFLAGS LIBOBJ RES
log() { echo "[$(date +%T)] $*"; }

build_lib() {
  log "library: nvcc $ARCH, $JOBS jobs"
  ls "$DIR"/src/*.cu "$DIR/src/tests/kernel_test.cu" | xargs -P "$JOBS" -I{} sh -c 'o="$BUILD/lib/$(basename {} .cu).o"; [ -f "$o" ] || nvcc $NVFLAGS $ARCH -c {} -o "$o" || { echo "FAILED: {}"; exit 255; }' || return 1
  gcc -O2 -c "$DIR/src/main.c" -o "$BUILD/lib/main.o" || return 1
  ar rcs "$BUILD/lib/libmoec.a" $(for o in $LIBOBJ; do echo "$BUILD/lib/$o.o"; done) || return 1
  nvcc $ARCH "$BUILD/lib/kernel_test.o" "$BUILD/lib/libmoec.a" -o "$BUILD/kernel_test" || return 1
  # Every model and layer: model.cu compiled and linked (host program, or the layer benchmark).
  # (a parity-only folder, prepare.ts --fixtures, has no layers/: that ls fails, the build does not)
  { ls -d "$DIR"/models/*/ "$DIR"/layers/*/ "$DIR"/decode/*/ 2>/dev/null; true; } | xargs -P "$JOBS" -I{} sh -c '
    d={}; kind=$(basename $(dirname $d)); name=$(basename $d); out="$BUILD/$kind/$name"; mkdir -p "$out"
    nvcc $NVFLAGS $ARCH -I"$DIR/src" -c "$d/model.cu" -o "$out/model.o" || { echo "FAILED: $d"; exit 255; }
    if [ "$kind" = models ] || [ "$kind" = decode ]; then nvcc $ARCH "$out/model.o" "$BUILD/lib/main.o" "$BUILD/lib/libmoec.a" -o "$out/moec_run";
    else nvcc $NVFLAGS $ARCH -I"$DIR/src" "$DIR/src/moe_bench.cu" "$out/model.o" "$BUILD/lib/libmoec.a" -o "$out/moe_bench"; fi' || return 1
  log "built"
}

kernels() {
  log "kernel_test on the GPU"
  "$BUILD/kernel_test" "$DIR/cases.bin" > "$RES/kernel_test.txt" 2>&1
  echo "kernel_test exit $?" >> "$RES/kernel_test.txt"
  grep -v '^PASS' "$RES/kernel_test.txt" | tail -20
}

parity() {
  log "parity: every model, prompt logits, greedy continuation, a batch of 3"
  for d in "$DIR"/models/*/; do
    name=$(basename "$d"); exe="$BUILD/models/$name/moec_run"; mkdir -p "$RES/parity/$name"
    # shellcheck disable=SC2046
    (cd "$RES/parity/$name" && "$exe" $(cat "$d/args") -w "$d/weights.safetensors" --json --logits prompt.f32 --step-logits steps.f32 > run.json 2> err.txt
     echo $? > rc; "$exe" $(cat "$d/args") -w "$d/weights.safetensors" --json --batch 3 > batch.json 2>> err.txt; echo $? >> rc)
  done
  grep -L '^0' "$RES"/parity/*/rc | sed 's/^/nonzero: /'
}

sanitize() {
  log "compute-sanitizer memcheck (and racecheck on one)"
  for name in "$@"; do
    d="$DIR/models/$name"; [ -d "$d" ] || continue
    # shellcheck disable=SC2046
    compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD/models/$name/moec_run" $(cat "$d/args") -w "$d/weights.safetensors" --batch 2 > "$RES/memcheck-$name.txt" 2>&1
    echo "memcheck $name exit $?" | tee -a "$RES/sanitizer.txt"
  done
  name=$1; d="$DIR/models/$name"
  # shellcheck disable=SC2046
  compute-sanitizer --tool racecheck --error-exitcode 9 "$BUILD/models/$name/moec_run" $(cat "$d/args") -w "$d/weights.safetensors" > "$RES/racecheck-$name.txt" 2>&1
  echo "racecheck $name exit $?" | tee -a "$RES/sanitizer.txt"
}

bench() {
  log "moec MoE layers (CUDA graph, mean of replays)"
  for d in "$DIR"/layers/*/; do
    name=$(basename "$d")
    timeout "${BENCH_TIMEOUT:-120}" "$BUILD/layers/$name/moe_bench" --tokens 1,2,4,8,16,32,64,128,256,512,1024,2048,4096 --replays "${REPLAYS:-100}" 2>&1 | tee "$RES/bench-$name.jsonl"
  done
}

peers() {
  log "peers: read bandwidth, bf16 matmul, torch._grouped_mm, transformers"
  timeout "${PEERS_TIMEOUT:-300}" python3 "$(dirname "$0")/peers.py" "$DIR/layers.json" 2>&1 | tee "$RES/peers.jsonl"
}

decode() {
  log "whole-model decode: moec_run on random bf16 weights, and transformers generate"
  ids=$(python3 -c "import random; random.seed(5); print(','.join(str(random.randrange(1000, 30000)) for _ in range(32)))")
  for d in "$DIR"/decode/*/; do
    name=$(basename "$d")
    timeout "${DECODE_TIMEOUT:-120}" "$BUILD/decode/$name/moec_run" --ids "$ids" -n 65 --random-weights 1 --bench 3 --json --max-context 128 > "$RES/decode-$name.json" 2> "$RES/decode-$name.err"
    cat "$RES/decode-$name.json"
  done
  timeout "${DECODE_PEER_TIMEOUT:-240}" python3 "$(dirname "$0")/decode_peer.py" "$DIR/decode.json" 2>&1 | tee "$RES/decode-peers.jsonl"
}

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader > "$RES/gpu.txt" 2>&1
for step in "$@"; do
  case "$step" in
    build) build_lib || { log "build failed"; break; } ;;
    kernels) kernels ;;
    parity) parity ;;
    sanitize) sanitize ${SANITIZE:-mixtral deepseek_v3 gpt_oss} ;;
    bench) bench ;;
    peers) peers ;;
    decode) decode ;;
  esac
done
if [ -n "${OUT:-}" ]; then tar czf "$OUT/results-${TAG:-run}.tar.gz" -C "$RES" . && log "results in \$OUT/results-${TAG:-run}.tar.gz"; fi
