// Helpers shared by the kernel families: strip-mined loops with a one-lane tail, horizontal
// sums, and the multiply-add used by the dot products (relaxed madd in the relaxed build).
import type { Expr, FunctionBuilder, KernelModule, Local } from "../module.js";

/** How one step of a strip-mined loop touches memory: four lanes, or one lane (the tail). */
export interface Lanes {
  /** Bytes per step: 16 in the body, 4 in the tail. */
  readonly bytes: 16 | 4;
  /** A v128 from `ptr`: all four lanes, or lane 0 with zeros elsewhere. */
  load(ptr: Expr, offset?: number): Expr;
  /** A v128 from `ptr`: all four lanes, or one value splatted to every lane. */
  loadSplatTail(ptr: Expr, offset?: number): Expr;
  /** Stores all four lanes, or lane 0 only. */
  store(ptr: Expr, value: Expr, offset?: number): Expr;
  /** v128 that keeps the lanes this step owns (all ones, or lane 0 only). */
  mask(): Expr;
}

export function vectorLanes(m: KernelModule): Lanes {
  return {
    bytes: 16,
    load: (p, o = 0) => m.v128.load(p, o),
    loadSplatTail: (p, o = 0) => m.v128.load(p, o),
    store: (p, v, o = 0) => m.v128.store(p, v, o),
    mask: () => m.v128.const(new Array<number>(16).fill(0xff)),
  };
}

export function tailLanes(m: KernelModule): Lanes {
  return {
    bytes: 4,
    load: (p, o = 0) => m.v128.load32Zero(p, o),
    loadSplatTail: (p, o = 0) => m.v128.load32Splat(p, o),
    store: (p, v, o = 0) => m.v128.store32Lane(p, v, 0, o),
    mask: () => m.v128.const([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  };
}

/**
 * `for (off = 0; off < endBytes; )`: 16-byte steps while a whole vector fits, then 4-byte
 * steps for the last 0-3 elements, with `body` built once for each kind of step. `off` is a
 * byte offset the body adds to its pointers.
 */
export function stripLoop(m: KernelModule, off: Local, endBytes: () => Expr, body: (l: Lanes) => readonly Expr[]): Expr {
  return m.block([
    m.for(off, m.i32.const(0), () => m.i32.sub(endBytes(), m.i32.const(12)), 16, body(vectorLanes(m))),
    m.while(() => m.i32.lt_s(off.get(), endBytes()), [...body(tailLanes(m)), off.set(m.i32.add(off.get(), m.i32.const(4)))]),
  ]);
}

/** a·b + c for the dot-product kernels: relaxed madd in the relaxed build, mul+add otherwise. */
export function dotMadd(m: KernelModule, a: Expr, b: Expr, c: Expr): Expr {
  return m.relaxedSimd ? m.f32x4.relaxedMadd(a, b, c) : m.f32x4.mulAdd(a, b, c);
}

/** p + i·stride for a pointer `base` and an i32 index. */
export function addr(m: KernelModule, base: Expr, index: Expr, strideBytes = 4): Expr {
  return m.ptr.add(base, strideBytes === 1 ? index : m.i32.mul(index, m.i32.const(strideBytes)));
}

/** Temporaries for the horizontal reductions of one function. */
export class Reducer {
  private readonly u: Local;
  private readonly w: Local;
  constructor(
    private readonly m: KernelModule,
    fb: FunctionBuilder,
  ) {
    this.u = fb.local("v128");
    this.w = fb.local("v128");
  }

  /** (Σa, Σb, Σc, Σd) over the lanes of four f32x4 locals. */
  hadd4(a: Local, b: Local, c: Local, d: Local): Expr {
    const { m, u, w } = this;
    const pairSum = (x: Local, y: Local) => m.f32x4.add(m.v128.shuffle32(x.get(), y.get(), [0, 1, 4, 5]), m.v128.shuffle32(x.get(), y.get(), [2, 3, 6, 7]));
    return m.valueBlock([u.set(pairSum(a, b)), w.set(pairSum(c, d)), m.f32x4.add(m.v128.shuffle32(u.get(), w.get(), [0, 2, 4, 6]), m.v128.shuffle32(u.get(), w.get(), [1, 3, 5, 7]))], "v128");
  }

  /** The sum of the four lanes of `a` as an f32. */
  hsum(a: Local): Expr {
    const { m, u } = this;
    return m.valueBlock(
      [u.set(m.f32x4.add(a.get(), m.v128.shuffle32(a.get(), a.get(), [2, 3, 0, 1]))), m.f32.add(m.f32x4.extractLane(u.get(), 0), m.f32x4.extractLane(u.get(), 1))],
      "f32",
    );
  }

  /** The largest of the four lanes of `a` as an f32. */
  hmax(a: Local): Expr {
    const { m, u } = this;
    return m.valueBlock(
      [u.set(m.f32x4.max(a.get(), m.v128.shuffle32(a.get(), a.get(), [2, 3, 0, 1]))), m.f32.max(m.f32x4.extractLane(u.get(), 0), m.f32x4.extractLane(u.get(), 1))],
      "f32",
    );
  }
}
