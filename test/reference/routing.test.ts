// Routing against hand computations, one router option at a time.
import { describe, expect, it } from "vitest";
import type { RouterAttr } from "../../compiler/ir/graph.js";
import { route, topk } from "../../runtime/moe/routing.js";

const base: RouterAttr = {
  choice: "token", k: 2, scoring: "softmax", renormalize: false, bias: false, selectionBias: false, groups: 1, topkGroups: 1,
  groupScoring: "top2_sum", scale: 1, capacityFactor: null, jitterEps: 0.01, pregated: false,
};
const r = (o: Partial<RouterAttr>): RouterAttr => ({ ...base, ...o });
const L = (...xs: number[]) => Float64Array.from(xs);
const pairs = (as: { expert: number; weight: number }[]) => as.map((a) => [a.expert, Number(a.weight.toFixed(6))]);

describe("routing", () => {
  it("topk breaks ties towards the lower index", () => {
    expect(topk([1, 3, 3, 2], 2)).toEqual([1, 2]);
  });

  it("softmax over all experts, top-2, without renormalisation (Qwen2-MoE)", () => {
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3) + 1;
    const out = route(r({}), L(1, 2, 3, 0), 1, 4, null);
    expect(pairs(out)).toEqual([[2, +(Math.exp(3) / z).toFixed(6)], [1, +(Math.exp(2) / z).toFixed(6)]]);
  });

  it("renormalised over the chosen pair (Mixtral) equals softmax over the chosen logits (GPT-OSS)", () => {
    const a = route(r({ renormalize: true }), L(1, 2, 3, 0), 1, 4, null);
    const b = route(r({ scoring: "softmax_topk" }), L(1, 2, 3, 0), 1, 4, null);
    const w3 = Math.exp(3) / (Math.exp(3) + Math.exp(2));
    expect(pairs(a)).toEqual([[2, +w3.toFixed(6)], [1, +(1 - w3).toFixed(6)]]);
    expect(pairs(b)).toEqual(pairs(a));
  });

  it("sigmoid scores with a selection bias that picks but does not mix (DeepSeek-V3), scaled", () => {
    // Without the bias expert 0 (logit 2) wins; the bias makes expert 3 win, but its weight is its own sigmoid.
    const out = route(r({ k: 1, scoring: "sigmoid", selectionBias: true, scale: 2.5 }), L(2, 0, 0, 1), 1, 4, Float32Array.of(0, 0, 0, 0.5));
    expect(pairs(out)).toEqual([[3, +((2.5 / (1 + Math.exp(-1))).toFixed(6))]]);
  });

  it("group-limited top-k keeps the best groups only (top2_sum and max)", () => {
    // groups {0,1} {2,3} {4,5}: sums 0.9+0.1=1.0, 0.5+0.5=1.0 (tie → lower group), 0.95+0=0.95; max would pick group 2.
    const s = L(0.9, 0.1, 0.5, 0.5, 0.95, 0);
    const sum = route(r({ k: 2, scoring: "softmax_topk", groups: 3, topkGroups: 1, groupScoring: "top2_sum" }), s, 1, 6, null);
    expect(sum.map((a) => a.expert)).toEqual([0, 1]);
    const max = route(r({ k: 2, scoring: "softmax_topk", groups: 3, topkGroups: 1, groupScoring: "max" }), s, 1, 6, null);
    expect(max.map((a) => a.expert)).toEqual([4, 5]);
  });

  it("per-expert scale (Gemma-4): each chosen expert's renormalised weight times its entry, the choice unchanged", () => {
    // softmax over 5 experts, top-2 = experts 3 and 0, renormalised to e^2/(e^2+e^1.5) and e^1.5/(...), then × s[e]
    const s = Float32Array.of(0.5, 3, -1, 2.25, 7);
    const out = route(r({ renormalize: true, expertScale: true }), L(1.5, -1, 0.25, 2, 1), 1, 5, null, s);
    const w = Math.exp(2) / (Math.exp(2) + Math.exp(1.5));
    expect(pairs(out)).toEqual([[3, +(w * 2.25).toFixed(6)], [0, +((1 - w) * 0.5).toFixed(6)]]);
    // the same router without the scale, and scale applied after `scale`
    expect(pairs(route(r({ renormalize: true, scale: 2, expertScale: true }), L(1.5, -1, 0.25, 2, 1), 1, 5, null, s))).toEqual([[3, +(w * 2 * 2.25).toFixed(6)], [0, +((1 - w) * 2 * 0.5).toFixed(6)]]);
    expect(() => route(r({ expertScale: true }), L(1, 2), 1, 2, null)).toThrow(/per-expert scale/);
  });

  it("capacity factor drops the assignments past an expert's capacity, first choices first", () => {
    // 4 tokens, 2 experts, top-1, capacity ceil(1.0 · 4 · 1 / 2) = 2: all prefer expert 0.
    const logits = L(1, 0, 2, 0, 3, 0, 4, 0);
    const out = route(r({ k: 1, capacityFactor: 1.0 }), logits, 4, 2, null);
    expect(out.map((a) => [a.token, a.expert])).toEqual([[0, 0], [1, 0]]);
  });

  it("expert choice: each expert takes its top ceil(cf · T / E) tokens", () => {
    const logits = L(3, 0, 2, 0, 0, 1, 0, 5); // token scores (softmax over 2 experts)
    const out = route(r({ choice: "expert", k: 0, capacityFactor: 1 }), logits, 4, 2, null);
    // capacity 2: expert 0 prefers tokens 0 (p≈0.95) and 1 (≈0.88); expert 1 prefers tokens 3 and 2.
    expect(out.map((a) => [a.token, a.expert])).toEqual([[0, 0], [1, 0], [2, 1], [3, 1]]);
  });

  it("sparsemixer (Phi-3.5-MoE) masks experts far below the best before each softmax", () => {
    // logits [4, 3.99, 1]: first pick 0; experts within 2·eps relative distance of 4 stay (3.99: (4-3.99)/4 = 0.0025 ≤ 0.02).
    const eps = 0.01;
    const out = route(r({ scoring: "sparsemixer", jitterEps: eps }), L(4, 3.99, 1), 1, 3, null);
    const w1 = Math.exp(4) / (Math.exp(4) + Math.exp(3.99));
    // second pick: mask out expert 0; the threshold is 3.99; expert 2 is masked ((3.99-1)/3.99 > 0.02), so weight 1.
    expect(pairs(out)).toEqual([[0, +w1.toFixed(6)], [1, 1]]);
  });
});
