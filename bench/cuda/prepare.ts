// Writes everything the GPU machine needs to check and time the CUDA backend, which has no Node:
// the run there builds it with nvcc (bench/cuda/device.sh), runs it, and its outputs come back
// here to be compared (bench/cuda/compare.ts).
//
//   npx esbuild bench/cuda/prepare.ts --bundle --platform=node --format=esm --packages=external --outfile=node_modules/.cache/cuda-prepare.mjs
//   node node_modules/.cache/cuda-prepare.mjs DIR
//
// DIR/src        the library sources with every storage format's kernels, kernel_test.cu, moe_bench.cu
// DIR/cases.bin  kernel_test's cases (every format's values as runtime/weights decodes them, route()'s choices)
// DIR/models/X   model.cu + weights.safetensors + args for each HF fixture the backend prints (weights
//                in the formats their checkpoints ship), and quantized plans of qwen3_moe
// DIR/layers/X   model.cu of one MoE layer at a benchmark shape (bf16 weights, filled on the GPU)
// DIR/expect/X.json  what the quantized models must give: the reference interpreter over the weights the
//                quantized kernels read (dequantised), prompt logits and greedy continuation (stays here)
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkSource } from "../../compiler/index.js";
import { runPipeline, planGraph } from "../../compiler/passes/pipeline.js";
import { loadGraph, openWeights } from "../../compiler/run/load.js";
import { planFor } from "../../compiler/run/engines.js";
import { generate, promptLogits } from "../../compiler/run/generate.js";
import { quantizeFor, quantizeFlag } from "../../compiler/quant/run.js";
import { effectiveF32 } from "../../compiler/weights/bound.js";
import { writeWeightPack } from "../../compiler/weights/pack.js";
import { cstyleSources, formatSources } from "../../backends/cuda/emit.js";
import { CudaEmitError, planToC } from "../../backends/cuda/plan-c.js";
import { STORAGE_FORMATS } from "../../runtime/plan/formats.js";
import { kernelCases } from "../../test/backends/cuda/cases.js";
import { namedRandom } from "../../test/helpers/seed.js";
import { HF, hfFolders } from "../../test/helpers/fixtures.js";
import { DECODE_MODELS, LAYERS, decodeSource, layerSource } from "./layers.ts";

const out = process.argv[2];
if (!out) throw new Error("usage: node prepare.mjs DIR [--fixtures a,b,...] [--layers a,b,...]");
// --fixtures a,b: only those HF fixtures (no quantized plans, no benchmark layers), for a parity run.
const listFlag = (flag: string) => (process.argv.includes(flag) ? process.argv[process.argv.indexOf(flag) + 1]!.split(",") : undefined);
const onlyLayers = listFlag("--layers");
// --layers a,b: only those benchmark layers (and the fixtures --fixtures names, no quantized plans).
const only = listFlag("--fixtures") ?? (onlyLayers ? [] : undefined);

// ---- the library ----------------------------------------------------------------------------------
const src = join(out, "src");
await mkdir(join(src, "tests"), { recursive: true });
// Run from the repository's root (the bundled script itself lives elsewhere).
const csrc = join(process.cwd(), "backends", "cuda", "csrc");
for (const f of await readdir(csrc)) if (/\.(h|cuh|cu|c)$/.test(f)) await copyFile(join(csrc, f), join(src, f));
for (const [name, text] of Object.entries({ ...cstyleSources(), ...formatSources(STORAGE_FORMATS) })) await writeFile(join(src, name), text);
await copyFile(join(csrc, "tests", "kernel_test.cu"), join(src, "tests", "kernel_test.cu"));
for (const f of ["moe_bench.cu", "mm_bench.cu"]) await copyFile(join(process.cwd(), "bench", "cuda", f), join(src, f));
await writeFile(join(out, "formats.txt"), STORAGE_FORMATS.join(" ") + "\n");
await writeFile(join(out, "cases.bin"), kernelCases(namedRandom(20261203, "kernels"), { routes: 400 }));

// ---- HF fixtures ------------------------------------------------------------------------------------
const refused: string[] = [];
for (const name of hfFolders) {
  if (only && !only.includes(name)) continue;
  const g = await loadGraph(join(HF, name));
  if (!("hfDir" in g)) throw new Error(`${name}: no graph`);
  const w = await openWeights(g.graph, g.hfDir, {});
  try {
    await model(name, planFor(g.graph, w, "cuda"), w, name);
  } finally {
    await w.close();
  }
}

