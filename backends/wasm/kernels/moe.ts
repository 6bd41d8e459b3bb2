// Token routing between the dense stream and the experts: gather the rows an expert works
// on, scatter-add its weighted output back, and fill (zeroing accumulators).
import type { KernelModule, Local } from "../module.js";
import { stripLoop } from "./util.js";

/** `gather_rows(src, idx, dst, count, d)`: dst[i, :] = src[idx[i], :] (idx: i32 row indices). */
export function addGatherRows(m: KernelModule): void {
  const fb = m.func("gather_rows", [
    ["src", "ptr"],
    ["idx", "ptr"],
    ["dst", "ptr"],
    ["count", "i32"],
    ["d", "i32"],
  ]);
  const [src, idx, dst, count, d] = fb.params as Local[] as [Local, Local, Local, Local, Local];
  const I = m.i32;
  const P = m.ptr;
  const i = fb.local("i32");
  const rb = fb.local("i32");
  fb.finish(
    [
      rb.set(I.shl(d.get(), I.const(2))),
      m.for(i, I.const(0), () => count.get(), 1, [
        m.memory.copy(P.add(dst.get(), I.mul(i.get(), rb.get())), P.add(src.get(), I.mul(I.load(P.add(idx.get(), I.shl(i.get(), I.const(2)))), rb.get())), rb.get()),
      ]),
    ],
    "gather_rows",
  );
}

/** `scatter_add_rows(src, idx, weights, dst, count, d)`: dst[idx[i], :] += weights[i]·src[i, :]. */
export function addScatterAddRows(m: KernelModule): void {
  const fb = m.func("scatter_add_rows", [
    ["src", "ptr"],
    ["idx", "ptr"],
    ["weights", "ptr"],
    ["dst", "ptr"],
    ["count", "i32"],
    ["d", "i32"],
  ]);
  const [src, idx, weights, dst, count, d] = fb.params as Local[] as [Local, Local, Local, Local, Local, Local];
  const I = m.i32;
  const P = m.ptr;
  const f = m.f32x4;
  const i = fb.local("i32");
  const off = fb.local("i32");
  const rb = fb.local("i32");
  const sr = fb.local("ptr");
  const dr = fb.local("ptr");
  const wv = fb.local("v128");
  fb.finish(
    [
      rb.set(I.shl(d.get(), I.const(2))),
      m.for(i, I.const(0), () => count.get(), 1, [
        sr.set(P.add(src.get(), I.mul(i.get(), rb.get()))),
        dr.set(P.add(dst.get(), I.mul(I.load(P.add(idx.get(), I.shl(i.get(), I.const(2)))), rb.get()))),
        wv.set(m.v128.load32Splat(P.add(weights.get(), I.shl(i.get(), I.const(2))))),
        // (w·src) rounded, then added: no fused multiply-add, as the reference.
        stripLoop(m, off, () => rb.get(), (l) => [l.store(P.add(dr.get(), off.get()), f.add(l.load(P.add(dr.get(), off.get())), f.mul(wv.get(), l.load(P.add(sr.get(), off.get())))))]),
      ]),
    ],
    "scatter_add_rows",
  );
}

/** `fill(x, n, value)`: x[0..n) = value. */
export function addFill(m: KernelModule): void {
  const fb = m.func("fill", [
    ["x", "ptr"],
    ["n", "i32"],
    ["value", "f32"],
  ]);
  const [x, n, value] = fb.params as Local[] as [Local, Local, Local];
  const I = m.i32;
  const off = fb.local("i32");
  const vv = fb.local("v128");
  fb.finish(
    [vv.set(m.f32x4.splat(value.get())), stripLoop(m, off, () => I.shl(n.get(), I.const(2)), (l) => [l.store(m.ptr.add(x.get(), off.get()), vv.get())])],
    "fill",
  );
}
