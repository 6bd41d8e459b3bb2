// The CUDA table of the C-style base (backends/cuda/dialect.ts): `keep` must put the rounding
// intrinsic on the operation C evaluates last (C's precedence and left associativity, unary
// minus and exponent literals not mistaken for operators), and f32 literals must read back as
// the same f32. A hand-written answer for each expression; the literals over random f32 bits
// (fresh seed, printed) against Math.fround of the printed decimal.
import { describe, expect, it } from "vitest";
import { CUDA, keepRounded } from "../../../backends/cuda/dialect.js";
import { namedRandom, runSeed } from "../../helpers/seed.js";

const seed = runSeed("cuda dialect");

describe("CUDA table", () => {
  it.each([
    ["a + b", "__fadd_rn(a, b)"],
    ["sum - a", "__fsub_rn(sum, a)"],
    ["(acc - acc_lo)", "__fsub_rn(acc, acc_lo)"],
    ["((a * b))", "__fmul_rn(a, b)"],
    ["delta * -m_exp(p_a_log[h])", "__fmul_rn(delta, -m_exp(p_a_log[h]))"],
    ["p_x[base + k] * inv", "__fmul_rn(p_x[base + k], inv)"],
    ["v - 9.999999974752427e-7f", "__fsub_rn(v, 9.999999974752427e-7f)"],
    ["2.5e-5f * x", "__fmul_rn(2.5e-5f, x)"],
    ["a + -1e+5f", "__fadd_rn(a, -1e+5f)"],
    ["a - b + c", "__fadd_rn(a - b, c)"],
    ["a * b - c * d", "__fsub_rn(a * b, c * d)"],
    ["a / b * c", "__fmul_rn(a / b, c)"],
    ["zv / (1.0f + m_exp(-zv))", "__fdiv_rn(zv, (1.0f + m_exp(-zv)))"],
    ["__fmul_rn(a, b) - acc_lo", "__fsub_rn(__fmul_rn(a, b), acc_lo)"],
    ["((float)(p_pos[r])) * p_table[t + j]", "__fmul_rn(((float)(p_pos[r])), p_table[t + j])"],
    ["(a + b) * (c - d)", "__fmul_rn((a + b), (c - d))"],
    ["x", "x"],
    ["-x", "-x"],
    ["m_exp(a + b)", "m_exp(a + b)"],
  ])("keep(%s) = %s", (e, want) => {
    expect(keepRounded(e)).toBe(want);
  });

  it("prints f32 literals that read back as the same f32", () => {
    const r = namedRandom(seed, "literals");
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    for (let n = 0; n < 20000; n++) {
      bits[0] = Math.floor(r() * 2 ** 32);
      if (!Number.isFinite(f[0]!)) continue;
      const text = CUDA.f(f[0]!);
      expect(text, `seed ${seed}`).toMatch(/^-?(\d+\.\d*|\d+(\.\d+)?e[+-]\d+)f$/);
      expect(Object.is(Math.fround(Number(text.slice(0, -1))), f[0]), `${text} for bits ${bits[0]!.toString(16)} (seed ${seed})`).toBe(true);
    }
    expect(CUDA.f(Infinity)).toBe("__uint_as_float(0x7f800000u)");
    expect(() => CUDA.f(NaN)).toThrow(/NaN/);
  });
});
