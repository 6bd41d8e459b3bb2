// DeepSeek-V3's mixture (sigmoid scores, e_score_correction_bias for choosing, optional expert
// groups, renormalisation, routed scaling, always-on shared experts, first layers dense) under a
// grouped-query attention: GLM-4.5/4.6/4.7 (glm4_moe: q/k/v biases, partial rotary, optional
// per-head q/k norm) and dots.llm1 (dots1: Qwen3's attention with per-head q/k norm and optional
// sliding-window layers), and Solar Open (solar_open: Llama attention, every layer MoE). Semantics:
// transformers 5.17's modeling_glm4_moe.py / modeling_dots1.py / modeling_solar_open.py.
import { ConfigReader, show } from "../config.js";
import { readRope, ROPE_KEYS } from "../rope.js";
import type { MoeSpec, RouterSpec } from "../spec.js";
import {
  activation, dims, firstDense, fixedValue, FP8_BLOCKS, groupsOf, headDim, kvHeads, layerTypes, mtpNote, none, quantization, router,
  SWIGLU_NAMES, tied, topK, unusedNote, type Family, type FamilySpec,
} from "./common.js";

/** The keys of the DeepSeek-V3 mixture as these families spell them. */
const V3_MOE_KEYS = [
  "moe_intermediate_size", "n_routed_experts", "num_local_experts", "n_shared_experts", "num_experts_per_tok", "routed_scaling_factor",
  "n_group", "topk_group", "first_k_dense_replace", "norm_topk_prob", "scoring_func", "topk_method", "moe_layer_freq",
] as const;

interface V3Defaults {
  experts: number | null;
  shared: number | null;
  topK: number | null;
  moeFfn: number;
  scale: number;
  firstDense: number;
  norm: boolean;
  nGroup: number;
  topkGroup: number;
}

/**
 * DeepseekV3TopkRouter + DeepseekV3MoE as these families inherit them. `nullGroups` (dots.llm1): its
 * published configs write n_group / topk_group as null, which transformers 5.17 cannot route with;
 * they are read as one group (no group limit), with a note; and scoring_func "noaux_tc" is accepted.
 */
function v3Moe(r: ConfigReader, family: string, layers: number, df: V3Defaults, notes: string[], nullGroups = false) {
  const experts = r.positiveInt(r.alias(["n_routed_experts", "num_local_experts"]) ?? "n_routed_experts", df.experts ?? undefined);
  const k = topK(r, experts, df.topK);
  const nShared = r.int("n_shared_experts", df.shared ?? undefined);
  if (nShared <= 0) r.fail("n_shared_experts", `is ${nShared}; transformers' ${family} always builds the shared MLP (moe_intermediate_size × n_shared_experts wide), so it must be positive`);
  // dots.llm1's published config says scoring_func "noaux_tc" (the method's name, where DeepSeek-V3 writes "sigmoid");
  // transformers reads neither: both are the sigmoid + selection-bias router it implements.
  const scoring = r.oneOf("scoring_func", nullGroups ? ["sigmoid", "noaux_tc"] : ["sigmoid"], "sigmoid", `transformers' ${family} router always uses sigmoid scores`);
  if (scoring === "noaux_tc") notes.push(`scoring_func = "noaux_tc" names the selection method; transformers' ${family} scores with a sigmoid and chooses with e_score_correction_bias, which is that method`);
  r.oneOf("topk_method", ["noaux_tc"], "noaux_tc", `transformers' ${family} router always chooses with the selection bias (noaux_tc)`);
  const freq = r.int("moe_layer_freq", 1);
  if (freq !== 1) r.fail("moe_layer_freq", `is ${freq}: transformers' ${family} ignores it (every layer from first_k_dense_replace on is MoE), so only 1 is unambiguous`);
  const norm = r.bool("norm_topk_prob", df.norm);
  let groups: { g: number; keep: number };
  if (nullGroups && (r.has("n_group") && r.raw("n_group") === null || r.has("topk_group") && r.raw("topk_group") === null)) {
    if (r.given("n_group") && r.int("n_group") !== 1) r.fail("n_group", `is ${r.int("n_group")} while topk_group is null`);
    notes.push(`n_group / topk_group are null (${show(r.raw("n_group"))} / ${show(r.raw("topk_group"))}): one group, so no group limit (transformers 5.17 needs integers here; its default is 1)`);
    groups = { g: 1, keep: 1 };
  } else groups = groupsOf(r, experts, k, df.nGroup, df.topkGroup, "noaux_tc");
  const scale = r.num("routed_scaling_factor", df.scale);
  const dense = firstDense(r, layers, df.firstDense);
  const routerSpec: RouterSpec = router({
    k, scoring: "sigmoid", renormalize: norm, selectionBias: true, scale,
    groups: groups.g > 1 ? { count: groups.g, keep: groups.keep, scoring: "top2_sum" } : null,
    comment: `sigmoid scores, e_score_correction_bias for choosing only${groups.g > 1 ? ", group-limited top-k (group score = sum of the top 2)" : ", top-k"}, ${norm ? "renormalised (norm_topk_prob)" : "not renormalised (norm_topk_prob false)"}${scale !== 1 ? ", times routed_scaling_factor" : ""}`,
  });
  const ffn = r.positiveInt("moe_intermediate_size", df.moeFfn);
  const moe: MoeSpec = { experts, ffn, expertsName: "experts.{e}", router: routerSpec, shared: { ffn: nShared * ffn, count: nShared, name: "shared_experts", gate: null } };
  return { moe, sparse: dense.sparse, rule: dense.rule };
}

