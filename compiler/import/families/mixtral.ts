// Mixtral-style families: a router over every expert with no shared expert (Mixtral, OLMoE, FlexOlmo's
// post-norm OLMoE) and Phi-3.5-MoE's sparsemixer. Semantics: transformers 5.17's modeling_<family>.py.
import { readRope, ROPE_KEYS } from "../rope.js";
import { activation, dims, expertCount, headDim, kvHeads, positiveWindow, router, SWIGLU_NAMES, tied, topK, W_NAMES, type Family } from "./common.js";

export const mixtral: Family = {
  modelType: "mixtral",
  architectures: ["MixtralForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "rms_norm_eps", "sliding_window", "num_experts_per_tok", "num_local_experts", "num_experts",
    "router_jitter_noise", "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 32000, hidden: 4096, layers: 32, heads: 32, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d);
    const experts = expertCount(r, ["num_local_experts", "num_experts"], 8);
    const k = topK(r, experts, 2);
    const jitter = r.num("router_jitter_noise", 0);
    if (jitter !== 0) notes.push(`router_jitter_noise = ${jitter} only perturbs the router input while training (MixtralSparseMoeBlock), so it has no effect here`);
    const window = r.given("sliding_window") ? positiveWindow(r, "sliding_window", "a sliding window must be positive (or null for none)") : null;
    return {
      ...d,
      norm: "rmsnorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias: false, outBias: false, qkNorm: null, sinks: false, clipQkv: null, window: window === null ? null : { size: window, layers: Array(d.layers).fill(true) } },
      rope: readRope(r, { defaultTheta: 1e6, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: W_NAMES, act: activation(r), denseBias: false },
      moe: { experts, ffn: r.positiveInt("intermediate_size", 14336), expertsName: "experts.{e}", router: router({ k, scoring: "softmax", renormalize: true, comment: "softmax over all experts, top-k, renormalised over the chosen k" }), shared: null },
      ffnName: "block_sparse_moe",
      sparse: Array(d.layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

export const olmoe: Family = {
  modelType: "olmoe",
  architectures: ["OlmoeForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "hidden_act", "rms_norm_eps", "attention_bias", "clip_qkv", "num_experts_per_tok", "num_experts", "num_local_experts",
    "norm_topk_prob", "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 50304, hidden: 2048, layers: 16, heads: 16, eps: 1e-5 });
    if (d.hidden % d.heads !== 0) r.fail("hidden_size", `(${d.hidden}) must be a multiple of num_attention_heads (${d.heads}): OLMoE's q_norm spans hidden_size`);
    const kv = kvHeads(r, d.heads, null);
    const experts = expertCount(r, ["num_experts", "num_local_experts"], 64);
    const k = topK(r, experts, 8);
    const norm = r.bool("norm_topk_prob", false);
    const bias = r.bool("attention_bias", false);
    const clip = r.optNum("clip_qkv");
    if (clip !== null && !(clip > 0)) r.fail("clip_qkv", `must be positive or null, got ${clip}`);
    return {
      ...d,
      norm: "rmsnorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: null, bias, outBias: bias, qkNorm: "full", sinks: false, clipQkv: clip, window: null },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: d.hidden / d.heads, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("intermediate_size", 2048), expertsName: "experts.{e}",
        router: router({ k, scoring: "softmax", renormalize: norm, comment: `softmax over all experts, top-k${norm ? ", renormalised (norm_topk_prob)" : ", not renormalised (norm_topk_prob false)"}` }),
        shared: null,
      },
      ffnName: "mlp",
      sparse: Array(d.layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

// FlexOlmoDecoderLayer: OLMoE's router and experts, Olmo2Attention (q/k RMSNorm over the whole projections) and
// OLMo-2's post-norm layout.
export const flexOlmo: Family = {
  modelType: "flex_olmo",
  architectures: ["FlexOlmoForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
    "hidden_act", "rms_norm_eps", "attention_bias", "num_experts_per_tok", "num_experts", "num_local_experts", "norm_topk_prob",
    "tie_word_embeddings", "clip_qkv", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 100352, hidden: 4096, layers: 32, heads: 32, eps: 1e-6 });
    // OLMoE's clip_qkv appears (null) in published FlexOlmo configs; transformers' flex_olmo does not read it.
    if (r.given("clip_qkv")) r.fail("clip_qkv", `is ${r.num("clip_qkv")}, but transformers' flex_olmo does not clip q/k/v (only null is unambiguous)`);
    const kv = kvHeads(r, d.heads, null);
    const hd = headDim(r, d);
    const experts = expertCount(r, ["num_experts", "num_local_experts"], 7);
    const k = topK(r, experts, 5);
    const norm = r.bool("norm_topk_prob", false);
    const bias = r.bool("attention_bias", false);
    return {
      ...d,
      norm: "rmsnorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: "full", sinks: false, clipQkv: null, window: null },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("intermediate_size", 11008), expertsName: "experts.{e}",
        router: router({ k, scoring: "softmax", renormalize: norm, comment: `softmax over all experts, top-k${norm ? ", renormalised (norm_topk_prob)" : ", not renormalised (norm_topk_prob false)"}` }),
        shared: null,
      },
      ffnName: "mlp",
      sparse: Array(d.layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: tied(r),
      lmHeadBias: false,
      postNorm: true,
    };
  },
};

export const phimoe: Family = {
  modelType: "phimoe",
  architectures: ["PhimoeForCausalLM", "PhiMoEForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "rms_norm_eps", "attention_bias", "sliding_window", "num_local_experts", "num_experts_per_tok",
    "router_jitter_noise", "input_jitter_noise", "lm_head_bias", "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 32064, hidden: 4096, layers: 32, heads: 32, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d);
    const experts = r.positiveInt("num_local_experts", 16);
    const k = topK(r, experts, 2);
    if (k !== 2) r.fail("num_experts_per_tok", `is ${k}, but PhiMoE's sparsemixer routing always picks exactly 2 experts`);
    const jitter = r.num("router_jitter_noise", 0.01);
    const inputJitter = r.num("input_jitter_noise", 0);
    if (inputJitter !== 0) notes.push(`input_jitter_noise = ${inputJitter} only perturbs the router input while training, so it has no effect here`);
    const bias = r.bool("attention_bias", false);
    const lmHeadBias = r.bool("lm_head_bias", false);
    const isTied = tied(r);
    if (isTied && lmHeadBias) r.fail("lm_head_bias", "is true together with tie_word_embeddings: a tied output head with its own bias cannot be named in the language (the bias would be model.embed_tokens.bias)");
    const window = r.given("sliding_window") ? positiveWindow(r, "sliding_window", "a sliding window must be positive (or null for none)") : null;
    return {
      ...d,
      norm: "layernorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: null, sinks: false, clipQkv: null, window: window === null ? null : { size: window, layers: Array(d.layers).fill(true) } },
      rope: readRope(r, { defaultTheta: 1e6, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: true, types: ["default", "longrope"] }, notes),
      mlp: { kind: "swiglu", names: W_NAMES, act: activation(r), denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("intermediate_size", 6400), expertsName: "experts.{e}",
        router: router({ k: 2, scoring: "sparsemixer", jitterEps: jitter, comment: "sparsemixer (inference form): two arg-max picks, each weighted by a softmax over the logits within 2·router_jitter_noise of it" }),
        shared: null,
      },
      ffnName: "block_sparse_moe",
      sparse: Array(d.layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: isTied,
      lmHeadBias,
    };
  },
};
