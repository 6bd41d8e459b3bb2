// Hunyuan-A13B (hunyuan_v1_moe: HunYuanMoEV1ForCausalLM). Semantics: transformers 5.17's
// modeling_hunyuan_v1_moe.py — Llama attention whose per-head q/k RMSNorms (query_layernorm /
// key_layernorm) come AFTER RoPE; NTK-alpha RoPE (rope_type "dynamic" with alpha); every layer MoE: router
// mlp.gate.wg, softmax over the experts, top-k renormalised, plus a shared MLP (mlp.shared_mlp, as wide as
// the experts) added to the experts' output.
import { ConfigReader, show } from "../config.js";
import { readRope, ROPE_KEYS } from "../rope.js";
import { dims, headDim, kvHeads, router, SWIGLU_NAMES, tied, type Family } from "./common.js";

/** An int, or a per-layer list of one value (moe_topk / num_experts may be lists). */
function uniform(r: ConfigReader, key: string, dflt: number): number {
  if (!r.given(key)) return dflt;
  const v = r.raw(key);
  if (Array.isArray(v)) {
    const xs = r.intList(key);
    if (xs.length === 0 || xs.some((x) => x !== xs[0])) r.fail(key, `is ${show(v)}; moec imports one value for every layer`);
    return xs[0]!;
  }
  return r.positiveInt(key);
}

export const hunyuanV1Moe: Family = {
  modelType: "hunyuan_v1_moe",
  architectures: ["HunYuanMoEV1ForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
    "rms_norm_eps", "attention_bias", "num_experts", "moe_topk", "tie_word_embeddings", "eod_token_id", "sep_token_id", "pretraining_tp", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 290943, hidden: 4096, layers: 32, heads: 32, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, null);
    const hd = headDim(r, d);
    r.oneOf("hidden_act", ["silu", "swish"], "silu");
    const bias = r.bool("attention_bias", false);
    const tp = r.int("pretraining_tp", 1);
    if (tp !== 1) notes.push(`pretraining_tp = ${tp}: HunYuanMoEV1 does not split its projections by it at inference`);
    const experts = uniform(r, "num_experts", 1);
    const k = uniform(r, "moe_topk", 1);
    if (k > experts) r.fail("moe_topk", `is ${k}, more than the ${experts} experts`);
    const ffn = r.positiveInt("intermediate_size", 11008);
    return {
      ...d,
      norm: "rmsnorm",
      attention: {
        kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: "head", sinks: false, clipQkv: null, window: null,
        qkNormAfterRope: true, qkNormNames: ["query_layernorm", "key_layernorm"],
      },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: false, phimoe: false, ntkAlpha: true }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: "silu", denseBias: false },
      moe: {
        experts, ffn, expertsName: "experts.{e}",
        router: router({ name: "gate.wg", k, scoring: "softmax", renormalize: true, comment: "a linear router (gate.wg); softmax over all experts, top-k, renormalised" }),
        shared: { ffn, count: null, name: "shared_mlp", gate: null },
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

// Hunyuan V3 (hy_v3: HYV3ForCausalLM). Semantics: transformers 5.17's modeling_hy_v3.py — Qwen3-style
// attention (per-head q/k norm before RoPE); dense or MoE layers from mlp_layer_types (default: the first
// dense); sigmoid scores chosen with the selection bias the checkpoint names mlp.expert_bias (the router is
// mlp.router.gate; transformers renames both when it loads), renormalised, times router_scaling_factor;
// shared experts (mlp.shared_mlp, num_shared_experts × moe_intermediate_size); mlp_bias on the dense and
// shared MLPs.
export const hyV3: Family = {
  modelType: "hy_v3",
  architectures: ["HYV3ForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
    "rms_norm_eps", "attention_bias", "mlp_bias", "num_experts", "num_local_experts", "num_experts_per_tok", "num_shared_experts",
    "moe_intermediate_size", "router_scaling_factor", "mlp_layer_types", "tie_word_embeddings", "enable_moe_fp32_combine", ...ROPE_KEYS,
  ],
  build(r, notes) {
    // HYV3MoE adds the routed and shared outputs in float32 when asked: moec's activations are float32 already.
    if (r.given("enable_moe_fp32_combine")) r.bool("enable_moe_fp32_combine");
    const d = dims(r, { vocab: 120832, hidden: 4096, layers: 80, heads: 64, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d, 128);
    r.oneOf("hidden_act", ["silu", "swish"], "silu");
    const bias = r.bool("attention_bias", false);
    const mlpBias = r.bool("mlp_bias", false);
    const key = r.alias(["num_experts", "num_local_experts"]);
    const experts = key === null ? 192 : r.positiveInt(key);
    const k = uniform(r, "num_experts_per_tok", 8);
    if (k > experts) r.fail("num_experts_per_tok", `is ${k}, more than the ${experts} experts`);
    let sparse: boolean[];
    if (r.given("mlp_layer_types")) {
      const types = r.strList("mlp_layer_types");
      if (types.length !== d.layers) r.fail("mlp_layer_types", `has ${types.length} entries for ${d.layers} layers (num_hidden_layers)`);
      sparse = types.map((t) => {
        if (t !== "dense" && t !== "sparse") r.fail("mlp_layer_types", `contains ${show(t)}; the layer types are "dense" and "sparse"`);
        return t === "sparse";
      });
    } else sparse = Array.from({ length: d.layers }, (_, i) => i > 0);
    const shared = r.int("num_shared_experts", 1);
    if (shared < 0) r.fail("num_shared_experts", `must not be negative, got ${shared}`);
    const ffn = r.positiveInt("moe_intermediate_size", 1536);
    const scale = r.num("router_scaling_factor", 2.826);
    return {
      ...d,
      norm: "rmsnorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: "head", sinks: false, clipQkv: null, window: null },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: false, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: "silu", denseBias: mlpBias },
      moe: {
        experts, ffn, expertsName: "experts.{e}",
        router: router({
          name: "router.gate", k, scoring: "sigmoid", renormalize: true, selectionBias: true, selectionBiasName: "expert_bias", scale,
          comment: "sigmoid scores; expert_bias (beside the router) for choosing only; top-k, renormalised, times router_scaling_factor",
        }),
        shared: shared > 0 ? { ffn: shared * ffn, count: shared, name: "shared_mlp", gate: null } : null,
      },
      ffnName: "mlp",
      sparse,
      sparseRule: null,
      denseFfn: sparse.every(Boolean) ? null : r.positiveInt("intermediate_size", 13312),
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};
