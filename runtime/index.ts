// moec/runtime: what an app embeds to run a compiled model. It never imports the compiler.
export { loadModel, type BundleLoadOptions } from "./load.js";
export { Model, LoadError, ModelDisposedError, checkPlan, type GenerateOptions, type LoadOptions, type LoadProgress, type WeightReader, type RawWeightReader } from "./model.js";
export { linearDevice, type Device, type DeviceFactory, type DeviceRequest } from "./device.js";
export { RUNTIME_BACKENDS, TARGETS, runtimeBackend, type Target } from "./backends.js";
export type { RuntimeBackend, Capabilities, DeviceOptions } from "./backend.js";
export { jsDevice } from "../backends/js/device.js";
export { jsKernels } from "../backends/js/kernels.js";
export { wasmDevice, hasRelaxedSimd, pickKernelFile, kernelFile, defaultThreads, KERNEL_FILES } from "../backends/wasm/device.js";
export { hasMemory64, MAX_MEMORY32, MAX_MEMORY64 } from "./memory.js";
export { KERNELS, KERNEL_NAMES, ENUMS, type Kernels, type KernelName } from "./kernels/catalogue.js";
export type { Plan, Step, PlanWeight, MoeStep } from "./plan/plan.js";
// The errors the runtime throws for bad input or misuse (README, "Failure behaviour"), for instanceof checks.
export { OptionError } from "./options.js";
export { ModelBusyError } from "./lock.js";
export { NonFiniteError } from "./finite.js";
export { makeSampler, argmax, type SamplingOptions } from "./sampling.js";
