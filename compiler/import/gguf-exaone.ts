// GGUF "exaone-moe" files (llama.cpp's ExaoneMoEModel converter: K-EXAONE) read back into the Hugging Face
// exaone_moe config and tensors.
//
// The converter stacks the experts (ffn_{gate,up,down}_exps), renames mlp.gate to ffn_gate_inp,
// mlp.e_score_correction_bias to exp_probs_b.bias and the shared experts to ffn_*_shexp, and permutes nothing (both
// rotate halves, NEOX). Which layers slide is attention.sliding_window_pattern (one bool per layer, from
// layer_types); the full-attention layers of a model with a window use no RoPE, in llama.cpp's exaone4 as in
// transformers. Multi-token-prediction blocks are appended after the main model (nextn_predict_layers); the main
// model does not use them, so they are left out. The router is DeepSeek-V3's: sigmoid scores chosen with the
// selection bias, groups (expert_group_count / expert_group_used_count), expert_weights_norm, expert_weights_scale.
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { GgufImport, Meta } from "./gguf.js";
import { agreed, commonDims, expertCounts, LLAMA_BLOCK, mainLayers, mapByRules, plainRope, requireGating, routedLayers, rowsOf } from "./gguf-layout.js";

export function exaoneMoeToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "exaone-moe";
  const notes: string[] = [];
  const d = commonDims(g, m);
  const layers = mainLayers(m, d.layers, notes);
  const { experts, k } = expertCounts(m, arch, g);
  requireGating(m, 2, arch);
  const sparse = routedLayers(g, layers);
  const first = sparse.indexOf(true);
  if (first < 0) throw new WeightFileError(g.file, `no layer has a router (blk.N.ffn_gate_inp.weight), although ${m.key("expert_count")} is ${experts}; the file is incomplete`);
  const lead = m.optInt(m.key("leading_dense_block_count"));
  if (lead !== null && !sparse.every((s, i) => s === i >= lead)) {
    throw new WeightFileError(g.file, `the layers with a router (blk.N.ffn_gate_inp.weight) are not exactly those from ${m.key("leading_dense_block_count")} (${lead}) on`);
  }
  const moeFfn = agreed(m, m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), rowsOf(g, `blk.${first}.ffn_gate_exps.weight`), "expert");
  const nShared = m.int(m.key("expert_shared_count"), 0);
  const shexp = rowsOf(g, `blk.${first}.ffn_gate_shexp.weight`);
  if ((shexp ?? 0) !== nShared * moeFfn) throw new WeightFileError(g.file, `the shared experts of layer ${first} are ${shexp === null ? "missing" : `${shexp} rows`}, but ${m.key("expert_shared_count")} (${nShared}) × ${moeFfn} is ${nShared * moeFfn}`, `blk.${first}.ffn_gate_shexp.weight`);
  if (!g.has(`blk.${first}.exp_probs_b.bias`)) throw new WeightFileError(g.file, `layer ${first} has no selection bias (blk.${first}.exp_probs_b.bias); K-EXAONE's router chooses with it`, `blk.${first}.exp_probs_b.bias`);
  if (!g.has("blk.0.attn_q_norm.weight")) throw new WeightFileError(g.file, "layer 0 has no q norm (blk.0.attn_q_norm.weight); K-EXAONE always normalises q and k per head", "blk.0.attn_q_norm.weight");
  const denseAt = sparse.indexOf(false);
  const denseFfn = denseAt >= 0 ? agreed(m, m.key("feed_forward_length"), m.optInt(m.key("feed_forward_length")), rowsOf(g, `blk.${denseAt}.ffn_gate.weight`), "dense MLP") : m.optInt(m.key("feed_forward_length"));

  const window = m.optInt(m.key("attention.sliding_window"));
  let layerTypes: string[];
  if (window !== null && window > 0) {
    const pattern = g.get(m.key("attention.sliding_window_pattern"));
    if (!Array.isArray(pattern) || pattern.length < layers || pattern.some((p) => typeof p !== "boolean")) {
      m.fail(m.key("attention.sliding_window_pattern"), `is ${pattern === undefined ? "missing" : "not one boolean per layer"}; with a sliding window the file must say which layers slide`);
    }
    layerTypes = (pattern as boolean[]).slice(0, layers).map((s) => (s ? "sliding_attention" : "full_attention"));
  } else layerTypes = Array(layers).fill("full_attention");
  const scale = m.optNum(m.key("expert_weights_scale"));
  const nGroup = m.optInt(m.key("expert_group_count"));
  const config: JsonObject = {
    model_type: "exaone_moe", architectures: ["ExaoneMoeForCausalLM"], ...d.base, num_hidden_layers: layers, head_dim: d.headDim,
    sliding_window: window !== null && window > 0 ? window : null, layer_types: layerTypes,
    mlp_layer_types: sparse.map((s) => (s ? "sparse" : "dense")),
    num_experts: experts, num_experts_per_tok: k, moe_intermediate_size: moeFfn, num_shared_experts: nShared,
    norm_topk_prob: m.optBool(m.key("expert_weights_norm")) ?? false,
    // llama.cpp writes 0 for "unset", which multiplies by nothing
    routed_scaling_factor: scale === null || scale === 0 ? 1 : scale,
    n_group: nGroup ?? 1, topk_group: m.optInt(m.key("expert_group_used_count")) ?? nGroup ?? 1,
    rope_parameters: plainRope(m, 10000, arch),
    ...(denseFfn !== null ? { intermediate_size: denseFfn } : {}),
  };
  const entries = mapByRules(g, arch, {
    ...LLAMA_BLOCK,
    "attn_q_norm.weight": { hf: "self_attn.q_norm.weight" },
    "attn_k_norm.weight": { hf: "self_attn.k_norm.weight" },
    "ffn_gate_inp.weight": { hf: "mlp.gate.weight" },
    "exp_probs_b.bias": { hf: "mlp.e_score_correction_bias" },
    ...Object.fromEntries((["gate", "up", "down"] as const).flatMap((p) => [
      [`ffn_${p}_exps.weight`, { experts: "mlp.experts", proj: `${p}_proj` }],
      [`ffn_${p}_shexp.weight`, { hf: `mlp.shared_experts.${p}_proj.weight` }],
      [`ffn_${p}.weight`, { hf: `mlp.${p}_proj.weight` }],
    ])),
  }, { mainLayers: layers });
  return { config, family: "exaone_moe", arch, notes, entries };
}
