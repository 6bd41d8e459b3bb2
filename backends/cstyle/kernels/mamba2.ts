// Nemotron-H's Mamba-2 selective scan (`mamba2_scan`; runtime/math/mamba2.ts is the definition)
// for every C-style target, in the shape of the gated delta rule (deltanet.ts): one workgroup
// walks the tokens in order; inside a token, barriers separate the causal conv1d + SiLU (a thread
// per channel, into `scratch`), the scan (a thread per (head, p): row p of head h's state
// [P, N] depends on nothing else) and the gated RMSNorm (a thread per group of heads·head_dim /
// groups values). Sums the definition takes in f64 are compensated (Kahan); every stored value is
// rounded to f32 where the definition rounds, with `keep` so no product fuses into an add.
import { spanned, type Dialect, type Program } from "../dialect.js";
import { EXP, LOG1P } from "../math.js";

const W = 256;

/** `acc += v`, compensated (acc, acc_lo); `acc − acc_lo` is the sum (mamba.ts shares it). */
export function kahan(c: Dialect, acc: string, v: string): string[] {
  return [
    c.let(`${acc}_y`, "f32", c.keep(`${v} - ${acc}_lo`)),
    c.let(`${acc}_t`, "f32", c.keep(`${acc} + ${acc}_y`)),
    `${acc}_lo = ${c.keep(`${c.keep(`${acc}_t - ${acc}`)} - ${acc}_y`)};`,
    `${acc} = ${acc}_t;`,
  ];
}
export const zeroed = (c: Dialect, acc: string) => [c.var(acc, "f32", c.f(0)), c.var(`${acc}_lo`, "f32", c.f(0))];
export const total = (acc: string) => `(${acc} - ${acc}_lo)`;

export const mamba2Scan: Program = {
  name: "mamba2_scan",
  kernel: "mamba2_scan",
  threads: W,
  writes: ["conv_state", "state", "y", "scratch"],
  helpers: [EXP, LOG1P],
  ...spanned([], 1),
  shared: (c) => [
    // input row tt of channel ch: xbc for tt ≥ 0, the carried conv state (oldest first) before
    c.fn("mb_input", [["tt", "i32"], ["ch", "i32"]], "f32", [
      c.let("C", "i32", `${c.arg("heads")} * ${c.arg("head_dim")} + 2 * ${c.arg("groups")} * ${c.arg("state_dim")}`),
      ...c.if("tt >= 0", [`return ${c.ld("xbc", "tt * C + ch")};`]),
      `return ${c.ld("conv_state", `(${c.arg("kernel")} - 1 + tt) * C + ch`)};`,
    ]),
  ],
  body: (c) => {
    const strided = (i: string, n: string, body: string[]) => c.for(i, c.tid, n, body, c.i(W));
    return [
      c.let("H", "i32", c.arg("heads")),
      c.let("HD", "i32", c.arg("head_dim")), // not P: the WGSL table names its uniform block P
      c.let("N", "i32", c.arg("state_dim")),
      c.let("G", "i32", c.arg("groups")),
      c.let("KC", "i32", c.arg("kernel")),
      c.let("XP", "i32", "H * HD"),
      c.let("C", "i32", "XP + 2 * G * N"),
      c.let("T", "i32", c.arg("T")),
      c.let("hasb", "bool", `${c.arg("conv_b_set")} != 0`),
      ...c.if(`${c.arg("fresh")} != 0`, [
        ...strided("i", "(KC - 1) * C", [c.st("conv_state", "i", c.f(0))]),
        ...strided("i", "H * HD * N", [c.st("state", "i", c.f(0))]),
      ]),
      c.barrier(),
      ...c.for("tk", c.i(0), "T", [
        ...strided("ch", "C", [
          ...zeroed(c, "cv"),
          ...c.for("j", c.i(0), "KC", kahan(c, "cv", c.keep(`${c.ld("conv_w", "ch * KC + j")} * mb_input(tk - KC + 1 + j, ch)`))),
          c.var("v", "f32", total("cv")),
          ...c.if("hasb", [`v = ${c.keep(`${total("cv")} + ${c.ld("conv_b", "ch")}`)};`]),
          c.st("scratch", "ch", `v / (${c.f(1)} + m_exp(-v))`),
        ]),
        c.barrier(),
        ...strided("hp", "XP", [
          c.let("h", "i32", "hp / HD"),
          c.let("g", "i32", "h / (H / G)"),
          c.let("bo", "i32", "XP + g * N"),
          c.let("co", "i32", "XP + G * N + g * N"),
          c.let("sp", "f32", c.keep(`${c.ld("dt", "tk * H + h")} + ${c.ld("dt_bias", "h")}`)),
          c.let("delta", "f32", c.math("max", c.select(`sp > ${c.f(20)}`, "sp", "m_log1p(m_exp(sp))"), c.arg("dt_min"))),
          c.let("decay", "f32", `m_exp(${c.keep(`delta * -m_exp(${c.ld("a_log", "h")})`)})`),
          c.let("x", "f32", c.ld("scratch", "hp")),
          c.let("S", "i32", "hp * N"),
          ...zeroed(c, "acc"),
          ...c.for("n", c.i(0), "N", [
            c.let("s", "f32", c.keep(`${c.keep(`${c.ld("state", "S + n")} * decay`)} + ${c.keep(`${c.keep(`delta * ${c.ld("scratch", "bo + n")}`)} * x`)}`)),
            c.st("state", "S + n", "s"),
            ...kahan(c, "acc", c.keep(`s * ${c.ld("scratch", "co + n")}`)),
          ]),
          c.st("y", "tk * XP + hp", `${c.keep(total("acc"))} + ${c.keep(`x * ${c.ld("d", "h")}`)}`),
        ]),
        c.barrier(),
        // gated RMSNorm per group of XP / G values: g = y·silu(z), then normW · f32(g·inv)
        ...strided("gi", "G", [
          c.let("size", "i32", "XP / G"),
          c.let("base", "i32", "tk * XP + gi * size"),
          ...zeroed(c, "ss"),
          ...c.for("k", c.i(0), "size", [
            c.let("zv", "f32", c.ld("z", "base + k")),
            c.let("gv", "f32", c.keep(`${c.ld("y", "base + k")} * ${c.keep(`zv / (${c.f(1)} + m_exp(-zv))`)}`)),
            c.st("y", "base + k", "gv"),
            ...kahan(c, "ss", c.keep("gv * gv")),
          ]),
          c.let("inv", "f32", `${c.f(1)} / ${c.math("sqrt", `${total("ss")} / ${c.cast("f32", "size")} + ${c.arg("eps")}`)}`),
          ...c.for("k", c.i(0), "size", [c.st("y", "base + k", `${c.ld("norm_w", "gi * size + k")} * ${c.keep(`${c.ld("y", "base + k")} * inv`)}`)]),
        ]),
        c.barrier(),
      ]),
      ...strided("ch", "C", [...c.for("r", c.i(0), "KC - 1", [c.st("conv_state", "r * C + ch", "mb_input(T - (KC - 1) + r, ch)")])]),
    ];
  },
};
