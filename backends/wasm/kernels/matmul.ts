// Matrix multiplication, the kernels that decide decode and prefill speed.
//
// matmul (W [N, K], nn.Linear): every output is a dot product along K, so the inner tile
// holds TT token rows × TN weight rows of f32x4 partial sums (× KU independent copies along
// K in the decode tile, to hide the add latency), loads each W vector once for all TT
// tokens, and reduces the partial sums horizontally at the end (four outputs per shuffle
// tree). Decode (T = 1) streams W once, one row at a time with eight accumulators. Prefill
// tiles the loop nest over K (a K block of the x tile stays in L1) and over N (a panel of W
// stays in L1/L2 while every token tile passes over it); partial sums of later K blocks are
// added to y. The tile shapes are per build (MATMUL_CONFIG, MATMUL_CONFIG_PLAIN).
//
// matmul_kn (W [K, N], GPT-OSS stacked experts): outputs are contiguous along N, so the
// tile is an outer product: each step splats x[t, k] and multiplies whole W row vectors,
// with no horizontal reduction. Decode walks a block of KBD rows of W column tile by column
// tile (KBD sequential streams), accumulating in y between blocks.
//
// K tails (K % 4) run the same tile body one lane at a time (v128.load32_zero), so every
// shape takes the vector code path.
import type { Expr, FunctionBuilder, KernelModule, Local } from "../module.js";
import { dotMadd, Reducer } from "./util.js";

export interface MatmulConfig {
  /** Prefill: K elements per cache block. */
  readonly kBlock: number;
  /** Prefill: rows of W (matmul) per L2 panel. */
  readonly nBlock: number;
  /**
   * Register tiles [TT token rows, TN weight rows, KU accumulators along K], largest TT
   * first; the last must have TT = 1. Token rows take the largest tile that fits, then the
   * next. A tile keeps TT·TN·KU accumulators, min(TT, TN) vectors of the smaller side and
   * one streaming vector in registers (V8 has 15 usable on x64).
   */
  readonly tiles: readonly (readonly [number, number, number])[];
  /** Decode (T = 1): [TN weight rows, KU accumulators along K], streaming all of W once. */
  readonly decodeTile: readonly [number, number];
}

export interface MatmulKnConfig {
  /** Prefill: rows of W (K) per block and columns per panel. */
  readonly kBlock: number;
  readonly nBlock: number;
  /** Decode: rows of W per block (that many sequential streams). */
  readonly kBlockDecode: number;
  /** Vectors of 4 columns per tile for 4, 2 and 1 token rows. */
  readonly vecs4: number;
  readonly vecs2: number;
  readonly vecs1: number;
  /** K rows per loop iteration. */
  readonly kUnroll: number;
}

/**
 * Decode reads each weight row as one sequential stream with 8 accumulators along K: weights
 * streamed from DRAM (any real model) go about 1.4× faster than with four rows in flight (16–17
 * to 23 GB/s for 6.3 MB matrices on Zen 4, one thread), though matrices that sit in L3 go 1.3×
 * slower — small models only.
 */
const DECODE_TILE = [1, 8] as const;

/**
 * The relaxed-SIMD build's tiles, measured on Zen 4 / V8 13.6 (sweeps of T = 1…256 over
 * weights streamed from DRAM): 2 token rows × 6 weight rows keeps 12 accumulators, and six
 * weight streams in flight keep the small per-expert matmuls of prefill (2–16 rows) near the
 * memory rate; 7–25% faster than 4 × 2 from 4 to 256 rows.
 */
export const MATMUL_CONFIG: MatmulConfig = {
  kBlock: 2048,
  nBlock: 24,
  tiles: [
    [2, 6, 1],
    [1, 4, 2],
  ],
  decodeTile: DECODE_TILE,
};
/**
 * The plain SIMD128 build's: its multiply-add needs a register for the product, so 2 × 6
 * spills there; 2 × 4 is its best (same sweeps).
 */
export const MATMUL_CONFIG_PLAIN: MatmulConfig = {
  kBlock: 2048,
  nBlock: 16,
  tiles: [
    [2, 4, 1],
    [1, 4, 2],
  ],
  decodeTile: DECODE_TILE,
};

