// What a built-in needs from the elaborator while it builds nodes.
import type { Diagnostic, DiagnosticCode, Span } from "../diagnostics/diagnostic.js";
import type { ExpertGroupAttr, Graph } from "../ir/graph.js";
import type { NodeSpec } from "../ir/builder.js";
import type { TensorType } from "../ir/types.js";
import type { BoundArg } from "./signature.js";
import type { ExpertValue, Value } from "./values.js";

export interface CallInfo {
  readonly callee: string;
  readonly span: Span;
  /** The weight name written after the call (`@ "self_attn"`), placeholders filled in. */
  readonly name: string | null;
}

export interface BuildContext {
  readonly diags: Diagnostic[];
  /** Adds a node named `name` (see weightName); reports the op table's complaint at the call. */
  addNode(spec: Omit<NodeSpec, "name" | "layer" | "span">, call: CallInfo, name: string): Value;
  typeOf(id: number): TensorType;
  error(code: DiagnosticCode, span: Span | null, ...args: (string | number)[]): Value;
  /** Elaborates expert bodies into subgraphs for a `moe` whose weight prefix is `moeName`. */
  expertGroups(groups: Extract<Value, { k: "experts" }>["groups"], width: number, moeName: string, span: Span): { attrs: ExpertGroupAttr[]; subgraphs: Record<string, Graph> } | null;
  sharedExpert(expert: ExpertValue, width: number, moeName: string, span: Span): Graph | null;
  /** The full weight prefix a call gets: its `@` name, or an automatic one, under the current scope. */
  weightName(call: CallInfo, defaultName: string): string;
}

export type Args = ReadonlyMap<string, BoundArg>;

export const arg = (args: Args, name: string): Value => args.get(name)?.value ?? { k: "error" };
export const argSpan = (args: Args, name: string, fallback: Span): Span => args.get(name)?.span ?? fallback;
export const num = (args: Args, name: string): number => {
  const v = arg(args, name);
  return v.k === "int" || v.k === "float" ? v.v : NaN;
};
export const optNum = (args: Args, name: string): number | null => (arg(args, name).k === "none" ? null : num(args, name));
export const bool = (args: Args, name: string): boolean => arg(args, name).k === "bool" && (arg(args, name) as { v: boolean }).v;
export const str = (args: Args, name: string): string => {
  const v = arg(args, name);
  return v.k === "str" ? v.v : "";
};
export const anyError = (args: Args): boolean => [...args.values()].some((a) => a.value.k === "error");
