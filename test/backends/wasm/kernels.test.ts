// The WASM SIMD kernel library against independent float64 computations, on random inputs
// with a fresh seed each run (printed; MOEC_SEED=… reproduces a run). Outputs are poisoned
// with NaN before every call, every output buffer is followed by guard words that must
// survive, and column/head sub-ranges must leave the rest of the output untouched.
import { beforeAll, describe, expect, it } from "vitest";
import { buildKernelModule, KERNEL_EXPORTS } from "../../../backends/wasm/build.js";
import { KernelModule } from "../../../backends/wasm/module.js";
import { addExpF64 } from "../../../backends/wasm/kernels/exp64.js";
import { checkRouting, kernelArgs, routeCases, workBytes } from "../../helpers/routing-cases.js";

const SEED = process.env["MOEC_SEED"] !== undefined ? Number(process.env["MOEC_SEED"]) : Math.floor(Math.random() * 2 ** 31);
console.log(`wasm kernels: seed ${SEED} (rerun with MOEC_SEED=${SEED})`);

/** mulberry32, seeded per test so each test's data depends only on SEED and its name. */
function rng(name: string): () => number {
  let h = SEED ^ 0x9e3779b9;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x85ebca6b) ^ (h >>> 13);
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Fn = (...args: number[]) => number | undefined;
type Exports = Record<(typeof KERNEL_EXPORTS)[number], Fn>;

const GUARD = 4;
const SENTINEL = 1234.5;

/** A bump allocator over one memory, with guard words after every buffer. */
class Arena {
  private top = 64; // pointer 0 stays "none"
  private guards: number[] = [];
  constructor(
    readonly memory: WebAssembly.Memory,
    private readonly rand: () => number,
  ) {}
  get f32(): Float32Array {
    return new Float32Array(this.memory.buffer);
  }
  get i32(): Int32Array {
    return new Int32Array(this.memory.buffer);
  }
  reset(): void {
    this.top = 64;
    this.guards = [];
  }
  /** n floats at a random 4-byte (mis)alignment (or 64-byte aligned), followed by guard words. */
  alloc(n: number, aligned = false): number {
    this.top = (this.top + 63) & ~63;
    const p = this.top + (aligned ? 0 : 4 * Math.floor(this.rand() * 4));
    this.top = p + 4 * (n + GUARD);
    if (this.top > this.memory.buffer.byteLength) throw new Error("arena full");
    this.f32.fill(SENTINEL, (p >> 2) + n, (p >> 2) + n + GUARD);
    this.guards.push((p >> 2) + n);
    return p;
  }
  put(data: ArrayLike<number>, aligned = false): number {
    const p = this.alloc(data.length, aligned);
    this.f32.set(data, p >> 2);
    return p;
  }
  putI32(data: ArrayLike<number>): number {
    const p = this.alloc(data.length);
    this.i32.set(data, p >> 2);
    return p;
  }
  poisoned(n: number): number {
    const p = this.alloc(n);
    this.f32.fill(NaN, p >> 2, (p >> 2) + n);
    return p;
  }
  read(p: number, n: number): Float32Array {
    return this.f32.slice(p >> 2, (p >> 2) + n);
  }
  checkGuards(): void {
    const f = this.f32;
    for (const g of this.guards) for (let i = 0; i < GUARD; i++) if (f[g + i] !== SENTINEL) throw new Error(`guard word overwritten at float ${g + i}`);
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
const UNARY_NAMES = ["silu", "gelu", "gelu_tanh", "relu", "sigmoid", "tanh"];

/** The elementwise tolerance: 2e-7·(1 + |y|)·few. */
const ELEMENTWISE = (few: number) => (w: number) => 2e-7 * (1 + Math.abs(w)) * few;

// ---- the modules ---------------------------------------------------------------------------

const VARIANTS = [
  { name: "plain SIMD128", relaxedSimd: false },
  { name: "relaxed SIMD", relaxedSimd: true },
] as const;

const built = new Map<boolean, Uint8Array>();
function binary(relaxedSimd: boolean): Uint8Array {
  let b = built.get(relaxedSimd);
  if (!b) {
    b = buildKernelModule({ relaxedSimd, sharedMemory: false }).binary;
    built.set(relaxedSimd, b);
  }
  return b;
}

function instantiate(bytes: Uint8Array, memory: WebAssembly.Memory): Exports {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { env: { memory } });
  return inst.exports as unknown as Exports;
}

describe("wasm kernel module", () => {
  it("validates, imports only env.memory and exports every kernel (both variants)", () => {
    for (const v of VARIANTS) {
      const bytes = binary(v.relaxedSimd);
      expect(WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)).toBe(true);
      const mod = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
      expect(WebAssembly.Module.imports(mod)).toEqual([{ module: "env", name: "memory", kind: "memory" }]);
      expect(
        WebAssembly.Module.exports(mod)
          .map((e) => e.name)
          .sort(),
      ).toEqual([...KERNEL_EXPORTS].sort());
    }
  });

  it("instantiates on a shared memory and computes what the unshared build computes", () => {
    const shared = buildKernelModule({ relaxedSimd: false, sharedMemory: true }).binary;
    const smem = new WebAssembly.Memory({ initial: 16, maximum: 64, shared: true });
    const umem = new WebAssembly.Memory({ initial: 16 });
    const es = instantiate(shared, smem);
    const eu = instantiate(binary(false), umem);
    const r = rng("shared");
    const [T, K, N] = [3, 37, 29];
    const x = uniform(r, T * K);
    const w = uniform(r, N * K);
    for (const [mem, e] of [
      [smem, es],
      [umem, eu],
    ] as const) {
      const f = new Float32Array(mem.buffer);
      f.set(x, 64);
      f.set(w, 4096);
      f.fill(NaN, 16384, 16384 + T * N + 101);
      e.matmul(256, 16384, 0, 65536, T, K, N, 0, N);
      e.unary(16384, 65536 + 4 * T * N, 101, 0);
    }
    const fs = new Float32Array(smem.buffer);
    const fu = new Float32Array(umem.buffer);
    expect(fs.slice(16384, 16384 + T * N + 101)).toEqual(fu.slice(16384, 16384 + T * N + 101));
    expect(Number.isNaN(fs[16384])).toBe(false);
  });

  it("builds and validates in all eight configurations (relaxed SIMD × shared memory × Memory64)", () => {
    for (const relaxedSimd of [false, true])
      for (const sharedMemory of [false, true])
        for (const memory64 of [false, true]) {
          const bytes = buildKernelModule({ relaxedSimd, sharedMemory, memory64 }).binary;
          expect(WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>), `relaxed=${relaxedSimd} shared=${sharedMemory} m64=${memory64}`).toBe(true);
        }
  });

