// Rotary position embedding, in place. The same f32 roundings as runtime/math/rope.ts
// (a·c and b·s rounded, then their difference): no fused multiply-add here.
import type { Expr, KernelModule, Local } from "../module.js";

/**
 * `rope(x, cos, sin, rows, heads, head_dim, rope_dim, interleaved)`: x is [rows, heads·head_dim],
 * cos/sin are [rows, rope_dim/2]; the first rope_dim dims of each head rotate in pairs
 * (j, j + rope_dim/2) (interleaved = 0) or (2j, 2j + 1) (interleaved = 1):
 * (a, b) → (a·c − b·s, b·c + a·s).
 */
export function addRope(m: KernelModule): void {
  const fb = m.kernel("rope");
  const [x, cos, sin, rows, heads, headDim, ropeDim, interleaved] = fb.params as [Local, Local, Local, Local, Local, Local, Local, Local];
  const I = m.i32;
  const f = m.f32x4;
  const s = m.f32;
  const c = (v: number) => I.const(v);
  const r = fb.local("i32");
  const h = fb.local("i32");
  const j = fb.local("i32"); // byte offset of pair j into cos/sin
  const hb = fb.local("i32"); // rope_dim/2 in bytes
  const cr = fb.local("ptr");
  const sr = fb.local("ptr");
  const base = fb.local("ptr");
  const pa = fb.local("ptr");
  const pb = fb.local("ptr");
  const av = fb.local("v128");
  const bv = fb.local("v128");
  const cv = fb.local("v128");
  const sv = fb.local("v128");
  const v0 = fb.local("v128");
  const v1 = fb.local("v128");
  const na = fb.local("v128");
  const nb = fb.local("v128");
  const as = fb.local("f32");
  const bs = fb.local("f32");
  const cs = fb.local("f32");
  const ss = fb.local("f32");

  const rotV = (): Expr[] => [na.set(f.sub(f.mul(av.get(), cv.get()), f.mul(bv.get(), sv.get()))), nb.set(f.add(f.mul(bv.get(), cv.get()), f.mul(av.get(), sv.get())))];
  const loadCS = (): Expr[] => [cv.set(m.v128.load(m.ptr.add(cr.get(), j.get()))), sv.set(m.v128.load(m.ptr.add(sr.get(), j.get())))];
  const scalarPair = (): Expr[] => [
    cs.set(s.load(m.ptr.add(cr.get(), j.get()))),
    ss.set(s.load(m.ptr.add(sr.get(), j.get()))),
    as.set(s.load(pa.get())),
    bs.set(s.load(pb.get())),
    s.store(pa.get(), s.sub(s.mul(as.get(), cs.get()), s.mul(bs.get(), ss.get()))),
    s.store(pb.get(), s.add(s.mul(bs.get(), cs.get()), s.mul(as.get(), ss.get()))),
  ];
  // Half style: a = x[j], b = x[j + half]; four pairs per step.
  const halfHead = [
    m.for(j, c(0), () => I.sub(hb.get(), c(12)), 16, [
      ...loadCS(),
      pa.set(m.ptr.add(base.get(), j.get())),
      pb.set(m.ptr.add(pa.get(), hb.get())),
      av.set(m.v128.load(pa.get())),
      bv.set(m.v128.load(pb.get())),
      ...rotV(),
      m.v128.store(pa.get(), na.get()),
      m.v128.store(pb.get(), nb.get()),
    ]),
    m.while(() => I.lt_s(j.get(), hb.get()), [pa.set(m.ptr.add(base.get(), j.get())), pb.set(m.ptr.add(pa.get(), hb.get())), ...scalarPair(), j.set(I.add(j.get(), c(4)))]),
  ];
  // Interleaved: pairs (2j, 2j + 1); two vectors hold four pairs.
  const interleavedHead = [
    m.for(j, c(0), () => I.sub(hb.get(), c(12)), 16, [
      ...loadCS(),
      pa.set(m.ptr.add(base.get(), I.shl(j.get(), c(1)))),
      v0.set(m.v128.load(pa.get())),
      v1.set(m.v128.load(pa.get(), 16)),
      av.set(m.v128.shuffle32(v0.get(), v1.get(), [0, 2, 4, 6])),
      bv.set(m.v128.shuffle32(v0.get(), v1.get(), [1, 3, 5, 7])),
      ...rotV(),
      m.v128.store(pa.get(), m.v128.shuffle32(na.get(), nb.get(), [0, 4, 1, 5])),
      m.v128.store(pa.get(), m.v128.shuffle32(na.get(), nb.get(), [2, 6, 3, 7]), 16),
    ]),
    m.while(() => I.lt_s(j.get(), hb.get()), [pa.set(m.ptr.add(base.get(), I.shl(j.get(), c(1)))), pb.set(m.ptr.add(pa.get(), c(4))), ...scalarPair(), j.set(I.add(j.get(), c(4)))]),
  ];
  fb.finish(
    [
      hb.set(I.shl(I.shr_s(ropeDim.get(), c(1)), c(2))),
      m.for(r, c(0), () => rows.get(), 1, [
        cr.set(m.ptr.add(cos.get(), I.mul(r.get(), hb.get()))),
        sr.set(m.ptr.add(sin.get(), I.mul(r.get(), hb.get()))),
        m.for(h, c(0), () => heads.get(), 1, [
          base.set(m.ptr.add(x.get(), I.shl(I.mul(I.add(I.mul(r.get(), heads.get()), h.get()), headDim.get()), c(2)))),
          m.if(interleaved.get(), interleavedHead, halfHead),
        ]),
      ]),
    ],
    "rope",
  );
}
