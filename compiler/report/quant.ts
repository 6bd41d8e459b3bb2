// The quantization section of `moec report MODEL --quantize SCHEME`: the same quantized plan and
// the same error measurement as `moec run|compile --quantize` (compiler/quant/run.ts) — bits per
// weight, formats, fallbacks, the mixed-precision choice per expert, and the error against the
// float32 plan on calibration ids, overall and per MoE layer — so the page shows what a
// quantized compile would report.
import { loadGraph, openWeights, RunError } from "../run/load.js";
import { defaultRunTarget } from "../run/targets.js";
import { measureError, quantizeFor, quantJson } from "../quant/run.js";
import type { QuantizeSpec } from "../quant/scheme.js";

export interface QuantSection {
  /** What `--json` of a quantized run gives (quantJson): scheme, bitsPerWeight, formats, fallbacks, mixed, error. */
  readonly json: Record<string, unknown>;
  /** Where it ran. */
  readonly target: string;
}

export interface QuantSectionOptions {
  readonly model: string;
  readonly weights?: string;
  readonly randomWeights?: number;
  readonly calibration?: string;
}

/** Quantizes the model's weights with `spec` and measures the error (weights opened afresh: the calibration run closes its own). */
export async function quantSection(opts: QuantSectionOptions, spec: QuantizeSpec): Promise<QuantSection> {
  const loaded = await loadGraph(opts.model);
  if (!("hfDir" in loaded)) throw new RunError(`${opts.model}: does not check, so it cannot be quantized`);
  const explicit = opts.weights !== undefined || opts.randomWeights !== undefined;
  if (!explicit && !loaded.gguf && loaded.hfDir === null) {
    throw new RunError("--quantize needs weights: pass --weights FILE or --random-weights SEED (the error is measured against the float32 weights)");
  }
  const target = defaultRunTarget();
  const weights = await openWeights(loaded.graph, loaded.hfDir, {
    ...(opts.weights !== undefined ? { weights: opts.weights } : {}),
    ...(opts.randomWeights !== undefined ? { randomWeights: opts.randomWeights } : {}),
  }, loaded.gguf);
  try {
    const q = await quantizeFor(loaded.graph, weights, target, spec, { calibration: opts.calibration, threads: 1 });
    const error = await measureError(loaded.graph, weights, target, q, 1);
    return { json: quantJson(q, error), target };
  } finally {
    await weights.close();
    await loaded.gguf?.close().catch(() => {});
  }
}
