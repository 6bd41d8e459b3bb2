// Acquiring WebGPU where the engine has it (browsers, Deno): the adapter, a device with the
// limits the model needs, and clear errors for each way that can fail — no WebGPU, no adapter,
// a limit too small (which one, and what the model needs).
/// <reference types="@webgpu/types" />
import type { DeviceRequest } from "../../runtime/device.js";
import { createWebGpuDevice, type WebGpuDeviceOptions } from "./device.js";

export class WebGpuUnavailableError extends Error {
  override name = "WebGpuUnavailableError";
}

export interface OpenOptions extends WebGpuDeviceOptions {
  readonly powerPreference?: GPUPowerPreference;
}

/** navigator.gpu, if this engine has WebGPU. */
export function webgpuApi(): GPU | null {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? null;
}

export async function openAdapter(opts: OpenOptions = {}): Promise<GPUAdapter> {
  const api = webgpuApi();
  if (!api) throw new WebGpuUnavailableError("WebGPU is not available in this JavaScript engine (no navigator.gpu): use a browser with WebGPU (Chrome ≥ 113, Edge, Safari ≥ 26, Firefox ≥ 141), Deno, or the wasm backend");
  const adapter = await api.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : {});
  if (!adapter) throw new WebGpuUnavailableError("WebGPU is present but offered no adapter (no usable GPU or driver; on Linux without a GPU install Mesa's lavapipe: mesa-vulkan-drivers); use the wasm backend otherwise");
  return adapter;
}

/** Opens a GPU device sized for `req` and makes the moec device on it. */
export async function openWebGpu(req: DeviceRequest, opts: OpenOptions = {}) {
  const adapter = await openAdapter(opts);
  const l = adapter.limits;
  // The most the adapter allows for the limits the kernels lean on.
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
  };
  const need = { maxStorageBuffersPerShaderStage: 6, maxComputeWorkgroupStorageSize: 8192, maxComputeInvocationsPerWorkgroup: 256 } as const;
  for (const [k, v] of Object.entries(need)) {
    const have = (l as unknown as Record<string, number>)[k]!;
    if (have < v) throw new WebGpuUnavailableError(`this WebGPU adapter's ${k} is ${have}; moec's kernels need ${v}`);
  }
  const features: GPUFeatureName[] = [];
  if (adapter.features.has("timestamp-query")) features.push("timestamp-query");
  const gpu = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  try {
    return await createWebGpuDevice(gpu, req, { ...opts, ownsDevice: true });
  } catch (e) {
    gpu.destroy();
    throw e;
  }
}
