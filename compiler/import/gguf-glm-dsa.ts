// GGUF "glm-dsa" files (llama.cpp's GlmMoeDsaModel converter, a DeepseekV2Model: GLM-5) read back into the Hugging
// Face glm_moe_dsa config and tensors.
//
// On top of DeepseekV2Model's conventions (gguf-deepseek.ts: MLA in its absorbed form, kv_b_proj split into attn_k_b
// and attn_v_b, experts stacked, e_score_correction_bias as exp_probs_b.bias, leading dense blocks), the converter
// writes the DeepSeek Sparse Attention indexer: attention.indexer.head_count / key_length / top_k (index_n_heads,
// index_head_dim, index_topk), attention.indexer.types (newer converters: true where a layer computes its own top-k,
// indexer_types "full", false for "shared") and its tensors indexer.attn_q_b (wq_b), indexer.attn_k (wk),
// indexer.k_norm (a LayerNorm: weight and bias) and indexer.proj (weights_proj), under their Hugging Face names here
// (moec's program is the dense MLA, exact up to index_topk keys, and leaves them unbound: families/dsa.ts). The
// multi-token-prediction blocks it appends (nextn_predict_layers) are left out. The router is always a sigmoid
// (GLM-5 configs name no scoring function, so the converter writes no expert_gating_func).
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import { GATING_SIGMOID, type GgufImport, type Meta } from "./gguf.js";
import { deepseek2ToHf } from "./gguf-deepseek.js";
import { mainLayers } from "./gguf-layout.js";

/** The indexer's GGUF tensor names (after blk.N.indexer.) → Hugging Face (after model.layers.N.self_attn.indexer.). */
const INDEXER: Record<string, string> = {
  "attn_q_b.weight": "wq_b.weight", "attn_k.weight": "wk.weight", "k_norm.weight": "k_norm.weight", "k_norm.bias": "k_norm.bias", "proj.weight": "weights_proj.weight",
};

export function glmDsaToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "glm-dsa";
  const notes: string[] = [];
  const layers = mainLayers(m, m.positiveInt(m.key("block_count")), notes);
  const gating = m.optInt(m.key("expert_gating_func"));
  if (gating !== null && gating !== GATING_SIGMOID) m.fail(m.key("expert_gating_func"), `is ${gating}; GLM-5 (glm_moe_dsa) routes with a sigmoid (${GATING_SIGMOID})`);
  const ds = deepseek2ToHf(g, m, { mainLayers: layers, gating: GATING_SIGMOID });
  const { model_type: _t, architectures: _a, scoring_func: _s, topk_method: _k, rope_interleave: _r, ...rest } = ds.config;
  const topk = m.positiveInt(m.key("attention.indexer.top_k"));
  const types = m.g.get(m.key("attention.indexer.types"));
  if (types !== undefined && (!Array.isArray(types) || types.length < layers || types.some((t) => typeof t !== "boolean"))) m.fail(m.key("attention.indexer.types"), `must list a boolean for each of the ${layers} layers, got ${JSON.stringify(types)}`);
  const config = {
    model_type: "glm_moe_dsa", architectures: ["GlmMoeDsaForCausalLM"], ...rest,
    index_topk: topk, index_head_dim: m.positiveInt(m.key("attention.indexer.key_length")), index_n_heads: m.positiveInt(m.key("attention.indexer.head_count")),
    ...(Array.isArray(types) ? { indexer_types: (types as boolean[]).slice(0, layers).map((t) => (t ? "full" : "shared")) } : {}),
  };
  const entries = new Map(ds.entries);
  for (const [name, e] of ds.entries) {
    const mm = /^blk\.(\d+)\.indexer\.(.+)$/.exec(name);
    if (!mm) continue;
    entries.delete(name);
    const hf = INDEXER[mm[2]!];
    if (!hf) throw new WeightFileError(g.file, `is not a tensor of llama.cpp's "glm-dsa" indexer that moec knows (known: ${Object.keys(INDEXER).map((k) => `indexer.${k}`).join(", ")})`, name);
    entries.set(`model.layers.${mm[1]}.self_attn.indexer.${hf}`, e);
  }
  const unknown = [...entries.keys()].find((n) => /^blk\.\d+\./.test(n));
  if (unknown) throw new WeightFileError(g.file, `is not a tensor of llama.cpp's "glm-dsa" architecture that moec knows`, unknown);
  return { config, family: "glm_moe_dsa", arch, notes: [...notes, ...ds.notes], entries };
}
