// The WASM SIMD kernels (backends/wasm builds them; see backends/wasm/README.md for the ABI)
// behind the Kernels interface, every kernel in WASM. The bundle ships builds with relaxed
// SIMD (fused multiply-add) for engines that have it, detected here at load, and plain
// SIMD128 for the rest; each for one thread or a shared memory, and a 32- or 64-bit memory.
import type { KernelFactory } from "../model.js";
import type { Kernels } from "./kernels.js";

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

type Fn = (...args: number[]) => void;

/** More threads than this only add hand-off cost on today's CPUs for these kernels. */
export const MAX_THREADS = 16;

/**
 * Kernels from a compiled kernel module, instantiated on the model's memory. With threads > 1
 * the module must be a shared-memory build, and big matmuls are split over worker threads;
 * with `memory64` a 64-bit build (the model then gets a 64-bit memory).
 */
export function wasmKernels(bytes: Uint8Array, opts: { threads?: number; splitThreshold?: number; workerUrl?: URL; memory64?: boolean } = {}): KernelFactory {
  const threads = Math.max(1, Math.min(MAX_THREADS, Math.floor(opts.threads ?? 1)));
  const factory = async (memory: WebAssembly.Memory): Promise<Kernels> => {
    const module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    let instance: WebAssembly.Instance;
    try {
      instance = await WebAssembly.instantiate(module, { env: { memory } });
    } catch (e) {
      if (!(e instanceof WebAssembly.LinkError)) throw e;
      throw new Error(`the kernel module does not fit the model's memory (${e.message}): a ${opts.memory64 ? "64" : "32"}-bit${threads > 1 ? ", shared" : ""} build is needed — pick the kernels file with kernelFile(relaxed, threads > 1, memory64) and pass the same memory64 and threads to wasmKernels`);
    }
    const e = instance.exports as Record<string, Fn>;
    const k: Kernels = {
      name: "wasm",
      matmul: (...a) => e["matmul"]!(...a),
      matmul_kn: (...a) => e["matmul_kn"]!(...a),
      rmsnorm: (...a) => e["rmsnorm"]!(...a),
      layernorm: (...a) => e["layernorm"]!(...a),
      unary: (...a) => e["unary"]!(...a),
      binary: (...a) => e["binary"]!(...a),
      scale: (...a) => e["scale"]!(...a),
      clamp: (...a) => e["clamp"]!(...a),
      swiglu: (...a) => e["swiglu"]!(...a),
      deinterleave: (...a) => e["deinterleave"]!(...a),
      rope: (...a) => e["rope"]!(...a),
      attention: (...a) => e["attention"]!(...a),
      gather_rows: (...a) => e["gather_rows"]!(...a),
      scatter_add_rows: (...a) => e["scatter_add_rows"]!(...a),
      fill: (...a) => e["fill"]!(...a),
      route_topk: (...a) => e["route_topk"]!(...a),
    };
    if (threads <= 1) return k;
    const { startPool, threaded } = await import("../threads/pool.js");
    const pool = await startPool(module, memory, threads - 1, opts.workerUrl);
    return { ...threaded(k, e["attention_heads"]!, pool, opts.splitThreshold), dispose: () => pool.close() };
  };
  return Object.assign(factory, { sharedMemory: threads > 1, threads, memory64: opts.memory64 === true });
}
