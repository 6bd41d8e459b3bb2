// Moving rows: gather the rows an expert works on (and embedding rows), scatter-add its
// weighted output back, add a gated shared expert, copy strided blocks (KV appends, MLA's head
// layouts), and fill (zeroing accumulators).
import type { KernelModule, Local } from "../module.js";
import { EXP_F64, addExpF64 } from "./exp64.js";
import { stripLoop } from "./util.js";

/** `gather_rows(src, idx, dst, count, d)`: dst[i, :] = src[idx[i], :] (idx: i32 row indices). */
export function addGatherRows(m: KernelModule): void {
  const fb = m.kernel("gather_rows");
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
  const fb = m.kernel("scatter_add_rows");
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
  const fb = m.kernel("fill");
  const [x, n, value] = fb.params as Local[] as [Local, Local, Local];
  const I = m.i32;
  const off = fb.local("i32");
  const vv = fb.local("v128");
  fb.finish(
    [vv.set(m.f32x4.splat(value.get())), stripLoop(m, off, () => I.shl(n.get(), I.const(2)), (l) => [l.store(m.ptr.add(x.get(), off.get()), vv.get())])],
    "fill",
  );
}

/**
 * `gate_add_rows(gate, src, dst, rows, d)`: dst[r, :] += g·src[r, :] with g = f32(1/(1 + exp(−gate[r])))
 * computed in f64 through fdlibm's exp (Math.exp's algorithm), so it matches the JS sigmoid to the bit.
 */
export function addGateAddRows(m: KernelModule): void {
  addExpF64(m);
  const fb = m.kernel("gate_add_rows");
  const [gate, src, dst, rows, d] = fb.params as Local[] as [Local, Local, Local, Local, Local];
  const I = m.i32;
  const P = m.ptr;
  const D = m.f64;
  const f = m.f32x4;
  const r = fb.local("i32");
  const off = fb.local("i32");
  const rb = fb.local("i32");
  const sr = fb.local("ptr");
  const dr = fb.local("ptr");
  const gv = fb.local("v128");
  const g64 = D.div(D.const(1), D.add(D.const(1), m.call(EXP_F64, [D.neg(D.promote(m.f32.load(P.add(gate.get(), I.shl(r.get(), I.const(2))))))], "f64")));
  fb.finish(
    [
      rb.set(I.shl(d.get(), I.const(2))),
      m.for(r, I.const(0), () => rows.get(), 1, [
        sr.set(P.add(src.get(), I.mul(r.get(), rb.get()))),
        dr.set(P.add(dst.get(), I.mul(r.get(), rb.get()))),
        gv.set(f.splat(m.f32.demote(g64))),
        stripLoop(m, off, () => rb.get(), (l) => [l.store(P.add(dr.get(), off.get()), f.add(l.load(P.add(dr.get(), off.get())), f.mul(gv.get(), l.load(P.add(sr.get(), off.get())))))]),
      ]),
    ],
    "gate_add_rows",
  );
}

/**
 * `copy_blocks(src, dst, rows, blocks, len, src_row, src_block, dst_row, dst_block)`: for each
 * row and block, `len` floats from src + 4·(r·src_row + b·src_block) to dst + 4·(r·dst_row + b·dst_block).
 */
export function addCopyBlocks(m: KernelModule): void {
  const fb = m.kernel("copy_blocks");
  const [src, dst, rows, blocks, len, srcRow, srcBlock, dstRow, dstBlock] = fb.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const I = m.i32;
  const P = m.ptr;
  const r = fb.local("i32");
  const b = fb.local("i32");
  const at = (row: Local, block: Local) => I.shl(I.add(I.mul(r.get(), row.get()), I.mul(b.get(), block.get())), I.const(2));
  fb.finish(
    [
      m.for(r, I.const(0), () => rows.get(), 1, [
        m.for(b, I.const(0), () => blocks.get(), 1, [m.memory.copy(P.add(dst.get(), at(dstRow, dstBlock)), P.add(src.get(), at(srcRow, srcBlock)), I.shl(len.get(), I.const(2)))]),
      ]),
    ],
    "copy_blocks",
  );
}
