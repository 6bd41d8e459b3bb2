// The grouped kernels (runtime/kernels/grouped.ts) on the WebGPU device, against float64
// computations from the routing route_topk left on the device: moe_route against matmul +
// route_topk, moe_matmul (both layouts, bias, chunks of rows, its tiled program), moe_gate_up
// (both activations) and moe_down_combine against fill + matmul + scatter_add_rows in JS —
// on shapes that are not powers of two, with experts nobody chose.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Device } from "../../../runtime/device.js";
import { enumCode, routeWorkBytes } from "../../../runtime/kernels/catalogue.js";
import { bareDevice, WEBGPU_SKIP, wgslDriverUrl } from "../../helpers/devices.js";
import { webgpuDevice } from "../../../backends/wgsl/runtime.js";
import { namedRandom, runSeed } from "../../helpers/seed.js";

const SEED = runSeed("grouped kernels");
const seeded = (name: string) => namedRandom(SEED, name);

const BYTES = 32 << 20;
/** The f32 weight format code (the two-byte formats are tested end to end: test/backends/wgsl/quant-e2e.test.ts). */
const F32 = enumCode("format", "f32");
let dev: Device;
beforeAll(async () => {
  if (WEBGPU_SKIP === null) dev = await bareDevice(webgpuDevice({ driverUrl: wgslDriverUrl }), BYTES);
});
afterAll(() => dev?.dispose());

let top = 64;
const alloc = (n: number) => {
  const p = (top = (top + 255) & ~255);
  top += 4 * n + 256;
  return p;
};
const put = (d: ArrayLike<number>) => {
  const p = alloc(d.length);
  dev.upload(p, Float32Array.from(d));
  return p;
};
const read = async (p: number, n: number) => new Float32Array((await dev.read(p, 4 * n)).buffer, 0, n);
const readI = async (p: number, n: number) => new Int32Array((await dev.read(p, 4 * n)).buffer, 0, n);

