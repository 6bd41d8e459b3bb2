// Expert fusion, fused against unfused, on the WASM kernels: the same .moe program planned with
// the fuse-experts pass (--enable-pass fuse-experts) and without it, same random weights, two
// models in one process. Passes of each alternate — A B, then B A, … — and the ratio
// fused/unfused is taken pair by pair, so a machine whose speed drifts (this one is shared)
// moves both sides of a ratio alike; the report gives the median ratio and its p10–p90 spread.
// Both outputs are compared before anything is timed. --rounds R: R·64/T pairs per layer
// shape (R·16 decode steps for a model).
//
//   node --experimental-strip-types bench/fusion.ts --what layer --shape olmoe [--tokens 1,16,64] [--threads 1] [--rounds 9]
//   node --experimental-strip-types bench/fusion.ts --what model --shape qwen3 [--layers 1] [--vocab 32000] [--threads 1] [--rounds 9]
//   --fused-max-rows N|inf: expert rows up to which fused steps run the fused kernels (default:
//   the WASM device's FUSED_MAX_ROWS; inf compares the fused kernels at every row count)
//   --control: both sides run the unfused plan (an A/A run: what the machine alone does to a ratio)
//
// layer: one MoE layer (router, k of E SwiGLU experts) at decode (1 token: each pass a new
// hidden state, so new experts stream from memory) and prefill (T tokens). model: whole-model
// decode of a decoder at the shape's layer sizes (attention with its KV cache, the MoE, the
// head), cut to a few layers and a smaller vocabulary so two copies fit this machine.
import { parseArgs } from "node:util";
import { planGraph } from "../dist/compiler/passes/pipeline.js";
import { FUSED_NAMES } from "../dist/runtime/kernels/fused.js";
import { Model } from "../dist/runtime/model.js";
import type { Graph } from "../dist/compiler/index.js";
import { compileSource, layerSource, moecKernels } from "./moec.ts";
import { SHAPES, type ShapeName } from "./moe-layer.ts";
import { fillUniform } from "./onnx/moe-model.ts";
import { stats, type Stats } from "./timing.ts";

/** The attention of each shape's real model (OLMoE-1B-7B: 16 × 128, no GQA; Qwen3-30B-A3B: 32 q / 4 kv heads × 128). */
const ATTENTION: Record<"olmoe" | "qwen3", { heads: number; kvHeads: number; headDim: number }> = {
  olmoe: { heads: 16, kvHeads: 16, headDim: 128 },
  qwen3: { heads: 32, kvHeads: 4, headDim: 128 },
};

function modelSource(shape: "olmoe" | "qwen3", layers: number, vocab: number): string {
  const s = SHAPES[shape];
  const a = ATTENTION[shape];
  return `model FusionBench {
  const vocab = ${vocab}, d = ${s.hidden}, layers = ${layers}
  const heads = ${a.heads}, kv_heads = ${a.kvHeads}, head_dim = ${a.headDim}
  const experts = ${s.experts}, top_k = ${s.k}, ffn = ${s.inter}
  const eps = 1e-6

  expert SwiGLU(x: [T, d], ffn: int) -> [T, d] {
    gate = linear(x, ffn) @ "gate_proj"
    up = linear(x, ffn) @ "up_proj"
    return linear(silu(gate) * up, d) @ "down_proj"
  }

  block Decoder(h: [seq, d]) -> [seq, d] {
    a = rmsnorm(h, eps) @ "input_layernorm"
    h = h + attention(a, heads, kv_heads, head_dim = head_dim, rope = rope(theta = 10000), qk_norm = "head", norm_eps = eps) @ "self_attn"
    m = rmsnorm(h, eps) @ "post_attention_layernorm"
    h = h + moe(m, experts = experts of SwiGLU(ffn = ffn) @ "experts.{e}",
                router = topk(k = top_k, renormalize = true) @ "gate") @ "mlp"
    return h
  }

  input tokens: i32[seq]
  h = embed(tokens, vocab, d) @ "model.embed_tokens"
  for i in 0..layers {
    h = Decoder(h) @ "model.layers.{i}"
  }
  output logits = linear(rmsnorm(h, eps) @ "model.norm", vocab) @ "lm_head"
}
`;
}

