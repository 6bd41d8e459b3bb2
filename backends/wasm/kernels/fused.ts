// The fused expert kernels (runtime/kernels/fused.ts): the matmul dot tiles of matmul.ts with
// a different epilogue. Neither blocks K, so each output's sum is whole before the epilogue
// (SwiGLU is not linear; a scatter-add cannot take partial sums): a row of x (one expert's
// intermediate or input, K ≤ a few thousand) stays in L1 while the weight rows stream.
//
// glu_matmul: decode (one row) streams each gate and up row alone with eight accumulators, as
// matmul's decode does; more rows go in pairs × two output columns (four weight rows: two gate,
// two up), eight accumulators, each weight vector loaded once for both rows, and a last odd row
// takes one row × four columns (eight weight rows at once). Every gate
// and up row streams as the two unfused matmuls stream them, but in one pass, with one kernel
// launch (one thread hand-off) and no [T, 2N] intermediate. The SwiGLU is the swiglu kernel's
// (elementwise.ts), lane for lane.
//
// matmul_scatter_add: decode streams each weight row alone (eight accumulators); more rows go
// two token rows (then one) × four weight rows, summed, plus bias, times
// each row's routing weight, added into that token's output row: the matmul and
// scatter_add_rows in one, with the same roundings ((w·y) rounded, then added).
import type { Expr, KernelModule, Local } from "../module.js";
import { dotTile } from "./matmul.js";
import { VecMath } from "./math.js";
import { Reducer } from "./util.js";

