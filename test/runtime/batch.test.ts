// Batched sequences: several prompts in one pass, each with its own KV cache, must give each
// prompt what it gets alone (and what transformers gives), through prefill and decode.
import { describe, expect, it } from "vitest";
import { buildKernelModule } from "../../backends/wasm/build.js";
import { planGraph as lowerGraph } from "../../compiler/passes/pipeline.js";
import { wasmDevice } from "../../backends/wasm/device.js";
import { Model } from "../../runtime/model.js";
import { loadFixture, relativeError } from "../helpers/fixtures.js";

const plain = buildKernelModule({ relaxedSimd: false, sharedMemory: false }).binary;

async function model(name: string, opts: { sequences: number; maxTokens?: number }) {
  const fx = await loadFixture(name);
  const plan = lowerGraph(fx.graph);
  const m = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: opts.maxTokens ?? 32, sequences: opts.sequences, device: wasmDevice(plain) });
  return { fx, m };
}

describe("batched sequences", () => {
  // Sliding-window attention, length-dependent RoPE scaling (longrope), MLA, attention sinks.
  for (const name of ["mixtral_swa", "phimoe_longrope", "deepseek_v3", "gpt_oss", "llama4", "llama4_topk", "qwen3_next", "qwen3_5_moe", "nemotron_h", "granitemoehybrid", "granitemoehybrid_rope", "gemma4_moe", "jamba"]) {
    it(`${name}: three prompts of different lengths in one pass, then a decode pass, match each prompt alone`, async () => {
      const { fx, m } = await model(name, { sequences: 3 });
      const prompts = [fx.prompt, fx.prompt.slice(0, 3), fx.prompt.slice(2).reverse()];
      const next = [5, 9, 2];
      const batched = (await m.forwardBatch(prompts.map((ids, seq) => ({ seq, ids }))));
      const decoded = (await m.forwardBatch(next.map((id, seq) => ({ seq, ids: [id] }))));
      expect(relativeError(batched[0]!, fx.logits)).toBeLessThan(1e-4);
      for (let i = 0; i < prompts.length; i++) {
        m.reset();
        const alone = (await m.forward([...prompts[i]!, next[i]!]));
        const vocab = m.plan.output.width;
        expect(relativeError(batched[i]!, alone.subarray(0, prompts[i]!.length * vocab)), `prompt ${i}`).toBeLessThan(1e-5);
        expect(relativeError(decoded[i]!, alone.subarray(prompts[i]!.length * vocab)), `decode ${i}`).toBeLessThan(1e-5);
      }
    });
  }

  it("passes of at most maxTokens rows: long prompts continue in the next pass", async () => {
    const { fx, m } = await model("qwen2_moe", { sequences: 2, maxTokens: 4 });
    const prompts = [fx.prompt, fx.prompt.slice(1, 4)];
    const batched = (await m.forwardBatch(prompts.map((ids, seq) => ({ seq, ids }))));
    expect(relativeError(batched[0]!, fx.logits)).toBeLessThan(1e-4);
    expect(m.positionOf(0)).toBe(fx.prompt.length);
    expect(m.positionOf(1)).toBe(3);
  });

  for (const name of ["olmoe", "qwen3_moe_yarn", "qwen3_next", "nemotron_h", "granitemoehybrid", "granitemoehybrid_dense", "gemma4_moe", "jamba"]) {
    it(`${name}: generateBatch continues each prompt as it continues alone (and as transformers)`, async () => {
      const { fx, m } = await model(name, { sequences: 3 });
      const n = fx.meta.greedy_continuation.length;
      const prompts = [fx.prompt, fx.prompt.slice(0, 4), fx.prompt.slice(3)];
      const steps: (number | null)[][] = [];
      for await (const s of m.generateBatch(prompts, { maxNewTokens: n })) steps.push(s);
      const perPrompt = prompts.map((_, i) => steps.map((s) => s[i]!));
      expect(perPrompt[0]).toEqual(fx.meta.greedy_continuation);
      for (let i = 1; i < prompts.length; i++) {
        const alone: number[] = [];
        for await (const t of m.generate(prompts[i]!, { maxNewTokens: n })) alone.push(t);
        expect(perPrompt[i], `prompt ${i}`).toEqual(alone);
      }
    });
  }

  it("a sequence that stops yields null while the others go on", async () => {
    const { fx, m } = await model("olmoe", { sequences: 2 });
    const first = fx.meta.greedy_continuation[0]!;
    const other: number[] = [];
    for await (const t of m.generate(fx.prompt.slice(0, 4), { maxNewTokens: 3 })) other.push(t);
    const steps: (number | null)[][] = [];
    for await (const s of m.generateBatch([fx.prompt, fx.prompt.slice(0, 4)], { maxNewTokens: 3, stopTokens: other[0] === first ? [] : [first] })) steps.push(s);
    if (other[0] !== first) expect(steps.map((s) => s[0])).toEqual([null, null, null]);
    expect(steps.map((s) => s[1])).toEqual(other);
  });

  it("refuses unknown slots, repeated slots and more prompts than slots", async () => {
    const { fx, m } = await model("olmoe", { sequences: 2 });
    await expect(m.forwardBatch([{ seq: 2, ids: [1] }])).rejects.toThrow(/sequence slot 2 does not exist \(the model was loaded with 2\)/);
    await expect(m.forwardBatch([{ seq: 0, ids: [1] }, { seq: 0, ids: [2] }])).rejects.toThrow(/appears twice/);
    await expect(m.generateBatch([fx.prompt, fx.prompt, fx.prompt]).next()).rejects.toThrow(/3 prompts but the model was loaded with 2 sequence slot\(s\); load it with sequences ≥ 3/);
  });
});

