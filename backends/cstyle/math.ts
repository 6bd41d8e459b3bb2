// f32 transcendental helpers, written once for every C-style target. They repeat the WASM
// kernels' vector math (backends/wasm/kernels/math.ts) operation for operation: exp by range
// reduction x = k·ln2 + r with Cephes expf's degree-6 polynomial and 2^k built in the exponent
// bits (argument clamped to [−87.34, 88], so never inf), tanh from a small-argument odd
// polynomial and 1 − 2/(e^{2|x|} + 1), erfc from the Numerical Recipes Chebyshev fit. GPU
// builtins (exp, tanh) are not used: their accuracy is implementation-defined (WGSL allows
// 3 + 2|x| ulp for exp), and these give the same numbers on every device.
import type { Dialect, Helper } from "./dialect.js";

const EXP_P = [1.987569150e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
const TANH_P = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
const ERFC_P = [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223];

function horner(c: Dialect, x: string, coeffs: readonly number[]): string {
  let acc = c.f(coeffs[0]!);
  for (let i = 1; i < coeffs.length; i++) acc = `(${acc} * ${x} + ${c.f(coeffs[i]!)})`;
  return acc;
}

export const EXP: Helper = {
  name: "m_exp",
  print: (c) =>
    c.fn("m_exp", [["x0", "f32"]], "f32", [
      c.let("x", "f32", c.math("min", c.math("max", "x0", c.f(-87.33654)), c.f(88.0))),
      c.let("k", "f32", c.math("round", `x * ${c.f(1.4426950408889634)}`)),
      c.let("r", "f32", `(x - k * ${c.f(0.693359375)}) - k * ${c.f(-2.1219444e-4)}`),
      c.let("s", "f32", c.bits("f32", `(${c.cast("i32", "k")} + 127) << ${c.u(23)}`)),
      `return ((${horner(c, "r", EXP_P)} * (r * r) + r) + ${c.f(1)}) * s;`,
    ]),
};

export const SIGMOID: Helper = {
  name: "m_sigmoid",
  uses: [EXP],
  print: (c) => c.fn("m_sigmoid", [["x", "f32"]], "f32", [`return ${c.f(1)} / (${c.f(1)} + m_exp(-x));`]),
};

export const SILU: Helper = {
  name: "m_silu",
  uses: [EXP],
  print: (c) => c.fn("m_silu", [["x", "f32"]], "f32", [`return x / (${c.f(1)} + m_exp(-x));`]),
};

export const TANH: Helper = {
  name: "m_tanh",
  uses: [EXP],
  print: (c) =>
    c.fn("m_tanh", [["x", "f32"]], "f32", [
      c.let("a", "f32", c.math("abs", "x")),
      c.let("z", "f32", "x * x"),
      ...c.if(`a < ${c.f(0.625)}`, [`return x + (x * z) * ${horner(c, "z", TANH_P)};`]),
      c.let("big", "f32", `${c.f(1)} - ${c.f(2)} / (m_exp(a + a) + ${c.f(1)})`),
      `return ${c.select(`x < ${c.f(0)}`, "-big", "big")};`,
    ]),
};

/** GELU with the exact erf, through erfc so neither tail cancels. */
export const GELU: Helper = {
  name: "m_gelu",
  uses: [EXP],
  print: (c) =>
    c.fn("m_gelu", [["x", "f32"]], "f32", [
      c.let("z", "f32", `${c.math("abs", "x")} * ${c.f(Math.SQRT1_2)}`),
      c.let("t", "f32", `${c.f(1)} / (${c.f(1)} + z * ${c.f(0.5)})`),
      c.let("h", "f32", `(t * m_exp(${horner(c, "t", ERFC_P)} - z * z)) * ${c.f(0.5)}`),
      `return x * ${c.select(`x >= ${c.f(0)}`, `${c.f(1)} - h`, "h")};`,
    ]),
};

/** GELU, tanh approximation, as x·sigmoid(2u). */
export const GELU_TANH: Helper = {
  name: "m_gelu_tanh",
  uses: [EXP],
  print: (c) =>
    c.fn("m_gelu_tanh", [["x", "f32"]], "f32", [
      c.let("u", "f32", `${c.f(Math.sqrt(2 / Math.PI))} * (x + ${c.f(0.044715)} * (x * (x * x)))`),
      `return x / (${c.f(1)} + m_exp(u * ${c.f(-2)}));`,
    ]),
};

/**
 * IEEE binary16 bits (the low 16 bits of a u32) to f32, exactly, subnormals included, by bit
 * arithmetic rather than a builtin (WGSL's unpack2x16float may flush f16 subnormals).
 */
export const HALF: Helper = {
  name: "m_half",
  print: (c) =>
    c.fn("m_half", [["h", "u32"]], "f32", [
      c.let("sign", "u32", `(h & ${c.u(0x8000)}) << ${c.u(16)}`),
      c.let("e", "u32", `(h >> ${c.u(10)}) & ${c.u(31)}`),
      c.let("m", "u32", `h & ${c.u(0x3ff)}`),
      ...c.if(`e == ${c.u(0)}`, [c.let("v", "f32", c.ldexp(c.cast("f32", "m"), c.i(-24))), `return ${c.select(`sign != ${c.u(0)}`, "-v", "v")};`]),
      ...c.if(`e == ${c.u(31)}`, [`return ${c.bits("f32", `sign | ${c.u(0x7f800000)} | (m << ${c.u(13)})`)};`]),
      `return ${c.bits("f32", `sign | ((e + ${c.u(112)}) << ${c.u(23)}) | (m << ${c.u(13)})`)};`,
    ]),
};

const LOG_P = [7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1];

/**
 * log(1 + v) for v ≥ 0 (softplus): Cephes logf on u = 1 + v (mantissa in [√½, √2), a degree-8
 * polynomial), times v / (u − 1), which cancels the rounding of 1 + v (Goldberg's trick).
 */
export const LOG1P: Helper = {
  name: "m_log1p",
  print: (c) =>
    c.fn("m_log1p", [["v", "f32"]], "f32", [
      c.let("u", "f32", c.keep(`${c.f(1)} + v`)),
      ...c.if(`u == ${c.f(1)}`, ["return v;"]),
      c.let("ub", "u32", c.bits("u32", "u")),
      c.var("e", "i32", `${c.cast("i32", `(ub >> ${c.u(23)}) & ${c.u(255)}`)} - ${c.i(126)}`),
      c.var("x", "f32", c.bits("f32", `(ub & ${c.u(0x7fffff)}) | ${c.u(0x3f000000)}`)),
      ...c.if(`x < ${c.f(Math.SQRT1_2)}`, ["e = e - 1;", `x = x + x - ${c.f(1)};`], [`x = x - ${c.f(1)};`]),
      c.let("z", "f32", "x * x"),
      c.let("fe", "f32", c.cast("f32", "e")),
      c.var("y", "f32", `${horner(c, "x", LOG_P)} * x * z`),
      `y = y + ${c.f(-2.12194440e-4)} * fe;`,
      `y = y - ${c.f(0.5)} * z;`,
      c.let("l", "f32", `(x + y) + ${c.f(0.693359375)} * fe`),
      `return l * (v / ${c.keep(`u - ${c.f(1)}`)});`,
    ]),
};
