// The graph IR: one immutable node type with an op enum. High-level ops (`attention`,
// `mla`, `moe`) stay whole so that passes can see the MoE structure; lowering breaks
// them into kernels later. Node ids are indices into `Graph.nodes`, which is in
// topological order, so a node's inputs always have smaller ids.
import type { Span } from "../diagnostics/diagnostic.js";
import type { DType, TensorType } from "./types.js";

export const OPS = [
  "input", "embed", "linear", "rmsnorm", "layernorm",
  "silu", "gelu", "relu", "sigmoid", "tanh", "swiglu",
  "add", "sub", "mul", "div", "scale",
  "attention", "mla", "moe",
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

export type RopeScaling =
  | { readonly type: "linear"; readonly factor: number }
  | { readonly type: "dynamic"; readonly factor: number; readonly originalMax: number }
  | { readonly type: "llama3"; readonly factor: number; readonly lowFreqFactor: number; readonly highFreqFactor: number; readonly originalMax: number }
  | {
      readonly type: "yarn";
      readonly factor: number;
      readonly originalMax: number;
      readonly betaFast: number;
      readonly betaSlow: number;
      readonly mscale: number;
      readonly mscaleAllDim: number;
      readonly attentionFactor: number | null;
      readonly truncate: boolean;
    }
  | {
      readonly type: "longrope";
      readonly shortFactor: readonly number[];
      readonly longFactor: readonly number[];
      readonly originalMax: number;
      /** The extended context; with originalMax it gives the default attention factor. */
      readonly maxPositions: number | null;
      readonly attentionFactor: number | null;
      /** Phi-3.5-MoE's cos/sin multipliers for sequences within / beyond originalMax. */
      readonly shortMscale: number | null;
      readonly longMscale: number | null;
    };

export interface RopeAttr {
  readonly theta: number;
  /** Rotated dims per head (partial rotary when smaller than the head dim). */
  readonly dim: number;
  readonly style: "half" | "interleaved";
  readonly scaling: RopeScaling | null;
}

export type Scoring = "softmax" | "sigmoid" | "softmax_topk" | "sparsemixer";

export interface RouterAttr {
  readonly choice: "token" | "expert";
  readonly k: number;
  readonly scoring: Scoring;
  readonly renormalize: boolean;
  readonly bias: boolean;
  readonly selectionBias: boolean;
  readonly groups: number;
  readonly topkGroups: number;
  readonly groupScoring: "max" | "top2_sum";
  readonly scale: number;
  readonly capacityFactor: number | null;
  readonly jitterEps: number;
  /** True when the router reads a second input (pre-gating) instead of the layer input. */
  readonly pregated: boolean;
}

export interface ExpertGroupAttr {
  readonly kind: "ffn" | "zero" | "identity";
  readonly count: number;
  /** The expert definition's name (for `ffn`), for dumps and reports. */
  readonly def: string | null;
}

export function attrsOf<T>(node: Node, key: string): T {
  return node.attrs[key] as unknown as T;
}
