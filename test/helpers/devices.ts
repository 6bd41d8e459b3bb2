// Every device the conformance suite runs: each registered backend, in each build it ships that
// this engine can run (the WASM backend: plain SIMD128, relaxed SIMD, and shared memory on worker
// threads with every splittable call split). A test checks that every registered target is here.
import { buildWasmFile } from "../../backends/wasm/emit.js";
import { hasRelaxedSimd, wasmDevice } from "../../backends/wasm/device.js";
import { jsDevice } from "../../backends/js/device.js";
import type { Device, DeviceFactory } from "../../runtime/device.js";
import type { Layout } from "../../runtime/memory.js";
import type { Plan } from "../../runtime/plan/plan.js";

export interface TestDevice {
  readonly target: string;
  readonly label: string;
  /** A device with an address space of `bytes` bytes. */
  make(bytes: number): Promise<Device>;
}

/** A device with a bare address space of `bytes` (no plan): what kernel tests allocate in. */
export function bareDevice(factory: DeviceFactory, bytes: number): Promise<Device> {
  const layout = { totalBytes: bytes, weightOffsets: [], cacheOffsets: [], slotOffsets: [], scratch: 0, scratchBytes: 0, quantScratch: 0, maxTokens: 1, maxContext: 1, sequences: 1 } satisfies Layout;
  return factory({ plan: { model: "kernel-test" } as Plan, layout, label: "the kernel test arena" });
}

const workerUrl = new URL("../../dist/backends/wasm/threads/worker.js", import.meta.url);

export const TEST_DEVICES: readonly TestDevice[] = [
  { target: "js", label: "js", make: (bytes) => bareDevice(jsDevice(), bytes) },
  { target: "wasm", label: "wasm plain SIMD128", make: async (bytes) => bareDevice(wasmDevice(await buildWasmFile("kernels.wasm")), bytes) },
  ...(hasRelaxedSimd() ? [{ target: "wasm", label: "wasm relaxed SIMD", make: async (bytes: number) => bareDevice(wasmDevice(await buildWasmFile("kernels-relaxed.wasm")), bytes) }] : []),
  {
    target: "wasm",
    label: "wasm ×3 threads, every split",
    make: async (bytes) => bareDevice(wasmDevice(await buildWasmFile(hasRelaxedSimd() ? "kernels-relaxed-shared.wasm" : "kernels-shared.wasm"), { threads: 3, splitThreshold: 1, workerUrl }), bytes),
  },
];
