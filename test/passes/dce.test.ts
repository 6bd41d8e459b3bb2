import { describe, expect, it } from "vitest";
import { modelStats, printGraph, runPipeline, verifyGraph } from "../../compiler/index.js";
import { dce } from "../../compiler/passes/dce.js";
import { graphOfSource } from "../helpers/compile.js";

describe("dce", () => {
  it("removes nodes no output needs, with their weights, and renumbers", () => {
    const g = graphOfSource(`model M {
      input tokens: i32[seq]
      h = embed(tokens, 10, 4) @ "emb"
      unused = linear(h, 7) @ "dead"
      output y = linear(silu(h), 3) @ "head"
    }`);
    expect(g.nodes.map((n) => n.op)).toEqual(["input", "embed", "linear", "silu", "linear"]);
    const out = dce.run(g);
    expect(out.nodes.map((n) => n.op)).toEqual(["input", "embed", "silu", "linear"]);
    expect(out.nodes.map((n) => n.id)).toEqual([0, 1, 2, 3]);
    expect(out.outputs[0]!.node).toBe(3);
    expect(verifyGraph(out)).toEqual([]);
    expect(modelStats(out).totalParams).toBe(10 * 4 + 3 * 4);
    expect(printGraph(out)).not.toContain("dead");
  });

  it("returns the same graph when nothing is dead, and can be disabled", () => {
    const g = graphOfSource(`model M { input t: i32[seq]\n output y = embed(t, 5, 2) }`);
    expect(dce.run(g)).toBe(g);
    const kept = graphOfSource(`model M { input t: i32[seq]\n x = embed(t, 5, 2)\n output y = embed(t, 5, 3) @ "e2" }`);
    expect(runPipeline(kept, { disabled: ["dce"] }).graph.nodes).toHaveLength(3);
    expect(runPipeline(kept, { verify: true }).graph.nodes).toHaveLength(2);
  });
});
