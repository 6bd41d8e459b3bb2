// Elementwise kernels, one thread per element: unary activations, binary arithmetic, scale,
// clamp, SwiGLU (GPT-OSS clamping too), fill, the split of a fused projection, strided block
// copies, gathers and the sigmoid-gated add of a shared expert.
import { ENUMS } from "../../../runtime/kernels/catalogue.js";
import { blocks, spanned, type Dialect, type Program } from "../dialect.js";
import { EXP, GELU, GELU_TANH, SIGMOID, SILU, TANH } from "../math.js";

const W = 256;
/** The element this thread owns; returns when past `n`. */
const element = (c: Dialect, n: string) => [c.let("i", "i32", `${c.group} * ${W} + ${c.tid}`), ...c.if(`i >= ${n}`, ["return;"])];

/** One thread per element of an n-element range. */
function map(name: string, n: string, writes: string[], body: (c: Dialect) => string[], helpers: Program["helpers"] = []): Program {
  // n: a parameter, or a product of parameters ("rows * d")
  const names = n.split(" * ");
  return {
    name, kernel: name, threads: W, helpers, writes,
    ...spanned(names, W),
    body: (c) => [...element(c, names.map((q) => c.arg(q)).join(" * ")), ...body(c)],
  };
}

const UNARY_FN: Record<(typeof ENUMS.unary)[number], (c: Dialect, v: string) => string> = {
  silu: (_c, v) => `m_silu(${v})`,
  gelu: (_c, v) => `m_gelu(${v})`,
  gelu_tanh: (_c, v) => `m_gelu_tanh(${v})`,
  relu: (c, v) => c.math("max", v, c.f(0)),
  sigmoid: (_c, v) => `m_sigmoid(${v})`,
  tanh: (_c, v) => `m_tanh(${v})`,
};

/** An if/else chain over an enum parameter's codes. */
function byKind(c: Dialect, kinds: readonly string[], each: (k: number) => string[]): string[] {
  let out: string[] = [];
  for (let k = kinds.length - 1; k >= 0; k--) out = c.if(`${c.arg("kind")} == ${c.i(k)}`, each(k), out.length ? out : undefined);
  return out;
}

export const unary = map("unary", "n", ["y"], (c) => [
  c.let("v", "f32", c.ld("x", "i")),
  ...byKind(c, ENUMS.unary, (k) => [c.st("y", "i", UNARY_FN[ENUMS.unary[k]!](c, "v"))]),
], [SILU, GELU, GELU_TANH, SIGMOID, TANH, EXP]);

export const binary = map("binary", "n", ["y"], (c) => [
  c.let("p", "f32", c.ld("a", "i")),
  c.let("q", "f32", c.ld("b", "i")),
  ...byKind(c, ENUMS.binary, (k) => [c.st("y", "i", `p ${["+", "-", "*", "/"][k]} q`)]),
]);

export const scale = map("scale", "n", ["y"], (c) => [c.st("y", "i", `${c.ld("x", "i")} * ${c.arg("factor")}`)]);

export const scale_rows = map("scale_rows", "rows * d", ["y"], (c) => [c.st("y", "i", `${c.ld("x", "i")} * ${c.ld("f", `i / ${c.arg("d")}`)}`)]);

export const clamp = map("clamp", "n", ["x"], (c) => [c.st("x", "i", c.math("min", c.math("max", c.ld("x", "i"), c.arg("lo")), c.arg("hi")))]);

export const fill = map("fill", "n", ["x"], (c) => [c.st("x", "i", c.arg("value"))]);

export const swiglu = map("swiglu", "n", ["y"], (c) => [
  // limit ≤ 0: no clamp (an infinite limit clamps nothing and keeps NaN as NaN)
  c.let("lim", "f32", c.select(`${c.arg("limit")} > ${c.f(0)}`, c.arg("limit"), c.bits("f32", c.u(0x7f800000)))),
  c.let("g", "f32", c.math("min", c.ld("g", "i"), "lim")),
  c.let("u", "f32", c.math("max", c.math("min", c.ld("u", "i"), "lim"), "-lim")),
  c.let("s", "f32", `g * m_sigmoid(g * ${c.arg("alpha")})`),
  c.st("y", "i", `s * (u + ${c.arg("up_offset")})`),
], [SIGMOID, EXP]);

