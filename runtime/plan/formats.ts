// Storage formats: how a weight is laid out in memory and in the weight pack. One table; the
// memory layout, the weight pack, the readers, the kernels' dispatch and the reports take sizes
// and names from it.
//
// A weight [rows, K] is stored row after row (a row is one output channel of an nn.Linear
// weight, or one embedding vector). Plain formats store K elements per row. Block formats cut
// each row into K / block blocks of `blockBytes` bytes, scales inside the blocks; the GGUF ones
// are ggml's blocks byte for byte (ggml-common.h), so a GGUF file's tensor data is copied as it
// is. Channel formats store K one-byte elements per row, then, after all rows, one f32 scale per
// row. A row must hold whole blocks.
//
// Layouts of the formats that are not ggml's:
//   int8      per output channel, symmetric: w = q · scale[row], q int8.
//   int4_gG   G elements per block, symmetric: [f16 scale][G/2 bytes], w = (nibble − 8) · scale;
//             element 2j in the low nibble of byte j, 2j + 1 in the high one.
//   int4a_gG  with a zero point: [f16 scale][f16 min][G/2 bytes], w = nibble · scale + min.
//   fp8_e4m3  blocks of 128: [f32 scale][128 bytes e4m3], w = e4m3 · scale (DeepSeek's 128×128
//             tiles give each row's 128-block its tile's scale).
//   mxfp4     ggml's MXFP4 block: [e8m0 scale][16 bytes of e2m1 pairs] (GPT-OSS's blocks/scales
//             tensors repacked, losslessly).
export interface FormatSpec {
  /** "float": one element per `blockBytes`; "block": scales inside blocks; "channel": a scale per row after the rows. */
  readonly kind: "float" | "block" | "channel";
  /** Elements per block (1 for float and channel formats). */
  readonly block: number;
  /** Bytes per block (per element for float and channel formats). */
  readonly blockBytes: number;
  /** The GGUF (ggml) type whose blocks these are byte for byte, if any. */
  readonly ggml?: string;
  readonly doc: string;
}

export const FORMATS = {
  f32: { kind: "float", block: 1, blockBytes: 4, ggml: "F32", doc: "IEEE float32" },
  f16: { kind: "float", block: 1, blockBytes: 2, ggml: "F16", doc: "IEEE float16" },
  bf16: { kind: "float", block: 1, blockBytes: 2, ggml: "BF16", doc: "bfloat16" },
  int8: { kind: "channel", block: 1, blockBytes: 1, doc: "int8, one f32 scale per output channel" },
  int4_g32: { kind: "block", block: 32, blockBytes: 2 + 16, doc: "int4, groups of 32, symmetric (f16 scale)" },
  int4_g64: { kind: "block", block: 64, blockBytes: 2 + 32, doc: "int4, groups of 64, symmetric (f16 scale)" },
  int4_g128: { kind: "block", block: 128, blockBytes: 2 + 64, doc: "int4, groups of 128, symmetric (f16 scale)" },
  int4a_g32: { kind: "block", block: 32, blockBytes: 4 + 16, doc: "int4, groups of 32, with a zero point (f16 scale and min)" },
  int4a_g64: { kind: "block", block: 64, blockBytes: 4 + 32, doc: "int4, groups of 64, with a zero point (f16 scale and min)" },
  int4a_g128: { kind: "block", block: 128, blockBytes: 4 + 64, doc: "int4, groups of 128, with a zero point (f16 scale and min)" },
  q8_0: { kind: "block", block: 32, blockBytes: 34, ggml: "Q8_0", doc: "GGUF Q8_0: blocks of 32 int8 with an f16 scale" },
  q4_0: { kind: "block", block: 32, blockBytes: 18, ggml: "Q4_0", doc: "GGUF Q4_0: blocks of 32 4-bit values with an f16 scale" },
  q4_k: { kind: "block", block: 256, blockBytes: 144, ggml: "Q4_K", doc: "GGUF Q4_K: super-blocks of 256, 6-bit sub-block scales and mins" },
  q5_k: { kind: "block", block: 256, blockBytes: 176, ggml: "Q5_K", doc: "GGUF Q5_K: super-blocks of 256, 5-bit values" },
  q6_k: { kind: "block", block: 256, blockBytes: 210, ggml: "Q6_K", doc: "GGUF Q6_K: super-blocks of 256, 6-bit values" },
  mxfp4: { kind: "block", block: 32, blockBytes: 17, ggml: "MXFP4", doc: "MXFP4 (OCP microscaling): blocks of 32 e2m1 with an e8m0 scale" },
  fp8_e4m3: { kind: "block", block: 128, blockBytes: 4 + 128, doc: "FP8 e4m3, blocks of 128 with an f32 scale" },
  // The low-bit K-quants come last so the formats above keep their codes (the kernel ABI's enum).
  q3_k: { kind: "block", block: 256, blockBytes: 110, ggml: "Q3_K", doc: "GGUF Q3_K: super-blocks of 256, 3-bit values, 6-bit sub-block scales" },
  q2_k: { kind: "block", block: 256, blockBytes: 84, ggml: "Q2_K", doc: "GGUF Q2_K: super-blocks of 256, 2-bit values, 4-bit sub-block scales and mins" },
} as const satisfies Record<string, FormatSpec>;

export type StorageFormat = keyof typeof FORMATS;
export const STORAGE_FORMATS = Object.keys(FORMATS) as StorageFormat[];

export function isStorageFormat(s: unknown): s is StorageFormat {
  return typeof s === "string" && Object.hasOwn(FORMATS, s);
}

/** Bytes of one row of K elements (without a channel format's scale). Throws when K is not whole blocks. */
export function rowBytes(format: StorageFormat, K: number): number {
  const f: FormatSpec = FORMATS[format];
  if (K % f.block !== 0) throw new RangeError(`a row of ${K} elements is not whole ${format} blocks of ${f.block}`);
  return (K / f.block) * f.blockBytes;
}

/** Bytes a weight of `shape` takes in `format` (rows = every dim but the last). */
export function weightBytes(format: StorageFormat, shape: readonly number[]): number {
  const K = shape[shape.length - 1] ?? 1;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return rows * rowBytes(format, K) + (FORMATS[format].kind === "channel" ? 4 * rows : 0);
}

/** Average bits per weight element, scales included (for reports and size budgets). */
export function bitsPerWeight(format: StorageFormat, K = 4096): number {
  const f: FormatSpec = FORMATS[format];
  return (8 * f.blockBytes) / f.block + (f.kind === "channel" ? 32 / K : 0);
}

/** Whether a row of K elements can be stored in `format`. */
export function fitsFormat(format: StorageFormat, K: number): boolean {
  return K % FORMATS[format].block === 0;
}
