// Families whose selection bias (DeepSeek-V3's e_score_correction_bias) is stored away from the router
// weight, named with topk(selection_bias_name = ...):
//  - MiniMax-M2 (minimax_m2): q/k RMSNorm over the whole projections, partial RoPE, sigmoid scores chosen by
//    score + block_sparse_moe.e_score_correction_bias (a buffer of the MoE block), renormalised; experts
//    block_sparse_moe.experts.{e}.w1/w3/w2 (modeling_minimax_m2.py; the checkpoint names are the ones its
//    conversion mapping saves);
//  - ERNIE-4.5-MoE (ernie4_5_moe): softmax scores chosen by score + mlp.moe_statics.e_score_correction_bias
//    (a [1, E] parameter), weights divided by max(sum, moe_norm_min); shared experts; biases on every linear
//    but the routed experts' (use_bias); interleaved RoPE; dense layers outside
//    [moe_layer_start_index, moe_layer_end_index] or off moe_layer_interval (modeling_ernie4_5_moe.py).
import { readRope, ROPE_KEYS } from "../rope.js";
import { dims, headDim, kvHeads, router, SWIGLU_NAMES, tied, topK, unusedNote, W_NAMES, type Family } from "./common.js";

export const minimaxM2: Family = {
  modelType: "minimax_m2",
  architectures: ["MiniMaxM2ForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
    "hidden_act", "rms_norm_eps", "num_experts_per_tok", "num_local_experts", "router_jitter_noise", "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 200064, hidden: 3072, layers: 62, heads: 48, eps: 1e-6 });
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d, 128);
    r.oneOf("hidden_act", ["silu", "swish"], "silu");
    const experts = r.positiveInt("num_local_experts", 256);
    const k = topK(r, experts, 8);
    const jitter = r.num("router_jitter_noise", 0);
    if (jitter !== 0) notes.push(`router_jitter_noise = ${jitter} only perturbs the router input while training, so it has no effect here`);
    return {
      ...d,
      norm: "rmsnorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias: false, outBias: false, qkNorm: "full", sinks: false, clipQkv: null, window: null },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: W_NAMES, act: "silu", denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("intermediate_size", 1536), expertsName: "experts.{e}",
        router: router({
          k, scoring: "sigmoid", renormalize: true, selectionBias: true, selectionBiasName: "e_score_correction_bias",
          comment: "sigmoid scores; e_score_correction_bias (the moe block's, beside the router) for choosing only; top-k, renormalised",
        }),
        shared: null,
      },
      ffnName: "block_sparse_moe",
      sparse: Array(d.layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

export const ernie45Moe: Family = {
  modelType: "ernie4_5_moe",
  architectures: ["Ernie4_5_MoeForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
    "rms_norm_eps", "tie_word_embeddings", "use_bias", "moe_intermediate_size", "moe_k", "moe_num_experts", "moe_num_shared_experts",
    "moe_layer_start_index", "moe_layer_end_index", "moe_layer_interval", "moe_norm_min", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 103424, hidden: 2560, layers: 28, heads: 20, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 4);
    const hd = headDim(r, d);
    r.oneOf("hidden_act", ["silu", "swish"], "silu");
    const bias = r.bool("use_bias", false);
    const isTied = r.bool("tie_word_embeddings", true);
    if (isTied && bias) r.fail("use_bias", "is true with tie_word_embeddings: the head would be the embedding matrix with a bias of its own (lm_head.bias), which moec does not express");
    const experts = r.positiveInt("moe_num_experts", 64);
    const k = topK(r, experts, 6, ["moe_k"]);
    const start = r.int("moe_layer_start_index", 1);
    const endRaw = r.int("moe_layer_end_index", -1);
    const end = endRaw === -1 ? d.layers - 1 : endRaw;
    const interval = r.int("moe_layer_interval", 1);
    if (interval <= 0) r.fail("moe_layer_interval", `must be positive, got ${interval}`);
    const sparse = Array.from({ length: d.layers }, (_, i) => (i + 1) % interval === 0 && i >= start && i <= end);
    const normMin = r.num("moe_norm_min", 1e-12);
    if (!(normMin > 0 && normMin <= 1e-6)) r.fail("moe_norm_min", `is ${normMin}; moec renormalises by sum + 1e-20, which equals dividing by max(sum, moe_norm_min) only for a tiny moe_norm_min (at most 1e-6)`);
    if (normMin !== 1e-12) notes.push(`moe_norm_min = ${normMin}: the chosen softmax weights sum to far more than it, so the division is by their sum`);
    const shared = r.int("moe_num_shared_experts", 2);
    if (shared < 0) r.fail("moe_num_shared_experts", `must not be negative, got ${shared}`);
    const ffn = r.positiveInt("moe_intermediate_size", 1536);
    if (!sparse.some(Boolean)) unusedNote(r, "moe_num_experts", "no layer is a MoE layer", notes);
    return {
      ...d,
      norm: "rmsnorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: null, sinks: false, clipQkv: null, window: null },
      rope: readRope(r, { defaultTheta: 500000, rotaryDim: hd.value, style: "interleaved", allowPartial: false, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: "silu", denseBias: bias },
      moe: {
        experts, ffn, expertsName: "experts.{e}",
        router: router({
          k, scoring: "softmax", renormalize: true, selectionBias: true, selectionBiasName: "moe_statics.e_score_correction_bias", selectionBias2d: true,
          comment: "softmax over all experts; moe_statics.e_score_correction_bias [1, E] for choosing only; top-k, renormalised",
        }),
        shared: shared > 0 ? { ffn: shared * ffn, count: shared, name: "shared_experts", gate: null } : null,
      },
      ffnName: "mlp",
      sparse,
      sparseRule: null,
      denseFfn: sparse.every(Boolean) ? null : r.positiveInt("intermediate_size", 12288),
      tied: isTied,
      lmHeadBias: bias,
    };
  },
};
