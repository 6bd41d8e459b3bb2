// Values of the elaborator. Elaboration runs the program at compile time: constants and
// loop variables are numbers, tensors are references to IR nodes being built, and
// configuration such as `rope(...)` or `topk(...)` evaluates to records.
import type { Span } from "../diagnostics/diagnostic.js";
import type { BlockMember } from "../syntax/ast.js";
import { formatType, type TensorType } from "../ir/types.js";

export type Value =
  | { readonly k: "int"; readonly v: number }
  | { readonly k: "float"; readonly v: number }
  | { readonly k: "bool"; readonly v: boolean }
  | { readonly k: "str"; readonly v: string }
  | { readonly k: "none" }
  | { readonly k: "tensor"; readonly id: number; readonly type: TensorType }
  | { readonly k: "list"; readonly items: readonly Value[] }
  /** `rope(...)`, `topk(...)`, `yarn(...)`: configuration, with an optional weight name. */
  | { readonly k: "record"; readonly ctor: string; readonly fields: ReadonlyMap<string, Value>; readonly name: string | null; readonly span: Span }
  /** A block or expert definition, by name. */
  | { readonly k: "def"; readonly decl: BlockMember }
  /** An expert applied to its configuration but not yet to tokens: `SwiGLU(ffn = 768)`, or `zero`. */
  | { readonly k: "expert"; readonly decl: BlockMember | null; readonly builtin: "zero" | "identity" | null; readonly args: ReadonlyMap<string, Value>; readonly name: string | null; readonly span: Span }
  /** `8 of SwiGLU`: groups of experts, in order. */
  | { readonly k: "experts"; readonly groups: readonly { readonly count: number; readonly expert: Extract<Value, { k: "expert" }> }[] }
  /** The result of an expression that already produced a diagnostic; silences follow-on errors. */
  | { readonly k: "error" };

export type ExpertValue = Extract<Value, { k: "expert" }>;
export type RecordValue = Extract<Value, { k: "record" }>;
export type TensorValue = Extract<Value, { k: "tensor" }>;

export const ERROR: Value = { k: "error" };
export const NONE: Value = { k: "none" };
export const int = (v: number): Value => ({ k: "int", v });
export const float = (v: number): Value => ({ k: "float", v });

export function isNumber(v: Value): v is { k: "int" | "float"; v: number } {
  return v.k === "int" || v.k === "float";
}

/** How a value is named in messages: "an int (4096)", "f32[seq, 64]", "a rope(...) record". */
export function describeValue(v: Value): string {
  switch (v.k) {
    case "int":
      return `an int (${v.v})`;
    case "float":
      return `a float (${v.v})`;
    case "bool":
      return `a bool (${v.v})`;
    case "str":
      return `a string ("${v.v.length > 30 ? v.v.slice(0, 30) + "…" : v.v}")`;
    case "none":
      return "none";
    case "tensor":
      return `a tensor ${formatType(v.type)}`;
    case "list":
      return `a list of ${v.items.length}`;
    case "record":
      return `${v.ctor}(...)`;
    case "def":
      return `the ${v.decl.kind} '${v.decl.name}'`;
    case "expert":
      return `the expert '${v.decl?.name ?? v.builtin}'`;
    case "experts":
      return "a set of experts";
    case "error":
      return "an invalid value";
  }
}

/** Compile-time values that can appear in the graph's constant table. */
export function constantOf(v: Value): number | string | boolean | null {
  if (v.k === "int" || v.k === "float" || v.k === "bool" || v.k === "str") return v.v;
  return null;
}
