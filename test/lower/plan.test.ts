// The lowered plan, executed with the TypeScript kernels, must compute what transformers
// computed for every fixture: this checks lowering (kernel order, buffer reuse, weight
// binding of experts) independently of the WASM kernels.
import { describe, expect, it } from "vitest";
import { planGraph as lowerGraph } from "../../compiler/passes/pipeline.js";
import { Model } from "../../runtime/model.js";
import { hfFolders, loadFixture, relativeError } from "../helpers/fixtures.js";

describe("plan on the TypeScript kernels matches transformers", () => {
  for (const name of hfFolders) {
    it(name, async () => {
      const fx = await loadFixture(name);
      const plan = lowerGraph(fx.graph);
      // Buffer reuse must actually happen: fewer slots than values.
      expect(plan.slots.length).toBeLessThan(plan.values.length);
      const model = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: 16 });
      const logits = (await model.forward(fx.prompt));
      const err = relativeError(logits, fx.logits);
      expect(err, `relative error ${err}`).toBeLessThan(1e-4);
      const out: number[] = [];
      for await (const t of model.generate(fx.prompt, { maxNewTokens: fx.meta.greedy_continuation.length })) out.push(t);
      expect(out).toEqual(fx.meta.greedy_continuation);
    });
  }
});

describe("chunking and capacity routing", () => {
  it("a prompt longer than maxTokens runs in chunks with the same logits (token-choice routing)", async () => {
    const fx = await loadFixture("mixtral");
    const plan = lowerGraph(fx.graph);
    const chunked = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: 5 });
    expect(relativeError((await chunked.forward(fx.prompt)), fx.logits)).toBeLessThan(1e-4);
  });

  it("refuses to chunk when routing depends on the tokens in a pass (capacity factor)", async () => {
    const { graphOfSource } = await import("../helpers/compile.js");
    const g = graphOfSource(`model M {
      expert E(x: [T, 8]) -> [T, 8] { return linear(x, 8) }
      input tokens: i32[seq]
      h = embed(tokens, 16, 8)
      output y = linear(h + moe(h, experts = 4 of E, router = topk(k = 1, capacity_factor = 1.0)), 16)
    }`);
    const { randomWeights } = await import("../../compiler/weights/random.js");
    const w = randomWeights(g, 3);
    const model = await Model.create(lowerGraph(g), (n, into) => into.set(w.get(n)!), { maxContext: 64, maxTokens: 4 });
    await expect(model.forward([1, 2, 3, 4, 5, 6])).rejects.toThrow(/capacity or expert choice/);
    await expect(model.forward([])).rejects.toThrow(/at least one token/);
    await expect(model.forward([1.5])).rejects.toThrow(/not an integer in the vocabulary/);
  });
});
