// ggml tensor types (as GGUF files store them) and their conversion to float32.
// Plain TypeScript, no dependencies. Block layouts follow ggml's ggml-common.h; every
// dequantiser follows ggml's `dequantize_row_*` reference code, computed in float32 steps
// (Math.fround) so the results match ggml's own float arithmetic.
import { type DType, f16ToF32, toFloat32 } from "./dtypes.js";

export interface GgmlType {
  /** The ggml_type enum value stored in a GGUF tensor info. */
  readonly id: number;
  /** ggml's name for it (F32, Q4_K, ...). */
  readonly name: string;
  /** Elements per block (1 for plain types). A row (ne[0]) must hold whole blocks. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** Whether `dequantize` can convert it to float32. */
  readonly supported: boolean;
}

// [id, name, blockSize, typeSize, supported]. Ids 4, 5 (Q4_2, Q4_3) and 31..33 (Q4_0_4_4 etc.)
// were removed from ggml; files holding them are rejected as unknown types.
const TABLE: readonly (readonly [number, string, number, number, boolean])[] = [
  [0, "F32", 1, 4, true], [1, "F16", 1, 2, true],
  [2, "Q4_0", 32, 18, true], [3, "Q4_1", 32, 20, true],
  [6, "Q5_0", 32, 22, true], [7, "Q5_1", 32, 24, true],
  [8, "Q8_0", 32, 34, true], [9, "Q8_1", 32, 36, false],
  [10, "Q2_K", 256, 84, true], [11, "Q3_K", 256, 110, true], [12, "Q4_K", 256, 144, true],
  [13, "Q5_K", 256, 176, true], [14, "Q6_K", 256, 210, true], [15, "Q8_K", 256, 292, false],
  [16, "IQ2_XXS", 256, 66, false], [17, "IQ2_XS", 256, 74, false], [18, "IQ3_XXS", 256, 98, false],
  [19, "IQ1_S", 256, 50, false], [20, "IQ4_NL", 32, 18, false], [21, "IQ3_S", 256, 110, false],
  [22, "IQ2_S", 256, 82, false], [23, "IQ4_XS", 256, 136, false],
  [24, "I8", 1, 1, true], [25, "I16", 1, 2, true], [26, "I32", 1, 4, true], [27, "I64", 1, 8, true],
  [28, "F64", 1, 8, true], [29, "IQ1_M", 256, 56, false], [30, "BF16", 1, 2, true],
  [34, "TQ1_0", 256, 54, false], [35, "TQ2_0", 256, 66, false], [39, "MXFP4", 32, 17, true],
];

export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map(
  TABLE.map(([id, name, blockSize, typeSize, supported]) => [id, { id, name, blockSize, typeSize, supported }]),
);

const BY_NAME = new Map([...GGML_TYPES.values()].map((t) => [t.name, t]));

/** The type with this ggml name; throws RangeError for an unknown name. */
export function ggmlTypeByName(name: string): GgmlType {
  const t = BY_NAME.get(name);
  if (!t) throw new RangeError(`unknown ggml type ${name}`);
  return t;
}

/** Plain (non-block) ggml types and the safetensors dtype with the same bytes. */
export const PLAIN_DTYPE: Readonly<Record<string, DType>> = {
  F32: "F32", F16: "F16", BF16: "BF16", F64: "F64", I8: "I8", I16: "I16", I32: "I32", I64: "I64",
};

/** Bytes of `n` elements of `t` (n must be a multiple of the block size). */
export function ggmlBytes(t: GgmlType, n: number): number {
  if (n % t.blockSize !== 0) throw new RangeError(`${n} elements of ${t.name} are not whole ${t.blockSize}-element blocks`);
  return (n / t.blockSize) * t.typeSize;
}

// ---- helpers ---------------------------------------------------------------------------

let f16Table: Float32Array | undefined;
function f16(): Float32Array {
  return (f16Table ??= Float32Array.from({ length: 65536 }, (_, i) => f16ToF32(i)));
}
const fr = Math.fround;

/** The 6-bit scale and min number `j` (0..7) of a K-quant super-block (ggml's get_scale_min_k4). */
export function scaleMinK4(j: number, s: Uint8Array, at: number): [number, number] {
  if (j < 4) return [s[at + j]! & 63, s[at + j + 4]! & 63];
  return [(s[at + j + 4]! & 0xf) | ((s[at + j - 4]! >> 6) << 4), (s[at + j + 4]! >> 4) | ((s[at + j]! >> 6) << 4)];
}

/** FP4 E2M1 values doubled (ggml's kvalues_mxfp4); the scale is E8M0 halved. */
const MXFP4_VALUES = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

// ---- dequantisers: (bytes, block count, out) ---------------------------------------------

