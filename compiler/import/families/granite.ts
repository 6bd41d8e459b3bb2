// Granite MoE (granitemoe) and Granite MoE with a shared expert (granitemoeshared): Llama attention
// whose softmax scale is attention_multiplier, muP multipliers on the embedding, on every residual
// branch and on the logits, a top-k router whose weights are a softmax over the chosen logits, and
// experts stored stacked with gate and up fused (input_linear [E, 2I, H], output_linear [E, H, I]).
// granitemoeshared adds a dense shared MLP (shared_mlp, its own module of the decoder layer) whose
// output is added to the experts'. Semantics: transformers 5.17's modeling_granitemoe.py /
// modeling_granitemoeshared.py; the checkpoint names are the ones those classes save (their
// conversion mapping renames them back to block_sparse_moe.input_linear / output_linear / router.layer).
import type { ConfigReader } from "../config.js";
import { readRope, ROPE_KEYS } from "../rope.js";
import { dims, headDim, kvHeads, router, tied, topK, type Family, type FamilySpec } from "./common.js";

const GRANITE_KEYS = [
  "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
  "hidden_act", "rms_norm_eps", "attention_bias", "embedding_multiplier", "logits_scaling", "residual_multiplier", "attention_multiplier",
  "num_local_experts", "num_experts_per_tok", "tie_word_embeddings", ...ROPE_KEYS,
] as const;

function multiplier(r: ConfigReader, key: string): number {
  const v = r.num(key, 1);
  if (v === 0) r.fail(key, "is 0, which would zero the model");
  return v;
}

function granite(r: ConfigReader, family: string, notes: string[], sharedFfn: number): FamilySpec {
  const d = dims(r, { vocab: 32000, hidden: 4096, layers: 32, heads: 32, eps: 1e-6 });
  const kv = kvHeads(r, d.heads, null);
  const hd = headDim(r, d);
  const bias = r.bool("attention_bias", false);
  // The experts' act_fn takes the gate half of input_linear's output; the language's one-input swiglu
  // splits [gate | up] with SiLU only.
  r.oneOf("hidden_act", ["silu", "swish"], "silu", `the ${family} experts split their fused input_linear into gate and up, which moec expresses with swiglu (SiLU) only`);
  const experts = r.positiveInt("num_local_experts", 8);
  const k = topK(r, experts, 2);
  // GraniteMoeAttention: self.scaling = attention_multiplier (default 1.0, not head_dim^-1/2).
  const attentionScale = r.num("attention_multiplier", 1);
  const scales = { embedding: multiplier(r, "embedding_multiplier"), residual: multiplier(r, "residual_multiplier"), logits: multiplier(r, "logits_scaling") };
  if (!r.given("attention_multiplier")) notes.push("attention_multiplier is absent: transformers' default 1.0 is the softmax scale (not head_dim^-1/2)");
  return {
    ...d,
    norm: "rmsnorm",
    attention: {
      kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: null, sinks: false, clipQkv: null, window: null,
      scale: attentionScale,
    },
    rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes),
    mlp: { kind: "fused", names: ["input_linear", "input_linear", "output_linear"], act: "silu", denseBias: false },
    moe: {
      experts, ffn: r.positiveInt("intermediate_size", 11008), expertsName: "",
      router: router({ name: "router.layer", k, scoring: "softmax_topk", comment: "a linear router (router.layer); top-k of the logits, softmax over the chosen k" }),
      shared: sharedFfn > 0 ? { ffn: sharedFfn, count: null, name: "shared_mlp", gate: null, beside: true } : null,
    },
    ffnName: "block_sparse_moe",
    sparse: Array(d.layers).fill(true),
    sparseRule: null,
    denseFfn: null,
    tied: tied(r),
    lmHeadBias: false,
    scales,
  };
}

export const graniteMoe: Family = {
  modelType: "granitemoe",
  architectures: ["GraniteMoeForCausalLM"],
  keys: GRANITE_KEYS,
  build: (r, notes) => granite(r, "granitemoe", notes, 0),
};

export const graniteMoeShared: Family = {
  modelType: "granitemoeshared",
  architectures: ["GraniteMoeSharedForCausalLM"],
  keys: [...GRANITE_KEYS, "shared_intermediate_size"],
  build(r, notes) {
    const shared = r.int("shared_intermediate_size", 0);
    if (shared < 0) r.fail("shared_intermediate_size", `must not be negative, got ${shared}`);
    if (shared === 0) notes.push("shared_intermediate_size is 0: no shared MLP (GraniteMoeSharedDecoderLayer builds none)");
    return granite(r, "granitemoeshared", notes, shared);
  },
};
