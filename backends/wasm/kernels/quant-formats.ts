// How each integer storage format (runtime/plan/formats.ts) is read by the WASM kernels, in one
// shape: a block is a run of 32-element chunks, and a chunk is two i8x16 vectors of small
// integers v (elements 0–15 and 16–31, or even and odd elements for the int4 formats, whose
// nibbles pair 2j with 2j+1) with a scale a, an integer zero point and an offset c per half:
//   w = a · (v − zero) + c
// The quantized matmul (quant.ts) takes integer dot products of v with int8 activations and
// applies a, zero and c per chunk; the dequantisers turn v into float32 with the same formula,
// in the float32 steps of ggml's dequantize_row_* (a product, then a sum). Values are 0..127
// except for `signed` formats (q8_0, int8: −127..127), as relaxed SIMD's i7 dot product wants.
import type { StorageFormat } from "../../../runtime/plan/formats.js";
import type { Expr, FunctionBuilder, KernelModule, Local } from "../module.js";

export interface Chunk {
  /** Statements that load what v, a and c read. */
  readonly setup: readonly Expr[];
  /** The two value vectors (each expression used once). */
  readonly v: readonly [Expr, Expr];
  /** The scale of a half, as a fresh expression per call. */
  readonly a: (half: 0 | 1) => Expr;
  /** Whether both halves share a and c. */
  readonly uniform: boolean;
  readonly zero: number;
  /** The offset (f32) of a half, or none. */
  readonly c: ((half: 0 | 1) => Expr) | null;
}

export interface IntFormat {
  readonly name: StorageFormat;
  /** Elements and bytes per block. */
  readonly block: number;
  readonly blockBytes: number;
  readonly signed: boolean;
  /** The largest value v takes (|v| for signed formats): bounds the integer sums the dot products may add in i16. */
  readonly maxValue: number;
  /** Chunks hold (even, odd) elements rather than (first 16, last 16). */
  readonly perm: boolean;
  /** Loads a block's scalars (its first byte at `bp`). */
  blockSetup(bp: Local): Expr[];
  /** Chunk c (0 ≤ c < block/32) of the block at `bp`. */
  chunk(bp: Local, c: number): Chunk;
  /**
   * Optional, for 32-element blocks whose one chunk has a = the block's f16 at this byte offset
   * and no c: kernels may read four blocks' scales as one vector (quant.ts).
   */
  readonly scaleF16At?: number;
  /**
   * Optional, for 256-element blocks whose chunks are uniform: every chunk's a and c at once, as
   * f32x4 vectors (lane i of the first of each pair: chunk i, of the second: chunk 4 + i), the
   * same values the chunks' scalar a and c give, decoded with SIMD once per block instead of
   * with scalar loads and shifts per chunk. Run after blockSetup.
   */
  chunkScales?(bp: Local): { readonly setup: readonly Expr[]; readonly a: readonly [Local, Local]; readonly c: readonly [Local, Local] };
}

/** Formats read through chunks (every storage format but the float ones: f32, f16, bf16, fp8_e4m3). */
export const INT_FORMATS = ["int8", "int4_g32", "int4_g64", "int4_g128", "int4a_g32", "int4a_g64", "int4a_g128", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "mxfp4", "q3_k", "q2_k"] as const satisfies readonly StorageFormat[];
export type IntFormatName = (typeof INT_FORMATS)[number];

/** The f16 → f32 helper's name (quant.ts adds it to the module). */
export const F16_TO_F32 = "f16_to_f32";

/**
 * The format's reader inside function `fb`. `rowScale` is the f32 a channel format (int8) takes
 * as its scale: 1 in the integer dot product (the caller scales the row's sum), the row's scale
 * when dequantising.
 */
