// Every storage format of runtime/plan/formats.ts, encoded and decoded in TypeScript, for tests
// that need weights in a format: encode(format, rows, K, values) writes the layout formats.ts
// settles (GGUF blocks byte for byte as ggml's), decode() reads it back — through
// runtime/weights/ggml-quants.ts for the GGUF blocks, by formats.ts's formulas for the others.
// The encoders are simple (max-abs or min/max scales, nearest codes): a kernel test needs valid
// blocks and the values they stand for, not the best quantisation.
import { bf16ToF32, e4m3ToF32, f16ToF32 } from "../../runtime/weights/dtypes.js";
import { dequantize, ggmlTypeByName } from "../../runtime/weights/ggml-quants.js";
import { FORMATS, rowBytes, weightBytes, type StorageFormat } from "../../runtime/plan/formats.js";
import { quantizeQ2_K, quantizeQ3_K } from "../../compiler/quant/ggml.js";

const fr = Math.fround;

/** float32 → IEEE half bits, round to nearest even. */
export function f32ToF16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a < 0x38800000) {
    if (a < 0x33000000) return sign;
    const man = (a & 0x7fffff) | 0x800000;
    const shift = 126 - (a >>> 23);
    let r = man >>> shift;
    const rem = man & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = (a >>> 13) - (112 << 10);
  const rem = a & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++;
  return sign | r;
}

/** float32 → bfloat16 bits, round to nearest even. */
export function f32ToBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

const h16 = (x: number) => f16ToF32(f32ToF16(x));
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

const E4M3_CODES = Array.from({ length: 256 }, (_, b) => e4m3ToF32(b));
function toE4m3(x: number): number {
  let best = 0;
  for (let b = 0; b < 256; b++) if (!Number.isNaN(E4M3_CODES[b]!) && Math.abs(E4M3_CODES[b]! - x) < Math.abs(E4M3_CODES[best]! - x)) best = b;
  return best;
}
const MXFP4 = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/** Encodes values [rows, K] (row-major) in `format`. */
export function encode(format: StorageFormat, rows: number, K: number, x: Float32Array): Uint8Array {
  const out = new Uint8Array(weightBytes(format, [rows, K]));
  const dv = new DataView(out.buffer);
  const rb = rowBytes(format, K);
  const f = FORMATS[format];
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * K, (r + 1) * K);
    const o = r * rb;
    switch (format) {
      case "f32":
        for (let k = 0; k < K; k++) dv.setFloat32(o + 4 * k, row[k]!, true);
        break;
      case "f16":
        for (let k = 0; k < K; k++) dv.setUint16(o + 2 * k, f32ToF16(row[k]!), true);
        break;
      case "bf16":
        for (let k = 0; k < K; k++) dv.setUint16(o + 2 * k, f32ToBf16(row[k]!), true);
        break;
      case "int8": {
        const s = fr(Math.max(1e-30, ...Array.from(row, Math.abs)) / 127);
        for (let k = 0; k < K; k++) dv.setInt8(o + k, clamp(Math.round(row[k]! / s), -127, 127));
        dv.setFloat32(rows * K + 4 * r, s, true);
        break;
      }
      default:
        for (let b = 0; b < K / f.block; b++) encodeBlock(format, row.subarray(b * f.block, (b + 1) * f.block), out, o + b * f.blockBytes);
    }
  }
  return out;
}

