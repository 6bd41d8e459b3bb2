// Row normalisations and rotary embeddings. A norm is one workgroup per row: each thread sums
// a strided share of the row, the shares are added pairwise in shared memory (a fixed tree, so
// the result does not depend on timing), then every thread writes its share of the output.
import { blocks, spanned, type Dialect, type Program } from "../dialect.js";

const W = 256;

/**
 * Sums (hi, lo) pairs over the workgroup through a pairwise tree of compensated additions
 * (two-sum: the rounding error of each addition is kept in lo), so a row's sum is good to
 * about one f32 rounding whatever its length; every thread reads the total.
 */
function reduce(c: Dialect, into: string, hi: string, lo: string): string[] {
  const t = c.tid;
  const out = [`red[${t}] = ${hi};`, `rlo[${t}] = ${lo};`, c.barrier()];
  for (let s = W / 2; s >= 1; s /= 2) {
    out.push(
      ...c.if(`${t} < ${s}`, [
        c.let("a", "f32", `red[${t}]`),
        c.let("b", "f32", `red[${t} + ${s}]`),
        c.let("sum", "f32", c.keep("a + b")),
        c.let("bb", "f32", c.keep("sum - a")),
        `rlo[${t}] = rlo[${t}] + rlo[${t} + ${s}] + (${c.keep(`a - ${c.keep("sum - bb")}`)} + ${c.keep("b - bb")});`,
        `red[${t}] = sum;`,
      ]),
      c.barrier(),
    );
  }
  out.push(c.let(into, "f32", "red[0] + rlo[0]"), c.let(`${into}_hi`, "f32", "red[0]"), c.let(`${into}_lo`, "f32", "rlo[0]"), c.barrier());
  return out;
}

/** `acc += v` compensated (acc, acc_lo). */
function addTo(c: Dialect, acc: string, v: string): string[] {
  return [c.let(`${acc}_y`, "f32", c.keep(`${v} - ${acc}_lo`)), c.let(`${acc}_t`, "f32", c.keep(`${acc} + ${acc}_y`)), `${acc}_lo = ${c.keep(`${c.keep(`${acc}_t - ${acc}`)} - ${acc}_y`)};`, `${acc} = ${acc}_t;`];
}

/** The mean of a row as hi + lo: hi = sum/n rounded, lo what that rounding lost (Dekker's exact product). */
function meanPair(c: Dialect, sumHi: string, sumLo: string, n: string): string[] {
  const split = (v: string) => [c.let(`${v}_c`, "f32", c.keep(`${c.f(4097)} * ${v}`)), c.let(`${v}_h`, "f32", c.keep(`${v}_c - ${c.keep(`${v}_c - ${v}`)}`)), c.let(`${v}_l`, "f32", c.keep(`${v} - ${v}_h`))];
  return [
    c.let("nf", "f32", c.cast("f32", n)),
    c.let("mh", "f32", `${sumHi} / nf`),
    ...split("mh"),
    ...split("nf"),
    c.let("pp", "f32", c.keep("mh * nf")),
    c.let("pe", "f32", c.keep(`${c.keep(`${c.keep(`${c.keep("mh_h * nf_h")} - pp`)} + ${c.keep("mh_h * nf_l")}`)} + ${c.keep("mh_l * nf_h")}`) + ` + ${c.keep("mh_l * nf_l")}`),
    c.let("ml", "f32", `(${c.keep(`${sumHi} - pp`)} - pe + ${sumLo}) / nf`),
  ];
}
const sharedRed = (c: Dialect) => [c.shared("red", "f32", W), c.shared("rlo", "f32", W)];

