// What the importer knows about a model once its config has been read: a family-neutral
// description that emit.ts turns into a .moe program. Every field is already resolved to
// the semantics of Hugging Face transformers 5.17 for that family.

export type Scaling =
  | { readonly type: "linear"; readonly factor: number }
  | { readonly type: "dynamic"; readonly factor: number; readonly originalMax: number }
  | { readonly type: "llama3"; readonly factor: number; readonly lowFreqFactor: number; readonly highFreqFactor: number; readonly originalMax: number }
  | {
      readonly type: "yarn";
      readonly factor: number;
      readonly originalMax: number;
      /** Null: the language default (32 / 1) is HF's too. */
      readonly betaFast: number | null;
      readonly betaSlow: number | null;
      readonly mscale: number | null;
      readonly mscaleAllDim: number | null;
      readonly attentionFactor: number | null;
      /** Null: true (the default). */
      readonly truncate: boolean | null;
    }
  | {
      readonly type: "longrope";
      readonly shortFactor: readonly number[];
      readonly longFactor: readonly number[];
      readonly originalMax: number;
      readonly maxPositions: number | null;
      readonly attentionFactor: number | null;
      readonly shortMscale: number | null;
      readonly longMscale: number | null;
    };

export interface RopeSpec {
  readonly theta: number;
  /** Rotated dims when partial, else null (the whole head / rope dim). */
  readonly dim: number | null;
  readonly style: "half" | "interleaved";
  readonly scaling: Scaling | null;
  /** The config's rope settings as written, for a comment in the program. */
  readonly origin: string | null;
}

export interface AttentionSpec {
  readonly kind: "attention";
  readonly heads: number;
  readonly kvHeads: number;
  /** Given only when it is not hidden / heads. */
  readonly headDim: number | null;
  readonly bias: boolean;
  readonly outBias: boolean;
  readonly qkNorm: "head" | "full" | null;
  readonly sinks: boolean;
  readonly clipQkv: number | null;
  /** The softmax scale when it is not head_dim^-1/2 (Granite's attention_multiplier). */
  readonly scale?: number;
  /** The sliding window and the layers that use it (null: no layer does). */
  readonly window: { readonly size: number; readonly layers: readonly boolean[] } | null;
  /** Layers with RoPE (Llama-4's no_rope_layers); absent: every layer. */
  readonly ropeLayers?: readonly boolean[];
  /** Chunked local attention and the layers that use it (Llama-4's "chunked_attention" layers). */
  readonly chunk?: { readonly size: number; readonly layers: readonly boolean[] } | null;
  /** Qwen3-Next: q_proj also gives each head's output gate ([q_h | gate_h]); the output is times sigmoid(gate). */
  readonly outputGate?: boolean;
  /** Qwen3-Next: the q/k norm weights are used as (offset + w). */
  readonly qkNormOffset?: number;
  /** DBRX: one fused q/k/v projection of this name (rows [q; k; v]). */
  readonly qkvName?: string;
  /** The output projection's name when not o_proj (DBRX: out_proj). */
  readonly oName?: string;
  /** The q/k norm modules' names when not q_norm / k_norm (Hunyuan-A13B: query_layernorm / key_layernorm). */
  readonly qkNormNames?: readonly [q: string, k: string];
  /** The q/k norm has no learned weight (Llama-4's L2 norm). */
  readonly qkNormUnweighted?: boolean;
  /** The q/k norm follows RoPE (Llama-4, Hunyuan-A13B). */
  readonly qkNormAfterRope?: boolean;
  /** The q/k norm only on the layers with RoPE (Llama-4: use_qk_norm and use_rope). */
  readonly qkNormRopeLayersOnly?: boolean;
  /** Attention temperature tuning on the layers without RoPE (Llama-4). */
  readonly temperature?: { readonly floorScale: number; readonly scale: number } | null;
}

export interface MlaSpec {
  readonly kind: "mla";
  readonly heads: number;
  readonly qLoraRank: number | null;
  readonly kvLoraRank: number;
  readonly qkNope: number;
  readonly qkRope: number;
  readonly vDim: number;
  /** HF builds q_a_layernorm / kv_a_layernorm with the RMSNorm default eps, not rms_norm_eps. */
  readonly normEps: number;
}

export interface RouterSpec {
  readonly name: string;
  readonly k: number;
  readonly scoring: "softmax" | "sigmoid" | "softmax_topk" | "sparsemixer";
  readonly renormalize: boolean;
  readonly bias: boolean;
  readonly selectionBias: boolean;
  /** Group-limited routing, or null. */
  readonly groups: { readonly count: number; readonly keep: number; readonly scoring: "max" | "top2_sum" } | null;
  readonly scale: number;
  readonly jitterEps: number | null;
  /** Where the selection bias is stored relative to the moe block, when not `<router>.e_score_correction_bias`; [1, E] when 2d. */
  readonly selectionBiasName?: string;
  readonly selectionBias2d?: boolean;
  /** Llama-4: the routing weight multiplies the expert's input, not its output. */
  readonly weightInput?: boolean;
  /** Why the router looks the way it does, for a comment. */
  readonly comment: string;
}

