// The quantized kernels: `matmul_q` (a matmul whose weights are stored in any storage format,
// dequantisation fused) and `gather_rows_q` (embedding rows from a quantized table).
//
// matmul_q dispatches on the format to one function per format. Each has two paths:
// - decode (T ≤ QUANT_DECODE_ROWS): the activation rows are quantized to int8 blocks of 32 in
//   scratch (quantize_x: scale max|x|/127, round to nearest even, with each block's sum), and every
//   weight chunk meets them in integer dot products — relaxed SIMD's i32x4.relaxed_dot_i8x16_i7x16_add_s
//   in the relaxed build, i16 widening and i32x4.dot_i16x8_s in the plain one — with the scales and
//   zero points applied once per chunk (quant-formats.ts). Where a format allows, the scalar work
//   per chunk is done for several chunks at once: Q4_K/Q5_K decode a block's eight scales and mins
//   with SIMD (chunkScales), blocks of 32 with an f16 scale (q8_0, q4_0, int4_g32) go four at a
//   time with their scales as one vector, and 4/5-bit chunks sum their two halves in i16 before
//   widening (chunkDot). Float formats (f16, bf16, fp8) convert their codes to f32 in registers
//   and multiply-add with x as it is.
// - prefill (more rows): panels of QUANT_PANEL_ROWS weight rows are dequantised to float32 in
//   scratch (as ggml's dequantisers compute them) and the float32 matmul kernel runs over them,
//   so each weight is decoded once for all rows.
import { ENUMS, QUANT_DECODE_ROWS, QUANT_PANEL_ROWS, KERNELS } from "../../../runtime/kernels/catalogue.js";
import type { StorageFormat } from "../../../runtime/plan/formats.js";
import { FORMATS } from "../../../runtime/plan/formats.js";
import { wasmType, type Expr, type FunctionBuilder, type KernelModule, type Local } from "../module.js";
import { addF16Helper, F16_TO_F32, INT_FORMATS, intFormat, type Chunk, type IntFormat, type IntFormatName } from "./quant-formats.js";
import { dotMadd, Reducer } from "./util.js";

const FLOAT_CODES = ["f16", "bf16", "fp8_e4m3"] as const;
type FloatCode = (typeof FLOAT_CODES)[number];

const log2 = (n: number) => Math.round(Math.log2(n));
const code = (f: StorageFormat) => (ENUMS.format as readonly string[]).indexOf(f);

/** Modules that have the helpers both kernels call (f16 conversion, quantize_x, dq_* and mq_* per format). */
const withHelpers = new WeakSet<KernelModule>();

function addHelpers(m: KernelModule): void {
  if (withHelpers.has(m)) return;
  withHelpers.add(m);
  addF16Helper(m);
  addQuantizeX(m);
  for (const f of INT_FORMATS) {
    addDequantInt(m, f);
    addMatmulInt(m, f);
  }
  for (const f of FLOAT_CODES) {
    addDequantFloat(m, f);
    addMatmulFloat(m, f);
  }
  addDequantF32(m);
}

/** `matmul_q(x, w, scales, bias, y, T, K, N, n0, n1, format, scratch)`. */
export function addMatmulQ(m: KernelModule): void {
  addHelpers(m);
  addMatmulQDispatch(m);
}

/** `gather_rows_q(src, scales, idx, dst, count, d, format)`. */
export function addGatherRowsQ(m: KernelModule): void {
  addHelpers(m);
  addGatherDispatch(m);
}

// ---- activations ---------------------------------------------------------------------------

/**
 * quantize_x(x, xq, T, K, perm): T rows of K floats → int8 blocks of 32 (zero-padded to K32,
 * K rounded up to 32). Layout from xq: T·K32 bytes of codes (a block as (even, odd) elements
 * when perm), then f32 d[T·nb], f32 d·Σq [T·nb], i32 Σq per 16 [T·2nb] (natural halves).
 */
