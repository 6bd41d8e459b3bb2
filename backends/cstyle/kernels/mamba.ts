// Jamba's Mamba-1 mixer kernels (`causal_conv1d` and `mamba_scan`; runtime/math/mamba.ts is the definition) for
// every C-style target. Channels are independent in both — the conv is depthwise and Mamba-1's state is
// [channels, state_dim] with a decay per (channel, n) — so one workgroup runs a sequence's tokens, a thread per
// channel (strided), each walking the tokens in order with no barrier: its conv window, or its state row, is its
// own. Sums the definition takes in f64 are compensated (Kahan); every stored value is rounded to f32 where the
// definition rounds, with `keep` so no product fuses into an add.
import { spanned, type Dialect, type Program } from "../dialect.js";
import { EXP, LOG1P } from "../math.js";
import { kahan, total, zeroed } from "./mamba2.js";

const W = 256;
const strided = (c: Dialect, i: string, n: string, body: string[]) => c.for(i, c.tid, n, body, c.i(W));

export const causalConv1d: Program = {
  name: "causal_conv1d",
  kernel: "causal_conv1d",
  threads: W,
  writes: ["conv_state", "y"],
  helpers: [EXP],
  ...spanned([], 1),
  body: (c) => {
    // input row tt of channel ch into v: x for tt ≥ 0, the carried conv state (oldest first) before
    const input = (tt: string) => [
      c.var("v", "f32", c.f(0)),
      ...c.if(`${tt} >= 0`, [`v = ${c.ld("x", `(${tt}) * C + ch`)};`], [`v = ${c.ld("conv_state", `(KC - 1 + ${tt}) * C + ch`)};`]),
    ];
    return [
      c.let("C", "i32", c.arg("channels")),
      c.let("KC", "i32", c.arg("kernel")),
      c.let("T", "i32", c.arg("T")),
      c.let("hasb", "bool", `${c.arg("conv_b_set")} != 0`),
      ...strided(c, "ch", "C", [
        ...c.if(`${c.arg("fresh")} != 0`, c.for("r", c.i(0), "KC - 1", [c.st("conv_state", "r * C + ch", c.f(0))])),
        ...c.for("tk", c.i(0), "T", [
          ...zeroed(c, "cv"),
          ...c.for("j", c.i(0), "KC", [...input("tk - KC + 1 + j"), ...kahan(c, "cv", c.keep(`${c.ld("conv_w", "ch * KC + j")} * v`))]),
          c.var("o", "f32", total("cv")),
          ...c.if("hasb", [`o = ${c.keep(`${total("cv")} + ${c.ld("conv_b", "ch")}`)};`]),
          c.st("y", "tk * C + ch", `o / (${c.f(1)} + m_exp(-o))`),
        ]),
        // the last K−1 inputs become the window; row r reads row T + r ≥ r of the old window, not yet overwritten
        ...c.for("r", c.i(0), "KC - 1", [...input("T - (KC - 1) + r"), c.st("conv_state", "r * C + ch", "v")]),
      ]),
    ];
  },
};

export const mambaScan: Program = {
  name: "mamba_scan",
  kernel: "mamba_scan",
  threads: W,
  writes: ["state", "y"],
  helpers: [EXP, LOG1P],
  ...spanned([], 1),
  body: (c) => [
    c.let("C", "i32", c.arg("channels")),
    c.let("N", "i32", c.arg("state_dim")),
    c.let("T", "i32", c.arg("T")),
    ...strided(c, "ch", "C", [
      ...c.if(`${c.arg("fresh")} != 0`, c.for("n", c.i(0), "N", [c.st("state", "ch * N + n", c.f(0))])),
      c.let("dsk", "f32", c.ld("d", "ch")),
      ...c.for("tk", c.i(0), "T", [
        c.let("sp", "f32", c.ld("dt", "tk * C + ch")),
        c.let("delta", "f32", c.select(`sp > ${c.f(20)}`, "sp", "m_log1p(m_exp(sp))")),
        c.let("xv", "f32", c.ld("x", "tk * C + ch")),
        ...zeroed(c, "acc"),
        ...c.for("n", c.i(0), "N", [
          c.let("decay", "f32", `m_exp(${c.keep(`-m_exp(${c.ld("a_log", "ch * N + n")}) * delta`)})`),
          c.let("s", "f32", c.keep(`${c.keep(`decay * ${c.ld("state", "ch * N + n")}`)} + ${c.keep(`${c.keep(`delta * ${c.ld("b", "tk * N + n")}`)} * xv`)}`)),
          c.st("state", "ch * N + n", "s"),
          ...kahan(c, "acc", c.keep(`s * ${c.ld("c", "tk * N + n")}`)),
        ]),
        c.let("zv", "f32", c.ld("z", "tk * C + ch")),
        c.st("y", "tk * C + ch", `${c.keep(`${c.keep(total("acc"))} + ${c.keep("xv * dsk")}`)} * ${c.keep(`zv / (${c.f(1)} + m_exp(-zv))`)}`),
      ]),
    ]),
  ],
};