type Dequant = (b: Uint8Array, nb: number, y: Float32Array, h: Float32Array) => void;

const half = (b: Uint8Array, o: number, h: Float32Array) => h[b[o]! | (b[o + 1]! << 8)]!;

const DEQUANT: Readonly<Record<string, Dequant>> = {
  Q4_0(b, nb, y, h) {
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 18, k += 32) {
      const d = half(b, o, h);
      for (let j = 0; j < 16; j++) {
        const q = b[o + 2 + j]!;
        y[k + j] = ((q & 0xf) - 8) * d;
        y[k + j + 16] = ((q >> 4) - 8) * d;
      }
    }
  },
  Q4_1(b, nb, y, h) {
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 20, k += 32) {
      const d = half(b, o, h), m = half(b, o + 2, h);
      for (let j = 0; j < 16; j++) {
        const q = b[o + 4 + j]!;
        y[k + j] = fr((q & 0xf) * d) + m;
        y[k + j + 16] = fr((q >> 4) * d) + m;
      }
    }
  },
  Q5_0(b, nb, y, h) {
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 22, k += 32) {
      const d = half(b, o, h);
      const qh = (b[o + 2]! | (b[o + 3]! << 8) | (b[o + 4]! << 16) | (b[o + 5]! << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const q = b[o + 6 + j]!;
        const h0 = ((qh >>> j) << 4) & 0x10, h1 = (qh >>> (j + 12)) & 0x10;
        y[k + j] = (((q & 0xf) | h0) - 16) * d;
        y[k + j + 16] = (((q >> 4) | h1) - 16) * d;
      }
    }
  },
  Q5_1(b, nb, y, h) {
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 24, k += 32) {
      const d = half(b, o, h), m = half(b, o + 2, h);
      const qh = (b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const q = b[o + 8 + j]!;
        const h0 = ((qh >>> j) << 4) & 0x10, h1 = (qh >>> (j + 12)) & 0x10;
        y[k + j] = fr(((q & 0xf) | h0) * d) + m;
        y[k + j + 16] = fr(((q >> 4) | h1) * d) + m;
      }
    }
  },
  Q8_0(b, nb, y, h) {
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 34, k += 32) {
      const d = half(b, o, h);
      for (let j = 0; j < 32; j++) y[k + j] = ((b[o + 2 + j]! << 24) >> 24) * d;
    }
  },
  // block_q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin
  Q2_K(b, nb, y, h) {
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 84) {
      const d = half(b, o + 80, h), dmin = half(b, o + 82, h);
      let is = 0;
      for (let n = 0; n < 2; n++) {
        const q = o + 16 + 32 * n;
        for (let shift = 0; shift < 8; shift += 2) {
          for (let half16 = 0; half16 < 2; half16++) {
            const sc = b[o + is++]!;
            const dl = fr(d * (sc & 0xf)), ml = fr(dmin * (sc >> 4));
            for (let l = 0; l < 16; l++) y[k++] = fr(dl * ((b[q + l + 16 * half16]! >> shift) & 3)) - ml;
          }
        }
      }
    }
  },
  // block_q3_K: hmask[32], qs[64], scales[12] (16 6-bit signed scales, offset 32), d
  Q3_K(b, nb, y, h) {
    const sc = new Int8Array(16);
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 110) {
      const dAll = half(b, o + 108, h);
      const s = o + 96;
      for (let j = 0; j < 16; j++) {
        const low = j < 8 ? b[s + j]! & 0xf : b[s + j - 8]! >> 4;
        sc[j] = (low | (((b[s + 8 + (j % 4)]! >> (2 * Math.floor(j / 4))) & 3) << 4)) - 32;
      }
      let is = 0, m = 1;
      for (let n = 0; n < 2; n++) {
        const q = o + 32 + 32 * n;
        for (let shift = 0; shift < 8; shift += 2) {
          for (let half16 = 0; half16 < 2; half16++) {
            const dl = fr(dAll * sc[is++]!);
            for (let l = 0; l < 16; l++) {
              const at = l + 16 * half16;
              y[k++] = dl * (((b[q + at]! >> shift) & 3) - ((b[o + at]! & m) !== 0 ? 0 : 4));
            }
          }
          m <<= 1;
        }
      }
    }
  },
  // block_q4_K: d, dmin, scales[12] (8 6-bit scales and mins), qs[128]
  Q4_K(b, nb, y, h) {
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 144) {
      const d = half(b, o, h), dmin = half(b, o + 2, h);
      for (let j = 0, q = o + 16; j < 8; j += 2, q += 32) {
        const [s1, m1] = scaleMinK4(j, b, o + 4), [s2, m2] = scaleMinK4(j + 1, b, o + 4);
        const d1 = fr(d * s1), mm1 = fr(dmin * m1), d2 = fr(d * s2), mm2 = fr(dmin * m2);
        for (let l = 0; l < 32; l++) y[k++] = fr(d1 * (b[q + l]! & 0xf)) - mm1;
        for (let l = 0; l < 32; l++) y[k++] = fr(d2 * (b[q + l]! >> 4)) - mm2;
      }
    }
  },
  // block_q5_K: d, dmin, scales[12], qh[32], qs[128]
  Q5_K(b, nb, y, h) {
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 176) {
      const d = half(b, o, h), dmin = half(b, o + 2, h);
      const qh = o + 16;
      let u1 = 1, u2 = 2;
      for (let j = 0, q = o + 48; j < 8; j += 2, q += 32, u1 <<= 2, u2 <<= 2) {
        const [s1, m1] = scaleMinK4(j, b, o + 4), [s2, m2] = scaleMinK4(j + 1, b, o + 4);
        const d1 = fr(d * s1), mm1 = fr(dmin * m1), d2 = fr(d * s2), mm2 = fr(dmin * m2);
        for (let l = 0; l < 32; l++) y[k++] = fr(d1 * ((b[q + l]! & 0xf) + (b[qh + l]! & u1 ? 16 : 0))) - mm1;
        for (let l = 0; l < 32; l++) y[k++] = fr(d2 * ((b[q + l]! >> 4) + (b[qh + l]! & u2 ? 16 : 0))) - mm2;
      }
    }
  },
  // block_q6_K: ql[128], qh[64], scales[16] (int8), d
  Q6_K(b, nb, y, h) {
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 210, k += 256) {
      const d = half(b, o + 208, h);
      for (let n = 0; n < 2; n++) {
        const ql = o + 64 * n, qh = o + 128 + 32 * n, sc = o + 192 + 8 * n, out = k + 128 * n;
        for (let l = 0; l < 32; l++) {
          const is = l >> 4;
          const hb = b[qh + l]!;
          const q1 = ((b[ql + l]! & 0xf) | ((hb & 3) << 4)) - 32;
          const q2 = ((b[ql + l + 32]! & 0xf) | (((hb >> 2) & 3) << 4)) - 32;
          const q3 = ((b[ql + l]! >> 4) | (((hb >> 4) & 3) << 4)) - 32;
          const q4 = ((b[ql + l + 32]! >> 4) | (((hb >> 6) & 3) << 4)) - 32;
          const s = (at: number) => (b[sc + at]! << 24) >> 24;
          y[out + l] = fr(d * s(is)) * q1;
          y[out + l + 32] = fr(d * s(is + 2)) * q2;
          y[out + l + 64] = fr(d * s(is + 4)) * q3;
          y[out + l + 96] = fr(d * s(is + 6)) * q4;
        }
      }
    }
  },
  // block_mxfp4: e (E8M0), qs[16]; low nibbles are the first 16 values
  MXFP4(b, nb, y) {
    for (let i = 0, o = 0, k = 0; i < nb; i++, o += 17, k += 32) {
      const e = b[o]!;
      const d = 2 ** (e - 128); // GGML_E8M0_TO_FP32_HALF: half of 2^(e-127)
      for (let j = 0; j < 16; j++) {
        const q = b[o + 1 + j]!;
        y[k + j] = MXFP4_VALUES[q & 0xf]! * d;
        y[k + j + 16] = MXFP4_VALUES[q >> 4]! * d;
      }
    }
  },
};

