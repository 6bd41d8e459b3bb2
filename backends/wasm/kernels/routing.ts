// Token-choice MoE routing in the kernel library: for every token its scores (softmax,
// sigmoid, the raw logits for softmax_topk, or Phi-3.5-MoE's sparsemixer), the selection
// bias, the group limit, the top-k and the mixing weights; then a counting sort of all T·k
// assignments by expert, so the runtime reads back E+1 offsets and hands each expert its
// slice of token indices and weights without touching the lists.
//
// The numerics are runtime/moe/routing.ts's, operation for operation: scores in f64 from the
// f32 logits, softmax with the max of the non-(−∞) logits subtracted, the same summation
// order, fdlibm's exp (as V8's Math.exp), top-k ties to the lower index, renormalisation with
// + 1e-20, weights rounded to f32 after the scale. Where Math.exp is fdlibm's (V8) the two
// agree to the bit.
//
// Capacity factors and expert-choice routing compare tokens with each other and stay in
// routing.ts (the executor calls route() for those routers and lays the result out the same way).
import type { Expr, KernelModule, Local } from "../module.js";
import { addExpF64, EXP_F64 } from "./exp64.js";

/**
 * `route_topk(logits, T, E, k, scoring, bias, groups, topk_groups, group_scoring, renormalize,
 * scale, eps, counts, tok_out, w_out, work)`; see README.md for the ABI. `work` holds
 * 28·E + 12·k + 8·T·k bytes, laid out as
 *   z/scores f64 [E] | selection f64 [E] | group scores f64 [E] | chosen weights f64 [k] |
 *   flags i32 [E] | chosen experts i32 [k] | experts i32 [T·k] | weights f32 [T·k]
 * (the flags mark excluded/chosen experts, then serve as the per-expert cursors of the sort).
 */
