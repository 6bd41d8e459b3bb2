// `--quantize SCHEME`: which storage format each quantizable weight gets.
//   int8                    per output channel
//   int4[:gG]               groups of G (32 default, 64, 128), symmetric      → int4_gG
//   int4a[:gG]              groups of G with a zero point                      → int4a_gG
//   q8_0 q4_0 q2_k q3_k q4_k q5_k q6_k   GGUF's blocks (as llama.cpp's quantizer writes them)
//   mxfp4 fp8 bf16 f16      the other storage formats
//   budget=B                per-expert mixed precision at B bits per expert weight (compiler/quant/mixed.ts)
// A weight whose rows are not whole blocks of the scheme's format takes the next format of its
// fallback chain that fits (as llama.cpp falls back for tensors whose rows are not whole
// super-blocks): smaller groups of the same kind first, then int8 (any row length).
import { bitsPerWeight, FORMATS, fitsFormat, STORAGE_FORMATS, type StorageFormat } from "../../runtime/plan/formats.js";

export type QuantizeSpec =
  | { readonly kind: "uniform"; readonly format: StorageFormat; readonly text: string }
  /** Per-weight formats chosen beforehand (mixed precision); weights not listed take `others`. */
  | { readonly kind: "assign"; readonly formats: ReadonlyMap<string, StorageFormat>; readonly others: StorageFormat; readonly text: string }
  /** Mixed precision still to be solved from calibration statistics (compiler/quant/mixed.ts turns it into "assign"). */
  | { readonly kind: "budget"; readonly bits: number; readonly text: string };

export class SchemeError extends Error {}

const ALIASES: Readonly<Record<string, StorageFormat>> = { fp8: "fp8_e4m3", "fp8_e4m3": "fp8_e4m3", int4: "int4_g32", int4a: "int4a_g32" };

/** Parses a --quantize value; throws SchemeError naming what is accepted. */
export function parseQuantize(text: string): QuantizeSpec {
  const t = text.trim().toLowerCase();
  const budget = /^budget=(\d+(?:\.\d+)?)$/.exec(t);
  if (budget) {
    const bits = Number(budget[1]);
    if (!(bits >= 2 && bits <= 16)) throw new SchemeError(`--quantize budget=${budget[1]}: the budget is bits per weight, from 2 to 16`);
    return { kind: "budget", bits, text: t };
  }
  const group = /^(int4a?)(?::g(\d+))?$/.exec(t);
  if (group) {
    const g = group[2] ?? "32";
    const f = `${group[1]}_g${g}`;
    if (!STORAGE_FORMATS.includes(f as StorageFormat)) throw new SchemeError(`--quantize ${text}: int4 groups are 32, 64 or 128 elements (int4:g32, int4:g64, int4:g128; int4a:gG with a zero point)`);
    return { kind: "uniform", format: f as StorageFormat, text: t };
  }
  const f = ALIASES[t] ?? t;
  if (STORAGE_FORMATS.includes(f as StorageFormat) && f !== "f32") return { kind: "uniform", format: f as StorageFormat, text: t };
  throw new SchemeError(`--quantize ${text}: not a scheme; use int8, int4[:g32|g64|g128], int4a[:gG], q8_0, q4_0, q2_k, q3_k, q4_k, q5_k, q6_k, mxfp4, fp8, bf16, f16, or budget=BITS (per-expert mixed precision)`);
}

const CHAIN: Partial<Record<StorageFormat, StorageFormat>> = {
  int4_g128: "int4_g64",
  int4_g64: "int4_g32",
  int4a_g128: "int4a_g64",
  int4a_g64: "int4a_g32",
  q4_k: "q4_0",
  // llama.cpp stores such tensors of a Q2_K/Q3_K model as IQ4_NL (4.5 bits, blocks of 32); q4_0 is its nearest here.
  q3_k: "q4_0",
  q2_k: "q4_0",
  q5_k: "q8_0",
  q6_k: "q8_0",
};

/** The format a weight with rows of K elements takes under `format`: itself if K is whole blocks, else the first of its fallbacks that fits. */
export function fitFormat(format: StorageFormat, K: number): StorageFormat {
  let f: StorageFormat | undefined = format;
  while (f !== undefined) {
    if (fitsFormat(f, K)) return f;
    f = CHAIN[f];
  }
  return FORMATS[format].kind === "float" ? "f32" : "int8";
}

/** Bits per element a weight of `shape` takes in `format`, scales included. */
export function weightBits(format: StorageFormat, shape: readonly number[]): number {
  const K = shape[shape.length - 1] ?? 1;
  return bitsPerWeight(format, K);
}