function close(got: Float32Array, want: Float64Array, scale: Float64Array, label: string) {
  for (let i = 0; i < want.length; i++) {
    const tol = 2e-5 * (Math.abs(want[i]!) + scale[i]!) + 1e-30;
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) throw new Error(`${label}: element ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

/** Routes T tokens over E experts (top-k softmax) on the device; returns the routing read back and its pointers. */
async function routed(r: () => number, T: number, E: number, k: number, d: number, fused: boolean) {
  const x = Float32Array.from({ length: T * d }, () => 2 * r() - 1);
  const wr = Float32Array.from({ length: E * d }, () => 2 * r() - 1);
  const xp = put(x);
  const wrp = put(wr);
  const logits = alloc(T * E);
  const counts = alloc(E + 1);
  const tok = alloc(T * k);
  const w = alloc(T * k);
  const work = alloc(routeWorkBytes(T, E, k) / 4 + T * k * 2);
  const args = [T, E, k, enumCode("scoring", "softmax"), 0, 1, 1, enumCode("group_scoring", "max"), 1, 1, 0] as const;
  if (fused) dev.grouped!.moe_route(xp, wrp, 0, d, logits, ...args, counts, tok, w, work);
  else {
    dev.launch.matmul(xp, wrp, 0, logits, T, d, E, 0, E);
    dev.launch.route_topk(logits, ...args, counts, tok, w, work);
  }
  return { x, xp, counts, tok, w, offsets: await readI(counts, E + 1), tokens: await readI(tok, T * k), weights: await read(w, T * k), logits: await read(logits, T * E) };
}

describe.skipIf(WEBGPU_SKIP !== null)("grouped kernels on webgpu", () => {
  it("moe_route equals the router matmul + route_topk", async () => {
    // same inputs: re-run with one generator state
    for (const [T, E, k, d] of [[1, 8, 2, 64], [3, 60, 4, 130], [17, 129, 8, 33]] as const) {
      top = 64;
      const a = await routed(seeded(`r${T}`), T, E, k, d, false);
      top = 64;
      const b = await routed(seeded(`r${T}`), T, E, k, d, true);
      close(b.logits, Float64Array.from(a.logits), new Float64Array(a.logits.length).fill(0.05), `moe_route logits T=${T}`);
      expect(Array.from(b.offsets)).toEqual(Array.from(a.offsets));
      expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
      close(b.weights, Float64Array.from(a.weights), new Float64Array(a.weights.length), `moe_route weights T=${T}`);
    }
  });

  it("moe_matmul: both layouts, bias, chunks, vec and tiled programs", async () => {
    const r = seeded("moe_matmul");
    for (const [T, E, k, K, N, kn, bias, chunk] of [
      [1, 8, 2, 64, 33, 0, 0, 2], [5, 7, 3, 37, 70, 1, 1, 15], [9, 5, 2, 130, 65, 0, 1, 7], [70, 6, 2, 20, 67, 0, 1, 140], [70, 6, 2, 20, 67, 0, 0, 100], [70, 6, 2, 20, 67, 1, 0, 140], [70, 6, 2, 20, 67, 1, 0, 100],
    ] as const) {
      top = 64;
      const R = await routed(r, T, E, k, 16, false);
      const A = T * k;
      const xs = Float32Array.from({ length: A * K }, () => 2 * r() - 1);
      const W = Float32Array.from({ length: E * N * K }, () => 2 * r() - 1);
      const B = Float32Array.from({ length: E * N }, () => 2 * r() - 1);
      const xp = put(xs);
      const wp = put(W);
      const bp = bias ? put(B) : 0;
      const yp = alloc(A * N);
      dev.upload(yp, new Float32Array(A * N).fill(NaN));
      for (let row0 = 0; row0 < A; row0 += chunk) {
        const n = Math.min(chunk, A - row0);
        dev.grouped!.moe_matmul(xp + 4 * row0 * K, wp, N * K, bp, N, yp + 4 * row0 * N, R.counts, n, row0, 0, E, K, N, kn, F32);
      }
      const got = await read(yp, A * N);
      const want = new Float64Array(A * N);
      const mag = new Float64Array(A * N);
      for (let e = 0; e < E; e++)
        for (let p = R.offsets[e]!; p < R.offsets[e + 1]!; p++)
          for (let n = 0; n < N; n++) {
            let s = 0;
            let m = 0;
            for (let q = 0; q < K; q++) {
              const v = xs[p * K + q]! * W[e * N * K + (kn ? q * N + n : n * K + q)]!;
              s += v;
              m += Math.abs(v);
            }
            want[p * N + n] = s + (bias ? B[e * N + n]! : 0);
            mag[p * N + n] = m;
          }
      if (process.env["DEBUG_GROUPED"]) {
        const bad = new Set<number>();
        for (let i = 0; i < A * N; i++) if (Math.abs(got[i]! - want[i]!) > 1e-3) bad.add(Math.floor(i / N));
        console.log(`T=${T} chunk=${chunk} offsets ${Array.from(R.offsets)} bad rows ${[...bad]}`);
      }
      close(got, want, mag, `moe_matmul T=${T} E=${E} K=${K} N=${N} kn=${kn}`);
    }
  });

  it("moe_gate_up and moe_down_combine: the fused SwiGLU expert against step by step", async () => {
    const r = seeded("fused");
    for (const [T, E, k, d, F, act] of [[1, 8, 2, 64, 40, 1], [3, 60, 4, 33, 17, 0], [12, 9, 3, 48, 70, 1]] as const) {
      top = 64;
      const R = await routed(r, T, E, k, d, true);
      const A = T * k;
      const Wg = Float32Array.from({ length: E * F * d }, () => (2 * r() - 1) / 4);
      const Wu = Float32Array.from({ length: E * F * d }, () => (2 * r() - 1) / 4);
      const Wd = Float32Array.from({ length: E * d * F }, () => (2 * r() - 1) / 4);
      // per-expert tensors laid out one expert after another: gate, up, down of expert 0, then expert 1…
      const stride = 2 * F * d + d * F;
      const all = new Float32Array(E * stride);
      for (let e = 0; e < E; e++) {
        all.set(Wg.subarray(e * F * d, (e + 1) * F * d), e * stride);
        all.set(Wu.subarray(e * F * d, (e + 1) * F * d), e * stride + F * d);
        all.set(Wd.subarray(e * d * F, (e + 1) * d * F), e * stride + 2 * F * d);
      }
      const wp = put(all);
      const hp = alloc(A * F);
      const op = alloc(T * d);
      dev.upload(op, new Float32Array(T * d).fill(NaN));
      dev.grouped!.moe_gate_up(R.xp, R.tok, wp, wp + 4 * F * d, stride, hp, R.counts, A, 0, 0, E, d, F, act, 1, 0, 0, F32);
      dev.grouped!.moe_down_combine(hp, wp + 8 * F * d, stride, R.tok, R.w, R.counts, op, T, A, E, F, d, 0, E, 0, F32);
      const h = await read(hp, A * F);
      const out = await read(op, T * d);
      const wantH = new Float64Array(A * F);
      const wantO = new Float64Array(T * d);
      const magO = new Float64Array(T * d);
      for (let e = 0; e < E; e++)
        for (let p = R.offsets[e]!; p < R.offsets[e + 1]!; p++) {
          const t = R.tokens[p]!;
          for (let f = 0; f < F; f++) {
            let g = 0;
            let u = 0;
            for (let q = 0; q < d; q++) {
              g += R.x[t * d + q]! * Wg[e * F * d + f * d + q]!;
              u += R.x[t * d + q]! * Wu[e * F * d + f * d + q]!;
            }
            wantH[p * F + f] = (g / (1 + Math.exp(-g))) * u;
          }
          for (let n = 0; n < d; n++) {
            let y = 0;
            let m = 0;
            for (let f = 0; f < F; f++) {
              y += h[p * F + f]! * Wd[e * d * F + n * F + f]!;
              m += Math.abs(h[p * F + f]! * Wd[e * d * F + n * F + f]!);
            }
            wantO[t * d + n] += R.weights[p]! * y;
            magO[t * d + n] += Math.abs(R.weights[p]!) * m;
          }
        }
      close(h, wantH, Float64Array.from(wantH, () => 1e-2), `moe_gate_up T=${T} E=${E} act=${act}`);
      close(out, wantO, magO, `moe_down_combine T=${T} E=${E}`);
    }
  });
});
