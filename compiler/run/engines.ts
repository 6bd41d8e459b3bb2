// `moec run --target T` runs the same plan the bundle would run, in process: `wasm` on the
// WASM SIMD kernels, `js` on the TypeScript kernels; `reference` is the graph interpreter.
import { buildKernelModule } from "../../backends/wasm/build.js";
import { Model, wantsMemory64, type LoadProgress } from "../../runtime/model.js";
import { hasRelaxedSimd, wasmKernels } from "../../runtime/kernels/wasm.js";
import { lowerGraph } from "../lower/lower.js";
import type { LoadedModel } from "./load.js";


export async function planModel(model: LoadedModel, target: "wasm" | "js", maxContext: number, threads = 1, onProgress?: (p: LoadProgress) => void, sequences = 1): Promise<Model> {
  const plan = lowerGraph(model.graph);
  // Past 4 GiB (weights, cache, activations) the 64-bit kernel build, as loadModel picks it.
  const memory64 = wantsMemory64(plan, { maxContext, maxTokens: maxContext, sequences }, threads);
  const kernels = target === "wasm" ? wasmKernels(buildKernelModule({ relaxedSimd: hasRelaxedSimd(), sharedMemory: threads > 1, memory64 }).binary, { threads, memory64 }) : undefined;
  return Model.create(plan, (name, into) => into.set(model.weights.get(name)!), { maxContext, maxTokens: maxContext, sequences, ...(kernels ? { kernels } : {}), ...(onProgress ? { onProgress } : {}) });
}