export const glm4Moe: Family = {
  modelType: "glm4_moe",
  architectures: ["Glm4MoeForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
    "hidden_act", "rms_norm_eps", "attention_bias", "use_qk_norm", "tie_word_embeddings", "num_nextn_predict_layers", "num_mtp_layers",
    "quantization_config", ...V3_MOE_KEYS, ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 151552, hidden: 4096, layers: 46, heads: 96, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d);
    const bias = r.bool("attention_bias", false);
    const qkNorm = r.bool("use_qk_norm", false);
    const { moe, sparse, rule } = v3Moe(r, "glm4_moe", d.layers, {
      experts: 128, shared: 1, topK: 8, moeFfn: 1408, scale: 1, firstDense: 1, norm: true, nGroup: 1, topkGroup: 1,
    }, notes);
    mtpNote(r, d.layers, notes);
    quantization(r, ["fp8"], FP8_BLOCKS, notes);
    return {
      ...d,
      norm: "rmsnorm",
      // Glm4MoeAttention: q/k/v biases from attention_bias, none on o_proj; q/k RMSNorm per head (before rope) when use_qk_norm.
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: false, qkNorm: qkNorm ? "head" : null, sinks: false, clipQkv: null, window: null },
      // Glm4MoeConfig defaults partial_rotary_factor to 0.5; the rotated dims are rotate_half pairs within them.
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false, defaultPartial: 0.5 }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: false },
      moe,
      ffnName: "mlp",
      sparse,
      sparseRule: rule,
      denseFfn: r.positiveInt("intermediate_size", 10944),
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

