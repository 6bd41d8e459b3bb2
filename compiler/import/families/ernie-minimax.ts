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
import { show } from "../config.js";
import { readRope, ROPE_KEYS } from "../rope.js";
import { dims, fixedValue, FP8_BLOCKS, headDim, kvHeads, quantization, router, SWIGLU_NAMES, tied, topK, unusedNote, W_NAMES, type Family } from "./common.js";

export const minimaxM2: Family = {
  modelType: "minimax_m2",
  architectures: ["MiniMaxM2ForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
    "hidden_act", "rms_norm_eps", "num_experts_per_tok", "num_local_experts", "router_jitter_noise", "tie_word_embeddings", ...ROPE_KEYS,
    // keys of MiniMax's published config.json (its own modeling code's) that transformers 5.17 does not read
    "rotary_dim", "use_qk_norm", "qk_norm_type", "scoring_func", "use_routing_bias", "shared_intermediate_size", "attn_type_list",
    "use_mtp", "num_mtp_modules", "mtp_transformer_layers", "quantization_config",
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 200064, hidden: 3072, layers: 62, heads: 48, eps: 1e-6 });
    // What transformers' class always does; another value would be a different model.
    fixedValue(r, "use_qk_norm", true, "transformers' minimax_m2 always normalises q and k");
    fixedValue(r, "qk_norm_type", "per_layer", "transformers' minimax_m2 normalises q and k over the whole projections");
    fixedValue(r, "scoring_func", "sigmoid", "transformers' minimax_m2 router uses sigmoid scores");
    fixedValue(r, "use_routing_bias", true, "transformers' minimax_m2 router always chooses with e_score_correction_bias");
    fixedValue(r, "shared_intermediate_size", 0, "transformers' minimax_m2 has no shared expert");
    if (r.given("attn_type_list")) {
      const t = r.raw("attn_type_list");
      // MiniMax's own code: 1 = softmax attention, 0 = lightning (linear) attention (MiniMax-Text-01)
      if (!Array.isArray(t) || t.length !== d.layers || t.some((x) => x !== 1)) r.fail("attn_type_list", `is ${show(t)}; transformers' minimax_m2 uses softmax attention (1) in all ${d.layers} layers, so only a list of ${d.layers} ones is supported`);
    }
    for (const k of ["use_mtp", "num_mtp_modules", "mtp_transformer_layers"]) unusedNote(r, k, "multi-token-prediction modules are not part of the main model; transformers does not build them", notes);
    quantization(r, ["fp8"], FP8_BLOCKS, notes);
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d, 128);
    r.oneOf("hidden_act", ["silu", "swish"], "silu");
    const experts = r.positiveInt("num_local_experts", 256);
    const k = topK(r, experts, 8);
    const jitter = r.num("router_jitter_noise", 0);
    if (jitter !== 0) notes.push(`router_jitter_noise = ${jitter} only perturbs the router input while training, so it has no effect here`);
    const rope = readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes);
    // rotary_dim (MiniMax's code) is not read by transformers, which rotates head_dim · partial_rotary_factor dims
    if (r.given("rotary_dim") && r.int("rotary_dim") !== (rope.dim ?? hd.value)) {
      r.fail("rotary_dim", `is ${r.int("rotary_dim")}, but transformers' minimax_m2 ignores it and rotates ${rope.dim ?? hd.value} of the ${hd.value} head dims (head_dim × partial_rotary_factor); give partial_rotary_factor = ${r.int("rotary_dim") / hd.value} in rope_parameters (or at the top level) for the model MiniMax released`);
    }
    return {
      ...d,
      norm: "rmsnorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias: false, outBias: false, qkNorm: "full", sinks: false, clipQkv: null, window: null },
      rope,
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

// K-EXAONE (exaone_moe: ExaoneMoeForCausalLM). Semantics: transformers 5.17's modeling_exaone_moe.py —
// per-head q/k norm before RoPE; with a sliding window, the "sliding_attention" layers (layer_types, by
// default all but every sliding_window_pattern-th) use the window and RoPE and the others attend fully
// WITHOUT RoPE; DeepSeek-V3's router (sigmoid, selection bias stored as mlp.e_score_correction_bias, groups,
// norm_topk_prob, routed_scaling_factor), shared experts; dense layers from mlp_layer_types /
// first_k_dense_replace.
export const exaoneMoe: Family = {
  modelType: "exaone_moe",
  architectures: ["ExaoneMoeForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
    "rms_norm_eps", "tie_word_embeddings", "sliding_window", "sliding_window_pattern", "layer_types", "mlp_layer_types", "first_k_dense_replace",
    "moe_intermediate_size", "num_experts", "num_experts_per_tok", "num_shared_experts", "norm_topk_prob", "routed_scaling_factor", "n_group",
    "topk_group", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 102400, hidden: 4096, layers: 32, heads: 32, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 32);
    const hd = headDim(r, d);
    r.oneOf("hidden_act", ["silu", "swish"], "silu");
    const window = r.has("sliding_window") ? r.optInt("sliding_window") : 4096;
    if (window !== null && window <= 0) r.fail("sliding_window", `must be positive or null, got ${window}`);
    let sliding: boolean[];
    if (r.given("layer_types")) {
      const types = r.strList("layer_types");
      if (types.length !== d.layers) r.fail("layer_types", `has ${types.length} entries for ${d.layers} layers (num_hidden_layers)`);
      sliding = types.map((t) => {
        if (t !== "sliding_attention" && t !== "full_attention") r.fail("layer_types", `contains ${show(t)}; supported layer types are "full_attention" and "sliding_attention"`);
        return t === "sliding_attention";
      });
    } else {
      const pattern = window === null ? 0 : r.int("sliding_window_pattern", 4);
      sliding = Array.from({ length: d.layers }, (_, i) => pattern !== 0 && (i + 1) % pattern !== 0);
    }
    // ExaoneMoeAttention: RoPE when there is no window at all, or on the sliding layers.
    const ropeLayers = window === null ? Array(d.layers).fill(true) : sliding;
    const experts = r.positiveInt("num_experts", 64);
    const k = topK(r, experts, 8);
    let sparse: boolean[];
    if (r.given("mlp_layer_types")) {
      const types = r.strList("mlp_layer_types");
      if (types.length !== d.layers) r.fail("mlp_layer_types", `has ${types.length} entries for ${d.layers} layers (num_hidden_layers)`);
      sparse = types.map((t) => {
        if (t !== "dense" && t !== "sparse") r.fail("mlp_layer_types", `contains ${show(t)}; the layer types are "dense" and "sparse"`);
        return t === "sparse";
      });
      unusedNote(r, "first_k_dense_replace", "mlp_layer_types decides which layers are dense", notes);
    } else {
      const first = r.int("first_k_dense_replace", 1);
      sparse = Array.from({ length: d.layers }, (_, i) => i >= first);
    }
    const g = r.positiveInt("n_group", 1);
    const keep = r.positiveInt("topk_group", 1);
    if (experts % g !== 0) r.fail("n_group", `is ${g}, which does not divide the ${experts} experts`);
    if (keep > g) r.fail("topk_group", `is ${keep}; it must be between 1 and n_group (${g})`);
    const shared = r.int("num_shared_experts", 1);
    if (shared < 0) r.fail("num_shared_experts", `must not be negative, got ${shared}`);
    const ffn = r.positiveInt("moe_intermediate_size", 1024);
    return {
      ...d,
      norm: "rmsnorm",
      attention: {
        kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias: false, outBias: false, qkNorm: "head", sinks: false, clipQkv: null,
        window: window !== null && sliding.some(Boolean) ? { size: window, layers: sliding } : null, ropeLayers,
      },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: false, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: "silu", denseBias: false },
      moe: {
        experts, ffn, expertsName: "experts.{e}",
        router: router({
          k, scoring: "sigmoid", renormalize: r.bool("norm_topk_prob", true), selectionBias: true, selectionBiasName: "e_score_correction_bias",
          groups: g > 1 ? { count: g, keep, scoring: "top2_sum" } : null, scale: r.num("routed_scaling_factor", 2.5),
          comment: "sigmoid scores; e_score_correction_bias (stored beside the router) for choosing only; group-limited top-k",
        }),
        shared: shared > 0 ? { ffn: shared * ffn, count: shared, name: "shared_experts", gate: null } : null,
      },
      ffnName: "mlp",
      sparse,
      sparseRule: null,
      denseFfn: sparse.every(Boolean) ? null : r.positiveInt("intermediate_size", 16384),
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};
