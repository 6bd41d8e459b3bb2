// The `wasm` backend's emitter (compiler side: it builds with binaryen, loaded only when a file
// is built): each kernel build a bundle ships, by file name, built once per process and kept, and
// kept on disk between processes (kernel-cache.ts).
import { KERNEL_FILES, kernelFile } from "./device.js";
import { readCachedKernels, writeCachedKernels } from "./kernel-cache.js";

const built = new Map<string, Uint8Array>();

/** Builds `kernels[-relaxed][-shared][-m64].wasm`. */
export async function buildWasmFile(name: string): Promise<Uint8Array> {
  const hit = built.get(name);
  if (hit) return hit;
  const opts = [false, true].flatMap((memory64) => [false, true].flatMap((sharedMemory) => [false, true].map((relaxedSimd) => ({ relaxedSimd, sharedMemory, memory64 })))).find((o) => kernelFile(o.relaxedSimd, o.sharedMemory, o.memory64) === name);
  if (!opts) throw new Error(`the wasm backend has no file ${name}; its files are ${KERNEL_FILES.join(", ")}`);
  let bytes = readCachedKernels(name);
  if (!bytes) {
    const { buildKernelModule } = await import("./build.js");
    bytes = buildKernelModule(opts).binary;
    writeCachedKernels(name, bytes);
  }
  built.set(name, bytes);
  return bytes;
}
