// Multithreading for the WASM kernels (Node worker_threads over one shared memory). Large
// matmuls are split by output columns and large attention calls by heads; the calling thread
// takes one share itself. `loadModel` uses threads only where Node's worker_threads exist.
import { CONTROL_BYTES, HEADER, MAX_ARGS, MAX_WORKERS, SPIN, ARGS_BYTE_OFFSET, WORKER_FUNCTIONS } from "./protocol.js";
import type { Kernels } from "../kernels/kernels.js";

/** Below this many multiply-adds a matmul runs on one thread: handing out work costs ~10 µs. */
export const SPLIT_THRESHOLD = 1 << 18;

export interface ThreadPool {
  readonly threads: number;
  run(jobs: readonly (readonly [fn: (typeof WORKER_FUNCTIONS)[number], args: readonly number[]] | null)[], own: () => void): void;
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

/** Splits [0, N) into `parts` ranges, aligned to 8 columns so SIMD tiles stay whole. */
export function splitRange(N: number, parts: number): [number, number][] {
  const chunk = Math.ceil(N / parts / 8) * 8;
  const out: [number, number][] = [];
  for (let s = 0; s < N; s += chunk) out.push([s, Math.min(N, s + chunk)]);
  return out;
}

/** Kernels whose big matmuls and prefill attention are shared with the pool's workers. */
export function threaded(base: Kernels, attentionHeads: (...a: number[]) => void, pool: ThreadPool, threshold = SPLIT_THRESHOLD): Kernels {
  const split = (fn: "matmul" | "matmul_kn") => (x: number, w: number, bias: number, y: number, T: number, K: number, N: number, n0: number, n1: number) => {
    if (T * K * (n1 - n0) < threshold || n1 - n0 < 16) return base[fn](x, w, bias, y, T, K, N, n0, n1);
    const ranges = splitRange(n1 - n0, pool.threads).map(([a, b]) => [a + n0, b + n0] as const);
    const [mine, ...rest] = ranges;
    pool.run(rest.map(([a, b]) => [fn, [x, w, bias, y, T, K, N, a, b]] as const), () => base[fn](x, w, bias, y, T, K, N, mine![0], mine![1]));
  };
  return {
    ...base,
    name: `${base.name} ×${pool.threads} threads`,
    matmul: split("matmul"),
    matmul_kn: split("matmul_kn"),
    attention(q, k, v, out, T, start, heads, kvHeads, headDim, vDim, kStride, vStride, scale, window, softcap, sinks, scratch, causal) {
      // Small attention calls (short contexts) are not worth handing out.
      if (T * (start + T) * heads * headDim < threshold || heads < 2) return base.attention(q, k, v, out, T, start, heads, kvHeads, headDim, vDim, kStride, vStride, scale, window, softcap, sinks, scratch, causal);
      const per = Math.ceil(heads / pool.threads);
      const ranges: [number, number][] = [];
      for (let h = 0; h < heads; h += per) ranges.push([h, Math.min(heads, h + per)]);
      const [mine, ...rest] = ranges;
      const call = (h0: number, h1: number, i: number) => [q, k, v, out, T, start, heads, kvHeads, headDim, vDim, kStride, vStride, scale, window, softcap, sinks, scratch + i * 4 * (start + T + 16), causal, h0, h1];
      pool.run(rest.map(([a, b], i) => ["attention_heads", call(a, b, i + 1)] as const), () => attentionHeads(...call(mine![0], mine![1], 0)));
    },
  };
}
