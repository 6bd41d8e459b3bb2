// GGUF "hunyuan-moe" files (llama.cpp's HunYuanMoEModel converter) read back into the Hugging Face
// hunyuan_v1_moe config and tensors.
//
// The converter stacks the experts (ffn_{gate,up,down}_exps), renames mlp.gate.wg to ffn_gate_inp, shared_mlp to
// ffn_*_shexp and query_layernorm / key_layernorm to attn_q_norm / attn_k_norm; nothing is permuted (both rotate
// halves, NEOX). NTK-alpha RoPE (rope_type "dynamic" with alpha) is written already applied: rope.freq_base is
// rope_theta · alpha^(d/(d−2)) and the scaling type "none", so it comes back as plain RoPE with that base (the base
// is a float32 in the file: the rotary frequencies differ from transformers' by float32 rounding of the base). The
// converter also sets context_length to 256K for such files.
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { GgufImport, Meta } from "./gguf.js";
import { agreed, commonDims, expertCounts, LLAMA_BLOCK, mapByRules, plainRope, requireGating, routedLayers, rowsOf } from "./gguf-layout.js";

export function hunyuanToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "hunyuan-moe";
  const notes: string[] = [];
  const d = commonDims(g, m);
  const { experts, k } = expertCounts(m, arch, g);
  requireGating(m, 1, arch);
  if (m.optBool(m.key("expert_weights_norm")) === false) m.fail(m.key("expert_weights_norm"), "is false, but Hunyuan renormalises the top-k weights");
  const dense = routedLayers(g, d.layers).flatMap((s, i) => (s ? [] : [i]));
  if (dense.length) throw new WeightFileError(g.file, `layers ${dense.join(", ")} have no router (blk.N.ffn_gate_inp.weight); Hunyuan-MoE has experts in every layer`);
  // transformers' hunyuan_v1_moe has one intermediate_size for the experts and the one shared MLP
  const ffn = agreed(m, m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), rowsOf(g, "blk.0.ffn_gate_exps.weight"), "expert");
  const shared = agreed(m, m.key("expert_shared_feed_forward_length"), m.optInt(m.key("expert_shared_feed_forward_length")), rowsOf(g, "blk.0.ffn_gate_shexp.weight"), "shared expert");
  if (shared !== ffn) m.fail(m.key("expert_shared_feed_forward_length"), `is ${shared} but the experts are ${ffn} wide; transformers' hunyuan_v1_moe gives both intermediate_size`);
  const nShared = m.int(m.key("expert_shared_count"), 1);
  if (nShared !== 1) m.fail(m.key("expert_shared_count"), `is ${nShared}; transformers' hunyuan_v1_moe has one shared MLP`);
  if (!g.has("blk.0.attn_q_norm.weight")) throw new WeightFileError(g.file, "layer 0 has no q norm (blk.0.attn_q_norm.weight); Hunyuan always normalises q and k per head", "blk.0.attn_q_norm.weight");
  const config: JsonObject = {
    model_type: "hunyuan_v1_moe", architectures: ["HunYuanMoEV1ForCausalLM"], ...d.base,
    intermediate_size: ffn, num_experts: experts, moe_topk: k, attention_bias: g.has("blk.0.attn_q.bias"),
    rope_parameters: plainRope(m, 10000, arch),
  };
  notes.push("NTK-alpha RoPE is stored already applied (rope.freq_base): imported as plain RoPE with that base");
  const entries = mapByRules(g, arch, {
    ...LLAMA_BLOCK,
    "attn_q_norm.weight": { hf: "self_attn.query_layernorm.weight" },
    "attn_k_norm.weight": { hf: "self_attn.key_layernorm.weight" },
    "ffn_gate_inp.weight": { hf: "mlp.gate.wg.weight" },
    ...Object.fromEntries((["gate", "up", "down"] as const).flatMap((p) => [
      [`ffn_${p}_exps.weight`, { experts: "mlp.experts", proj: `${p}_proj` }],
      [`ffn_${p}_shexp.weight`, { hf: `mlp.shared_mlp.${p}_proj.weight` }],
    ])),
  });
  return { config, family: "hunyuan_v1_moe", arch, notes, entries };
}
