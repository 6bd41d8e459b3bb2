// The `webgpu` backend as the runtime sees it: WGSL kernels on a WebGPU device — navigator.gpu
// in browsers and Deno; in Node (no WebGPU of its own) a Deno process that owns the device
// (remote.ts). Its MoE steps keep routing on the GPU (runtime/launch.ts, `gpuRouting`).
import type { DeviceFactory, DeviceRequest } from "../../runtime/device.js";
import type { RuntimeBackend } from "../../runtime/backend.js";
import { STORAGE_FORMATS } from "../../runtime/plan/formats.js";
import { openWebGpu, webgpuApi, type OpenOptions } from "./open.js";

/** Whether this engine is Node (WebGPU then comes from Deno). */
function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string" && webgpuApi() === null;
}

/** The device factory: navigator.gpu where the engine has it, else (Node) a Deno driver. */
export function webgpuDevice(opts: OpenOptions & { driverUrl?: URL } = {}): DeviceFactory {
  const factory = async (req: DeviceRequest) => {
    if (!isNode()) return openWebGpu(req, opts);
    const { remoteWebGpuDevice } = await import("./remote.js");
    return remoteWebGpuDevice(req, opts);
  };
  // Addresses are plain numbers cut into GPU buffers: the GPU's memory is the limit (refused at allocation).
  return Object.assign(factory, { addressLimit: { bytes: 2 ** 50, text: "what moec addresses on a GPU" }, offHost: true });
}

export const WGSL_FILES = ["kernels.wgsl"] as const;

export const webgpuBackend = {
  target: "webgpu",
  summary: "WGSL kernels on WebGPU (browsers, Deno; Node through a Deno process), MoE routing kept on the GPU",
  capabilities: { formats: STORAGE_FORMATS, threads: false, memory64: true, hosts: ["browser", "deno", "node"] },
  files: WGSL_FILES,
  available: () => webgpuApi() !== null || isNode(),
  device: async () => webgpuDevice(),
} as const satisfies RuntimeBackend;
