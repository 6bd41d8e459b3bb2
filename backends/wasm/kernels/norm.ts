// RMSNorm and LayerNorm over rows. The reductions (Σx, Σx², Σ(x − mean)²) accumulate in
// f64x2 lanes, as the reference interpreter accumulates in float64; the normalisation itself
// runs in f32x4. In place (y == x) is allowed: each row is read fully before it is written.
import type { Expr, FunctionBuilder, KernelModule, Local } from "../module.js";

/**
 * Emits `acc += g(lanes)` over one row in f64: `g` maps an f64x2 of two inputs to the f64x2
 * to add (x, x², (x − mean)²…). Returns the code and an f64 expression for the total.
 */
function rowSum(m: KernelModule, fb: FunctionBuilder, row: Local, n: Local, g: (v: () => Expr) => Expr, gScalar: (v: () => Expr) => Expr): { code: Expr[]; total: () => Expr } {
  const I = m.i32;
  const off = fb.local("i32");
  const a0 = fb.local("v128");
  const a1 = fb.local("v128");
  const v = fb.local("v128");
  const p = fb.local("v128");
  const s = fb.local("f64");
  const ps = fb.local("f64");
  const d = m.f64x2;
  const code = [
    a0.set(m.v128.zero()),
    a1.set(m.v128.zero()),
    s.set(m.f64.const(0)),
    m.for(off, I.const(0), () => I.sub(I.shl(n.get(), I.const(2)), I.const(12)), 16, [
      v.set(m.v128.load(m.ptr.add(row.get(), off.get()))),
      p.set(d.promoteLow(v.get())),
      a0.set(d.add(a0.get(), g(() => p.get()))),
      p.set(d.promoteLow(m.v128.shuffle32(v.get(), v.get(), [2, 3, 2, 3]))),
      a1.set(d.add(a1.get(), g(() => p.get()))),
    ]),
    m.while(() => I.lt_s(off.get(), I.shl(n.get(), I.const(2))), [
      ps.set(m.f64.promote(m.f32.load(m.ptr.add(row.get(), off.get())))),
      s.set(m.f64.add(s.get(), gScalar(() => ps.get()))),
      off.set(I.add(off.get(), I.const(4))),
    ]),
    a0.set(d.add(a0.get(), a1.get())),
  ];
  return { code, total: () => m.f64.add(m.f64.add(d.extractLane(a0.get(), 0), d.extractLane(a0.get(), 1)), s.get()) };
}

/** `rmsnorm(x, w, y, rows, n, eps)`: y = w · (x / sqrt(mean(x²) + eps)) per row. */
export function addRmsnorm(m: KernelModule): void {
  const fb = m.kernel("rmsnorm");
  const [x, w, y, rows, n, eps, offset] = fb.params as [Local, Local, Local, Local, Local, Local, Local];
  const offv = fb.local("v128");
  const I = m.i32;
  const f = m.f32x4;
  const r = fb.local("i32");
  const xr = fb.local("ptr");
  const yr = fb.local("ptr");
  const off = fb.local("i32");
  const inv = fb.local("f32");
  const invv = fb.local("v128");
  const sq = m.f64x2;
  const sum = rowSum(
    m,
    fb,
    xr,
    n,
    (v) => sq.mul(v(), v()),
    (v) => m.f64.mul(v(), v()),
  );
  const at = (p: Local) => m.ptr.add(p.get(), off.get());
  fb.finish(
    [
      m.for(r, I.const(0), () => rows.get(), 1, [
        xr.set(m.ptr.add(x.get(), I.shl(I.mul(r.get(), n.get()), I.const(2)))),
        yr.set(m.ptr.add(y.get(), I.shl(I.mul(r.get(), n.get()), I.const(2)))),
        ...sum.code,
        inv.set(m.f32.demote(m.f64.div(m.f64.const(1), m.f64.sqrt(m.f64.add(m.f64.div(sum.total(), m.f64.convert_i32_s(n.get())), m.f64.promote(eps.get())))))),
        invv.set(f.splat(inv.get())),
        // HF rounds x·inv to f32 before the weight multiplies it; without a weight (w = 0) x·inv is the result.
        m.if(
          m.ptr.isSet(w.get()),
          [
            // the weight is f32(w + offset): Qwen3-Next's (1 + w) norms
            offv.set(f.splat(offset.get())),
            m.for(off, I.const(0), () => I.sub(I.shl(n.get(), I.const(2)), I.const(12)), 16, [m.v128.store(at(yr), f.mul(f.add(m.v128.load(m.ptr.add(w.get(), off.get())), offv.get()), f.mul(m.v128.load(at(xr)), invv.get())))]),
            m.while(() => I.lt_s(off.get(), I.shl(n.get(), I.const(2))), [
              m.f32.store(at(yr), m.f32.mul(m.f32.add(m.f32.load(m.ptr.add(w.get(), off.get())), offset.get()), m.f32.mul(m.f32.load(at(xr)), inv.get()))),
              off.set(I.add(off.get(), I.const(4))),
            ]),
          ],
          [
            m.for(off, I.const(0), () => I.sub(I.shl(n.get(), I.const(2)), I.const(12)), 16, [m.v128.store(at(yr), f.mul(m.v128.load(at(xr)), invv.get()))]),
            m.while(() => I.lt_s(off.get(), I.shl(n.get(), I.const(2))), [
              m.f32.store(at(yr), m.f32.mul(m.f32.load(at(xr)), inv.get())),
              off.set(I.add(off.get(), I.const(4))),
            ]),
          ],
        ),
      ]),
    ],
    "rmsnorm",
  );
}

