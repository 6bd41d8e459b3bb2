// Decoding every storage format of runtime/plan/formats.ts to float32, in TypeScript: the
// TypeScript kernels (backends/js) dequantise rows with it, the reference interpreter runs a
// quantized plan's weights through it, and the load checks read scales with it. The GGUF
// formats go through ggml's reference dequantisers (ggml-quants.ts); the others follow the
// layouts formats.ts documents, computed in float32 steps (Math.fround) as a kernel would.
import { bf16ToF32, e4m3ToF32, f16ToF32 } from "./dtypes.js";
import { dequantizeBlocks } from "./ggml-quants.js";
import { FORMATS, rowBytes, type StorageFormat } from "../plan/formats.js";

const fr = Math.fround;

let f16Table: Float32Array | undefined;
/** binary16 bits → float32, by table. */
export function f16(): Float32Array {
  return (f16Table ??= Float32Array.from({ length: 65536 }, (_, i) => f16ToF32(i)));
}
let e4m3Table: Float32Array | undefined;
function e4m3(): Float32Array {
  return (e4m3Table ??= Float32Array.from({ length: 256 }, (_, i) => e4m3ToF32(i)));
}

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const f32At = (b: Uint8Array, o: number) => {
  const v = new DataView(b.buffer, b.byteOffset + o, 4);
  return v.getFloat32(0, true);
};

/**
 * Decodes one row of K elements of `format` from `src` at byte `at` into `out` at `outAt`.
 * `scale` is the row's scale for channel formats (int8), read from after the rows by the caller.
 */
export function decodeRow(format: StorageFormat, src: Uint8Array, at: number, K: number, out: Float32Array, outAt = 0, scale = 1): void {
  const spec = FORMATS[format];
  if (spec.kind === "block" && "ggml" in spec) {
    const bytes = rowBytes(format, K);
    const view = out.subarray(outAt, outAt + K);
    dequantizeBlocks(spec.ggml, src.subarray(at, at + bytes), K / spec.block, view);
    return;
  }
  const h = f16();
  switch (format) {
    case "f32":
      for (let k = 0; k < K; k++) out[outAt + k] = f32At(src, at + 4 * k);
      return;
    case "f16":
      for (let k = 0; k < K; k++) out[outAt + k] = h[u16(src, at + 2 * k)]!;
      return;
    case "bf16":
      for (let k = 0; k < K; k++) out[outAt + k] = bf16ToF32(u16(src, at + 2 * k));
      return;
    case "int8":
      for (let k = 0; k < K; k++) out[outAt + k] = fr(((src[at + k]! << 24) >> 24) * scale);
      return;
    case "int4_g32":
    case "int4_g64":
    case "int4_g128": {
      const G = spec.block;
      for (let b = 0, o = at; b < K / G; b++, o += spec.blockBytes) {
        const d = h[u16(src, o)]!;
        for (let j = 0; j < G / 2; j++) {
          const q = src[o + 2 + j]!;
          out[outAt + b * G + 2 * j] = fr(((q & 0xf) - 8) * d);
          out[outAt + b * G + 2 * j + 1] = fr(((q >> 4) - 8) * d);
        }
      }
      return;
    }
    case "int4a_g32":
    case "int4a_g64":
    case "int4a_g128": {
      const G = spec.block;
      for (let b = 0, o = at; b < K / G; b++, o += spec.blockBytes) {
        const d = h[u16(src, o)]!;
        const m = h[u16(src, o + 2)]!;
        for (let j = 0; j < G / 2; j++) {
          const q = src[o + 4 + j]!;
          out[outAt + b * G + 2 * j] = fr(fr((q & 0xf) * d) + m);
          out[outAt + b * G + 2 * j + 1] = fr(fr((q >> 4) * d) + m);
        }
      }
      return;
    }
    case "fp8_e4m3": {
      const t = e4m3();
      for (let b = 0, o = at; b < K / 128; b++, o += 132) {
        const d = f32At(src, o);
        for (let j = 0; j < 128; j++) out[outAt + b * 128 + j] = fr(t[src[o + 4 + j]!]! * d);
      }
      return;
    }
    default:
      throw new RangeError(`no decoder for storage format ${format}`);
  }
}