export const MATMUL_KN_CONFIG: MatmulKnConfig = { kBlock: 256, nBlock: 64, kBlockDecode: 8, vecs4: 2, vecs2: 4, vecs1: 4, kUnroll: 1 };

export interface DotTileSpec {
  /** Rows of x (the vectors reused across W rows) and rows of W. */
  readonly tt: number;
  readonly tn: number;
  /** Independent accumulators along K. */
  readonly ku: number;
  /** Pointer to the first element of x row i / W row j (evaluated once). */
  xRow(i: number): Expr;
  wRow(j: number): Expr;
  /** Elements to sum (≥ 0). */
  len(): Expr;
}

/**
 * Emits acc[i][j] = Σ_k x_i[k]·w_j[k] as f32x4 partial sums (sum the four lanes for the dot
 * product). Uses relaxed madd in the relaxed build.
 */
export function dotTile(m: KernelModule, fb: FunctionBuilder, spec: DotTileSpec): { code: Expr[]; acc: Local[][] } {
  const I = m.i32;
  const P = m.ptr;
  const { tt, tn, ku } = spec;
  const xp = Array.from({ length: tt }, () => fb.local("ptr"));
  const wp = Array.from({ length: tn }, () => fb.local("ptr"));
  // The smaller side stays in registers and the other streams through one register:
  // TT·TN accumulators + min(TT, TN) + 1 vectors live.
  const wLive = tn <= tt;
  const live = Array.from({ length: Math.min(tt, tn) }, () => fb.local("v128"));
  const stream = fb.local("v128");
  const acc = Array.from({ length: ku }, () => Array.from({ length: tt }, () => Array.from({ length: tn }, () => fb.local("v128"))));
  const c = fb.local("i32");
  const step = (u: number, tail: boolean): Expr[] => {
    const ld = (p: Local) => (tail ? m.v128.load32Zero(p.get()) : m.v128.load(p.get(), 16 * u));
    const [liveP, streamP] = wLive ? [wp, xp] : [xp, wp];
    const out: Expr[] = live.map((v, i) => v.set(ld(liveP[i]!)));
    for (let s = 0; s < streamP.length; s++) {
      out.push(stream.set(ld(streamP[s]!)));
      for (let l = 0; l < live.length; l++) {
        const [i, j] = wLive ? [s, l] : [l, s];
        const a = acc[u]![i]![j]!;
        out.push(a.set(dotMadd(m, wLive ? stream.get() : live[l]!.get(), wLive ? live[l]!.get() : stream.get(), a.get())));
      }
    }
    return out;
  };
  const advance = (bytes: number): Expr[] => [...xp, ...wp].map((p) => p.set(P.add(p.get(), I.const(bytes))));
  const code: Expr[] = [
    ...xp.map((p, i) => p.set(spec.xRow(i))),
    ...wp.map((p, j) => p.set(spec.wRow(j))),
    ...acc.flat(2).map((a) => a.set(m.v128.zero())),
    c.set(spec.len()),
    m.while(() => I.ge_s(c.get(), I.const(4 * ku)), [...Array.from({ length: ku }, (_, u) => step(u, false)).flat(), ...advance(16 * ku), c.set(I.sub(c.get(), I.const(4 * ku)))]),
  ];
  if (ku > 1) code.push(m.while(() => I.ge_s(c.get(), I.const(4)), [...step(0, false), ...advance(16), c.set(I.sub(c.get(), I.const(4)))]));
  code.push(m.while(() => I.gt_s(c.get(), I.const(0)), [...step(0, true), ...advance(4), c.set(I.sub(c.get(), I.const(1)))]));
  for (let u = 1; u < ku; u++) for (let i = 0; i < tt; i++) for (let j = 0; j < tn; j++) code.push(acc[0]![i]![j]!.set(m.f32x4.add(acc[0]![i]![j]!.get(), acc[u]![i]![j]!.get())));
  return { code, acc: acc[0]! };
}


/** The loop nest shared by both layouts: N panels, K blocks, then token tiles (rowSizes), or the decode rows when T = 1. */
interface Nest {
  readonly t: Local;
  readonly n: Local;
  readonly nb: Local;
  readonly ne: Local;
  readonly kb: Local;
  readonly klen: Local;
  readonly first: Local;
}

