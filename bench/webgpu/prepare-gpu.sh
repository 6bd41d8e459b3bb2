#!/usr/bin/env bash
# Here (the machine with Node): everything the GPU machine's half (device.sh) needs, into DIR —
# a folder the device tool carries: the benchmark and parity scripts bundled for Deno (esbuild),
# plans of whole models for the decode benchmark, the PyTorch peer, device.sh itself, and the
# xz-compressed Deno binary and Vulkan loader packages of ../shared/tools/prepare-gpu-carry.sh.
# The parity run reads test/fixtures/hf from the tree that travels; its bundle sits two folders
# below the tree's root so that the fixture helpers find it.
#   bash bench/webgpu/prepare-gpu.sh DIR      (DIR inside the checkout the device tool sends)
set -euo pipefail
DIR=${1:?usage: prepare-gpu.sh DIR}
cd "$(dirname "$0")/../.."
mkdir -p "$DIR/js" "$DIR/plans"
npm run build >/dev/null
BANNER='import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);'
for f in gpu-bench parity; do
  npx esbuild "bench/webgpu/$f.ts" --bundle --format=esm --platform=node --target=es2022 --outfile="$DIR/js/$f.js" \
    --alias:binaryen=./bench/webgpu/absent-module.cjs --alias:esbuild=./bench/webgpu/absent-module.cjs --alias:ts-morph=./bench/webgpu/absent-module.cjs \
    --alias:prettier=./bench/webgpu/absent-module.cjs --alias:onnxruntime-node=./bench/webgpu/absent-module.cjs --alias:playwright-core=./bench/webgpu/absent-module.cjs \
    --banner:js="$BANNER" --log-level=warning
done
node --input-type=module -e "
import { loadGraph } from './dist/compiler/run/load.js';
import { planGraph } from './dist/compiler/passes/pipeline.js';
import { writeFileSync } from 'node:fs';
const g = await loadGraph('examples/olmoe-1b-7b.moe');
writeFileSync('$DIR/plans/olmoe.plan.json', JSON.stringify(planGraph(g.graph)));
"
cp bench/webgpu/torch_moe.py bench/webgpu/device.sh "$DIR/"
du -sh "$DIR" >&2
