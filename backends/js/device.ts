// The TypeScript device: the kernels of kernels.ts on one linear memory (a 64-bit memory when
// the model needs more than 4 GiB and the engine has one). It runs wherever JavaScript runs,
// and is the second opinion the WASM kernels are tested against.
import { linearDevice, type DeviceFactory } from "../../runtime/device.js";
import { createMemory, hasMemory64, MAX_MEMORY32 } from "../../runtime/memory.js";
import { jsFusedKernels } from "./fused.js";
import { jsKernels } from "./kernels.js";

export function jsDevice(): DeviceFactory {
  const factory: DeviceFactory = async ({ layout, label }) => {
    const memory = createMemory(label, layout.totalBytes, { shared: false, memory64: layout.totalBytes > MAX_MEMORY32 && hasMemory64() });
    return linearDevice("js", () => memory.buffer, jsKernels(() => memory.buffer), undefined, { fused: jsFusedKernels(() => memory.buffer) });
  };
  return Object.assign(factory, { threads: 1 });
}