/** Byte offset of the per-row scales of a channel-format weight of `rows` rows (after all the rows). */
export function channelScalesAt(format: StorageFormat, rows: number, K: number): number {
  return rows * rowBytes(format, K);
}

/** The whole weight of `shape` (rows = every dim but the last) stored as `format` in `bytes`, as float32. */
export function decodeWeight(format: StorageFormat, bytes: Uint8Array, shape: readonly number[]): Float32Array {
  const K = shape[shape.length - 1] ?? 1;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(rows * K);
  const rb = rowBytes(format, K);
  const channel = FORMATS[format].kind === "channel";
  const sAt = channelScalesAt(format, rows, K);
  for (let r = 0; r < rows; r++) decodeRow(format, bytes, r * rb, K, out, r * K, channel ? f32At(bytes, sAt + 4 * r) : 1);
  return out;
}

/**
 * The first non-finite value a weight stored as `format` decodes to, found without decoding
 * everything: a block format's values are finite codes times its scales, so only the scales
 * (and, for float codes, the codes) are looked at. Returns the element index, or -1.
 */
export function firstNonFiniteStored(format: StorageFormat, bytes: Uint8Array, shape: readonly number[]): number {
  const K = shape[shape.length - 1] ?? 1;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const spec = FORMATS[format];
  const h = f16();
  const bad = (v: number) => !Number.isFinite(v);
  switch (format) {
    case "f32": {
      const v = new Float32Array(bytes.buffer, bytes.byteOffset, rows * K);
      for (let i = 0; i < v.length; i++) if (bad(v[i]!)) return i;
      return -1;
    }
    case "f16":
      for (let i = 0; i < rows * K; i++) if ((u16(bytes, 2 * i) & 0x7c00) === 0x7c00) return i;
      return -1;
    case "bf16":
      for (let i = 0; i < rows * K; i++) if ((u16(bytes, 2 * i) & 0x7f80) === 0x7f80) return i;
      return -1;
    case "int8": {
      const sAt = channelScalesAt(format, rows, K);
      for (let r = 0; r < rows; r++) if (bad(f32At(bytes, sAt + 4 * r))) return r * K;
      return -1;
    }
    default: {
      // Block formats: the scale fields of each block (and fp8 / mxfp4 NaN codes).
      const nb = (rows * K) / spec.block;
      for (let b = 0, o = 0; b < nb; b++, o += spec.blockBytes) {
        const first = b * spec.block;
        switch (format) {
          case "q8_0": case "q4_0": case "int4_g32": case "int4_g64": case "int4_g128":
            if (bad(h[u16(bytes, o)]!)) return first;
            break;
          case "int4a_g32": case "int4a_g64": case "int4a_g128": case "q4_k": case "q5_k":
            if (bad(h[u16(bytes, o)]!) || bad(h[u16(bytes, o + 2)]!)) return first;
            break;
          case "q6_k":
            if (bad(h[u16(bytes, o + 208)]!)) return first;
            break;
          case "q3_k":
            if (bad(h[u16(bytes, o + 108)]!)) return first;
            break;
          case "q2_k":
            if (bad(h[u16(bytes, o + 80)]!) || bad(h[u16(bytes, o + 82)]!)) return first;
            break;
          case "mxfp4":
            if (bytes[o] === 0xff) return first;
            break;
          case "fp8_e4m3": {
            if (bad(f32At(bytes, o))) return first;
            for (let j = 0; j < 128; j++) if ((bytes[o + 4 + j]! & 0x7f) === 0x7f) return first + j;
            break;
          }
        }
      }
      return -1;
    }
  }
}
