// Element types of safetensors files and their conversions to float32.
// Plain TypeScript, no dependencies. All multi-byte data is little-endian,
// as the safetensors format prescribes.

/** Bits per element, keyed by the dtype names safetensors uses. */
export const DTYPE_BITS = {
  F64: 64, F32: 32, F16: 16, BF16: 16,
  I64: 64, I32: 32, I16: 16, I8: 8,
  U64: 64, U32: 32, U16: 16, U8: 8, BOOL: 8,
  F8_E4M3: 8, F8_E5M2: 8, F8_E8M0: 8,
  F6_E2M3: 6, F6_E3M2: 6, F4: 4,
} as const;

export type DType = keyof typeof DTYPE_BITS;

export function isDType(s: unknown): s is DType {
  return typeof s === "string" && Object.hasOwn(DTYPE_BITS, s);
}

/** Bytes taken by `numel` elements, or undefined if they do not fill whole bytes (packed sub-byte dtypes). */
export function byteSize(dtype: DType, numel: number): number | undefined {
  const bits = numel * DTYPE_BITS[dtype];
  return bits % 8 === 0 ? bits / 8 : undefined;
}

// ---- scalar conversions ---------------------------------------------------

/** IEEE binary16 bits → number (subnormals, ±inf, NaN). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits → number (the top half of a float32). */
export function bf16ToF32(h: number): number {
  const u = new Uint32Array([(h & 0xffff) << 16]);
  return new Float32Array(u.buffer)[0]!;
}

/** OCP FP8 E4M3 ("fn" variant): bias 7, no infinities, 0x7f/0xff are NaN, max 448. */
export function e4m3ToF32(b: number): number {
  if ((b & 0x7f) === 0x7f) return NaN;
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >> 3) & 0xf;
  const man = b & 0x7;
  if (exp === 0) return sign * man * 2 ** -9;
  return sign * (1 + man / 8) * 2 ** (exp - 7);
}

/** OCP FP8 E5M2: the top byte of a float16 (bias 15, with ±inf and NaN). */
export function e5m2ToF32(b: number): number {
  return f16ToF32((b & 0xff) << 8);
}

/** OCP E8M0 scale: 2^(b-127); 0xff is NaN. */
export function e8m0ToF32(b: number): number {
  return b === 0xff ? NaN : 2 ** (b - 127);
}

/** FP4 E2M1 values by 4-bit code; bit 3 (0x8) is the sign. */
export const FP4_E2M1_VALUES: readonly number[] = [
  0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6,
];

// ---- array conversions ----------------------------------------------------

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("moec runtime: weight loading assumes a little-endian host");
}

function table(size: number, f: (code: number) => number): () => Float32Array {
  let t: Float32Array | undefined;
  return () => (t ??= Float32Array.from({ length: size }, (_, i) => f(i)));
}
const F16_TABLE = table(65536, f16ToF32);
const E4M3_TABLE = table(256, e4m3ToF32);
const E5M2_TABLE = table(256, e5m2ToF32);
const E8M0_TABLE = table(256, e8m0ToF32);

type Ctor<T> = { new (buf: ArrayBufferLike, off: number, len: number): T; BYTES_PER_ELEMENT: number };

/** A typed view over `bytes`, copying first if the bytes are misaligned. */
function view<T>(C: Ctor<T>, bytes: Uint8Array, numel: number): T {
  const b = bytes.byteOffset % C.BYTES_PER_ELEMENT === 0 ? bytes : bytes.slice();
  return new C(b.buffer, b.byteOffset, numel);
}

function lookup(codes: Uint8Array | Uint16Array, t: Float32Array): Float32Array {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = t[codes[i]!]!;
  return out;
}

/** Dtypes `toFloat32` accepts: every byte-aligned dtype. */
export function convertibleToF32(dtype: DType): boolean {
  return DTYPE_BITS[dtype] % 8 === 0;
}

/**
 * Converts `numel` little-endian elements of `dtype` to float32.
 * `bytes` must hold exactly their bytes. 64-bit integers lose precision beyond 2^24.
 * Throws RangeError for sub-byte dtypes (F4, F6_*) and a byte count that does not match.
 */