  it("the 64-bit build routes tokens as the 32-bit build does", () => {
    // Pointer arithmetic in route_topk goes through m.ptr: the Memory64 build must see the same bytes.
    const m64 = buildKernelModule({ relaxedSimd: false, sharedMemory: false, memory64: true }).binary;
    const mem64 = new WebAssembly.Memory({ initial: 4n, address: "i64" } as unknown as WebAssembly.MemoryDescriptor);
    const mem32 = new WebAssembly.Memory({ initial: 4 });
    const [e64, e32] = [instantiate(m64, mem64), instantiate(binary(false), mem32)];
    const r = rng("route-m64");
    const [T, E, k] = [9, 60, 6];
    const logits = Float32Array.from({ length: T * E }, () => 3 * randn(r));
    const bias = Float32Array.from({ length: E }, () => 0.5 * randn(r));
    const out: Int32Array[] = [];
    for (const [mem, e] of [
      [mem64, e64],
      [mem32, e32],
    ] as const) {
      new Float32Array(mem.buffer).set(logits, 16);
      new Float32Array(mem.buffer).set(bias, 4096);
      e.route_topk(64, T, E, k, 1, 16384, 4, 2, 1, 1, 2.5, 0, 32768, 36864, 40960, 49152);
      out.push(new Int32Array(mem.buffer.slice(32768, 49152)));
    }
    expect(out[0]).toEqual(out[1]);
    expect(out[1]![E]).toBe(T * k);
  });

