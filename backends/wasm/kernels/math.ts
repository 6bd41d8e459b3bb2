// Vector transcendental functions on f32x4, computed entirely in WASM (the module imports no
// JS math): exp by range reduction x = k·ln2 + r with a degree-6 minimax polynomial (Cephes
// expf, about 1 ulp) and 2^k built in the exponent bits; tanh from a small-argument odd
// polynomial and 1 − 2/(e^{2|x|} + 1) elsewhere (Cephes tanhf); erfc from the Numerical
// Recipes Chebyshev fit (fractional error < 1.2e-7). Large |x| saturates instead of
// overflowing: exp clamps its argument to [−87.34, 88] (so exp(x) is finite, never inf),
// which leaves sigmoid(±100), silu(−100) and tanh(±100) correct to far below 1e-7.
import type { Expr, FunctionBuilder, KernelModule, Local } from "../module.js";

const LOG2E = 1.4426950408889634;
const EXP_C1 = 0.693359375; // ln 2 split: C1 + C2 = ln 2, C1 has 9 bits so k·C1 is exact
const EXP_C2 = -2.12194440e-4;
const EXP_LO = -87.33654; // 2^-126, the smallest normal: the scale stays a normal float
const EXP_HI = 88.0; // k ≤ 127
const EXP_P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
const TANH_P = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
const ERFC_P = [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223];
const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * The vector math of one function. Each helper takes an f32x4 expression and returns one;
 * temporaries are locals of the function, one set per helper (helpers may nest: tanh and
 * gelu call exp, which has its own).
 */
export class VecMath {
  private readonly temps = new Map<string, Local>();
  constructor(
    private readonly m: KernelModule,
    private readonly fb: FunctionBuilder,
  ) {}

  private t(name: string): Local {
    let l = this.temps.get(name);
    if (!l) {
      l = this.fb.local("v128");
      this.temps.set(name, l);
    }
    return l;
  }

  private c(v: number): Expr {
    return this.m.f32x4.const(v);
  }

  /** Horner: ((p0·x + p1)·x + p2)… with `x` a local. */
  private horner(x: Local, coeffs: readonly number[]): Expr {
    const f = this.m.f32x4;
    let acc = this.c(coeffs[0]!);
    for (let i = 1; i < coeffs.length; i++) acc = f.add(f.mul(acc, x.get()), this.c(coeffs[i]!));
    return acc;
  }

  /** e^x, lane by lane. */
  exp(x: Expr): Expr {
    const { m } = this;
    const f = m.f32x4;
    const xx = this.t("exp.x");
    const k = this.t("exp.k");
    const r = this.t("exp.r");
    const scale = m.i32x4.shl(m.i32x4.add(m.i32x4.trunc_sat_f32x4_s(k.get()), m.i32x4.const(127)), 23);
    return m.valueBlock(
      [
        xx.set(f.min(f.max(x, this.c(EXP_LO)), this.c(EXP_HI))),
        k.set(f.nearest(f.mul(xx.get(), this.c(LOG2E)))),
        r.set(f.sub(f.sub(xx.get(), f.mul(k.get(), this.c(EXP_C1))), f.mul(k.get(), this.c(EXP_C2)))),
        // 1 + r + r²·P(r), then · 2^k
        f.mul(f.add(f.add(f.mul(this.horner(r, EXP_P), f.mul(r.get(), r.get())), r.get()), this.c(1)), scale),
      ],
      "v128",
    );
  }

  /** 1 / (1 + e^{-x}). */
  sigmoid(x: Expr): Expr {
    const f = this.m.f32x4;
    return f.div(this.c(1), f.add(this.c(1), this.exp(f.neg(x))));
  }

  /** x · sigmoid(x) = x / (1 + e^{-x}). */
  silu(x: Expr): Expr {
    const { m } = this;
    const f = m.f32x4;
    const xx = this.t("silu.x");
    return m.valueBlock([xx.set(x), f.div(xx.get(), f.add(this.c(1), this.exp(f.neg(xx.get()))))], "v128");
  }

  /** tanh x. */
  tanh(x: Expr): Expr {
    const { m } = this;
    const f = m.f32x4;
    const xx = this.t("tanh.x");
    const a = this.t("tanh.a");
    const z = this.t("tanh.z");
    const small = f.add(xx.get(), f.mul(f.mul(xx.get(), z.get()), this.horner(z, TANH_P)));
    // |x| ≥ 0.625: 1 − 2/(e^{2|x|} + 1), with the sign of x put back.
    const big = f.sub(this.c(1), f.div(this.c(2), f.add(this.exp(f.add(a.get(), a.get())), this.c(1))));
    const signed = m.v128.bitselect(xx.get(), big, m.i32x4.const(-0x80000000));
    return m.valueBlock([xx.set(x), a.set(f.abs(xx.get())), z.set(f.mul(xx.get(), xx.get())), m.v128.bitselect(small, signed, f.lt(a.get(), this.c(0.625)))], "v128");
  }

  /**
   * GELU with the exact erf: 0.5·x·(1 + erf(x/√2)), evaluated through erfc so neither tail
   * cancels: x·(1 − erfc(z)/2) for x ≥ 0 and x·erfc(z)/2 for x < 0, z = |x|/√2.
   */
  geluErf(x: Expr): Expr {
    const { m } = this;
    const f = m.f32x4;
    const xx = this.t("gelu.x");
    const z = this.t("gelu.z");
    const t = this.t("gelu.t");
    const h = this.t("gelu.h");
    // erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2)
    const erfc = f.mul(t.get(), this.exp(f.sub(this.horner(t, ERFC_P), f.mul(z.get(), z.get()))));
    return m.valueBlock(
      [
        xx.set(x),
        z.set(f.mul(f.abs(xx.get()), this.c(SQRT1_2))),
        t.set(f.div(this.c(1), f.add(this.c(1), f.mul(z.get(), this.c(0.5))))),
        h.set(f.mul(erfc, this.c(0.5))),
        f.mul(xx.get(), m.v128.bitselect(f.sub(this.c(1), h.get()), h.get(), f.ge(xx.get(), this.c(0)))),
      ],
      "v128",
    );
  }

  /**
   * GELU, tanh approximation: 0.5·x·(1 + tanh(u)), u = √(2/π)(x + 0.044715x³), evaluated as
   * x·sigmoid(2u) = x / (1 + e^{−2u}) (the same value without the cancellation for x < 0).
   */
  geluTanh(x: Expr): Expr {
    const { m } = this;
    const f = m.f32x4;
    const xx = this.t("gelut.x");
    const u = f.mul(this.c(SQRT_2_OVER_PI), f.add(xx.get(), f.mul(this.c(0.044715), f.mul(xx.get(), f.mul(xx.get(), xx.get())))));
    return m.valueBlock([xx.set(x), f.div(xx.get(), f.add(this.c(1), this.exp(f.mul(u, this.c(-2)))))], "v128");
  }

  relu(x: Expr): Expr {
    return this.m.f32x4.max(x, this.m.v128.zero());
  }
}
