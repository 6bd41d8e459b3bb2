// GPT-OSS: alternating sliding / full attention with sinks, a router with bias, and stacked MXFP4
// experts with the clamped SwiGLU. Semantics: transformers 5.17's modeling_gpt_oss.py.
import { ConfigReader, show } from "../config.js";
import { readRope, ROPE_KEYS, type RopeOptions } from "../rope.js";
import { dims, expertCount, headDim, kvHeads, layerTypes, none, quantization, router, tied, topK, unusedNote, type Family } from "./common.js";

export const gptOss: Family = {
  modelType: "gpt_oss",
  architectures: ["GptOssForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "rms_norm_eps", "attention_bias", "sliding_window", "layer_types", "num_local_experts",
    "num_experts", "num_experts_per_tok", "experts_per_token", "swiglu_limit", "initial_context_length", "quantization_config",
    "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 201088, hidden: 2880, layers: 36, heads: 64, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d, 64);
    const experts = expertCount(r, ["num_local_experts", "num_experts"], 128);
    const k = topK(r, experts, 4, ["num_experts_per_tok", "experts_per_token"]);
    const bias = r.bool("attention_bias", true);
    // GptOssExperts hard-codes alpha 1.702 and limit 7.0; the config value is informational.
    const limit = r.num("swiglu_limit", 7);
    if (limit !== 7) r.fail("swiglu_limit", `is ${limit}, but transformers' gpt_oss clamps at 7.0 whatever the config says; the intended limit is ambiguous`);
    if (r.given("hidden_act") && r.str("hidden_act") !== "silu") notes.push(`hidden_act = ${show(r.raw("hidden_act"))} is not used: GPT-OSS experts always use the clamped SwiGLU`);
    unusedNote(r, "initial_context_length", "the original training context; RoPE reads original_max_position_embeddings", notes);
    const sliding = layerTypes(r, d.layers, (i) => (i + 1) % 2 === 1);
    const sw = r.has("sliding_window") ? r.optInt("sliding_window") : 128;
    if (!none(sliding) && !(sw !== null && sw > 0)) r.fail("sliding_window", `is ${show(sw)}, but layer_types has sliding_attention layers`);
    quantization(r, ["mxfp4"], "the expert projections are stored as MXFP4 <name>_blocks / <name>_scales, which a loader dequantises to the [experts, in, out] tensors named here", notes);
    // GptOssConfig.__post_init__: without rope settings, YaRN (factor 32 over 4096 positions).
    const ropeOpts: RopeOptions = { defaultTheta: 150000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false };
    const hasRope = r.given("rope_parameters") || r.given("rope_scaling");
    if (!hasRope) notes.push("no rope_parameters: GptOssConfig defaults to YaRN (factor 32 over 4096 positions, beta_fast 32, beta_slow 1, truncate false)");
    if (!hasRope && (r.has("rope_scaling") || r.has("rope_parameters"))) {
      // transformers 5.17: `rope_scaling or self.rope_parameters`, so a null is the same as absent; transformers 4
      // read `rope_scaling: null` as plain RoPE.
      notes.push(`${r.has("rope_scaling") ? "rope_scaling" : "rope_parameters"} is null, which transformers 5.17 reads as absent, so the YaRN default applies (transformers 4 read rope_scaling: null as plain RoPE); plain RoPE is {"rope_type": "default"}`);
    }
    const rope = hasRope
      ? readRope(r, ropeOpts, notes)
      : readRope(new ConfigReader(r.source, r.family, {
          ...r.obj, rope_parameters: { rope_type: "yarn", factor: 32, beta_fast: 32, beta_slow: 1, truncate: false, original_max_position_embeddings: 4096 },
        }), ropeOpts, notes);
    return {
      ...d,
      norm: "rmsnorm",
      attention: {
        kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: null, sinks: true, clipQkv: null,
        window: none(sliding) ? null : { size: sw!, layers: sliding },
      },
      rope,
      mlp: { kind: "gpt_oss", names: ["gate_up_proj", "gate_up_proj", "down_proj"], act: "silu", denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("intermediate_size", 2880), expertsName: "experts",
        router: router({ name: "router", k, scoring: "softmax_topk", bias: true, comment: "a linear router with bias; top-k of the logits, softmax over the chosen k" }),
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
