// Qwen3-Next's gated DeltaNet for one sequence's tokens: `gatedDeltaRule` of runtime/math/deltanet.ts
// repeated operation for operation in scalar code (f64 sums, the same f32 roundings; exp is fdlibm's, as
// V8's Math.exp; log1p is computed as ln(1 + u) by halving to [1/√2, √2] and the atanh series, which
// differs from Math.log1p by an ulp of f64 at most, invisible after the f32 rounding). The recurrent
// state is updated column by column: each value column j of a head's [k_dim, v_dim] state is decayed,
// read against k, corrected by the delta rule and read against q independently of the others.
import type { Expr, KernelModule, Local } from "../module.js";
import { addExpF64, EXP_F64 } from "./exp64.js";

const LN2 = Math.LN2;

export function addGatedDeltaRule(m: KernelModule): void {
  addExpF64(m);
  const fb = m.kernel("gated_delta_rule");
  const [x, b, a, convW, aLog, dtBias, convState, state, y, T, fresh, kHeads, vHeads, kDim, vDim, K, scratch] = fb.params as Local[];
  const I = m.i32;
  const P = m.ptr;
  const D = m.f64;
  const S = m.f32;
  const c = (v: number) => I.const(v);
  const at = (base: Local, idx: Expr) => P.add(base.get(), I.shl(idx, c(2)));
  const ld = (base: Local, idx: Expr) => D.promote(S.load(at(base, idx)));
  const r32 = (v: Expr) => D.promote(S.demote(v)); // round an f64 to f32 and back
  const exp = (v: Expr) => m.call(EXP_F64, [v], "f64");

  const C = fb.local("i32");
  const Kd = fb.local("i32");
  const grp = fb.local("i32");
  const t = fb.local("i32");
  const ch = fb.local("i32");
  const j = fb.local("i32");
  const h = fb.local("i32");
  const i = fb.local("i32");
  const v = fb.local("i32");
  const tt = fb.local("i32");
  const row = fb.local("i32");
  const sOff = fb.local("i32");
  const acc = fb.local("f64");
  const val = fb.local("f64");
  const inv = fb.local("f64");
  const qScale = fb.local("f64");
  const decay = fb.local("f64");
  const beta = fb.local("f64");
  const u = fb.local("f64");
  const lm = fb.local("f64");
  const le = fb.local("f64");
  const ls = fb.local("f64");
  const ls2 = fb.local("f64");
  const qn = fb.local("ptr");
  const kn = fb.local("ptr");

  // input(tp, ch): x row tp when tp ≥ 0, else conv_state row K−1+tp (tp, ch locals: each read more than once)
  const tp = fb.local("i32");
  const input = () =>
    m.ifValue(I.ge_s(tp.get(), c(0)), ld(x, I.add(I.mul(tp.get(), C.get()), ch.get())), ld(convState, I.add(I.mul(I.add(I.sub(K.get(), c(1)), tp.get()), C.get()), ch.get())));

  // softplus(val) into val: val > 20 ? val : ln(1 + exp(val))
  const softplus = [
    m.if(D.le(val.get(), D.const(20)), [
      u.set(D.add(D.const(1), exp(val.get()))),
      le.set(D.const(0)),
      m.while(() => D.gt(u.get(), D.const(Math.SQRT2)), [u.set(D.div(u.get(), D.const(2))), le.set(D.add(le.get(), D.const(1)))]),
      ls.set(D.div(D.sub(u.get(), D.const(1)), D.add(u.get(), D.const(1)))),
      ls2.set(D.mul(ls.get(), ls.get())),
      // 2s·(1 + s²/3 + s⁴/5 + … + s²⁰/21), Horner from the highest term
      lm.set(D.const(1 / 21)),
      ...[19, 17, 15, 13, 11, 9, 7, 5, 3, 1].map((k) => lm.set(D.add(D.mul(lm.get(), ls2.get()), D.const(1 / k)))),
      val.set(D.add(D.mul(le.get(), D.const(LN2)), D.mul(D.mul(D.const(2), ls.get()), lm.get()))),
    ]),
  ];

  const cPtr = (idx: Expr) => at(scratch, idx);
  const conv = m.for(ch, c(0), () => C.get(), 1, [
    acc.set(D.const(0)),
    m.for(j, c(0), () => K.get(), 1, [
      tp.set(I.add(I.sub(t.get(), K.get()), I.add(j.get(), c(1)))),
      acc.set(D.add(acc.get(), D.mul(ld(convW, I.add(I.mul(ch.get(), K.get()), j.get())), input()))),
    ]),
    val.set(r32(acc.get())),
    S.store(cPtr(ch.get()), S.demote(D.div(val.get(), D.add(D.const(1), exp(D.neg(val.get())))))),
  ]);

  // l2norm of one key head's q (src 0) or k (src Kd) into dst, times scale
  const l2 = (src: () => Expr, dst: Local, scaled: boolean) => [
    acc.set(D.const(0)),
    m.for(i, c(0), () => kDim.get(), 1, [val.set(D.promote(S.load(cPtr(I.add(src(), i.get()))))), acc.set(D.add(acc.get(), D.mul(val.get(), val.get())))]),
    inv.set(D.div(D.const(1), D.sqrt(D.add(r32(acc.get()), D.const(1e-6))))),
    m.for(i, c(0), () => kDim.get(), 1, [
      val.set(r32(D.mul(D.promote(S.load(cPtr(I.add(src(), i.get())))), inv.get()))),
      S.store(at(dst, I.add(I.mul(h.get(), kDim.get()), i.get())), S.demote(scaled ? D.mul(val.get(), qScale.get()) : val.get())),
    ]),
  ];
  const norms = m.for(h, c(0), () => kHeads.get(), 1, [
    ...l2(() => I.mul(h.get(), kDim.get()), qn, true),
    ...l2(() => I.add(Kd.get(), I.mul(h.get(), kDim.get())), kn, false),
  ]);

  const sAt = (idx: Expr) => at(state, I.add(sOff.get(), idx));
  const heads = m.for(v, c(0), () => vHeads.get(), 1, [
    h.set(I.div_s(v.get(), grp.get())),
    // decay = exp(−f32(exp(a_log)) · f32(softplus(f32(a + dt_bias)))) as f32; beta = f32(sigmoid(b))
    val.set(r32(D.add(ld(a, I.add(I.mul(t.get(), vHeads.get()), v.get())), ld(dtBias, v.get())))),
    ...softplus,
    decay.set(r32(exp(r32(D.mul(D.neg(r32(exp(ld(aLog, v.get())))), r32(val.get())))))),
    beta.set(r32(D.div(D.const(1), D.add(D.const(1), exp(D.neg(ld(b, I.add(I.mul(t.get(), vHeads.get()), v.get())))))))),
    sOff.set(I.mul(v.get(), I.mul(kDim.get(), vDim.get()))),
    m.for(j, c(0), () => vDim.get(), 1, [
      // decay the column, and m = Σ_i S[i, j]·k_i
      acc.set(D.const(0)),
      m.for(i, c(0), () => kDim.get(), 1, [
        val.set(r32(D.mul(D.promote(S.load(sAt(I.add(I.mul(i.get(), vDim.get()), j.get())))), decay.get()))),
        S.store(sAt(I.add(I.mul(i.get(), vDim.get()), j.get())), S.demote(val.get())),
        acc.set(D.add(acc.get(), D.mul(val.get(), ld(kn, I.add(I.mul(h.get(), kDim.get()), i.get()))))),
      ]),
      // delta = f32(f32(v_j − f32(m))·β); S[i, j] += f32(k_i·delta); y_j = Σ_i S[i, j]·q_i
      u.set(r32(D.mul(r32(D.sub(D.promote(S.load(cPtr(I.add(I.add(I.shl(Kd.get(), c(1)), I.mul(v.get(), vDim.get())), j.get())))), r32(acc.get()))), beta.get()))),
      acc.set(D.const(0)),
      m.for(i, c(0), () => kDim.get(), 1, [
        val.set(r32(D.add(D.promote(S.load(sAt(I.add(I.mul(i.get(), vDim.get()), j.get())))), r32(D.mul(ld(kn, I.add(I.mul(h.get(), kDim.get()), i.get())), u.get()))))),
        S.store(sAt(I.add(I.mul(i.get(), vDim.get()), j.get())), S.demote(val.get())),
        acc.set(D.add(acc.get(), D.mul(val.get(), ld(qn, I.add(I.mul(h.get(), kDim.get()), i.get()))))),
      ]),
      S.store(at(y, I.add(I.mul(t.get(), I.mul(vHeads.get(), vDim.get())), I.add(I.mul(v.get(), vDim.get()), j.get()))), S.demote(acc.get())),
    ]),
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
      Kd.set(I.mul(kHeads.get(), kDim.get())),
      C.set(I.add(I.shl(Kd.get(), c(1)), I.mul(vHeads.get(), vDim.get()))),
      grp.set(I.div_s(vHeads.get(), kHeads.get())),
      qScale.set(D.div(D.const(1), D.sqrt(D.convert_i32_s(kDim.get())))),
      qn.set(at(scratch, C.get())),
      kn.set(at(scratch, I.add(C.get(), Kd.get()))),
      m.if(fresh.get(), [
        m.memory.fill(convState.get(), c(0), I.shl(I.mul(I.sub(K.get(), c(1)), C.get()), c(2))),
        m.memory.fill(state.get(), c(0), I.shl(I.mul(vHeads.get(), I.mul(kDim.get(), vDim.get())), c(2))),
      ]),
      m.for(t, c(0), () => T.get(), 1, [conv, norms, heads]),
      ...update,
    ],
    "gated_delta_rule",
  );
}