export const deinterleave: Program = {
  name: "deinterleave",
  kernel: "deinterleave",
  threads: W,
  writes: ["a", "b"],
  ...spanned(["rows", "half"], W),
  body: (c) => [
    ...element(c, `${c.arg("rows")} * ${c.arg("half")}`),
    c.let("h", "i32", c.arg("half")),
    c.let("r", "i32", "i / h"),
    c.let("j", "i32", "i - r * h"),
    c.let("inter", "bool", `${c.arg("interleaved")} != 0`),
    c.let("ia", "i32", `r * 2 * h + ${c.select("inter", "2 * j", "j")}`),
    c.let("ib", "i32", `r * 2 * h + ${c.select("inter", "2 * j + 1", "h + j")}`),
    c.st("a", "i", c.ld("x", "ia")),
    c.st("b", "i", c.ld("x", "ib")),
  ],
};

export const copy_blocks: Program = {
  name: "copy_blocks",
  kernel: "copy_blocks",
  threads: W,
  writes: ["dst"],
  ...spanned(["rows", "blocks", "len"], W),
  body: (c) => [
    ...element(c, `${c.arg("rows")} * ${c.arg("blocks")} * ${c.arg("len")}`),
    c.let("len", "i32", c.arg("len")),
    c.let("rb", "i32", "i / len"),
    c.let("j", "i32", "i - rb * len"),
    c.let("r", "i32", `rb / ${c.arg("blocks")}`),
    c.let("b", "i32", `rb - r * ${c.arg("blocks")}`),
    c.st("dst", `r * ${c.arg("dst_row")} + b * ${c.arg("dst_block")} + j`, c.ld("src", `r * ${c.arg("src_row")} + b * ${c.arg("src_block")} + j`)),
  ],
};

export const gather_rows: Program = {
  name: "gather_rows",
  kernel: "gather_rows",
  threads: W,
  writes: ["dst"],
  grid: (a) => blocks(a("count") * a("d"), W),
  body: (c) => [
    ...element(c, `${c.arg("count")} * ${c.arg("d")}`),
    c.let("d", "i32", c.arg("d")),
    c.let("r", "i32", "i / d"),
    c.let("j", "i32", "i - r * d"),
    c.st("dst", "i", c.ld("src", `${c.ldi("idx", "r")} * d + j`)),
  ],
};

/**
 * dst[idx[i]] += w[i]·src[i] in order: one thread per column walks the rows in order, so rows
 * that repeat add up in the same order as on every other device.
 */
export const scatter_add_rows: Program = {
  name: "scatter_add_rows",
  kernel: "scatter_add_rows",
  threads: 64,
  writes: ["dst"],
  grid: (a) => blocks(a("d"), 64),
  body: (c) => [
    c.let("j", "i32", `${c.group} * 64 + ${c.tid}`),
    c.let("d", "i32", c.arg("d")),
    ...c.if("j >= d", ["return;"]),
    ...c.for("i", c.i(0), c.arg("count"), [
      c.let("o", "i32", `${c.ldi("idx", "i")} * d + j`),
      c.let("p", "f32", `${c.ld("weights", "i")} * ${c.ld("src", "i * d + j")}`),
      c.st("dst", "o", `${c.ld("dst", "o")} + p`),
    ]),
  ],
};

/** dst[r] += sigmoid(gate[r])·src[r] (the shared expert's gate). */
export const gate_add_rows: Program = {
  name: "gate_add_rows",
  kernel: "gate_add_rows",
  threads: W,
  writes: ["dst"],
  helpers: [SIGMOID, EXP],
  grid: (a) => blocks(a("rows") * a("d"), W),
  body: (c) => [
    ...element(c, `${c.arg("rows")} * ${c.arg("d")}`),
    c.let("r", "i32", `i / ${c.arg("d")}`),
    c.let("g", "f32", `m_sigmoid(${c.ld("gate", "r")})`),
    c.let("p", "f32", `g * ${c.ld("src", "i")}`),
    c.st("dst", "i", `${c.ld("dst", "i")} + p`),
  ],
};