describe("prompts longer than maxTokens run in passes that see the whole prompt", () => {
  // Dynamic NTK and LongRoPE scale by the sequence length: every chunk must use the prompt's. Llama-4's
  // attention chunks (5 and 4 positions) and temperature positions straddle the passes.
  for (const name of ["olmoe_dynamic_rope", "phimoe_longrope", "qwen3_moe_yarn", "llama4", "llama4_topk", "qwen3_next", "qwen3_5_moe", "nemotron_h", "granitemoehybrid", "granitemoehybrid_rope", "granitemoehybrid_dense", "jamba"]) {
    it(`${name}: a 12-token prompt in passes of 5 matches transformers' one-pass logits`, async () => {
      const { fx, m } = await model(name, { sequences: 1, maxTokens: 5 });
      const err = relativeError((await m.forward(fx.prompt)), fx.logits);
      expect(err, `relative error ${err}`).toBeLessThan(1e-4);
    });
  }
});

describe("length-dependent RoPE across the original context (LongRoPE switches at 32 positions)", () => {
  const long = Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 200);
  const short = long.slice(0, 10);
  it("phimoe_longrope: a 40-token prompt in passes of 16 matches it in one pass", async () => {
    const { m: one } = await model("phimoe_longrope", { sequences: 1, maxTokens: 64 });
    const { m: chunked } = await model("phimoe_longrope", { sequences: 1, maxTokens: 16 });
    expect(relativeError((await chunked.forward(long)), (await one.forward(long)))).toBeLessThan(1e-5);
  });
  it("phimoe_longrope: a long and a short sequence in one pass each scale by their own length", async () => {
    const { m } = await model("phimoe_longrope", { sequences: 2, maxTokens: 64 });
    const [a, b] = (await m.forwardBatch([{ seq: 0, ids: long }, { seq: 1, ids: short }]));
    m.reset();
    expect(relativeError(a!, (await m.forward(long)))).toBeLessThan(1e-5);
    m.reset();
    expect(relativeError(b!, (await m.forward(short)))).toBeLessThan(1e-5);
  });
});

describe("a refused batch leaves every cache as it was", () => {
  it("context full, or a slot twice: nothing runs", async () => {
    const { fx, m } = await model("olmoe", { sequences: 2, maxTokens: 4 });
    (await m.forward(fx.prompt.slice(0, 5)));
    await expect(m.forwardBatch([{ seq: 1, ids: fx.prompt.slice(0, 3) }, { seq: 0, ids: Array.from({ length: 60 }, () => 1) }])).rejects.toThrow(/context of sequence 0 is full: 5 \+ 60 tokens exceed maxContext 64/);
    await expect(m.forwardBatch([{ seq: 1, ids: [1, 2, 3, 4, 5] }, { seq: 1, ids: [6] }])).rejects.toThrow(/appears twice/);
    expect([m.positionOf(0), m.positionOf(1)]).toEqual([5, 0]);
  });
});