export const dots1: Family = {
  modelType: "dots1",
  architectures: ["Dots1ForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
    "hidden_act", "rms_norm_eps", "attention_bias", "sliding_window", "max_window_layers", "layer_types", "use_sliding_window",
    "tie_word_embeddings", "quantization_config", ...V3_MOE_KEYS, ...ROPE_KEYS,
  ],
  build(r, notes): FamilySpec {
    const d = dims(r, { vocab: 152064, hidden: 4608, layers: 62, heads: 32, eps: 1e-6 });
    const kv = kvHeads(r, d.heads, 32);
    const hd = headDim(r, d);
    const bias = r.bool("attention_bias", false);
    // Dots1Config.__post_init__: without layer_types, layers from max_window_layers on slide when sliding_window is set.
    // use_sliding_window is not read by transformers 5.17's dots1.
    const swRaw = r.has("sliding_window") ? r.optInt("sliding_window") : 4096;
    const maxWindowLayers = r.int("max_window_layers", 62);
    const sliding = layerTypes(r, d.layers, (i) => swRaw !== null && i >= maxWindowLayers);
    if (!none(sliding) && !(swRaw !== null && swRaw > 0)) r.fail("sliding_window", `is ${show(swRaw)}, but layer_types has sliding_attention layers`);
    if (r.given("use_sliding_window")) notes.push(`use_sliding_window = ${show(r.raw("use_sliding_window"))} is not read by transformers' dots1: the sliding layers are those of layer_types (or, without it, layers from max_window_layers on when sliding_window is set)`);
    const { moe, sparse, rule } = v3Moe(r, "dots1", d.layers, {
      experts: null, shared: null, topK: null, moeFfn: 1408, scale: 1, firstDense: 0, norm: false, nGroup: 1, topkGroup: 1,
    }, notes, true);
    quantization(r, ["fp8"], FP8_BLOCKS, notes);
    return {
      ...d,
      norm: "rmsnorm",
      // Qwen3Attention: q/k/v/o biases from attention_bias, per-head q/k RMSNorm before rope.
      attention: {
        kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: "head", sinks: false, clipQkv: null,
        window: none(sliding) ? null : { size: swRaw!, layers: sliding },
      },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: false },
      moe,
      ffnName: "mlp",
      sparse,
      sparseRule: rule,
      denseFfn: r.positiveInt("intermediate_size", 10944),
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

export const solarOpen: Family = {
  modelType: "solar_open",
  architectures: ["SolarOpenForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
    "rms_norm_eps", "attention_bias", "tie_word_embeddings", "quantization_config", ...V3_MOE_KEYS,
    // Glm4MoeConfig fields SolarOpenConfig removes; published configs still carry some of them
    "intermediate_size", "use_qk_norm", "num_nextn_predict_layers", "num_mtp_layers",
    ...ROPE_KEYS,
  ],
  build(r, notes): FamilySpec {
    const d = dims(r, { vocab: 196608, hidden: 4096, layers: 48, heads: 64, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d, 128);
    const bias = r.bool("attention_bias", false);
    // SolarOpenDecoderLayer: every layer is MoE; q/k are not normalised; no MTP module.
    fixedValue(r, "first_k_dense_replace", 0, "transformers' solar_open makes every layer MoE");
    fixedValue(r, "use_qk_norm", false, "transformers' solar_open has no q/k norm");
    for (const key of ["num_nextn_predict_layers", "num_mtp_layers"]) unusedNote(r, key, "transformers' solar_open builds no multi-token-prediction layer, and the main model does not use one", notes);
    unusedNote(r, "intermediate_size", "transformers' solar_open has no dense MLP layer", notes);
    const { moe } = v3Moe(r, "solar_open", d.layers, {
      experts: 128, shared: 1, topK: 8, moeFfn: 1280, scale: 1, firstDense: 0, norm: true, nGroup: 1, topkGroup: 1,
    }, notes);
    quantization(r, ["fp8"], FP8_BLOCKS, notes);
    return {
      ...d,
      norm: "rmsnorm",
      // SolarOpenAttention (LlamaAttention): q/k/v biases from attention_bias, none on o_proj.
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: false, qkNorm: null, sinks: false, clipQkv: null, window: null },
      // SolarOpenConfig defaults partial_rotary_factor to 1.0 and theta to 1e6.
      rope: readRope(r, { defaultTheta: 1e6, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false, defaultPartial: 1 }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: false },
      moe,
      ffnName: "mlp",
      sparse: Array(d.layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};