// Quantized plans of one fixture: every kind of format (channel, moec blocks, GGUF blocks, fp8, mxfp4).
for (const scheme of only ? [] : ["int8", "int4:g32", "q4_k", "q8_0", "fp8", "mxfp4"]) {
  const name = "qwen3_moe";
  const g = await loadGraph(join(HF, name));
  if (!("hfDir" in g)) throw new Error(`${name}: no graph`);
  const w = await openWeights(g.graph, g.hfDir, {});
  try {
    const q = await quantizeFor(g.graph, w, "cuda", quantizeFlag(scheme)!, { threads: 1 });
    const id = `${name}_${scheme.replace(":", "_")}`;
    if (!(await model(id, q.plan, w, name))) continue;
    // The reference over exactly the weights the kernels read.
    const map = new Map<string, Float32Array>();
    for (const pw of q.plan.weights) map.set(pw.name, await effectiveF32(w, pw.name, pw.format, pw.shape));
    const ids = prompt(name);
    const n = meta(name).greedy_continuation.length;
    const ref = { graph: g.graph, weights: map };
    const logits = promptLogits(ref, ids);
    await mkdir(join(out, "expect"), { recursive: true });
    await writeFile(join(out, "expect", `${id}.json`), JSON.stringify({ logits: Array.from(logits.data), ids: generate(ref, ids, n).ids }));
  } finally {
    await w.close();
  }
}

// ---- benchmark layers -------------------------------------------------------------------------------
await writeFile(join(out, "layers.json"), JSON.stringify(LAYERS));
for (const shape of onlyLayers ? LAYERS.filter((l) => onlyLayers.includes(l.name)) : only ? [] : LAYERS) {
  const graph = compile(shape.name, layerSource(shape, 4096));
  // Every weight the kernels read in a format in bf16 (as the checkpoints ship), the rest f32.
  const plan = planGraph(graph, { context: { shipped: () => "bf16", formats: STORAGE_FORMATS } });
  const dir = join(out, "layers", shape.name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "model.cu"), planToC(plan).source);
}
// ---- whole-model decode ------------------------------------------------------------------------------
const onlyDecode = listFlag("--decode");
const decodeModels = onlyDecode ? DECODE_MODELS.filter((d) => onlyDecode.includes(d.name)) : only ? [] : DECODE_MODELS;
await writeFile(join(out, "decode.json"), JSON.stringify(decodeModels));
for (const dm of decodeModels) {
  const graph = compile(dm.name, decodeSource(readFileSync(join(process.cwd(), "examples", dm.example), "utf8"), dm.layers));
  const plan = planGraph(graph, { context: { shipped: () => "bf16", formats: STORAGE_FORMATS } });
  const dir = join(out, "decode", dm.name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "model.cu"), planToC(plan).source);
}

console.log(`wrote ${out}${refused.length ? `; refused (no CUDA kernel): ${refused.join(", ")}` : ""}`);

// ---- helpers ------------------------------------------------------------------------------------------

function compile(name: string, text: string) {
  const checked = checkSource(name, text);
  if (!checked.graph) throw new Error(`${name} does not check:\n${checked.diagnostics.map((d) => JSON.stringify(d)).join("\n")}`);
  return runPipeline(checked.graph).graph;
}

function meta(fixture: string): { greedy_continuation: number[] } {
  return JSON.parse(readFileSync(join(HF, fixture, "meta.json"), "utf8")) as { greedy_continuation: number[] };
}

function prompt(fixture: string): number[] {
  const ids = JSON.parse(readFileSync(join(HF, fixture, "input_ids.json"), "utf8")) as number[] | number[][];
  return (Array.isArray(ids[0]) ? ids[0] : ids) as number[];
}

/** models/ID: model.cu, the weight pack, and `args` (prompt ids and tokens to generate); false if refused. */
async function model(id: string, plan: ReturnType<typeof planGraph>, w: Awaited<ReturnType<typeof openWeights>>, fixture: string): Promise<boolean> {
  let source: string;
  try {
    source = planToC(plan).source;
  } catch (e) {
    if (!(e instanceof CudaEmitError)) throw e;
    refused.push(`${id} (${e.message})`);
    return false;
  }
  const dir = join(out!, "models", id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "model.cu"), source);
  await writeWeightPack(join(dir, "weights.safetensors"), plan, (n, f, sh, into) => w.read(n, f, sh, into));
  await writeFile(join(dir, "args"), `--ids ${prompt(fixture).join(",")} -n ${meta(fixture).greedy_continuation.length}\n`);
  await writeFile(join(dir, "fixture"), fixture + "\n");
  await writeFile(join(dir, "formats"), [...new Set(plan.weights.map((pw) => pw.format))].join(" ") + "\n");
  return true;
}
