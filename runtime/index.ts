// moec/runtime: what an app embeds to run a compiled model. It never imports the compiler.
export { loadModel, type BundleLoadOptions } from "./load.js";
export { Model, LoadError, checkPlan, type GenerateOptions, type LoadOptions, type LoadProgress, type WeightReader } from "./model.js";
export { jsKernels } from "./kernels/js.js";
export { wasmKernels, hasRelaxedSimd, pickKernelFile, kernelFile, defaultThreads, KERNEL_FILES } from "./kernels/wasm.js";
export { hasMemory64, MAX_MEMORY32, MAX_MEMORY64 } from "./memory.js";
export type { Kernels } from "./kernels/kernels.js";
export type { Plan, Step, PlanWeight, MoeStep } from "./plan/plan.js";
export { makeSampler, argmax, type SamplingOptions } from "./sampling.js";
