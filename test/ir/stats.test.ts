// Parameter counts against independent answers: transformers' own count for the fixture
// models (meta.json), and the published totals of the real architectures in examples/.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { modelStats } from "../../compiler/index.js";
import { fixture, graphOf, graphOfSource, ROOT } from "../helpers/compile.js";

const meta = (name: string) => JSON.parse(readFileSync(fixture("hf", name, "meta.json"), "utf8")) as { params: number };

describe("parameter counts of the fixture models match transformers", () => {
  it("mixtral", () => {
    expect(modelStats(graphOf(fixture("moe", "tiny-mixtral.moe"))).totalParams).toBe(meta("mixtral").params);
  });
  it("qwen2_moe", () => {
    expect(modelStats(graphOf(fixture("moe", "tiny-qwen2-moe.moe"))).totalParams).toBe(meta("qwen2_moe").params);
  });
  it("deepseek_v3 (transformers keeps e_score_correction_bias as a buffer, not a parameter)", () => {
    const stats = modelStats(graphOf(fixture("moe", "tiny-deepseek-v3.moe")));
    const moeLayers = 2;
    const experts = 16;
    expect(stats.totalParams - moeLayers * experts).toBe(meta("deepseek_v3").params);
  });
});

describe("active parameters, by hand", () => {
  it("counts k routed experts, the router and everything dense", () => {
    const g = graphOfSource(`model M {
      const d = 10, f = 6
      expert E(x: [T, d]) -> [T, d] { return linear(relu(linear(x, f)), d) }
      input tokens: i32[seq]
      h = embed(tokens, 20, d)
      output y = linear(h + moe(h, experts = 5 of E, router = topk(k = 2)), 7)
    }`);
    const s = modelStats(g);
    const expert = 6 * 10 + 10 * 6;
    const dense = 20 * 10 + 7 * 10;
    const router = 5 * 10;
    expect(s.totalParams).toBe(dense + router + 5 * expert);
    expect(s.activeParams).toBe(dense + router + 2 * expert);
  });
  it("counts a tied weight once", () => {
    const g = graphOfSource(`model M {
      input tokens: i32[seq]
      h = embed(tokens, 100, 8) @ "emb"
      output y = linear(h, 100) @ "emb"
    }`);
    // embed stores emb.weight [100, 8]; the head's linear binds the same name and shape.
    expect(modelStats(g).totalParams).toBe(800);
  });
});

// Published figures are rounded (Mixtral 46.7 B / 12.9 B) or truncated (Qwen3's "3.3 B
// activated" is 3.35 B) to their last digit; a count matches when it rounds or truncates to it.
const published: [file: string, total: number, active: number, unit: number][] = [
  ["mixtral-8x7b.moe", 46.7e9, 12.9e9, 0.1e9],
  ["qwen3-30b-a3b.moe", 30.5e9, 3.3e9, 0.1e9],
  ["deepseek-v3.moe", 671e9, 37e9, 1e9],
];

function matches(count: number, figure: number, unit: number): boolean {
  return count >= figure - unit / 2 && count < figure + unit;
}

describe("published parameter counts of real architectures", () => {
  for (const [file, total, active, unit] of published) {
    it(file, () => {
      const s = modelStats(graphOf(`${ROOT}/examples/${file}`));
      expect(Math.abs(s.totalParams - total) / total).toBeLessThan(0.005);
      expect(matches(s.totalParams, total, unit), `total ${s.totalParams}`).toBe(true);
      expect(matches(s.activeParams, active, unit), `active ${s.activeParams}`).toBe(true);
    });
  }
});
