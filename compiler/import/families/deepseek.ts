// DeepSeek-V2/V3 (multi-head latent attention, shared experts, first layers dense), and GLM-4.7-Flash
// (glm4_moe_lite: DeepSeek-V3's MLA and mixture, dense layers from mlp_layer_types). Semantics:
// transformers 5.17's modeling_deepseek_v2.py / modeling_deepseek_v3.py / modeling_glm4_moe_lite.py.
import type { ConfigReader } from "../config.js";
import { readRope, ROPE_KEYS } from "../rope.js";
import type { MlaSpec, MoeSpec, RouterSpec } from "../spec.js";
import { activation, dims, FP8_BLOCKS, groupsOf, kvHeads, mtpNote, quantization, router, SWIGLU_NAMES, tied, topK, unusedNote, type FamilySpec, type Family } from "./common.js";

export const DEEPSEEK_KEYS = [
  "vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers", "num_attention_heads",
  "num_key_value_heads", "hidden_act", "rms_norm_eps", "attention_bias", "first_k_dense_replace", "moe_layer_freq",
  "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "qk_head_dim", "head_dim",
  "n_routed_experts", "n_shared_experts", "num_experts_per_tok", "routed_scaling_factor", "n_group", "topk_group",
  "topk_method", "scoring_func", "norm_topk_prob", "tie_word_embeddings",
  // no effect on inference: tensor-parallel slicing, training losses, expert parallelism
  "pretraining_tp", "aux_loss_alpha", "seq_aux", "ep_size",
  ...ROPE_KEYS,
] as const;

export interface DeepseekDefaults {
  vocab: number; hidden: number; layers: number; heads: number; kv: number | null; intermediate: number; moeIntermediate: number;
  experts: number; shared: number; topK: number | null; firstDense: number; qLora: number; kvLora: number; qkNope: number; qkRope: number;
  vDim: number; scale: number; nGroup: number | null; topkGroup: number | null; eps?: number;
}

export function deepseekCommon(r: ConfigReader, df: DeepseekDefaults, notes: string[], interleave: boolean, expertKeys: readonly string[]) {
  const d = dims(r, { vocab: df.vocab, hidden: df.hidden, layers: df.layers, heads: df.heads, eps: df.eps ?? 1e-6 });
  const kv = kvHeads(r, d.heads, df.kv);
  if (kv !== d.heads) r.fail("num_key_value_heads", `is ${kv}; transformers' MLA expands the latent to all ${d.heads} heads, so it must equal num_attention_heads`);
  if (r.bool("attention_bias", false)) r.fail("attention_bias", "is true: MLA projection biases (q_a_proj, kv_a_proj_with_mqa, o_proj) cannot be expressed by the language's mla op yet");
  const qkNope = r.positiveInt("qk_nope_head_dim", df.qkNope);
  const qkRope = r.positiveInt("qk_rope_head_dim", df.qkRope);
  if (r.given("qk_head_dim") && r.int("qk_head_dim") !== qkNope + qkRope) r.fail("qk_head_dim", `is ${r.int("qk_head_dim")}, but qk_nope_head_dim + qk_rope_head_dim = ${qkNope + qkRope}`);
  if (r.given("head_dim") && r.int("head_dim") !== qkRope) notes.push(`head_dim = ${r.int("head_dim")} is replaced by qk_rope_head_dim (${qkRope}) in transformers' config`);
  const layerFreq = r.int("moe_layer_freq", 1);
  if (layerFreq !== 1) r.fail("moe_layer_freq", `is ${layerFreq}: transformers ignores it (every layer from first_k_dense_replace on is MoE) while DeepSeek's reference code uses it, so the layout is ambiguous; only 1 is supported`);
  const firstDense = r.int("first_k_dense_replace", df.firstDense);
  if (firstDense < 0) r.fail("first_k_dense_replace", `must not be negative, got ${firstDense}`);
  const experts = r.positiveInt(r.alias(expertKeys) ?? "n_routed_experts", df.experts);
  const k = topK(r, experts, df.topK);
  const nShared = r.int("n_shared_experts", df.shared);
  if (nShared <= 0) r.fail("n_shared_experts", `is ${nShared}; transformers always builds the shared MLP (moe_intermediate_size × n_shared_experts wide), so it must be positive`);
  const qLora = r.has("q_lora_rank") ? r.optInt("q_lora_rank") : df.qLora;
  if (qLora !== null && qLora <= 0) r.fail("q_lora_rank", `must be positive or null, got ${qLora}`);
  const attention: MlaSpec = {
    kind: "mla", heads: d.heads, qLoraRank: qLora, kvLoraRank: r.positiveInt("kv_lora_rank", df.kvLora), qkNope, qkRope,
    vDim: r.positiveInt("v_head_dim", df.vDim), normEps: 1e-6,
  };
  const moeFfn = r.positiveInt("moe_intermediate_size", df.moeIntermediate);
  const sparse = Array.from({ length: d.layers }, (_, i) => i >= firstDense);
  const scale = r.num("routed_scaling_factor", df.scale);
  return {
    d, attention, experts, k, nShared, moeFfn, sparse, scale,
    rule: firstDense > 0 && firstDense < d.layers ? { expr: "i >= first_dense", consts: [["first_dense", firstDense]] as [string, number][] } : null,
    denseFfn: r.positiveInt("intermediate_size", df.intermediate),
    rope: readRope(r, { defaultTheta: 10000, rotaryDim: qkRope, style: interleave ? "interleaved" : "half", allowPartial: false, phimoe: false }, notes),
  };
}