/** `rowSizes`: token rows per tile, largest first, ending with 1; each size runs while it fits. */
function loopNest(
  m: KernelModule,
  fb: FunctionBuilder,
  nbStepPrefill: number,
  kbStepPrefill: number,
  kbStepDecode: Expr | null,
  rowSizes: readonly number[],
  rowTiles: (tt: number, nest: Nest) => Expr[],
  decodeRows: ((nest: Nest) => Expr[]) | null = null,
): Expr[] {
  if (rowSizes[rowSizes.length - 1] !== 1) throw new Error("matmul: the last row tile must take 1 token row");
  const I = m.i32;
  const c = (v: number) => I.const(v);
  const T = fb.param("T");
  const K = fb.param("K");
  const n0 = fb.param("n0");
  const n1 = fb.param("n1");
  const nest: Nest = { t: fb.local("i32"), n: fb.local("i32"), nb: fb.local("i32"), ne: fb.local("i32"), kb: fb.local("i32"), klen: fb.local("i32"), first: fb.local("i32") };
  const { t, nb, ne, kb, klen, first } = nest;
  const nbStep = fb.local("i32");
  const kbStep = fb.local("i32");
  const decode = () => I.eq(T.get(), c(1));
  return [
    m.if(I.or(I.le_s(T.get(), c(0)), I.or(I.le_s(K.get(), c(0)), I.ge_s(n0.get(), n1.get()))), m.return()),
    nbStep.set(m.select(decode(), I.sub(n1.get(), n0.get()), c(nbStepPrefill))),
    kbStep.set(m.select(decode(), kbStepDecode ?? K.get(), c(kbStepPrefill))),
    m.for(nb, n0.get(), () => n1.get(), () => nbStep.get(), [
      ne.set(I.add(nb.get(), nbStep.get())),
      ne.set(I.min_s(ne, n1)),
      m.for(kb, c(0), () => K.get(), () => kbStep.get(), [
        klen.set(I.sub(K.get(), kb.get())),
        klen.set(I.min_s(klen, kbStep)),
        first.set(I.eqz(kb.get())),
        t.set(c(0)),
        ...(decodeRows
          ? [m.if(decode(), decodeRows(nest), rowSizes.map((tt) => m.while(() => I.ge_s(I.sub(T.get(), t.get()), c(tt)), [...rowTiles(tt, nest), t.set(I.add(t.get(), c(tt)))])))]
          : rowSizes.map((tt) => m.while(() => I.ge_s(I.sub(T.get(), t.get()), c(tt)), [...rowTiles(tt, nest), t.set(I.add(t.get(), c(tt)))]))),
      ]),
    ]),
  ];
}

