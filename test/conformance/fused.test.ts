// Conformance of the optional fused kernels (runtime/kernels/fused.ts) on every test device
// that has them: against float64 computations of what they fuse, and against the JS device, on
// random inputs with a fresh seed each run (MOEC_SEED=… reproduces one), non-power-of-two
// shapes, outputs poisoned with NaN (glu_matmul) or filled with random values that columns
// outside the range must keep (matmul_scatter_add, which updates), and guard words after every
// buffer. The threaded device splits every call over its workers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FUSED_NAMES, type FusedKernels } from "../../runtime/kernels/fused.js";
import type { Device } from "../../runtime/device.js";
import { Arena } from "../helpers/arena.js";
import { TEST_DEVICES, bareDevice } from "../helpers/devices.js";
import { jsDevice } from "../../backends/js/device.js";
import { namedRandom, runSeed } from "../helpers/seed.js";
import { RUNTIME_BACKENDS } from "../../runtime/backends.js";
import type { RuntimeBackend } from "../../runtime/backend.js";

const SEED = runSeed("fused kernel conformance");
const BYTES = 16 * 2 ** 20;
const uniform = (r: () => number, n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** A gate/up weight layout: separate tensors, the halves of one [2N, K], or its interleaved rows. */
type Layout = "separate" | "halves" | "interleaved";

interface GluCase {
  readonly T: number;
  readonly K: number;
  readonly N: number;
  readonly layout: Layout;
  readonly bias: boolean;
  readonly act: readonly [alpha: number, limit: number, upOffset: number];
  readonly n0: number;
  readonly n1: number;
}

/** Where a case's operands are, on one device: the same inputs for every device (uploaded from `data`). */
function placeGlu(A: Arena, c: GluCase, data: { x: Float32Array; w: Float32Array; b: Float32Array }) {
  const { K, N } = c;
  const x = A.put(data.x);
  const w = A.put(data.w);
  const b = c.bias ? A.put(data.b) : 0;
  // [2N, K]: rows 0…N−1 gate and N…2N−1 up (separate and halves), or gate 2n and up 2n+1 (interleaved).
  const [wg, wu, wRow] = c.layout === "interleaved" ? [w, w + 4 * K, 2 * K] : [w, w + 4 * N * K, K];
  const [bg, bu, bStep] = !c.bias ? [0, 0, 1] : c.layout === "interleaved" ? [b, b + 4, 2] : [b, b + 4 * N, 1];
  return { x, wg, wu, wRow, bg, bu, bStep };
}

/** Float64 glu over the same data, with each output's tolerance from the sums' magnitudes. */
function refGlu(c: GluCase, data: { x: Float32Array; w: Float32Array; b: Float32Array }) {
  const { T, K, N } = c;
  const [alpha, limit, off] = c.act;
  const row = (which: 0 | 1, n: number) => (c.layout === "interleaved" ? 2 * n + which : which * N + n);
  const y = new Float64Array(T * N);
  const tol = new Float64Array(T * N);
  for (let t = 0; t < T; t++)
    for (let n = 0; n < N; n++) {
      const dot = (which: 0 | 1) => {
        let s = 0;
        let mag = 0;
        for (let k = 0; k < K; k++) {
          const p = data.x[t * K + k]! * data.w[row(which, n) * K + k]!;
          s += p;
          mag += Math.abs(p);
        }
        const bias = c.bias ? data.b[row(which, n)]! : 0;
        return { v: s + bias, mag: mag + Math.abs(bias) };
      };
      const g0 = dot(0);
      const u0 = dot(1);
      const g = limit > 0 ? Math.min(g0.v, limit) : g0.v;
      const u = limit > 0 ? Math.min(limit, Math.max(-limit, u0.v)) : u0.v;
      const silu = g * sigmoid(Math.fround(alpha) * g);
      y[t * N + n] = silu * (u + off);
      // A sum off by δ moves y by at most |∂y/∂g|·δ ≤ (1 + 0.6·alpha·|g|)·|u + off|·δ, and |silu|·δ through u.
      tol[t * N + n] = 2e-6 * (g0.mag * (1 + alpha * Math.abs(g)) * Math.abs(u + off) + u0.mag * Math.abs(silu)) + 4e-7 * (1 + Math.abs(y[t * N + n]!));
    }
  return { y, tol };
}

function gluCases(r: () => number): GluCase[] {
  const out: GluCase[] = [];
  for (const T of [1, 2, 3, 17])
    for (const K of [1, 5, 63, 130])
      for (const N of [1, 7, 33, 57]) {
        const layout = (["separate", "halves", "interleaved"] as const)[Math.floor(r() * 3)]!;
        const act = r() < 0.5 ? ([1, 0, 0] as const) : ([1.702, 7, 1] as const);
        const n0 = r() < 0.4 ? 0 : Math.floor(r() * N);
        const n1 = r() < 0.4 ? N : n0 + 1 + Math.floor(r() * (N - n0));
        out.push({ T, K, N, layout, bias: r() < 0.5, act, n0, n1 });
      }
  return out;
}

interface ScatterCase {
  readonly T: number;
  readonly K: number;
  readonly N: number;
  readonly rows: number;
  readonly bias: boolean;
  readonly weighted: boolean;
  readonly n0: number;
  readonly n1: number;
}

function scatterCases(r: () => number): ScatterCase[] {
  const out: ScatterCase[] = [];
  for (const T of [1, 2, 3, 17])
    for (const K of [1, 5, 63, 130])
      for (const N of [1, 7, 33, 57]) {
        const n0 = r() < 0.4 ? 0 : Math.floor(r() * N);
        const n1 = r() < 0.4 ? N : n0 + 1 + Math.floor(r() * (N - n0));
        out.push({ T, K, N, rows: T + Math.floor(r() * 5), bias: r() < 0.5, weighted: r() < 0.7, n0, n1 });
      }
  return out;
}

/** Distinct output rows for T assignments (one expert's tokens), in a random order. */
function distinctRows(r: () => number, T: number, rows: number): number[] {
  const all = Array.from({ length: rows }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, T);
}

/** The test devices of backends that list the fused kernels (Capabilities.fused), where they run here. */
const devices = TEST_DEVICES.filter((d) => !d.skip && (RUNTIME_BACKENDS as readonly RuntimeBackend[]).find((b) => b.target === d.target)?.capabilities.fused?.length);

describe("fused kernels: every test device of a backend that lists them has them", () => {
  it("the JS and WASM devices set Device.fused", async () => {
    expect([...new Set(devices.map((d) => d.target))].sort()).toEqual(["js", "wasm"]);
    for (const d of devices) {
      const dev = await d.make(1 << 16);
      expect(dev.fused, d.label).toBeDefined();
      expect(Object.keys(dev.fused!).sort(), d.label).toEqual([...FUSED_NAMES].sort());
      await dev.dispose();
    }
  });
});

for (const variant of devices) {
  describe(`fused kernels on ${variant.label}`, () => {
    let device: Device;
    let js: Device;
    let f: FusedKernels;
    beforeAll(async () => {
      device = await variant.make(BYTES);
      js = await bareDevice(jsDevice(), BYTES);
      f = device.fused!;
    });
    afterAll(async () => {
      await device.dispose();
      await js.dispose();
    });

    it("glu_matmul: T ∈ {1,2,3,17} × K ∈ {1,5,63,130} × N ∈ {1,7,33,57}, three weight layouts, biases, SwiGLU and GPT-OSS's clamped form, column ranges", async () => {
      const r = namedRandom(SEED, `${variant.label}/glu_matmul`);
      let worst = 0;
      let vsJs = 0;
      for (const c of gluCases(r)) {
        const data = { x: uniform(r, c.T * c.K, -2, 2), w: uniform(r, 2 * c.N * c.K, -1, 1), b: uniform(r, 2 * c.N) };
        const results: Float32Array[] = [];
        for (const dev of [device, js]) {
          const A = new Arena(dev, BYTES, namedRandom(SEED, `${variant.label}/glu arena`));
          const p = placeGlu(A, c, data);
          const y = A.poisoned(c.T * c.N);
          (dev === device ? f : js.fused!).glu_matmul(p.x, p.wg, p.wu, p.wRow, p.bg, p.bu, p.bStep, y, c.T, c.K, c.N, c.n0, c.n1, c.act[0], c.act[1], c.act[2]);
          await A.checkGuards();
          results.push(Float32Array.from(await A.read(y, c.T * c.N)));
        }
        const [got, twin] = results as [Float32Array, Float32Array];
        const { y, tol } = refGlu(c, data);
        const label = `T=${c.T} K=${c.K} N=${c.N} ${c.layout} bias=${c.bias} act=${c.act.join(",")} [${c.n0},${c.n1})`;
        for (let t = 0; t < c.T; t++)
          for (let n = 0; n < c.N; n++) {
            const i = t * c.N + n;
            if (n < c.n0 || n >= c.n1) {
              if (!Number.isNaN(got[i])) throw new Error(`${label}: column ${n} outside the range was written`);
              continue;
            }
            const e = Math.abs(got[i]! - y[i]!) / tol[i]!;
            if (!(e <= 1)) throw new Error(`${label}: element ${i}: got ${got[i]}, want ${y[i]} (${e.toFixed(2)}× the tolerance)`);
            worst = Math.max(worst, e);
            vsJs = Math.max(vsJs, Math.abs(got[i]! - twin[i]!) / tol[i]!);
          }
      }
      expect(vsJs).toBeLessThanOrEqual(2);
      console.log(`${variant.label} glu_matmul: worst error ${worst.toFixed(3)}× the tolerance against float64, ${vsJs.toFixed(3)}× against the JS device`);
    });

    it("matmul_scatter_add: shapes as above, distinct rows in any order, routing weights or none, bias, column ranges", async () => {
      const r = namedRandom(SEED, `${variant.label}/matmul_scatter_add`);
      let worst = 0;
      for (const c of scatterCases(r)) {
        const x = uniform(r, c.T * c.K, -2, 2);
        const w = uniform(r, c.N * c.K);
        const b = uniform(r, c.N);
        const wt = uniform(r, c.T, 0, 1);
        const idx = distinctRows(r, c.T, c.rows);
        const dst0 = uniform(r, c.rows * c.N, -3, 3);
        const results: Float32Array[] = [];
        for (const dev of [device, js]) {
          const A = new Arena(dev, BYTES, namedRandom(SEED, `${variant.label}/scatter arena`));
          const [xp, wp, bp, ip, wtp, dp] = [A.put(x), A.put(w), c.bias ? A.put(b) : 0, A.putI32(idx), c.weighted ? A.put(wt) : 0, A.put(dst0)];
          (dev === device ? f : js.fused!).matmul_scatter_add(xp, wp, bp, ip, wtp, dp, c.T, c.K, c.N, c.n0, c.n1);
          await A.checkGuards();
          results.push(Float32Array.from(await A.read(dp, c.rows * c.N)));
        }
        const [got, twin] = results as [Float32Array, Float32Array];
        const want = Float64Array.from(dst0);
        const tol = new Float64Array(c.rows * c.N).fill(0);
        for (let t = 0; t < c.T; t++)
          for (let n = c.n0; n < c.n1; n++) {
            let s = 0;
            let mag = 0;
            for (let k = 0; k < c.K; k++) {
              s += x[t * c.K + k]! * w[n * c.K + k]!;
              mag += Math.abs(x[t * c.K + k]! * w[n * c.K + k]!);
            }
            const a = c.weighted ? wt[t]! : 1;
            const v = s + (c.bias ? b[n]! : 0);
            const i = idx[t]! * c.N + n;
            want[i] = want[i]! + a * v;
            tol[i] = 2e-6 * a * (mag + Math.abs(v)) + 4e-7 * (1 + Math.abs(want[i]!));
          }
        const label = `T=${c.T} K=${c.K} N=${c.N} rows=${c.rows} bias=${c.bias} weighted=${c.weighted} [${c.n0},${c.n1})`;
        for (let i = 0; i < want.length; i++) {
          if (tol[i] === 0) {
            // Rows nobody was routed to and columns outside the range keep their values exactly.
            if (got[i] !== dst0[i]) throw new Error(`${label}: element ${i} outside the assignments or the range changed: ${dst0[i]} → ${got[i]}`);
            continue;
          }
          const e = Math.abs(got[i]! - want[i]!) / tol[i]!;
          if (!(e <= 1)) throw new Error(`${label}: element ${i}: got ${got[i]}, want ${want[i]} (${e.toFixed(2)}× the tolerance)`);
          worst = Math.max(worst, e);
          expect(Math.abs(got[i]! - twin[i]!) / tol[i]!, `${label} against the JS device`).toBeLessThanOrEqual(2);
        }
      }
      console.log(`${variant.label} matmul_scatter_add: worst error ${worst.toFixed(3)}× the tolerance against float64`);
    });
  });
}
