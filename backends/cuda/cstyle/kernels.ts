// The kernels that are the same computation on every C-like target, described once (ir.ts):
// elementwise maps, norms, RoPE and the reshapes of plan steps. Their semantics are the kernel
// catalogue's (runtime/kernels/catalogue.ts): each description says which entry it implements
// and keeps its f32 roundings.
import { ENUMS } from "../../../runtime/kernels/catalogue.js";
import { add, call, div, f32, forEach, gt, has, if_, int, let_, load, mod, mul, p, reduce, sel, set, store, sub, v, var_, type KernelDesc } from "./ir.js";

const i = v("i");
const code = (e: "unary" | "binary", name: string) => (ENUMS[e] as readonly string[]).indexOf(name);

/** catalogue `unary`: y = f(x), f by `kind` (ENUMS.unary). */
const unary: KernelDesc = {
  name: "unary",
  doc: "y = f(x) elementwise, f by kind (silu, gelu, gelu_tanh, relu, sigmoid, tanh)",
  params: [p("x", "f32 in"), p("y", "f32 out"), p("n", "index"), p("kind", "i32")],
  space: { kind: "elementwise", n: v("n") },
  body: [
    let_("a", "f32", load("x", i)),
    var_("r", "f32", v("a")),
    {
      k: "switch",
      on: v("kind"),
      cases: [
        [code("unary", "silu"), [set("r", call("swish", f32(1), v("a")))]],
        [code("unary", "gelu"), [set("r", call("gelu", v("a")))]],
        [code("unary", "gelu_tanh"), [set("r", call("gelu_tanh", v("a")))]],
        [code("unary", "relu"), [set("r", sel(gt(v("a"), f32(0)), v("a"), f32(0)))]],
        [code("unary", "sigmoid"), [set("r", call("sigmoid", v("a")))]],
        [code("unary", "tanh"), [set("r", call("tanh", v("a")))]],
      ],
      default: [],
    },
    store("y", i, v("r")),
  ],
};

/** catalogue `binary`: y = a ∘ b. */
const binary: KernelDesc = {
  name: "binary",
  doc: "y = a ∘ b elementwise, ∘ by kind (add, sub, mul, div)",
  params: [p("a", "f32 in"), p("b", "f32 in"), p("y", "f32 out"), p("n", "index"), p("kind", "i32")],
  space: { kind: "elementwise", n: v("n") },
  body: [
    let_("l", "f32", load("a", i)),
    let_("r", "f32", load("b", i)),
    var_("o", "f32", add(v("l"), v("r"))),
    {
      k: "switch",
      on: v("kind"),
      cases: [
        [code("binary", "sub"), [set("o", sub(v("l"), v("r")))]],
        [code("binary", "mul"), [set("o", mul(v("l"), v("r")))]],
        [code("binary", "div"), [set("o", div(v("l"), v("r")))]],
      ],
      default: [],
    },
    store("y", i, v("o")),
  ],
};

const scale: KernelDesc = {
  name: "scale",
  doc: "y = x·factor",
  params: [p("x", "f32 in"), p("y", "f32 out"), p("n", "index"), p("factor", "f32")],
  space: { kind: "elementwise", n: v("n") },
  body: [store("y", i, mul(load("x", i), v("factor")))],
};

const clamp: KernelDesc = {
  name: "clamp",
  doc: "in place: x = min(max(x, lo), hi)",
  params: [p("x", "f32 inout"), p("n", "index"), p("lo", "f32"), p("hi", "f32")],
  space: { kind: "elementwise", n: v("n") },
  body: [store("x", i, call("min", call("max", load("x", i), v("lo")), v("hi")))],
};

/** catalogue `swiglu`: y = g·sigmoid(alpha·g)·(u + up_offset), clamped by limit when limit > 0. */
const swiglu: KernelDesc = {
  name: "swiglu",
  doc: "y = g·sigmoid(alpha·g)·(u + up_offset); with limit > 0, g = min(g, limit) and u = clamp(u, -limit, limit)",
  params: [p("g", "f32 in"), p("u", "f32 in"), p("y", "f32 out"), p("n", "index"), p("alpha", "f32"), p("limit", "f32"), p("up_offset", "f32")],
  space: { kind: "elementwise", n: v("n") },
  body: [
    var_("gv", "f32", load("g", i)),
    var_("uv", "f32", load("u", i)),
    if_(gt(v("limit"), f32(0)), [set("gv", call("min", v("gv"), v("limit"))), set("uv", call("min", v("limit"), call("max", sub(f32(0), v("limit")), v("uv"))))]),
    store("y", i, mul(call("swish", v("alpha"), v("gv")), add(v("uv"), v("up_offset")))),
  ],
};

