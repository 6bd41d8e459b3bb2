// Whole-model decode on moec: a mid-size synthetic MoE decoder (8 layers, d 1024, 16 heads,
// 32 SwiGLU experts of width 512, top-4 softmax routing renormalised, vocabulary 32000;
// ~0.5 B parameters, 2 GB of float32) with deterministic random weights (the same values
// `moec run --random-weights SEED` uses), run by the runtime on the WASM kernels.
// onnxruntime has no equivalent whole model without an exporter, so this reports moec alone
// against the bandwidth floor: the bytes one decode step must read (every dense weight, the
// router, the k chosen experts of every layer, one embedding row, the KV cache) ÷ bandwidth.
import { parseArgs } from "node:util";
import { expectedTensors } from "../dist/compiler/weights/expected.js";
import { randomTensor } from "../dist/compiler/weights/random.js";
import { compileSource, moecKernels, moecModel } from "./moec.ts";
import { stats, type Stats } from "./timing.ts";

export const DECODE_MODEL = {
  layers: 8,
  d: 1024,
  heads: 16,
  experts: 32,
  k: 4,
  ffn: 512,
  vocab: 32000,
} as const;

export function modelSource(c: typeof DECODE_MODEL): string {
  return `model BenchMoE {
  const vocab = ${c.vocab}, d = ${c.d}, layers = ${c.layers}
  const heads = ${c.heads}
  const experts = ${c.experts}, top_k = ${c.k}, ffn = ${c.ffn}
  const eps = 1e-6, theta = 10000

  expert SwiGLU(x: [T, d], ffn: int) -> [T, d] {
    gate = linear(x, ffn) @ "gate_proj"
    up = linear(x, ffn) @ "up_proj"
    return linear(silu(gate) * up, d) @ "down_proj"
  }

  block Decoder(h: [seq, d]) -> [seq, d] {
    a = rmsnorm(h, eps) @ "input_layernorm"
    h = h + attention(a, heads, rope = rope(theta = theta)) @ "self_attn"
    m = rmsnorm(h, eps) @ "post_attention_layernorm"
    h = h + moe(m,
                experts = experts of SwiGLU(ffn = ffn) @ "experts.{e}",
                router = topk(k = top_k, scoring = "softmax", renormalize = true) @ "gate") @ "mlp"
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

export interface DecodeReport {
  readonly kernels: string;
  readonly config: typeof DECODE_MODEL;
  readonly params: number;
  readonly weightBytes: number;
  readonly prompt: number;
  readonly tokens: number;
  /** Per decode step, milliseconds. */
  readonly step: Stats;
  readonly tokensPerSecond: number;
  readonly prefillMs: number;
  /** Bytes one decode step must read, at the mean position of the measured steps. */
  readonly stepBytes: number;
  readonly loadSeconds: number;
  readonly threads: number;
  /** Sequences decoded together (one token each per pass). */
  readonly batch: number;
}

export async function runModelDecode(log: (s: string) => void, opts: { prompt?: number; tokens?: number; seed?: number; threads?: number; batch?: number } = {}): Promise<DecodeReport> {
  const threads = opts.threads ?? 1;
  const batch = opts.batch ?? 1;
  const c = DECODE_MODEL;
  const prompt = opts.prompt ?? 16;
  const tokens = opts.tokens ?? 48;
  const seed = opts.seed ?? 1;
  const graph = compileSource("bench-moe.moe", modelSource(c));
  const tensors = expectedTensors(graph);

  // The floor's bytes.
  let params = 0;
  let dense = 0;
  let expertTotal = 0;
  for (const [name, t] of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    params += n;
    if (/\.experts\.\d+\./.test(name)) expertTotal += 4 * n;
    else if (/embed_tokens/.test(name))
      dense += 4 * c.d; // one row
    else dense += 4 * n;
  }
  const perExpert = expertTotal / (c.layers * c.experts);
  const meanPosition = prompt + (tokens - 1) / 2;
  const kvBytes = c.layers * 2 * c.d * 4 * meanPosition;
  const stepBytes = dense + c.layers * c.k * perExpert + kvBytes + 4 * c.vocab;

  const kernels = await moecKernels(threads);
  const t0 = performance.now();
  const model = await moecModel(graph, (name, into) => into.set(randomTensor(name, into.length, seed)), kernels, 64, prompt + tokens + 8, batch);
  const loadSeconds = (performance.now() - t0) / 1000;
  log(
    `decode model: ${(params / 1e9).toFixed(2)} B parameters (${((4 * params) / 2 ** 30).toFixed(2)} GiB float32), loaded in ${loadSeconds.toFixed(1)} s on ${kernels.label}`,
  );

  const argmax = (l: Float32Array) => {
    let best = 0;
    for (let i = 1; i < l.length; i++) if (l[i]! > l[best]!) best = i;
    return best;
  };
  // Sequence b's prompt: the same recipe shifted by b, so the sequences differ.
  const prompts = Array.from({ length: batch }, (_, b) => Array.from({ length: prompt }, (_, i) => (i * 7919 + 11 + 31 * b) % c.vocab));
  // One untimed run warms the kernels and the JIT; then fresh caches for the measured one.
  model.reset();
  await model.forward(prompts[0]!.slice(0, 4));
  await model.forward([prompts[0]![4]!]);
  model.reset();
  const p0 = performance.now();
  let logits = await model.forwardBatch(prompts.map((ids, seq) => ({ seq, ids })));
  const prefillMs = performance.now() - p0;
  let next = logits.map((l) => argmax(l.subarray((prompt - 1) * c.vocab)));
  const samples: number[] = [];
  for (let i = 0; i < tokens; i++) {
    const a = performance.now();
    logits = await model.forwardBatch(next.map((t, seq) => ({ seq, ids: [t] })));
    samples.push(performance.now() - a);
    next = logits.map(argmax);
  }
  await model.dispose();
  const step = stats(samples);
  log(
    `  prefill ${batch} × ${prompt} tokens ${prefillMs.toFixed(0)} ms; decode median ${step.median.toFixed(1)} ms/step of ${batch} token(s) (p10 ${step.p10.toFixed(1)}, p90 ${step.p90.toFixed(1)}, n=${step.n}) = ${((1000 * batch) / step.median).toFixed(1)} tokens/s`,
  );
  return {
    kernels: kernels.label,
    config: c,
    params,
    weightBytes: 4 * params,
    prompt,
    tokens,
    step,
    tokensPerSecond: (1000 * batch) / step.median,
    prefillMs,
    stepBytes,
    loadSeconds,
    threads,
    batch,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      tokens: { type: "string", default: "48" },
      prompt: { type: "string", default: "16" },
      threads: { type: "string", default: "1" },
      batch: { type: "string", default: "1" },
    },
  });
  const r = await runModelDecode((s) => console.error(s), {
    tokens: Number(values.tokens),
    prompt: Number(values.prompt),
    threads: Number(values.threads),
    batch: Number(values.batch),
  });
  console.log(JSON.stringify(r, null, 2));
}