  it("exp_f64 (the routing kernel's exp) against Math.exp: at most 2 ulp over [−746, 710], and the special values", () => {
    const m = new KernelModule({ relaxedSimd: false, sharedMemory: false });
    addExpF64(m, "exp_f64");
    expect(m.validate()).toBe(true);
    m.optimize();
    const bytes = m.emitBinary();
    m.dispose();
    const exp = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { env: { memory: new WebAssembly.Memory({ initial: 1 }) } }).exports["exp_f64"] as (x: number) => number;
    const bits = new DataView(new ArrayBuffer(8));
    /** The spacing of doubles at |v| (the subnormal spacing below 2^-1022). */
    const ulp = (v: number) => {
      const a = Math.abs(v);
      if (a < 2 ** -1022) return 2 ** -1074;
      bits.setFloat64(0, a);
      const e = ((bits.getUint32(0) >>> 20) & 0x7ff) - 1023;
      return 2 ** (e - 52);
    };
    const r = rng("exp64");
    let worstUlp = 0;
    let same = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const pick = i % 4;
      const x = pick === 0 ? -746 + 1456 * r() : pick === 1 ? 40 * (r() - 0.5) : pick === 2 ? (r() - 0.5) * 2 ** -20 * 2 ** (-40 * r()) : -745.2 + 40 * r();
      const got = exp(x);
      const want = Math.exp(x);
      if (Object.is(got, want)) same++;
      else worstUlp = Math.max(worstUlp, Math.abs(got - want) / ulp(want));
    }
    console.log(`exp_f64: ${same} of ${n} bit-identical to Math.exp, worst ${worstUlp} ulp`);
    // The kernel transcribes fdlibm's exp, which V8's Math.exp runs: the same bits everywhere.
    expect(same).toBe(n);
    expect(worstUlp).toBe(0);
    for (const [x, want] of [
      [-Infinity, 0],
      [Infinity, Infinity],
      [0, 1],
      [-0, 1],
      [1e-300, 1],
      [709.78, Math.exp(709.78)],
      [709.79, Infinity],
      [1000, Infinity],
      [-745.1, 5e-324],
      [-745.2, 0],
      [-1000, 0],
      [-708.4, Math.exp(-708.4)],
    ] as const)
      expect(exp(x), `exp(${x})`).toBe(want);
    expect(exp(NaN)).toBeNaN();
    expect(Math.abs(exp(1) - Math.E)).toBeLessThanOrEqual(ulp(Math.E)); // fdlibm's e is 1 ulp above the nearest double, as V8's
  });
});

