// Diagnostics of the checker, one broken program each: the code, the place, and the words
// a user needs (both shapes, the suggestion).
import { describe, expect, it } from "vitest";
import { checkSource, type Diagnostic } from "../../compiler/index.js";
import { expectedTensors } from "../helpers/compile.js";

function errs(body: string): Diagnostic[] {
  const text = `model M {\n  const d = 64, vocab = 100\n  input tokens: i32[seq]\n  h = embed(tokens, vocab, d)\n${body}\n}\n`;
  return checkSource("t.moe", text).diagnostics.filter((d) => d.severity === "error");
}
const one = (body: string) => {
  const e = errs(body);
  expect(e, e.map((x) => x.message).join("\n")).toHaveLength(1);
  return e[0]!;
};

describe("checker diagnostics", () => {
  it("undefined name with a suggestion", () => {
    const e = one("  output y = linear(hh, 4)");
    expect(e.code).toBe("MOE2001");
    expect(e.hint).toBe("Did you mean 'h'?");
    expect(e.span?.line).toBe(5);
  });

  it("misspelled op and keyword argument", () => {
    expect(one("  output y = lienar(h, 4)").hint).toBe("Did you mean 'linear'?");
    const e = one("  output y = rmsnorm(h, esp = 1e-5)");
    expect([e.code, e.hint]).toEqual(["MOE3003", "Did you mean 'eps'?"]);
  });

  it("shape mismatch names both shapes", () => {
    const e = one("  block B(x: [seq, 2048]) -> [seq, 2048] { return x }\n  output y = B(h)");
    expect(e.code).toBe("MOE3002");
    expect(e.message).toContain("f32[seq, 64]");
    expect(e.message).toContain("[seq, 2048]");
  });

  it("elementwise shape mismatch", () => {
    const e = one("  output y = h + linear(h, 32)");
    expect(e.code).toBe("MOE3002");
    expect(e.message).toContain("[seq, 64] is not compatible with [seq, 32]");
  });

  it("dtype mismatch: embedding a float tensor", () => {
    expect(one("  output y = embed(h, 10, 4)").code).toBe("MOE3008");
  });

  it("wrong argument type", () => {
    const e = one("  output y = linear(h, 2.5)");
    expect(e.code).toBe("MOE3001");
    expect(e.message).toContain("an int");
  });

  it("missing required argument", () => {
    expect(one("  output y = linear(h)").code).toBe("MOE3004");
  });

  it("assigning a constant", () => {
    expect(one("  d = 3\n  output y = h").code).toBe("MOE2003");
  });

  it("router options that contradict each other", () => {
    const moe = (router: string) => `  expert E(x: [T, d]) -> [T, d] { return linear(x, d) }\n  output y = moe(h, experts = 8 of E, router = ${router})`;
    expect(one(moe("topk(k = 9)")).message).toContain("k = 9 must be between 1 and the number of experts (8)");
    expect(one(moe("topk(k = 2, groups = 3)")).message).toContain("groups = 3 must divide");
    expect(one(moe("topk(k = 2, groups = 4, topk_groups = 5)")).message).toContain("topk_groups = 5");
    expect(one(moe("topk(k = 5, groups = 4, topk_groups = 2)")).message).toContain("more than the 4 experts");
    expect(one(moe("topk(k = 3, scoring = \"sparsemixer\")")).code).toBe("MOE4001");
    expect(one(moe("topk(k = 2, scoring = \"nope\")")).code).toBe("MOE3001");
    expect(one(moe("topk(k = 2, capacity_factor = 0)")).message).toContain("capacity_factor must be positive");
  });

  it("an expert that does not preserve the width", () => {
    const e = one("  expert E(x: [T, d]) -> [T, 32] { return linear(x, 32) }\n  output y = moe(h, experts = 4 of E, router = topk(k = 1))");
    expect(e.code).toBe("MOE4003");
  });

  it("a pre-gating router input over different tokens", () => {
    const e = one("  expert E(x: [T, d]) -> [T, d] { return x }\n  other = embed(tokens, vocab, d)\n  g = linear(h, 8)\n  output y = moe(h, experts = 4 of E, router = topk(k = 1, input = embed(embed(tokens, 3, 3), 2, 2)))");
    expect(["MOE3008", "MOE4004"]).toContain(e.code);
  });

  it("a weight name after something that has no weights", () => {
    expect(one('  output y = (h + h) @ "sum"').code).toBe("MOE2013");
  });

  it("a bad placeholder in a weight name", () => {
    expect(one('  output y = linear(h, 4) @ "layers.{j}"').code).toBe("MOE1010");
  });

  it("the same weight name with two shapes", () => {
    const e = errs('  a = linear(h, 4) @ "w"\n  output y = linear(h, 5) @ "w"');
    expect(e.map((x) => x.code)).toEqual(["MOE3013"]);
  });

  it("a loop too long to unroll", () => {
    expect(one("  for i in 0..100000000 { h = h }\n  output y = h").code).toBe("MOE3012");
  });

  it("reports several independent errors in one run", () => {
    const e = errs("  a = linear(hh, 4)\n  b = rmsnorm(h, epsilon = 1)\n  output y = h + linear(h, 3)");
    expect(e.map((x) => x.code)).toEqual(["MOE2001", "MOE3003", "MOE3002"]);
  });

  it("a model without outputs", () => {
    expect(one("").code).toBe("MOE2005");
  });
});