/** `glu_matmul(x, wg, wu, w_row, bg, bu, b_step, y, T, K, N, n0, n1, alpha, limit, up_offset)`. */
export function addGluMatmul(m: KernelModule): void {
  const fb = m.kernel("glu_matmul");
  const [x, wg, wu, wRow, bg, bu, bStep, y, T, K, N, n0, n1, alpha, limit, upOffset] = fb.params as Local[] as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const I = m.i32;
  const P = m.ptr;
  const f = m.f32x4;
  const c = (v: number) => I.const(v);
  const red = new Reducer(m, fb);
  const vm = new VecMath(m, fb);
  const [n, t, kB, wrB, yB] = [fb.local("i32"), fb.local("i32"), fb.local("i32"), fb.local("i32"), fb.local("i32")];
  const [gv, uv, bgv, buv, av, lim, offv, hv] = Array.from({ length: 8 }, () => fb.local("v128")) as [Local, Local, Local, Local, Local, Local, Local, Local];

  /** Biases of columns n … n + lanes − 1 (b_step floats apart), zeros where there is none. */
  const biasLanes = (b: Local, lanes: number): Expr => {
    let v: Expr = m.v128.zero();
    for (let j = 0; j < lanes; j++) v = f.replaceLane(v, j, m.f32.load(P.add(b.get(), I.shl(I.mul(I.add(n.get(), c(j)), bStep.get()), c(2)))));
    return m.ifValue(P.isSet(b.get()), v, m.v128.zero());
  };
  /** The swiglu kernel's arithmetic on gv, uv (elementwise.ts addSwiglu). */
  const act = (): Expr => {
    const g = f.min(gv.get(), lim.get());
    return m.valueBlock([gv.set(g), f.mul(f.mul(gv.get(), vm.sigmoid(f.mul(gv.get(), av.get()))), f.add(f.max(f.min(uv.get(), lim.get()), f.neg(lim.get())), offv.get()))], "v128");
  };
  const xRow = (i: number) => P.add(x.get(), I.mul(I.add(t.get(), c(i)), kB.get()));
  const wRowAt = (w: Local, j: number) => P.add(w.get(), I.mul(I.add(n.get(), c(j)), wrB.get()));
  const yAt = (i: number, col: number) => P.add(y.get(), I.mul(I.add(t.get(), c(i)), yB.get()), I.shl(I.add(n.get(), c(col)), c(2)));

  // One token row × four columns: rows 0-3 of the tile are gate rows n…n+3, rows 4-7 the up rows.
  const quad = dotTile(m, fb, { tt: 1, tn: 8, ku: 1, xRow, wRow: (j) => (j < 4 ? wRowAt(wg, j) : wRowAt(wu, j - 4)), len: () => K.get() });
  const q = quad.acc[0]! as [Local, Local, Local, Local, Local, Local, Local, Local];
  /**
   * Two token rows × two columns (from n + col): four weight rows (gate col, col + 1, up col, col + 1)
   * loaded once for both rows — prefill, where an expert has several tokens.
   */
  const pair = (col: number): Expr[] => {
    const d = dotTile(m, fb, { tt: 2, tn: 4, ku: 1, xRow, wRow: (j) => (j < 2 ? wRowAt(wg, col + j) : wRowAt(wu, col + j - 2)), len: () => K.get() });
    const lanes = (v: Local) => (col === 0 ? v.get() : m.v128.shuffle32(v.get(), v.get(), [2, 3, 2, 3]));
    const out: Expr[] = [...d.code];
    for (let i = 0; i < 2; i++) {
      const [a0, a1, a2, a3] = d.acc[i]! as [Local, Local, Local, Local];
      // [g_col, g_col+1, u_col, u_col+1]: gate sums in lanes 0-1 of gv, up sums in lanes 0-1 of uv.
      out.push(hv.set(red.hadd4(a0, a1, a2, a3)), gv.set(f.add(hv.get(), lanes(bgv))), uv.set(f.add(m.v128.shuffle32(hv.get(), hv.get(), [2, 3, 2, 3]), lanes(buv))), m.v128.store64Lane(yAt(i, col), act(), 0));
    }
    return out;
  };
  /**
   * Decode (T = 1): four columns, each gate and up row streamed alone with eight accumulators
   * along K, as the catalogue's matmul decodes (matmul.ts: weights streamed from DRAM go ~1.4×
   * faster one row at a time than with several rows in flight); the sums gathered into lanes.
   */
  const decodeQuad = (): Expr[] => {
    const out: Expr[] = [];
    for (const [w, v] of [[wg, gv], [wu, uv]] as const)
      for (let j = 0; j < 4; j++) {
        const d = dotTile(m, fb, { tt: 1, tn: 1, ku: 8, xRow, wRow: () => wRowAt(w, j), len: () => K.get() });
        out.push(...d.code, v.set(f.replaceLane(j === 0 ? m.v128.zero() : v.get(), j, red.hsum(d.acc[0]![0]!))));
      }
    return out;
  };
  // One column (the last N mod 4): gate and up rows, four accumulators each along K.
  const one = dotTile(m, fb, { tt: 1, tn: 2, ku: 4, xRow, wRow: (j) => wRowAt(j === 0 ? wg : wu, 0), len: () => K.get() });
  const [og, ou] = one.acc[0]! as [Local, Local];

  fb.finish(
    [
      m.if(I.or(I.le_s(T.get(), c(0)), I.or(I.le_s(K.get(), c(0)), I.ge_s(n0.get(), n1.get()))), m.return()),
      kB.set(I.shl(K.get(), c(2))),
      wrB.set(I.shl(wRow.get(), c(2))),
      yB.set(I.shl(N.get(), c(2))),
      av.set(f.splat(alpha.get())),
      // limit ≤ 0: no clamp (as the swiglu kernel)
      lim.set(f.splat(m.select(m.f32.gt(limit.get(), m.f32.const(0)), limit.get(), m.f32.const(Infinity)))),
      offv.set(f.splat(upOffset.get())),
      n.set(n0.get()),
      m.while(() => I.ge_s(I.sub(n1.get(), n.get()), c(4)), [
        bgv.set(biasLanes(bg, 4)),
        buv.set(biasLanes(bu, 4)),
        t.set(c(0)),
        m.if(
          I.eq(T.get(), c(1)),
          [...decodeQuad(), gv.set(f.add(gv.get(), bgv.get())), uv.set(f.add(uv.get(), buv.get())), m.v128.store(yAt(0, 0), act())],
          [
            m.while(() => I.ge_s(I.sub(T.get(), t.get()), c(2)), [...pair(0), ...pair(2), t.set(I.add(t.get(), c(2)))]),
            m.if(I.lt_s(t.get(), T.get()), [
              ...quad.code,
              gv.set(f.add(red.hadd4(q[0], q[1], q[2], q[3]), bgv.get())),
              uv.set(f.add(red.hadd4(q[4], q[5], q[6], q[7]), buv.get())),
              m.v128.store(yAt(0, 0), act()),
            ]),
          ],
        ),
        n.set(I.add(n.get(), c(4))),
      ]),
      m.while(() => I.lt_s(n.get(), n1.get()), [
        bgv.set(biasLanes(bg, 1)),
        buv.set(biasLanes(bu, 1)),
        m.for(t, c(0), () => T.get(), 1, [
          ...one.code,
          hv.set(red.hadd4(og, ou, og, ou)),
          gv.set(f.add(f.splat(f.extractLane(hv.get(), 0)), bgv.get())),
          uv.set(f.add(f.splat(f.extractLane(hv.get(), 1)), buv.get())),
          m.v128.store32Lane(yAt(0, 0), act(), 0),
        ]),
        n.set(I.add(n.get(), c(1))),
      ]),
    ],
    "glu_matmul",
  );
}