interface Side {
  readonly model: Model;
  /** Milliseconds of each timed pass. */
  readonly blocks: number[];
}

/** Expert rows up to which fused steps run the fused kernels (--fused-max-rows; default: the WASM device's own). */
let fusedMaxRows: number | undefined;
/** --control: both sides unfused (an A/A run: the spread and bias the machine alone gives a ratio). */
let control = false;

async function twoModels(graph: Graph, threads: number, maxTokens: number, maxContext: number): Promise<{ fused: Side; unfused: Side; label: string; steps: { fused: number; unfused: number } }> {
  const kernels = await moecKernels(threads, false, fusedMaxRows);
  if (kernels.kind !== "wasm") throw new Error("bench/fusion.ts measures the WASM backend: build it first (npm run build)");
  const context = { fused: FUSED_NAMES };
  const plans = { fused: planGraph(graph, { context, enabled: control ? [] : ["fuse-experts"] }), unfused: planGraph(graph, { context }) };
  // Uniform random weights (xorshift: fast, so gigabytes load in seconds), std 0.02, hidden states and norms std 1.
  const seedOf = (name: string) => [...name].reduce((h, ch) => (Math.imul(h, 31) + ch.charCodeAt(0)) | 0, 7);
  const read = (name: string, into: Float32Array) => void fillUniform(into, seedOf(name), /embed|norm/.test(name) ? 1 : 0.02);
  const make = async (plan: typeof plans.fused): Promise<Side> => ({ model: await Model.create(plan, read, { maxTokens, maxContext, sequences: 1, device: kernels.factory! }), blocks: [] });
  const count = (p: typeof plans.fused) => JSON.stringify(p.steps).split('"op":').length - 1;
  const label = `${kernels.label}, fused kernels up to ${fusedMaxRows ?? "the device's default"} rows per expert${control ? " — CONTROL: both sides unfused" : ""}`;
  return { fused: await make(plans.fused), unfused: await make(plans.unfused), label, steps: { fused: count(plans.fused), unfused: count(plans.unfused) } };
}

function relError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/**
 * Runs `pass(model, i)` on the two sides in turn, `pairs` times — A B, then B A, … — after a
 * few untimed passes each (JIT, page faults). Each pair's ratio is fused/unfused: two passes a
 * few milliseconds apart see the same machine, where the passes of a shared machine drift.
 */
async function alternate(sides: { fused: Side; unfused: Side }, pairs: number, pass: (m: Model, i: number) => Promise<number | void>): Promise<{ fused: Stats; unfused: Stats; ratio: Stats; ratios: number[] }> {
  let i = 0;
  const timed = async (s: Side) => {
    const a = performance.now();
    // A pass may time itself (to leave out untimed work such as a fresh prompt).
    const own = await pass(s.model, i++);
    s.blocks.push(typeof own === "number" ? own : performance.now() - a);
  };
  for (let w = 0; w < 3; w++) {
    await timed(sides.fused);
    await timed(sides.unfused);
  }
  sides.fused.blocks.length = 0;
  sides.unfused.blocks.length = 0;
  for (let r = 0; r < pairs; r++) {
    const [a, b] = r % 2 === 0 ? [sides.fused, sides.unfused] : [sides.unfused, sides.fused];
    await timed(a);
    await timed(b);
  }
  const ratios = sides.fused.blocks.map((f, r) => f / sides.unfused.blocks[r]!);
  return { fused: stats(sides.fused.blocks), unfused: stats(sides.unfused.blocks), ratio: stats(ratios), ratios };
}

const fmt = (s: Stats) => `${s.median.toFixed(2)} ms (p10 ${s.p10.toFixed(2)}, p90 ${s.p90.toFixed(2)})`;
const fmtRatio = (s: Stats, all: number[]) => `${s.median.toFixed(3)} (p10 ${s.p10.toFixed(3)}, p90 ${s.p90.toFixed(3)}, ${all.length} pairs)`;

