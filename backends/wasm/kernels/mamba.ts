// Jamba's Mamba-1 mixer kernels for one sequence's tokens: `causalConv1d` and `mambaScan` of runtime/math/mamba.ts
// repeated operation for operation in scalar code (f64 sums, the same f32 roundings; exp is fdlibm's, as V8's
// Math.exp; softplus's log1p is ln(1 + u) by halving to [1/√2, √2] and the atanh series, as mamba2.ts computes it:
// within an ulp of f64 of Math.log1p, invisible after the f32 rounding).
import type { Expr, KernelModule, Local } from "../module.js";
import { addExpF64, EXP_F64 } from "./exp64.js";

export function addCausalConv1d(m: KernelModule): void {
  addExpF64(m);
  const fb = m.kernel("causal_conv1d");
  const [x, convW, convB, convState, y, T, fresh, C, K] = fb.params as Local[];
  const I = m.i32;
  const Ptr = m.ptr;
  const D = m.f64;
  const S = m.f32;
  const c = (v: number) => I.const(v);
  const at = (base: Local, idx: Expr) => Ptr.add(base.get(), I.shl(idx, c(2)));
  const ld = (base: Local, idx: Expr) => D.promote(S.load(at(base, idx)));
  const r32 = (v: Expr) => D.promote(S.demote(v));
  const exp = (v: Expr) => m.call(EXP_F64, [v], "f64");
  const [t, ch, j, tp, row, tt] = [fb.local("i32"), fb.local("i32"), fb.local("i32"), fb.local("i32"), fb.local("i32"), fb.local("i32")];
  const acc = fb.local("f64");
  const val = fb.local("f64");
  // input(tp, ch): x row tp when tp ≥ 0, else conv_state row K−1+tp
  const input = () =>
    m.ifValue(I.ge_s(tp.get(), c(0)), ld(x, I.add(I.mul(tp.get(), C.get()), ch.get())), ld(convState, I.add(I.mul(I.add(I.sub(K.get(), c(1)), tp.get()), C.get()), ch.get())));
  const conv = m.for(ch, c(0), () => C.get(), 1, [
    acc.set(D.const(0)),
    m.for(j, c(0), () => K.get(), 1, [
      tp.set(I.add(I.sub(t.get(), K.get()), I.add(j.get(), c(1)))),
      acc.set(D.add(acc.get(), D.mul(ld(convW, I.add(I.mul(ch.get(), K.get()), j.get())), input()))),
    ]),
    // f32(acc + bias), then f32(silu)
    val.set(r32(m.ifValue(Ptr.isSet(convB.get()), D.add(acc.get(), ld(convB, ch.get())), acc.get()))),
    S.store(at(y, I.add(I.mul(t.get(), C.get()), ch.get())), S.demote(D.div(val.get(), D.add(D.const(1), exp(D.neg(val.get())))))),
  ]);
  // the last K−1 inputs become the conv state: shift the kept old rows up, then the newest x rows
  const keep = () => I.sub(I.sub(K.get(), c(1)), T.get()); // old rows kept when T < K−1
  const update = [
    m.for(row, c(0), () => keep(), 1, [
      m.for(ch, c(0), () => C.get(), 1, [S.store(at(convState, I.add(I.mul(row.get(), C.get()), ch.get())), S.load(at(convState, I.add(I.mul(I.add(row.get(), T.get()), C.get()), ch.get()))))]),
    ]),
    m.for(row, m.select(I.gt_s(keep(), c(0)), keep(), c(0)), () => I.sub(K.get(), c(1)), 1, [
      tt.set(I.add(I.sub(T.get(), I.sub(K.get(), c(1))), row.get())),
      m.for(ch, c(0), () => C.get(), 1, [S.store(at(convState, I.add(I.mul(row.get(), C.get()), ch.get())), S.load(at(x, I.add(I.mul(tt.get(), C.get()), ch.get()))))]),
    ]),
  ];
  fb.finish(
    [
      m.if(fresh.get(), [m.memory.fill(convState.get(), c(0), I.shl(I.mul(I.sub(K.get(), c(1)), C.get()), c(2)))]),
      m.for(t, c(0), () => T.get(), 1, [conv]),
      ...update,
    ],
    "causal_conv1d",
  );
}