/** `matmul(x, w, bias, y, T, K, N, n0, n1)`: y[t, n] = Σ_k x[t, k]·w[n, k] (+ bias[n]) for n0 ≤ n < n1. */
export function addMatmul(m: KernelModule, cfg: MatmulConfig = MATMUL_CONFIG): void {
  const name = "matmul";
  const fb = m.kernel(name);
  const [x, w, bias, y, , K, N] = fb.params as Local[] as [Local, Local, Local, Local, Local, Local, Local];
  const I = m.i32;
  const P = m.ptr;
  const f = m.f32x4;
  const c = (v: number) => I.const(v);
  const red = new Reducer(m, fb);
  const kB = fb.local("i32");
  const yB = fb.local("i32");
  const yp = fb.local("ptr");
  const hv = fb.local("v128");

  const tile = (tt: number, tn: number, ku: number, nest: Nest): Expr[] => {
    const { t, n, kb, klen, first } = nest;
    const d = dotTile(m, fb, {
      tt,
      tn,
      ku,
      xRow: (i) => P.add(x.get(), I.mul(I.add(t.get(), c(i)), kB.get()), I.shl(kb.get(), c(2))),
      wRow: (j) => P.add(w.get(), I.mul(I.add(n.get(), c(j)), kB.get()), I.shl(kb.get(), c(2))),
      len: () => klen.get(),
    });
    const out = [...d.code];
    if (tn % 4 === 0) {
      // Four outputs of one token row per shuffle tree, stored as one vector.
      for (let i = 0; i < tt; i++)
        for (let g = 0; g < tn; g += 4) {
          const [a0, a1, a2, a3] = d.acc[i]!.slice(g, g + 4) as [Local, Local, Local, Local];
          const col = () => I.shl(I.add(n.get(), c(g)), c(2));
          out.push(
            yp.set(P.add(y.get(), I.mul(I.add(t.get(), c(i)), yB.get()), col())),
            m.v128.store(yp.get(), f.add(red.hadd4(a0, a1, a2, a3), m.ifValue(first.get(), m.ifValue(P.isSet(bias.get()), m.v128.load(P.add(bias.get(), col())), m.v128.zero()), m.v128.load(yp.get())))),
          );
        }
      return out;
    }
    // Other tiles: reduce four accumulators at a time, then finish each output as a scalar.
    const flat: [number, number][] = [];
    for (let i = 0; i < tt; i++) for (let j = 0; j < tn; j++) flat.push([i, j]);
    for (let g = 0; g < flat.length; g += 4) {
      const group = flat.slice(g, g + 4);
      const locs = [0, 1, 2, 3].map((q) => {
        const [i, j] = group[Math.min(q, group.length - 1)]!;
        return d.acc[i]![j]!;
      }) as [Local, Local, Local, Local];
      out.push(hv.set(red.hadd4(...locs)));
      group.forEach(([i, j], q) => {
        const col = I.add(n.get(), c(j));
        out.push(
          yp.set(P.add(y.get(), I.mul(I.add(t.get(), c(i)), yB.get()), I.shl(I.add(n.get(), c(j)), c(2)))),
          m.f32.store(
            yp.get(),
            m.f32.add(m.f32x4.extractLane(hv.get(), q), m.ifValue(first.get(), m.ifValue(P.isSet(bias.get()), m.f32.load(P.add(bias.get(), I.shl(col, c(2)))), m.f32.const(0)), m.f32.load(yp.get()))),
          ),
        );
      });
    }
    return out;
  };

  const rowTiles = (tt: number, nest: Nest, shape = cfg.tiles.find(([rows]) => rows === tt)!): Expr[] => {
    const [, tn, ku] = shape;
    const { n, nb, ne } = nest;
    return [
      n.set(nb.get()),
      m.while(() => I.ge_s(I.sub(ne.get(), n.get()), c(tn)), [...tile(tt, tn, ku, nest), n.set(I.add(n.get(), c(tn)))]),
      m.while(() => I.lt_s(n.get(), ne.get()), [...tile(tt, 1, tt === 1 ? 4 : 2, nest), n.set(I.add(n.get(), c(1)))]),
    ];
  };

  fb.finish([kB.set(I.shl(K.get(), c(2))), yB.set(I.shl(N.get(), c(2))), ...loopNest(m, fb, cfg.nBlock, cfg.kBlock, null, cfg.tiles.map(([tt]) => tt), rowTiles, (nest) => rowTiles(1, nest, [1, ...cfg.decodeTile]))], name);
}