describe("per-layer variation", () => {
  it("if inside a layer loop makes some layers dense", () => {
    const r = checkSource("t.moe", `model M {
      const d = 8
      expert E(x: [T, d]) -> [T, d] { return linear(x, d) }
      input tokens: i32[seq]
      h = embed(tokens, 10, d)
      for i in 0..6 {
        if i < 2 or i % 2 == 1 { h = h + linear(h, d) } else { h = h + moe(h, experts = 4 of E, router = topk(k = 1)) }
        h = h + attention(h, 2, window = if i % 2 == 0 then 4 else none)
      }
      output y = h
    }`);
    expect(r.diagnostics).toEqual([]);
    const moeLayers = r.graph!.nodes.filter((n) => n.op === "moe").map((n) => n.layer);
    expect(moeLayers).toEqual([2, 4]);
    const windows = r.graph!.nodes.filter((n) => n.op === "attention").map((n) => n.attrs["window"]);
    expect(windows).toEqual([4, null, 4, null, 4, null]);
  });
});

describe("Gemma-4's pieces: v norm and v = k, proportional RoPE, GeGLU, bare rmsnorm, learned_scale, expert_scale", () => {
  const src = (body: string) => `model M {
      const d = 8
      expert G(x: [T, d]) -> [T, d] { return linear(swiglu(linear(x, 12, bare = true) @ "gate_up_proj", activation = "gelu_tanh"), d, bare = true) @ "down_proj" }
      input tokens: i32[seq]
      h = embed(tokens, 10, d) @ "e"
      ${body}
    }`;

  it("builds the nodes and names the parameters as the checkpoint does", () => {
    const r = checkSource("t.moe", src(`a = attention(h, 2, 1, head_dim = 8, rope = rope(theta = 1e6, scaling = proportional(rotated = 4)), v_norm = true, v_name = "k_proj") @ "att"
      r = rmsnorm(h, bare = true) @ "router.scale"
      e = moe(h, experts = 3 of G @ "experts", router = topk(k = 2, renormalize = true, input = r, expert_scale = "router.per_expert_scale") @ "router.proj") @ "l"
      output y = learned_scale(h + a + e) @ "layer_scalar"`));
    expect(r.diagnostics).toEqual([]);
    const names = [...expectedTensors(r.graph!)].map(([n, shape]) => `${n} [${shape.join(", ")}]`);
    // k_proj once (v reads it too), no v_proj; the norm's weight is router.scale itself; per_expert_scale [E]; layer_scalar [1]
    expect(names.filter((n) => n.startsWith("att."))).toEqual(["att.q_proj.weight [16, 8]", "att.k_proj.weight [8, 8]", "att.o_proj.weight [8, 16]"]);
    expect(names).toContain("router.scale [8]");
    expect(names).toContain("l.router.per_expert_scale [3]");
    expect(names).toContain("layer_scalar [1]");
    expect(names).toContain("l.experts.gate_up_proj [3, 12, 8]");
    const body = r.graph!.nodes.find((n) => n.op === "moe")!.subgraphs["expert0"]!;
    const swiglu = body.nodes.find((n) => n.op === "swiglu")!;
    expect(swiglu.attrs["activation"]).toBe("gelu_tanh");
  });

  it("rejects the combinations that mean nothing", () => {
    expect(errs(`output y = swiglu(linear(h, 8), activation = "gelu_tanh", alpha = 1.702)`).map((e) => e.code)).toEqual(["MOE3007"]);
    expect(errs(`output y = attention(h, 2, rope = rope(scaling = proportional(rotated = 3)))`).map((e) => e.code)).toEqual(["MOE4006"]);
    expect(errs(`output y = attention(h, 2, rope = rope(scaling = proportional(rotated = 34)))`).map((e) => e.code)).toEqual(["MOE4006"]);
    expect(errs(`output y = attention(h, 2, qkv_name = "Wqkv", v_name = "k_proj")`).map((e) => e.code)).toEqual(["MOE4005"]);
    expect(errs(`output y = attention(h, 2, v_name = "not a name")`).map((e) => e.code)).toEqual(["MOE3007"]);
  });
});

describe("mamba (Jamba's Mamba-1 mixer, SPEC §6.14)", () => {
  it("binds Jamba's parameters, with the biases its flags ask for", () => {
    const text = `model M {\n  input x: f32[seq, 48]\n  output y = mamba(x, inner = 96, state_dim = 6, dt_rank = 3, conv_kernel = 3, proj_bias = true) @ "m"\n}\n`;
    const r = checkSource("t.moe", text);
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect([...expectedTensors(r.graph!)].map(([n, s]) => `${n} [${s.join(", ")}]`)).toEqual([
      "m.in_proj.weight [192, 48]", "m.in_proj.bias [192]", "m.conv1d.weight [96, 1, 3]", "m.conv1d.bias [96]", "m.x_proj.weight [15, 96]", "m.dt_layernorm.weight [3]",
      "m.b_layernorm.weight [6]", "m.c_layernorm.weight [6]", "m.dt_proj.weight [96, 3]", "m.dt_proj.bias [96]", "m.A_log [96, 6]", "m.D [96]", "m.out_proj.weight [48, 96]",
      "m.out_proj.bias [48]",
    ]);
  });

  it("refuses sizes that are not positive and an input without a sequence dimension", () => {
    const e = one("  output y = mamba(h, inner = 0, state_dim = 4, dt_rank = 2)");
    expect(e.message).toContain("inner");
    expect(e.code).toBe("MOE3007");
    const flat = checkSource("t.moe", `model M {\n  input x: f32[48]\n  output y = mamba(x, inner = 8, state_dim = 4, dt_rank = 2)\n}\n`).diagnostics.filter((d) => d.severity === "error");
    expect(flat.map((d) => d.code)).toEqual(["MOE3002"]);
  });
});
