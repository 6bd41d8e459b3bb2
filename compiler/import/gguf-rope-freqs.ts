// Llama 3 style RoPE in a GGUF file: llama.cpp's converters (LlamaModel.generate_extra_tensors) turn
// rope_parameters {rope_type "llama3", factor, low_freq_factor, high_freq_factor, original_max_position_embeddings}
// into a tensor rope_freqs.weight of one divisor per rotated pair (1 for high frequencies, `factor` for low ones, a
// smooth blend between), and write no scaling keys. The parameters themselves are not in the file; several
// settings can give the same divisors (with low = high there is no blend, and any original context between two
// wavelengths gives the same split). What matters is the divisors, so the import looks for a setting among the
// published ones that reproduces every divisor (within float32 rounding) and refuses the file otherwise.
import { closeSync, openSync, readSync } from "node:fs";
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import { shortestF32 } from "./gguf.js";

export interface Llama3Rope {
  readonly factor: number;
  readonly low_freq_factor: number;
  readonly high_freq_factor: number;
  readonly original_max_position_embeddings: number;
}

const f = Math.fround;

/** The divisors the converter writes for `p` (torch float32 arithmetic, as convert_hf_to_gguf.py does it). */
export function llama3RopeFreqs(p: Llama3Rope, theta: number, dim: number): Float32Array {
  const out = new Float32Array(dim / 2);
  const lowWavelen = p.original_max_position_embeddings / p.low_freq_factor;
  const highWavelen = p.original_max_position_embeddings / p.high_freq_factor;
  for (let i = 0; i < dim / 2; i++) {
    const freq = f(1 / f(Math.pow(f(theta), f((2 * i) / dim))));
    const wavelen = f((2 * Math.PI) / freq);
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = p.factor;
    else {
      const smooth = (p.original_max_position_embeddings / wavelen - p.low_freq_factor) / (p.high_freq_factor - p.low_freq_factor);
      out[i] = 1 / ((1 - smooth) / p.factor + smooth);
    }
  }
  return out;
}

/** Settings Meta's Llama 3.x and Llama 4 releases use; `factor` comes from the file (its largest divisor). */
const LOW = [1, 2];
const HIGH = [1, 2, 4, 8];
const ORIGINAL = [8192, 4096, 2048, 16384, 32768, 65536, 131072];

/**
 * rope_freqs.weight as float32, read synchronously (the import reads metadata only, and synchronously; this is the
 * one tensor it must look into). The converter writes it in F32.
 */
function readRopeFreqs(g: GgufFile): Float32Array {
  const t = g.ggufTensor("rope_freqs.weight");
  if (t.type.name !== "F32") throw new WeightFileError(g.file, `is ${t.type.name}; the converter writes rotary divisors in F32`, t.name);
  const bytes = new Uint8Array(t.byteLength);
  const fd = openSync(g.file, "r");
  try {
    if (readSync(fd, bytes, 0, bytes.length, t.offset) !== bytes.length) throw new WeightFileError(g.file, "is cut short: the file ends inside it", t.name);
  } finally {
    closeSync(fd);
  }
  return new Float32Array(bytes.buffer, 0, t.numel);
}

/** rope_parameters for a file with rope_freqs.weight (rotating `dim` dims of each head), or an error naming it. */
export function llama3FromRopeFreqs(g: GgufFile, theta: number, dim: number): JsonObject {
  const t = g.ggufTensor("rope_freqs.weight");
  if (t.numel !== dim / 2) throw new WeightFileError(g.file, `has ${t.numel} divisors, but ${dim} rotated dims make ${dim / 2} pairs`, t.name);
  const got = readRopeFreqs(g);
  const factor = shortestF32(got.reduce((a, b) => Math.max(a, b), 1));
  const close = (a: Float32Array) => a.every((v, i) => Math.abs(v - got[i]!) <= 2e-7 * Math.max(1, Math.abs(v)));
  for (const original of ORIGINAL) {
    for (const low of LOW) {
      for (const high of HIGH) {
        if (high < low) continue;
        const p: Llama3Rope = { factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: original };
        if (close(llama3RopeFreqs(p, theta, dim))) return { rope_type: "llama3", rope_theta: theta, ...p };
      }
    }
  }
  throw new WeightFileError(g.file, `holds rotary divisors [${[...got].map((v) => shortestF32(v)).slice(0, 8).join(", ")}${got.length > 8 ? ", …" : ""}] that no Llama 3 setting (factor ${factor}, low_freq_factor ${LOW.join("/")}, high_freq_factor ${HIGH.join("/")}, original context ${ORIGINAL.join("/")}) reproduces; import the Hugging Face config.json instead`, t.name);
}
