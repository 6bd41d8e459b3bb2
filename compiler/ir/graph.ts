// The graph IR: one immutable node type with an op enum. High-level ops (`attention`,
// `mla`, `moe`) stay whole so that passes can see the MoE structure; lowering breaks
// them into kernels later. Node ids are indices into `Graph.nodes`, which is in
// topological order, so a node's inputs always have smaller ids.
import type { Span } from "../diagnostics/diagnostic.js";
import type { DType, TensorType } from "./types.js";

export const OPS = [
  "input", "embed", "linear", "rmsnorm", "layernorm",
  "silu", "gelu", "relu", "sigmoid", "tanh", "swiglu",
  "add", "sub", "mul", "div", "scale", "learned_scale",
  "attention", "mla", "moe", "gated_deltanet", "mamba2", "mamba",
] as const;
export type Op = (typeof OPS)[number];

/** Attribute values are plain data, so graphs print, compare and serialise trivially. */
export type AttrValue = number | string | boolean | null | readonly AttrValue[] | { readonly [key: string]: AttrValue };
export type Attrs = { readonly [key: string]: AttrValue };

/**
 * A learned tensor. `name` is the checkpoint tensor name it binds to. Inside an expert
 * subgraph the name contains `{e}` (one tensor per expert) or, for checkpoints that stack
 * all experts in one tensor, no `{e}` and the stored shape is [experts, ...shape].
 */
export interface Param {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export interface Node {
  readonly id: number;
  readonly op: Op;
  readonly inputs: readonly number[];
  readonly type: TensorType;
  readonly attrs: Attrs;
  readonly params: readonly Param[];
  /** The weight-name prefix of the node's parameters, and its name in dumps. */
  readonly name: string;
  /** Index of the model-level loop iteration that created the node (the layer), if any. */
  readonly layer: number | null;
  /** `moe` nodes: one body per expert group (`expert0`, `expert1`, ...) and `shared`. */
  readonly subgraphs: { readonly [key: string]: Graph };
  readonly span: Span | null;
}

export interface GraphOutput {
  readonly name: string;
  readonly node: number;
}

export interface Graph {
  readonly name: string;
  readonly nodes: readonly Node[];
  readonly inputs: readonly number[];
  readonly outputs: readonly GraphOutput[];
  /** Model constants, as declared; for reports and `moec info`. */
  readonly constants: { readonly [name: string]: number | string | boolean };
}

// ---- attribute shapes of the high-level ops (documented in dsl-spec/SPEC.md) ----------
// They live in the runtime's plan types, which must not import the compiler.
export type { ExpertGroupAttr, RopeAttr, RopeScaling, RouterAttr, Scoring } from "../../runtime/plan/types.js";

export function attrsOf<T>(node: Node, key: string): T {
  return node.attrs[key] as unknown as T;
}
