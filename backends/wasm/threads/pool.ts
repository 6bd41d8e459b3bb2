// Multithreading for the WASM kernels (Node worker_threads over one shared memory). Large
// matmuls are split by output columns and large attention calls by heads; the calling thread
// takes one share itself. `loadModel` uses threads only where Node's worker_threads exist.
import { CONTROL_BYTES, HEADER, MAX_ARGS, MAX_WORKERS, SPIN, ARGS_BYTE_OFFSET, WORKER_FUNCTIONS } from "./protocol.js";
import { KERNELS, SPLIT_KERNELS, type KernelSpec, type Kernels, type Split } from "../../../runtime/kernels/catalogue.js";
import { FUSED_KERNELS, FUSED_NAMES, type FusedKernels } from "../../../runtime/kernels/fused.js";

/** Below this many multiply-adds a matmul runs on one thread: handing out work costs ~10 µs. */
export const SPLIT_THRESHOLD = 1 << 18;

export interface ThreadPool {
  readonly threads: number;
  run(jobs: readonly (readonly [fn: string, args: readonly number[]] | null)[], own: () => void): void;
  close(): Promise<void>;
}

/** `workerUrl`: the compiled worker script; by default the worker.js next to this module. */
/** One worker, Node or browser, behind the little this pool needs. */
interface AnyWorker {
  terminate(): unknown;
}

const isNode = typeof process !== "undefined" && !!process.versions?.node;

export async function startPool(module: WebAssembly.Module, memory: WebAssembly.Memory, workers: number, workerUrl?: URL): Promise<ThreadPool> {
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const ctl = new Int32Array(control);
  const n = Math.min(workers, MAX_WORKERS);
  const url = workerUrl ?? new URL("./worker.js", import.meta.url);
  // A worker that dies (a trap in a kernel) must not leave the caller waiting forever:
  // record its error and wake the waiter, which then throws it.
  let failure: Error | null = null;
  const fail = (e: unknown) => {
    failure ??= e instanceof Error ? e : new Error(String((e as { message?: string })?.message ?? e));
    Atomics.store(ctl, 3, 1);
    Atomics.notify(ctl, 1);
  };
  let list: AnyWorker[];
  if (isNode) {
    const { Worker } = await import("node:worker_threads");
    const ws = Array.from({ length: n }, (_, index) => new Worker(url, { workerData: { module, memory, control, index } }));
    await Promise.all(ws.map((w) => new Promise<void>((resolve, reject) => {
      w.once("message", () => resolve());
      w.once("error", reject);
    })));
    for (const w of ws) {
      w.on("error", fail);
      w.unref();
    }
    list = ws;
  } else {
    // Browsers: module workers; the page must be cross-origin isolated for a shared memory.
    const ws = Array.from({ length: n }, () => new Worker(url, { type: "module" }));
    await Promise.all(ws.map((w, index) => new Promise<void>((resolve, reject) => {
      w.onmessage = () => resolve();
      w.onerror = (e) => reject(new Error(`a kernel worker failed to start: ${e.message}`));
      w.postMessage({ module, memory, control, index });
    })));
    for (const w of ws) w.onerror = fail;
    list = ws;
  }
  const args = list.map((_, i) => new Float64Array(control, ARGS_BYTE_OFFSET + 8 * i * MAX_ARGS, MAX_ARGS));
  return {
    threads: n + 1,
    run(jobs, own) {
      for (let i = 0; i < n; i++) {
        const job = jobs[i] ?? null;
        Atomics.store(ctl, HEADER + i, job ? WORKER_FUNCTIONS.indexOf(job[0]) : -1);
        if (job) {
          args[i]![0] = job[1].length;
          job[1].forEach((v, j) => (args[i]![1 + j] = v));
        }
      }
      Atomics.store(ctl, 1, 0);
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      own();
      let spins = 0;
      for (;;) {
        const done = Atomics.load(ctl, 1);
        if (done >= n) break;
        if (Atomics.load(ctl, 3) === 1) throw new Error(`a kernel worker failed: ${failure?.message ?? "it stopped"}`);
        // A browser's main thread may not block in Atomics.wait: it keeps spinning.
        if (++spins > SPIN && isNode) Atomics.wait(ctl, 1, done, 50);
      }
    },
    async close() {
      Atomics.store(ctl, 2, 1);
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      await Promise.all(list.map((w) => w.terminate()));
    },
  };
}

/** Splits [0, N) into at most `parts` ranges whose starts are multiples of `align` (SIMD tiles stay whole). */
export function splitRange(N: number, parts: number, align = 8): [number, number][] {
  const chunk = Math.ceil(N / parts / align) * align;
  const out: [number, number][] = [];
  for (let s = 0; s < N; s += chunk) out.push([s, Math.min(N, s + chunk)]);
  return out;
}

/**
 * Kernels whose big calls are shared with the pool's workers: every kernel the catalogue marks
 * splittable runs its range in shares (aligned as the catalogue says), the calling thread
 * taking the first; each share gets its own part of `scratch` where the kernel uses one.
 */
export function threaded(base: Kernels, pool: ThreadPool, threshold = SPLIT_THRESHOLD): Kernels {
  const out: Record<string, (...a: number[]) => void> = { ...base };
  for (const name of SPLIT_KERNELS) out[name] = splitKernel(name, KERNELS[name], base[name] as (...a: number[]) => void, pool, threshold);
  return out as unknown as Kernels;
}

/** The fused kernels (runtime/kernels/fused.ts) shared out the same way. */
export function threadedFused(base: FusedKernels, pool: ThreadPool, threshold = SPLIT_THRESHOLD): FusedKernels {
  const out: Record<string, (...a: number[]) => void> = { ...base };
  for (const name of FUSED_NAMES) if ("split" in FUSED_KERNELS[name]) out[name] = splitKernel(name, FUSED_KERNELS[name], base[name] as (...a: number[]) => void, pool, threshold);
  return out as unknown as FusedKernels;
}

function splitKernel(name: string, spec: KernelSpec, run: (...a: number[]) => void, pool: ThreadPool, threshold: number): (...a: number[]) => void {
  const split = spec.split as Split;
  const at = new Map<string, number>(spec.params.map(([n], i) => [n, i]));
  const index = (param: string) => {
    const i = at.get(param);
    if (i === undefined) throw new Error(`kernel ${name} has no parameter ${param}`);
    return i;
  };
  const [i0, i1] = [index(split.range[0]), index(split.range[1])];
  const scratchAt = spec.params.findIndex(([, role]) => role === "scratch");
  return (...args: number[]) => {
    const named = (param: string) => args[index(param)]!;
    const [lo, hi] = [args[i0]!, args[i1]!];
    // Small calls are not worth handing out (about 10 µs each).
    if (split.work(named) < threshold || hi - lo < 2 * split.align) return run(...args);
    const share = split.scratchFloats ? 4 * split.scratchFloats(named) : 0;
    const shares = splitRange(hi - lo, pool.threads, split.align).map(([a, b], i) => {
      const a2 = args.slice();
      a2[i0] = lo + a;
      a2[i1] = lo + b;
      if (share && scratchAt >= 0) a2[scratchAt] = args[scratchAt]! + i * share;
      return a2;
    });
    const [mine, ...rest] = shares;
    pool.run(rest.map((a) => [name, a] as const), () => run(...mine!));
  };
}