export function deepseekSpec(r: ConfigReader, c: ReturnType<typeof deepseekCommon>, routerSpec: RouterSpec, mlpBias: boolean): FamilySpec {
  const moe: MoeSpec = { experts: c.experts, ffn: c.moeFfn, expertsName: "experts.{e}", router: routerSpec, shared: { ffn: c.nShared * c.moeFfn, count: c.nShared, name: "shared_experts", gate: null } };
  return {
    ...c.d,
    norm: "rmsnorm",
    attention: c.attention,
    rope: c.rope,
    mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: mlpBias },
    moe,
    ffnName: "mlp",
    sparse: c.sparse,
    sparseRule: c.rule,
    denseFfn: c.denseFfn,
    tied: tied(r),
    lmHeadBias: false,
  };
}

export const deepseekV2: Family = {
  modelType: "deepseek_v2",
  architectures: ["DeepseekV2ForCausalLM"],
  keys: [...DEEPSEEK_KEYS, "mlp_bias", "num_experts"],
  build(r, notes) {
    const c = deepseekCommon(r, {
      vocab: 102400, hidden: 4096, layers: 32, heads: 32, kv: null, intermediate: 11008, moeIntermediate: 1407, experts: 64, shared: 2,
      topK: null, firstDense: 0, qLora: 1536, kvLora: 512, qkNope: 128, qkRope: 64, vDim: 128, scale: 1, nGroup: null, topkGroup: null,
    }, notes, true, ["n_routed_experts", "num_experts"]);
    // DeepseekV2TopkRouter: softmax scores; greedy or group-limited (group score = max) top-k;
    // never renormalised (norm_topk_prob is not read); times routed_scaling_factor.
    r.oneOf("scoring_func", ["softmax"], "softmax", "transformers' deepseek_v2 router always uses softmax scores");
    const method = r.oneOf("topk_method", ["greedy", "group_limited_greedy"], "greedy", "these are the methods transformers' deepseek_v2 implements");
    if (r.given("norm_topk_prob") && r.bool("norm_topk_prob")) notes.push("norm_topk_prob = true is not read by transformers' deepseek_v2: the chosen weights are not renormalised");
    let groups: RouterSpec["groups"] = null;
    if (method === "group_limited_greedy") {
      const { g, keep } = groupsOf(r, c.experts, c.k, null, null, method);
      if (g > 1) groups = { count: g, keep, scoring: "max" };
    } else {
      for (const key of ["n_group", "topk_group"]) unusedNote(r, key, `topk_method "greedy" does not group experts`, notes);
    }
    const rs = router({
      k: c.k, scoring: "softmax", renormalize: false, groups, scale: c.scale,
      comment: `softmax over all experts, ${groups ? "group-limited top-k (group score = max, topk_method group_limited_greedy)" : "top-k (topk_method greedy)"}, not renormalised, times routed_scaling_factor`,
    });
    return deepseekSpec(r, c, rs, r.bool("mlp_bias", false));
  },
};

export const deepseekV3: Family = {
  modelType: "deepseek_v3",
  architectures: ["DeepseekV3ForCausalLM"],
  keys: [...DEEPSEEK_KEYS, "rope_interleave", "num_nextn_predict_layers", "num_mtp_layers", "num_local_experts", "quantization_config"],
  build(r, notes) {
    const interleave = r.bool("rope_interleave", true);
    const c = deepseekCommon(r, {
      vocab: 129280, hidden: 7168, layers: 61, heads: 128, kv: 128, intermediate: 18432, moeIntermediate: 2048, experts: 256, shared: 1,
      topK: 8, firstDense: 3, qLora: 1536, kvLora: 512, qkNope: 128, qkRope: 64, vDim: 128, scale: 2.5, nGroup: 8, topkGroup: 4,
    }, notes, interleave, ["n_routed_experts", "num_local_experts"]);
    // DeepseekV3TopkRouter (noaux_tc): sigmoid scores, e_score_correction_bias for choosing
    // only, groups scored by the sum of their top-2 biased scores, optional renormalisation.
    r.oneOf("scoring_func", ["sigmoid"], "sigmoid", "transformers' deepseek_v3 router always uses sigmoid scores");
    r.oneOf("topk_method", ["noaux_tc"], "noaux_tc", "transformers' deepseek_v3 router always uses noaux_tc");
    const norm = r.bool("norm_topk_prob", true);
    const { g, keep } = groupsOf(r, c.experts, c.k, 8, 4, "noaux_tc");
    mtpNote(r, c.d.layers, notes);
    quantization(r, ["fp8"], FP8_BLOCKS, notes);
    const rs = router({
      k: c.k, scoring: "sigmoid", renormalize: norm, selectionBias: true, groups: g > 1 ? { count: g, keep, scoring: "top2_sum" } : null, scale: c.scale,
      comment: `sigmoid scores, e_score_correction_bias for choosing only, group-limited top-k (group score = sum of the top 2), ${norm ? "renormalised (norm_topk_prob)" : "not renormalised (norm_topk_prob false)"}, times routed_scaling_factor`,
    });
    return deepseekSpec(r, c, rs, false);
  },
};