export function toFloat32(dtype: DType, bytes: Uint8Array, numel: number): Float32Array {
  if (!convertibleToF32(dtype)) throw new RangeError(`cannot convert ${dtype} to float32`);
  if (bytes.length !== byteSize(dtype, numel)) {
    throw new RangeError(`${numel} ${dtype} elements need ${byteSize(dtype, numel)} bytes, got ${bytes.length}`);
  }
  switch (dtype) {
    case "F32": return view(Float32Array, bytes, numel).slice();
    case "F64": return Float32Array.from(view(Float64Array, bytes, numel));
    case "F16": return lookup(view(Uint16Array, bytes, numel), F16_TABLE());
    case "BF16": {
      const src = view(Uint16Array, bytes, numel);
      const out = new Uint32Array(numel);
      for (let i = 0; i < numel; i++) out[i] = src[i]! << 16;
      return new Float32Array(out.buffer);
    }
    case "F8_E4M3": return lookup(bytes, E4M3_TABLE());
    case "F8_E5M2": return lookup(bytes, E5M2_TABLE());
    case "F8_E8M0": return lookup(bytes, E8M0_TABLE());
    case "I8": return Float32Array.from(view(Int8Array, bytes, numel));
    case "U8": case "BOOL": return Float32Array.from(bytes);
    case "I16": return Float32Array.from(view(Int16Array, bytes, numel));
    case "U16": return Float32Array.from(view(Uint16Array, bytes, numel));
    case "I32": return Float32Array.from(view(Int32Array, bytes, numel));
    case "U32": return Float32Array.from(view(Uint32Array, bytes, numel));
    case "I64": return Float32Array.from(view(BigInt64Array, bytes, numel), Number);
    case "U64": return Float32Array.from(view(BigUint64Array, bytes, numel), Number);
    default: throw new RangeError(`cannot convert ${dtype} to float32`);
  }
}

/**
 * Dequantises MXFP4 as GPT-OSS checkpoints store it.
 * `blocks`: U8 of shape [...prefix, G, B] (B = 16 in practice); each byte holds two FP4 E2M1
 * codes, the low nibble first. `scales`: U8 of shape [...prefix, G], E8M0 exponents with bias 127.
 * Returns float32 values of shape [...prefix, G*B*2] (see `mxfp4Shape`): out = fp4 * 2^(scale-127).
 * No transpose is applied (transformers' GPT-OSS loader transposes the last two expert dims afterwards).
 * Throws RangeError if the buffers do not match `blocksShape`.
 */
export function dequantMxfp4(blocks: Uint8Array, scales: Uint8Array, blocksShape: readonly number[]): Float32Array {
  const B = blocksShape.at(-1);
  const rows = blocksShape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (B === undefined || blocksShape.length < 2) throw new RangeError(`MXFP4 blocks need a shape [..., G, B], got [${blocksShape}]`);
  if (blocks.length !== rows * B) throw new RangeError(`MXFP4 blocks have ${blocks.length} bytes, shape [${blocksShape}] needs ${rows * B}`);
  if (scales.length !== rows) throw new RangeError(`MXFP4 scales have ${scales.length} bytes, blocks of shape [${blocksShape}] need ${rows}`);
  const out = new Float32Array(rows * B * 2);
  for (let r = 0; r < rows; r++) {
    const scale = e8m0ToF32(scales[r]!);
    for (let j = 0, i = r * B; j < B; j++, i++) {
      const byte = blocks[i]!;
      out[2 * i] = FP4_E2M1_VALUES[byte & 0xf]! * scale;
      out[2 * i + 1] = FP4_E2M1_VALUES[byte >> 4]! * scale;
    }
  }
  return out;
}

/** Output shape of `dequantMxfp4`: [...prefix, G, B] → [...prefix, G*B*2]. */
export function mxfp4Shape(blocksShape: readonly number[]): number[] {
  const n = blocksShape.length;
  return [...blocksShape.slice(0, n - 2), blocksShape[n - 2]! * blocksShape[n - 1]! * 2];
}