/** `layernorm(x, w, b, y, rows, n, eps)`: y = (x − mean) / sqrt(var + eps) · w + b (b == 0: no bias); biased variance. */
export function addLayernorm(m: KernelModule): void {
  const fb = m.kernel("layernorm");
  const [x, w, b, y, rows, n, eps] = fb.params as [Local, Local, Local, Local, Local, Local, Local];
  const I = m.i32;
  const f = m.f32x4;
  const r = fb.local("i32");
  const xr = fb.local("ptr");
  const yr = fb.local("ptr");
  const off = fb.local("i32");
  const mean = fb.local("f64");
  const meanv = fb.local("v128");
  const dv = fb.local("v128");
  const ds = fb.local("f64");
  const mhi = fb.local("f32");
  const mlo = fb.local("f32");
  const mhiv = fb.local("v128");
  const mlov = fb.local("v128");
  const inv = fb.local("f32");
  const invv = fb.local("v128");
  const d2 = m.f64x2;
  const sum = rowSum(
    m,
    fb,
    xr,
    n,
    (v) => v(),
    (v) => v(),
  );
  const sqDev = rowSum(
    m,
    fb,
    xr,
    n,
    (v) => m.valueBlock([dv.set(d2.sub(v(), meanv.get())), d2.mul(dv.get(), dv.get())], "v128"),
    (v) => m.valueBlock([ds.set(m.f64.sub(v(), mean.get())), m.f64.mul(ds.get(), ds.get())], "f64"),
  );
  const nf = () => m.f64.convert_i32_s(n.get());
  const at = (p: Local) => m.ptr.add(p.get(), off.get());
  // (x − mean) as (x − mhi) − mlo with mean = mhi + mlo: x − mhi is exact near the mean.
  const centeredV = (v: Expr) => f.mul(f.sub(f.sub(v, mhiv.get()), mlov.get()), invv.get());
  const centeredS = (v: Expr) => m.f32.mul(m.f32.sub(m.f32.sub(v, mhi.get()), mlo.get()), inv.get());
  const outLoop = (bias: boolean) => [
    m.for(off, I.const(0), () => I.sub(I.shl(n.get(), I.const(2)), I.const(12)), 16, [
      m.v128.store(
        at(yr),
        ((v: Expr) => (bias ? f.add(v, m.v128.load(at(b))) : v))(f.mul(centeredV(m.v128.load(at(xr))), m.v128.load(at(w)))),
      ),
    ]),
    m.while(() => I.lt_s(off.get(), I.shl(n.get(), I.const(2))), [
      m.f32.store(at(yr), ((v: Expr) => (bias ? m.f32.add(v, m.f32.load(at(b))) : v))(m.f32.mul(centeredS(m.f32.load(at(xr))), m.f32.load(at(w))))),
      off.set(I.add(off.get(), I.const(4))),
    ]),
  ];
  fb.finish(
    [
      m.for(r, I.const(0), () => rows.get(), 1, [
        xr.set(m.ptr.add(x.get(), I.shl(I.mul(r.get(), n.get()), I.const(2)))),
        yr.set(m.ptr.add(y.get(), I.shl(I.mul(r.get(), n.get()), I.const(2)))),
        ...sum.code,
        mean.set(m.f64.div(sum.total(), nf())),
        meanv.set(d2.splat(mean.get())),
        ...sqDev.code,
        inv.set(m.f32.demote(m.f64.div(m.f64.const(1), m.f64.sqrt(m.f64.add(m.f64.div(sqDev.total(), nf()), m.f64.promote(eps.get())))))),
        invv.set(f.splat(inv.get())),
        mhi.set(m.f32.demote(mean.get())),
        mlo.set(m.f32.demote(m.f64.sub(mean.get(), m.f64.promote(mhi.get())))),
        mhiv.set(f.splat(mhi.get())),
        mlov.set(f.splat(mlo.get())),
        m.if(m.ptr.isSet(b.get()), outLoop(true), outLoop(false)),
      ]),
    ],
    "layernorm",
  );
}
