// This machine's memory read bandwidth, measured the way moec's kernels read weights: a WASM
// SIMD loop streaming v128 loads (8 independent accumulators) over a 512 MiB buffer, best of
// several passes, on 1 thread and on N threads (worker_threads sharing one WebAssembly.Memory,
// each streaming its own slice). The decode floors in the report divide the bytes a step must
// read by the 1-thread figure (moec's WASM kernels run on one thread) and show the N-thread one.
import binaryen from "binaryen";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

const MiB = 2 ** 20;
const PAGE = 65536;

const WAT = `(module
  (import "env" "memory" (memory 1 65536 shared))
  (func (export "sum") (param $p i32) (param $end i32) (result i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local $e v128) (local $f v128) (local $g v128) (local $h v128)
    (loop $l
      (local.set $a (i32x4.add (local.get $a) (v128.load offset=0 (local.get $p))))
      (local.set $b (i32x4.add (local.get $b) (v128.load offset=16 (local.get $p))))
      (local.set $c (i32x4.add (local.get $c) (v128.load offset=32 (local.get $p))))
      (local.set $d (i32x4.add (local.get $d) (v128.load offset=48 (local.get $p))))
      (local.set $e (i32x4.add (local.get $e) (v128.load offset=64 (local.get $p))))
      (local.set $f (i32x4.add (local.get $f) (v128.load offset=80 (local.get $p))))
      (local.set $g (i32x4.add (local.get $g) (v128.load offset=96 (local.get $p))))
      (local.set $h (i32x4.add (local.get $h) (v128.load offset=112 (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 128)))
      (br_if $l (i32.lt_u (local.get $p) (local.get $end))))
    (local.set $a (i32x4.add (i32x4.add (i32x4.add (local.get $a) (local.get $b)) (i32x4.add (local.get $c) (local.get $d)))
                             (i32x4.add (i32x4.add (local.get $e) (local.get $f)) (i32x4.add (local.get $g) (local.get $h)))))
    (i32.add (i32.add (i32x4.extract_lane 0 (local.get $a)) (i32x4.extract_lane 1 (local.get $a)))
             (i32.add (i32x4.extract_lane 2 (local.get $a)) (i32x4.extract_lane 3 (local.get $a))))))`;

function streamModule(): Uint8Array {
  const m = binaryen.parseText(WAT);
  m.setFeatures(binaryen.Features.SIMD128 | binaryen.Features.Atomics);
  if (!m.validate()) throw new Error("bandwidth module does not validate");
  const bytes = m.emitBinary();
  m.dispose();
  return bytes;
}

// A worker: instantiates the module on the shared memory, then on each message streams its
// slice `passes` times and answers with the elapsed milliseconds.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { bytes, memory } = workerData;
const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
let sink = 0;
parentPort.on("message", ({ from, to, passes }) => {
  const t0 = performance.now();
  for (let i = 0; i < passes; i++) sink ^= inst.exports.sum(from, to);
  parentPort.postMessage({ ms: performance.now() - t0, sink });
});`;

export interface Bandwidth {
  readonly bufferMiB: number;
  /** Bytes per second, best pass. */
  readonly oneThread: number;
  readonly threads: number;
  readonly multiThread: number;
}

export async function measureBandwidth(bufferMiB = 512, reps = 7): Promise<Bandwidth> {
  const bytes = streamModule();
  const size = bufferMiB * MiB;
  const pages = size / PAGE + 1;
  const memory = new WebAssembly.Memory({
    initial: pages,
    maximum: pages,
    shared: true,
  });
  // Touch every page (with non-zero data) so the passes read resident memory.
  new Uint32Array(memory.buffer).fill(0x01010101);
  const base = PAGE;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { env: { memory } });
  const sum = inst.exports["sum"] as (p: number, end: number) => number;
  let best = Infinity;
  sum(base, base + size);
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    sum(base, base + size);
    best = Math.min(best, performance.now() - t0);
  }
  const oneThread = size / (best / 1000);

  const threads = Math.max(2, availableParallelism());
  const workers = Array.from({ length: threads }, () => new Worker(WORKER, { eval: true, workerData: { bytes, memory } }));
  const slice = Math.floor(size / threads / 128) * 128;
  const run = (passes: number) =>
    Promise.all(
      workers.map(
        (w, i) =>
          new Promise<number>((resolve) => {
            w.once("message", (m: { ms: number }) => resolve(m.ms));
            w.postMessage({
              from: base + i * slice,
              to: base + (i + 1) * slice,
              passes,
            });
          }),
      ),
    );
  // Several passes per round so the message round trip (~0.1 ms) is noise next to the streaming.
  const PASSES = 4;
  await run(1);
  let bestMulti = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await run(PASSES);
    bestMulti = Math.min(bestMulti, performance.now() - t0);
  }
  await Promise.all(workers.map((w) => w.terminate()));
  return {
    bufferMiB,
    oneThread,
    threads,
    multiThread: (PASSES * slice * threads) / (bestMulti / 1000),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const b = await measureBandwidth();
  console.log(
    `read bandwidth over ${b.bufferMiB} MiB: 1 thread ${(b.oneThread / 1e9).toFixed(1)} GB/s, ${b.threads} threads ${(b.multiThread / 1e9).toFixed(1)} GB/s`,
  );
}
