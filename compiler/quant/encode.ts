// float32 → every storage format of runtime/plan/formats.ts, laid out as the kernels read it:
// the quantize pass writes weights with it, and a checkpoint's float tensors become the plan's
// format with it. The GGUF formats use ggml's reference quantisers (ggml.ts); the others:
//   int8      per row: scale = max|w| / 127, q = round(w / scale)
//   int4_gG   per group, as Q4_0: d = (the value of largest magnitude) / −8, q = min(15, ⌊w/d + 8.5⌋)
//   int4a_gG  per group: scale = (max − min) / 15, q = round((w − min) / scale), scale and min as stored (f16)
//   fp8_e4m3  per 128: scale = max|w| / 448, codes rounded to nearest even
import { FORMATS, rowBytes, weightBytes, type StorageFormat } from "../../runtime/plan/formats.js";
import { bf16Bits, e4m3Bits, f16Bits, f16Value } from "./half.js";
import { quantizeMxfp4, quantizeQ2_K, quantizeQ3_K, quantizeQ4_0, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K, quantizeQ8_0 } from "./ggml.js";

const fr = Math.fround;

type RowsEncoder = (x: Float32Array, out: Uint8Array) => void;

function int4(G: number): RowsEncoder {
  const bytes = 2 + G / 2;
  return (x, out) => {
    for (let b = 0, o = 0; b < x.length / G; b++, o += bytes) {
      let amax = 0, max = 0;
      for (let j = 0; j < G; j++) {
        const v = x[b * G + j]!;
        if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
      }
      const bits = f16Bits(max / -8);
      const d = f16Value(bits), id = d ? 1 / d : 0;
      out[o] = bits & 0xff;
      out[o + 1] = bits >> 8;
      for (let j = 0; j < G / 2; j++) {
        const q0 = Math.max(0, Math.min(15, Math.floor(x[b * G + 2 * j]! * id + 8.5)));
        const q1 = Math.max(0, Math.min(15, Math.floor(x[b * G + 2 * j + 1]! * id + 8.5)));
        out[o + 2 + j] = q0 | (q1 << 4);
      }
    }
  };
}

function int4a(G: number): RowsEncoder {
  const bytes = 4 + G / 2;
  return (x, out) => {
    for (let b = 0, o = 0; b < x.length / G; b++, o += bytes) {
      let lo = Infinity, hi = -Infinity;
      for (let j = 0; j < G; j++) {
        lo = Math.min(lo, x[b * G + j]!);
        hi = Math.max(hi, x[b * G + j]!);
      }
      const sBits = f16Bits((hi - lo) / 15), mBits = f16Bits(lo);
      const d = f16Value(sBits), m = f16Value(mBits), id = d ? 1 / d : 0;
      out[o] = sBits & 0xff;
      out[o + 1] = sBits >> 8;
      out[o + 2] = mBits & 0xff;
      out[o + 3] = mBits >> 8;
      for (let j = 0; j < G / 2; j++) {
        const q0 = Math.max(0, Math.min(15, Math.round((x[b * G + 2 * j]! - m) * id)));
        const q1 = Math.max(0, Math.min(15, Math.round((x[b * G + 2 * j + 1]! - m) * id)));
        out[o + 4 + j] = q0 | (q1 << 4);
      }
    }
  };
}

const fp8: RowsEncoder = (x, out) => {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let b = 0, o = 0; b < x.length / 128; b++, o += 132) {
    let amax = 0;
    for (let j = 0; j < 128; j++) amax = Math.max(amax, Math.abs(x[b * 128 + j]!));
    const d = fr(amax / 448), id = d ? 1 / d : 0;
    dv.setFloat32(o, d, true);
    for (let j = 0; j < 128; j++) out[o + 4 + j] = e4m3Bits(x[b * 128 + j]! * id);
  }
};

/** Encoders of whole rows (any number of them, back to back) for the formats without a per-row scale table. */
const ROWS: Record<Exclude<StorageFormat, "int8">, RowsEncoder> = {
  f32: (x, out) => new Uint8Array(out.buffer, out.byteOffset, x.byteLength).set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)),
  f16: (x, out) => {
    for (let i = 0; i < x.length; i++) {
      const h = f16Bits(x[i]!);
      out[2 * i] = h & 0xff;
      out[2 * i + 1] = h >> 8;
    }
  },
  bf16: (x, out) => {
    for (let i = 0; i < x.length; i++) {
      const h = bf16Bits(x[i]!);
      out[2 * i] = h & 0xff;
      out[2 * i + 1] = h >> 8;
    }
  },
  int4_g32: int4(32),
  int4_g64: int4(64),
  int4_g128: int4(128),
  int4a_g32: int4a(32),
  int4a_g64: int4a(64),
  int4a_g128: int4a(128),
  q8_0: quantizeQ8_0,
  q4_0: quantizeQ4_0,
  q4_k: quantizeQ4_K,
  q5_k: quantizeQ5_K,
  q6_k: quantizeQ6_K,
  mxfp4: quantizeMxfp4,
  fp8_e4m3: fp8,
  q3_k: quantizeQ3_K,
  q2_k: quantizeQ2_K,
};

/**
 * Writes `data` (float32, `shape`, rows = every dim but the last) into `out` as `format`.
 * `out` must hold exactly weightBytes(format, shape) bytes. Throws RangeError when a row is
 * not whole blocks of the format.
 */
export function encodeInto(format: StorageFormat, data: Float32Array, shape: readonly number[], out: Uint8Array): void {
  const K = shape[shape.length - 1] ?? 1;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const need = weightBytes(format, shape);
  if (out.byteLength !== need) throw new RangeError(`a [${shape.join(", ")}] weight as ${format} takes ${need} bytes, not ${out.byteLength}`);
  if (data.length !== rows * K) throw new RangeError(`a [${shape.join(", ")}] weight has ${rows * K} elements, not ${data.length}`);
  if (format !== "int8") {
    ROWS[format](data, out);
    return;
  }
  const rb = rowBytes(format, K);
  const scales = new DataView(out.buffer, out.byteOffset + rows * rb, 4 * rows);
  for (let r = 0; r < rows; r++) {
    let amax = 0;
    for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(data[r * K + k]!));
    const s = fr(amax / 127), is = s ? 1 / s : 0;
    scales.setFloat32(4 * r, s, true);
    for (let k = 0; k < K; k++) out[r * rb + k] = Math.max(-127, Math.min(127, Math.round(data[r * K + k]! * is))) & 0xff;
  }
}

/** `data` as `format`, in a new buffer. */
export function encodeWeight(format: StorageFormat, data: Float32Array, shape: readonly number[]): Uint8Array {
  const out = new Uint8Array(weightBytes(format, shape));
  encodeInto(format, data, shape, out);
  return out;
}

/** Whether a format quantizes (stores fewer bits than float16 with scales): the ones the quantize pass chooses. */
export function isQuantized(format: StorageFormat): boolean {
  return FORMATS[format].kind !== "float" || format === "fp8_e4m3";
}