/** `matmul_kn(x, w, bias, y, T, K, N, n0, n1)`: y[t, n] = Σ_k x[t, k]·w[k, n] (+ bias[n]) for n0 ≤ n < n1. */
export function addMatmulKn(m: KernelModule, cfg: MatmulKnConfig = MATMUL_KN_CONFIG): void {
  const name = "matmul_kn";
  const fb = m.kernel(name);
  const [x, w, bias, y, , K, N] = fb.params as Local[] as [Local, Local, Local, Local, Local, Local, Local];
  const I = m.i32;
  const P = m.ptr;
  const c = (v: number) => I.const(v);
  const kB = fb.local("i32");
  const nB = fb.local("i32");
  const wp = fb.local("ptr");
  const cnt = fb.local("i32");
  const xs = fb.local("v128");
  const maxT = 4;
  const maxV = Math.max(cfg.vecs4, cfg.vecs2, cfg.vecs1, 1);
  const xp = Array.from({ length: maxT }, () => fb.local("ptr"));
  const wv = Array.from({ length: maxV }, () => fb.local("v128"));
  const acc = Array.from({ length: maxT }, () => Array.from({ length: maxV }, () => fb.local("v128")));

  /** TT tokens × V vectors of 4 columns; `tail`: one column (lane 0). */
  const tile = (tt: number, vecs: number, tail: boolean, nest: Nest): Expr[] => {
    const { t, n, kb, klen, first } = nest;
    const ld = (p: Expr, o: number) => (tail ? m.v128.load32Zero(p, o) : m.v128.load(p, o));
    const st = (p: Expr, v: Expr, o: number) => (tail ? m.v128.store32Lane(p, v, 0, o) : m.v128.store(p, v, o));
    const yRow = (i: number) => P.add(y.get(), I.mul(I.add(t.get(), c(i)), nB.get()), I.shl(n.get(), c(2)));
    const out: Expr[] = [];
    for (let i = 0; i < tt; i++) {
      out.push(xp[i]!.set(P.add(x.get(), I.mul(I.add(t.get(), c(i)), kB.get()), I.shl(kb.get(), c(2)))));
      for (let j = 0; j < vecs; j++) {
        out.push(acc[i]![j]!.set(m.ifValue(first.get(), m.ifValue(P.isSet(bias.get()), ld(P.add(bias.get(), I.shl(n.get(), c(2))), 16 * j), m.v128.zero()), ld(yRow(i), 16 * j))));
      }
    }
    // One k row: W vectors of row k (at wp), x[t + i, k] at xp_i + 4u.
    const row = (u: number): Expr[] => {
      const body: Expr[] = [];
      for (let j = 0; j < vecs; j++) body.push(wv[j]!.set(ld(wp.get(), 16 * j)));
      for (let i = 0; i < tt; i++) {
        body.push(xs.set(m.v128.load32Splat(xp[i]!.get(), 4 * u)));
        for (let j = 0; j < vecs; j++) body.push(acc[i]![j]!.set(dotMadd(m, xs.get(), wv[j]!.get(), acc[i]![j]!.get())));
      }
      body.push(wp.set(P.add(wp.get(), nB.get())));
      return body;
    };
    const steps = (count: number): Expr[] => [
      ...Array.from({ length: count }, (_, u) => row(u)).flat(),
      ...xp.slice(0, tt).map((p) => p.set(P.add(p.get(), c(4 * count)))),
      cnt.set(I.sub(cnt.get(), c(count))),
    ];
    const U = cfg.kUnroll;
    out.push(
      wp.set(P.add(w.get(), I.mul(kb.get(), nB.get()), I.shl(n.get(), c(2)))),
      cnt.set(klen.get()),
      m.while(() => I.ge_s(cnt.get(), c(U)), steps(U)),
    );
    if (U > 1) out.push(m.while(() => I.gt_s(cnt.get(), c(0)), steps(1)));
    for (let i = 0; i < tt; i++) for (let j = 0; j < vecs; j++) out.push(st(yRow(i), acc[i]![j]!.get(), 16 * j));
    return out;
  };

  const rowTiles = (tt: number, nest: Nest): Expr[] => {
    const vecs = tt === 4 ? cfg.vecs4 : tt === 2 ? cfg.vecs2 : cfg.vecs1;
    const { n, nb, ne } = nest;
    const loops: Expr[] = [n.set(nb.get())];
    for (const v of vecs > 1 ? [vecs, 1] : [1]) {
      loops.push(m.while(() => I.ge_s(I.sub(ne.get(), n.get()), c(4 * v)), [...tile(tt, v, false, nest), n.set(I.add(n.get(), c(4 * v)))]));
    }
    loops.push(m.while(() => I.lt_s(n.get(), ne.get()), [...tile(tt, 1, true, nest), n.set(I.add(n.get(), c(1)))]));
    return loops;
  };

  fb.finish([kB.set(I.shl(K.get(), c(2))), nB.set(I.shl(N.get(), c(2))), ...loopNest(m, fb, cfg.nBlock, cfg.kBlock, I.const(cfg.kBlockDecode), [4, 2, 1], rowTiles)], name);
}
