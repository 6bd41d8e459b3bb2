// Qwen3-Next's gated delta rule (`gated_delta_rule`, runtime/math/deltanet.ts is the
// definition) for every C-style target. One workgroup walks the tokens in order, since each
// token's state depends on the last; inside a token, the work is split three ways with a
// barrier between: the causal conv1d + SiLU (a thread per channel), the L2 norms of q and k
// (a thread per key head and side), and the state update (a thread per (value head, column j):
// column j of head v's state [dk, dv] depends on nothing else). Sums are compensated (Kahan)
// where the definition sums in f64; every stored value is rounded to f32 as there. `scratch`
// holds one token's conv output c [C], then q̂ [Hk·dk] and k̂ [Hk·dk]. Prefill of long prompts is
// sequential in the tokens, which is what the recurrence asks; a chunked form is future work.
import type { Dialect, Program } from "../dialect.js";
import { EXP, LOG1P } from "../math.js";

const W = 256;

/** `acc += v`, compensated (acc, acc_lo); `acc + acc_lo` is the sum. */
function kahan(c: Dialect, acc: string, v: string): string[] {
  return [
    c.let(`${acc}_y`, "f32", c.keep(`${v} - ${acc}_lo`)),
    c.let(`${acc}_t`, "f32", c.keep(`${acc} + ${acc}_y`)),
    `${acc}_lo = ${c.keep(`${c.keep(`${acc}_t - ${acc}`)} - ${acc}_y`)};`,
    `${acc} = ${acc}_t;`,
  ];
}
const zeroed = (c: Dialect, acc: string) => [c.var(acc, "f32", c.f(0)), c.var(`${acc}_lo`, "f32", c.f(0))];
const total = (acc: string) => `(${acc} - ${acc}_lo)`;