function addQuantizeX(m: KernelModule): void {
  const fb = m.internal("quantize_x", [["x", "ptr"], ["xq", "ptr"], ["T", "i32"], ["K", "i32"], ["perm", "i32"]]);
  const [x, xq, T, K, perm] = fb.params as [Local, Local, Local, Local, Local];
  const I = m.i32, P = m.ptr, V = m.v128, F = m.f32, f = m.f32x4, i4 = m.i32x4, B = m.i8x16;
  const c = (v: number) => I.const(v);
  const red = new Reducer(m, fb);
  const [K32, nb, t, b, j, s0, s1, q, pos] = Array.from({ length: 9 }, () => fb.local("i32"));
  const [src, dst, xd, xs, xs16] = Array.from({ length: 5 }, () => fb.local("ptr"));
  const [amax, d, id] = Array.from({ length: 3 }, () => fb.local("f32"));
  const v = Array.from({ length: 8 }, () => fb.local("v128"));
  const qi = Array.from({ length: 8 }, () => fb.local("v128"));
  const [A, Bv, mx] = [fb.local("v128"), fb.local("v128"), fb.local("v128")];
  const blk = () => I.add(I.mul(t.get(), nb!.get()), b!.get());
  const hsumI = (e: Expr) => {
    const u = fb.local("v128");
    return m.valueBlock([u.set(e), I.add(I.add(i4.extractLane(u.get(), 0), i4.extractLane(u.get(), 1)), I.add(i4.extractLane(u.get(), 2), i4.extractLane(u.get(), 3)))], "i32");
  };
  const scales = () => [d.set(F.div(amax.get(), F.const(127))), id.set(m.select(F.gt(amax.get(), F.const(0)), F.div(F.const(127), amax.get()), F.const(0)))];
  const evens = Array.from({ length: 16 }, (_, i) => 2 * i);
  const odds = Array.from({ length: 16 }, (_, i) => 2 * i + 1);
  const full = [
    ...v.map((vi, i) => vi.set(V.load(src.get(), 16 * i))),
    mx.set(f.max(f.max(f.max(f.abs(v[0]!.get()), f.abs(v[1]!.get())), f.max(f.abs(v[2]!.get()), f.abs(v[3]!.get()))), f.max(f.max(f.abs(v[4]!.get()), f.abs(v[5]!.get())), f.max(f.abs(v[6]!.get()), f.abs(v[7]!.get()))))),
    amax.set(red.hmax(mx)),
    ...scales(),
    ...qi.map((qv, i) => qv.set(i4.trunc_sat_f32x4_s(f.nearest(f.mul(v[i]!.get(), f.splat(id.get())))))),
    s0.set(hsumI(i4.add(i4.add(qi[0]!.get(), qi[1]!.get()), i4.add(qi[2]!.get(), qi[3]!.get())))),
    s1.set(hsumI(i4.add(i4.add(qi[4]!.get(), qi[5]!.get()), i4.add(qi[6]!.get(), qi[7]!.get())))),
    A.set(B.narrow_i16x8_s(m.i16x8.narrow_i32x4_s(qi[0]!.get(), qi[1]!.get()), m.i16x8.narrow_i32x4_s(qi[2]!.get(), qi[3]!.get()))),
    Bv.set(B.narrow_i16x8_s(m.i16x8.narrow_i32x4_s(qi[4]!.get(), qi[5]!.get()), m.i16x8.narrow_i32x4_s(qi[6]!.get(), qi[7]!.get()))),
    m.if(
      perm.get(),
      [V.store(dst.get(), B.shuffle(A.get(), Bv.get(), evens)), V.store(dst.get(), B.shuffle(A.get(), Bv.get(), odds), 16)],
      [V.store(dst.get(), A.get()), V.store(dst.get(), Bv.get(), 16)],
    ),
  ];
  // The last block of a row whose K is not a multiple of 32: element by element, zeros past K.
  const inRow = () => I.lt_s(I.add(I.shl(b.get(), c(5)), j.get()), K.get());
  const partial = [
    amax.set(F.const(0)),
    m.for(j, c(0), () => c(32), 1, [m.if(inRow(), amax.set(F.max(amax.get(), F.abs(F.load(P.add(src.get(), I.shl(j.get(), c(2))))))))]),
    ...scales(),
    s0.set(c(0)),
    s1.set(c(0)),
    m.for(j, c(0), () => c(32), 1, [
      q.set(m.select(inRow(), I.trunc_sat_f32_s(F.nearest(F.mul(F.load(P.add(src.get(), I.shl(j.get(), c(2)))), id.get()))), c(0))),
      pos.set(m.select(perm.get(), m.select(I.and(j.get(), c(1)), I.add(c(16), I.shr_u(j.get(), c(1))), I.shr_u(j.get(), c(1))), j.get())),
      I.store8(P.add(dst.get(), pos.get()), q.get()),
      m.if(I.lt_s(j.get(), c(16)), s0.set(I.add(s0.get(), q.get())), s1.set(I.add(s1.get(), q.get()))),
    ]),
  ];
  fb.finish([
    K32.set(I.and(I.add(K.get(), c(31)), c(~31))),
    nb.set(I.shr_u(K32.get(), c(5))),
    xd.set(P.add(xq.get(), I.mul(T.get(), K32.get()))),
    xs.set(P.add(xd.get(), I.shl(I.mul(T.get(), nb.get()), c(2)))),
    xs16.set(P.add(xs.get(), I.shl(I.mul(T.get(), nb.get()), c(2)))),
    m.for(t, c(0), () => T.get(), 1, [
      m.for(b, c(0), () => nb.get(), 1, [
        src.set(P.add(x.get(), I.shl(I.add(I.mul(t.get(), K.get()), I.shl(b.get(), c(5))), c(2)))),
        dst.set(P.add(xq.get(), I.mul(t.get(), K32.get()), I.shl(b.get(), c(5)))),
        m.if(I.le_s(I.add(I.shl(b.get(), c(5)), c(32)), K.get()), full, partial),
        F.store(P.add(xd.get(), I.shl(blk(), c(2))), d.get()),
        F.store(P.add(xs.get(), I.shl(blk(), c(2))), F.mul(d.get(), F.convert_i32_s(I.add(s0.get(), s1.get())))),
        I.store(P.add(xs16.get(), I.shl(blk(), c(3))), s0.get()),
        I.store(P.add(xs16.get(), I.shl(blk(), c(3))), s1.get(), 4),
      ]),
    ]),
  ]);
}