/** catalogue `deinterleave`: rows of 2·half split into a and b (halves, or even/odd columns). */
const deinterleave: KernelDesc = {
  name: "deinterleave",
  doc: "each row of 2·half into a and b: even/odd columns when interleaved, else first/second half",
  params: [p("x", "f32 in"), p("a", "f32 out"), p("b", "f32 out"), p("rows", "i32"), p("half", "i32"), p("interleaved", "bool")],
  space: { kind: "elementwise", n: mul(call("to_index", v("rows")), call("to_index", v("half"))) },
  body: [
    let_("h", "index", call("to_index", v("half"))),
    let_("r", "index", div(i, v("h"))),
    let_("j", "index", mod(i, v("h"))),
    let_("ga", "index", sel(v("interleaved"), mul(call("to_index", int(2)), v("j")), v("j"))),
    let_("gb", "index", sel(v("interleaved"), add(mul(call("to_index", int(2)), v("j")), call("to_index", int(1))), add(v("h"), v("j")))),
    let_("row", "index", mul(mul(v("r"), call("to_index", int(2))), v("h"))),
    store("a", i, load("x", add(v("row"), v("ga")))),
    store("b", i, load("x", add(v("row"), v("gb")))),
  ],
};

/** catalogue `copy_blocks`. */
const copyBlocks: KernelDesc = {
  name: "copy_blocks",
  doc: "dst[r·dst_row + b·dst_block + j] = src[r·src_row + b·src_block + j] for r < rows, b < blocks, j < len",
  params: [p("src", "f32 in"), p("dst", "f32 out"), p("rows", "i32"), p("blocks", "i32"), p("len", "i32"), p("src_row", "i32"), p("src_block", "i32"), p("dst_row", "i32"), p("dst_block", "i32")],
  space: { kind: "elementwise", n: mul(mul(call("to_index", v("rows")), call("to_index", v("blocks"))), call("to_index", v("len"))) },
  body: [
    let_("j", "index", mod(i, call("to_index", v("len")))),
    let_("b", "index", mod(div(i, call("to_index", v("len"))), call("to_index", v("blocks")))),
    let_("r", "index", div(div(i, call("to_index", v("len"))), call("to_index", v("blocks")))),
    store(
      "dst",
      add(add(mul(v("r"), call("to_index", v("dst_row"))), mul(v("b"), call("to_index", v("dst_block")))), v("j")),
      load("src", add(add(mul(v("r"), call("to_index", v("src_row"))), mul(v("b"), call("to_index", v("src_block")))), v("j"))),
    ),
  ],
};

const row = (j: string) => add(mul(call("to_index", v("row")), call("to_index", v("n"))), call("to_index", v(j)));

/** catalogue `rmsnorm`: y = f32(w + offset)·f32(x·inv), inv = 1/sqrt(mean(x²) + eps); no w: y = x·inv. */
const rmsnorm: KernelDesc = {
  name: "rmsnorm",
  doc: "per row of n: y = f32(w + offset)·(x / sqrt(mean(x²) + eps)), x·inv rounded to f32 before the weight multiplies it; without w (Llama-4's L2 norm) y = x·inv; in place allowed",
  params: [p("x", "f32 in"), p("w", "f32 in?"), p("y", "f32 out"), p("rows", "i32"), p("n", "i32"), p("eps", "f32"), p("offset", "f32")],
  space: { kind: "rows", rows: v("rows") },
  body: [
    reduce("ss", "j", v("n"), mul(load("x", row("j")), load("x", row("j")))),
    let_("inv", "f32", div(f32(1), call("sqrt", add(div(v("ss"), call("to_f32", v("n"))), v("eps"))))),
    forEach("j", v("n"), [store("y", row("j"), sel(has("w"), mul(add(load("w", v("j")), v("offset")), call("mul_rn", load("x", row("j")), v("inv"))), call("mul_rn", load("x", row("j")), v("inv"))))]),
  ],
};