export interface MoeSpec {
  readonly experts: number;
  readonly ffn: number;
  /** The expert group's weight name: "experts.{e}", or "experts" for stacked tensors. */
  readonly expertsName: string;
  readonly router: RouterSpec;
  /**
   * count: DeepSeek's n_shared_experts (one MLP of count × ffn). beside: the shared MLP is a module of the
   * decoder layer next to the moe block (Granite's shared_mlp), not inside it; the two outputs are added.
   */
  readonly shared: { readonly ffn: number; readonly count: number | null; readonly name: string; readonly gate: string | null; readonly beside?: boolean } | null;
  /** DBRX: stacked expert tensors stored [E·rows, cols] (moe flat_stacks). */
  readonly flatStacks?: boolean;
}

export interface MlpSpec {
  /**
   * swiglu: act(gate(x)) * up(x) then down; gpt_oss: the fused, clamped GPT-OSS expert; fused: one
   * projection to [gate | up] (names[0], chunked in halves, gate first; silu only), then down (names[2]).
   */
  readonly kind: "swiglu" | "gpt_oss" | "fused";
  /**
   * Llama-4: the routed experts are stacked `in_out` tensors with gate and up fused (`gate_up_proj [E, d, 2I]`,
   * halves, gate first; `down_proj [E, I, d]`), while the shared expert and the dense MLPs are `swiglu` modules.
   */
  readonly routedInOut?: boolean;
  /** DBRX: the down projection (names[2]) is stored [ffn, d] (in, out). */
  readonly downInOut?: boolean;
  /** DBRX: the routed experts' tensors are bare names (w1, not w1.weight). */
  readonly bareNames?: boolean;
  readonly names: readonly [gate: string, up: string, down: string];
  readonly act: "silu" | "gelu" | "gelu_tanh" | "relu";
  /** DeepSeek-V2 mlp_bias: biases on the dense MLPs and the shared expert, not the routed experts. */
  readonly denseBias: boolean;
}

export interface ModelSpec {
  readonly source: string;
  readonly family: string;
  readonly architecture: string | null;
  readonly transformersVersion: string | null;
  readonly vocab: number;
  readonly hidden: number;
  readonly layers: number;
  readonly eps: number;
  readonly norm: "rmsnorm" | "layernorm";
  readonly attention: AttentionSpec | MlaSpec;
  readonly rope: RopeSpec;
  readonly mlp: MlpSpec;
  readonly moe: MoeSpec;
  /** Name of the layer's feed-forward module: "mlp", or "block_sparse_moe" (Mixtral, PhiMoE). */
  readonly ffnName: string;
  /** Which layers are MoE; the others are dense MLPs of width denseFfn. */
  readonly sparse: readonly boolean[];
  /** The condition on the loop variable `i` that selects MoE layers, with the constants it uses. */
  readonly sparseRule: { readonly expr: string; readonly consts: readonly (readonly [string, number])[] } | null;
  readonly denseFfn: number | null;
  readonly tied: boolean;
  readonly lmHeadBias: boolean;
  /**
   * muP-style multipliers (Granite): the embedding output times `embedding`, every residual branch (attention,
   * feed-forward) times `residual` before it is added, the logits divided by `logits`. Absent: all 1.
   */
  readonly scales?: { readonly embedding: number; readonly residual: number; readonly logits: number };
  /**
   * OLMo-2-style post-norm layers (FlexOlmo): no input norm; the attention output goes through
   * post_attention_layernorm and the feed-forward output through post_feedforward_layernorm before each is
   * added to the residual stream. Absent: pre-norm (input_layernorm, post_attention_layernorm on the inputs).
   */
  readonly postNorm?: boolean;
  /**
   * Module names when not Llama's (DBRX: transformer.wte, transformer.blocks.{i}, transformer.norm_f,
   * norm_attn_norm.norm_1 / norm_2, norm_attn_norm.attn): `embed`, `layers` and `norm` are full names (the
   * prefix is ignored), the others relative to the layer.
   */
  readonly names?: { readonly embed: string; readonly layers: string; readonly norm: string; readonly inputNorm: string; readonly postNorm: string; readonly attention: string };
  /** Qwen3-Next: every RMSNorm of the layers and the final norm is (offset + w). */
  readonly normOffset?: number;
  /** Qwen3-Next: gated DeltaNet (`linear_attn`) on the layers marked true, attention on the others. */
  readonly linearAttention?: {
    readonly layers: readonly boolean[]; readonly kHeads: number; readonly vHeads: number; readonly kDim: number; readonly vDim: number; readonly kernel: number;
    /** Qwen3.5: in_proj_qkv / in_proj_z / in_proj_b / in_proj_a instead of Qwen3-Next's grouped in_proj_qkvz / in_proj_ba. */
    readonly separate?: boolean;
  };
  /** LayerNorms without a bias (DBRX). */
  readonly normNoBias?: boolean;
  /** The dense layers' MLP module name (default "mlp"; Llama-4: the layer's feed_forward). */
  readonly denseName?: string;
  /**
   * Weight-name prefixes: `model` of the embedding, layers and final norm (default "model"), `head` of the
   * output head (default "lm_head"). Llama-4's multimodal checkpoints: "language_model.model", "language_model.lm_head".
   */
  readonly prefix?: { readonly model: string; readonly head: string };
  /** Checkpoint tensors the program leaves unbound (name prefixes; the vision tower of a multimodal checkpoint). */
  readonly unusedWeights?: readonly string[];
  /**
   * Positions up to which the program computes what the source model computes, where the source model changes
   * beyond them (DeepSeek Sparse Attention: index_topk); emitted as `const exact_context`.
   */
  readonly exactContext?: number;
  /** Settings worth knowing that change nothing in the program (comments). */
  readonly notes: readonly string[];
}
