// Kernel conformance: every kernel of the catalogue, on every registered device (each backend
// in each build it ships), against independent float64 computations, on random inputs with a
// fresh seed each run (printed; MOEC_SEED=… reproduces a run). Outputs are poisoned with NaN
// before every call, every output buffer is followed by guard words that must survive, and
// column/head sub-ranges must leave the rest of the output untouched. Everything goes through
// the device seam (upload, launch, read), so a GPU device runs the same suite.
import { namedRandom, runSeed } from "../helpers/seed.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS } from "../../backends/registry.js";
import { ENUMS, KERNEL_NAMES, type Kernels } from "../../runtime/kernels/catalogue.js";
import type { Device } from "../../runtime/device.js";
import { checkRouting, kernelArgs, routeCases, workBytes, type RouteCase } from "../helpers/routing-cases.js";
import { TEST_DEVICES } from "../helpers/devices.js";
import { deltaNetScratchFloats, gatedDeltaRule } from "../../runtime/math/deltanet.js";
import { mamba2Channels, mamba2Scan, mamba2ScratchFloats } from "../../runtime/math/mamba2.js";
import { causalConv1d, mambaScan } from "../../runtime/math/mamba.js";

const SEED = runSeed("kernel conformance");
const rng = (name: string) => namedRandom(SEED, name);


const GUARD = 4;
const SENTINEL = 1234.5;

/** A bump allocator over a device's address space, with guard words after every buffer. */
class Arena {
  private top = 64; // pointer 0 stays "none"
  private guards: number[] = [];
  constructor(
    readonly device: Device,
    readonly bytes: number,
    private readonly rand: () => number,
  ) {}
  reset(): void {
    this.top = 64;
    this.guards = [];
    this.snap = null;
  }
  /** n floats at a random 4-byte (mis)alignment (or 64-byte aligned), followed by guard words. */
  alloc(n: number, aligned = false): number {
    this.top = (this.top + 63) & ~63;
    const p = this.top + (aligned ? 0 : 4 * Math.floor(this.rand() * 4));
    this.top = p + 4 * (n + GUARD);
    if (this.top > this.bytes) throw new Error("arena full");
    this.device.upload(p + 4 * n, new Float32Array(GUARD).fill(SENTINEL));
    this.guards.push(p + 4 * n);
    return p;
  }
  put(data: ArrayLike<number>, aligned = false): number {
    const p = this.alloc(data.length, aligned);
    this.device.upload(p, Float32Array.from(data));
    return p;
  }
  putI32(data: ArrayLike<number>): number {
    const p = this.alloc(data.length);
    this.device.upload(p, Int32Array.from(data));
    return p;
  }
  poisoned(n: number): number {
    const p = this.alloc(n);
    this.device.upload(p, new Float32Array(n).fill(NaN));
    return p;
  }
  /** A copy of everything allocated since reset, in one read (GPU devices pay per read), until the next snapshot. */
  private snap: { from: number; bytes: Uint8Array } | null = null;
  async snapshot(): Promise<void> {
    this.snap = null;
    this.snap = { from: 64, bytes: await this.device.read(64, this.top - 64) };
  }
  private async fetchBytes(p: number, n: number): Promise<Uint8Array> {
    const s = this.snap;
    if (s && p >= s.from && p + n <= s.from + s.bytes.byteLength) return s.bytes.slice(p - s.from, p - s.from + n);
    return this.device.read(p, n);
  }
  async read(p: number, n: number): Promise<Float32Array> {
    const b = await this.fetchBytes(p, 4 * n);
    return new Float32Array(b.buffer, b.byteOffset, n);
  }
  async readI32(p: number, n: number): Promise<Int32Array> {
    const b = await this.fetchBytes(p, 4 * n);
    return new Int32Array(b.buffer, b.byteOffset, n);
  }
  async checkGuards(): Promise<void> {
    const fresh = this.snap === null;
    if (fresh) await this.snapshot();
    for (const g of this.guards) {
      const got = await this.read(g, GUARD);
      for (let i = 0; i < GUARD; i++) if (got[i] !== SENTINEL) throw new Error(`guard word overwritten at byte ${g + 4 * i}`);
    }
    if (fresh) this.snap = null;
  }
}

const randn = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
const uniform = (r: () => number, n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
const normal = (r: () => number, n: number, mean = 0, sd = 1) => Float32Array.from({ length: n }, () => mean + sd * randn(r));

/** Largest err / tol over the elements (≤ 1 passes), with the first failing element. */
function worst(got: ArrayLike<number>, want: ArrayLike<number>, tol: (want: number, i: number) => number): { ratio: number; at: number } {
  let ratio = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const r = Number.isFinite(g) ? Math.abs(g - w) / tol(w, i) : Infinity;
    if (!(r <= ratio)) {
      ratio = r;
      at = i;
    }
  }
  return { ratio, at };
}

function expectClose(label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: (want: number, i: number) => number): number {
  const { ratio, at } = worst(got, want, tol);
  if (!(ratio <= 1)) throw new Error(`${label}: element ${at}: got ${got[at]}, want ${want[at]} (error ${Math.abs(got[at]! - want[at]!)}, ${ratio.toFixed(2)}× the tolerance)`);
  return ratio;
}

// ---- float64 references ------------------------------------------------------------------

/** erf to ~1e-14: Taylor series below 2.5, Lentz's continued fraction for erfc above. */
function erfc64(x: number): number {
  if (x < 0) return 2 - erfc64(-x);
  if (x < 2.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
  let f = x;
  let C = x;
  let D = 0;
  for (let n = 1; n < 300; n++) {
    const a = n / 2;
    D = x + a * D;
    D = D === 0 ? 1e-300 : D;
    C = x + a / C;
    C = C === 0 ? 1e-300 : C;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}
const sigmoid64 = (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));
const UNARY_REF: ((v: number) => number)[] = [
  (v) => v * sigmoid64(v),
  (v) => 0.5 * v * erfc64(-v / Math.SQRT2),
  (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))),
  (v) => (v > 0 ? v : 0),
  sigmoid64,
  Math.tanh,
];
const UNARY_NAMES = ENUMS.unary;

