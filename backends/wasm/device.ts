// The WASM device: the kernel module (built by build.ts; see README.md for the ABI) on one
// WebAssembly memory, behind the device seam (runtime/device.ts). The bundle ships builds with
// relaxed SIMD (fused multiply-add) for engines that have it, detected here at load, and plain
// SIMD128 for the rest; each for one thread or a shared memory, and a 32- or 64-bit memory.
// This file is runtime code: it must not import binaryen or the compiler.
import { linearDevice, type DeviceFactory } from "../../runtime/device.js";
import { KERNEL_NAMES, type Kernels } from "../../runtime/kernels/catalogue.js";
import { FUSED_NAMES, type FusedKernels } from "../../runtime/kernels/fused.js";
import { createMemory } from "../../runtime/memory.js";

/** A minimal module whose only function uses f32x4.relaxed_madd: it validates iff relaxed SIMD is there. */
function relaxedProbe(): Uint8Array<ArrayBuffer> {
  const v128 = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const body = [0x00, ...v128, ...v128, ...v128, 0xfd, 0x85, 0x02, 0x0b];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
    0x03, 0x02, 0x01, 0x00, // function 0 of type 0
    0x0a, body.length + 2, 0x01, body.length, ...body, // code
  ]);
}

export function hasRelaxedSimd(): boolean {
  try {
    return WebAssembly.validate(relaxedProbe());
  } catch {
    return false;
  }
}

/**
 * The eight builds a bundle ships: relaxed SIMD or not, shared memory (threads) or not, and
 * 32- or 64-bit memory (Memory64, for models over 4 GiB).
 */
export function kernelFile(relaxed: boolean, shared: boolean, memory64 = false): string {
  return `kernels${relaxed ? "-relaxed" : ""}${shared ? "-shared" : ""}${memory64 ? "-m64" : ""}.wasm`;
}

export const KERNEL_FILES = [false, true].flatMap((m64) => [false, true].flatMap((shared) => [false, true].map((relaxed) => kernelFile(relaxed, shared, m64))));

export function pickKernelFile(threads = 1, memory64 = false): string {
  return kernelFile(hasRelaxedSimd(), threads > 1, memory64);
}

/** Threads worth using here: Node with worker_threads and more than one core. */
export async function defaultThreads(): Promise<number> {
  if (typeof SharedArrayBuffer === "undefined") return 1;
  if (typeof process !== "undefined" && process.versions?.node) {
    const os = await import("node:os");
    return Math.max(1, Math.min(8, os.availableParallelism?.() ?? os.cpus().length));
  }
  // Browsers: threads need a cross-origin isolated page (COOP + COEP headers) and module workers.
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number }; Worker?: unknown };
  if (!g.crossOriginIsolated || typeof g.Worker === "undefined") return 1;
  return Math.max(1, Math.min(8, g.navigator?.hardwareConcurrency ?? 1));
}

/** More threads than this only add hand-off cost on today's CPUs for these kernels. */
export const MAX_THREADS = 16;

export interface WasmDeviceOptions {
  /** Kernel threads; > 1 needs a shared-memory build (default 1). */
  readonly threads?: number;
  /** Splittable kernels with less work than this stay on one thread (tuning). */
  readonly splitThreshold?: number;
  /** The compiled worker script (default: threads/worker.js next to this module). */
  readonly workerUrl?: URL;
  /** The module is a 64-bit build (Memory64): the model gets a 64-bit memory. */
  readonly memory64?: boolean;
  /** Expert rows up to which fused steps run the fused kernels (default FUSED_MAX_ROWS; tests and tuning). */
  readonly fusedMaxRows?: number;
}

/**
 * Expert rows up to which the fused kernels run (Device.fusedMaxRows): decode, where an expert
 * has one row and its fused kernels stream each weight row as matmul's decode does, in two
 * launches instead of five. With more rows the catalogue's matmul tiles (2 rows × 6 weight rows)
 * reuse each weight load better than the fused kernels' (2 × 4), so fused steps run their
 * unfused kernels there. (No gain either way could be measured on the shared 2-core machine:
 * BENCHMARKS.md, "Expert fusion"; the pass is opt-in.)
 */
export const FUSED_MAX_ROWS = 1;

type Fn = (...args: number[]) => void;

/**
 * A device on a compiled kernel module. With threads > 1 the module must be a shared-memory
 * build, and splittable kernels (the catalogue's `split`) are shared with worker threads; with
 * `memory64` a 64-bit build.
 */
export function wasmDevice(bytes: Uint8Array, opts: WasmDeviceOptions = {}): DeviceFactory {
  const threads = Math.max(1, Math.min(MAX_THREADS, Math.floor(opts.threads ?? 1)));
  const memory64 = opts.memory64 === true;
  const factory = async ({ layout, label }: Parameters<DeviceFactory>[0]) => {
    const memory = createMemory(label, layout.totalBytes, { shared: threads > 1, memory64 });
    const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    let instance: WebAssembly.Instance;
    try {
      instance = await WebAssembly.instantiate(module, { env: { memory } });
    } catch (e) {
      if (!(e instanceof WebAssembly.LinkError)) throw e;
      throw new Error(`the kernel module does not fit the model's memory (${e.message}): a ${memory64 ? "64" : "32"}-bit${threads > 1 ? ", shared" : ""} build is needed — pick the kernels file with kernelFile(relaxed, threads > 1, memory64) and pass the same memory64 and threads to wasmDevice`);
    }
    const exports = instance.exports as Record<string, Fn>;
    const missing = KERNEL_NAMES.filter((n) => typeof exports[n] !== "function");
    if (missing.length > 0) throw new Error(`the kernel module lacks ${missing.join(", ")}: it was built by another moec version; recompile the bundle`);
    const base = Object.fromEntries(KERNEL_NAMES.map((n) => [n, exports[n]!])) as unknown as Kernels;
    // The fused kernels are optional: a module built before them runs unfused plans only.
    const fused = FUSED_NAMES.every((n) => typeof exports[n] === "function") ? (Object.fromEntries(FUSED_NAMES.map((n) => [n, exports[n]!])) as unknown as FusedKernels) : undefined;
    const rows = { fusedMaxRows: opts.fusedMaxRows ?? FUSED_MAX_ROWS };
    if (threads <= 1) return linearDevice("wasm", () => memory.buffer, base, undefined, { ...(fused ? { fused } : {}), ...rows });
    const { startPool, threaded, threadedFused } = await import("./threads/pool.js");
    const pool = await startPool(module, memory, threads - 1, opts.workerUrl);
    return linearDevice(`wasm ×${pool.threads} threads`, () => memory.buffer, threaded(base, pool, opts.splitThreshold), () => pool.close(), { ...(fused ? { fused: threadedFused(fused, pool, opts.splitThreshold) } : {}), ...rows });
  };
  return Object.assign(factory, { threads });
}
