#!/usr/bin/env bash
# The GPU machine's half (no Node there): WGSL through Deno over the NVIDIA Vulkan driver, and
# the PyTorch peers, in one run. DIR is what prepare-gpu.sh wrote (plus deno.xz and gl/*.deb).
# Results: $OUT/webgpu.jsonl, $OUT/torch.jsonl, $OUT/parity.jsonl.
#   bash DIR/device.sh DIR [parity] [bench] [torch]
set -uo pipefail
DIR=$(cd "$1" && pwd); shift
for f in "$DIR"/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json XDG_RUNTIME_DIR=/tmp
# Deno comes as $DIR/deno.xz, or as DENO_XZ (a path, e.g. pieces joined after two calls when the tree leaves too little room for one)
xz -dc "${DENO_XZ:-$DIR/deno.xz}" > /tmp/deno && chmod +x /tmp/deno
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
for step in "$@"; do
  case $step in
    parity) echo "== parity"; /tmp/deno run -A "$DIR/js/parity.js" | tee "$OUT/parity.jsonl" | grep -v '"ok":true' ;;
    bench) echo "== webgpu bench"; /tmp/deno run -A "$DIR/js/gpu-bench.js" --decode="$DIR/plans/olmoe.plan.json" | tee "$OUT/webgpu.jsonl" ;;
    torch) echo "== torch peers"; PYTHONUNBUFFERED=1 python3 "$DIR/torch_moe.py" | tee "$OUT/torch.jsonl" ;;
  esac
done
