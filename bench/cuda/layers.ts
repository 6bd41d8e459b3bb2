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