// ---- integer formats ---------------------------------------------------------------------------

/**
 * acc + the dot products of the int8 activations in `X` with the chunk values v (0..127, or
 * signed for q8_0/int8). `tv` holds v meanwhile; `acc` must not write it.
 */
function idot(m: KernelModule, fmt: IntFormat, X: Local, v: Expr, acc: Expr, tv: Local): Expr {
  const B = m.i8x16, i4 = m.i32x4, h = m.i16x8;
  if (m.relaxedSimd) {
    if (!fmt.signed) return i4.relaxedDotI8x16I7x16Add(X.get(), v, acc);
    // Signed weights: |v| (≤ 127; a −128, which quantizers never write, reads as −127) against x with v's sign.
    // The sign mask by a compare (pcmpgtb on x86), not an arithmetic shift by 7 (which x86 lacks for bytes).
    const sign = () => B.lt_s(tv.get(), zeros(m));
    return m.valueBlock([tv.set(v), i4.relaxedDotI8x16I7x16Add(B.sub(m.v128.xor(X.get(), sign()), sign()), B.min_u(B.abs(tv.get()), B.const(127)), acc)], "v128");
  }
  const ext = (e: Expr, high: boolean, signed: boolean) => (high ? (signed ? h.extend_high_i8x16_s(e) : h.extend_high_i8x16_u(e)) : signed ? h.extend_low_i8x16_s(e) : h.extend_low_i8x16_u(e));
  return m.valueBlock(
    [tv.set(v), i4.add(i4.add(i4.dot_i16x8_s(ext(X.get(), false, true), ext(tv.get(), false, fmt.signed)), i4.dot_i16x8_s(ext(X.get(), true, true), ext(tv.get(), true, fmt.signed))), acc)],
    "v128",
  );
}

/**
 * The dot products of a whole chunk (X0·v0 + X1·v1) as i32x4, for a uniform chunk. With relaxed
 * SIMD and values below 32 the two halves' i16 pair sums are added before widening (|lane| ≤
 * 2·2·127·31 < 2^15: exact), one widening instead of two; otherwise two idot.
 */
function chunkDot(m: KernelModule, fmt: IntFormat, X0: Local, v0: Expr, X1: Local, v1: Expr, tmp: Local): Expr {
  if (m.relaxedSimd && fmt.maxValue < 32) return m.i32x4.extadd_pairwise_i16x8_s(m.i16x8.add(m.i16x8.relaxedDotI8x16I7x16(X0.get(), v0), m.i16x8.relaxedDotI8x16I7x16(X1.get(), v1)));
  return idot(m, fmt, X0, v0, idot(m, fmt, X1, v1, zeros(m), tmp), tmp);
}

const zeros = (m: KernelModule) => m.v128.const(new Array<number>(16).fill(0));

