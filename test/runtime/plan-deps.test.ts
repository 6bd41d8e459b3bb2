// The plan's dependency edges (runtime/plan/deps.ts): exact on a hand-made plan, and on every
// fixture any order that respects them computes what the serial order computes, bit for bit.
import { describe, expect, it } from "vitest";
import { planGraph as lowerGraph } from "../../compiler/passes/pipeline.js";
import { Model } from "../../runtime/model.js";
import { stepAccess, stepDependencies } from "../../runtime/plan/deps.js";
import { PLAN_FORMAT, type Plan } from "../../runtime/plan/plan.js";
import { seededRandom } from "../../runtime/sampling.js";
import { hfFolders, loadFixture } from "../helpers/fixtures.js";

/** A random order of the steps in which every step comes after its dependencies. */
function randomTopologicalOrder(deps: readonly (readonly number[])[], rand: () => number): number[] {
  const waiting = deps.map((d) => d.length);
  const users = deps.map(() => [] as number[]);
  deps.forEach((d, i) => d.forEach((j) => users[j]!.push(i)));
  const ready = deps.flatMap((d, i) => (d.length === 0 ? [i] : []));
  const order: number[] = [];
  while (ready.length > 0) {
    const i = ready.splice(Math.floor(rand() * ready.length), 1)[0]!;
    order.push(i);
    for (const u of users[i]!) if (--waiting[u]! === 0) ready.push(u);
  }
  return order;
}

describe("plan step dependencies", () => {
  it("read-after-write, write-after-read and write-after-write edges on a hand-made plan", () => {
    // v0 ids (slot 0) → embed v1 (slot 1) → matmul v2 (slot 2), rmsnorm v3 (slot 3);
    // v4 = v2 + v3 reuses slot 1 (v1 is dead); rope in place on v4 uses scratch.
    const plan = {
      format: PLAN_FORMAT,
      version: 1,
      model: "hand",
      vocab: 4,
      input: { name: "ids", value: 0 },
      output: { name: "y", value: 4, width: 2 },
      weights: [],
      values: [0, 1, 2, 3, 1].map((slot) => ({ width: 2, slot })),
      slots: [1, 2, 2, 2],
      caches: [],
      steps: [
        { op: "embed", ids: 0, out: 1, weight: { w: 0 }, vocab: 4, dim: 2 },
        { op: "matmul", x: 1, out: 2, weight: { w: 1 }, bias: null, K: 2, N: 2, layout: "out_in" },
        { op: "rmsnorm", x: 1, out: 3, weight: { w: 2 }, n: 2, eps: 1e-6 },
        { op: "binary", kind: "add", a: 2, b: 3, out: 4 },
        { op: "rope", x: 4, heads: 1, stride: 2, offset: 0, rope: { dim: 2 } },
      ],
    } as unknown as Plan;
    expect(stepAccess(plan, plan.steps[4]!)).toEqual({ reads: ["slot:1"], writes: ["slot:1", "scratch"] });
    // binary writes slot 1, which matmul and rmsnorm read (write after read) and embed wrote.
    expect(stepDependencies(plan)).toEqual([[], [0], [0], [0, 1, 2], [3]]);
  });

  for (const name of hfFolders) {
    it(`${name}: random orders that respect the edges give the serial order's logits exactly`, async () => {
      const fx = await loadFixture(name);
      const plan = lowerGraph(fx.graph);
      const deps = stepDependencies(plan);
      deps.forEach((d, i) => expect(d.every((j) => j < i)).toBe(true));
      const run = async (p: Plan) => {
        const m = await Model.create(p, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 32, maxTokens: 16 });
        const a = (await m.forward(fx.prompt));
        const b = (await m.forward([fx.meta.greedy_continuation[0]!]));
        return [...a, ...b];
      };
      const serial = await run(plan);
      const rand = seededRandom(name.length * 7919);
      let reordered = 0;
      for (let trial = 0; trial < 3; trial++) {
        const order = randomTopologicalOrder(deps, rand);
        expect(order.length).toBe(plan.steps.length);
        if (order.some((s, i) => s !== i)) reordered++;
        expect(await run({ ...plan, steps: order.map((i) => plan.steps[i]!) })).toEqual(serial);
      }
      expect(reordered, "the plan allows some reordering").toBeGreaterThan(0);
    });
  }
});
