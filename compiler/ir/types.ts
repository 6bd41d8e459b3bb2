// Tensor types of the graph IR: a dtype and a shape whose dims are numbers or named
// symbols (`seq`, `batch`, `T`), which stay symbolic until the runtime knows them.
export const DTYPES = ["f32", "f16", "bf16", "i32", "i64", "i8", "u8", "bool"] as const;
export type DType = (typeof DTYPES)[number];
export type Dim = number | string;

export interface TensorType {
  readonly dtype: DType;
  readonly shape: readonly Dim[];
}

export function isFloat(dtype: DType): boolean {
  return dtype === "f32" || dtype === "f16" || dtype === "bf16";
}

export function isInteger(dtype: DType): boolean {
  return dtype === "i32" || dtype === "i64" || dtype === "i8" || dtype === "u8";
}

export function formatShape(shape: readonly Dim[]): string {
  return `[${shape.join(", ")}]`;
}

export function formatType(t: TensorType): string {
  return `${t.dtype}${formatShape(t.shape)}`;
}

export function sameDim(a: Dim, b: Dim): boolean {
  return a === b;
}

export function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => sameDim(d, b[i]!));
}

export function lastDim(t: TensorType): Dim | undefined {
  return t.shape[t.shape.length - 1];
}

/** NumPy broadcasting over symbolic dims: equal dims, or one of them is 1. Null if incompatible. */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] | null {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (sameDim(da, db) || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else return null;
  }
  return out;
}

export function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