/** catalogue `layernorm`: y = (x − mean)/sqrt(var + eps)·w + b, biased variance. */
const layernorm: KernelDesc = {
  name: "layernorm",
  doc: "per row of n: y = (x - mean)/sqrt(var + eps)·w + b (biased variance, b optional); in place allowed",
  params: [p("x", "f32 in"), p("w", "f32 in"), p("b", "f32 in?"), p("y", "f32 out"), p("rows", "i32"), p("n", "i32"), p("eps", "f32")],
  space: { kind: "rows", rows: v("rows") },
  body: [
    reduce("s", "j", v("n"), load("x", row("j"))),
    let_("mean", "f32", div(v("s"), call("to_f32", v("n")))),
    reduce("vs", "j", v("n"), mul(sub(load("x", row("j")), v("mean")), sub(load("x", row("j")), v("mean")))),
    let_("inv", "f32", div(f32(1), call("sqrt", add(div(v("vs"), call("to_f32", v("n"))), v("eps"))))),
    forEach("j", v("n"), [
      store("y", row("j"), add(mul(mul(sub(load("x", row("j")), v("mean")), v("inv")), load("w", v("j"))), sel(has("b"), load("b", v("j")), f32(0)))),
    ]),
  ],
};

/**
 * catalogue `rope`, with the cos/sin tables computed in the kernel from each row's position and
 * its segment's inverse frequencies (table[seg][0 … rope_dim/2), then the attention factor),
 * as runtime/math/rope.ts's ropeCosSin rounds them: angle = f32(pos·inv), cos = f32(f32(cos(angle))·factor).
 */
const rope: KernelDesc = {
  name: "rope",
  doc: "in place on x [rows, heads·head_stride]: each head's first rope_dim dims rotate in pairs (j, j + rope_dim/2), or (2j, 2j + 1) when interleaved, at the row's position",
  params: [
    p("x", "f32 inout"), p("rows", "i32"), p("heads", "i32"), p("head_stride", "i32"), p("rope_dim", "i32"), p("interleaved", "bool"),
    p("pos", "i32 in"), p("seg", "i32 in"), p("table", "f32 in"), p("table_stride", "i32"),
  ],
  space: { kind: "elementwise", n: mul(mul(call("to_index", v("rows")), call("to_index", v("heads"))), call("to_index", div(v("rope_dim"), int(2)))) },
  body: [
    let_("half", "index", call("to_index", div(v("rope_dim"), int(2)))),
    let_("j", "index", mod(i, v("half"))),
    let_("h", "index", mod(div(i, v("half")), call("to_index", v("heads")))),
    let_("r", "index", div(div(i, v("half")), call("to_index", v("heads")))),
    let_("base", "index", mul(add(mul(v("r"), call("to_index", v("heads"))), v("h")), call("to_index", v("head_stride")))),
    let_("t", "index", mul(call("to_index", load("seg", v("r"))), call("to_index", v("table_stride")))),
    let_("angle", "f32", call("mul_rn", call("to_f32", load("pos", v("r"))), load("table", add(v("t"), v("j"))))),
    let_("factor", "f32", load("table", add(v("t"), v("half")))),
    let_("c", "f32", call("mul_rn", call("cos", v("angle")), v("factor"))),
    let_("s", "f32", call("mul_rn", call("sin", v("angle")), v("factor"))),
    let_("i0", "index", add(v("base"), sel(v("interleaved"), mul(call("to_index", int(2)), v("j")), v("j")))),
    let_("i1", "index", add(v("base"), sel(v("interleaved"), add(mul(call("to_index", int(2)), v("j")), call("to_index", int(1))), add(v("j"), v("half"))))),
    let_("a", "f32", load("x", v("i0"))),
    let_("b", "f32", load("x", v("i1"))),
    store("x", v("i0"), sub(call("mul_rn", v("a"), v("c")), call("mul_rn", v("b"), v("s")))),
    store("x", v("i1"), add(call("mul_rn", v("b"), v("c")), call("mul_rn", v("a"), v("s")))),
  ],
};

export const CSTYLE_KERNELS: readonly KernelDesc[] = [unary, binary, scale, clamp, swiglu, deinterleave, copyBlocks, rmsnorm, layernorm, rope];
