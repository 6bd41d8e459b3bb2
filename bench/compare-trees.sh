#!/usr/bin/env bash
# Times moec in two checkouts side by side, alternating, so a refactor's cost is measured within
# one run on one machine: the OLMoE layer (1 and 2 threads) and the whole-model decode step.
#   bash bench/compare-trees.sh OLD_TREE NEW_TREE [ROUNDS]
# Each tree must be built (npm run build) and have node_modules.
set -euo pipefail
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd); rounds=${3:-3}
layer='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);for(const e of r.engines)console.log("  layer", e.label, JSON.stringify(Object.fromEntries(Object.entries(e.times).map(([t,x])=>[t,+x.median.toFixed(3)]))))})'
decode='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log("  decode", r.kernels, "step ms median", r.step.median.toFixed(2), "prefill ms", r.prefillMs.toFixed(1))})'
for round in $(seq 1 "$rounds"); do
  for tree in "$old" "$new"; do
    echo "== $tree (round $round, $(git -C "$tree" rev-parse --short HEAD))"
    (cd "$tree" && node --experimental-strip-types bench/moe-layer.ts --shape olmoe --engines moec,moec:2 --seconds 1 2>/dev/null | node -e "$layer")
    (cd "$tree" && node --experimental-strip-types bench/model-decode.ts --tokens 24 --threads 1 2>/dev/null | node -e "$decode")
  done
done
