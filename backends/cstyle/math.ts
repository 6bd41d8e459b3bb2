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
