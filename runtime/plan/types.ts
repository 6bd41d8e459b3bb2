// The execution plan: what `compiler/lower` produces and what every runtime executes. It is
// plain JSON (versioned), so a compiled bundle carries it without the compiler. Activations
// are [tokens, width] row-major float32; `tokens` is the step's token count (the prompt for
// prefill, 1 for decode, or the tokens routed to one expert inside a MoE group).
//
// The attribute types of the high-level ops live here too, because the runtime needs them
// (rope tables, routing) and must not import the compiler; compiler/ir re-exports them.

import type { EnumValue } from "../kernels/catalogue.js";

export const PLAN_FORMAT = "moec-plan";
export const PLAN_VERSION = 2;

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
    }
  /**
   * Gemma-4's "proportional" RoPE: the frequencies of the whole `dim`, theta^(-2j/dim), for the first rotated/2
   * pairs and 0 (no rotation) for the rest, all divided by factor.
   */
  | { readonly type: "proportional"; readonly rotated: number; readonly factor: number };

export interface RopeAttr {
  readonly theta: number;
  /** Rotated dims per head (partial rotary when smaller than the head dim). */
  readonly dim: number;
  readonly style: "half" | "interleaved";
  readonly scaling: RopeScaling | null;
}

export type Scoring = EnumValue<"scoring">;

export interface RouterAttr {
  readonly choice: "token" | "expert";
  readonly k: number;
  readonly scoring: Scoring;
  readonly renormalize: boolean;
  readonly bias: boolean;
  readonly selectionBias: boolean;
  readonly groups: number;
  readonly topkGroups: number;
  readonly groupScoring: EnumValue<"group_scoring">;
  readonly scale: number;
  readonly capacityFactor: number | null;
  readonly jitterEps: number;
  /** True when the router reads a second input (pre-gating) instead of the layer input. */
  readonly pregated: boolean;
  /**
   * Llama-4: each chosen expert's input rows are multiplied by the token's routing weight (rounded to f32)
   * and its output is added with weight 1, instead of the output being weighted. Absent: false.
   */
  readonly weightInput?: boolean;
  /**
   * Gemma-4: each chosen expert's mixing weight is multiplied by that expert's entry of a learned [E] vector
   * (router.per_expert_scale), after renormalisation and `scale`. Absent: false.
   */
  readonly expertScale?: boolean;
}

export interface ExpertGroupAttr {
  readonly kind: "ffn" | "zero" | "identity";
  readonly count: number;
  /** The expert definition's name (for `ffn`), for dumps and reports. */
  readonly def: string | null;
}
