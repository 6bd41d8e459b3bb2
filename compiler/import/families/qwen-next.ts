// Qwen3-Next (qwen3_next: Qwen3NextForCausalLM). Semantics: transformers 5.17's modeling_qwen3_next.py —
// hybrid layers from layer_types (default: every full_attention_interval-th, 4, is "full_attention", the
// others "linear_attention"): gated DeltaNet (`gated_deltanet`, its conv and recurrent state next to the KV
// cache) or attention with an output gate (q_proj gives [q_h | gate_h] per head, `output_gate`), per-head q/k
// norm and partial RoPE (default partial_rotary_factor 0.25); every RMSNorm but the DeltaNet's gated one is
// Qwen3NextRMSNorm, (1 + w) (`offset = 1`); MoE as Qwen2-MoE (softmax top-k, norm_topk_prob, a shared expert
// with a sigmoid gate), dense layers from decoder_sparse_step / mlp_only_layers.
import { ConfigReader, show } from "../config.js";
import { readRope, ROPE_KEYS } from "../rope.js";
import { dims, headDim, kvHeads, qwenSparsity, router, SWIGLU_NAMES, tied, topK, type Family, type FamilySpec } from "./common.js";

export const qwen3Next: Family = {
  modelType: "qwen3_next",
  architectures: ["Qwen3NextForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
    "rms_norm_eps", "tie_word_embeddings", "attention_bias", "linear_conv_kernel_dim", "linear_key_head_dim", "linear_value_head_dim",
    "linear_num_key_heads", "linear_num_value_heads", "decoder_sparse_step", "moe_intermediate_size", "shared_expert_intermediate_size",
    "num_experts_per_tok", "num_experts", "norm_topk_prob", "mlp_only_layers", "layer_types", "full_attention_interval", ...ROPE_KEYS,
  ],
  build: (r, notes) => nextText(r, notes, false),
};


/** Qwen3-Next's language model, and Qwen3.5-MoE's (`qwen35`: separate DeltaNet projections, every layer MoE, renormalised). */
function nextText(r: ConfigReader, notes: string[], qwen35: boolean): FamilySpec {
    const d = dims(r, { vocab: 151936, hidden: 2048, layers: 48, heads: 16, eps: 1e-6 });
    const kv = kvHeads(r, d.heads, 2);
    const hd = headDim(r, d, 256);
    r.oneOf("hidden_act", ["silu", "swish"], "silu", "the DeltaNet's conv activation, the gated norm's and the experts' are SiLU in moec");
    const bias = r.bool("attention_bias", false);
    let linear: boolean[];
    if (r.given("layer_types")) {
      const types = r.strList("layer_types");
      if (types.length !== d.layers) r.fail("layer_types", `has ${types.length} entries for ${d.layers} layers (num_hidden_layers)`);
      linear = types.map((t) => {
        if (t !== "linear_attention" && t !== "full_attention") r.fail("layer_types", `contains ${show(t)}; Qwen3-Next layers are "linear_attention" or "full_attention"`);
        return t === "linear_attention";
      });
    } else {
      const interval = r.positiveInt("full_attention_interval", 4);
      linear = Array.from({ length: d.layers }, (_, i) => (i + 1) % interval !== 0);
    }
    const kHeads = r.positiveInt("linear_num_key_heads", 16);
    const vHeads = r.positiveInt("linear_num_value_heads", 32);
    if (vHeads % kHeads !== 0) r.fail("linear_num_value_heads", `is ${vHeads}, not a multiple of linear_num_key_heads (${kHeads})`);
    const experts = r.int("num_experts", 512);
    const k = experts > 0 ? topK(r, experts, 10) : 0;
    const { sparse, rule } = qwen35 ? { sparse: Array<boolean>(d.layers).fill(true), rule: null } : qwenSparsity(r, d.layers, experts);
    const ffn = r.positiveInt("moe_intermediate_size", 512);
    const sharedFfn = r.int("shared_expert_intermediate_size", 512);
    return {
      ...d,
      norm: "rmsnorm",
      normOffset: 1,
      attention: {
        kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: "head", sinks: false, clipQkv: null, window: null,
        outputGate: true, qkNormOffset: 1,
      },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false, defaultPartial: 0.25 }, notes),
      linearAttention: {
        layers: linear, kHeads, vHeads, kDim: r.positiveInt("linear_key_head_dim", 128), vDim: r.positiveInt("linear_value_head_dim", 128),
        kernel: r.positiveInt("linear_conv_kernel_dim", 4), ...(qwen35 ? { separate: true } : {}),
      },
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: "silu", denseBias: false },
      moe: {
        experts, ffn, expertsName: "experts.{e}",
        router: router({ k: Math.max(k, 1), scoring: "softmax", renormalize: qwen35 || r.bool("norm_topk_prob", true), comment: "softmax over all experts, top-k" }),
        shared: sharedFfn > 0 ? { ffn: sharedFfn, count: null, name: "shared_expert", gate: "shared_expert_gate" } : null,
      },
      ffnName: "mlp",
      sparse,
      sparseRule: rule,
      denseFfn: sparse.every(Boolean) ? null : r.positiveInt("intermediate_size", 5632),
      tied: tied(r),
      lmHeadBias: false,
      ...(qwen35 ? { prefix: { model: "model.language_model", head: "lm_head" }, unusedWeights: ["model.visual."] } : {}),
    };
}

