// `moec run --target T` runs the same plan a bundle would run, in process, on a registered
// backend (backends/registry.ts); the backend's files (kernel builds) are built on demand
// instead of read from a bundle. `reference` (the graph interpreter) is in generate.ts.
import { findBackend } from "../../backends/registry.js";
import { Model, type LoadProgress } from "../../runtime/model.js";
import { planGraph } from "../passes/pipeline.js";
import type { LoadedModel } from "./load.js";

export async function planModel(model: LoadedModel, target: string, maxContext: number, threads = 1, onProgress?: (p: LoadProgress) => void, sequences = 1): Promise<Model> {
  const backend = findBackend(target);
  if (!backend) throw new Error(`no backend for target ${target}`);
  const plan = planGraph(model.graph);
  const device = await backend.device({
    plan,
    threads: backend.capabilities.threads ? threads : 1,
    maxContext,
    maxTokens: maxContext,
    sequences,
    files: (name) => backend.buildFile(name),
  });
  return Model.create(plan, (name, into) => into.set(model.weights.get(name)!), { maxContext, maxTokens: maxContext, sequences, device, ...(onProgress ? { onProgress } : {}) });
}
