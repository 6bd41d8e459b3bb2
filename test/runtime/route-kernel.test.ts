// The TypeScript route_topk (the fallback engine, and the WASM kernel's second opinion)
// against route() on the same random problems the WASM kernel is tested on; and byExpert,
// which lays out the cross-token routers' assignments (capacity, expert choice) the way the
// kernel lays out its own.
import { describe, expect, it } from "vitest";
import { jsKernels } from "../../backends/js/kernels.js";
import { byExpert } from "../../runtime/moe/permute.js";
import { route } from "../../runtime/moe/routing.js";
import type { RouterAttr } from "../../runtime/plan/types.js";
import { seededRandom } from "../../runtime/sampling.js";
import { checkRouting, kernelArgs, routeCases, workBytes } from "../helpers/routing-cases.js";

describe("route_topk in TypeScript", () => {
  // js.route_topk calls route() itself, so this checks the permuted layout (offsets, token order), not the routing.
  it("lays route()'s assignments out by expert: every scoring, selection bias, groups, renormalize, scale, ties and −∞", () => {
    const buf = new ArrayBuffer(1 << 20);
    const k = jsKernels(() => buf);
    const F = new Float32Array(buf);
    const I = new Int32Array(buf);
    let cases = 0;
    for (const c of routeCases(seededRandom(20240611))) {
      const n = c.T * c.router.k;
      // logits | bias | counts | tokens | weights | work | a guard word
      const lp = 64;
      const bp = lp + 4 * c.logits.length;
      const cp = bp + 4 * c.E;
      const tp = cp + 4 * (c.E + 1);
      const wp = tp + 4 * n;
      const kp = wp + 4 * n;
      const end = kp + workBytes(c);
      F.fill(NaN, 0, end / 4);
      F[end / 4] = 1234.5;
      F.set(c.logits, lp / 4);
      if (c.bias) F.set(c.bias, bp / 4);
      k.route_topk(lp, ...kernelArgs(c, c.bias ? bp : 0), cp, tp, wp, kp);
      expect(F[end / 4]).toBe(1234.5);
      checkRouting(c, { counts: I.slice(cp / 4, cp / 4 + c.E + 1), tokens: I.slice(tp / 4, tp / 4 + n), weights: F.slice(wp / 4, wp / 4 + n) });
      cases++;
    }
    expect(cases).toBeGreaterThan(1000);
  });
});

describe("byExpert", () => {
  const router = (over: Partial<RouterAttr>): RouterAttr => ({
    choice: "token", k: 2, scoring: "softmax", renormalize: false, bias: false, selectionBias: false, groups: 1, topkGroups: 1, groupScoring: "max",
    scale: 1, capacityFactor: null, jitterEps: 0, pregated: false, ...over,
  });
  for (const [name, ro] of [
    ["capacity factor (dropped assignments)", router({ capacityFactor: 0.5 })],
    ["expert choice", router({ choice: "expert", k: 0, capacityFactor: 2 })],
  ] as const) {
    it(`${name}: experts ascending, each expert's tokens in route()'s order`, () => {
      const r = seededRandom(7);
      const [T, E] = [11, 5];
      const logits = Float64Array.from({ length: T * E }, () => Math.fround(4 * r() - 2));
      const assignments = route(ro, logits, T, E, null);
      const { offsets, tokens, weights } = byExpert(assignments, E);
      expect(offsets[0]).toBe(0);
      expect(offsets[E]).toBe(assignments.length);
      for (let e = 0; e < E; e++) {
        const mine = assignments.filter((a) => a.expert === e);
        expect(Array.from(tokens.subarray(offsets[e]!, offsets[e + 1]!))).toEqual(mine.map((a) => a.token));
        expect(Array.from(weights.subarray(offsets[e]!, offsets[e + 1]!))).toEqual(mine.map((a) => Math.fround(a.weight)));
      }
    });
  }
});