export const glm4MoeLite: Family = {
  modelType: "glm4_moe_lite",
  architectures: ["Glm4MoeLiteForCausalLM"],
  keys: [...DEEPSEEK_KEYS, "rope_interleave", "mlp_layer_types", "num_nextn_predict_layers", "num_mtp_layers", "num_local_experts", "quantization_config"],
  build(r, notes) {
    const interleave = r.bool("rope_interleave", true);
    const c = deepseekCommon(r, {
      vocab: 154880, hidden: 2048, layers: 47, heads: 20, kv: 20, intermediate: 10240, moeIntermediate: 1536, experts: 64, shared: 1,
      topK: 4, firstDense: 1, qLora: 768, kvLora: 512, qkNope: 192, qkRope: 64, vDim: 256, scale: 1.8, nGroup: 1, topkGroup: 1, eps: 1e-5,
    }, notes, interleave, ["n_routed_experts", "num_local_experts"]);
    // Glm4MoeLiteConfig: mlp_layer_types decides which layers are MoE (default: all but layer 0); transformers 5.17 does
    // not read first_k_dense_replace, so a value that disagrees with mlp_layer_types is ambiguous.
    let sparse = c.sparse;
    let rule = c.rule;
    if (r.given("mlp_layer_types")) {
      const types = r.strList("mlp_layer_types");
      if (types.length !== c.d.layers) r.fail("mlp_layer_types", `has ${types.length} entries for ${c.d.layers} layers (num_hidden_layers)`);
      for (const t of types) if (t !== "dense" && t !== "sparse") r.fail("mlp_layer_types", `contains ${JSON.stringify(t)}; the layer types are "dense" and "sparse"`);
      sparse = types.map((t) => t === "sparse");
      rule = null;
      const prefix = sparse.indexOf(true) === -1 ? c.d.layers : sparse.indexOf(true);
      const isPrefix = sparse.every((s, i) => s === i >= prefix);
      if (r.given("first_k_dense_replace") && !(isPrefix && prefix === r.int("first_k_dense_replace"))) {
        r.fail("first_k_dense_replace", `is ${r.int("first_k_dense_replace")}, but mlp_layer_types (which transformers' glm4_moe_lite reads instead) makes ${sparse.flatMap((s, i) => (s ? [] : [i])).join(", ") || "no layer"} dense`);
      }
    } else if (r.given("first_k_dense_replace") && r.int("first_k_dense_replace") !== 1) {
      r.fail("first_k_dense_replace", `is ${r.int("first_k_dense_replace")}, but transformers' glm4_moe_lite does not read it: without mlp_layer_types only layer 0 is dense`);
    }
    r.oneOf("scoring_func", ["sigmoid"], "sigmoid", "transformers' glm4_moe_lite router always uses sigmoid scores");
    r.oneOf("topk_method", ["noaux_tc"], "noaux_tc", "transformers' glm4_moe_lite router always uses noaux_tc");
    const norm = r.bool("norm_topk_prob", true);
    const { g, keep } = groupsOf(r, c.experts, c.k, 1, 1, "noaux_tc");
    mtpNote(r, c.d.layers, notes);
    quantization(r, ["fp8"], FP8_BLOCKS, notes);
    const rs = router({
      k: c.k, scoring: "sigmoid", renormalize: norm, selectionBias: true, groups: g > 1 ? { count: g, keep, scoring: "top2_sum" } : null, scale: c.scale,
      comment: `sigmoid scores, e_score_correction_bias for choosing only${g > 1 ? ", group-limited top-k (group score = sum of the top 2)" : ", top-k"}, ${norm ? "renormalised (norm_topk_prob)" : "not renormalised (norm_topk_prob false)"}, times routed_scaling_factor`,
    });
    return { ...deepseekSpec(r, c, rs, false), sparse, sparseRule: rule };
  },
};