function encodeBlock(format: StorageFormat, x: Float32Array, out: Uint8Array, o: number): void {
  const dv = new DataView(out.buffer);
  const amax = Math.max(1e-12, ...Array.from(x, Math.abs));
  if (format.startsWith("int4_")) {
    const d = h16(amax / 7);
    dv.setUint16(o, f32ToF16(d), true);
    for (let i = 0; i < x.length; i++) {
      const q = clamp(Math.round(x[i]! / d) + 8, 0, 15);
      out[o + 2 + (i >> 1)]! |= q << (4 * (i & 1));
    }
  } else if (format.startsWith("int4a_")) {
    const lo = Math.min(...x), hi = Math.max(...x);
    const d = h16(Math.max(1e-8, (hi - lo) / 15)), m = h16(lo);
    dv.setUint16(o, f32ToF16(d), true);
    dv.setUint16(o + 2, f32ToF16(m), true);
    for (let i = 0; i < x.length; i++) out[o + 4 + (i >> 1)]! |= clamp(Math.round((x[i]! - m) / d), 0, 15) << (4 * (i & 1));
  } else if (format === "q8_0") {
    const d = h16(amax / 127);
    dv.setUint16(o, f32ToF16(d), true);
    for (let i = 0; i < 32; i++) dv.setInt8(o + 2 + i, clamp(Math.round(x[i]! / d), -127, 127));
  } else if (format === "q4_0") {
    const d = h16(amax / 7);
    dv.setUint16(o, f32ToF16(d), true);
    for (let i = 0; i < 16; i++) out[o + 2 + i] = clamp(Math.round(x[i]! / d) + 8, 0, 15) | (clamp(Math.round(x[i + 16]! / d) + 8, 0, 15) << 4);
  } else if (format === "mxfp4") {
    const e = clamp(Math.ceil(Math.log2(amax / 12)) + 128, 0, 254);
    const d = 2 ** (e - 128);
    out[o] = e;
    const code = (v: number) => MXFP4.reduce((b, m, i) => (Math.abs(m * d - v) < Math.abs(MXFP4[b]! * d - v) ? i : b), 0);
    for (let i = 0; i < 16; i++) out[o + 1 + i] = code(x[i]!) | (code(x[i + 16]!) << 4);
  } else if (format === "fp8_e4m3") {
    const s = fr(amax / 448);
    dv.setFloat32(o, s, true);
    for (let i = 0; i < 128; i++) out[o + 4 + i] = toE4m3(x[i]! / s);
  } else if (format === "q4_k" || format === "q5_k") {
    const levels = format === "q4_k" ? 15 : 31;
    const scale: number[] = [], min: number[] = [];
    for (let j = 0; j < 8; j++) {
      const sub = x.subarray(32 * j, 32 * j + 32);
      const lo = Math.min(0, ...sub), hi = Math.max(...sub);
      scale.push(Math.max(1e-8, (hi - lo) / levels));
      min.push(-lo);
    }
    const d = h16(Math.max(...scale) / 63), dmin = h16(Math.max(1e-8, ...min) / 63);
    dv.setUint16(o, f32ToF16(d), true);
    dv.setUint16(o + 2, f32ToF16(dmin), true);
    const sc = scale.map((s) => clamp(Math.round(s / d), 1, 63)), mn = min.map((m) => clamp(Math.round(m / dmin), 0, 63));
    const s = o + 4;
    for (let j = 0; j < 8; j++) {
      if (j < 4) {
        out[s + j]! |= sc[j]!;
        out[s + j + 4]! |= mn[j]!;
      } else {
        out[s + j + 4] = (sc[j]! & 0xf) | ((mn[j]! & 0xf) << 4);
        out[s + j - 4]! |= (sc[j]! >> 4) << 6;
        out[s + j]! |= (mn[j]! >> 4) << 6;
      }
    }
    const qsAt = format === "q4_k" ? o + 16 : o + 48;
    for (let j = 0; j < 8; j++) {
      const dj = fr(d * sc[j]!), mj = fr(dmin * mn[j]!);
      for (let l = 0; l < 32; l++) {
        const q = clamp(Math.round((x[32 * j + l]! + mj) / dj), 0, levels);
        out[qsAt + 32 * (j >> 1) + l]! |= (q & 0xf) << (4 * (j & 1));
        if (format === "q5_k" && q & 16) out[o + 16 + l]! |= 1 << j;
      }
    }
  } else if (format === "q6_k") {
    const scales = Array.from({ length: 16 }, (_, g) => Math.max(1e-8, ...Array.from(x.subarray(16 * g, 16 * g + 16), Math.abs)) / 31);
    const d = h16(Math.max(...scales) / 127);
    dv.setUint16(o + 208, f32ToF16(d), true);
    const sc = scales.map((s) => clamp(Math.round(s / d), 1, 127));
    for (let g = 0; g < 16; g++) dv.setInt8(o + 192 + g, sc[g]!);
    for (let n = 0; n < 2; n++) {
      const q = (part: number, l: number) => {
        const e = 128 * n + 32 * part + l;
        return clamp(Math.round(x[e]! / fr(d * sc[8 * n + 2 * part + (l >> 4)]!)) + 32, 0, 63);
      };
      for (let l = 0; l < 32; l++) {
        const [q1, q2, q3, q4] = [q(0, l), q(1, l), q(2, l), q(3, l)];
        out[o + 64 * n + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        out[o + 64 * n + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        out[o + 128 + 32 * n + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  } else if (format === "q3_k") quantizeQ3_K(x, out.subarray(o, o + 110));
  else if (format === "q2_k") quantizeQ2_K(x, out.subarray(o, o + 84));
  else throw new Error(`encode: no encoder for ${format}`);
}

/** Decodes [rows, K] values stored in `format` (the values a kernel must compute with). */
export function decode(format: StorageFormat, rows: number, K: number, bytes: Uint8Array): Float32Array {
  const f = FORMATS[format];
  if (f.ggml && f.ggml !== "F32" && f.ggml !== "F16" && f.ggml !== "BF16") return dequantize(ggmlTypeByName(f.ggml), bytes, rows * K);
  const out = new Float32Array(rows * K);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rb = rowBytes(format, K);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < K; k++) {
      const o = r * rb;
      let v: number;
      switch (format) {
        case "f32": v = dv.getFloat32(o + 4 * k, true); break;
        case "f16": v = f16ToF32(dv.getUint16(o + 2 * k, true)); break;
        case "bf16": v = bf16ToF32(dv.getUint16(o + 2 * k, true)); break;
        case "int8": v = dv.getInt8(o + k); break;  // the row scale multiplies the sum (decodeScaled applies it)
        case "fp8_e4m3": {
          const b = o + Math.floor(k / 128) * 132;
          v = fr(e4m3ToF32(bytes[b + 4 + (k % 128)]!) * dv.getFloat32(b, true));
          break;
        }
        default: {
          const G = f.block, zero = format.startsWith("int4a_");
          const b = o + Math.floor(k / G) * f.blockBytes, i = k % G;
          const nib = (bytes[b + (zero ? 4 : 2) + (i >> 1)]! >> (4 * (i & 1))) & 0xf;
          const d = f16ToF32(dv.getUint16(b, true));
          v = zero ? fr(nib * d + f16ToF32(dv.getUint16(b + 2, true))) : fr((nib - 8) * d);
        }
      }
      out[r * K + k] = v;
    }
  }
  return out;
}

/** The values a weight stands for: decode() with int8's row scales applied (rounded to f32). */
export function decodeScaled(format: StorageFormat, rows: number, K: number, bytes: Uint8Array): Float32Array {
  const v = decode(format, rows, K, bytes);
  if (format !== "int8") return v;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let r = 0; r < rows; r++) {
    const s = dv.getFloat32(rows * K + 4 * r, true);
    for (let k = 0; k < K; k++) v[r * K + k] = fr(v[r * K + k]! * s);
  }
  return v;
}
