// Storage formats: how a weight is laid out in memory and in the weight pack. One table; the
// memory layout, the weight pack, the reader and the report take sizes and names from it.
// Only float32 exists so far; the quantized formats (bf16, int8, int4, GGUF blocks, MXFP4,
// FP8) join this table with their kernels.
export const FORMATS = {
  f32: { bitsPerElement: 32, safetensorsDtype: "F32", doc: "IEEE float32, row-major" },
} as const;

export type StorageFormat = keyof typeof FORMATS;

/** Bytes a weight of `elements` elements takes in `format`. */
export function formatBytes(format: StorageFormat, elements: number): number {
  return Math.ceil((elements * FORMATS[format].bitsPerElement) / 8);
}

export function isStorageFormat(s: unknown): s is StorageFormat {
  return typeof s === "string" && Object.hasOwn(FORMATS, s);
}
