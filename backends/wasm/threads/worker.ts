// A kernel worker: instantiates the kernel module on the shared memory and runs the jobs the
// runtime hands out through the control block (protocol.ts). It runs as a Node worker_thread
// or as a browser module Worker (cross-origin isolated pages, where SharedArrayBuffer exists).
import { ARGS_BYTE_OFFSET, HEADER, MAX_ARGS, SPIN, WORKER_FUNCTIONS } from "./protocol.js";

interface Data {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly control: SharedArrayBuffer;
  readonly index: number;
}

/** The start-up data and a way to answer, in Node or in a browser worker. */
async function start(): Promise<{ data: Data; ready: () => void }> {
  if (typeof process !== "undefined" && process.versions?.node) {
    const wt = await import("node:worker_threads");
    return { data: wt.workerData as Data, ready: () => wt.parentPort?.postMessage("ready") };
  }
  const scope = globalThis as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage: (m: unknown) => void };
  return new Promise((resolve) => {
    scope.onmessage = (e: MessageEvent) => {
      scope.onmessage = null;
      resolve({ data: e.data as Data, ready: () => scope.postMessage("ready") });
    };
  });
}

const { data, ready } = await start();
const { module, memory, control, index } = data;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const fns = WORKER_FUNCTIONS.map((name) => instance.exports[name] as (...a: number[]) => void);
const ctl = new Int32Array(control);
const args = new Float64Array(control, ARGS_BYTE_OFFSET + 8 * index * MAX_ARGS, MAX_ARGS);

let seen = Atomics.load(ctl, 0);
ready();
for (;;) {
  let spins = 0;
  while (Atomics.load(ctl, 0) === seen) {
    if (++spins > SPIN) Atomics.wait(ctl, 0, seen, 1000);
  }
  seen = Atomics.load(ctl, 0);
  if (Atomics.load(ctl, 2) === 1) break;
  const fn = Atomics.load(ctl, HEADER + index);
  if (fn >= 0) {
    const n = args[0]!;
    const a: number[] = [];
    for (let i = 0; i < n; i++) a.push(args[1 + i]!);
    fns[fn]!(...a);
  }
  Atomics.add(ctl, 1, 1);
  Atomics.notify(ctl, 1);
}