/** mq_FORMAT: matmul_q's ABI, for one integer format. */
function addMatmulInt(m: KernelModule, name: IntFormatName): void {
  const fb = m.func(`mq_${name}`, KERNELS.matmul_q.params.map(([n, r]): [string, ReturnType<typeof wasmType>] => [n, wasmType(r)]));
  const [x, w, scales, bias, y, T, K, N, n0, n1, , scratch] = fb.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const I = m.i32, P = m.ptr, V = m.v128, F = m.f32, f = m.f32x4;
  const c = (v: number) => I.const(v);
  const fmt = intFormat(m, fb, name, () => F.const(1));
  const red = new Reducer(m, fb);
  const [rowB, nblocks, K32, nbx, n, t, b] = Array.from({ length: 7 }, () => fb.local("i32"));
  const [wr, bp, xp, dp, sp, s16p, xd, xs, xs16] = Array.from({ length: 9 }, () => fb.local("ptr"));
  const [facc, X0, X1, isum, tmp, isum1] = Array.from({ length: 6 }, () => fb.local("v128"));
  const [off, dx, r, tail] = Array.from({ length: 4 }, () => fb.local("f32"));
  const chunks = fmt.block / 32;
  const chunkCode = (ch: Chunk, ci: number): Expr[] => {
    const [v0, v1] = ch.v;
    const out: Expr[] = [...ch.setup, X0.set(V.load(xp.get(), 32 * ci)), X1.set(V.load(xp.get(), 32 * ci + 16)), dx.set(F.load(dp.get(), 4 * ci))];
    /** The offset per unit of Σx of a half: c − zero·a. */
    const coef = (h: 0 | 1): Expr | null => {
      const z = ch.zero ? F.mul(F.const(-ch.zero), ch.a(h)) : null;
      const cc = ch.c ? ch.c(h) : null;
      return cc && z ? F.add(cc, z) : (cc ?? z);
    };
    if (ch.uniform) {
      out.push(isum.set(chunkDot(m, fmt, X0, v0, X1, v1, tmp)));
      out.push(facc.set(f.add(facc.get(), f.mul(f.convert_i32x4_s(isum.get()), f.splat(F.mul(ch.a(0), dx.get()))))));
      const k = coef(0);
      if (k) out.push(off.set(F.add(off.get(), F.mul(k, F.load(sp.get(), 4 * ci)))));
      return out;
    }
    out.push(isum.set(idot(m, fmt, X0, v0, zeros(m), tmp)), isum1.set(idot(m, fmt, X1, v1, zeros(m), tmp)));
    out.push(facc.set(f.add(facc.get(), f.add(f.mul(f.convert_i32x4_s(isum.get()), f.splat(F.mul(ch.a(0), dx.get()))), f.mul(f.convert_i32x4_s(isum1.get()), f.splat(F.mul(ch.a(1), dx.get())))))));
    const k0 = coef(0), k1 = coef(1);
    if (k0 && k1) {
      const s16 = (h: number) => F.convert_i32_s(I.load(s16p.get(), 8 * ci + 4 * h));
      out.push(off.set(F.add(off.get(), F.mul(dx.get(), F.add(F.mul(k0, s16(0)), F.mul(k1, s16(1)))))));
    }
    return out;
  };
  // With the block's chunk scales as vectors (chunkScales): a·dx for four chunks in one multiply,
  // splatted per chunk from its lane, and the offsets c·(dx·Σx) summed in lanes (offv).
  const vec = fmt.chunkScales?.(bp);
  const [ad0, ad1, offv] = [fb.local("v128"), fb.local("v128"), fb.local("v128")];
  const vecChunk = (ch: Chunk, ci: number): Expr[] => {
    const [v0, v1] = ch.v;
    const ad = ci < 4 ? ad0 : ad1;
    return [
      ...ch.setup,
      X0.set(V.load(xp.get(), 32 * ci)),
      X1.set(V.load(xp.get(), 32 * ci + 16)),
      isum.set(chunkDot(m, fmt, X0, v0, X1, v1, tmp)),
      facc.set(f.add(facc.get(), f.mul(f.convert_i32x4_s(isum.get()), m.v128.shuffle32(ad.get(), ad.get(), [ci % 4, ci % 4, ci % 4, ci % 4])))),
    ];
  };
  const blockBody = (): Expr[] => {
    if (!vec) return Array.from({ length: chunks }, (_, ci) => chunkCode(fmt.chunk(bp, ci), ci)).flat();
    if (chunks !== 8) throw new Error(`chunkScales on ${name}: blocks of 256 only`);
    return [
      ...vec.setup,
      ad0.set(f.mul(vec.a[0].get(), V.load(dp.get(), 0))),
      ad1.set(f.mul(vec.a[1].get(), V.load(dp.get(), 16))),
      offv.set(f.add(offv.get(), f.add(f.mul(vec.c[0].get(), V.load(sp.get(), 0)), f.mul(vec.c[1].get(), V.load(sp.get(), 16))))),
      ...Array.from({ length: chunks }, (_, ci) => vecChunk(fmt.chunk(bp, ci), ci)).flat(),
    ];
  };
  // Blocks of 32 with an f16 scale (scaleF16At): four blocks a step, their scales converted as
  // one vector and multiplied by their four dx at once; the zero point's offsets summed in lanes.
  const group = fmt.scaleF16At !== undefined && chunks === 1;
  const bpi = [bp, fb.local("ptr"), fb.local("ptr"), fb.local("ptr")] as const;
  const [hv, fbits] = [fb.local("v128"), fb.local("v128")];
  const groupBody = (): Expr[] => {
    const at = fmt.scaleF16At!;
    const f16s = [1, 2, 3].reduce((v, i) => m.i32x4.replaceLane(v, i, I.load16_u(P.add(bp.get(), c(i * fmt.blockBytes)), at)), m.i32x4.splat(I.load16_u(bp.get(), at)));
    const out: Expr[] = [
      ...[1, 2, 3].map((i) => bpi[i]!.set(P.add(bp.get(), c(i * fmt.blockBytes)))),
      hv.set(floatLanes(m, "f16", f16s, tmp, fbits)),
      ad0.set(f.mul(hv.get(), V.load(dp.get(), 0))),
    ];
    const zero = fmt.chunk(bp, 0).zero;
    if (zero) out.push(offv.set(f.add(offv.get(), f.mul(f.mul(f.splat(F.const(-zero)), hv.get()), V.load(sp.get(), 0)))));
    for (let i = 0; i < 4; i++) {
      const ch = fmt.chunk(bpi[i]!, 0);
      out.push(
        ...ch.setup,
        X0.set(V.load(xp.get(), 32 * i)),
        X1.set(V.load(xp.get(), 32 * i + 16)),
        isum.set(chunkDot(m, fmt, X0, ch.v[0], X1, ch.v[1], tmp)),
        facc.set(f.add(facc.get(), f.mul(f.convert_i32x4_s(isum.get()), m.v128.shuffle32(ad0.get(), ad0.get(), [i, i, i, i])))),
      );
    }
    return [
      ...out,
      bp.set(P.add(bp.get(), c(4 * fmt.blockBytes))),
      xp.set(P.add(xp.get(), c(128))),
      dp.set(P.add(dp.get(), c(16))),
      sp.set(P.add(sp.get(), c(16))),
      s16p.set(P.add(s16p.get(), c(32))),
    ];
  };
  const rowDot: Expr[] = [
    facc.set(V.const(new Array(16).fill(0))),
    offv.set(V.const(new Array(16).fill(0))),
    off.set(F.const(0)),
    bp.set(wr.get()),
    xp.set(P.add(scratch.get(), I.mul(t.get(), K32.get()))),
    dp.set(P.add(xd.get(), I.shl(I.mul(t.get(), nbx.get()), c(2)))),
    sp.set(P.add(xs.get(), I.shl(I.mul(t.get(), nbx.get()), c(2)))),
    s16p.set(P.add(xs16.get(), I.shl(I.mul(t.get(), nbx.get()), c(3)))),
    ...(group ? [m.for(b, c(0), () => I.sub(nblocks.get(), c(3)), 4, groupBody())] : [b.set(c(0))]),
    m.while(() => I.lt_s(b.get(), nblocks.get()), [
      b.set(I.add(b.get(), c(1))),
      ...fmt.blockSetup(bp),
      ...blockBody(),
      bp.set(P.add(bp.get(), c(fmt.blockBytes))),
      xp.set(P.add(xp.get(), c(fmt.block))),
      dp.set(P.add(dp.get(), c(4 * chunks))),
      sp.set(P.add(sp.get(), c(4 * chunks))),
      s16p.set(P.add(s16p.get(), c(8 * chunks))),
    ]),
    r.set(F.add(red.hsum(facc), vec ? red.hsum(offv) : group ? F.add(off.get(), red.hsum(offv)) : off.get())),
  ];
  if (name === "int8") {
    // The last K % 32 elements (a row of int8 holds any K) in float, then the row's scale.
    const k = b;
    rowDot.push(
      tail.set(F.const(0)),
      m.for(k, I.shl(nblocks.get(), c(5)), () => K.get(), 1, [
        tail.set(F.add(tail.get(), F.mul(F.convert_i32_s(I.load8_s(P.add(wr.get(), k.get()))), F.load(P.add(x.get(), I.shl(I.add(I.mul(t.get(), K.get()), k.get()), c(2))))))),
      ]),
      r.set(F.mul(F.add(r.get(), tail.get()), F.load(P.add(scales.get(), I.shl(n.get(), c(2)))))),
    );
  }
  const store = F.store(P.add(y.get(), I.shl(I.add(I.mul(t.get(), N.get()), n.get()), c(2))), F.add(r.get(), m.ifValue(P.isSet(bias.get()), F.load(P.add(bias.get(), I.shl(n.get(), c(2)))), F.const(0))));
  const decode = [
    m.call("quantize_x", [x.get(), scratch.get(), T.get(), K.get(), c(fmt.perm ? 1 : 0)]),
    K32.set(I.and(I.add(K.get(), c(31)), c(~31))),
    nbx.set(I.shr_u(K32.get(), c(5))),
    xd.set(P.add(scratch.get(), I.mul(T.get(), K32.get()))),
    xs.set(P.add(xd.get(), I.shl(I.mul(T.get(), nbx.get()), c(2)))),
    xs16.set(P.add(xs.get(), I.shl(I.mul(T.get(), nbx.get()), c(2)))),
    m.for(n, n0.get(), () => n1.get(), 1, [wr.set(P.add(w.get(), I.mul(n.get(), rowB.get()))), m.for(t, c(0), () => T.get(), 1, [...rowDot, store])]),
  ];
  fb.finish([
    m.if(I.or(I.le_s(T.get(), c(0)), I.or(I.le_s(K.get(), c(0)), I.ge_s(n0.get(), n1.get()))), m.return()),
    nblocks.set(I.shr_u(K.get(), c(log2(fmt.block)))),
    rowB.set(name === "int8" ? K.get() : I.mul(nblocks.get(), c(fmt.blockBytes))),
    m.if(I.le_s(T.get(), c(QUANT_DECODE_ROWS)), decode, prefill(m, fb, name, rowB, (r) => (name === "int8" ? F.load(P.add(scales.get(), I.shl(r, c(2)))) : F.const(1)))),
  ]);
}

