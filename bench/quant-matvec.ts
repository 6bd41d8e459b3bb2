// The WASM quantized matrix-vector kernel alone (matmul_q at T = 1, the decode path), one thread:
// GB/s of weights read, against bench/bandwidth.ts's one-thread figure. Cycles through enough
// random matrices ([N, K], expert-sized) that each call reads its weights from memory, not cache.
//
//   node --experimental-strip-types bench/quant-matvec.ts [--formats q4_k,q8_0] [--k 2048] [--n 1024] [--seconds 2]
import { parseArgs } from "node:util";
import { measureBandwidth } from "./bandwidth.ts";
import { hasRelaxedSimd } from "../dist/backends/wasm/device.js";
import { buildKernelModule } from "../dist/backends/wasm/build.js";
import { enumCode, matmulQScratchFloats } from "../dist/runtime/kernels/catalogue.js";
import { rowBytes, type StorageFormat } from "../dist/runtime/plan/formats.js";
import { encodeWeight } from "../dist/compiler/quant/encode.js";

const { values } = parseArgs({ options: { mats: { type: "string" }, shared: { type: "boolean" }, formats: { type: "string" }, k: { type: "string" }, n: { type: "string" }, seconds: { type: "string" } } });
const formats = (values.formats ?? "q4_k,q8_0").split(",") as StorageFormat[];
const [K, N] = [Number(values.k ?? 2048), Number(values.n ?? 1024)];
const seconds = Number(values.seconds ?? 2);
const MATS = Number(values.mats ?? 64);
const relaxed = hasRelaxedSimd();
const { binary } = buildKernelModule({ relaxedSimd: relaxed, sharedMemory: values.shared === true });
const matBytes = rowBytes(formats.includes("q8_0") ? "q8_0" : formats[0]!, K) * N;
const pages = Math.ceil((MATS * matBytes * 1.1 + 64 * 2 ** 20) / 65536);
const memory = new WebAssembly.Memory({ initial: pages, ...(values.shared ? { maximum: pages, shared: true } : {}) });
const inst = new WebAssembly.Instance(new WebAssembly.Module(binary as Uint8Array<ArrayBuffer>), { env: { memory } });
const matmulQ = inst.exports["matmul_q"] as (...a: number[]) => void;
const bw = await measureBandwidth(256);
console.log(`${relaxed ? "relaxed SIMD" : "SIMD128"}, K ${K}, N ${N}; bandwidth 1 thread ${(bw.oneThread / 1e9).toFixed(1)} GB/s`);
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
for (const f of formats) {
  const rb = rowBytes(f, K) * N;
  const w = Float32Array.from({ length: N * K }, rand);
  const one = encodeWeight(f, w, [N, K]);
  const x = 16, y = x + 4 * K, scratch = y + 4 * N + 64, wbase = scratch + 4 * matmulQScratchFloats(1, K) + 64;
  const heap = new Uint8Array(memory.buffer);
  new Float32Array(memory.buffer, x, K).set(Float32Array.from({ length: K }, rand));
  // The same encoded matrix copied MATS times: the kernel reads each copy from memory.
  for (let i = 0; i < MATS; i++) heap.set(one, wbase + i * rb);
  const call = (i: number) => matmulQ(x, wbase + (i % MATS) * rb, 0, 0, y, 1, K, N, 0, N, enumCode("format", f), scratch);
  for (let i = 0; i < MATS; i++) call(i);
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) for (let j = 0; j < 16; j++) call(calls++);
  const ms = (performance.now() - t0) / calls;
  console.log(`${f}: ${(ms * 1000).toFixed(1)} µs a call, ${((rb / ms) * 1e-6).toFixed(1)} GB/s of weights, ${((2 * K * N) / ms * 1e-6).toFixed(1)} GFLOP/s`);
}
