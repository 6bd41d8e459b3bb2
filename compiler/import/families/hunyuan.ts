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