/** `matmul_scatter_add(x, w, bias, idx, weights, dst, T, K, N, n0, n1)`. */
export function addMatmulScatterAdd(m: KernelModule): void {
  const fb = m.kernel("matmul_scatter_add");
  const [x, w, bias, idx, weights, dst, T, K, N, n0, n1] = fb.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const I = m.i32;
  const P = m.ptr;
  const f = m.f32x4;
  const c = (v: number) => I.const(v);
  const red = new Reducer(m, fb);
  const [n, t, kB, yB] = [fb.local("i32"), fb.local("i32"), fb.local("i32"), fb.local("i32")];
  const [bv, hv] = [fb.local("v128"), fb.local("v128")];
  const dp = fb.local("ptr");

  const xRow = (i: number) => P.add(x.get(), I.mul(I.add(t.get(), c(i)), kB.get()));
  const wRowAt = (j: number) => P.add(w.get(), I.mul(I.add(n.get(), c(j)), kB.get()));
  /** Row t + i's routing weight in every lane (1 without weights). */
  const weight = (i: number) => m.ifValue(P.isSet(weights.get()), m.v128.load32Splat(P.add(weights.get(), I.shl(I.add(t.get(), c(i)), c(2)))), f.const(1));
  /** Where row t + i's output columns from n start. */
  const dstAt = (i: number) => P.add(dst.get(), I.mul(I.load(P.add(idx.get(), I.shl(I.add(t.get(), c(i)), c(2)))), yB.get()), I.shl(n.get(), c(2)));
  /** (weight·(sum + bias)) added to dst: the products rounded, no fused multiply-add (as scatter_add_rows). */
  const addVec = (i: number, sum: Expr): Expr[] => [dp.set(dstAt(i)), m.v128.store(dp.get(), f.add(m.v128.load(dp.get()), f.mul(weight(i), f.add(sum, bv.get()))))];
  const addLane = (i: number, sum: Expr): Expr[] => [dp.set(dstAt(i)), m.v128.store32Lane(dp.get(), f.add(m.v128.load32Zero(dp.get()), f.mul(weight(i), f.add(sum, bv.get()))), 0)];

  const tile = (tt: number, tn: number, ku: number, store: (i: number, acc: Local[]) => Expr[]): Expr[] => {
    const d = dotTile(m, fb, { tt, tn, ku, xRow, wRow: wRowAt, len: () => K.get() });
    return [...d.code, ...Array.from({ length: tt }, (_, i) => store(i, d.acc[i]!)).flat()];
  };
  const quad = (i: number, a: Local[]) => addVec(i, red.hadd4(a[0]!, a[1]!, a[2]!, a[3]!));
  const single = (i: number, a: Local[]) => [hv.set(red.hadd4(a[0]!, a[0]!, a[0]!, a[0]!)), ...addLane(i, hv.get())];
  const bias1 = () => bv.set(m.ifValue(P.isSet(bias.get()), m.v128.load32Zero(P.add(bias.get(), I.shl(n.get(), c(2)))), m.v128.zero()));
  const rows = (tn: number, ku: number, store: (i: number, acc: Local[]) => Expr[]): Expr[] => [
    t.set(c(0)),
    m.while(() => I.ge_s(I.sub(T.get(), t.get()), c(2)), [...tile(2, tn, ku, store), t.set(I.add(t.get(), c(2)))]),
    m.if(I.lt_s(t.get(), T.get()), tile(1, tn, 2 * ku, store)),
  ];

  fb.finish(
    [
      m.if(I.or(I.le_s(T.get(), c(0)), I.or(I.le_s(K.get(), c(0)), I.ge_s(n0.get(), n1.get()))), m.return()),
      kB.set(I.shl(K.get(), c(2))),
      yB.set(I.shl(N.get(), c(2))),
      n.set(n0.get()),
      t.set(c(0)),
      m.if(
        I.eq(T.get(), c(1)),
        // Decode: each weight row streamed alone with eight accumulators along K (as matmul decodes).
        [m.while(() => I.lt_s(n.get(), n1.get()), [bias1(), ...tile(1, 1, 8, single), n.set(I.add(n.get(), c(1)))])],
        [
          m.while(() => I.ge_s(I.sub(n1.get(), n.get()), c(4)), [
            bv.set(m.ifValue(P.isSet(bias.get()), m.v128.load(P.add(bias.get(), I.shl(n.get(), c(2)))), m.v128.zero())),
            ...rows(4, 1, quad),
            n.set(I.add(n.get(), c(4))),
          ]),
          m.while(() => I.lt_s(n.get(), n1.get()), [bias1(), ...rows(1, 2, single), n.set(I.add(n.get(), c(1)))]),
        ],
      ),
    ],
    "matmul_scatter_add",
  );
}