export async function layerBench(shape: ShapeName, tokens: readonly number[], threads: number, rounds: number, log: (s: string) => void) {
  const s = SHAPES[shape];
  const ROWS = 256;
  const graph = compileSource("fusion-layer.moe", layerSource(s.experts, s.k, s.hidden, s.inter, ROWS));
  const t0 = performance.now();
  const sides = await twoModels(graph, threads, ROWS, ROWS);
  log(`${s.label} (${s.experts} experts, top-${s.k}, d ${s.hidden}, ffn ${s.inter}) on ${sides.label}: two models loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; plan steps fused ${sides.steps.fused}, unfused ${sides.steps.unfused}`);
  const out: Record<number, unknown> = {};
  for (const T of tokens) {
    const rows = (i: number) => Array.from({ length: T }, (_, t) => (i * T + t) % ROWS);
    for (const side of [sides.fused, sides.unfused]) side.model.reset();
    const a = await sides.fused.model.forward(rows(3));
    sides.fused.model.reset();
    const b = await sides.unfused.model.forward(rows(3));
    sides.unfused.model.reset();
    const err = relError(a, b);
    if (!(err < 1e-5)) throw new Error(`fused and unfused differ at T=${T}: relative error ${err}`);
    sides.fused.blocks.length = 0;
    sides.unfused.blocks.length = 0;
    // About as long for every T: 16 pairs of 64-token passes per round.
    const r = await alternate(sides, rounds * Math.max(2, Math.round(64 / T)), async (m, i) => {
      m.reset();
      await m.forward(rows(i));
    });
    log(`  T=${T}: fused ${fmt(r.fused)}, unfused ${fmt(r.unfused)}; fused/unfused ${fmtRatio(r.ratio, r.ratios)}; outputs agree to ${err.toExponential(1)}`);
    out[T] = { ...r, err };
  }
  await sides.fused.model.dispose();
  await sides.unfused.model.dispose();
  return { shape, threads, kernels: sides.label, results: out };
}

