// Generation computes the logits of each prompt's last token only (issue 11, item 7): passes with
// logits "last" drop the other rows after the last attention (or DeltaNet, Mamba-2) step. Their logits equal the last
// row of a full pass — exactly on the TypeScript kernels (float64 per output, row-independent),
// to float32 rounding on WASM (whose matmul tiles differ with the row count); chunked prompts,
// batches, and plans that route on the host (where no row may be dropped) included.
import { describe, expect, it } from "vitest";
import { Model } from "../../runtime/model.js";
import { planGraph } from "../../compiler/passes/pipeline.js";
import { wasmDevice } from "../../backends/wasm/device.js";
import { buildWasmFile } from "../../backends/wasm/emit.js";
import { loadFixture, relativeError } from "../helpers/fixtures.js";

// nemotron_h, granitemoehybrid: a Mamba-2 layer after the last attention, whose state must see every prompt row;
// jamba: a Mamba-1 layer after it (its conv1d and mamba steps)
const FIXTURES = ["mixtral", "qwen3_moe", "deepseek_v3", "gpt_oss", "qwen2_moe", "phimoe", "nemotron_h", "granitemoehybrid", "jamba"];

describe("last-token logits", () => {
  for (const name of FIXTURES) {
    it(`${name}: forwardBatch(logits: "last") is the last row of the full pass, chunked and batched too`, async () => {
      const fx = await loadFixture(name);
      const plan = planGraph(fx.graph);
      const vocab = plan.output.width;
      const read = (n: string, into: Float32Array) => into.set(fx.weights.get(n)!);
      const ids = fx.prompt.slice(0, 9);
      const other = fx.prompt.slice(2, 7).reverse();
      for (const device of [undefined, wasmDevice(await buildWasmFile("kernels.wasm"))]) {
        const full = await Model.create(plan, read, { maxContext: 64, maxTokens: 32, sequences: 2, ...(device ? { device } : {}) });
        const want = [(await full.forwardBatch([{ seq: 0, ids }]))[0]!.slice((ids.length - 1) * vocab), (await full.forwardBatch([{ seq: 1, ids: other }]))[0]!.slice((other.length - 1) * vocab)];
        await full.dispose();
        for (const maxTokens of [32, 4]) {
          const m = await Model.create(plan, read, { maxContext: 64, maxTokens, sequences: 2, ...(device ? { device } : {}) });
          const got = await m.forwardBatch([{ seq: 0, ids }, { seq: 1, ids: other }], { logits: "last" });
          expect(got.map((g) => g.length)).toEqual([vocab, vocab]);
          got.forEach((g, i) => {
            if (device) expect(relativeError(g, want[i]!), `${name} wasm maxTokens=${maxTokens}`).toBeLessThan(1e-5);
            else expect(Array.from(g), `${name} js maxTokens=${maxTokens}`).toEqual(Array.from(want[i]!));
          });
          // The caches hold every prompt position: decoding continues as after a full pass.
          expect([m.positionOf(0), m.positionOf(1)]).toEqual([ids.length, other.length]);
          await m.dispose();
        }
      }
    });
  }

  it("a linear-attention (gated DeltaNet) layer after the last attention sees every prompt row", async () => {
    const { checkSource } = await import("../../compiler/index.js");
    const { randomWeights } = await import("../../compiler/weights/random.js");
    const src = [
      "model T {",
      "  const vocab = 64, d = 32",
      "  input tokens: i32[seq]",
      '  h = embed(tokens, vocab, d) @ "e"',
      '  h = h + attention(rmsnorm(h, 1e-6) @ "n0", 4, 2) @ "a"',
      '  h = h + gated_deltanet(rmsnorm(h, 1e-6) @ "n1", k_heads = 2, v_heads = 2, k_dim = 8, v_dim = 8) @ "l"',
      '  output logits = linear(rmsnorm(h, 1e-6) @ "nf", vocab) @ "head"',
      "}",
    ].join("\n");
    const checked = checkSource("tail.moe", src);
    expect(checked.graph, checked.diagnostics.map((d) => d.message).join("; ")).toBeTruthy();
    if (!checked.graph) return;
    const w = randomWeights(checked.graph, 5);
    const plan = planGraph(checked.graph);
    const vocab = plan.output.width;
    const ids = [3, 1, 4, 1, 5, 9, 2, 6];
    const m = await Model.create(plan, (n, into) => into.set(w.get(n)!), { maxContext: 32, maxTokens: 16 });
    const want = (await m.forwardBatch([{ seq: 0, ids }]))[0]!.slice((ids.length - 1) * vocab);
    m.reset();
    const got = (await m.forwardBatch([{ seq: 0, ids }], { logits: "last" }))[0]!;
    expect(Array.from(got)).toEqual(Array.from(want));
    await m.dispose();
  });

  it("a plan that routes on the host (capacity factor) keeps every row and still returns the last", async () => {
    const { checkSource } = await import("../../compiler/index.js");
    const { readFileSync } = await import("node:fs");
    const { fixture } = await import("../helpers/compile.js");
    const src = readFileSync(fixture("moe", "tiny-mixtral.moe"), "utf8").replace(/renormalize = true\)/, "renormalize = true, capacity_factor = 1.0)");
    const checked = checkSource("capacity.moe", src);
    expect(checked.graph, checked.diagnostics.map((d) => d.message).join("; ")).toBeTruthy();
    if (!checked.graph) return;
    const { randomWeights } = await import("../../compiler/weights/random.js");
    const w = randomWeights(checked.graph, 3);
    const plan = planGraph(checked.graph);
    expect(plan.steps.some((s) => s.op === "moe" && s.routing === "host")).toBe(true);
    const m = await Model.create(plan, (n, into) => into.set(w.get(n)!), { maxContext: 32, maxTokens: 16 });
    const ids = [3, 1, 4, 1, 5, 9];
    const all = await m.forwardBatch([{ seq: 0, ids }]);
    m.reset();
    const last = await m.forwardBatch([{ seq: 0, ids }], { logits: "last" });
    expect(Array.from(last[0]!)).toEqual(Array.from(all[0]!.slice((ids.length - 1) * plan.output.width)));
    await m.dispose();
  });
});
