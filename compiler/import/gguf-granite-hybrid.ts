// GGUF "granitehybrid" files (llama.cpp's GraniteHybridModel converter: Mamba2Model + GraniteMoeModel, Granite-4.0-H)
// read back into the Hugging Face granitemoehybrid config and tensors.
//
// What the converter does that must be undone:
//  - the Mamba-2 mixers as Mamba2Model writes them (gguf-layout.ts mamba2Rules: −exp(A_log), unsqueezed A and D,
//    squeezed conv, the gated norm reshaped per group); the layer kinds are read from the tensors (ssm_in or attn_q);
//  - q_proj / k_proj permuted by LlamaModel.permute (undo_permute = True, although the released models have no
//    rotary): un-permuted on read;
//  - block_sparse_moe.input_linear [E, 2I, H] split into ffn_gate_exps and ffn_up_exps, shared_mlp.input_linear into
//    ffn_gate_shexp / ffn_up_shexp (ffn_gate / ffn_up / ffn_down when num_local_experts is 0): read back fused;
//    router.layer → ffn_gate_inp, output_linear → ffn_down_exps / ffn_down_shexp, post_attention_layernorm → ffn_norm;
//  - metadata: the muP multipliers as attention.scale, embedding_scale, residual_scale, logit_scale; ssm.* (conv
//    kernel, state size, groups, inner size, heads as time_step_rank); head_count_kv per layer, 0 on Mamba layers;
//    RoPE switched by rope.scaling.finetuned, which llama.cpp's Granite reads as "use rope" (absent: true). The
//    converter writes it false whenever a layer is Mamba-2 (so a "rope" Granite-4.0-H config is not honoured by it);
//    this import reads the file as llama.cpp runs it.
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { GgufImport, Meta } from "./gguf.js";
import { agreed, hybridKvHeads, mamba2Rules, mapByRules, permutedRule, plainRope, requireGating, rowsOf, type LayerRule } from "./gguf-layout.js";

/** Gate rows then up rows (per expert), which the converter split into `gate` and its up twin. */
function fusedRule(g: GgufFile, hf: string, upOf: (gate: string) => string): LayerRule {
  return {
    custom: (t, P, add) => {
      const up = upOf(t.name);
      const u = g.has(up) ? g.ggufTensor(up) : undefined;
      if (!u || u.ne.join() !== t.ne.join()) throw new WeightFileError(g.file, `has no matching ${up} (the converter splits Granite's input_linear into a gate and an up tensor of one shape)`, t.name);
      const experts = t.ne.length === 3 ? t.ne[2]! : 1;
      const shape = t.ne.length === 3 ? [experts, 2 * t.ne[1]!, t.ne[0]!] : [2 * t.ne[1]!, t.ne[0]!];
      add(`${P}.${hf}`, { gguf: t.name, shape, rows: null, unpermuteHeads: null, fused: { up, rows: t.ne[1]!, experts } });
    },
  };
}

