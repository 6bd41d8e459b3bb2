// GGUF "nemotron_h" and "nemotron_h_moe" files (llama.cpp's NemotronHModel converter, a GraniteHybridModel; the _moe
// architecture when the config has num_experts_per_tok) read back into the Hugging Face nemotron_h config and its
// tensors under the released checkpoints' names (backbone.*).
//
// What the converter does that must be undone:
//  - the Mamba-2 mixers as Mamba2Model writes them (gguf-layout.ts mamba2Rules: −exp(A_log), unsqueezed A and D,
//    squeezed conv, the gated norm reshaped to [n_groups, inner / n_groups], dt_bias → ssm_dt.bias);
//  - q_proj / k_proj permuted by LlamaModel.permute (GraniteHybridModel's undo_permute = True, although the attention
//    has no rotary): un-permuted on read;
//  - the experts (up and down only: ReLU², no gate) stacked into ffn_up_exps / ffn_down_exps; gate →
//    ffn_gate_inp, gate.e_score_correction_bias → exp_probs_b.bias, shared_experts → ffn_{up,down}_shexp, a dense
//    MLP block's up_proj / down_proj → ffn_up / ffn_down, the block's norm → attn_norm;
//  - metadata: the block kinds only through the tensors (ssm_in: Mamba-2, attn_q: attention, ffn_gate_inp: MoE,
//    ffn_up: MLP); head_count_kv per block (0 but on attention blocks); ssm.* (heads as time_step_rank, inner size =
//    heads × mamba_head_dim, groups, state, conv kernel); the router as expert_* keys (groups, renormalisation,
//    routed scale); multi-token-prediction blocks appended (nextn_predict_layers), left out here.
// Not in the file: time_step_min, which transformers' chunked prefill clamps δ at (llama.cpp does not clamp): the
// config's default (transformers', 0.001) applies, as for a config.json without it.
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { GgufImport, Meta } from "./gguf.js";
import { agreed, hybridKvHeads, mainLayers, mamba2Rules, mapByRules, permutedRule, requireGating, rowsOf, type LayerRule } from "./gguf-layout.js";

type Kind = "mamba" | "attention" | "moe" | "mlp";
/** The tensor that marks each kind of block. */
const MARK: Record<Kind, string> = { mamba: "ssm_in.weight", attention: "attn_q.weight", moe: "ffn_gate_inp.weight", mlp: "ffn_up.weight" };