/** dq_FORMAT(src, dst, K, scale): one row of K elements to float32 (scale: a channel format's row scale). */
function addDequantInt(m: KernelModule, name: IntFormatName): void {
  const fb = m.internal(`dq_${name}`, [["src", "ptr"], ["dst", "ptr"], ["K", "i32"], ["scale", "f32"]]);
  const [src, dst, K, scale] = fb.params as [Local, Local, Local, Local];
  const I = m.i32, P = m.ptr, V = m.v128, F = m.f32, f = m.f32x4, h = m.i16x8, i4 = m.i32x4, B = m.i8x16;
  const c = (v: number) => I.const(v);
  const fmt = intFormat(m, fb, name, () => scale.get());
  const [nblocks, b] = [fb.local("i32"), fb.local("i32")];
  const [bp, dp] = [fb.local("ptr"), fb.local("ptr")];
  const [h0, h1, w16] = [fb.local("v128"), fb.local("v128"), fb.local("v128")];
  const interleave = (hi: number) => Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 8 * hi + i / 2 : 16 + 8 * hi + (i - 1) / 2));
  const chunkCode = (ch: Chunk, ci: number): Expr[] => {
    const out: Expr[] = [...ch.setup, h0.set(ch.v[0]), h1.set(ch.v[1])];
    if (fmt.perm) out.push(w16.set(B.shuffle(h0.get(), h1.get(), interleave(0))), h1.set(B.shuffle(h0.get(), h1.get(), interleave(1))), h0.set(w16.get()));
    [h0, h1].forEach((hv, i) => {
      const half = i as 0 | 1;
      out.push(w16.set(ch.zero ? B.sub(hv.get(), B.const(ch.zero)) : hv.get()));
      for (let q = 0; q < 4; q++) {
        const sh = q < 2 ? h.extend_low_i8x16_s(w16.get()) : h.extend_high_i8x16_s(w16.get());
        const iv = q % 2 === 0 ? i4.extend_low_i16x8_s(sh) : i4.extend_high_i16x8_s(sh);
        const prod = f.mul(f.convert_i32x4_s(iv), f.splat(ch.a(half)));
        out.push(V.store(dp.get(), ch.c ? f.add(prod, f.splat(ch.c(half))) : prod, 128 * ci + 64 * half + 16 * q));
      }
    });
    return out;
  };
  const body: Expr[] = [
    nblocks.set(I.shr_u(K.get(), c(log2(fmt.block)))),
    bp.set(src.get()),
    dp.set(dst.get()),
    m.for(b, c(0), () => nblocks.get(), 1, [
      ...fmt.blockSetup(bp),
      ...Array.from({ length: fmt.block / 32 }, (_, ci) => chunkCode(fmt.chunk(bp, ci), ci)).flat(),
      bp.set(P.add(bp.get(), c(fmt.blockBytes))),
      dp.set(P.add(dp.get(), c(4 * fmt.block))),
    ]),
  ];
  if (name === "int8") {
    body.push(m.for(b, I.shl(nblocks.get(), c(5)), () => K.get(), 1, [F.store(P.add(dst.get(), I.shl(b.get(), c(2))), F.mul(F.convert_i32_s(I.load8_s(P.add(src.get(), b.get()))), scale.get()))]));
  }
  fb.finish(body);
}

