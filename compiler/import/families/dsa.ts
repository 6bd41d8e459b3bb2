// DeepSeek Sparse Attention families: DeepSeek-V3.2 (deepseek_v32) and GLM-5 (glm_moe_dsa). Semantics:
// transformers 5.17's modeling_deepseek_v32.py / modeling_glm_moe_dsa.py.
//
// Both are DeepSeek-V3's MLA with an indexer in each attention layer (self_attn.indexer.*: wq_b, wk, k_norm,
// weights_proj) that scores every visible key for each query and keeps the index_topk best; attention then runs
// over the kept keys only. The indexer's top-k is taken over min(index_topk, keys) entries with the causal mask
// already applied (masked keys score -inf), so a query at position p (0-based) that sees p + 1 <= index_topk keys
// keeps all of them and its attention is exactly dense MLA. The program is that dense MLA: it leaves the indexer's
// tensors unbound and states `exact_context = index_topk`, which `moec run` / `moec serve` take as the context
// unless told otherwise (past it transformers attends to a learned subset and the program to every key).
import type { ConfigReader } from "../config.js";
import type { RouterSpec } from "../spec.js";
import { FP8_BLOCKS, fixedValue, groupsOf, mtpNote, quantization, router, type Family, type FamilySpec } from "./common.js";
import { DEEPSEEK_KEYS, deepseekCommon, deepseekSpec, type DeepseekDefaults } from "./deepseek.js";

const DSA_KEYS = ["index_topk", "index_head_dim", "index_n_heads", "layer_types", "mlp_layer_types", "mlp_bias", "rope_interleave", "num_nextn_predict_layers", "num_mtp_layers", "num_local_experts", "quantization_config"] as const;
// GLM-5's schedule of layers that compute their own top-k and layers that reuse the previous one's: which keys a
// layer keeps, irrelevant while every key is kept.
const GLM_INDEXER_KEYS = ["indexer_types", "index_topk_pattern", "index_topk_freq", "index_skip_topk_offset", "indexer_rope_interleave"] as const;

/** Which layers are MoE: mlp_layer_types when given (the config classes read it first), else the first `first_k_dense_replace` dense. */
function moeLayers(r: ConfigReader, layers: number, fromFirstDense: boolean[], notes: string[]): { sparse: boolean[]; fromTypes: boolean } {
  if (!r.given("mlp_layer_types")) return { sparse: fromFirstDense, fromTypes: false };
  const types = r.strList("mlp_layer_types");
  if (types.length !== layers) r.fail("mlp_layer_types", `has ${types.length} entries for ${layers} layers (num_hidden_layers)`);
  for (const t of types) if (t !== "dense" && t !== "sparse") r.fail("mlp_layer_types", `contains ${JSON.stringify(t)}; the layer types are "dense" and "sparse"`);
  const sparse = types.map((t) => t === "sparse");
  // save_pretrained writes both keys; __post_init__ derives mlp_layer_types from first_k_dense_replace only when it is absent.
  if (r.given("first_k_dense_replace") && sparse.some((s, i) => s !== fromFirstDense[i])) {
    notes.push(`first_k_dense_replace = ${r.int("first_k_dense_replace")} disagrees with mlp_layer_types, which transformers reads instead (dense layers: ${sparse.flatMap((s, i) => (s ? [] : [i])).join(", ") || "none"})`);
  }
  return { sparse, fromTypes: true };
}

