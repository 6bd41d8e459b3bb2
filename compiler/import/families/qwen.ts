// Qwen-MoE families: Qwen1.5/Qwen2-MoE (sigmoid-gated shared expert) and Qwen3-MoE (per-head q/k norm),
// with decoder_sparse_step / mlp_only_layers for dense layers. Semantics: transformers 5.17.
import { show } from "../config.js";
import { readRope, ROPE_KEYS } from "../rope.js";
import { activation, dims, expertCount, fixedValue, FP8_BLOCKS, headDim, kvHeads, layerTypes, none, positiveWindow, quantization, qwenSparsity, router, SWIGLU_NAMES, tied, topK, unusedNote, type Family } from "./common.js";

export const qwen2Moe: Family = {
  modelType: "qwen2_moe",
  architectures: ["Qwen2MoeForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "rms_norm_eps", "use_sliding_window", "sliding_window", "max_window_layers", "layer_types",
    "decoder_sparse_step", "moe_intermediate_size", "shared_expert_intermediate_size", "num_experts_per_tok", "num_experts",
    "norm_topk_prob", "mlp_only_layers", "qkv_bias", "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 151936, hidden: 2048, layers: 24, heads: 16, eps: 1e-6 });
    const kv = kvHeads(r, d.heads, 16, false);
    const hd = headDim(r, d);
    const experts = r.int("num_experts", 60);
    const k = topK(r, experts, 4);
    const norm = r.bool("norm_topk_prob", false);
    // Qwen2MoeConfig.__post_init__: sliding_window = sliding_window if use_sliding_window else 0,
    // and layer_types (when not given) marks even layers below max_window_layers as sliding.
    const useSw = r.bool("use_sliding_window", false);
    const maxWindowLayers = r.int("max_window_layers", 28);
    const swRaw = r.has("sliding_window") ? r.optInt("sliding_window") : 4096;
    const sw = useSw ? swRaw : 0;
    const sliding = layerTypes(r, d.layers, (i) => (i + 1) % 2 === 1 && i < maxWindowLayers && useSw);
    if (!none(sliding) && !(sw !== null && sw > 0)) {
      r.fail(useSw ? "sliding_window" : "use_sliding_window", `makes the sliding window ${show(sw)} (use_sliding_window = ${useSw}, sliding_window = ${show(swRaw)}), but layer_types has sliding_attention layers`);
    }
    if (r.given("layer_types") && r.has("max_window_layers") && useSw) notes.push("max_window_layers is not used because layer_types is given");
    const { sparse, rule } = qwenSparsity(r, d.layers, experts);
    const sharedFfn = r.int("shared_expert_intermediate_size", 5632);
    if (!none(sparse) && sharedFfn <= 0) r.fail("shared_expert_intermediate_size", `is ${sharedFfn}; Qwen2-MoE always has a shared expert, so it must be positive`);
    return {
      ...d,
      norm: "rmsnorm",
      attention: {
        kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias: r.bool("qkv_bias", true), outBias: false, qkNorm: null, sinks: false, clipQkv: null,
        window: none(sliding) ? null : { size: sw!, layers: sliding },
      },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("moe_intermediate_size", 1408), expertsName: "experts.{e}",
        router: router({ k, scoring: "softmax", renormalize: norm, comment: `softmax over all experts, top-k${norm ? ", renormalised (norm_topk_prob)" : ", not renormalised (norm_topk_prob false)"}` }),
        shared: { ffn: sharedFfn, count: null, name: "shared_expert", gate: "shared_expert_gate" },
      },
      ffnName: "mlp",
      sparse,
      sparseRule: rule,
      denseFfn: r.positiveInt("intermediate_size", 5632),
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

export const qwen3Moe: Family = {
  modelType: "qwen3_moe",
  architectures: ["Qwen3MoeForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "rms_norm_eps", "attention_bias", "use_sliding_window", "sliding_window", "max_window_layers",
    "decoder_sparse_step", "moe_intermediate_size", "num_experts_per_tok", "num_experts", "num_local_experts",
    "norm_topk_prob", "mlp_only_layers", "tie_word_embeddings", "quantization_config",
    // Qwen2-MoE keys some Qwen3-MoE configs carry (Qwen3-Coder-480B); only the value that is Qwen3-MoE's behaviour
    "qkv_bias", "shared_expert_intermediate_size", "use_qk_norm",
    ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 151936, hidden: 2048, layers: 24, heads: 32, eps: 1e-6 });
    const kv = kvHeads(r, d.heads, 4, false);
    // transformers 5.17's qwen3_moe reads none of these three; the values below are what it does anyway.
    fixedValue(r, "use_qk_norm", true, "transformers' qwen3_moe always applies the per-head q/k RMSNorm");
    fixedValue(r, "shared_expert_intermediate_size", 0, "transformers' qwen3_moe has no shared expert");
    fixedValue(r, "qkv_bias", r.bool("attention_bias", false), `transformers' qwen3_moe takes the q/k/v biases from attention_bias (${r.bool("attention_bias", false)})`);
    quantization(r, ["fp8"], FP8_BLOCKS, notes);
    const hd = headDim(r, d);
    const experts = expertCount(r, ["num_experts", "num_local_experts"], 128);
    const k = topK(r, experts, 8);
    const norm = r.bool("norm_topk_prob", false);
    const bias = r.bool("attention_bias", false);
    // Qwen3MoeConfig.__post_init__: sliding_window only when use_sliding_window; then every
    // layer uses it (create_sliding_window_causal_mask for the whole model).
    const useSw = r.bool("use_sliding_window", false);
    const window = useSw && r.given("sliding_window") ? positiveWindow(r, "sliding_window", "a sliding window must be positive") : null;
    if (useSw && window !== null) unusedNote(r, "max_window_layers", "transformers 5.17's qwen3_moe applies the sliding window to every layer and does not read it", notes);
    const { sparse, rule } = qwenSparsity(r, d.layers, experts);
    return {
      ...d,
      norm: "rmsnorm",
      attention: {
        kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: "head", sinks: false, clipQkv: null,
        window: window === null ? null : { size: window, layers: Array(d.layers).fill(true) },
      },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("moe_intermediate_size", 768), expertsName: "experts.{e}",
        router: router({ k, scoring: "softmax", renormalize: norm, comment: `softmax over all experts, top-k${norm ? ", renormalised (norm_topk_prob)" : ", not renormalised (norm_topk_prob false)"}` }),
        shared: null,
      },
      ffnName: "mlp",
      sparse,
      sparseRule: rule,
      denseFfn: r.positiveInt("intermediate_size", 6144),
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};
