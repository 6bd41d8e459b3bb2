// Qwen3-VL-MoE's language model (qwen3_vl_moe: Qwen3VLMoeForConditionalGeneration, its text_config).
// Semantics: transformers 5.17's modeling_qwen3_vl_moe.py for text-only inputs — Qwen3-MoE attention
// (per-head q/k norm, optional q/k/v/o biases); M-RoPE whose three position components (t, h, w) are equal
// for text, which makes it plain RoPE whatever mrope_section says; softmax top-k always renormalised; dense
// layers from decoder_sparse_step / mlp_only_layers; experts stacked (in, out) as the released checkpoints
// store them (gate_up_proj [E, d, 2I], gate first; down_proj [E, I, d]). The vision tower (model.visual.*) is
// left unbound, and the deepstack features it would add to the first layers exist only for image inputs.
import { show } from "../config.js";
import { readRope, ROPE_KEYS } from "../rope.js";
import { dims, headDim, kvHeads, qwenSparsity, router, SWIGLU_NAMES, topK, type Family } from "./common.js";

const TEXT_KEYS = [
  "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
  "rms_norm_eps", "tie_word_embeddings", "attention_bias", "decoder_sparse_step", "moe_intermediate_size", "num_experts_per_tok", "num_experts",
  "num_local_experts", "mlp_only_layers", "sliding_window", ...ROPE_KEYS,
] as const;

const NO_EFFECT_TEXT_KEYS = [
  "model_type", "_name_or_path", "transformers_version", "dtype", "torch_dtype", "use_cache", "initializer_range", "output_router_logits",
  "router_aux_loss_coef", "attention_dropout", "bos_token_id", "eos_token_id", "pad_token_id",
];

export const qwen3VlMoe: Family = {
  modelType: "qwen3_vl_moe",
  architectures: ["Qwen3VLMoeForConditionalGeneration"],
  keys: ["text_config", "vision_config", "image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id", "tie_word_embeddings"],
  build(top, notes) {
    const r = top.object("text_config") ?? top.fail("text_config", "is missing; a qwen3_vl_moe config holds its language model's settings there");
    if (r.given("model_type") && r.raw("model_type") !== "qwen3_vl_moe_text") r.fail("model_type", `is ${show(r.raw("model_type"))}; a qwen3_vl_moe text_config is "qwen3_vl_moe_text"`);
    r.rejectUnknown(new Set([...NO_EFFECT_TEXT_KEYS, ...TEXT_KEYS]), 'the text_config of model_type "qwen3_vl_moe"');
    notes.push("the language model of Qwen3VLMoeForConditionalGeneration (text_config), for text inputs; the vision tower (model.visual.*) is not imported and its tensors are left unbound");
    const d = dims(r, { vocab: 151936, hidden: 2048, layers: 24, heads: 16, eps: 1e-6 });
    const kv = kvHeads(r, d.heads, 16);
    const hd = headDim(r, d);
    r.oneOf("hidden_act", ["silu", "swish"], "silu");
    const bias = r.bool("attention_bias", false);
    if (r.given("sliding_window")) notes.push(`text_config.sliding_window = ${show(r.raw("sliding_window"))}: Qwen3VLMoeTextConfig sets it to None, every layer attends to every earlier key`);
    const key = r.alias(["num_experts", "num_local_experts"]);
    const experts = key === null ? 60 : r.int(key);
    if (experts <= 0) r.fail(key ?? "num_experts", `must be positive, got ${experts}`);
    const k = topK(r, experts, 4);
    const { sparse, rule } = qwenSparsity(r, d.layers, experts);
    // M-RoPE: mrope_section / mrope_interleaved select which frequencies follow t, h or w; equal for text.
    const rope = r.object("rope_parameters") ?? r.object("rope_scaling");
    const ropeR = rope ? { ...rope.obj } : null;
    if (ropeR) {
      for (const k2 of ["mrope_section", "mrope_interleaved"]) delete ropeR[k2];
      notes.push("M-RoPE (mrope_section, mrope_interleaved) with the equal t/h/w positions of text is plain RoPE");
    }
    const textTie = r.bool("tie_word_embeddings", false);
    const outerTie = top.bool("tie_word_embeddings", false);
    if (textTie !== outerTie) top.fail("tie_word_embeddings", `is ${show(outerTie)} but text_config.tie_word_embeddings is ${show(textTie)}`);
    const plain = new (r.constructor as typeof import("../config.js").ConfigReader)(r.source, r.family, { ...r.obj, ...(ropeR ? { [rope!.path.slice(r.path.length, -1)]: ropeR } : {}) }, r.path);
    return {
      ...d,
      norm: "rmsnorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: "head", sinks: false, clipQkv: null, window: null },
      rope: readRope(plain, { defaultTheta: 5000000, rotaryDim: hd.value, style: "half", allowPartial: false, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: "silu", denseBias: false, routedInOut: true },
      moe: {
        experts, ffn: r.positiveInt("moe_intermediate_size", 1408), expertsName: "experts",
        router: router({ k, scoring: "softmax", renormalize: true, comment: "softmax over all experts, top-k, always renormalised (Qwen3VLMoeTextTopKRouter)" }),
        shared: null,
      },
      ffnName: "mlp",
      sparse,
      sparseRule: rule,
      denseFfn: sparse.every(Boolean) ? null : r.positiveInt("intermediate_size", 5632),
      tied: textTie,
      lmHeadBias: false,
      prefix: { model: "model.language_model", head: "lm_head" },
      unusedWeights: ["model.visual."],
    };
  },
};