export function graniteHybridToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "granitehybrid";
  const notes: string[] = [];
  const layers = m.positiveInt(m.key("block_count"));
  const hidden = m.positiveInt(m.key("embedding_length"));
  const embd = g.has("token_embd.weight") ? g.ggufTensor("token_embd.weight") : undefined;
  if (!embd || embd.ne.length !== 2 || embd.ne[0] !== hidden) throw new WeightFileError(g.file, `tensor "token_embd.weight" is ${embd ? `[${embd.ne}] (ne)` : "missing"}; a model needs the token embedding with ne [${hidden}, vocab]`);
  const mamba = Array.from({ length: layers }, (_, i) => g.has(`blk.${i}.ssm_in.weight`));
  const attention = Array.from({ length: layers }, (_, i) => g.has(`blk.${i}.attn_q.weight`));
  const neither = mamba.flatMap((x, i) => (x === attention[i] ? [i] : []));
  if (neither.length) throw new WeightFileError(g.file, `layers ${neither.join(", ")} have ${mamba[neither[0]!] ? "both" : "neither"} a Mamba-2 mixer (blk.N.ssm_in.weight) and attention (blk.N.attn_q.weight); each Granite-4.0-H layer has one`);
  const heads = m.positiveInt(m.key("attention.head_count"));
  const kvHeads = attention.some(Boolean) ? hybridKvHeads(m, layers, attention) : heads;
  const experts = m.int(m.key("expert_count"), 0);
  if (experts < 0) m.fail(m.key("expert_count"), `must not be negative, got ${experts}`);
  requireGating(m, 1, arch);

  const config: JsonObject = {
    model_type: "granitemoehybrid", architectures: ["GraniteMoeHybridForCausalLM"],
    vocab_size: embd.ne[1]!, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kvHeads,
    rms_norm_eps: m.num(m.key("attention.layer_norm_rms_epsilon")), max_position_embeddings: m.positiveInt(m.key("context_length")),
    tie_word_embeddings: !g.has("output.weight"), layer_types: mamba.map((x) => (x ? "mamba" : "attention")),
  };
  for (const [hf, key] of [["bos_token_id", "tokenizer.ggml.bos_token_id"], ["eos_token_id", "tokenizer.ggml.eos_token_id"]] as const) {
    const v = m.optInt(key);
    if (v !== null) config[hf] = v;
  }
  // the muP multipliers: the converter writes only non-zero ones, and llama.cpp leaves an absent one at 1 (attention: see below)
  const scale = (key: string) => {
    const v = m.optNum(m.key(key));
    return v === null || v === 0 ? 1 : v;
  };
  Object.assign(config, { embedding_multiplier: scale("embedding_scale"), residual_multiplier: scale("residual_scale"), logits_scaling: scale("logit_scale") });
  if (attention.some(Boolean)) {
    // llama.cpp uses head_dim^-1/2 when attention.scale is absent; transformers' Granite uses attention_multiplier (default 1.0)
    const attentionScale = m.optNum(m.key("attention.scale"));
    if (attentionScale === null || attentionScale === 0) m.fail(m.key("attention.scale"), `is ${attentionScale === null ? "missing" : 0}: llama.cpp then scales by head_dim^-1/2, transformers' Granite by attention_multiplier (default 1.0), so the scale is ambiguous`);
    config.attention_multiplier = attentionScale;
    if (hidden % heads !== 0) m.fail(m.key("attention.head_count"), `is ${heads}, which does not divide embedding_length (${hidden}); Granite's head dim is hidden / heads`);
    const ropeDims = m.optInt(m.key("rope.dimension_count"));
    if (ropeDims !== null && ropeDims !== hidden / heads) m.fail(m.key("rope.dimension_count"), `is ${ropeDims}, not the head dim ${hidden / heads}; Granite rotates whole heads`);
    const useRope = m.optBool(m.key("rope.scaling.finetuned"));
    if (useRope === null) notes.push(`${m.key("rope.scaling.finetuned")} is absent: llama.cpp's Granite then rotates (RoPE), and so does this import`);
    config.position_embedding_type = useRope === false ? "nope" : "rope";
    if (useRope !== false) config.rope_parameters = plainRope(m, 10000, arch);
  }
  if (mamba.some(Boolean)) {
    const H = m.positiveInt(m.key("ssm.time_step_rank"));
    const inner = m.positiveInt(m.key("ssm.inner_size"));
    if (inner % H !== 0) m.fail(m.key("ssm.inner_size"), `is ${inner}, not a multiple of the ${H} Mamba-2 heads (ssm.time_step_rank)`);
    if (inner % hidden !== 0) m.fail(m.key("ssm.inner_size"), `is ${inner}, not a multiple of embedding_length (${hidden}); Granite-4.0-H's inner size is mamba_expand × hidden_size`);
    const first = mamba.indexOf(true);
    Object.assign(config, {
      mamba_n_heads: H, mamba_d_head: inner / H, mamba_expand: inner / hidden, mamba_n_groups: m.positiveInt(m.key("ssm.group_count")),
      mamba_d_state: m.positiveInt(m.key("ssm.state_size")), mamba_d_conv: m.positiveInt(m.key("ssm.conv_kernel")),
      mamba_conv_bias: g.has(`blk.${first}.ssm_conv1d.bias`), mamba_proj_bias: false,
    });
  }
  const sparse = Array.from({ length: layers }, (_, i) => g.has(`blk.${i}.ffn_gate_inp.weight`));
  if (experts > 0) {
    const dense = sparse.flatMap((s, i) => (s ? [] : [i]));
    if (dense.length) throw new WeightFileError(g.file, `layers ${dense.join(", ")} have no router (blk.N.ffn_gate_inp.weight), although ${m.key("expert_count")} is ${experts}; Granite-4.0-H has experts in every layer or in none`);
    const k = m.positiveInt(m.key("expert_used_count"));
    if (k > experts) m.fail(m.key("expert_used_count"), `is ${k}, more than the ${experts} experts`);
    if (m.optBool(m.key("expert_weights_norm")) === false) m.fail(m.key("expert_weights_norm"), "is false, but Granite's weights are a softmax over the chosen experts' logits");
    const ffnKey = m.key("feed_forward_length");
    const ffn = agreed(m, ffnKey, m.has(ffnKey) ? m.layerInt(ffnKey, layers) : null, rowsOf(g, "blk.0.ffn_gate_exps.weight"), "expert");
    const shared = agreed(m, m.key("expert_shared_feed_forward_length"), m.optInt(m.key("expert_shared_feed_forward_length")), rowsOf(g, "blk.0.ffn_gate_shexp.weight"), "shared expert");
    Object.assign(config, { num_local_experts: experts, num_experts_per_tok: k, intermediate_size: ffn, shared_intermediate_size: shared });
  } else {
    if (sparse.some(Boolean)) m.fail(m.key("expert_count"), `is ${m.has(m.key("expert_count")) ? 0 : "missing"}, but layer ${sparse.indexOf(true)} has a router (ffn_gate_inp)`);
    // GraniteMoeModel writes the shared MLP of a model without experts as ffn_gate / ffn_up / ffn_down
    const shared = agreed(m, m.key("expert_shared_feed_forward_length"), m.optInt(m.key("expert_shared_feed_forward_length")), rowsOf(g, "blk.0.ffn_gate.weight"), "shared MLP");
    Object.assign(config, { num_local_experts: 0, num_experts_per_tok: 0, shared_intermediate_size: shared });
  }

  const layer = (n: string) => /^blk\.(\d+)\./.exec(n)![1]!;
  const noop: LayerRule = { custom: () => {} }; // the up half, read with its gate
  const rules: Record<string, LayerRule> = {
    "attn_norm.weight": { hf: "input_layernorm.weight" },
    "ffn_norm.weight": { hf: "post_attention_layernorm.weight" },
    "attn_q.weight": permutedRule(g, "self_attn.q_proj.weight", heads),
    "attn_k.weight": permutedRule(g, "self_attn.k_proj.weight", kvHeads),
    "attn_v.weight": { hf: "self_attn.v_proj.weight" },
    "attn_output.weight": { hf: "self_attn.o_proj.weight" },
    ...mamba2Rules("mamba"),
    "ffn_gate_inp.weight": { hf: "block_sparse_moe.router.layer.weight" },
    "ffn_gate_exps.weight": fusedRule(g, "block_sparse_moe.input_linear.weight", (n) => `blk.${layer(n)}.ffn_up_exps.weight`),
    "ffn_up_exps.weight": noop,
    "ffn_down_exps.weight": { hf: "block_sparse_moe.output_linear.weight" },
    "ffn_gate_shexp.weight": fusedRule(g, "shared_mlp.input_linear.weight", (n) => `blk.${layer(n)}.ffn_up_shexp.weight`),
    "ffn_up_shexp.weight": noop,
    "ffn_down_shexp.weight": { hf: "shared_mlp.output_linear.weight" },
    "ffn_gate.weight": fusedRule(g, "shared_mlp.input_linear.weight", (n) => `blk.${layer(n)}.ffn_up.weight`),
    "ffn_up.weight": noop,
    "ffn_down.weight": { hf: "shared_mlp.output_linear.weight" },
  };
  return { config, family: "granitemoehybrid", arch, notes, entries: mapByRules(g, arch, rules) };
}