function dsaFamily(modelType: string, architecture: string, df: DeepseekDefaults, extraKeys: readonly string[]): Family {
  return {
    modelType,
    architectures: [architecture],
    keys: [...DEEPSEEK_KEYS, ...DSA_KEYS, ...extraKeys],
    build(r, notes): FamilySpec {
      // MLA always rotates interleaved pairs here (apply_rotary_pos_emb_interleave, rope_interleave is not read).
      fixedValue(r, "rope_interleave", true, `transformers' ${modelType} always rotates MLA's rope dims in interleaved pairs`);
      fixedValue(r, "mlp_bias", false, `transformers' ${modelType} MLPs have no biases`);
      const c = deepseekCommon(r, df, notes, true, ["n_routed_experts", "num_local_experts"]);
      if (c.attention.qLoraRank === null) r.fail("q_lora_rank", `is null; transformers' ${modelType} attention and its indexer both read the q LoRA latent (q_a_proj), so it must be set`);
      if (r.given("layer_types")) {
        const types = r.strList("layer_types");
        if (types.length !== c.d.layers) r.fail("layer_types", `has ${types.length} entries for ${c.d.layers} layers (num_hidden_layers)`);
        const other = types.find((t) => t !== "deepseek_sparse_attention");
        if (other !== undefined) r.fail("layer_types", `contains ${JSON.stringify(other)}; transformers' ${modelType} builds every layer with DeepSeek Sparse Attention ("deepseek_sparse_attention")`);
      }
      const topk = r.positiveInt("index_topk", 2048);
      for (const k of ["index_head_dim", "index_n_heads"]) if (r.given(k)) r.positiveInt(k);
      notes.push(
        `DeepSeek Sparse Attention: transformers keeps, for each query, the index_topk = ${topk} keys its indexer (self_attn.indexer.*) scores highest; ` +
          `up to ${topk} positions that is every key, so this program's dense MLA is exact there, and the indexer's tensors are left unbound. ` +
          `Past ${topk} positions transformers attends to a learned subset and this program to every key: exact_context = ${topk} bounds moec run's and moec serve's context unless --max-context says otherwise`,
      );
      for (const k of GLM_INDEXER_KEYS) if (r.given(k)) notes.push(`${k} = ${JSON.stringify(r.raw(k))}: an indexer setting (its RoPE layout, or which layers reuse another layer's choice), which changes nothing within exact_context, where every key is kept`);
      const { sparse, fromTypes } = moeLayers(r, c.d.layers, c.sparse, notes);
      r.oneOf("scoring_func", ["sigmoid"], "sigmoid", `transformers' ${modelType} router always uses sigmoid scores`);
      r.oneOf("topk_method", ["noaux_tc"], "noaux_tc", `transformers' ${modelType} router always uses noaux_tc`);
      const norm = r.bool("norm_topk_prob", true);
      const { g, keep } = groupsOf(r, c.experts, c.k, df.nGroup, df.topkGroup, "noaux_tc");
      mtpNote(r, c.d.layers, notes);
      quantization(r, ["fp8"], FP8_BLOCKS, notes);
      const rs: RouterSpec = router({
        k: c.k, scoring: "sigmoid", renormalize: norm, selectionBias: true, groups: g > 1 ? { count: g, keep, scoring: "top2_sum" } : null, scale: c.scale,
        comment: `sigmoid scores, e_score_correction_bias for choosing only${g > 1 ? ", group-limited top-k (group score = sum of the top 2)" : ", top-k"}, ${norm ? "renormalised (norm_topk_prob)" : "not renormalised (norm_topk_prob false)"}, times routed_scaling_factor`,
      });
      const spec = deepseekSpec(r, c, rs, false);
      return {
        ...spec,
        ...(fromTypes ? { sparse, sparseRule: null } : {}),
        unusedWeights: ["model.layers.*.self_attn.indexer."],
        exactContext: topk,
      };
    },
  };
}

export const deepseekV32 = dsaFamily("deepseek_v32", "DeepseekV32ForCausalLM", {
  vocab: 129280, hidden: 7168, layers: 61, heads: 128, kv: 128, intermediate: 18432, moeIntermediate: 2048, experts: 256, shared: 1,
  topK: 8, firstDense: 3, qLora: 1536, kvLora: 512, qkNope: 128, qkRope: 64, vDim: 128, scale: 2.5, nGroup: 8, topkGroup: 4,
}, []);

export const glmMoeDsa = dsaFamily("glm_moe_dsa", "GlmMoeDsaForCausalLM", {
  vocab: 154880, hidden: 6144, layers: 78, heads: 64, kv: 64, intermediate: 12288, moeIntermediate: 2048, experts: 256, shared: 1,
  topK: 8, firstDense: 3, qLora: 2048, kvLora: 512, qkNope: 192, qkRope: 64, vDim: 256, scale: 2.5, nGroup: 1, topkGroup: 1, eps: 1e-5,
}, GLM_INDEXER_KEYS);
