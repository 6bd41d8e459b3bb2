// The MoE layer shapes of issue 15's benchmarks, as .moe sources of one layer (embed → moe), and
// the same shapes for the PyTorch peers (bench/cuda/peers.py reads layers.json, which
// bench/cuda/prepare.ts writes from this table).

export interface LayerShape {
  readonly name: string;
  readonly experts: number;
  readonly k: number;
  readonly d: number;
  readonly ffn: number;
  /** Router: softmax then top-k (renormalised or not), or DeepSeek-V3's sigmoid with group-limited top-k and a bias. */
  readonly router: "softmax" | "softmax_norenorm" | "deepseek";
  /** A shared expert of the same width, always on (DeepSeek-V3). */
  readonly shared: boolean;
}

export const LAYERS: readonly LayerShape[] = [
  { name: "mixtral", experts: 8, k: 2, d: 4096, ffn: 14336, router: "softmax", shared: false },
  { name: "qwen3_30b_a3b", experts: 128, k: 8, d: 2048, ffn: 768, router: "softmax", shared: false },
  { name: "olmoe", experts: 64, k: 8, d: 2048, ffn: 1024, router: "softmax_norenorm", shared: false },
  { name: "deepseek_v3", experts: 256, k: 8, d: 7168, ffn: 2048, router: "deepseek", shared: true },
];

/** One MoE layer at `shape`, its input rows gathered from an embedding of `rows` rows. */
export function layerSource(shape: LayerShape, rows: number): string {
  const router =
    shape.router === "deepseek"
      ? `topk(k = top_k, scoring = "sigmoid", selection_bias = true, groups = 8, topk_groups = 4, group_scoring = "top2_sum", renormalize = true, scale = 2.5)`
      : `topk(k = top_k, scoring = "softmax", renormalize = ${shape.router === "softmax"})`;
  return `model ${shape.name.replace(/(^|_)(\w)/g, (_, _u: string, c: string) => c.toUpperCase())}Layer {
  const vocab = ${rows}, d = ${shape.d}
  const experts = ${shape.experts}, top_k = ${shape.k}, ffn = ${shape.ffn}

  expert SwiGLU(x: [T, d], ffn: int) -> [T, d] {
    gate = linear(x, ffn) @ "gate_proj"
    up = linear(x, ffn) @ "up_proj"
    return linear(silu(gate) * up, d) @ "down_proj"
  }

  input tokens: i32[seq]
  h = embed(tokens, vocab, d) @ "embed"
  output y = moe(h,
                 experts = experts of SwiGLU(ffn = ffn) @ "experts.{e}",
                 router = ${router} @ "gate"${shape.shared ? `,\n                 shared = SwiGLU(ffn = ffn) @ "shared_experts"` : ""}) @ "mlp"
}
`;
}

/**
 * Whole-model decode (issue 15): real families' shapes cut to a few layers (so that transformers'
 * peer, initialised on the GPU, fits a short run), random bf16 weights on both sides. `example` is
 * the `.moe` file under examples/, `hf` the same model as transformers' config for the peer
 * (bench/cuda/decode_peer.py).
 */
export interface DecodeModel {
  readonly name: string;
  readonly example: string;
  readonly layers: number;
  readonly hf: Record<string, unknown>;
}

export const DECODE_MODELS: readonly DecodeModel[] = [
  {
    name: "qwen3_30b_a3b_8layers",
    example: "qwen3-30b-a3b.moe",
    layers: 8,
    hf: {
      model_type: "qwen3_moe", architectures: ["Qwen3MoeForCausalLM"], vocab_size: 151936, hidden_size: 2048, intermediate_size: 6144,
      moe_intermediate_size: 768, num_hidden_layers: 8, num_attention_heads: 32, num_key_value_heads: 4, head_dim: 128, num_experts: 128,
      num_experts_per_tok: 8, norm_topk_prob: true, rope_theta: 1e6, rms_norm_eps: 1e-6, max_position_embeddings: 4096, tie_word_embeddings: false,
      decoder_sparse_step: 1, mlp_only_layers: [], attention_bias: false,
    },
  },
  {
    name: "mixtral_8x7b_4layers",
    example: "mixtral-8x7b.moe",
    layers: 4,
    hf: {
      model_type: "mixtral", architectures: ["MixtralForCausalLM"], vocab_size: 32000, hidden_size: 4096, intermediate_size: 14336,
      num_hidden_layers: 4, num_attention_heads: 32, num_key_value_heads: 8, num_local_experts: 8, num_experts_per_tok: 2, rope_theta: 1e6,
      rms_norm_eps: 1e-5, max_position_embeddings: 4096, tie_word_embeddings: false, sliding_window: null,
    },
  },
];

/** The example's source with its layer count replaced (the one `layers = N` constant it declares). */
export function decodeSource(text: string, layers: number): string {
  const found = text.match(/\blayers = \d+/g) ?? [];
  if (found.length !== 1) throw new Error(`expected one 'layers = N' constant, found ${found.length}`);
  return text.replace(/\blayers = \d+/, `layers = ${layers}`);
}
