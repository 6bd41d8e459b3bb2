// The `wasm` backend as the runtime sees it: picks the kernel build (relaxed SIMD or not,
// threads or not, 32- or 64-bit memory) for this engine and model, and makes its device.
import type { RuntimeBackend } from "../../runtime/backend.js";
import { STORAGE_FORMATS } from "../../runtime/plan/formats.js";
import { wantsMemory64 } from "../../runtime/model.js";
import { KERNEL_FILES, pickKernelFile, wasmDevice } from "./device.js";

export const wasmBackend = {
  target: "wasm",
  summary: "WebAssembly SIMD128 kernels (relaxed SIMD where the engine has it), multithreaded, Memory64 past 4 GiB",
  capabilities: { formats: STORAGE_FORMATS, threads: true, memory64: true, hosts: ["node", "browser", "deno"] },
  files: KERNEL_FILES,
  available: () => typeof WebAssembly !== "undefined" && WebAssembly.validate(SIMD_PROBE),
  async device(o) {
    // Past 4 GiB (weights, caches, activations) the 64-bit build, where the engine has Memory64;
    // where it has not, the 32-bit device explains the limit.
    const memory64 = wantsMemory64(o.plan, o, o.threads);
    const bytes = await o.files(pickKernelFile(o.threads, memory64));
    return wasmDevice(bytes, { threads: o.threads, memory64, ...(o.splitThreshold !== undefined ? { splitThreshold: o.splitThreshold } : {}), ...(o.workerUrl ? { workerUrl: o.workerUrl } : {}) });
  },
} as const satisfies RuntimeBackend;

/** A module with one v128 constant: it validates iff the engine has SIMD128. */
const SIMD_PROBE = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);