/** The elementwise tolerance: 2e-7·(1 + |y|)·few. */
const ELEMENTWISE = (few: number) => (w: number) => 2e-7 * (1 + Math.abs(w)) * few;

/**
 * The recurrent scans (gated_delta_rule, mamba2_scan) carry exp and softplus results through
 * their state for T steps: 2e-6·(1+|y|) where exp is libm's (JS, WASM). WGSL only promises exp
 * to 3 + 2·|x| ULP (and lavapipe uses that room: 0.15–1.2× of the CPU bound over CI seeds), so
 * devices without f64 — the GPUs — are held to 4× that.
 */
const scanTolerance = (variant: { f64?: boolean }) => (variant.f64 === false ? 8e-6 : 2e-6);

describe("every registered backend has devices in the conformance suite", () => {
  it("covers each target", async () => {
    expect([...new Set(TEST_DEVICES.map((d) => d.target))].sort()).toEqual(BACKENDS.map((b) => b.target).sort());
  });
});

for (const variant of TEST_DEVICES) {
  describe.skipIf(Boolean(variant.skip))(`kernels on ${variant.label}`, () => {
    let e: Kernels;
    let A: Arena;
    let device: Device;
    const BYTES = 64 * 2 ** 20;
    beforeAll(async () => {
      device = await variant.make(BYTES);
      e = device.launch;
    });
    afterAll(async () => {
      await device.dispose();
    });
    const arena = (name: string) => {
      const r = rng(`${variant.label}/${name}`);
      A = new Arena(device, BYTES, r);
      return r;
    };

    /** y = x·Wᵀ (+ b) in float64, W [N, K]; or x·W with W [K, N]. Also Σ|terms|² for the tolerance. */
    function refMatmul(x: Float32Array, w: Float32Array, b: Float32Array | null, T: number, K: number, N: number, kn: boolean) {
      const y = new Float64Array(T * N);
      const mag = new Float64Array(T * N);
      for (let t = 0; t < T; t++)
        for (let n = 0; n < N; n++) {
          let s = 0;
          let q = 0;
          for (let k = 0; k < K; k++) {
            const p = x[t * K + k]! * (kn ? w[k * N + n]! : w[n * K + k]!);
            s += p;
            q += p * p;
          }
          y[t * N + n] = s + (b ? b[n]! : 0);
          mag[t * N + n] = Math.sqrt(q) + (b ? Math.abs(b[n]!) : 0);
        }
      return { y, mag };
    }

    for (const kn of [false, true]) {
      const name = kn ? "matmul_kn" : "matmul";
      it(`${name}: T ∈ {1,3,17} × K ∈ {1,5,63,130} × N ∈ {1,7,33,257}, column ranges, bias or not`, async () => {
        const r = arena(name);
        let worstRatio = 0;
        let cases = 0;
        for (const T of [1, 3, 17])
          for (const K of [1, 5, 63, 130])
            for (const N of [1, 7, 33, 257]) {
              A.reset();
              const x = uniform(r, T * K);
              const w = uniform(r, N * K);
              const b = r() < 0.5 ? uniform(r, N) : null;
              const xp = A.put(x);
              const wp = A.put(w);
              const bp = b ? A.put(b) : 0;
              const yp = A.poisoned(T * N);
              // the full range, or a random sub-range (several workers split N this way)
              const n0 = r() < 0.4 ? 0 : Math.floor(r() * N);
              const n1 = r() < 0.4 ? N : n0 + 1 + Math.floor(r() * (N - n0));
              e[name](xp, wp, bp, yp, T, K, N, n0, n1);
              await A.checkGuards();
              const got = await A.read(yp, T * N);
              const { y, mag } = refMatmul(x, w, b, T, K, N, kn);
              for (let t = 0; t < T; t++)
                for (let n = 0; n < N; n++) {
                  const i = t * N + n;
                  if (n < n0 || n >= n1) {
                    if (!Number.isNaN(got[i])) throw new Error(`${name} T=${T} K=${K} N=${N} [${n0},${n1}): column ${n} outside the range was written`);
                  }
                }
              const sel = (a: ArrayLike<number>) => {
                const out: number[] = [];
                for (let t = 0; t < T; t++) for (let n = n0; n < n1; n++) out.push(a[t * N + n]!);
                return out;
              };
              const m = sel(mag);
              const rr = expectClose(`${name} T=${T} K=${K} N=${N} [${n0},${n1}) bias=${b !== null}`, sel(got), sel(y), (want, i) => 1e-5 * (Math.abs(want) + m[i]!) + 1e-30);
              worstRatio = Math.max(worstRatio, rr);
              cases++;
            }
        console.log(`${variant.label} ${name}: ${cases} shapes, worst error ${worstRatio.toFixed(3)}× the tolerance 1e-5·(|y| + ‖x∘w‖)`);
      });

      it(`${name}: prefill across K blocks and N panels, split over workers`, async () => {
        const r = arena(`${name}-big`);
        for (const [T, K, N] of [
          [9, 1100, 150],
          [4, 517, 70],
          [2, 2049, 9],
        ] as const) {
          A.reset();
          const x = normal(r, T * K);
          const w = normal(r, N * K, 0, 0.05);
          const b = normal(r, N);
          const xp = A.put(x);
          const wp = A.put(w);
          const bp = A.put(b);
          const yp = A.poisoned(T * N);
          // three "workers" on [0, a), [a, c), [c, N)
          const a = Math.floor(r() * N);
          const c = a + Math.floor(r() * (N - a));
          for (const [lo, hi] of [
            [0, a],
            [a, c],
            [c, N],
          ])
            e[name](xp, wp, bp, yp, T, K, N, lo, hi);
          await A.checkGuards();
          const { y, mag } = refMatmul(x, w, b, T, K, N, kn);
          expectClose(`${name} T=${T} K=${K} N=${N}`, await A.read(yp, T * N), y, (want, i) => 1e-5 * (Math.abs(want) + mag[i]!));
        }
      });
    }

    it("rmsnorm: rows × n, in place too, with offset 1 ((1 + w)), and without a weight (w = 0: Llama-4's L2 norm)", async () => {
      const r = arena("rmsnorm");
      let wr = 0;
      for (const rows of [1, 3, 5])
        for (const n of [1, 5, 63, 130, 257]) {
          for (const [inPlace, weighted] of [[false, true], [true, true], [false, false], [true, false]] as const) {
            A.reset();
            const x = normal(r, rows * n, 0, 2);
            const w = weighted ? normal(r, n) : new Float32Array(n).fill(1);
            const eps = 1e-6;
            const xp = A.put(x);
            const wp = weighted ? A.put(w) : 0;
            const yp = inPlace ? xp : A.poisoned(rows * n);
            const offset = weighted && inPlace ? 1 : 0; // Qwen3-Next's (1 + w)
            e.rmsnorm(xp, wp, yp, rows, n, eps, offset);
            await A.checkGuards();
            const want = new Float64Array(rows * n);
            for (let q = 0; q < rows; q++) {
              let ss = 0;
              for (let k = 0; k < n; k++) ss += x[q * n + k]! ** 2;
              const inv = 1 / Math.sqrt(ss / n + eps);
              for (let k = 0; k < n; k++) want[q * n + k] = (w[k]! + offset) * x[q * n + k]! * inv;
            }
            wr = Math.max(wr, expectClose(`rmsnorm rows=${rows} n=${n}`, await A.read(yp, rows * n), want, ELEMENTWISE(2)));
          }
        }
      console.log(`${variant.label} rmsnorm: worst error ${wr.toFixed(3)}× 2·2e-7·(1+|y|)`);
    });

    it("layernorm: with and without bias, off-centre rows, in place too", async () => {
      const r = arena("layernorm");
      let wr = 0;
      for (const rows of [1, 3])
        for (const n of [1, 5, 63, 130, 257])
          for (const [bias, inPlace] of [
            [false, false],
            [true, false],
            [true, true],
          ]) {
            A.reset();
            const x = normal(r, rows * n, 5, 2);
            const w = normal(r, n);
            const b = normal(r, n);
            const eps = 1e-5;
            const xp = A.put(x);
            const wp = A.put(w);
            const bp = bias ? A.put(b) : 0;
            const yp = inPlace ? xp : A.poisoned(rows * n);
            e.layernorm(xp, wp, bp, yp, rows, n, eps);
            await A.checkGuards();
            const want = new Float64Array(rows * n);
            // |normalised · w| before the bias: the f32 roundings scale with it, not with y
            // (y can be near 0 when the bias cancels it).
            const scaled = new Float64Array(rows * n);
            for (let q = 0; q < rows; q++) {
              let s = 0;
              for (let k = 0; k < n; k++) s += x[q * n + k]!;
              const mean = s / n;
              let vs = 0;
              for (let k = 0; k < n; k++) vs += (x[q * n + k]! - mean) ** 2;
              const inv = 1 / Math.sqrt(vs / n + Math.fround(eps));
              for (let k = 0; k < n; k++) {
                scaled[q * n + k] = Math.abs((x[q * n + k]! - mean) * inv * w[k]!);
                want[q * n + k] = (x[q * n + k]! - mean) * inv * w[k]! + (bias ? b[k]! : 0);
              }
            }
            const tol = (y: number, i: number) => 2 * 2e-7 * (1 + Math.max(Math.abs(y), scaled[i]!));
            wr = Math.max(wr, expectClose(`layernorm rows=${rows} n=${n} bias=${bias} inPlace=${inPlace}`, await A.read(yp, rows * n), want, tol));
          }
      console.log(`${variant.label} layernorm: worst error ${wr.toFixed(3)}× 2·2e-7·(1+max(|y|, |normalised·w|))`);
    });

    it("unary: every kind on random and extreme inputs", async () => {
      const r = arena("unary");
      const special = [-100, -88.5, -87.5, -50, -20, -10, -9, -5, -3, -1, -0.7, -0.625, -0.6, -0.1, -1e-3, -1e-8, -0, 0, 1e-8, 1e-3, 0.1, 0.6, 0.625, 0.7, 1, 3, 5, 9, 10, 20, 50, 87.5, 88.5, 100];
      const report: string[] = [];
      for (let kind = 0; kind < ENUMS.unary.length; kind++) {
        let wr = 0;
        for (const n of [1, 3, 4, 7, 33, 1000, special.length]) {
          A.reset();
          const x = n === special.length ? Float32Array.from(special) : Float32Array.from({ length: n }, () => (r() < 0.5 ? 12 * randn(r) : 3 * randn(r)));
          const xp = A.put(x);
          const yp = A.poisoned(n);
          e.unary(xp, yp, n, kind);
          await A.checkGuards();
          const want = Array.from(x, UNARY_REF[kind]!);
          wr = Math.max(wr, expectClose(`unary ${UNARY_NAMES[kind]} n=${n}`, await A.read(yp, n), want, ELEMENTWISE(1)));
        }
        report.push(`${UNARY_NAMES[kind]} ${wr.toFixed(2)}`);
      }
      console.log(`${variant.label} unary, worst error / 2e-7·(1+|y|): ${report.join(", ")}`);
    });

    it("unary in place", async () => {
      const r = arena("unary-inplace");
      for (let kind = 0; kind < ENUMS.unary.length; kind++) {
        A.reset();
        const x = normal(r, 37, 0, 4);
        const xp = A.put(x);
        e.unary(xp, xp, 37, kind);
        expectClose(`unary ${UNARY_NAMES[kind]} in place`, await A.read(xp, 37), Array.from(x, UNARY_REF[kind]!), ELEMENTWISE(1));
      }
    });

    it("binary, scale and clamp: exact f32 arithmetic", async () => {
      const r = arena("binary");
      const f = Math.fround;
      for (const n of [1, 5, 33, 1000]) {
        for (let kind = 0; kind < 4; kind++) {
          A.reset();
          const a = normal(r, n, 0, 3);
          const b = Float32Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * (0.1 + 3 * r()));
          const ap = A.put(a);
          const bp = A.put(b);
          const yp = A.poisoned(n);
          e.binary(ap, bp, yp, n, kind);
          await A.checkGuards();
          const op = [(p: number, q: number) => p + q, (p: number, q: number) => p - q, (p: number, q: number) => p * q, (p: number, q: number) => p / q][kind]!;
          expect(await A.read(yp, n)).toEqual(Float32Array.from(a, (p, i) => f(op(p, b[i]!))));
        }
        A.reset();
        const x = normal(r, n, 0, 3);
        const xp = A.put(x);
        const yp = A.poisoned(n);
        const factor = f(0.1 + r());
        e.scale(xp, yp, n, factor);
        expect(await A.read(yp, n)).toEqual(Float32Array.from(x, (p) => f(p * factor)));
        e.clamp(xp, n, -1.5, 2.25);
        await A.checkGuards();
        expect(await A.read(xp, n)).toEqual(Float32Array.from(x, (p) => Math.min(2.25, Math.max(-1.5, p))));
      }
    });

    it("gated_delta_rule: as gatedDeltaRule (runtime/math/deltanet.ts), fresh or carrying its conv and recurrent state, in one call or two", async () => {
      const r = arena("gated_delta_rule");
      let worstRatio = 0;
      for (const [Hk, Hv, dk, dv, K, T, split] of [[1, 1, 4, 4, 2, 1, 0], [2, 4, 8, 12, 4, 7, 3], [2, 2, 5, 3, 3, 2, 1], [1, 3, 16, 8, 4, 9, 5]] as const) {
        A.reset();
        const s = { kHeads: Hk, vHeads: Hv, kDim: dk, vDim: dv, kernel: K };
        const C = 2 * Hk * dk + Hv * dv;
        const x = normal(r, T * C);
        const b = normal(r, T * Hv);
        const a = normal(r, T * Hv, 0, 2);
        const w = normal(r, C * K, 0, 0.5);
        const aLog = normal(r, Hv, 0, 0.5);
        const dt = normal(r, Hv, 0, 0.5);
        const conv0 = normal(r, (K - 1) * C);
        const state0 = normal(r, Hv * dk * dv, 0, 0.3);
        for (const fresh of [true, false]) {
          // the reference: one call over all T tokens
          const convW = Float32Array.from(conv0);
          const stW = Float32Array.from(state0);
          const yW = new Float32Array(T * Hv * dv);
          gatedDeltaRule(s, T, fresh, x, b, a, w, aLog, dt, convW, stW, yW);
          const [xp, bp, ap, wp, lp, dp] = [A.put(x), A.put(b), A.put(a), A.put(w), A.put(aLog), A.put(dt)];
          const cp = A.put(conv0);
          const sp = A.put(state0);
          const yp = A.poisoned(T * Hv * dv);
          const scratch = A.alloc(deltaNetScratchFloats(s), true);
          // on the device in two calls (tokens [0, split) then the rest): the state carries over
          const parts = split > 0 ? [[0, split], [split, T]] : [[0, T]];
          for (const [t0, t1] of parts) {
            e.gated_delta_rule(xp + 4 * t0! * C, bp + 4 * t0! * Hv, ap + 4 * t0! * Hv, wp, lp, dp, cp, sp, yp + 4 * t0! * Hv * dv, t1! - t0!, fresh && t0 === 0 ? 1 : 0, Hk, Hv, dk, dv, K, scratch);
          }
          await A.checkGuards();
          const tol = (want: number) => scanTolerance(variant) * (1 + Math.abs(want));
          worstRatio = Math.max(worstRatio, expectClose(`gated_delta_rule y Hk=${Hk} Hv=${Hv} T=${T} fresh=${fresh}`, await A.read(yp, T * Hv * dv), yW, tol));
          worstRatio = Math.max(worstRatio, expectClose("gated_delta_rule state", await A.read(sp, Hv * dk * dv), stW, tol));
          expect(await A.read(cp, (K - 1) * C), "conv state: the last K−1 inputs").toEqual(convW);
        }
      }
      console.log(`${variant.label} gated_delta_rule: worst error ${worstRatio.toFixed(3)}× ${scanTolerance(variant)}·(1+|y|)`);
    });

    it("mamba2_scan: as mamba2Scan (runtime/math/mamba2.ts) with its gated group RMSNorm, fresh or carrying its conv and SSM state, with and without a conv bias, δ clamped or not, in one call or two", async () => {
      const r = arena("mamba2_scan");
      let worstRatio = 0;
      for (const [H, P, N, G, K, T, split, bias, dtMin] of [[1, 1, 1, 1, 2, 1, 0, true, 0], [4, 8, 8, 2, 4, 7, 3, true, 0.001], [2, 3, 5, 1, 3, 2, 1, false, 0.4], [6, 4, 16, 3, 4, 9, 5, true, 0.6]] as const) {
        A.reset();
        const s = { heads: H, headDim: P, stateDim: N, groups: G, kernel: K };
        const C = mamba2Channels(s);
        const xbc = normal(r, T * C);
        const dt = normal(r, T * H, 0, 1.5);
        const w = normal(r, C * K, 0, 0.5);
        const cb = normal(r, C, 0, 0.2);
        const aLog = normal(r, H, 0, 0.5);
        const dtBias = normal(r, H, 0, 0.5);
        const d = normal(r, H);
        const z = normal(r, T * H * P);
        const nw = normal(r, H * P, 1, 0.1);
        const eps = 1e-5;
        const conv0 = normal(r, (K - 1) * C);
        const state0 = normal(r, H * P * N, 0, 0.3);
        for (const fresh of [true, false]) {
          const convW = Float32Array.from(conv0);
          const stW = Float32Array.from(state0);
          const yW = new Float32Array(T * H * P);
          mamba2Scan(s, T, fresh, dtMin, eps, xbc, dt, z, w, bias ? cb : null, aLog, dtBias, d, nw, convW, stW, yW);
          const [xp, dtp, wp, lp, bp, dp] = [A.put(xbc), A.put(dt), A.put(w), A.put(aLog), A.put(dtBias), A.put(d)];
          const [zp, nwp] = [A.put(z), A.put(nw)];
          const cbp = bias ? A.put(cb) : 0;
          const cp = A.put(conv0);
          const sp = A.put(state0);
          const yp = A.poisoned(T * H * P);
          const scratch = A.alloc(mamba2ScratchFloats(s), true);
          const parts = split > 0 ? [[0, split], [split, T]] : [[0, T]];
          for (const [t0, t1] of parts) {
            e.mamba2_scan(xp + 4 * t0! * C, dtp + 4 * t0! * H, zp + 4 * t0! * H * P, wp, cbp, lp, bp, dp, nwp, cp, sp, yp + 4 * t0! * H * P, t1! - t0!, fresh && t0 === 0 ? 1 : 0, H, P, N, G, K, dtMin, eps, scratch);
          }
          await A.checkGuards();
          const tol = (want: number) => scanTolerance(variant) * (1 + Math.abs(want));
          worstRatio = Math.max(worstRatio, expectClose(`mamba2_scan y H=${H} P=${P} N=${N} G=${G} T=${T} fresh=${fresh} bias=${bias}`, await A.read(yp, T * H * P), yW, tol));
          worstRatio = Math.max(worstRatio, expectClose("mamba2_scan state", await A.read(sp, H * P * N), stW, tol));
          expect(await A.read(cp, (K - 1) * C), "conv state: the last K−1 inputs").toEqual(convW);
        }
      }
      console.log(`${variant.label} mamba2_scan: worst error ${worstRatio.toFixed(3)}× ${scanTolerance(variant)}·(1+|y|)`);
    });

    it("causal_conv1d: as causalConv1d (runtime/math/mamba.ts), fresh or carrying its window, with and without a bias, in one call or two (fewer tokens than the window too)", async () => {
      const r = arena("causal_conv1d");
      let worstRatio = 0;
      for (const [C, K, T, split, bias] of [[1, 2, 1, 0, true], [37, 4, 7, 2, true], [300, 3, 5, 1, false], [5, 4, 2, 1, true]] as const) {
        A.reset();
        const x = normal(r, T * C);
        const w = normal(r, C * K, 0, 0.5);
        const cb = normal(r, C, 0, 0.2);
        const conv0 = normal(r, (K - 1) * C);
        for (const fresh of [true, false]) {
          const convW = Float32Array.from(conv0);
          const yW = new Float32Array(T * C);
          causalConv1d(C, K, T, fresh, x, w, bias ? cb : null, convW, yW);
          const [xp, wp] = [A.put(x), A.put(w)];
          const cbp = bias ? A.put(cb) : 0;
          const cp = A.put(conv0);
          const yp = A.poisoned(T * C);
          const parts = split > 0 ? [[0, split], [split, T]] : [[0, T]];
          for (const [t0, t1] of parts) e.causal_conv1d(xp + 4 * t0! * C, wp, cbp, cp, yp + 4 * t0! * C, t1! - t0!, fresh && t0 === 0 ? 1 : 0, C, K);
          await A.checkGuards();
          const tol = (want: number) => ELEMENTWISE(4)(want) * K;
          worstRatio = Math.max(worstRatio, expectClose(`causal_conv1d y C=${C} K=${K} T=${T} fresh=${fresh} bias=${bias}`, await A.read(yp, T * C), yW, tol));
          expect(await A.read(cp, (K - 1) * C), "conv state: the last K−1 inputs").toEqual(convW);
        }
      }
      console.log(`${variant.label} causal_conv1d: worst error ${worstRatio.toFixed(3)}× its bound`);
    });

    it("mamba_scan: as mambaScan (runtime/math/mamba.ts), fresh or carrying its state, in one call or two", async () => {
      const r = arena("mamba_scan");
      let worstRatio = 0;
      for (const [I, N, T, split] of [[1, 1, 1, 0], [37, 8, 7, 3], [300, 5, 4, 1], [6, 16, 9, 5]] as const) {
        A.reset();
        const x = normal(r, T * I);
        const dt = normal(r, T * I, -1, 1.5);
        const b = normal(r, T * N);
        const cm = normal(r, T * N);
        const z = normal(r, T * I);
        const aLog = normal(r, I * N, 0, 0.5);
        const d = normal(r, I);
        const state0 = normal(r, I * N, 0, 0.3);
        for (const fresh of [true, false]) {
          const stW = Float32Array.from(state0);
          const yW = new Float32Array(T * I);
          mambaScan(I, N, T, fresh, x, dt, b, cm, z, aLog, d, stW, yW);
          const [xp, dtp, bp, cmp, zp, lp, dp] = [A.put(x), A.put(dt), A.put(b), A.put(cm), A.put(z), A.put(aLog), A.put(d)];
          const sp = A.put(state0);
          const yp = A.poisoned(T * I);
          const parts = split > 0 ? [[0, split], [split, T]] : [[0, T]];
          for (const [t0, t1] of parts) {
            e.mamba_scan(xp + 4 * t0! * I, dtp + 4 * t0! * I, bp + 4 * t0! * N, cmp + 4 * t0! * N, zp + 4 * t0! * I, lp, dp, sp, yp + 4 * t0! * I, t1! - t0!, fresh && t0 === 0 ? 1 : 0, I, N);
          }
          await A.checkGuards();
          const tol = (want: number) => scanTolerance(variant) * (1 + Math.abs(want));
          worstRatio = Math.max(worstRatio, expectClose(`mamba_scan y I=${I} N=${N} T=${T} fresh=${fresh}`, await A.read(yp, T * I), yW, tol));
          worstRatio = Math.max(worstRatio, expectClose("mamba_scan state", await A.read(sp, I * N), stW, tol));
        }
      }
      console.log(`${variant.label} mamba_scan: worst error ${worstRatio.toFixed(3)}× ${scanTolerance(variant)}·(1+|y|)`);
    });

    it("scale_rows: one f32 factor per row, exact products, in place too", async () => {
      const r = arena("scale_rows");
      const f = Math.fround;
      for (const [rows, d] of [[1, 1], [3, 5], [7, 64], [2, 131]] as const) {
        for (const inPlace of [false, true]) {
          A.reset();
          const x = normal(r, rows * d, 0, 3);
          const g = normal(r, rows, 1, 0.5);
          const xp = A.put(x);
          const gp = A.put(g);
          const yp = inPlace ? xp : A.poisoned(rows * d);
          e.scale_rows(xp, gp, yp, rows, d);
          await A.checkGuards();
          expect(await A.read(yp, rows * d), `rows=${rows} d=${d}`).toEqual(Float32Array.from(x, (p, i) => f(p * g[Math.floor(i / d)]!)));
        }
      }
    });

    it("swiglu: plain and GPT-OSS clamped", async () => {
      const r = arena("swiglu");
      let wr = 0;
      for (const n of [1, 6, 33, 1000])
        for (const [alpha, limit, off] of [
          [1, 0, 0],
          [1.702, 7, 1],
          [1.702, -1, 1],
        ] as const) {
          A.reset();
          const g = normal(r, n, 0, 5);
          const u = normal(r, n, 0, 5);
          const gp = A.put(g);
          const up = A.put(u);
          const yp = A.poisoned(n);
          e.swiglu(gp, up, yp, n, alpha, limit, off);
          await A.checkGuards();
          const want = Array.from(g, (gv, i) => {
            let uv = u[i]!;
            if (limit > 0) {
              gv = Math.min(gv, limit);
              uv = Math.min(limit, Math.max(-limit, uv));
            }
            return gv * sigmoid64(Math.fround(alpha) * gv) * (uv + off);
          });
          wr = Math.max(wr, expectClose(`swiglu n=${n} alpha=${alpha} limit=${limit}`, await A.read(yp, n), want, ELEMENTWISE(2)));
        }
      console.log(`${variant.label} swiglu: worst error ${wr.toFixed(3)}× 2·2e-7·(1+|y|)`);
    });

    it("deinterleave: interleaved and split halves", async () => {
      const r = arena("deinterleave");
      for (const rows of [1, 3])
        for (const half of [1, 3, 4, 5, 17])
          for (const inter of [0, 1]) {
            A.reset();
            const x = normal(r, rows * 2 * half);
            const xp = A.put(x);
            const ap = A.poisoned(rows * half);
            const bp = A.poisoned(rows * half);
            e.deinterleave(xp, ap, bp, rows, half, inter);
            await A.checkGuards();
            const wa = new Float32Array(rows * half);
            const wb = new Float32Array(rows * half);
            for (let q = 0; q < rows; q++)
              for (let j = 0; j < half; j++) {
                wa[q * half + j] = x[q * 2 * half + (inter ? 2 * j : j)]!;
                wb[q * half + j] = x[q * 2 * half + (inter ? 2 * j + 1 : half + j)]!;
              }
            expect(await A.read(ap, rows * half)).toEqual(wa);
            expect(await A.read(bp, rows * half)).toEqual(wb);
          }
    });

    it("rope: half and interleaved, full and partial rotary dims (exact f32 roundings)", async () => {
      const r = arena("rope");
      const f = Math.fround;
      for (const rows of [1, 3])
        for (const heads of [1, 3])
          for (const [headDim, ropeDim] of [
            [8, 8],
            [12, 12],
            [64, 64],
            [64, 32],
            [10, 6],
            [6, 2],
          ] as const)
            for (const inter of [0, 1]) {
              A.reset();
              const half = ropeDim / 2;
              const x = normal(r, rows * heads * headDim);
              const ang = Float32Array.from({ length: rows * half }, () => 6 * r());
              const cos = ang.map(Math.cos);
              const sin = ang.map(Math.sin);
              const xp = A.put(x);
              const cp = A.put(cos);
              const sp = A.put(sin);
              e.rope(xp, cp, sp, rows, heads, headDim, ropeDim, inter);
              await A.checkGuards();
              const want = Float32Array.from(x);
              for (let q = 0; q < rows; q++)
                for (let h = 0; h < heads; h++) {
                  const base = (q * heads + h) * headDim;
                  for (let j = 0; j < half; j++) {
                    const [i0, i1] = inter ? [base + 2 * j, base + 2 * j + 1] : [base + j, base + j + half];
                    const a = want[i0]!;
                    const b = want[i1]!;
                    const c = cos[q * half + j]!;
                    const s = sin[q * half + j]!;
                    want[i0] = f(f(a * c) - f(b * s));
                    want[i1] = f(f(b * c) + f(a * s));
                  }
                }
              expect(await A.read(xp, x.length)).toEqual(want);
            }
    });

    it("attention: GQA/MQA, KV cache strides, windows, soft-capping, sinks, head ranges, v head dim ≠ q/k (MLA), bidirectional", async () => {
      const r = arena("attention");
      let wr = 0;
      let cases = 0;
      for (const [heads, kvHeads] of [
        [4, 4],
        [4, 2],
        [6, 1],
      ] as const)
        for (const hd of [4, 7, 16, 64])
          for (const [T, start] of [
            [1, 0],
            [1, 20],
            [3, 7],
            [6, 0],
            [2, 150],
          ] as const) {
            A.reset();
            const window = r() < 0.3 ? 1 + Math.floor(r() * 5) : 0;
            // MLA: the value head dim differs from the query/key one; encoders attend both ways.
            const vd = r() < 0.4 ? Math.max(1, hd + Math.floor(r() * 9) - 4) : hd;
            const causal = r() < 0.8 ? 1 : 0;
            const softcap = r() < 0.3 ? 2 + 3 * r() : 0;
            const useSinks = r() < 0.4;
            const pad = Math.floor(r() * 4);
            const kStride = kvHeads * hd + pad;
            const vStride = kvHeads * vd + Math.floor(r() * 4);
            const L = start + T;
            const q = normal(r, T * heads * hd);
            const k = normal(r, L * kStride);
            const v = normal(r, L * vStride);
            const sinks = normal(r, heads);
            const scale = Math.fround(1.5 / Math.sqrt(hd));
            const split = r() < 0.5;
            const [h0, h1] = split ? [Math.floor(r() * heads), heads] : [0, heads];
            const h1b = split ? h0 + 1 + Math.floor(r() * (heads - h0)) : heads;
            const qp = A.put(q);
            const kp = A.put(k);
            const vp = A.put(v);
            const sp = useSinks ? A.put(sinks) : 0;
            const op = A.poisoned(T * heads * vd);
            const scr = A.poisoned(3 * (L + 16)); // a share per thread, where the device splits heads
            e.attention(qp, kp, vp, op, T, start, heads, kvHeads, hd, vd, kStride, vStride, scale, window, softcap, sp, scr, causal, h0, h1b);
            await A.checkGuards();
            const got = await A.read(op, T * heads * vd);
            const want = new Float64Array(T * heads * vd);
            const group = heads / kvHeads;
            for (let t = 0; t < T; t++) {
              const pos = start + t;
              const lo = window > 0 ? Math.max(0, pos - window + 1) : 0;
              const last = causal ? pos : start + T - 1;
              for (let h = 0; h < heads; h++) {
                const kvh = Math.floor(h / group);
                const logits: number[] = [];
                let mx = useSinks ? sinks[h]! : -Infinity;
                for (let j = lo; j <= last; j++) {
                  let dot = 0;
                  for (let d = 0; d < hd; d++) dot += q[(t * heads + h) * hd + d]! * k[j * kStride + kvh * hd + d]!;
                  let l = dot * scale;
                  if (softcap > 0) l = softcap * Math.tanh(l / softcap);
                  logits.push(l);
                  mx = Math.max(mx, l);
                }
                let den = useSinks ? Math.exp(sinks[h]! - mx) : 0;
                const ex = logits.map((l) => Math.exp(l - mx));
                for (const x of ex) den += x;
                for (let d = 0; d < vd; d++) {
                  let acc = 0;
                  for (let j = lo; j <= last; j++) acc += ex[j - lo]! * v[j * vStride + kvh * vd + d]!;
                  want[(t * heads + h) * vd + d] = acc / den;
                }
              }
            }
            const gotSel: number[] = [];
            const wantSel: number[] = [];
            for (let t = 0; t < T; t++)
              for (let h = 0; h < heads; h++)
                for (let d = 0; d < vd; d++) {
                  const i = (t * heads + h) * vd + d;
                  if (h >= h0 && h < h1b) {
                    gotSel.push(got[i]!);
                    wantSel.push(want[i]!);
                  } else if (!Number.isNaN(got[i])) throw new Error(`attention: head ${h} outside [${h0}, ${h1b}) was written`);
                }
            const label = `attention heads=${heads}/${kvHeads} hd=${hd} vd=${vd} T=${T} start=${start} window=${window} softcap=${softcap.toFixed(2)} sinks=${useSinks} causal=${causal}`;
            wr = Math.max(wr, expectClose(label, gotSel, wantSel, (w) => 1e-5 * (1 + Math.abs(w))));
            cases++;
          }
      console.log(`${variant.label} attention: ${cases} cases, worst error ${wr.toFixed(3)}× 1e-5·(1+|y|)`);
    });

    it("gather_rows, scatter_add_rows (repeated rows) and fill", async () => {
      const r = arena("moe");
      const f = Math.fround;
      for (const d of [1, 3, 4, 5, 17, 64]) {
        A.reset();
        const rows = 9;
        const count = 13;
        const src = normal(r, rows * d);
        const idx = Int32Array.from({ length: count }, () => Math.floor(r() * rows));
        const sp = A.put(src);
        const ip = A.putI32(idx);
        const gp = A.poisoned(count * d);
        e.gather_rows(sp, ip, gp, count, d);
        const want = new Float32Array(count * d);
        for (let i = 0; i < count; i++) want.set(src.subarray(idx[i]! * d, (idx[i]! + 1) * d), i * d);
        expect(await A.read(gp, count * d)).toEqual(want);
        // scatter the gathered rows back, weighted, onto a random accumulator
        const acc = normal(r, rows * d);
        const wts = normal(r, count);
        const ap = A.put(acc);
        const wp = A.put(wts);
        e.scatter_add_rows(gp, ip, wp, ap, count, d);
        const wantAcc = Float32Array.from(acc);
        for (let i = 0; i < count; i++) for (let k = 0; k < d; k++) wantAcc[idx[i]! * d + k] = f(wantAcc[idx[i]! * d + k]! + f(wts[i]! * want[i * d + k]!));
        expect(await A.read(ap, rows * d)).toEqual(wantAcc);
        for (const n of [0, 1, 3, 4, 5, d]) {
          const fp = A.poisoned(n);
          e.fill(fp, n, -2.5);
          expect(await A.read(fp, n)).toEqual(new Float32Array(n).fill(-2.5));
        }
        await A.checkGuards();
      }
    });

    it("route_topk against route(): every scoring, selection bias, groups, renormalize, scale, ties and −∞", async () => {
      const r = arena("route_topk");
      let cases = 0;
      let exact = 0;
      let total = 0;
      // Cases run in batches, each read back at once (a GPU device pays per read).
      type Done = { c: RouteCase; lp: number; cp: number; tp: number; wp: number; n: number };
      let batch: Done[] = [];
      const check = async () => {
        await A.snapshot();
        await A.checkGuards();
        for (const { c, lp, cp, tp, wp, n } of batch) {
          expect(await A.read(lp, c.logits.length), `${c.label}: logits untouched`).toEqual(c.logits);
          const got = { counts: await A.readI32(cp, c.E + 1), tokens: await A.readI32(tp, n), weights: await A.read(wp, n) };
          const q = checkRouting(c, got);
          exact += q.exact;
          total += q.total;
          cases++;
        }
        batch = [];
        A.reset();
      };
      A.reset();
      for (const c of routeCases(r)) {
        const n = c.T * c.router.k;
        const lp = A.put(c.logits);
        const bp = c.bias ? A.put(c.bias) : 0;
        const cp = A.poisoned(c.E + 1);
        const tp = A.poisoned(n);
        const wp = A.poisoned(n);
        const kp = A.poisoned(workBytes(c) / 4);
        e.route_topk(lp, ...kernelArgs(c, bp), cp, tp, wp, kp);
        batch.push({ c, lp, cp, tp, wp, n });
        if (batch.length >= 64) await check();
      }
      await check();
      console.log(`${variant.label} route_topk: ${cases} cases, ${exact} of ${total} weights bit-identical to route()'s (rounded to f32)`);
      // V8's Math.exp is fdlibm's, which the kernel transcribes: every weight is the same bits.
      // (Devices without f64 are held to checkRouting's 1e-6 instead.)
      if (variant.f64 !== false) expect(exact).toBe(total);
    });
    it("copy_blocks: strided blocks, broadcast blocks, the rest untouched", async () => {
      const r = arena("copy_blocks");
      for (const [rows, blocks, len] of [
        [1, 1, 1],
        [3, 1, 7],
        [2, 4, 5],
        [5, 3, 16],
      ] as const)
        for (const broadcast of [false, true]) {
          A.reset();
          const srcBlock = broadcast ? 0 : len + Math.floor(r() * 3);
          const srcRow = (broadcast ? len : blocks * srcBlock) + Math.floor(r() * 3);
          const dstBlock = len + Math.floor(r() * 3);
          const dstRow = blocks * dstBlock + Math.floor(r() * 3);
          const src = normal(r, rows * srcRow);
          const sp = A.put(src);
          const dp = A.poisoned(rows * dstRow);
          e.copy_blocks(sp, dp, rows, blocks, len, srcRow, srcBlock, dstRow, dstBlock);
          await A.checkGuards();
          const want = new Float32Array(rows * dstRow).fill(NaN);
          for (let q = 0; q < rows; q++) for (let b = 0; b < blocks; b++) for (let j = 0; j < len; j++) want[q * dstRow + b * dstBlock + j] = src[q * srcRow + b * srcBlock + j]!;
          expect(await A.read(dp, rows * dstRow), `rows=${rows} blocks=${blocks} len=${len} broadcast=${broadcast}`).toEqual(want);
        }
    });

    it("gate_add_rows: the sigmoid gate in float64 (as Math.exp), products rounded to f32", async () => {
      const r = arena("gate_add_rows");
      const f = Math.fround;
      for (const [rows, d] of [
        [1, 1],
        [3, 5],
        [7, 64],
        [2, 131],
      ] as const) {
        A.reset();
        const gate = Float32Array.from({ length: rows }, (_, i) => (i === 0 ? -100 : 6 * randn(r)));
        const src = normal(r, rows * d);
        const acc = normal(r, rows * d);
        const gp = A.put(gate);
        const sp = A.put(src);
        const ap = A.put(acc);
        e.gate_add_rows(gp, sp, ap, rows, d);
        await A.checkGuards();
        const want = Float32Array.from(acc);
        for (let q = 0; q < rows; q++) {
          const g = f(1 / (1 + Math.exp(-gate[q]!)));
          for (let k = 0; k < d; k++) want[q * d + k] = f(want[q * d + k]! + f(g * src[q * d + k]!));
        }
        if (variant.f64 !== false) expect(await A.read(ap, rows * d), `rows=${rows} d=${d}`).toEqual(want);
        else expectClose(`gate_add_rows rows=${rows} d=${d}`, await A.read(ap, rows * d), want, ELEMENTWISE(2));
      }
    });
  });
}
