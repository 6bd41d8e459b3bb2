// Scalar f64 exp for the routing kernel, which must compute router scores exactly as
// runtime/moe/routing.ts does in JavaScript. This is fdlibm's __ieee754_exp (the algorithm
// V8's Math.exp runs) transcribed operation for operation: range reduction x = k·ln2 + r with
// ln2 split hi/lo (k·ln2hi exact), a degree-5 minimax rational in r² (error < 1 ulp), and
// 2^k built in the exponent bits. Same operations in the same IEEE order give the same bits,
// so routing here and in JavaScript agrees to the last bit. exp(NaN) = NaN, exp(−∞) = 0,
// exp(+∞) = +∞; x > 709.78 overflows to +∞, x < −745.13 underflows to 0, subnormal results
// are scaled in two steps as fdlibm does.
import type { Expr, KernelModule, Local } from "../module.js";

/** The module-internal function name (not exported by the kernel library). */
export const EXP_F64 = "exp_f64";

const LN2_HI = 6.9314718036912381649e-1; // 0x3fe62e42 fee00000: 32 bits, so k·LN2_HI is exact
const LN2_LO = 1.90821492927058770002e-10; // 0x3dea39ef 35793c76
const INV_LN2 = 1.442695040888963387;
const P = [1.66666666666666019037e-1, -2.77777777770155933842e-3, 6.61375632143793436117e-5, -1.65339022054652515390e-6, 4.13813679705723846039e-8];
const O_THRESHOLD = 7.09782712893383973096e2; // above: exp overflows
const U_THRESHOLD = -7.45133219101941108420e2; // below: exp underflows to 0
const TWO_M1000 = 2 ** -1000;

const withExp = new WeakSet<KernelModule>();

/** Adds `exp_f64(x: f64) -> f64` to the module (exported under `exportName` when given, for tests). */
export function addExpF64(m: KernelModule, exportName?: string): void {
  if (withExp.has(m)) return; // several kernels call it; it is added once
  withExp.add(m);
  const fb = m.func(EXP_F64, [["x", "f64"]], "f64");
  const [x] = fb.params as [Local];
  const I = m.i32;
  const D = m.f64;
  const L = m.i64;
  const hx = fb.local("i32"); // high word of |x|
  const xsb = fb.local("i32"); // sign bit
  const k = fb.local("i32");
  const hi = fb.local("f64");
  const lo = fb.local("f64");
  const r = fb.local("f64");
  const t = fb.local("f64");
  const c = fb.local("f64");
  const y = fb.local("f64");
  const twopk = fb.local("f64");
  const bits = () => L.reinterpret_f64(x.get());
  const sel = (a: number, b: number) => m.select(xsb.get(), D.const(b), D.const(a)); // a for x ≥ 0, b for x < 0
  // 2^n for −1022 ≤ n ≤ 1023: the biased exponent in the high word.
  const pow2 = (n: Expr) => D.reinterpret_i64(L.shl(L.extend_u_i32(I.add(I.const(0x3ff00000), I.shl(n, I.const(20)))), L.const(32)));
  let poly = D.const(P[4]!);
  for (let i = 3; i >= 0; i--) poly = D.add(D.const(P[i]!), D.mul(t.get(), poly));
  fb.finish(
    [
      hx.set(I.wrap_i64(L.shr_u(bits(), L.const(32)))),
      xsb.set(I.shr_u(hx.get(), I.const(31))),
      hx.set(I.and(hx.get(), I.const(0x7fffffff))),
      // |x| ≥ 709.78: non-finite, overflow or underflow.
      m.if(I.ge_u(hx.get(), I.const(0x40862e42)), [
        m.if(I.ge_u(hx.get(), I.const(0x7ff00000)), [
          m.if(I.or(I.and(hx.get(), I.const(0xfffff)), I.wrap_i64(bits())), m.return(D.add(x.get(), x.get()))), // NaN
          m.return(m.select(xsb.get(), D.const(0), x.get())), // exp(±∞) = {+∞, 0}
        ]),
        m.if(D.gt(x.get(), D.const(O_THRESHOLD)), m.return(D.const(Infinity))),
        m.if(D.lt(x.get(), D.const(U_THRESHOLD)), m.return(D.const(0))),
      ]),
      // Argument reduction: r = x − k·ln2 as hi − lo.
      m.if(
        I.gt_u(hx.get(), I.const(0x3fd62e42)), // |x| > ln2/2
        [
          m.if(
            I.lt_u(hx.get(), I.const(0x3ff0a2b2)), // and |x| < 1.5·ln2: k = ±1
            [hi.set(D.sub(x.get(), sel(LN2_HI, -LN2_HI))), lo.set(sel(LN2_LO, -LN2_LO)), k.set(I.sub(I.const(1), I.add(xsb.get(), xsb.get())))],
            [
              k.set(I.trunc_sat_f64_s(D.add(D.mul(D.const(INV_LN2), x.get()), sel(0.5, -0.5)))),
              hi.set(D.sub(x.get(), D.mul(D.convert_i32_s(k.get()), D.const(LN2_HI)))),
              lo.set(D.mul(D.convert_i32_s(k.get()), D.const(LN2_LO))),
            ],
          ),
          r.set(D.sub(hi.get(), lo.get())),
        ],
        [
          // |x| < 2^-28: 1 + x is exact to rounding.
          m.if(I.lt_u(hx.get(), I.const(0x3e300000)), m.return(D.add(D.const(1), x.get()))),
          k.set(I.const(0)),
          r.set(x.get()),
        ],
      ),
      t.set(D.mul(r.get(), r.get())),
      twopk.set(pow2(m.select(I.ge_s(k.get(), I.const(-1021)), k.get(), I.add(k.get(), I.const(1000))))),
      c.set(D.sub(r.get(), D.mul(t.get(), poly))),
      m.if(I.eqz(k.get()), m.return(D.sub(D.const(1), D.sub(D.div(D.mul(r.get(), c.get()), D.sub(c.get(), D.const(2))), r.get())))),
      y.set(D.sub(D.const(1), D.sub(D.sub(lo.get(), D.div(D.mul(r.get(), c.get()), D.sub(D.const(2), c.get()))), hi.get()))),
      m.if(I.lt_s(k.get(), I.const(-1021)), m.return(D.mul(D.mul(y.get(), twopk.get()), D.const(TWO_M1000)))),
      m.if(I.eq(k.get(), I.const(1024)), m.return(D.mul(D.mul(y.get(), D.const(2)), D.const(2 ** 1023)))),
      D.mul(y.get(), twopk.get()),
    ],
    exportName,
  );
}