/**
 * Dequantises `nb` whole blocks of ggml type `name` (a block type: Q8_0, Q4_K, …) from `bytes`
 * (starting at byte 0) into `out` (starting at 0). For kernels that decode a row at a time.
 */
export function dequantizeBlocks(name: string, bytes: Uint8Array, nb: number, out: Float32Array): void {
  const f = DEQUANT[name];
  if (!f) throw new RangeError(`ggml type ${name} has no block dequantiser`);
  f(bytes, nb, out, f16());
}

/**
 * Converts `numel` elements of ggml type `t`, stored in `bytes` (exactly their bytes), to float32.
 * Throws RangeError for a type without a dequantiser or a byte count that does not match.
 */
export function dequantize(t: GgmlType, bytes: Uint8Array, numel: number): Float32Array {
  const want = ggmlBytes(t, numel);
  if (bytes.length !== want) throw new RangeError(`${numel} ${t.name} elements need ${want} bytes, got ${bytes.length}`);
  const plain = PLAIN_DTYPE[t.name];
  if (plain) return toFloat32(plain, bytes, numel);
  const f = DEQUANT[t.name];
  if (!f || !t.supported) throw new RangeError(`cannot convert ggml type ${t.name} to float32`);
  const out = new Float32Array(numel);
  f(bytes, numel / t.blockSize, out, f16());
  return out;
}
