// Parity with Hugging Face transformers: for every fixture model (random weights, saved by
// transformers 5.17 with the logits and greedy continuation it computed), the reference
// interpreter must reproduce the logits to relative error < 1e-4 and the continuation
// exactly — through one full forward pass and through incremental decoding with the cache. Where the
// fixture has generate_logits.f32, every greedy step's logits through the cache must match too.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ReferenceSession } from "../../compiler/reference/interpreter.js";
import { generate, promptLogits } from "../../compiler/run/generate.js";
import { loadGraph, loadWeights } from "../../compiler/run/load.js";
import { fixture } from "../helpers/compile.js";
import { generateLogitsOf, rowwiseRelativeError, usesDynamicRope } from "../helpers/fixtures.js";

const HF = fixture("hf");
const folders = readdirSync(HF, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

export function relativeError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

async function load(dir: string) {
  const g = await loadGraph(dir);
  if (!("hfDir" in g)) throw new Error(`${dir} does not import: ${g.diagnostics.map((d) => d.message).join("; ")}`);
  return { graph: g.graph, weights: await loadWeights(g.graph, g.hfDir, {}) };
}

describe("reference interpreter matches transformers on every fixture", () => {
  it("has fixtures for every family", () => {
    const families = new Set(folders.map((f) => (JSON.parse(readFileSync(join(HF, f, "config.json"), "utf8")) as { model_type: string }).model_type));
    expect([...families].sort()).toEqual([
      "dbrx", "deepseek_v2", "deepseek_v3", "deepseek_v32", "dots1", "ernie4_5_moe", "exaone_moe", "flex_olmo", "gemma4", "gemma4_text", "glm4_moe", "glm4_moe_lite", "glm_moe_dsa", "gpt_oss", "granitemoe", "granitemoehybrid", "granitemoeshared", "hunyuan_v1_moe", "hy_v3", "jamba", "llama4",
      "llama4_text", "minimax_m2", "mixtral", "nemotron_h", "olmoe", "phimoe", "qwen2_moe", "qwen3_5_moe", "qwen3_moe", "qwen3_next", "qwen3_vl_moe", "solar_open",
    ]);
  });

  for (const name of folders) {
    it(name, async () => {
      const dir = join(HF, name);
      const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { logits_shape: [number, number]; greedy_continuation: number[] };
      const ids = JSON.parse(readFileSync(join(dir, "input_ids.json"), "utf8")) as number[] | number[][];
      const prompt = (Array.isArray(ids[0]) ? ids[0] : ids) as number[];
      const raw = readFileSync(join(dir, "logits.f32"));
      const want = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const model = await load(dir);

      const full = promptLogits(model, prompt);
      expect(full.shape).toEqual(meta.logits_shape);
      const fullErr = relativeError(full.data, want);
      expect(fullErr, `full forward relative error ${fullErr}`).toBeLessThan(1e-4);

      // The same logits one token at a time through the KV cache. Not with dynamic NTK RoPE: there each
      // forward call rotates its tokens with frequencies for the length reached so far, so transformers'
      // own token-by-token logits differ from its one-pass ones (generate_logits.f32 checks the cache instead).
      const vocab = meta.logits_shape[1];
      let stepErr: number | null = null;
      if (!usesDynamicRope(dir)) {
        const session = new ReferenceSession(model.graph, model.weights);
        const stepwise = new Float32Array(prompt.length * vocab);
        prompt.forEach((id, t) => {
          const out = (session.forward(Int32Array.of(id))).get(model.graph.outputs[0]!.name)!;
          stepwise.set(out.data, t * vocab);
        });
        stepErr = relativeError(stepwise, want);
        expect(stepErr, `incremental relative error ${stepErr}`).toBeLessThan(1e-4);
      }

      expect(generate(model, prompt, meta.greedy_continuation.length).ids).toEqual(meta.greedy_continuation);

      // The logits of each greedy step as model.generate saw them: the prompt in one pass, then one token at a
      // time through the cache.
      const genWant = generateLogitsOf(dir);
      let genErr: number | null = null;
      if (genWant) {
        const steps = meta.greedy_continuation.length;
        expect(genWant.length).toBe(steps * vocab);
        const session = new ReferenceSession(model.graph, model.weights);
        const got = new Float32Array(steps * vocab);
        let out = (session.forward(Int32Array.from(prompt))).get(model.graph.outputs[0]!.name)!.data;
        got.set(out.subarray(out.length - vocab), 0);
        for (let i = 1; i < steps; i++) {
          out = (session.forward(Int32Array.of(meta.greedy_continuation[i - 1]!))).get(model.graph.outputs[0]!.name)!.data;
          got.set(out, i * vocab);
        }
        genErr = rowwiseRelativeError(got, genWant, vocab);
        expect(genErr, `generate-step relative error ${genErr}`).toBeLessThan(1e-4);
      }
      const fmt = (e: number | null) => (e === null ? "n/a" : e.toExponential(2));
      console.log(`parity ${name}: relative error ${fullErr.toExponential(2)} (full), ${fmt(stepErr)} (incremental), ${fmt(genErr)} (generate steps)`);
    });
  }
});
