// Matching declared tensor types (`x: [T, d]`) against actual ones. Names in a declared
// shape that are not constants are shape variables: the first use binds them, later uses
// must agree (a `[seq, 4096]` fed where `[seq, 2048]` is declared fails, naming both).
import type { Dim, TensorType } from "../ir/types.js";
import { formatType } from "../ir/types.js";

export type DeclDim = { readonly kind: "fixed"; readonly value: number } | { readonly kind: "var"; readonly name: string };

export interface DeclType {
  readonly dtype: TensorType["dtype"] | null;
  readonly dims: readonly DeclDim[];
}

export function formatDecl(t: DeclType): string {
  return `${t.dtype ?? ""}[${t.dims.map((d) => (d.kind === "fixed" ? d.value : d.name)).join(", ")}]`;
}

/** Unifies `actual` against `decl`, extending `bindings`; returns a reason on mismatch. */
export function unify(decl: DeclType, actual: TensorType, bindings: Map<string, Dim>): string | null {
  if (decl.dtype !== null && decl.dtype !== actual.dtype) return `dtype ${actual.dtype} is not ${decl.dtype}`;
  if (decl.dims.length !== actual.shape.length) return `${formatType(actual)} has ${actual.shape.length} dims, not ${decl.dims.length}`;
  for (let i = 0; i < decl.dims.length; i++) {
    const d = decl.dims[i]!;
    const a = actual.shape[i]!;
    if (d.kind === "fixed") {
      if (a !== d.value) return `dim ${i} is ${a}, not ${d.value}`;
      continue;
    }
    const bound = bindings.get(d.name);
    if (bound === undefined) bindings.set(d.name, a);
    else if (bound !== a) return `dim ${i} ('${d.name}') is ${a}, but '${d.name}' is already ${bound}`;
  }
  return null;
}

/** The concrete type a declaration denotes once its variables are bound (unbound ones stay symbolic). */
export function instantiate(decl: DeclType, bindings: ReadonlyMap<string, Dim>): TensorType {
  return { dtype: decl.dtype ?? "f32", shape: decl.dims.map((d) => (d.kind === "fixed" ? d.value : (bindings.get(d.name) ?? d.name))) };
}
