// Every device the conformance suite runs: each registered backend, in each build it ships that
// this engine can run (the WASM backend: plain SIMD128, relaxed SIMD, and shared memory on worker
// threads with every splittable call split). A test checks that every registered target is here.
import { buildWasmFile } from "../../backends/wasm/emit.js";
import { hasRelaxedSimd, wasmDevice } from "../../backends/wasm/device.js";
import { jsDevice } from "../../backends/js/device.js";
import { webgpuDevice } from "../../backends/wgsl/runtime.js";
import { WebGpuUnavailableError } from "../../backends/wgsl/open.js";
import type { Device, DeviceFactory } from "../../runtime/device.js";
import type { Layout } from "../../runtime/memory.js";
import type { Plan } from "../../runtime/plan/plan.js";

export interface TestDevice {
  readonly target: string;
  readonly label: string;
  /** A device with an address space of `bytes` bytes. */
  make(bytes: number): Promise<Device>;
  /**
   * Whether its kernels compute in f64 where the catalogue says so (route_topk's scores,
   * gate_add_rows' sigmoid), and so match route() and Math.exp to the bit. GPUs have no f64:
   * theirs are f32, held to route()'s 1e-6 and the elementwise tolerances instead.
   */
  readonly f64?: boolean;
  /** Why this device's tests are skipped here (null: they run). */
  readonly skip?: string | null;
}

/** A device with a bare address space of `bytes` (no plan): what kernel tests allocate in. */
export function bareDevice(factory: DeviceFactory, bytes: number): Promise<Device> {
  const layout = { totalBytes: bytes, weightOffsets: [], cacheOffsets: [], slotOffsets: [], scratch: 0, scratchBytes: 0, quantScratch: 0, maxTokens: 1, maxContext: 1, sequences: 1 } satisfies Layout;
  return factory({ plan: { model: "kernel-test" } as Plan, layout, label: "the kernel test arena" });
}

const workerUrl = new URL("../../dist/backends/wasm/threads/worker.js", import.meta.url);
/** The Deno driver of WebGPU in Node, as tsc built it (vitest runs the sources). */
export const wgslDriverUrl = new URL("../../dist/backends/wgsl/driver.js", import.meta.url);

/**
 * Why WebGPU tests cannot run on this machine (no Deno, no adapter: WebGpuUnavailableError), or
 * null. Any other failure is a bug and fails here. With MOEC_REQUIRE_WEBGPU=1 (CI, which
 * installs lavapipe) a missing adapter fails too, so the WGSL tests never skip silently there.
 */
export const WEBGPU_SKIP: string | null = await (async () => {
  try {
    const d = await bareDevice(webgpuDevice({ driverUrl: wgslDriverUrl }), 1 << 16);
    await d.dispose();
    return null;
  } catch (e) {
    if (!(e instanceof WebGpuUnavailableError) || process.env["MOEC_REQUIRE_WEBGPU"] === "1") throw e;
    console.warn(`WebGPU tests skipped: ${e.message}`);
    return `no WebGPU here: ${e.message}`;
  }
})();

export const TEST_DEVICES: readonly TestDevice[] = [
  { target: "js", label: "js", make: (bytes) => bareDevice(jsDevice(), bytes) },
  { target: "wasm", label: "wasm plain SIMD128", make: async (bytes) => bareDevice(wasmDevice(await buildWasmFile("kernels.wasm")), bytes) },
  ...(hasRelaxedSimd() ? [{ target: "wasm", label: "wasm relaxed SIMD", make: async (bytes: number) => bareDevice(wasmDevice(await buildWasmFile("kernels-relaxed.wasm")), bytes) }] : []),
  {
    target: "wasm",
    label: "wasm ×3 threads, every split",
    make: async (bytes) => bareDevice(wasmDevice(await buildWasmFile(hasRelaxedSimd() ? "kernels-relaxed-shared.wasm" : "kernels-shared.wasm"), { threads: 3, splitThreshold: 1, workerUrl }), bytes),
  },
  // WGSL on WebGPU: here through Deno (lavapipe without a GPU); f32 arithmetic only (no f64 on GPUs).
  { target: "webgpu", label: "webgpu (Deno)", make: (bytes) => bareDevice(webgpuDevice({ driverUrl: wgslDriverUrl }), bytes), f64: false, skip: WEBGPU_SKIP },
];
