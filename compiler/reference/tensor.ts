// The reference interpreter's values: float32 storage, row-major, with the leading dims
// flattened into rows. Reductions accumulate in float64 (plain JS numbers) and round once.

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface IdTensor {
  readonly shape: readonly number[];
  readonly ids: Int32Array;
}

export type Value = Tensor | IdTensor;

export const isIds = (v: Value): v is IdTensor => "ids" in v;

export function tensor(shape: readonly number[], data?: Float32Array): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: data ?? new Float32Array(n) };
}

export function width(t: Tensor): number {
  return t.shape[t.shape.length - 1]!;
}

export function rows(t: Tensor): number {
  return t.data.length / width(t);
}

/**
 * y = x W^T + b for W stored [out, in] (nn.Linear), or y = x W + b for W stored [in, out].
 * `w` may be a view into a larger stacked tensor.
 */
export function linear(x: Tensor, w: Float32Array, out: number, bias: Float32Array | null, layout: "out_in" | "in_out"): Tensor {
  const n = width(x);
  const r = rows(x);
  const y = new Float32Array(r * out);
  const xd = x.data;
  if (layout === "out_in") {
    for (let i = 0; i < r; i++) {
      const xo = i * n;
      for (let o = 0; o < out; o++) {
        const wo = o * n;
        let s = 0;
        for (let k = 0; k < n; k++) s += xd[xo + k]! * w[wo + k]!;
        y[i * out + o] = bias ? s + bias[o]! : s;
      }
    }
  } else {
    const acc = new Float64Array(out);
    for (let i = 0; i < r; i++) {
      acc.fill(0);
      const xo = i * n;
      for (let k = 0; k < n; k++) {
        const xv = xd[xo + k]!;
        const wo = k * out;
        for (let o = 0; o < out; o++) acc[o]! += xv * w[wo + o]!;
      }
      for (let o = 0; o < out; o++) y[i * out + o] = bias ? acc[o]! + bias[o]! : acc[o]!;
    }
  }
  return { shape: [...x.shape.slice(0, -1), out], data: y };
}

/** RMSNorm over each `size`-wide segment of `data`: x / sqrt(mean(x²) + eps) · w (in place into `out`). */
export function rmsnormRows(data: Float32Array, size: number, weight: Float32Array | null, eps: number, out: Float32Array = new Float32Array(data.length), offset = 0): Float32Array {
  for (let base = 0; base < data.length; base += size) {
    let ss = 0;
    for (let k = 0; k < size; k++) ss += data[base + k]! * data[base + k]!;
    const inv = 1 / Math.sqrt(ss / size + eps);
    // HF rounds the normalised value to float32 before multiplying by the weight.
    // Without a weight (Llama-4's L2 norm) the normalised value is the result.
    // offset (Qwen3-Next's (1 + w) norms): the weight is f32(w + offset).
    for (let k = 0; k < size; k++) out[base + k] = weight ? Math.fround(weight[k]! + offset) * Math.fround(data[base + k]! * inv) : Math.fround(data[base + k]! * inv);
  }
  return out;
}

export function layernormRows(data: Float32Array, size: number, weight: Float32Array, bias: Float32Array | null, eps: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let base = 0; base < data.length; base += size) {
    let sum = 0;
    for (let k = 0; k < size; k++) sum += data[base + k]!;
    const mean = sum / size;
    let vs = 0;
    for (let k = 0; k < size; k++) vs += (data[base + k]! - mean) ** 2;
    const inv = 1 / Math.sqrt(vs / size + eps);
    for (let k = 0; k < size; k++) out[base + k] = (data[base + k]! - mean) * inv * weight[k]! + (bias ? bias[k]! : 0);
  }
  return out;
}

export function map(t: Tensor, f: (v: number) => number): Tensor {
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(t.data[i]!);
  return { shape: t.shape, data: out };
}

export const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
export const silu = (v: number): number => v / (1 + Math.exp(-v));

export { erf } from "../../runtime/math/erf.js";

/** Broadcasting elementwise binary op (NumPy rules) over concrete shapes. */
export function broadcast(a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor {
  const n = Math.max(a.shape.length, b.shape.length);
  const shape: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a.shape[a.shape.length - n + i] ?? 1;
    const db = b.shape[b.shape.length - n + i] ?? 1;
    shape.push(Math.max(da, db));
  }
  const out = tensor(shape);
  if (a.data.length === out.data.length && b.data.length === out.data.length) {
    for (let i = 0; i < out.data.length; i++) out.data[i] = f(a.data[i]!, b.data[i]!);
    return out;
  }
  const strides = (s: readonly number[]) => {
    const st = new Array<number>(n).fill(0);
    let acc = 1;
    for (let i = n - 1; i >= 0; i--) {
      const d = s[s.length - n + i] ?? 1;
      st[i] = d === 1 ? 0 : acc;
      acc *= d;
    }
    return st;
  };
  const sa = strides(a.shape);
  const sb = strides(b.shape);
  const idx = new Array<number>(n).fill(0);
  for (let i = 0; i < out.data.length; i++) {
    let oa = 0;
    let ob = 0;
    for (let d = 0; d < n; d++) {
      oa += idx[d]! * sa[d]!;
      ob += idx[d]! * sb[d]!;
    }
    out.data[i] = f(a.data[oa]!, b.data[ob]!);
    for (let d = n - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}