/**
 * The prefill path: panels of QUANT_PANEL_ROWS rows dequantised into scratch (dq_FORMAT), then the
 * float32 matmul over each panel (its columns n0…, with y and bias offset to them).
 */
function prefill(m: KernelModule, fb: FunctionBuilder, name: StorageFormat, rowB: Local, rowScale: (row: Expr) => Expr): Expr[] {
  const I = m.i32, P = m.ptr;
  const c = (v: number) => I.const(v);
  const [x, w, , bias, y, T, K, N, n0, n1, , scratch] = fb.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const [nb, ne, rr] = [fb.local("i32"), fb.local("i32"), fb.local("i32")];
  const col = () => I.shl(nb.get(), c(2));
  return [
    m.for(nb, n0.get(), () => n1.get(), QUANT_PANEL_ROWS, [
      ne.set(I.add(nb.get(), c(QUANT_PANEL_ROWS))),
      ne.set(I.min_s(ne, n1)),
      m.for(rr, nb.get(), () => ne.get(), 1, [
        m.call(`dq_${name}`, [P.add(w.get(), I.mul(rr.get(), rowB.get())), P.add(scratch.get(), I.shl(I.mul(I.sub(rr.get(), nb.get()), K.get()), c(2))), K.get(), rowScale(rr.get())]),
      ]),
      m.call("matmul", [
        m.abiPtr(x.get()), m.abiPtr(scratch.get()), m.abiPtr(m.select(P.isSet(bias.get()), P.add(bias.get(), col()), bias.get())), m.abiPtr(P.add(y.get(), col())),
        T.get(), K.get(), N.get(), c(0), I.sub(ne.get(), nb.get()),
      ]),
    ]),
  ];
}

// ---- float formats ---------------------------------------------------------------------------

/** f32x4 from four i32 lanes of codes: f16 bits, bf16 bits or e4m3 bytes. */
function floatLanes(m: KernelModule, kind: FloatCode, v: Expr, tmp: Local, bits: Local): Expr {
  const V = m.v128, i4 = m.i32x4, f = m.f32x4;
  const k = (x: number) => i4.const(x);
  if (kind === "bf16") return i4.shl(v, 16);
  if (kind === "f16") {
    return m.valueBlock([
      tmp.set(v),
      bits.set(i4.shl(V.and(tmp.get(), k(0x7fff)), 13)),
      V.or(
        V.bitselect(V.or(bits.get(), k(0x7f800000)), f.mul(bits.get(), f.const(2 ** 112)), i4.eq(V.and(tmp.get(), k(0x7c00)), k(0x7c00))),
        i4.shl(V.and(tmp.get(), k(0x8000)), 16),
      ),
    ], "v128");
  }
  // e4m3: (code & 0x7f) << 20 as float32 bits, times 2^120, covers normals and subnormals; 0x7f is NaN.
  return m.valueBlock([
    tmp.set(v),
    bits.set(V.and(tmp.get(), k(0x7f))),
    V.or(
      V.bitselect(k(0x7fc00000), f.mul(i4.shl(bits.get(), 20), f.const(2 ** 120)), i4.eq(bits.get(), k(0x7f))),
      i4.shl(V.and(tmp.get(), k(0x80)), 24),
    ),
  ], "v128");
}