export const rmsnorm: Program = {
  name: "rmsnorm",
  kernel: "rmsnorm",
  threads: W,
  writes: ["y"],
  ...spanned(["rows"], 1),
  shared: sharedRed,
  body: (c) => [
    c.let("n", "i32", c.arg("n")),
    c.let("base", "i32", `${c.group} * n`),
    c.var("ss", "f32", c.f(0)),
    c.var("ss_lo", "f32", c.f(0)),
    ...c.for("k", c.tid, "n", [c.let("v", "f32", c.ld("x", "base + k")), ...addTo(c, "ss", "v * v")], c.i(W)),
    ...reduce(c, "total", "ss", "-ss_lo"),
    c.let("inv", "f32", `${c.f(1)} / ${c.math("sqrt", `total / ${c.cast("f32", "n")} + ${c.arg("eps")}`)}`),
    // w + offset rounded, x·inv rounded, then their product (as HF); no weight: x·inv
    c.let("hasw", "bool", `${c.arg("w_set")} != 0`),
    ...c.for("k", c.tid, "n", [
      c.let("xn", "f32", c.keep(`${c.ld("x", "base + k")} * inv`)),
      ...c.if("hasw", [c.st("y", "base + k", `${c.keep(`${c.ld("w", "k")} + ${c.arg("offset")}`)} * xn`)], [c.st("y", "base + k", "xn")]),
    ], c.i(W)),
  ],
};

export const layernorm: Program = {
  name: "layernorm",
  kernel: "layernorm",
  threads: W,
  writes: ["y"],
  ...spanned(["rows"], 1),
  shared: sharedRed,
  body: (c) => [
    c.let("n", "i32", c.arg("n")),
    c.let("base", "i32", `${c.group} * n`),
    c.var("s", "f32", c.f(0)),
    c.var("s_lo", "f32", c.f(0)),
    ...c.for("k", c.tid, "n", addTo(c, "s", c.ld("x", "base + k")), c.i(W)),
    ...reduce(c, "sum", "s", "-s_lo"),
    ...meanPair(c, "sum_hi", "sum_lo", "n"),
    c.var("q", "f32", c.f(0)),
    c.var("q_lo", "f32", c.f(0)),
    ...c.for("k", c.tid, "n", [c.let("dv", "f32", `${c.keep(`${c.ld("x", "base + k")} - mh`)} - ml`), ...addTo(c, "q", "dv * dv")], c.i(W)),
    ...reduce(c, "vs", "q", "-q_lo"),
    c.let("inv", "f32", `${c.f(1)} / ${c.math("sqrt", `vs / ${c.cast("f32", "n")} + ${c.arg("eps")}`)}`),
    c.let("hasb", "bool", `${c.arg("b_set")} != 0`),
    ...c.for("k", c.tid, "n", [
      c.let("yv", "f32", `((${c.keep(`${c.ld("x", "base + k")} - mh`)} - ml) * inv) * ${c.ld("w", "k")}`),
      c.st("y", "base + k", c.select("hasb", `yv + ${c.ld("b", "k")}`, "yv")),
    ], c.i(W)),
  ],
};

/** One thread per rotated pair (row, head, j): (a, b) → (a·c − b·s, b·c + a·s). */
export const rope: Program = {
  name: "rope",
  kernel: "rope",
  threads: W,
  writes: ["x"],
  grid: (a) => blocks((a("rows") * a("heads") * a("rope_dim")) / 2, W),
  body: (c) => [
    c.let("half", "i32", `${c.arg("rope_dim")} / 2`),
    c.let("i", "i32", `${c.group} * ${W} + ${c.tid}`),
    ...c.if(`i >= ${c.arg("rows")} * ${c.arg("heads")} * half`, ["return;"]),
    c.let("rh", "i32", "i / half"),
    c.let("j", "i32", "i - rh * half"),
    c.let("r", "i32", `rh / ${c.arg("heads")}`),
    c.let("base", "i32", `rh * ${c.arg("head_dim")}`),
    c.let("inter", "bool", `${c.arg("interleaved")} != 0`),
    c.let("i0", "i32", `base + ${c.select("inter", "2 * j", "j")}`),
    c.let("i1", "i32", `base + ${c.select("inter", "2 * j + 1", "j + half")}`),
    c.let("a", "f32", c.ld("x", "i0")),
    c.let("b", "f32", c.ld("x", "i1")),
    c.let("co", "f32", c.ld("cos", "r * half + j")),
    c.let("si", "f32", c.ld("sin", "r * half + j")),
    c.let("ac", "f32", "a * co"),
    c.let("bs", "f32", "b * si"),
    c.let("bc", "f32", "b * co"),
    c.let("as_", "f32", "a * si"),
    c.st("x", "i0", "ac - bs"),
    c.st("x", "i1", "bc + as_"),
  ],
};
