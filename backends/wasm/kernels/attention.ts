// Attention over a KV cache (causal or not; v's head dim may differ from q/k's, as in MLA) for
// one query row and head at a time: scores against
// four keys per step (one q load shared by four key rows, the matmul dot tile), scaled,
// optionally soft-capped, written to the caller's scratch row; a max; exp and the sum (plus
// the sink's logit when given); then out = Σ_j (e_j / denom)·v_j, four value rows per pass
// over the head. The q·k dots and the value accumulation use relaxed madd in the relaxed build.
import type { Expr, KernelModule, Local } from "../module.js";
import { dotTile } from "./matmul.js";
import { VecMath } from "./math.js";
import { dotMadd, Reducer, stripLoop } from "./util.js";


/**
 * `attention(q, k, v, out, T, start, heads, kv_heads, head_dim, v_dim, k_stride, v_stride,
 * scale, window, softcap, sinks, scratch, causal, h0, h1)` computes query heads h0 ≤ h < h1
 * (so workers can split heads). Query t sees keys lo..last with last = start + t when causal, else start + T − 1,
 * and lo = start + t − window + 1 (≥ 0) when window > 0, else 0.
 */
export function addAttention(m: KernelModule): void {
  const fb = m.kernel("attention");
  const [q, k, v, out, T, start, heads, kvHeads, headDim, vDim, kStride, vStride, scale, window, softcap, sinks, scratch, causal, h0, h1] = fb.params as Local[];
  const I = m.i32;
  const P = m.ptr;
  const f = m.f32x4;
  const s = m.f32;
  const c = (n: number) => I.const(n);
  const red = new Reducer(m, fb);
  const vm = new VecMath(m, fb);
  const t = fb.local("i32");
  const h = fb.local("i32");
  const pos = fb.local("i32");
  const lo = fb.local("i32");
  const nk = fb.local("i32");
  const group = fb.local("i32");
  const qp = fb.local("ptr");
  const kbase = fb.local("ptr");
  const vbase = fb.local("ptr");
  const op = fb.local("ptr");
  const j = fb.local("i32");
  const off = fb.local("i32");
  const hdB = fb.local("i32");
  const vdB = fb.local("i32");
  const ksB = fb.local("i32");
  const vsB = fb.local("i32");
  const sv = fb.local("v128");
  const mxv = fb.local("v128");
  const mx = fb.local("f32");
  const sk = fb.local("f32");
  const sumv = fb.local("v128");
  const inv = fb.local("f32");
  const capv = fb.local("v128");
  const one = fb.local("f32");
  const ov = fb.local("v128");
  const wts = Array.from({ length: 4 }, () => fb.local("v128"));
  const vps = Array.from({ length: 4 }, () => fb.local("ptr"));

  const keyRow = (jj: Expr) => P.add(kbase.get(), I.mul(jj, ksB.get()));
  const scr = (jj: Expr) => P.add(scratch.get(), I.shl(jj, c(2)));

  // Scores: four keys per step, then one at a time.
  const d4 = dotTile(m, fb, { tt: 1, tn: 4, ku: 2, xRow: () => qp.get(), wRow: (jj) => keyRow(I.add(j.get(), c(jj))), len: () => headDim.get() });
  const d1 = dotTile(m, fb, { tt: 1, tn: 1, ku: 2, xRow: () => qp.get(), wRow: () => keyRow(j.get()), len: () => headDim.get() });
  const [a0, a1, a2, a3] = d4.acc[0] as [Local, Local, Local, Local];
  const b0 = d1.acc[0]![0]!;
  const scores = [
    j.set(c(0)),
    mxv.set(f.const(-Infinity)),
    m.while(() => I.ge_s(I.sub(nk.get(), j.get()), c(4)), [
      ...d4.code,
      sv.set(f.mul(red.hadd4(a0, a1, a2, a3), f.splat(scale.get()))),
      m.v128.store(scr(j.get()), sv.get()),
      mxv.set(f.max(mxv.get(), sv.get())),
      j.set(I.add(j.get(), c(4))),
    ]),
    m.while(() => I.lt_s(j.get(), nk.get()), [
      ...d1.code,
      one.set(s.mul(red.hsum(b0), scale.get())),
      s.store(scr(j.get()), one.get()),
      mxv.set(f.max(mxv.get(), f.splat(one.get()))),
      j.set(I.add(j.get(), c(1))),
    ]),
    mx.set(red.hmax(mxv)),
  ];
  // Soft-capping: s → c·tanh(s/c), in place; tanh is increasing, so the max maps the same way.
  const cap = (x: Expr) => f.mul(capv.get(), vm.tanh(f.div(x, capv.get())));
  const softcapping = m.if(s.gt(softcap.get(), s.const(0)), [
    capv.set(f.splat(softcap.get())),
    stripLoop(m, off, () => I.shl(nk.get(), c(2)), (l) => [l.store(P.add(scratch.get(), off.get()), cap(l.load(P.add(scratch.get(), off.get()))))]),
    mx.set(f.extractLane(cap(f.splat(mx.get())), 0)),
  ]);
  const softmax = [
    m.if(P.isSet(sinks.get()), [sk.set(s.load(P.add(sinks.get(), I.shl(h.get(), c(2))))), mx.set(s.max(mx.get(), sk.get()))]),
    sumv.set(m.v128.zero()),
    stripLoop(m, off, () => I.shl(nk.get(), c(2)), (l) => [
      sv.set(vm.exp(f.sub(l.load(P.add(scratch.get(), off.get())), f.splat(mx.get())))),
      l.store(P.add(scratch.get(), off.get()), sv.get()),
      sumv.set(f.add(sumv.get(), m.v128.and(sv.get(), l.mask()))),
    ]),
    one.set(red.hsum(sumv)),
    m.if(P.isSet(sinks.get()), one.set(s.add(one.get(), f.extractLane(vm.exp(f.splat(s.sub(sk.get(), mx.get()))), 0)))),
    inv.set(s.div(s.const(1), one.get())),
  ];
  // out = Σ_j w_j·v_j with w_j = e_j / denom.
  const accumulate = (keys: number): Expr[] => [
    ...Array.from({ length: keys }, (_, i) => [
      wts[i]!.set(f.mul(m.v128.load32Splat(scr(I.add(j.get(), c(i)))), f.splat(inv.get()))),
      vps[i]!.set(P.add(vbase.get(), I.mul(I.add(j.get(), c(i)), vsB.get()))),
    ]).flat(),
    stripLoop(m, off, () => vdB.get(), (l) => {
      let o = l.load(P.add(op.get(), off.get()));
      for (let i = 0; i < keys; i++) o = dotMadd(m, wts[i]!.get(), l.load(P.add(vps[i]!.get(), off.get())), o);
      return [ov.set(o), l.store(P.add(op.get(), off.get()), ov.get())];
    }),
    j.set(I.add(j.get(), c(keys))),
  ];
  const weightedSum = [
    m.memory.fill(op.get(), c(0), vdB.get()),
    j.set(c(0)),
    m.while(() => I.ge_s(I.sub(nk.get(), j.get()), c(4)), accumulate(4)),
    m.while(() => I.lt_s(j.get(), nk.get()), accumulate(1)),
  ];

  fb.finish(
    [
      hdB.set(I.shl(headDim.get(), c(2))),
      vdB.set(I.shl(vDim.get(), c(2))),
      ksB.set(I.shl(kStride.get(), c(2))),
      vsB.set(I.shl(vStride.get(), c(2))),
      group.set(I.div_s(heads.get(), kvHeads.get())),
      m.for(t, c(0), () => T.get(), 1, [
        pos.set(I.add(start.get(), t.get())),
        // keys (pos − window, pos] when window > 0
        lo.set(c(0)),
        m.if(I.gt_s(window.get(), c(0)), [lo.set(I.add(I.sub(pos.get(), window.get()), c(1))), m.if(I.lt_s(lo.get(), c(0)), lo.set(c(0)))]),
        // the last key: this row's position (causal), or the pass's last row (bidirectional)
        nk.set(I.add(I.sub(m.select(causal.get(), pos.get(), I.sub(I.add(start.get(), T.get()), c(1))), lo.get()), c(1))),
        m.for(h, h0.get(), () => h1.get(), 1, [
          qp.set(P.add(q.get(), I.mul(I.add(I.mul(t.get(), heads.get()), h.get()), hdB.get()))),
          op.set(P.add(out.get(), I.mul(I.add(I.mul(t.get(), heads.get()), h.get()), vdB.get()))),
          kbase.set(P.add(k.get(), I.mul(lo.get(), ksB.get()), I.mul(I.div_s(h.get(), group.get()), hdB.get()))),
          vbase.set(P.add(v.get(), I.mul(lo.get(), vsB.get()), I.mul(I.div_s(h.get(), group.get()), vdB.get()))),
          ...scores,
          softcapping,
          ...softmax,
          ...weightedSum,
        ]),
      ]),
    ],
    "attention",
  );
}