export function addMambaScan(m: KernelModule): void {
  addExpF64(m);
  const fb = m.kernel("mamba_scan");
  const [x, dt, b, cm, z, aLog, dSkip, state, y, T, fresh, Ch, N] = fb.params as Local[];
  const I = m.i32;
  const Ptr = m.ptr;
  const D = m.f64;
  const S = m.f32;
  const c = (v: number) => I.const(v);
  const at = (base: Local, idx: Expr) => Ptr.add(base.get(), I.shl(idx, c(2)));
  const ld = (base: Local, idx: Expr) => D.promote(S.load(at(base, idx)));
  const r32 = (v: Expr) => D.promote(S.demote(v));
  const exp = (v: Expr) => m.call(EXP_F64, [v], "f64");
  const [t, i, n, sOff] = [fb.local("i32"), fb.local("i32"), fb.local("i32"), fb.local("i32")];
  const [acc, val, xv, delta, u, le, ls, ls2, lm] = Array.from({ length: 9 }, () => fb.local("f64"));
  // softplus(val) into val: val > 20 ? val : ln(1 + exp(val))
  const softplus = [
    m.if(D.le(val.get(), D.const(20)), [
      u.set(D.add(D.const(1), exp(val.get()))),
      le.set(D.const(0)),
      m.while(() => D.gt(u.get(), D.const(Math.SQRT2)), [u.set(D.div(u.get(), D.const(2))), le.set(D.add(le.get(), D.const(1)))]),
      ls.set(D.div(D.sub(u.get(), D.const(1)), D.add(u.get(), D.const(1)))),
      ls2.set(D.mul(ls.get(), ls.get())),
      lm.set(D.const(1 / 21)),
      ...[19, 17, 15, 13, 11, 9, 7, 5, 3, 1].map((k) => lm.set(D.add(D.mul(lm.get(), ls2.get()), D.const(1 / k)))),
      val.set(D.add(D.mul(le.get(), D.const(Math.LN2)), D.mul(D.mul(D.const(2), ls.get()), lm.get()))),
    ]),
  ];
  const row = (idx: Expr) => I.add(I.mul(t.get(), Ch.get()), idx);
  const tok = (idx: Expr) => I.add(I.mul(t.get(), N.get()), idx);
  const sAt = () => at(state, I.add(sOff.get(), n.get()));
  const channels = m.for(i, c(0), () => Ch.get(), 1, [
    val.set(ld(dt, row(i.get()))),
    ...softplus,
    delta.set(r32(val.get())),
    xv.set(ld(x, row(i.get()))),
    sOff.set(I.mul(i.get(), N.get())),
    acc.set(D.const(0)),
    m.for(n, c(0), () => N.get(), 1, [
      // decay = f32(exp(f32(−f32(exp(a_log))·δ))); S = f32(f32(decay·S) + f32(f32(δ·B[n])·x)); acc += S·C[n]
      val.set(r32(exp(r32(D.mul(D.neg(r32(exp(ld(aLog, I.add(sOff.get(), n.get()))))), delta.get()))))),
      val.set(r32(D.add(r32(D.mul(val.get(), D.promote(S.load(sAt())))), r32(D.mul(r32(D.mul(delta.get(), ld(b, tok(n.get())))), xv.get()))))),
      S.store(sAt(), S.demote(val.get())),
      acc.set(D.add(acc.get(), D.mul(val.get(), ld(cm, tok(n.get()))))),
    ]),
    // y = f32(f32(f32(acc) + f32(x·d))·f32(silu(z)))
    val.set(ld(z, row(i.get()))),
    S.store(at(y, row(i.get())), S.demote(D.mul(r32(D.add(r32(acc.get()), r32(D.mul(xv.get(), ld(dSkip, i.get()))))), r32(D.div(val.get(), D.add(D.const(1), exp(D.neg(val.get())))))))),
  ]);
  fb.finish(
    [
      m.if(fresh.get(), [m.memory.fill(state.get(), c(0), I.shl(I.mul(Ch.get(), N.get()), c(2)))]),
      m.for(t, c(0), () => T.get(), 1, [channels]),
    ],
    "mamba_scan",
  );
}
