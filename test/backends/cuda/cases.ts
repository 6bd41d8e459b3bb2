// The case file of backends/cuda/csrc/tests/kernel_test.cu: weights in every storage format with
// the values runtime/weights decodes them to, and routing problems with route()'s answers. Also
// written for the GPU run (bench/cuda/prepare.ts), where the same program checks the real kernels.
import { enumCode } from "../../../runtime/kernels/catalogue.js";
import { route } from "../../../runtime/moe/routing.js";
import { STORAGE_FORMATS, FORMATS, type StorageFormat } from "../../../runtime/plan/formats.js";
import { decodeScaled, encode } from "../../helpers/formats-codec.js";
import { routeCases } from "../../helpers/routing-cases.js";

class Writer {
  private readonly parts: Uint8Array[] = [];
  i32(...v: number[]): void {
    this.parts.push(new Uint8Array(Int32Array.from(v).buffer));
  }
  f64(...v: number[]): void {
    this.parts.push(new Uint8Array(Float64Array.from(v).buffer));
  }
  f32(v: ArrayLike<number>): void {
    this.parts.push(new Uint8Array(Float32Array.from(v).buffer));
  }
  bytes(b: Uint8Array): void {
    this.parts.push(b);
  }
  done(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

const randn = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

/** Weights [4 experts × 40 rows, K] per format (K = 256, and K = 38 for float and channel rows that are not whole 16-byte chunks). */
export function weightCases(r: () => number, formats: readonly StorageFormat[] = STORAGE_FORMATS): { format: StorageFormat; K: number; rows: number; bytes: Uint8Array; values: Float32Array }[] {
  const out = [];
  for (const format of formats) {
    for (const K of FORMATS[format].kind === "block" ? [256] : [256, 38]) {
      const rows = 4 * 40;
      const x = Float32Array.from({ length: rows * K }, () => 0.5 * randn(r));
      const bytes = encode(format, rows, K, x);
      out.push({ format, K, rows, bytes, values: decodeScaled(format, rows, K, bytes) });
    }
  }
  return out;
}

export function kernelCases(r: () => number, opts: { routes?: number } = {}): Uint8Array {
  const w = new Writer();
  for (const c of weightCases(r)) {
    w.i32(1, STORAGE_FORMATS.indexOf(c.format), c.rows, c.K, c.bytes.length);
    w.bytes(c.bytes);
    w.f32(c.values);
  }
  // Routing: finite logits (the GPU router, like transformers', is not defined on −∞ rows).
  let n = 0;
  for (const c of routeCases(r)) {
    if (c.logits.some((x) => !Number.isFinite(x))) continue;
    if (opts.routes !== undefined && n++ >= opts.routes) break;
    const ro = c.router;
    const assignments = route(ro, Float64Array.from(c.logits), c.T, c.E, c.bias);
    const ids = new Int32Array(c.T * ro.k), weights = new Float32Array(c.T * ro.k);
    for (const a of assignments) {
      ids[a.token * ro.k + a.rank] = a.expert;
      weights[a.token * ro.k + a.rank] = a.weight;
    }
    w.i32(2, ro.k, enumCode("scoring", ro.scoring), ro.groups, ro.topkGroups, enumCode("group_scoring", ro.groupScoring), ro.renormalize ? 1 : 0);
    w.f64(ro.scale, ro.jitterEps);
    w.i32(c.bias ? 1 : 0, c.T, c.E);
    w.f32(c.logits);
    w.f32(c.bias ?? new Float32Array(c.E));
    w.bytes(new Uint8Array(ids.buffer));
    w.f32(weights);
  }
  return w.done();
}
