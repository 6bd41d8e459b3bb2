// The lowered plan, executed with the TypeScript kernels, must compute what transformers
// computed for every fixture: this checks lowering (kernel order, buffer reuse, weight
// binding of experts) independently of the WASM kernels.
import { describe, expect, it } from "vitest";
import { lowerGraph } from "../../compiler/lower/lower.js";
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
      const logits = model.forward(fx.prompt);
      const err = relativeError(logits, fx.logits);
      expect(err, `relative error ${err}`).toBeLessThan(1e-4);
      const out: number[] = [];
      for await (const t of model.generate(fx.prompt, { maxNewTokens: fx.meta.greedy_continuation.length })) out.push(t);
      expect(out).toEqual(fx.meta.greedy_continuation);
    });
  }
});
