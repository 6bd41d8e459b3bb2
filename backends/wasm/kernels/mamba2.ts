// Nemotron-H's Mamba-2 selective scan for one sequence's tokens: `mamba2Scan` of runtime/math/mamba2.ts repeated
// operation for operation in scalar code (f64 sums, the same f32 roundings; exp is fdlibm's, as V8's Math.exp;
// softplus's log1p is ln(1 + u) by halving to [1/√2, √2] and the atanh series, as the gated DeltaNet kernel
// computes it: within an ulp of f64 of Math.log1p, invisible after the f32 rounding).
import type { Expr, KernelModule, Local } from "../module.js";
import { addExpF64, EXP_F64 } from "./exp64.js";

const LN2 = Math.LN2;

export function addMamba2Scan(m: KernelModule): void {
  addExpF64(m);
  const fb = m.kernel("mamba2_scan");
  const [xbc, dt, z, convW, convB, aLog, dtBias, dSkip, normW, convState, state, y, T, fresh, H, P, N, G, K, dtMin, eps, scratch] = fb.params as Local[];
  const I = m.i32;
  const Ptr = m.ptr;
  const D = m.f64;
  const S = m.f32;
  const c = (v: number) => I.const(v);
  const at = (base: Local, idx: Expr) => Ptr.add(base.get(), I.shl(idx, c(2)));
  const ld = (base: Local, idx: Expr) => D.promote(S.load(at(base, idx)));
  const r32 = (v: Expr) => D.promote(S.demote(v)); // round an f64 to f32 and back
  const exp = (v: Expr) => m.call(EXP_F64, [v], "f64");

  const C = fb.local("i32");
  const XP = fb.local("i32");
  const grp = fb.local("i32");
  const t = fb.local("i32");
  const ch = fb.local("i32");
  const j = fb.local("i32");
  const h = fb.local("i32");
  const p = fb.local("i32");
  const n = fb.local("i32");
  const row = fb.local("i32");
  const tt = fb.local("i32");
  const bOff = fb.local("i32");
  const cOff = fb.local("i32");
  const sOff = fb.local("i32");
  const tp = fb.local("i32");
  const acc = fb.local("f64");
  const val = fb.local("f64");
  const x = fb.local("f64");
  const delta = fb.local("f64");
  const decay = fb.local("f64");
  const dh = fb.local("f64");
  const lo = fb.local("f64");
  const u = fb.local("f64");
  const le = fb.local("f64");
  const ls = fb.local("f64");
  const ls2 = fb.local("f64");
  const lm = fb.local("f64");
  const size = fb.local("i32");
  const base = fb.local("i32");
  const k = fb.local("i32");
  const inv = fb.local("f64");
  const epsD = fb.local("f64");

  // input(tp, ch): xbc row tp when tp ≥ 0, else conv_state row K−1+tp
  const input = () =>
    m.ifValue(I.ge_s(tp.get(), c(0)), ld(xbc, I.add(I.mul(tp.get(), C.get()), ch.get())), ld(convState, I.add(I.mul(I.add(I.sub(K.get(), c(1)), tp.get()), C.get()), ch.get())));

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
      val.set(D.add(D.mul(le.get(), D.const(LN2)), D.mul(D.mul(D.const(2), ls.get()), lm.get()))),
    ]),
  ];

  const cAt = (idx: Expr) => at(scratch, idx);
  const conv = m.for(ch, c(0), () => C.get(), 1, [
    acc.set(D.const(0)),
    m.for(j, c(0), () => K.get(), 1, [
      tp.set(I.add(I.sub(t.get(), K.get()), I.add(j.get(), c(1)))),
      acc.set(D.add(acc.get(), D.mul(ld(convW, I.add(I.mul(ch.get(), K.get()), j.get())), input()))),
    ]),
    // f32(acc + bias): the bias is added to the f64 sum, as mamba2Scan does
    val.set(r32(m.ifValue(Ptr.isSet(convB.get()), D.add(acc.get(), ld(convB, ch.get())), acc.get()))),
    S.store(cAt(ch.get()), S.demote(D.div(val.get(), D.add(D.const(1), exp(D.neg(val.get())))))),
  ]);

  const sAt = (idx: Expr) => at(state, I.add(sOff.get(), idx));
  const heads = m.for(h, c(0), () => H.get(), 1, [
    bOff.set(I.add(XP.get(), I.mul(I.div_s(h.get(), grp.get()), N.get()))),
    cOff.set(I.add(bOff.get(), I.mul(G.get(), N.get()))),
    // δ = max(f32(softplus(f32(dt + dt_bias))), dt_min); decay = f32(exp(f32(δ·−f32(exp(a_log)))))
    val.set(r32(D.add(ld(dt, I.add(I.mul(t.get(), H.get()), h.get())), ld(dtBias, h.get())))),
    ...softplus,
    delta.set(r32(val.get())),
    m.if(D.lt(delta.get(), lo.get()), [delta.set(lo.get())]),
    decay.set(r32(exp(r32(D.mul(delta.get(), D.neg(r32(exp(ld(aLog, h.get()))))))))),
    dh.set(ld(dSkip, h.get())),
    m.for(p, c(0), () => P.get(), 1, [
      x.set(D.promote(S.load(cAt(I.add(I.mul(h.get(), P.get()), p.get()))))),
      sOff.set(I.mul(I.add(I.mul(h.get(), P.get()), p.get()), N.get())),
      acc.set(D.const(0)),
      m.for(n, c(0), () => N.get(), 1, [
        // S[p, n] = f32(f32(S·decay) + f32(f32(δ·B[n])·x)); acc += S[p, n]·C[n]
        val.set(r32(D.add(r32(D.mul(D.promote(S.load(sAt(n.get()))), decay.get())), r32(D.mul(r32(D.mul(delta.get(), D.promote(S.load(cAt(I.add(bOff.get(), n.get())))))), x.get()))))),
        S.store(sAt(n.get()), S.demote(val.get())),
        acc.set(D.add(acc.get(), D.mul(val.get(), D.promote(S.load(cAt(I.add(cOff.get(), n.get()))))))),
      ]),
      S.store(at(y, I.add(I.mul(t.get(), XP.get()), I.add(I.mul(h.get(), P.get()), p.get()))), S.demote(D.add(r32(acc.get()), r32(D.mul(x.get(), dh.get()))))),
    ]),
  ]);

  // gated RMSNorm of the token's row: y = f32(y·f32(silu(z))), then per group f32(w·f32(y·inv))
  const yAt = (idx: Expr) => at(y, I.add(I.mul(t.get(), XP.get()), idx));
  const zAt = (idx: Expr) => at(z, I.add(I.mul(t.get(), XP.get()), idx));
  const gateNorm = [
    m.for(k, c(0), () => XP.get(), 1, [
      val.set(D.promote(S.load(zAt(k.get())))),
      S.store(yAt(k.get()), S.demote(D.mul(D.promote(S.load(yAt(k.get()))), r32(D.div(val.get(), D.add(D.const(1), exp(D.neg(val.get())))))))),
    ]),
    m.for(base, c(0), () => XP.get(), () => size.get(), [
      acc.set(D.const(0)),
      m.for(k, c(0), () => size.get(), 1, [val.set(D.promote(S.load(yAt(I.add(base.get(), k.get()))))), acc.set(D.add(acc.get(), D.mul(val.get(), val.get())))]),
      inv.set(D.div(D.const(1), D.sqrt(D.add(D.div(acc.get(), D.convert_i32_s(size.get())), epsD.get())))),
      m.for(k, c(0), () => size.get(), 1, [
        S.store(yAt(I.add(base.get(), k.get())), S.demote(D.mul(ld(normW, I.add(base.get(), k.get())), r32(D.mul(D.promote(S.load(yAt(I.add(base.get(), k.get())))), inv.get()))))),
      ]),
    ]),
  ];

  // the last K−1 inputs become the conv state: shift the kept old rows up, then the newest xbc rows
  const keep = () => I.sub(I.sub(K.get(), c(1)), T.get()); // old rows kept when T < K−1
  const update = [
    m.for(row, c(0), () => keep(), 1, [
      m.for(ch, c(0), () => C.get(), 1, [S.store(at(convState, I.add(I.mul(row.get(), C.get()), ch.get())), S.load(at(convState, I.add(I.mul(I.add(row.get(), T.get()), C.get()), ch.get()))))]),
    ]),
    m.for(row, m.select(I.gt_s(keep(), c(0)), keep(), c(0)), () => I.sub(K.get(), c(1)), 1, [
      tt.set(I.add(I.sub(T.get(), I.sub(K.get(), c(1))), row.get())),
      m.for(ch, c(0), () => C.get(), 1, [S.store(at(convState, I.add(I.mul(row.get(), C.get()), ch.get())), S.load(at(xbc, I.add(I.mul(tt.get(), C.get()), ch.get()))))]),
    ]),
  ];

  fb.finish(
    [
      XP.set(I.mul(H.get(), P.get())),
      C.set(I.add(XP.get(), I.shl(I.mul(G.get(), N.get()), c(1)))),
      grp.set(I.div_s(H.get(), G.get())),
      lo.set(D.promote(dtMin.get())),
      epsD.set(D.promote(eps.get())),
      size.set(I.div_s(XP.get(), G.get())),
      m.if(fresh.get(), [
        m.memory.fill(convState.get(), c(0), I.shl(I.mul(I.sub(K.get(), c(1)), C.get()), c(2))),
        m.memory.fill(state.get(), c(0), I.shl(I.mul(H.get(), I.mul(P.get(), N.get())), c(2))),
      ]),
      m.for(t, c(0), () => T.get(), 1, [conv, heads, ...gateNorm]),
      ...update,
    ],
    "mamba2_scan",
  );
}
