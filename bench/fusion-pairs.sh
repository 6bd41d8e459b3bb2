#!/bin/sh
# Fused against unfused, each side in its own process, alternated by farm-bench --vs (A B A B …):
# each process prints its own medians (bench/fusion.ts --side), the ratios are taken pair by pair.
#   sh bench/fusion-pairs.sh RUNS ARGS...     e.g.  sh bench/fusion-pairs.sh 5 --what layer --shape olmoe --tokens 1,16
set -e
RUNS=$1; shift
OUT=$(mktemp -d)
cd "$(dirname "$0")/.."
farm-bench -n "$RUNS" --warmup 0 --timeout 3000 \
  --vs "sh -c 'exec node --experimental-strip-types bench/fusion.ts --side unfused $* >> $OUT/unfused.txt 2>&1'" \
  -- sh -c "exec node --experimental-strip-types bench/fusion.ts --side fused $* >> $OUT/fused.txt 2>&1" >&2
node -e '
const fs = require("node:fs");
const read = (f) => fs.readFileSync(f, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
const [a, b] = [read(process.argv[1] + "/fused.txt"), read(process.argv[1] + "/unfused.txt")];
for (const key of Object.keys(a[0]).filter((k) => a[0][k] && typeof a[0][k] === "object")) {
  const r = a.map((x, i) => x[key].median / b[i][key].median).sort((p, q) => p - q);
  const med = (v) => v[Math.floor((v.length - 1) / 2)] / 2 + v[Math.ceil((v.length - 1) / 2)] / 2;
  console.log(`${key}: fused ${a.map((x) => x[key].median.toFixed(2)).join(", ")} ms; unfused ${b.map((x) => x[key].median.toFixed(2)).join(", ")} ms; fused/unfused per pair ${r.map((x) => x.toFixed(3)).join(", ")}; median ${med(r).toFixed(3)}`);
}' "$OUT"