for (const variant of VARIANTS) {
  describe(`wasm kernels, ${variant.name}`, () => {
    let e: Exports;
    let A: Arena;
    const memory = new WebAssembly.Memory({ initial: 1024 }); // 64 MiB
    beforeAll(() => {
      e = instantiate(binary(variant.relaxedSimd), memory);
    });
    const arena = (name: string) => {
      const r = rng(`${variant.name}/${name}`);
      A = new Arena(memory, r);
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
      it(`${name}: T ∈ {1,3,17} × K ∈ {1,5,63,130} × N ∈ {1,7,33,257}, column ranges, bias or not`, () => {
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
              A.checkGuards();
              const got = A.read(yp, T * N);
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
        console.log(`${variant.name} ${name}: ${cases} shapes, worst error ${worstRatio.toFixed(3)}× the tolerance 1e-5·(|y| + ‖x∘w‖)`);
      });

      it(`${name}: prefill across K blocks and N panels, split over workers`, () => {
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
          A.checkGuards();
          const { y, mag } = refMatmul(x, w, b, T, K, N, kn);
          expectClose(`${name} T=${T} K=${K} N=${N}`, A.read(yp, T * N), y, (want, i) => 1e-5 * (Math.abs(want) + mag[i]!));
        }
      });
    }

    it("rmsnorm: rows × n, in place too", () => {
      const r = arena("rmsnorm");
      let wr = 0;
      for (const rows of [1, 3, 5])
        for (const n of [1, 5, 63, 130, 257]) {
          for (const inPlace of [false, true]) {
            A.reset();
            const x = normal(r, rows * n, 0, 2);
            const w = normal(r, n);
            const eps = 1e-6;
            const xp = A.put(x);
            const wp = A.put(w);
            const yp = inPlace ? xp : A.poisoned(rows * n);
            e.rmsnorm(xp, wp, yp, rows, n, eps);
            A.checkGuards();
            const want = new Float64Array(rows * n);
            for (let q = 0; q < rows; q++) {
              let ss = 0;
              for (let k = 0; k < n; k++) ss += x[q * n + k]! ** 2;
              const inv = 1 / Math.sqrt(ss / n + eps);
              for (let k = 0; k < n; k++) want[q * n + k] = w[k]! * x[q * n + k]! * inv;
            }
            wr = Math.max(wr, expectClose(`rmsnorm rows=${rows} n=${n}`, A.read(yp, rows * n), want, ELEMENTWISE(2)));
          }
        }
      console.log(`${variant.name} rmsnorm: worst error ${wr.toFixed(3)}× 2·2e-7·(1+|y|)`);
    });

    it("layernorm: with and without bias, off-centre rows, in place too", () => {
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
            A.checkGuards();
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
            wr = Math.max(wr, expectClose(`layernorm rows=${rows} n=${n} bias=${bias} inPlace=${inPlace}`, A.read(yp, rows * n), want, tol));
          }
      console.log(`${variant.name} layernorm: worst error ${wr.toFixed(3)}× 2·2e-7·(1+max(|y|, |normalised·w|))`);
    });

    it("unary: every kind on random and extreme inputs", () => {
      const r = arena("unary");
      const special = [-100, -88.5, -87.5, -50, -20, -10, -9, -5, -3, -1, -0.7, -0.625, -0.6, -0.1, -1e-3, -1e-8, -0, 0, 1e-8, 1e-3, 0.1, 0.6, 0.625, 0.7, 1, 3, 5, 9, 10, 20, 50, 87.5, 88.5, 100];
      const report: string[] = [];
      for (let kind = 0; kind < 6; kind++) {
        let wr = 0;
        for (const n of [1, 3, 4, 7, 33, 1000, special.length]) {
          A.reset();
          const x = n === special.length ? Float32Array.from(special) : Float32Array.from({ length: n }, () => (r() < 0.5 ? 12 * randn(r) : 3 * randn(r)));
          const xp = A.put(x);
          const yp = A.poisoned(n);
          e.unary(xp, yp, n, kind);
          A.checkGuards();
          const want = Array.from(x, UNARY_REF[kind]!);
          wr = Math.max(wr, expectClose(`unary ${UNARY_NAMES[kind]} n=${n}`, A.read(yp, n), want, ELEMENTWISE(1)));
        }
        report.push(`${UNARY_NAMES[kind]} ${wr.toFixed(2)}`);
      }
      console.log(`${variant.name} unary, worst error / 2e-7·(1+|y|): ${report.join(", ")}`);
    });

    it("unary in place", () => {
      const r = arena("unary-inplace");
      for (let kind = 0; kind < 6; kind++) {
        A.reset();
        const x = normal(r, 37, 0, 4);
        const xp = A.put(x);
        e.unary(xp, xp, 37, kind);
        expectClose(`unary ${UNARY_NAMES[kind]} in place`, A.read(xp, 37), Array.from(x, UNARY_REF[kind]!), ELEMENTWISE(1));
      }
    });

    it("binary, scale and clamp: exact f32 arithmetic", () => {
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
          A.checkGuards();
          const op = [(p: number, q: number) => p + q, (p: number, q: number) => p - q, (p: number, q: number) => p * q, (p: number, q: number) => p / q][kind]!;
          expect(A.read(yp, n)).toEqual(Float32Array.from(a, (p, i) => f(op(p, b[i]!))));
        }
        A.reset();
        const x = normal(r, n, 0, 3);
        const xp = A.put(x);
        const yp = A.poisoned(n);
        const factor = f(0.1 + r());
        e.scale(xp, yp, n, factor);
        expect(A.read(yp, n)).toEqual(Float32Array.from(x, (p) => f(p * factor)));
        e.clamp(xp, n, -1.5, 2.25);
        A.checkGuards();
        expect(A.read(xp, n)).toEqual(Float32Array.from(x, (p) => Math.min(2.25, Math.max(-1.5, p))));
      }
    });

    it("swiglu: plain and GPT-OSS clamped", () => {
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
          A.checkGuards();
          const want = Array.from(g, (gv, i) => {
            let uv = u[i]!;
            if (limit > 0) {
              gv = Math.min(gv, limit);
              uv = Math.min(limit, Math.max(-limit, uv));
            }
            return gv * sigmoid64(Math.fround(alpha) * gv) * (uv + off);
          });
          wr = Math.max(wr, expectClose(`swiglu n=${n} alpha=${alpha} limit=${limit}`, A.read(yp, n), want, ELEMENTWISE(2)));
        }
      console.log(`${variant.name} swiglu: worst error ${wr.toFixed(3)}× 2·2e-7·(1+|y|)`);
    });

    it("deinterleave: interleaved and split halves", () => {
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
            A.checkGuards();
            const wa = new Float32Array(rows * half);
            const wb = new Float32Array(rows * half);
            for (let q = 0; q < rows; q++)
              for (let j = 0; j < half; j++) {
                wa[q * half + j] = x[q * 2 * half + (inter ? 2 * j : j)]!;
                wb[q * half + j] = x[q * 2 * half + (inter ? 2 * j + 1 : half + j)]!;
              }
            expect(A.read(ap, rows * half)).toEqual(wa);
            expect(A.read(bp, rows * half)).toEqual(wb);
          }
    });

    it("rope: half and interleaved, full and partial rotary dims (exact f32 roundings)", () => {
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
              A.checkGuards();
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
              expect(A.read(xp, x.length)).toEqual(want);
            }
    });

    it("attention: GQA/MQA, KV cache strides, windows, soft-capping, sinks, head ranges, v head dim ≠ q/k (MLA), bidirectional", () => {
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
            const scr = A.poisoned(L);
            if (split) e.attention_heads(qp, kp, vp, op, T, start, heads, kvHeads, hd, vd, kStride, vStride, scale, window, softcap, sp, scr, causal, h0, h1b);
            else e.attention(qp, kp, vp, op, T, start, heads, kvHeads, hd, vd, kStride, vStride, scale, window, softcap, sp, scr, causal);
            A.checkGuards();
            const got = A.read(op, T * heads * vd);
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
      console.log(`${variant.name} attention: ${cases} cases, worst error ${wr.toFixed(3)}× 1e-5·(1+|y|)`);
    });

    it("gather_rows, scatter_add_rows (repeated rows) and fill", () => {
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
        expect(A.read(gp, count * d)).toEqual(want);
        // scatter the gathered rows back, weighted, onto a random accumulator
        const acc = normal(r, rows * d);
        const wts = normal(r, count);
        const ap = A.put(acc);
        const wp = A.put(wts);
        e.scatter_add_rows(gp, ip, wp, ap, count, d);
        const wantAcc = Float32Array.from(acc);
        for (let i = 0; i < count; i++) for (let k = 0; k < d; k++) wantAcc[idx[i]! * d + k] = f(wantAcc[idx[i]! * d + k]! + f(wts[i]! * want[i * d + k]!));
        expect(A.read(ap, rows * d)).toEqual(wantAcc);
        for (const n of [0, 1, 3, 4, 5, d]) {
          const fp = A.poisoned(n);
          e.fill(fp, n, -2.5);
          expect(A.read(fp, n)).toEqual(new Float32Array(n).fill(-2.5));
        }
        A.checkGuards();
      }
    });

    it("route_topk against route(): every scoring, selection bias, groups, renormalize, scale, ties and −∞", () => {
      const r = arena("route_topk");
      let cases = 0;
      let exact = 0;
      let total = 0;
      for (const c of routeCases(r)) {
        A.reset();
        const n = c.T * c.router.k;
        const lp = A.put(c.logits);
        const bp = c.bias ? A.put(c.bias) : 0;
        const cp = A.poisoned(c.E + 1);
        const tp = A.poisoned(n);
        const wp = A.poisoned(n);
        const kp = A.poisoned(workBytes(c) / 4);
        e.route_topk(lp, ...kernelArgs(c, bp), cp, tp, wp, kp);
        A.checkGuards();
        expect(A.read(lp, c.logits.length), `${c.label}: logits untouched`).toEqual(c.logits);
        const got = { counts: A.i32.slice(cp >> 2, (cp >> 2) + c.E + 1), tokens: A.i32.slice(tp >> 2, (tp >> 2) + n), weights: A.read(wp, n) };
        const q = checkRouting(c, got);
        exact += q.exact;
        total += q.total;
        cases++;
      }
      console.log(`${variant.name} route_topk: ${cases} cases, ${exact} of ${total} weights bit-identical to route()'s (rounded to f32)`);
      // V8's Math.exp is fdlibm's, which the kernel transcribes: every weight is the same bits.
      expect(exact).toBe(total);
    });
  });
}
