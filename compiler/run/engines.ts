// `moec run --target T` runs the same plan a bundle would run, in process, on a registered
// backend (backends/registry.ts); the backend's files (kernel builds) are built on demand
// instead of read from a bundle. `reference` (the graph interpreter) is in generate.ts.
// Weights go from their source into the model's memory in the plan's formats: the
// weight-formats pass keeps what the checkpoint ships, the quantize pass applies --quantize.
import { findBackend, findNativeBackend } from "../../backends/registry.js";
import { Model, type LoadProgress } from "../../runtime/model.js";
import type { Plan } from "../../runtime/plan/plan.js";
import type { Graph } from "../ir/graph.js";
import { planGraph } from "../passes/pipeline.js";
import type { PlanContext } from "../passes/pass.js";
import type { QuantizeSpec } from "../quant/scheme.js";
import { memoryWeights, type BoundWeights } from "../weights/bound.js";

export interface PlanModelExtras {
  /** Weight-only quantization (--quantize), already solved when it is a budget. */
  readonly quantize?: QuantizeSpec;
  /** What the passes decided (the quantize pass's formats), for reports. */
  readonly note?: PlanContext["note"];
  /** Rows per forward pass (default: maxContext). */
  readonly maxTokens?: number;
  /** Passes to skip (--disable-pass) and opt-in passes to run (--enable-pass). */
  readonly disabled?: readonly string[];
  readonly enabled?: readonly string[];
  /** The plan to run, made already (a quantized one). */
  readonly plan?: Plan;
}

/** The weights as BoundWeights (a map of float32 tensors is wrapped). */
export function asBound(weights: BoundWeights | ReadonlyMap<string, Float32Array>): BoundWeights {
  return weights instanceof Map ? memoryWeights(weights, "weights in memory") : (weights as BoundWeights);
}

/** What the plan passes know of a target: the formats its kernels read and its optional fused kernels. */
export function targetContext(target: string): PlanContext {
  const backend = findBackend(target) ?? findNativeBackend(target);
  if (!backend) throw new Error(`no backend for target ${target}`);
  return { formats: backend.capabilities.formats, ...(backend.capabilities.fused ? { fused: backend.capabilities.fused } : {}) };
}

/** The plan a backend runs for this model and these weights (formats decided by the plan passes). */
export function planFor(graph: Graph, weights: BoundWeights, target: string, extras: PlanModelExtras = {}): Plan {
  return planGraph(graph, {
    ...(extras.disabled ? { disabled: extras.disabled } : {}),
    ...(extras.enabled ? { enabled: extras.enabled } : {}),
    context: {
      ...targetContext(target),
      shipped: (name) => weights.shipped(name),
      ...(extras.quantize ? { quantize: extras.quantize } : {}),
      ...(extras.note ? { note: extras.note } : {}),
    },
  });
}

export async function planModel(
  model: { readonly graph: Graph; readonly weights: BoundWeights | ReadonlyMap<string, Float32Array> },
  target: string,
  maxContext: number,
  threads = 1,
  onProgress?: (p: LoadProgress) => void,
  sequences = 1,
  extras: PlanModelExtras = {},
): Promise<Model> {
  const backend = findBackend(target);
  if (!backend) throw new Error(`no backend for target ${target}`);
  const weights = asBound(model.weights);
  const plan = extras.plan ?? planFor(model.graph, weights, target, extras);
  const maxTokens = Math.min(extras.maxTokens ?? maxContext, maxContext);
  const device = await backend.device({
    plan,
    threads: backend.capabilities.threads ? threads : 1,
    maxContext,
    maxTokens,
    sequences,
    files: (name) => backend.buildFile(name),
  });
  const shapes = new Map(plan.weights.map((w) => [w.name, w.shape]));
  return Model.create(plan, { raw: (name, format, into) => weights.read(name, format, shapes.get(name)!, into) }, { maxContext, maxTokens, sequences, device, ...(onProgress ? { onProgress } : {}) });
}