export function addRouteTopk(m: KernelModule): void {
  addExpF64(m);
  const fb = m.kernel("route_topk");
  const [logits, T, E, k, scoring, bias, groups, topkGroups, groupScoring, renormalize, scale, eps, counts, tokOut, wOut, work] = fb.params as Local[] as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const I = m.i32;
  const D = m.f64;
  const P = m.ptr;
  const NEG_INF = () => D.const(-Infinity);
  const exp = (x: Expr) => m.call(EXP_F64, [x], "f64");

  // work sub-arrays
  const S = fb.local("ptr"); // z, then scores
  const Sel = fb.local("ptr"); // selection scores (sparsemixer: the masked logits)
  const G = fb.local("ptr"); // group scores
  const CW = fb.local("ptr"); // this token's weights, rank order
  const F = fb.local("ptr"); // flags: 0 = selectable; later the sort's cursors
  const CX = fb.local("ptr"); // this token's experts, rank order
  const EX = fb.local("ptr"); // every token's experts [T·k]
  const WT = fb.local("ptr"); // every token's weights [T·k], f32

  const t = fb.local("i32");
  const i = fb.local("i32");
  const r = fb.local("i32");
  const g = fb.local("i32");
  const j = fb.local("i32");
  const best = fb.local("i32");
  const size = fb.local("i32");
  const row = fb.local("ptr");
  const v = fb.local("f64");
  const mx = fb.local("f64");
  const sum = fb.local("f64");
  const a = fb.local("f64");
  const b = fb.local("f64");
  const thr = fb.local("f64");

  const at8 = (base: Local, idx: Expr) => P.add(base.get(), I.shl(idx, I.const(3)));
  const at4 = (base: Local, idx: Expr) => P.add(base.get(), I.shl(idx, I.const(2)));
  const ld = (base: Local, idx: Expr) => D.load(at8(base, idx));
  const st = (base: Local, idx: Expr, val: Expr) => D.store(at8(base, idx), val);
  const ldi = (base: Local, idx: Expr) => I.load(at4(base, idx));
  const sti = (base: Local, idx: Expr, val: Expr) => I.store(at4(base, idx), val);
  const inc = (l: Local) => l.set(I.add(l.get(), I.const(1)));
  const upTo = (l: Local, n: () => Expr, body: readonly Expr[]) => m.for(l, I.const(0), n, 1, body);

  /** One softmax numerator e^(x − mx); −∞ gives 0 (routing.ts tests for it rather than relying on exp). */
  const term = (x: Local) => m.ifValue(D.eq(x.get(), NEG_INF()), D.const(0), exp(D.sub(x.get(), mx.get())));

  /**
   * routing.ts's softmax over n values val(l), l < n: m = max of the values ≠ −∞ (0 if none;
   * NaN propagates as in Math.max), then Σ e^(val − m) in order with −∞ contributing 0.
   * Leaves m in `mx` and the sum in `sum`.
   */
  const softmaxStats = (l: Local, n: () => Expr, val: () => Expr): Expr[] => [
    mx.set(NEG_INF()),
    upTo(l, n, [v.set(val()), m.if(D.ne(v.get(), NEG_INF()), mx.set(D.max(mx.get(), v.get())))]),
    m.if(D.eq(mx.get(), NEG_INF()), mx.set(D.const(0))),
    sum.set(D.const(0)),
    upTo(l, n, [v.set(val()), sum.set(D.add(sum.get(), term(v)))]),
  ];

  /** The first selectable index with the largest value (strict >: ties keep the lower index). */
  const argmax = (l: Local, n: () => Expr, selectable: () => Expr, val: (idx: Expr) => Expr): Expr[] => [
    best.set(I.const(-1)),
    upTo(l, n, [m.if(selectable(), m.if(I.lt_s(best.get(), I.const(0)), best.set(l.get()), m.if(D.gt(val(l.get()), val(best.get())), best.set(l.get()))))]),
  ];

  // z = f64(logits row), two lanes a step.
  const promoteRow = [
    m.for(i, I.const(0), () => I.sub(E.get(), I.const(1)), 2, [m.v128.store(at8(S, i.get()), m.f64x2.promoteLow(m.v128.load64Zero(at4(row, i.get()))))]),
    m.while(() => I.lt_s(i.get(), E.get()), [st(S, i.get(), D.promote(m.f32.load(at4(row, i.get())))), inc(i)]),
  ];

  // Scores in place: softmax, sigmoid; softmax_topk keeps the raw logits.
  const scores = [
    m.if(I.eqz(scoring.get()), [...softmaxStats(i, () => E.get(), () => ld(S, i.get())), upTo(i, () => E.get(), [v.set(ld(S, i.get())), st(S, i.get(), D.div(term(v), sum.get()))])]),
    m.if(I.eq(scoring.get(), I.const(1)), upTo(i, () => E.get(), [st(S, i.get(), D.div(D.const(1), D.add(D.const(1), exp(D.neg(ld(S, i.get()))))))])),
  ];

  // Selection scores: sel = scores (+ bias), two lanes a step.
  const selection = m.if(
    P.isSet(bias.get()),
    [
      m.for(i, I.const(0), () => I.sub(E.get(), I.const(1)), 2, [
        m.v128.store(at8(Sel, i.get()), m.f64x2.add(m.v128.load(at8(S, i.get())), m.f64x2.promoteLow(m.v128.load64Zero(P.add(bias.get(), I.shl(i.get(), I.const(2))))))),
      ]),
      m.while(() => I.lt_s(i.get(), E.get()), [st(Sel, i.get(), D.add(ld(S, i.get()), D.promote(m.f32.load(P.add(bias.get(), I.shl(i.get(), I.const(2))))))), inc(i)]),
    ],
    m.memory.copy(Sel.get(), S.get(), I.shl(E.get(), I.const(3))),
  );

  // Group limit: groups of `size` experts scored by their max or the sum of their top two
  // selection scores; the best topk_groups groups (ties: lower group) stay selectable.
  const groupLimit = m.if(
    I.gt_s(groups.get(), I.const(1)),
    [
      size.set(I.div_u(E.get(), groups.get())),
      m.memory.fill(F.get(), I.const(1), I.shl(E.get(), I.const(2))),
      upTo(g, () => groups.get(), [
        a.set(NEG_INF()),
        b.set(NEG_INF()),
        m.for(i, I.mul(g.get(), size.get()), () => I.mul(I.add(g.get(), I.const(1)), size.get()), 1, [
          v.set(ld(Sel, i.get())),
          m.if(D.gt(v.get(), a.get()), [b.set(a.get()), a.set(v.get())], m.if(D.gt(v.get(), b.get()), b.set(v.get()))),
        ]),
        // a group of one has no second member: routing.ts adds 0
        m.if(I.eq(size.get(), I.const(1)), b.set(D.const(0))),
        st(G, g.get(), m.select(groupScoring.get(), D.add(a.get(), b.get()), a.get())),
      ]),
      upTo(r, () => topkGroups.get(), [
        ...argmax(g, () => groups.get(), () => I.ne(ldi(F, I.mul(g.get(), size.get())), I.const(0)), (idx) => ld(G, idx)),
        m.memory.fill(at4(F, I.mul(best.get(), size.get())), I.const(0), I.shl(size.get(), I.const(2))),
      ]),
    ],
    m.memory.fill(F.get(), I.const(0), I.shl(E.get(), I.const(2))),
  );

  // Top-k of the selection scores among the selectable experts.
  const topk = upTo(r, () => k.get(), [
    ...argmax(i, () => E.get(), () => I.eqz(ldi(F, i.get())), (idx) => ld(Sel, idx)),
    // (k ≤ the experts of the kept groups, which the compiler checks; this only keeps writes in bounds)
    m.if(I.lt_s(best.get(), I.const(0)), best.set(I.const(0))),
    sti(CX, r.get(), best.get()),
    sti(F, best.get(), I.const(1)),
  ]);

  // Mixing weights: the scores of the chosen experts, or softmax over their logits (softmax_topk); then renormalised.
  const weights = [
    m.if(
      I.eq(scoring.get(), I.const(2)),
      [...softmaxStats(r, () => k.get(), () => ld(S, ldi(CX, r.get()))), upTo(r, () => k.get(), [v.set(ld(S, ldi(CX, r.get()))), st(CW, r.get(), D.div(term(v), sum.get()))])],
      upTo(r, () => k.get(), [st(CW, r.get(), ld(S, ldi(CX, r.get())))]),
    ),
    m.if(renormalize.get(), [
      sum.set(D.const(0)),
      upTo(r, () => k.get(), [sum.set(D.add(sum.get(), ld(CW, r.get())))]),
      sum.set(D.add(sum.get(), D.const(1e-20))),
      upTo(r, () => k.get(), [st(CW, r.get(), D.div(ld(CW, r.get()), sum.get()))]),
    ]),
  ];

  // Sparsemixer (k = 2): pick the arg-max of the masked logits, weight it by the softmax of
  // the logits within 2·eps (relative) of it, mask it, pick again. The threshold test uses the
  // unmasked logits z; the softmax uses the masked ones.
  const gated = (idx: Expr, zi: () => Expr) =>
    m.ifValue(D.gt(D.div(D.sub(thr.get(), zi()), D.max(D.abs(zi()), thr.get())), D.mul(D.const(2), eps.get())), NEG_INF(), ld(Sel, idx));
  const sparsemixer = [
    m.memory.copy(Sel.get(), S.get(), I.shl(E.get(), I.const(3))),
    upTo(r, () => k.get(), [
      ...argmax(i, () => E.get(), () => I.const(1), (idx) => ld(Sel, idx)),
      thr.set(ld(Sel, best.get())),
      ...softmaxStats(i, () => E.get(), () => gated(i.get(), () => ld(S, i.get()))),
      v.set(gated(best.get(), () => ld(S, best.get()))),
      st(CW, r.get(), D.div(term(v), sum.get())),
      sti(CX, r.get(), best.get()),
      st(Sel, best.get(), NEG_INF()),
    ]),
  ];

  const tk = fb.local("i32");
  fb.finish(
    [
      S.set(work.get()),
      Sel.set(at8(S, E.get())),
      G.set(at8(Sel, E.get())),
      CW.set(at8(G, E.get())),
      F.set(at8(CW, k.get())),
      CX.set(at4(F, E.get())),
      EX.set(at4(CX, k.get())),
      tk.set(I.mul(T.get(), k.get())),
      WT.set(at4(EX, tk.get())),
      upTo(t, () => T.get(), [
        row.set(P.add(logits.get(), I.shl(I.mul(t.get(), E.get()), I.const(2)))),
        ...promoteRow,
        m.if(I.eq(scoring.get(), I.const(3)), sparsemixer, [...scores, selection, groupLimit, topk, ...weights]),
        // Record rank by rank; the weight is scaled in f64, then rounded to f32.
        upTo(r, () => k.get(), [
          j.set(I.add(I.mul(t.get(), k.get()), r.get())),
          sti(EX, j.get(), ldi(CX, r.get())),
          m.f32.store(at4(WT, j.get()), m.f32.demote(D.mul(ld(CW, r.get()), scale.get()))),
        ]),
      ]),
      // Counting sort by expert, stable: tokens stay ascending within an expert.
      m.memory.fill(F.get(), I.const(0), I.shl(E.get(), I.const(2))),
      upTo(j, () => tk.get(), [sti(F, ldi(EX, j.get()), I.add(ldi(F, ldi(EX, j.get())), I.const(1)))]),
      sti(counts, I.const(0), I.const(0)),
      upTo(i, () => E.get(), [
        g.set(ldi(counts, i.get())), // start of expert i
        sti(counts, I.add(i.get(), I.const(1)), I.add(g.get(), ldi(F, i.get()))),
        sti(F, i.get(), g.get()),
      ]),
      upTo(t, () => T.get(), [
        upTo(r, () => k.get(), [
          j.set(I.add(I.mul(t.get(), k.get()), r.get())),
          g.set(ldi(EX, j.get())),
          best.set(ldi(F, g.get())), // this assignment's slot
          sti(F, g.get(), I.add(best.get(), I.const(1))),
          sti(tokOut, best.get(), t.get()),
          I.store(at4(wOut, best.get()), I.load(at4(WT, j.get()))),
        ]),
      ]),
    ],
    "route_topk",
  );
}
