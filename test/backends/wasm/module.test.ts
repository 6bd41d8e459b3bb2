// The WASM kernel module itself: it validates in every build, imports only its memory, exports
// exactly the catalogue's kernels, runs on shared and 64-bit memories, and its f64 exp is
// Math.exp's to the bit. What each kernel computes is tested for every backend alike in
// test/conformance/kernels.test.ts.
import { namedRandom, runSeed } from "../../helpers/seed.js";
import { describe, expect, it } from "vitest";
import { buildKernelModule, KERNEL_EXPORTS } from "../../../backends/wasm/build.js";
import { KernelModule } from "../../../backends/wasm/module.js";
import { addExpF64 } from "../../../backends/wasm/kernels/exp64.js";

const SEED = runSeed("wasm module");
const rng = (name: string) => namedRandom(SEED, name);

type Fn = (...args: number[]) => number | undefined;
type Exports = Record<(typeof KERNEL_EXPORTS)[number], Fn>;

const randn = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
const uniform = (r: () => number, n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());

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
