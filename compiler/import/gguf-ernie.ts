// GGUF "ernie4_5-moe" files (llama.cpp's Ernie4_5MoeModel converter) read back into the Hugging Face
// ernie4_5_moe config and tensors.
//
// The converter stacks the experts (ffn_{gate,up,down}_exps), renames moe_statics.e_score_correction_bias to
// exp_probs_b.bias and the shared experts to ffn_*_shexp, and permutes nothing: ERNIE's rotary already rotates
// adjacent pairs, llama.cpp's NORM rope. Its metadata: leading_dense_block_count = moe_layer_start_index,
// interleave_moe_layer_step = moe_layer_interval; moe_layer_end_index is not written (llama.cpp's ernie makes every
// layer from the start index on MoE), so the MoE layers are read from the routers present. It writes
// expert_shared_feed_forward_length as intermediate_size / num_key_value_heads, which is not the shared experts'
// width (transformers': moe_num_shared_experts × moe_intermediate_size): that key is not used, the tensors are.
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { GgufImport, Meta } from "./gguf.js";
import { agreed, commonDims, expertCounts, LLAMA_BLOCK, mapByRules, plainRope, requireGating, routedLayers, rowsOf } from "./gguf-layout.js";

export function ernieToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "ernie4_5-moe";
  const notes: string[] = [];
  const d = commonDims(g, m);
  const { experts, k } = expertCounts(m, arch, g);
  requireGating(m, 1, arch);
  if (m.optBool(m.key("expert_weights_norm")) === false) m.fail(m.key("expert_weights_norm"), "is false, but ERNIE 4.5 renormalises the top-k weights");
  const sparse = routedLayers(g, d.layers);
  const start = sparse.indexOf(true);
  if (start < 0) throw new WeightFileError(g.file, `no layer has a router (blk.N.ffn_gate_inp.weight), although ${m.key("expert_count")} is ${experts}; the file is incomplete`);
  const end = sparse.lastIndexOf(true);
  const interval = m.positiveInt(m.key("interleave_moe_layer_step"), 1);
  const lead = m.optInt(m.key("leading_dense_block_count"));
  const rule = (i: number) => (i + 1) % interval === 0 && i >= (lead ?? start) && i <= end;
  const off = sparse.flatMap((s, i) => (s !== rule(i) ? [i] : []));
  if (off.length) {
    throw new WeightFileError(g.file, `the layers with a router (blk.N.ffn_gate_inp.weight) are not those transformers' ERNIE makes MoE from ${m.key("leading_dense_block_count")} (${lead ?? "absent"}) and ${m.key("interleave_moe_layer_step")} (${interval}) up to layer ${end}: layers ${off.join(", ")} differ`);
  }
  const moeFfn = agreed(m, m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), rowsOf(g, `blk.${start}.ffn_gate_exps.weight`), "expert");
  const nShared = m.int(m.key("expert_shared_count"), 0);
  const shexp = rowsOf(g, `blk.${start}.ffn_gate_shexp.weight`);
  if ((shexp ?? 0) !== nShared * moeFfn) {
    throw new WeightFileError(g.file, `the shared experts of layer ${start} are ${shexp === null ? "missing" : `${shexp} rows`}, but ${m.key("expert_shared_count")} (${nShared}) × ${moeFfn} is ${nShared * moeFfn}`, `blk.${start}.ffn_gate_shexp.weight`);
  }
  if (!g.has(`blk.${start}.exp_probs_b.bias`)) throw new WeightFileError(g.file, `layer ${start} has no selection bias (blk.${start}.exp_probs_b.bias); ERNIE's router chooses with moe_statics.e_score_correction_bias`, `blk.${start}.exp_probs_b.bias`);
  const denseFfn = start > 0 ? agreed(m, m.key("feed_forward_length"), m.optInt(m.key("feed_forward_length")), rowsOf(g, "blk.0.ffn_gate.weight"), "dense MLP") : m.optInt(m.key("feed_forward_length"));
  const bias = g.has("blk.0.attn_q.bias");
  if (g.has("output.bias") !== bias) {
    throw new WeightFileError(g.file, `${bias ? "has" : "has no"} attention biases but ${g.has("output.bias") ? "has" : "no"} output.bias; transformers' ERNIE (use_bias) has both or neither`, "output.bias");
  }
  const config: JsonObject = {
    model_type: "ernie4_5_moe", architectures: ["Ernie4_5_MoeForCausalLM"], ...d.base,
    use_bias: bias, moe_num_experts: experts, moe_k: k, moe_intermediate_size: moeFfn, moe_num_shared_experts: nShared,
    moe_layer_start_index: lead ?? start, moe_layer_end_index: end === d.layers - 1 ? -1 : end, moe_layer_interval: interval,
    rope_parameters: plainRope(m, 500000, arch),
    ...(denseFfn !== null ? { intermediate_size: denseFfn } : {}),
  };
  if (d.headDim * d.heads === d.hidden) delete config.head_dim;
  const entries = mapByRules(g, arch, {
    ...LLAMA_BLOCK,
    "ffn_gate_inp.weight": { hf: "mlp.gate.weight" },
    // llama.cpp reads it as {n_expert}; transformers' buffer is [1, E]
    "exp_probs_b.bias": { hf: "mlp.moe_statics.e_score_correction_bias", shape: (t) => [1, t.numel] },
    ...Object.fromEntries((["gate", "up", "down"] as const).flatMap((p) => [
      [`ffn_${p}_exps.weight`, { experts: "mlp.experts", proj: `${p}_proj` }],
      ...["weight", "bias"].flatMap((w) => [[`ffn_${p}_shexp.${w}`, { hf: `mlp.shared_experts.${p}_proj.${w}` }], [`ffn_${p}.${w}`, { hf: `mlp.${p}_proj.${w}` }]]),
    ])),
  });
  return { config, family: "ernie4_5_moe", arch, notes, entries };
}