export async function modelBench(shape: "olmoe" | "qwen3", layers: number, vocab: number, threads: number, rounds: number, log: (s: string) => void) {
  const graph = compileSource("fusion-model.moe", modelSource(shape, layers, vocab));
  const prompt = Array.from({ length: 8 }, (_, i) => (i * 7919 + 11) % vocab);
  const STEPS = 16;
  const t0 = performance.now();
  const sides = await twoModels(graph, threads, 16, prompt.length + STEPS + 8);
  log(`${SHAPES[shape].label} shape, ${layers} layer(s), vocab ${vocab}, on ${sides.label}: two models loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const greedy = async (m: Model) => {
    m.reset();
    let l = await m.forward(prompt);
    const out: Float32Array[] = [];
    for (let i = 0; i < 4; i++) {
      let best = 0;
      const row = l.subarray(l.length - vocab);
      for (let j = 1; j < vocab; j++) if (row[j]! > row[best]!) best = j;
      l = await m.forward([best]);
      out.push(Float32Array.from(l));
    }
    return out;
  };
  const [a, b] = [await greedy(sides.fused.model), await greedy(sides.unfused.model)];
  const err = Math.max(...a.map((x, i) => relError(x, b[i]!)));
  if (!(err < 1e-4)) throw new Error(`fused and unfused decode logits differ: relative error ${err}`);
  // Each side decodes its own sequence, one token per pass, from a fresh prompt every STEPS tokens (untimed).
  sides.fused.blocks.length = 0;
  sides.unfused.blocks.length = 0;
  const steps = new Map<Model, number>();
  const r = await alternate(sides, rounds * STEPS, async (m, i) => {
    const n = steps.get(m) ?? STEPS;
    if (n === STEPS) {
      m.reset();
      await m.forward(prompt);
    }
    steps.set(m, n === STEPS ? 1 : n + 1);
    const a = performance.now();
    await m.forward([(i * 31 + 5) % vocab]);
    return performance.now() - a;
  });
  log(`  decode: fused ${fmt(r.fused)}/token, unfused ${fmt(r.unfused)}/token; fused/unfused ${fmtRatio(r.ratio, r.ratios)}; logits agree to ${err.toExponential(1)}`);
  await sides.fused.model.dispose();
  await sides.unfused.model.dispose();
  return { shape, layers, vocab, threads, kernels: sides.label, ...r, err };
}

/**
 * One side alone (--side fused|unfused): one model in this process, its passes timed and the
 * medians printed as one JSON line. Two models in one process turned out to differ by which was
 * made first (an A/A run, --control, gave 1.57 on this machine), so the reported comparison runs
 * each side in its own process, alternated by farm-bench --vs (bench/fusion-pairs.sh), and takes
 * the ratio of the printed medians pair by pair.
 */
async function oneSide(side: "fused" | "unfused", what: string, shape: "olmoe" | "qwen3", tokens: readonly number[], layers: number, vocab: number, threads: number, passes: number): Promise<void> {
  const kernels = await moecKernels(threads, false, fusedMaxRows);
  const model = what === "model" ? modelSource(shape, layers, vocab) : layerSource(SHAPES[shape].experts, SHAPES[shape].k, SHAPES[shape].hidden, SHAPES[shape].inter, 256);
  const graph = compileSource("fusion-side.moe", model);
  const plan = planGraph(graph, { context: { fused: FUSED_NAMES }, enabled: side === "fused" ? ["fuse-experts"] : [] });
  const seedOf = (name: string) => [...name].reduce((h, ch) => (Math.imul(h, 31) + ch.charCodeAt(0)) | 0, 7);
  const read = (name: string, into: Float32Array) => void fillUniform(into, seedOf(name), /embed|norm/.test(name) ? 1 : 0.02);
  const m = await Model.create(plan, read, { maxTokens: what === "model" ? 16 : 256, maxContext: what === "model" ? passes + 32 : 256, sequences: 1, device: kernels.factory! });
  const out: Record<string, Stats> = {};
  if (what === "model") {
    const prompt = Array.from({ length: 8 }, (_, i) => (i * 7919 + 11) % vocab);
    await m.forward(prompt);
    const t: number[] = [];
    for (let i = 0; i < passes + 3; i++) {
      const a = performance.now();
      await m.forward([(i * 31 + 5) % vocab]);
      if (i >= 3) t.push(performance.now() - a);
    }
    out["decode"] = stats(t);
  } else {
    for (const T of tokens) {
      const t: number[] = [];
      const n = Math.max(3, Math.round((passes * 4) / T));
      for (let i = 0; i < n + 2; i++) {
        m.reset();
        const a = performance.now();
        await m.forward(Array.from({ length: T }, (_, j) => (i * T + j) % 256));
        if (i >= 2) t.push(performance.now() - a);
      }
      out[`T${T}`] = stats(t);
    }
  }
  await m.dispose();
  console.log(JSON.stringify({ side, what, shape, threads, kernels: kernels.label, ...out }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      what: { type: "string", default: "layer" },
      shape: { type: "string", default: "olmoe" },
      tokens: { type: "string", default: "1,16,64" },
      threads: { type: "string", default: "1" },
      rounds: { type: "string", default: "9" },
      layers: { type: "string", default: "1" },
      vocab: { type: "string", default: "32000" },
      "fused-max-rows": { type: "string" },
      control: { type: "boolean" },
      side: { type: "string" },
      passes: { type: "string", default: "64" },
    },
  });
  control = values.control === true;
  if (values["fused-max-rows"] !== undefined) fusedMaxRows = values["fused-max-rows"] === "inf" ? Infinity : Number(values["fused-max-rows"]);
  const shape = values.shape as "olmoe" | "qwen3";
  if (!(shape in ATTENTION)) throw new Error(`--shape olmoe | qwen3, not ${values.shape}`);
  const log = (s: string) => console.error(s);
  if (values.side !== undefined) {
    if (values.side !== "fused" && values.side !== "unfused") throw new Error(`--side fused | unfused, not ${values.side}`);
    await oneSide(values.side, values.what, shape, values.tokens.split(",").map(Number), Number(values.layers), Number(values.vocab), Number(values.threads), Number(values.passes));
    process.exit(0);
  }
  const r =
    values.what === "model"
      ? await modelBench(shape, Number(values.layers), Number(values.vocab), Number(values.threads), Number(values.rounds), log)
      : await layerBench(shape, values.tokens.split(",").map(Number), Number(values.threads), Number(values.rounds), log);
  console.log(JSON.stringify(r));
}
