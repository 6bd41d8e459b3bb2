// Elementwise kernels: unary activations, binary arithmetic, scale, clamp, SwiGLU (with
// GPT-OSS clamping) and the split of a fused gate/up projection. Four lanes per step, the
// last n % 4 elements one lane at a time (see stripLoop).
import { ENUMS, type EnumValue } from "../../../runtime/kernels/catalogue.js";
import type { Expr, KernelModule, Local } from "../module.js";
import { VecMath } from "./math.js";
import { stripLoop, type Lanes } from "./util.js";


/** y[i] = f(x[i]) for the pointer locals given, n elements. */
function mapLoop(m: KernelModule, off: Local, n: Local, inputs: readonly Local[], out: Local, f: (vals: Expr[], l: Lanes) => Expr): Expr {
  const at = (p: Local) => m.ptr.add(p.get(), off.get());
  return stripLoop(m, off, () => m.i32.shl(n.get(), m.i32.const(2)), (l) => [l.store(at(out), f(inputs.map((p) => l.load(at(p))), l))]);
}

/** `unary(x, y, n, kind)`: kind 0 silu, 1 gelu (erf), 2 gelu (tanh), 3 relu, 4 sigmoid, 5 tanh. */
export function addUnary(m: KernelModule): void {
  const fb = m.kernel("unary");
  const [x, y, n, kind] = fb.params as [Local, Local, Local, Local];
  const off = fb.local("i32");
  const vm = new VecMath(m, fb);
  const fns: Record<EnumValue<"unary">, (v: Expr) => Expr> = {
    silu: (v) => vm.silu(v),
    gelu: (v) => vm.geluErf(v),
    gelu_tanh: (v) => vm.geluTanh(v),
    relu: (v) => vm.relu(v),
    sigmoid: (v) => vm.sigmoid(v),
    tanh: (v) => vm.tanh(v),
  };
  let body: Expr = m.nop();
  for (let k = ENUMS.unary.length - 1; k >= 0; k--) {
    const fn = fns[ENUMS.unary[k]!];
    body = m.if(m.i32.eq(kind.get(), m.i32.const(k)), mapLoop(m, off, n, [x], y, ([v]) => fn(v!)), body);
  }
  fb.finish([body], "unary");
}

/** `binary(a, b, y, n, kind)`: kind 0 add, 1 sub, 2 mul, 3 div. */
export function addBinary(m: KernelModule): void {
  const fb = m.kernel("binary");
  const [a, b, y, n, kind] = fb.params as [Local, Local, Local, Local, Local];
  const off = fb.local("i32");
  const f = m.f32x4;
  const ops: Record<EnumValue<"binary">, (p: Expr, q: Expr) => Expr> = { add: f.add, sub: f.sub, mul: f.mul, div: f.div };
  let body: Expr = m.nop();
  for (let k = ENUMS.binary.length - 1; k >= 0; k--) {
    const op = ops[ENUMS.binary[k]!];
    body = m.if(m.i32.eq(kind.get(), m.i32.const(k)), mapLoop(m, off, n, [a, b], y, ([p, q]) => op(p!, q!)), body);
  }
  fb.finish([body], "binary");
}

/** `scale(x, y, n, factor)`: y = x · factor. */
export function addScale(m: KernelModule): void {
  const fb = m.kernel("scale");
  const [x, y, n, factor] = fb.params as [Local, Local, Local, Local];
  const off = fb.local("i32");
  const fv = fb.local("v128");
  fb.finish([fv.set(m.f32x4.splat(factor.get())), mapLoop(m, off, n, [x], y, ([v]) => m.f32x4.mul(v!, fv.get()))], "scale");
}

/** `scale_rows(x, f, y, rows, d)`: y[r, :] = x[r, :] · f[r] (in place allowed). */
export function addScaleRows(m: KernelModule): void {
  const fb = m.kernel("scale_rows");
  const [x, fp, y, rows, d] = fb.params as [Local, Local, Local, Local, Local];
  const I = m.i32;
  const r = fb.local("i32");
  const off = fb.local("i32");
  const xr = fb.local("ptr");
  const yr = fb.local("ptr");
  const fv = fb.local("v128");
  const rowBytes = () => I.shl(I.mul(r.get(), d.get()), I.const(2));
  fb.finish(
    [
      m.for(r, I.const(0), () => rows.get(), 1, [
        xr.set(m.ptr.add(x.get(), rowBytes())),
        yr.set(m.ptr.add(y.get(), rowBytes())),
        fv.set(m.f32x4.splat(m.f32.load(m.ptr.add(fp.get(), I.shl(r.get(), I.const(2)))))),
        mapLoop(m, off, d, [xr], yr, ([v]) => m.f32x4.mul(v!, fv.get())),
      ]),
    ],
    "scale_rows",
  );
}