export function intFormat(m: KernelModule, fb: FunctionBuilder, name: IntFormatName, rowScale: () => Expr): IntFormat {
  const I = m.i32;
  const F = m.f32;
  const V = m.v128;
  const B = m.i8x16;
  const f16 = (p: Expr, o: number) => m.call(F16_TO_F32, [I.load16_u(p, o)], "f32");
  const lo = (q: Local) => V.and(q.get(), B.const(0x0f));
  // The high nibbles by a 16-bit shift and a mask: x86 has no byte shift, and engines lower
  // i8x16.shr_u to the same two instructions plus building the mask each time.
  const hi = (q: Local) => V.and(m.i16x8.shr_u(q.get(), 4), B.const(0x0f));
  const d = fb.local("f32");
  const dmin = fb.local("f32");
  const q = Array.from({ length: 6 }, () => fb.local("v128"));
  const [q0, q1, q2, q3, q4, q5] = q as [Local, Local, Local, Local, Local, Local];
  const base = { name, signed: false, perm: false, maxValue: 15 };

  const int4 = (G: number, zeroPoint: boolean): IntFormat => ({
    ...base,
    perm: true,
    block: G,
    blockBytes: (zeroPoint ? 4 : 2) + G / 2,
    ...(G === 32 && !zeroPoint ? { scaleF16At: 0 } : {}),
    blockSetup: (bp) => [d.set(f16(bp.get(), 0)), ...(zeroPoint ? [dmin.set(f16(bp.get(), 2))] : [])],
    chunk: (bp, c) => ({
      setup: [q0.set(V.load(bp.get(), (zeroPoint ? 4 : 2) + 16 * c))],
      v: [lo(q0), hi(q0)],
      a: () => d.get(),
      uniform: true,
      zero: zeroPoint ? 0 : 8,
      c: zeroPoint ? () => dmin.get() : null,
    }),
  });

  /** A K-quant's 6-bit scale and min of sub-block j (ggml's get_scale_min_k4); scales at bp + 4. */
  const scaleMinK4 = (bp: Local, j: number): [Expr, Expr] => {
    const s = (i: number) => I.load8_u(bp.get(), 4 + i);
    if (j < 4) return [I.and(s(j), I.const(63)), I.and(s(j + 4), I.const(63))];
    return [
      I.or(I.and(s(j + 4), I.const(0xf)), I.shl(I.shr_u(s(j - 4), I.const(6)), I.const(4))),
      I.or(I.shr_u(s(j + 4), I.const(4)), I.shl(I.shr_u(s(j), I.const(6)), I.const(4))),
    ];
  };
  /**
   * scaleMinK4 for all eight sub-blocks in SIMD: bytes 0–7 of one vector the scales, 8–15 the
   * mins, from the twelve bytes at bp + 4 (low six bits of bytes 0–7 for sub-blocks 0–3; for
   * 4–7 a nibble of bytes 8–11 and the top two bits of bytes 0–7), then a = d·scale, c = −dmin·min.
   */
  const kScaleVectors = (bp: Local) => {
    const f = m.f32x4, i4 = m.i32x4, h = m.i16x8;
    const [raw, pick, six] = [fb.local("v128"), fb.local("v128"), fb.local("v128")];
    const [a0, a1, c0, c1] = [fb.local("v128"), fb.local("v128"), fb.local("v128"), fb.local("v128")];
    const lanes4 = (...v: number[]) => B.lanes(v.flatMap((x) => [x, x, x, x]));
    const tops = B.shuffle(raw.get(), raw.get(), [0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 4, 5, 6, 7]);
    const low = V.or(V.and(pick.get(), lanes4(63, 15, 63, 0)), V.and(B.shr_u(pick.get(), 4), lanes4(0, 0, 0, 15)));
    const floats = (v: Expr, high: boolean) => f.convert_i32x4_s(high ? i4.extend_high_i16x8_u(v) : i4.extend_low_i16x8_u(v));
    const [sc, mn] = [fb.local("v128"), fb.local("v128")];
    return {
      setup: [
        raw.set(V.load(bp.get(), 4)),
        pick.set(B.shuffle(raw.get(), raw.get(), [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11])),
        six.set(V.or(low, V.and(B.shr_u(tops, 2), lanes4(0, 0x30, 0, 0x30)))),
        sc.set(h.extend_low_i8x16_u(six.get())),
        mn.set(h.extend_high_i8x16_u(six.get())),
        a0.set(f.mul(f.splat(d.get()), floats(sc.get(), false))),
        a1.set(f.mul(f.splat(d.get()), floats(sc.get(), true))),
        c0.set(f.neg(f.mul(f.splat(dmin.get()), floats(mn.get(), false)))),
        c1.set(f.neg(f.mul(f.splat(dmin.get()), floats(mn.get(), true)))),
      ],
      a: [a0, a1] as const,
      c: [c0, c1] as const,
    };
  };
  const kScales = (bp: Local, j: number) => {
    return { a: () => F.mul(d.get(), F.convert_i32_s(scaleMinK4(bp, j)[0])), c: () => F.neg(F.mul(dmin.get(), F.convert_i32_s(scaleMinK4(bp, j)[1]))) };
  };

  switch (name) {
    case "int8":
      return {
        ...base,
        signed: true,
        maxValue: 127,
        block: 32,
        blockBytes: 32,
        blockSetup: () => [],
        chunk: (bp) => ({ setup: [], v: [V.load(bp.get(), 0), V.load(bp.get(), 16)], a: () => rowScale(), uniform: true, zero: 0, c: null }),
      };
    case "q8_0":
      return {
        ...base,
        signed: true,
        maxValue: 127,
        block: 32,
        blockBytes: 34,
        scaleF16At: 0,
        blockSetup: (bp) => [d.set(f16(bp.get(), 0))],
        chunk: (bp) => ({ setup: [], v: [V.load(bp.get(), 2), V.load(bp.get(), 18)], a: () => d.get(), uniform: true, zero: 0, c: null }),
      };
    case "q4_0":
      return {
        ...base,
        block: 32,
        blockBytes: 18,
        scaleF16At: 0,
        blockSetup: (bp) => [d.set(f16(bp.get(), 0))],
        // Byte j holds element j (low nibble) and j + 16 (high nibble).
        chunk: (bp) => ({ setup: [q0.set(V.load(bp.get(), 2))], v: [lo(q0), hi(q0)], a: () => d.get(), uniform: true, zero: 8, c: null }),
      };
    case "int4_g32":
      return int4(32, false);
    case "int4_g64":
      return int4(64, false);
    case "int4_g128":
      return int4(128, false);
    case "int4a_g32":
      return int4(32, true);
    case "int4a_g64":
      return int4(64, true);
    case "int4a_g128":
      return int4(128, true);
    case "q4_k":
      // d, dmin, scales[12], qs[128]: 32 bytes of qs hold sub-block 2p (low nibbles) and 2p + 1 (high).
      return {
        ...base,
        block: 256,
        blockBytes: 144,
        blockSetup: (bp) => [d.set(f16(bp.get(), 0)), dmin.set(f16(bp.get(), 2))],
        chunk: (bp, c) => {
          const p = c >> 1;
          const setup = c % 2 === 0 ? [q0.set(V.load(bp.get(), 16 + 32 * p)), q1.set(V.load(bp.get(), 32 + 32 * p))] : [];
          const { a, c: off } = kScales(bp, c);
          return { setup, v: c % 2 === 0 ? [lo(q0), lo(q1)] : [hi(q0), hi(q1)], a, uniform: true, zero: 0, c: off };
        },
        chunkScales: kScaleVectors,
      };
    case "q5_k": {
      // d, dmin, scales[12], qh[32] (bit j of qh[l]: the fifth bit of element l of sub-block j), qs[128].
      const high = (h: Local, j: number) => V.and(j <= 4 ? B.shl(h.get(), 4 - j) : B.shr_u(h.get(), j - 4), B.const(0x10));
      return {
        ...base,
        maxValue: 31,
        block: 256,
        blockBytes: 176,
        blockSetup: (bp) => [d.set(f16(bp.get(), 0)), dmin.set(f16(bp.get(), 2)), q2.set(V.load(bp.get(), 16)), q3.set(V.load(bp.get(), 32))],
        chunk: (bp, c) => {
          const p = c >> 1;
          const setup = c % 2 === 0 ? [q0.set(V.load(bp.get(), 48 + 32 * p)), q1.set(V.load(bp.get(), 64 + 32 * p))] : [];
          const { a, c: off } = kScales(bp, c);
          const nib = c % 2 === 0 ? [lo(q0), lo(q1)] : [hi(q0), hi(q1)];
          return { setup, v: [V.or(nib[0]!, high(q2, c)), V.or(nib[1]!, high(q3, c))], a, uniform: true, zero: 0, c: off };
        },
        chunkScales: kScaleVectors,
      };
    }
    case "q6_k": {
      // ql[128], qh[64], scales[16] (int8), d. Half n of the block: ql[64n…], qh[32n…], scales[8n…];
      // group g of 32 elements takes ql[l] (g = 0, 2) or ql[l + 32] (g = 1, 3), low nibbles for g < 2,
      // bits 2g, 2g + 1 of qh[l], and scale 2g + (l ≥ 16).
      const high = (h: Local, g: number) => V.and(2 * g <= 4 ? B.shl(h.get(), 4 - 2 * g) : B.shr_u(h.get(), 2 * g - 4), B.const(0x30));
      return {
        ...base,
        maxValue: 63,
        block: 256,
        blockBytes: 210,
        blockSetup: (bp) => [d.set(f16(bp.get(), 208))],
        chunk: (bp, c) => {
          const n = c >> 2;
          const g = c & 3;
          const setup =
            g === 0
              ? [q0.set(V.load(bp.get(), 64 * n)), q1.set(V.load(bp.get(), 64 * n + 16)), q2.set(V.load(bp.get(), 64 * n + 32)), q3.set(V.load(bp.get(), 64 * n + 48)), q4.set(V.load(bp.get(), 128 + 32 * n)), q5.set(V.load(bp.get(), 144 + 32 * n))]
              : [];
          const [la, lb] = g % 2 === 0 ? [q0, q1] : [q2, q3];
          const nib = (x: Local) => (g < 2 ? lo(x) : hi(x));
          const sc = (h: 0 | 1) => F.mul(d.get(), F.convert_i32_s(I.load8_s(bp.get(), 192 + 8 * n + 2 * g + h)));
          return { setup, v: [V.or(nib(la), high(q4, g)), V.or(nib(lb), high(q5, g))], a: sc, uniform: false, zero: 32, c: null };
        },
      };
    }
    case "q3_k": {
      // hmask[32], qs[64], scales[12], d. Chunk c (sub-blocks 2c, 2c + 1 of 16): half n = c >> 2 of
      // qs, bits 2(c & 3) of its bytes, and bit c of hmask bytes 0–31; v = the two bits + 4·(hmask
      // bit), 0..7, with zero 4 (ggml subtracts 4 where the hmask bit is clear). Scale j (6 bits,
      // offset 32): low nibble of byte j % 8 (high nibble for j ≥ 8), top two bits at 2⌊j/4⌋ of byte 8 + j % 4.
      const scale = (bp: Local, j: number) => {
        const s = (i: number) => I.load8_u(bp.get(), 96 + i);
        const low = j < 8 ? I.and(s(j), I.const(0xf)) : I.shr_u(s(j - 8), I.const(4));
        const top = I.and(I.shr_u(s(8 + (j % 4)), I.const(2 * Math.floor(j / 4))), I.const(3));
        return F.convert_i32_s(I.sub(I.or(low, I.shl(top, I.const(4))), I.const(32)));
      };
      const bits2 = (x: Local, j: number) => V.and(j ? B.shr_u(x.get(), 2 * j) : x.get(), B.const(3));
      const bit3 = (h: Local, c: number) => V.and(c <= 2 ? B.shl(h.get(), 2 - c) : B.shr_u(h.get(), c - 2), B.const(4));
      return {
        ...base,
        maxValue: 7,
        block: 256,
        blockBytes: 110,
        blockSetup: (bp) => [d.set(f16(bp.get(), 108)), q2.set(V.load(bp.get(), 0)), q3.set(V.load(bp.get(), 16))],
        chunk: (bp, c) => {
          const n = c >> 2, j = c & 3;
          const setup = j === 0 ? [q0.set(V.load(bp.get(), 32 + 32 * n)), q1.set(V.load(bp.get(), 48 + 32 * n))] : [];
          return { setup, v: [V.or(bits2(q0, j), bit3(q2, c)), V.or(bits2(q1, j), bit3(q3, c))], a: (h) => F.mul(d.get(), scale(bp, 2 * c + h)), uniform: false, zero: 4, c: null };
        },
      };
    }
    case "q2_k": {
      // scales[16] (low nibble scale, high nibble min of each 16), qs[64], d, dmin. Chunk c: half
      // n = c >> 2 of qs, bits 2(c & 3) of its bytes; w = d·scale · v − dmin·min per 16.
      const sc = (bp: Local, h: number) => I.load8_u(bp.get(), h);
      return {
        ...base,
        maxValue: 3,
        block: 256,
        blockBytes: 84,
        blockSetup: (bp) => [d.set(f16(bp.get(), 80)), dmin.set(f16(bp.get(), 82))],
        chunk: (bp, c) => {
          const n = c >> 2, j = c & 3;
          const setup = j === 0 ? [q0.set(V.load(bp.get(), 16 + 32 * n)), q1.set(V.load(bp.get(), 32 + 32 * n))] : [];
          const bits2 = (x: Local) => V.and(j ? B.shr_u(x.get(), 2 * j) : x.get(), B.const(3));
          return {
            setup,
            v: [bits2(q0), bits2(q1)],
            a: (h) => F.mul(d.get(), F.convert_i32_s(I.and(sc(bp, 2 * c + h), I.const(0xf)))),
            uniform: false,
            zero: 0,
            c: (h) => F.neg(F.mul(dmin.get(), F.convert_i32_s(I.shr_u(sc(bp, 2 * c + h), I.const(4))))),
          };
        },
      };
    }
    case "mxfp4": {
      // [e8m0][16 bytes]: element j in the low nibble of byte j, j + 16 in the high one; E2M1 codes
      // looked up doubled and shifted by 12 (ggml's kvalues_mxfp4 + 12), the scale 2^(e − 128).
      const table = () => B.lanes([12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0]);
      const e = fb.local("i32");
      return {
        ...base,
        maxValue: 24,
        block: 32,
        blockBytes: 17,
        blockSetup: (bp) => [
          e.set(I.load8_u(bp.get(), 0)),
          // GGML_E8M0_TO_FP32_HALF: (e − 1) << 23 for e ≥ 2, the subnormals 2^−128 and 2^−127 below.
          d.set(F.reinterpret_i32(m.select(I.lt_u(e.get(), I.const(2)), I.shl(I.const(0x00200000), e.get()), I.shl(I.sub(e.get(), I.const(1)), I.const(23))))),
        ],
        chunk: (bp) => ({ setup: [q0.set(V.load(bp.get(), 1))], v: [B.swizzle(table(), lo(q0)), B.swizzle(table(), hi(q0))], a: () => d.get(), uniform: true, zero: 12, c: null }),
      };
    }
  }
}

/** Adds `f16_to_f32(h: i32) -> f32` (binary16 bits, subnormals, ±inf and NaN) to the module. */
export function addF16Helper(m: KernelModule): void {
  const fb = m.internal(F16_TO_F32, [["h", "i32"]], "f32");
  const I = m.i32;
  const h = fb.param("h");
  const bits = fb.local("i32");
  const f = fb.local("f32");
  fb.finish([
    bits.set(I.shl(I.and(h.get(), I.const(0x7fff)), I.const(13))),
    f.set(m.f32.mul(m.f32.reinterpret_i32(bits.get()), m.f32.const(2 ** 112))),
    m.if(I.eq(I.and(h.get(), I.const(0x7c00)), I.const(0x7c00)), f.set(m.f32.reinterpret_i32(I.or(bits.get(), I.const(0x7f800000))))),
    m.f32.reinterpret_i32(I.or(I.reinterpret_f32(f.get()), I.shl(I.and(h.get(), I.const(0x8000)), I.const(16)))),
  ]);
}