const QWEN35_TEXT_KEYS = [
  "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act", "rms_norm_eps",
  "tie_word_embeddings", "attention_bias", "linear_conv_kernel_dim", "linear_key_head_dim", "linear_value_head_dim", "linear_num_key_heads",
  "linear_num_value_heads", "moe_intermediate_size", "shared_expert_intermediate_size", "num_experts_per_tok", "num_experts", "layer_types",
  "full_attention_interval", ...ROPE_KEYS,
  // no effect at inference
  "model_type", "_name_or_path", "transformers_version", "dtype", "torch_dtype", "use_cache", "initializer_range", "output_router_logits",
  "router_aux_loss_coef", "attention_dropout", "bos_token_id", "eos_token_id", "pad_token_id",
];

// Qwen3.5-MoE (qwen3_5_moe: Qwen3_5MoeForConditionalGeneration), its language model for text inputs: Qwen3-Next's
// layers with the DeltaNet's four projections apart (in_proj_qkv, in_proj_z, in_proj_b, in_proj_a), every layer
// MoE with the routing weights renormalised, weights under model.language_model.*, M-RoPE plain for text, the
// vision tower (model.visual.*) left unbound.
export const qwen35Moe: Family = {
  modelType: "qwen3_5_moe",
  architectures: ["Qwen3_5MoeForConditionalGeneration"],
  keys: ["text_config", "vision_config", "image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id", "tie_word_embeddings"],
  build(top, notes) {
    const t = top.object("text_config") ?? top.fail("text_config", "is missing; a qwen3_5_moe config holds its language model's settings there");
    if (t.given("model_type") && t.raw("model_type") !== "qwen3_5_moe_text") t.fail("model_type", `is ${show(t.raw("model_type"))}; a qwen3_5_moe text_config is "qwen3_5_moe_text"`);
    t.rejectUnknown(new Set(QWEN35_TEXT_KEYS), 'the text_config of model_type "qwen3_5_moe"');
    if (top.bool("tie_word_embeddings", false) !== t.bool("tie_word_embeddings", false)) top.fail("tie_word_embeddings", `is ${show(top.raw("tie_word_embeddings") ?? false)} but text_config.tie_word_embeddings is ${show(t.raw("tie_word_embeddings") ?? false)}`);
    notes.push("the language model of Qwen3_5MoeForConditionalGeneration (text_config), for text inputs; the vision tower (model.visual.*) is not imported and its tensors are left unbound");
    // M-RoPE's sections select which frequencies follow t, h or w: equal positions for text make it plain RoPE
    const rope = t.object("rope_parameters") ?? t.object("rope_scaling");
    let reader = t;
    if (rope && (rope.has("mrope_section") || rope.has("mrope_interleaved"))) {
      const { mrope_section: _s, mrope_interleaved: _i, ...plain } = rope.obj;
      reader = new ConfigReader(t.source, t.family, { ...t.obj, [rope.path.slice(t.path.length, -1)]: plain }, t.path);
      notes.push("M-RoPE (mrope_section, mrope_interleaved) with the equal t/h/w positions of text is plain RoPE");
    }
    return nextText(reader, notes, true);
  },
};