/** The float32 values of 16 bytes of codes at `p`: 8 (f16, bf16) or 16 (e4m3) elements, as f32x4 vectors. */
function floatVectors(m: KernelModule, kind: FloatCode, raw: Local, tmp: Local, bits: Local): Expr[] {
  const i4 = m.i32x4, h = m.i16x8;
  if (kind !== "fp8_e4m3") return [floatLanes(m, kind, i4.extend_low_i16x8_u(raw.get()), tmp, bits), floatLanes(m, kind, i4.extend_high_i16x8_u(raw.get()), tmp, bits)];
  const wide = (high: boolean) => (high ? h.extend_high_i8x16_u(raw.get()) : h.extend_low_i8x16_u(raw.get()));
  return [i4.extend_low_i16x8_u(wide(false)), i4.extend_high_i16x8_u(wide(false)), i4.extend_low_i16x8_u(wide(true)), i4.extend_high_i16x8_u(wide(true))].map((e) => floatLanes(m, kind, e, tmp, bits));
}

function scalarFloat(m: KernelModule, kind: FloatCode, p: Expr): Expr {
  const I = m.i32;
  if (kind === "bf16") return m.f32.reinterpret_i32(I.shl(I.load16_u(p), I.const(16)));
  return m.call(F16_TO_F32, [I.load16_u(p)], "f32");
}

function addMatmulFloat(m: KernelModule, kind: FloatCode): void {
  const fb = m.func(`mq_${kind}`, KERNELS.matmul_q.params.map(([n, r]): [string, ReturnType<typeof wasmType>] => [n, wasmType(r)]));
  const [x, w, , bias, y, T, K, N, n0, n1] = fb.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const I = m.i32, P = m.ptr, V = m.v128, F = m.f32, f = m.f32x4;
  const c = (v: number) => I.const(v);
  const red = new Reducer(m, fb);
  const [rowB, n, t, k] = Array.from({ length: 4 }, () => fb.local("i32"));
  const [wr, xp, wp] = Array.from({ length: 3 }, () => fb.local("ptr"));
  const [acc0, acc1, bacc, raw, tmp, bits] = Array.from({ length: 6 }, () => fb.local("v128"));
  const [r] = [fb.local("f32")];
  const fp8 = kind === "fp8_e4m3";
  const step = fp8 ? 128 : 8;
  // One step: 8 elements (f16, bf16), or a block of 128 (fp8: two partial sums, then its scale).
  const stepCode: Expr[] = fp8
    ? [
        bacc.set(zeros(m)),
        acc1.set(zeros(m)),
        ...Array.from({ length: 8 }, (_, i) => [
          raw.set(V.load(wp.get(), 4 + 16 * i)),
          ...floatVectors(m, kind, raw, tmp, bits).map((fv, j) => (j % 2 === 0 ? acc1 : bacc).set(dotMadd(m, fv, V.load(xp.get(), 64 * i + 16 * j), (j % 2 === 0 ? acc1 : bacc).get()))),
        ]).flat(),
        acc0.set(dotMadd(m, f.add(bacc.get(), acc1.get()), f.splat(F.load(wp.get())), acc0.get())),
        wp.set(P.add(wp.get(), c(132))),
      ]
    : (() => {
        const [v0, v1] = floatVectors(m, kind, raw, tmp, bits);
        return [raw.set(V.load(wp.get())), acc0.set(dotMadd(m, v0!, V.load(xp.get()), acc0.get())), acc1.set(dotMadd(m, v1!, V.load(xp.get(), 16), acc1.get())), wp.set(P.add(wp.get(), c(16)))];
      })();
  const rowDot: Expr[] = [
    acc0.set(zeros(m)),
    acc1.set(zeros(m)),
    wp.set(wr.get()),
    xp.set(P.add(x.get(), I.shl(I.mul(t.get(), K.get()), c(2)))),
    m.for(k, c(0), () => I.sub(K.get(), c(step - 1)), step, [...stepCode, xp.set(P.add(xp.get(), c(4 * step)))]),
  ];
  if (fp8) rowDot.push(r.set(red.hsum(acc0)));
  else {
    rowDot.push(acc0.set(f.add(acc0.get(), acc1.get())), r.set(red.hsum(acc0)));
    // The last K % 8 elements one by one.
    rowDot.push(m.while(() => I.lt_s(k.get(), K.get()), [r.set(F.add(r.get(), F.mul(scalarFloat(m, kind, wp.get()), F.load(xp.get())))), wp.set(P.add(wp.get(), c(2))), xp.set(P.add(xp.get(), c(4))), k.set(I.add(k.get(), c(1)))]));
  }
  const store = F.store(P.add(y.get(), I.shl(I.add(I.mul(t.get(), N.get()), n.get()), c(2))), F.add(r.get(), m.ifValue(P.isSet(bias.get()), F.load(P.add(bias.get(), I.shl(n.get(), c(2)))), F.const(0))));
  const rowBytes = fp8 ? I.mul(I.shr_u(K.get(), c(7)), c(132)) : I.shl(K.get(), c(1));
  fb.finish([
    m.if(I.or(I.le_s(T.get(), c(0)), I.or(I.le_s(K.get(), c(0)), I.ge_s(n0.get(), n1.get()))), m.return()),
    rowB.set(rowBytes),
    m.if(
      I.le_s(T.get(), c(QUANT_DECODE_ROWS)),
      [m.for(n, n0.get(), () => n1.get(), 1, [wr.set(P.add(w.get(), I.mul(n.get(), rowB.get()))), m.for(t, c(0), () => T.get(), 1, [...rowDot, store])])],
      prefill(m, fb, kind, rowB, () => F.const(1)),
    ),
  ]);
}