export function nemotronHToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = m.arch;
  const notes: string[] = [];
  const layers = mainLayers(m, m.positiveInt(m.key("block_count")), notes);
  const hidden = m.positiveInt(m.key("embedding_length"));
  const embd = g.has("token_embd.weight") ? g.ggufTensor("token_embd.weight") : undefined;
  if (!embd || embd.ne.length !== 2 || embd.ne[0] !== hidden) throw new WeightFileError(g.file, `tensor "token_embd.weight" is ${embd ? `[${embd.ne}] (ne)` : "missing"}; a model needs the token embedding with ne [${hidden}, vocab]`);
  const kinds = Array.from({ length: layers }, (_, i): Kind => {
    const found = (Object.keys(MARK) as Kind[]).filter((k) => g.has(`blk.${i}.${MARK[k]}`));
    if (found.length !== 1) throw new WeightFileError(g.file, `block ${i} has ${found.length ? `the tensors of ${found.join(" and ")} blocks` : "none of blk.N.ssm_in, attn_q, ffn_gate_inp, ffn_up"}; each Nemotron-H block is exactly one Mamba-2 mixer, attention, MoE or MLP`);
    return found[0]!;
  });
  const has = (k: Kind) => kinds.includes(k);
  if (arch === "nemotron_h" && has("moe")) m.fail("general.architecture", `is "nemotron_h", but block ${kinds.indexOf("moe")} has experts; llama.cpp names Nemotron-H with experts "nemotron_h_moe"`);
  const eps = m.optNum(m.key("attention.layer_norm_rms_epsilon")) ?? m.num(m.key("attention.layer_norm_epsilon"));
  const config: JsonObject = {
    model_type: "nemotron_h", architectures: ["NemotronHForCausalLM"], vocab_size: embd.ne[1]!, hidden_size: hidden, num_hidden_layers: layers,
    layers_block_type: kinds, layer_norm_epsilon: eps, tie_word_embeddings: !g.has("output.weight"), max_position_embeddings: m.positiveInt(m.key("context_length")),
  };
  for (const [hf, key] of [["bos_token_id", "tokenizer.ggml.bos_token_id"], ["eos_token_id", "tokenizer.ggml.eos_token_id"]] as const) {
    const v = m.optInt(key);
    if (v !== null) config[hf] = v;
  }
  let heads = 0, kvHeads = 0;
  if (has("attention")) {
    heads = m.positiveInt(m.key("attention.head_count"));
    kvHeads = hybridKvHeads(m, m.positiveInt(m.key("block_count")), [...kinds.map((k) => k === "attention"), ...Array(m.positiveInt(m.key("block_count")) - layers).fill(true)]);
    const headDim = m.positiveInt(m.key("attention.key_length"));
    const v = m.optInt(m.key("attention.value_length"));
    if (v !== null && v !== headDim) m.fail(m.key("attention.value_length"), `is ${v} but the key head dim is ${headDim}; Nemotron-H uses one head dim`);
    Object.assign(config, { num_attention_heads: heads, num_key_value_heads: kvHeads, head_dim: headDim });
  }
  if (has("mamba")) {
    const H = m.positiveInt(m.key("ssm.time_step_rank"));
    const inner = m.positiveInt(m.key("ssm.inner_size"));
    if (inner % H !== 0) m.fail(m.key("ssm.inner_size"), `is ${inner}, not a multiple of the ${H} Mamba-2 heads (ssm.time_step_rank)`);
    Object.assign(config, {
      mamba_num_heads: H, mamba_head_dim: inner / H, ssm_state_size: m.positiveInt(m.key("ssm.state_size")), n_groups: m.positiveInt(m.key("ssm.group_count")),
      conv_kernel: m.positiveInt(m.key("ssm.conv_kernel")), use_conv_bias: g.has(`blk.${kinds.indexOf("mamba")}.ssm_conv1d.bias`),
    });
    notes.push("time_step_min is not in the file: transformers' default 0.001 is the floor of the Mamba-2 time step (llama.cpp applies none)");
  }
  if (has("mlp")) config.intermediate_size = rowsOf(g, `blk.${kinds.indexOf("mlp")}.ffn_up.weight`)!;
  if (has("moe")) {
    const first = kinds.indexOf("moe");
    if (g.has(`blk.${first}.ffn_latent_down.weight`)) throw new WeightFileError(g.file, "has latent projections around the experts (Nemotron-3 Super's moe_latent_size), which moec's nemotron_h import does not support", `blk.${first}.ffn_latent_down.weight`);
    if (!g.has(`blk.${first}.exp_probs_b.bias`)) throw new WeightFileError(g.file, `block ${first} has no selection bias (blk.${first}.exp_probs_b.bias); Nemotron-H's router chooses with e_score_correction_bias`, `blk.${first}.exp_probs_b.bias`);
    requireGating(m, 2, arch);
    const experts = m.positiveInt(m.key("expert_count"));
    const k = m.positiveInt(m.key("expert_used_count"));
    if (k > experts) m.fail(m.key("expert_used_count"), `is ${k}, more than the ${experts} experts`);
    const groups = m.positiveInt(m.key("expert_group_count"), 1);
    const used = m.optInt(m.key("expert_group_used_count"));
    if (used === null && groups > 1) notes.push(`${m.key("expert_group_used_count")} is absent: every one of the ${groups} expert groups is kept`);
    const renorm = m.optBool(m.key("expert_weights_norm"));
    if (renorm === null) m.fail(m.key("expert_weights_norm"), "is missing; whether Nemotron-H's routing weights are renormalised (norm_topk_prob) is not known without it");
    const scale = m.optNum(m.key("expert_weights_scale"));
    Object.assign(config, {
      n_routed_experts: experts, num_experts_per_tok: k, n_group: groups, topk_group: used ?? groups, norm_topk_prob: renorm, routed_scaling_factor: scale === null || scale === 0 ? 1 : scale,
      moe_intermediate_size: agreed(m, m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), rowsOf(g, `blk.${first}.ffn_up_exps.weight`), "expert"),
      moe_shared_expert_intermediate_size: agreed(m, m.key("expert_shared_feed_forward_length"), m.optInt(m.key("expert_shared_feed_forward_length")), rowsOf(g, `blk.${first}.ffn_up_shexp.weight`), "shared expert"),
    });
    const shared = m.optInt(m.key("expert_shared_count"));
    if (shared !== null) config.n_shared_experts = shared;
  }

  const rules: Record<string, LayerRule> = {
    "attn_norm.weight": { hf: "norm.weight" },
    ...mamba2Rules("mixer"),
    "attn_q.weight": permutedRule(g, "mixer.q_proj.weight", heads),
    "attn_k.weight": permutedRule(g, "mixer.k_proj.weight", kvHeads),
    "attn_v.weight": { hf: "mixer.v_proj.weight" },
    "attn_output.weight": { hf: "mixer.o_proj.weight" },
    "ffn_up.weight": { hf: "mixer.up_proj.weight" },
    "ffn_down.weight": { hf: "mixer.down_proj.weight" },
    "ffn_gate_inp.weight": { hf: "mixer.gate.weight" },
    "exp_probs_b.bias": { hf: "mixer.gate.e_score_correction_bias" },
    "ffn_up_exps.weight": { experts: "mixer.experts", proj: "up_proj" },
    "ffn_down_exps.weight": { experts: "mixer.experts", proj: "down_proj" },
    "ffn_up_shexp.weight": { hf: "mixer.shared_experts.up_proj.weight" },
    "ffn_down_shexp.weight": { hf: "mixer.shared_experts.down_proj.weight" },
  };
  const entries = mapByRules(g, arch, rules, {
    layer: (n) => `backbone.layers.${n}`, mainLayers: layers,
    global: { "token_embd.weight": "backbone.embeddings.weight", "output_norm.weight": "backbone.norm_f.weight", "output.weight": "lm_head.weight" },
  });
  return { config, family: "nemotron_h", arch, notes, entries };
}
