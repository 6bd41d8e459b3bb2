// Weights bound to a graph but not read yet: what `moec run` and `moec compile` load a model
// from. Each weight is read when the model (or the weight pack) asks for it, in the format the
// plan stores it in: straight from the file into the model's memory when the checkpoint ships
// it in that format (a bf16 safetensors tensor, a Q4_K GGUF tensor), converted — dequantised to
// float32 and encoded (compiler/quant/encode.ts) — when it does not. Nothing holds a second
// copy of the weights, so loading needs about the memory of the weights as stored.
import type { Graph } from "../ir/graph.js";
import { FORMATS, weightBytes, type StorageFormat } from "../../runtime/plan/formats.js";
import { WeightFileError, type WeightSource } from "../../runtime/weights/safetensors.js";
import { decodeWeight, firstNonFiniteStored } from "../../runtime/weights/decode.js";
import { describeNonFinite, indexText } from "../../runtime/finite.js";
import { encodeInto } from "../quant/encode.js";
import { checkBinding, readBoundF32, type BindOptions } from "./bind.js";
import { checkTensorFinite, shouldCheckWeights, type CheckWeights } from "../run/weight-checks.js";

export interface BoundWeights {
  /** Where the weights come from, for messages. */
  readonly label: string;
  /** The storage format tensor `name` ships in, or null when it is read as float32. */
  shipped(name: string): StorageFormat | null;
  /** Weight `name` of `shape` in `format`, into `into` (weightBytes(format, shape) bytes). */
  read(name: string, format: StorageFormat, shape: readonly number[], into: Uint8Array): Promise<void>;
  /** The float32 values (the reference interpreter, calibration runs). */
  readF32(name: string): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Weights already in memory as float32 (random weights, tests): encoded on request. */
export function memoryWeights(map: ReadonlyMap<string, Float32Array>, label: string): BoundWeights {
  const get = (name: string) => {
    const w = map.get(name);
    if (!w) throw new Error(`${label}: no weight ${name}`);
    return w;
  };
  return {
    label,
    shipped: () => null,
    async read(name, format, shape, into) {
      encodeInto(format, get(name), shape, into);
    },
    async readF32(name) {
      return get(name);
    },
    async close() {},
  };
}

/**
 * The weights of `src` for `graph`, checked by name and shape (BindError lists every problem)
 * but not read. With `checkWeights` on (auto: models up to 2 GiB as float32), each tensor is
 * scanned for NaN and ±Infinity as it is read; a stored format is scanned by its scales.
 */
export function sourceWeights(graph: Graph, src: WeightSource, sourceName: string, opts: BindOptions = {}): BoundWeights {
  const want = checkBinding(graph, src, sourceName, opts);
  const f32Bytes = 4 * [...want.values()].reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
  const check = shouldCheckWeights(opts.checkWeights, f32Bytes);
  const fileOf = (name: string) => (src.has(name) ? src.info(name).file : src.info(`${name}_blocks`).file);
  const shipped = (name: string): StorageFormat | null => (src.has(name) && src.storedFormat && src.readStoredInto ? src.storedFormat(name) : null);
  const readF32 = async (name: string) => {
    const t = want.get(name);
    if (!t) throw new Error(`${sourceName}: ${name} is not a weight of ${graph.name}`);
    const data = await readBoundF32(src, name, t.shape, sourceName);
    if (check) checkTensorFinite(data, fileOf(name), name, t.shape);
    return data;
  };
  return {
    label: sourceName,
    shipped,
    async read(name, format, shape, into) {
      if (into.byteLength !== weightBytes(format, shape)) throw new Error(`${name}: ${into.byteLength} bytes given for a [${shape.join(", ")}] ${format} weight`);
      if (shipped(name) === format) {
        await src.readStoredInto!(name, into);
        if (check) {
          const bad = firstNonFiniteStored(format, into, shape);
          if (bad >= 0) {
            const v = decodeWeight(format, into, shape)[bad]!;
            const what = Number.isFinite(v) ? "in a block whose scale is NaN or Infinity" : `${describeNonFinite(v)}${FORMATS[format].kind === "float" ? "" : " (its block's scale is not finite)"}`;
            throw new WeightFileError(fileOf(name), `element ${bad} (index ${indexText(bad, shape)} of [${shape.join(", ")}], stored as ${format}) is ${what}; such a model computes NaN logits. The checkpoint is damaged; re-export or re-download it (or pass --no-check-weights to run it anyway)`, name);
          }
        }
        return;
      }
      encodeInto(format, await readF32(name), shape, into);
    },
    readF32,
    close: () => src.close(),
  };
}

/** The float32 values the plan's kernels see for a weight stored in `format` (quantized, then dequantised). */
export async function effectiveF32(w: BoundWeights, name: string, format: StorageFormat, shape: readonly number[]): Promise<Float32Array> {
  if (format === "f32") return w.readF32(name);
  const bytes = new Uint8Array(weightBytes(format, shape));
  await w.read(name, format, shape, bytes);
  return decodeWeight(format, bytes, shape);
}

/** Whether a format stores fewer bits than the float32 it is read as (for messages). */
export function storedBits(format: StorageFormat): number {
  const f = FORMATS[format];
  return (8 * f.blockBytes) / f.block;
}