function addDequantFloat(m: KernelModule, kind: FloatCode): void {
  const fb = m.internal(`dq_${kind}`, [["src", "ptr"], ["dst", "ptr"], ["K", "i32"], ["scale", "f32"]]);
  const [src, dst, K] = fb.params as [Local, Local, Local, Local];
  const I = m.i32, P = m.ptr, V = m.v128, F = m.f32, f = m.f32x4;
  const c = (v: number) => I.const(v);
  const k = fb.local("i32");
  const [sp, dp] = [fb.local("ptr"), fb.local("ptr")];
  const [raw, tmp, bits] = [fb.local("v128"), fb.local("v128"), fb.local("v128")];
  const fp8 = kind === "fp8_e4m3";
  const body: Expr[] = fp8
    ? [
        m.for(k, c(0), () => K.get(), 128, [
          ...Array.from({ length: 8 }, (_, i) => [raw.set(V.load(sp.get(), 4 + 16 * i)), ...floatVectors(m, kind, raw, tmp, bits).map((fv, j) => V.store(dp.get(), f.mul(fv, f.splat(F.load(sp.get()))), 64 * i + 16 * j))]).flat(),
          sp.set(P.add(sp.get(), c(132))),
          dp.set(P.add(dp.get(), c(512))),
        ]),
      ]
    : [
        m.for(k, c(0), () => I.sub(K.get(), c(7)), 8, [raw.set(V.load(sp.get())), ...floatVectors(m, kind, raw, tmp, bits).map((fv, j) => V.store(dp.get(), fv, 16 * j)), sp.set(P.add(sp.get(), c(16))), dp.set(P.add(dp.get(), c(32)))]),
        m.while(() => I.lt_s(k.get(), K.get()), [F.store(dp.get(), scalarFloat(m, kind, sp.get())), sp.set(P.add(sp.get(), c(2))), dp.set(P.add(dp.get(), c(4))), k.set(I.add(k.get(), c(1)))]),
      ];
  fb.finish([sp.set(src.get()), dp.set(dst.get()), ...body]);
}

function addDequantF32(m: KernelModule): void {
  const fb = m.internal("dq_f32", [["src", "ptr"], ["dst", "ptr"], ["K", "i32"], ["scale", "f32"]]);
  const [src, dst, K] = fb.params as [Local, Local, Local, Local];
  fb.finish([m.memory.copy(dst.get(), src.get(), m.i32.shl(K.get(), m.i32.const(2)))]);
}

// ---- the exported kernels -------------------------------------------------------------------------

/** matmul_q: dispatch on the format (f32 is the float32 matmul itself). */
function addMatmulQDispatch(m: KernelModule): void {
  const fb = m.kernel("matmul_q");
  const format = fb.param("format");
  const I = m.i32;
  const a = fb.abiArgs();
  const body: Expr[] = [m.if(I.eq(format.get(), I.const(code("f32"))), [m.call("matmul", [a[0]!, a[1]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!]), m.return()])];
  for (const f of [...INT_FORMATS, ...FLOAT_CODES]) body.push(m.if(I.eq(format.get(), I.const(code(f))), [m.call(`mq_${f}`, fb.abiArgs()), m.return()]));
  body.push(m.unreachable());
  fb.finish(body, "matmul_q");
}

/** gather_rows_q: each row dequantised by its format's dq_FORMAT. */
function addGatherDispatch(m: KernelModule): void {
  const fb = m.kernel("gather_rows_q");
  const [src, scales, idx, dst, count, d, format] = fb.params as Local[] as [Local, Local, Local, Local, Local, Local, Local];
  const I = m.i32, P = m.ptr, F = m.f32;
  const c = (v: number) => I.const(v);
  const [i, row, rowB] = [fb.local("i32"), fb.local("i32"), fb.local("i32")];
  const body: Expr[] = [];
  for (const f of ["f32", ...INT_FORMATS, ...FLOAT_CODES] as const) {
    const spec = FORMATS[f];
    const rb = f === "int8" ? d.get() : I.mul(I.shr_u(d.get(), c(log2(spec.block))), c(spec.blockBytes));
    body.push(
      m.if(I.eq(format.get(), c(code(f))), [
        rowB.set(rb),
        m.for(i, c(0), () => count.get(), 1, [
          row.set(I.load(P.add(idx.get(), I.shl(i.get(), c(2))))),
          m.call(`dq_${f}`, [P.add(src.get(), I.mul(row.get(), rowB.get())), P.add(dst.get(), I.shl(I.mul(i.get(), d.get()), c(2))), d.get(), f === "int8" ? F.load(P.add(scales.get(), I.shl(row.get(), c(2)))) : F.const(1)]),
        ]),
        m.return(),
      ]),
    );
  }
  body.push(m.unreachable());
  fb.finish(body, "gather_rows_q");
}