/** `clamp(x, n, lo, hi)` in place: x = min(max(x, lo), hi). */
export function addClamp(m: KernelModule): void {
  const fb = m.kernel("clamp");
  const [x, n, lo, hi] = fb.params as [Local, Local, Local, Local];
  const off = fb.local("i32");
  const lov = fb.local("v128");
  const hiv = fb.local("v128");
  fb.finish(
    [lov.set(m.f32x4.splat(lo.get())), hiv.set(m.f32x4.splat(hi.get())), mapLoop(m, off, n, [x], x, ([v]) => m.f32x4.min(m.f32x4.max(v!, lov.get()), hiv.get()))],
    "clamp",
  );
}

/**
 * `swiglu(g, u, y, n, alpha, limit, up_offset)`: y = g·sigmoid(alpha·g)·(u + up_offset), with
 * g = min(g, limit) and u = clamp(u, −limit, limit) when limit > 0.
 */
export function addSwiglu(m: KernelModule): void {
  const fb = m.kernel("swiglu");
  const [g, u, y, n, alpha, limit, upOffset] = fb.params as [Local, Local, Local, Local, Local, Local, Local];
  const off = fb.local("i32");
  const av = fb.local("v128");
  const lim = fb.local("v128");
  const offv = fb.local("v128");
  const gv = fb.local("v128");
  const vm = new VecMath(m, fb);
  const f = m.f32x4;
  fb.finish(
    [
      av.set(f.splat(alpha.get())),
      // limit ≤ 0: no clamp (an infinite limit clamps nothing and keeps NaN as NaN)
      lim.set(f.splat(m.select(m.f32.gt(limit.get(), m.f32.const(0)), limit.get(), m.f32.const(Infinity)))),
      offv.set(f.splat(upOffset.get())),
      mapLoop(m, off, n, [g, u], y, ([gx, ux]) =>
        m.valueBlock(
          [
            gv.set(f.min(gx!, lim.get())),
            // (g·sigmoid(αg)) rounded to f32, then · (u + offset)
            f.mul(f.mul(gv.get(), vm.sigmoid(f.mul(gv.get(), av.get()))), f.add(f.max(f.min(ux!, lim.get()), f.neg(lim.get())), offv.get())),
          ],
          "v128",
        ),
      ),
    ],
    "swiglu",
  );
}

/**
 * `deinterleave(x, a, b, rows, half, interleaved)`: each row of width 2·half splits into a
 * and b ([rows, half] each): interleaved = 1 puts even columns in a and odd in b; 0 the first
 * half in a and the second in b.
 */
export function addDeinterleave(m: KernelModule): void {
  const fb = m.kernel("deinterleave");
  const [x, a, b, rows, half, interleaved] = fb.params as [Local, Local, Local, Local, Local, Local];
  const r = fb.local("i32");
  const j = fb.local("i32");
  const hb = fb.local("i32"); // half in bytes
  const xr = fb.local("ptr");
  const ar = fb.local("ptr");
  const br = fb.local("ptr");
  const v0 = fb.local("v128");
  const v1 = fb.local("v128");
  const I = m.i32;
  const c = (v: number) => I.const(v);
  const xj2 = (extra: number) => m.ptr.add(xr.get(), I.shl(j.get(), c(1)), c(extra)); // x row + 2j (bytes) + extra
  const interleavedRow = [
    // 4 pairs per step: even lanes to a, odd lanes to b
    m.for(j, c(0), () => I.sub(hb.get(), c(12)), 16, [
      v0.set(m.v128.load(xj2(0))),
      v1.set(m.v128.load(xj2(16))),
      m.v128.store(m.ptr.add(ar.get(), j.get()), m.v128.shuffle32(v0.get(), v1.get(), [0, 2, 4, 6])),
      m.v128.store(m.ptr.add(br.get(), j.get()), m.v128.shuffle32(v0.get(), v1.get(), [1, 3, 5, 7])),
    ]),
    m.while(() => I.lt_s(j.get(), hb.get()), [
      m.f32.store(m.ptr.add(ar.get(), j.get()), m.f32.load(xj2(0))),
      m.f32.store(m.ptr.add(br.get(), j.get()), m.f32.load(xj2(4))),
      j.set(I.add(j.get(), c(4))),
    ]),
  ];
  const splitRow = [m.memory.copy(ar.get(), xr.get(), hb.get()), m.memory.copy(br.get(), m.ptr.add(xr.get(), hb.get()), hb.get())];
  fb.finish(
    [
      hb.set(I.shl(half.get(), c(2))),
      m.for(r, c(0), () => rows.get(), 1, [
        ar.set(m.ptr.add(a.get(), I.mul(r.get(), hb.get()))),
        br.set(m.ptr.add(b.get(), I.mul(r.get(), hb.get()))),
        xr.set(m.ptr.add(x.get(), I.shl(I.mul(r.get(), hb.get()), c(1)))),
        m.if(interleaved.get(), interleavedRow, splitRow),
      ]),
    ],
    "deinterleave",
  );
}