export const gatedDeltaRule: Program = {
  name: "gated_delta_rule",
  kernel: "gated_delta_rule",
  threads: W,
  writes: ["conv_state", "state", "y", "scratch"],
  helpers: [EXP, LOG1P],
  grid: () => 1,
  shared: (c) => [
    // input row tt of channel ch: x for tt ≥ 0, the carried conv state (oldest first) before
    c.fn("dn_input", [["tt", "i32"], ["ch", "i32"]], "f32", [
      c.let("C", "i32", `2 * ${c.arg("k_heads")} * ${c.arg("k_dim")} + ${c.arg("v_heads")} * ${c.arg("v_dim")}`),
      ...c.if("tt >= 0", [`return ${c.ld("x", "tt * C + ch")};`]),
      `return ${c.ld("conv_state", `(${c.arg("kernel")} - 1 + tt) * C + ch`)};`,
    ]),
  ],
  body: (c) => {
    const t = c.tid;
    const strided = (i: string, n: string, body: string[]) => c.for(i, t, n, body, c.i(W));
    return [
      c.let("Hk", "i32", c.arg("k_heads")),
      c.let("Hv", "i32", c.arg("v_heads")),
      c.let("dk", "i32", c.arg("k_dim")),
      c.let("dv", "i32", c.arg("v_dim")),
      c.let("KC", "i32", c.arg("kernel")),
      c.let("Kd", "i32", "Hk * dk"),
      c.let("C", "i32", "2 * Kd + Hv * dv"),
      c.let("T", "i32", c.arg("T")),
      ...c.if(`${c.arg("fresh")} != 0`, [
        ...strided("i", "(KC - 1) * C", [c.st("conv_state", "i", c.f(0))]),
        ...strided("i", "Hv * dk * dv", [c.st("state", "i", c.f(0))]),
      ]),
      c.barrier(),
      ...c.for("tk", c.i(0), "T", [
        // conv1d over the last KC inputs, then SiLU
        ...strided("ch", "C", [
          ...zeroed(c, "cv"),
          ...c.for("j", c.i(0), "KC", kahan(c, "cv", c.keep(`${c.ld("conv_w", "ch * KC + j")} * dn_input(tk - KC + 1 + j, ch)`))),
          c.let("v", "f32", total("cv")),
          c.st("scratch", "ch", `v / (${c.f(1)} + m_exp(-v))`),
        ]),
        c.barrier(),
        // q̂ = q/‖q‖/√dk and k̂ = k/‖k‖ per key head (eps 1e-6 inside the root)
        ...strided("qh", "2 * Hk", [
          c.let("isq", "bool", "qh < Hk"),
          c.let("h", "i32", c.select("isq", "qh", "qh - Hk")),
          c.let("src", "i32", `${c.select("isq", c.i(0), "Kd")} + h * dk`),
          c.let("dst", "i32", `C + ${c.select("isq", c.i(0), "Kd")} + h * dk`),
          ...zeroed(c, "ss"),
          ...c.for("i", c.i(0), "dk", [c.let("e", "f32", c.ld("scratch", "src + i")), ...kahan(c, "ss", c.keep("e * e"))]),
          c.let("inv", "f32", `${c.f(1)} / ${c.math("sqrt", `${total("ss")} + ${c.f(1e-6)}`)}`),
          c.let("qs", "f32", `${c.f(1)} / ${c.math("sqrt", c.cast("f32", "dk"))}`),
          ...c.for("i", c.i(0), "dk", [
            c.let("e", "f32", c.keep(`${c.ld("scratch", "src + i")} * inv`)),
            c.st("scratch", "dst + i", c.select("isq", c.keep("e * qs"), "e")),
          ]),
        ]),
        c.barrier(),
        // per (value head v, state column j): decay, delta update, output
        ...strided("p", "Hv * dv", [
          c.let("v", "i32", "p / dv"),
          c.let("j", "i32", "p - v * dv"),
          c.let("h", "i32", "v / (Hv / Hk)"),
          c.let("sp", "f32", c.keep(`${c.ld("a", "tk * Hv + v")} + ${c.ld("dt_bias", "v")}`)),
          c.let("soft", "f32", c.select(`sp > ${c.f(20)}`, "sp", "m_log1p(m_exp(sp))")),
          c.let("decay", "f32", `m_exp(-${c.keep(`m_exp(${c.ld("a_log", "v")}) * soft`)})`),
          c.let("beta", "f32", `${c.f(1)} / (${c.f(1)} + m_exp(-${c.ld("b", "tk * Hv + v")}))`),
          c.let("S", "i32", "v * dk * dv + j"),
          c.let("qo", "i32", "C + h * dk"),
          c.let("ko", "i32", "C + Kd + h * dk"),
          ...zeroed(c, "m"),
          ...c.for("i", c.i(0), "dk", [
            c.let("s", "f32", c.keep(`${c.ld("state", "S + i * dv")} * decay`)),
            c.st("state", "S + i * dv", "s"),
            ...kahan(c, "m", c.keep(`s * ${c.ld("scratch", "ko + i")}`)),
          ]),
          c.let("u", "f32", c.keep(`${c.keep(`${c.ld("scratch", "2 * Kd + v * dv + j")} - ${total("m")}`)} * beta`)),
          ...zeroed(c, "o"),
          ...c.for("i", c.i(0), "dk", [
            c.let("s", "f32", c.keep(`${c.ld("state", "S + i * dv")} + ${c.keep(`${c.ld("scratch", "ko + i")} * u`)}`)),
            c.st("state", "S + i * dv", "s"),
            ...kahan(c, "o", c.keep(`s * ${c.ld("scratch", "qo + i")}`)),
          ]),
          c.st("y", "tk * Hv * dv + p", total("o")),
        ]),
        c.barrier(),
      ]),
      // the last KC − 1 inputs become the conv state; rows ascend, and row r reads row r + T (or x)
      ...strided("ch", "C", [...c.for("r", c.i(0), "KC - 1", [c.st("conv_state", "r * C + ch", "dn_input(T - (KC - 1) + r, ch)")])]),
    ];
  },
};
