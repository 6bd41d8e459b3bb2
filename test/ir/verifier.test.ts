// The verifier accepts what sema builds and rejects each kind of corruption a buggy pass
// could introduce.
import { describe, expect, it } from "vitest";
import { verifyGraph, type Graph, type Node } from "../../compiler/index.js";
import { fixture, graphOf } from "../helpers/compile.js";

const base = () => graphOf(fixture("moe", "tiny-qwen2-moe.moe"));

/** A structurally cloned, mutable copy with one node edited. */
function edit(g: Graph, pick: (n: Node) => boolean, change: (n: Record<string, unknown>) => void): Graph {
  const copy = structuredClone(g) as unknown as { nodes: Record<string, unknown>[] };
  const i = g.nodes.findIndex(pick);
  change(copy.nodes[i]!);
  for (const n of copy.nodes) Object.freeze(n);
  return copy as unknown as Graph;
}

describe("verifier", () => {
  it("accepts every example and fixture program", () => {
    for (const p of ["tiny-mixtral.moe", "tiny-qwen2-moe.moe", "tiny-deepseek-v3.moe"]) expect(verifyGraph(graphOf(fixture("moe", p)))).toEqual([]);
  });

  it("rejects a forward reference", () => {
    const g = edit(base(), (n) => n.op === "add", (n) => ((n["inputs"] as number[])[1] = 9999));
    expect(verifyGraph(g).map((d) => d.message).join()).toContain("is not an earlier node");
  });

  it("rejects a type the op table does not infer", () => {
    const g = edit(base(), (n) => n.op === "linear", (n) => (n["type"] = { dtype: "f32", shape: ["seq", 3] }));
    expect(verifyGraph(g).map((d) => d.message).join()).toContain("but the op table infers");
  });

  it("rejects a parameter with the wrong shape or name", () => {
    const g = edit(base(), (n) => n.op === "rmsnorm", (n) => (n["params"] = [{ name: "x.weight", shape: [3], dtype: "f32" }]));
    expect(verifyGraph(g)[0]!.code).toBe("MOE5001");
  });

  it("rejects a moe whose expert count disagrees with its groups", () => {
    const g = edit(base(), (n) => n.op === "moe", (n) => (n["attrs"] = { ...(n["attrs"] as object), numExperts: 9 }));
    expect(verifyGraph(g).map((d) => d.message).join()).toContain("numExperts 9");
  });

  it("rejects a mutable node", () => {
    const copy = structuredClone(base()) as unknown as Graph;
    expect(verifyGraph(copy).map((d) => d.message).join()).toContain("mutable");
  });
});
