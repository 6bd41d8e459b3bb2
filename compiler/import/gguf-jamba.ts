// GGUF "jamba" files (llama.cpp's JambaModel converter: AI21's Jamba, Jamba-1.5, Jamba2) read back into the Hugging
// Face jamba config and tensors.
//
// What the converter does that must be undone:
//  - the Mamba-1 mixers: A_log written as −exp(A_log) (ssm_a, ne [state, inner]: read back as log(−x)), conv1d
//    squeezed ([C, 1, K] → ne [K, C], the same bytes), x_proj → ssm_x, dt_proj → ssm_dt (weight and bias), the
//    dt / B / C RMSNorms → ssm_dt_norm / ssm_b_norm / ssm_c_norm, in_proj / out_proj → ssm_in / ssm_out;
//  - the experts stacked per layer (ffn_{gate,up,down}_exps); on the layers the expert pattern leaves dense, the
//    single expert.0 (Mini-Jamba) or the plain MLP written as ffn_gate / ffn_up / ffn_down; pre_ff_layernorm → ffn_norm,
//    router → ffn_gate_inp, final_layernorm → output_norm;
//  - metadata: no positional encoding (no rope keys); head_count_kv per layer, 0 on Mamba layers (the layer kinds
//    are read from the tensors, as llama.cpp does, and stated back as attn_layer_period / _offset); ssm.* (conv
//    kernel, inner size, state size, time_step_rank as mamba_dt_rank). The periods and offsets are not in the file:
//    the shortest pattern that reproduces the layers is written, which gives the same program as the original.
import type { GgufFile, GgufTensorInfo } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { GgufImport, Meta } from "./gguf.js";
import { hybridKvHeads, mapByRules, rowsOf, agreed, requireGating, type LayerRule } from "./gguf-layout.js";

/** The shortest period / offset with on[i] ⇔ i % period == offset (JambaConfig's layer patterns), or null. */
function patternOf(on: readonly boolean[]): { period: number; offset: number } | null {
  for (let period = 1; period <= on.length; period++) {
    for (let offset = 0; offset < period; offset++) if (on.every((x, i) => x === (i % period === offset))) return { period, offset };
  }
  return null;
}

const at = (on: readonly boolean[], want: boolean) => on.flatMap((x, i) => (x === want ? [i] : []));

export function jambaToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "jamba";
  const notes: string[] = [];
  const layers = m.positiveInt(m.key("block_count"));
  const hidden = m.positiveInt(m.key("embedding_length"));
  const embd = g.has("token_embd.weight") ? g.ggufTensor("token_embd.weight") : undefined;
  if (!embd || embd.ne.length !== 2 || embd.ne[0] !== hidden) throw new WeightFileError(g.file, `tensor "token_embd.weight" is ${embd ? `[${embd.ne}] (ne)` : "missing"}; a model needs the token embedding with ne [${hidden}, vocab]`);
  const mamba = Array.from({ length: layers }, (_, i) => g.has(`blk.${i}.ssm_in.weight`));
  const attention = Array.from({ length: layers }, (_, i) => g.has(`blk.${i}.attn_q.weight`));
  const neither = mamba.flatMap((x, i) => (x === attention[i] ? [i] : []));
  if (neither.length) throw new WeightFileError(g.file, `layers ${neither.join(", ")} have ${mamba[neither[0]!] ? "both" : "neither"} a Mamba mixer (blk.N.ssm_in.weight) and attention (blk.N.attn_q.weight); each Jamba layer has one`);
  const heads = m.positiveInt(m.key("attention.head_count"));
  const kvHeads = attention.some(Boolean) ? hybridKvHeads(m, layers, attention) : heads;
  requireGating(m, 1, arch);

  const config: JsonObject = {
    model_type: "jamba", architectures: ["JambaForCausalLM"],
    vocab_size: embd.ne[1]!, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kvHeads,
    hidden_act: "silu", rms_norm_eps: m.num(m.key("attention.layer_norm_rms_epsilon")), max_position_embeddings: m.positiveInt(m.key("context_length")),
    tie_word_embeddings: !g.has("output.weight"), sliding_window: null,
  };
  for (const [hf, key] of [["bos_token_id", "tokenizer.ggml.bos_token_id"], ["eos_token_id", "tokenizer.ggml.eos_token_id"]] as const) {
    const v = m.optInt(key);
    if (v !== null) config[hf] = v;
  }
  for (const k of ["rope.freq_base", "rope.dimension_count"]) if (m.has(m.key(k))) m.fail(m.key(k), "is set, but Jamba's attention has no positional encoding (llama.cpp's jamba applies none)");
  // attention at i % period == offset; all-Mamba and all-attention files are stated as a pattern no layer / every layer fits
  const attnPattern = attention.every(Boolean) ? { period: 1, offset: 0 } : attention.some(Boolean) ? patternOf(attention) : { period: layers + 1, offset: layers };
  if (!attnPattern) throw new WeightFileError(g.file, `has attention (blk.N.attn_q.weight) in layers ${at(attention, true).join(", ")}, which no period and offset give (JambaConfig places attention at layer i when i % attn_layer_period == attn_layer_offset)`);
  Object.assign(config, { attn_layer_period: attnPattern.period, attn_layer_offset: attnPattern.offset });

  const ffnKey = m.key("feed_forward_length");
  const sparse = Array.from({ length: layers }, (_, i) => g.has(`blk.${i}.ffn_gate_inp.weight`));
  const experts = m.positiveInt(m.key("expert_count"));
  if (experts > 1 && sparse.some(Boolean)) {
    const k = m.positiveInt(m.key("expert_used_count"));
    if (k > experts) m.fail(m.key("expert_used_count"), `is ${k}, more than the ${experts} experts`);
    const sparsePattern = patternOf(sparse);
    if (!sparsePattern) throw new WeightFileError(g.file, `has routers (blk.N.ffn_gate_inp.weight) in layers ${at(sparse, true).join(", ")}, which no period and offset give (JambaConfig's expert_layer_period / _offset)`);
    const first = sparse.indexOf(true);
    const router = g.ggufTensor(`blk.${first}.ffn_gate_inp.weight`);
    if (router.ne[1] !== experts) throw new WeightFileError(g.file, `has ne [${router.ne}], ${router.ne[1]} experts, but ${m.key("expert_count")} is ${experts}`, router.name);
    Object.assign(config, {
      num_experts: experts, num_experts_per_tok: k, expert_layer_period: sparsePattern.period, expert_layer_offset: sparsePattern.offset,
      intermediate_size: agreed(m, ffnKey, m.optInt(ffnKey), rowsOf(g, `blk.${first}.ffn_gate_exps.weight`), "expert"),
    });
  } else {
    if (sparse.some(Boolean)) m.fail(m.key("expert_count"), `is ${experts}, but layer ${sparse.indexOf(true)} has a router (ffn_gate_inp)`);
    // num_experts 1: every feed-forward a plain MLP (expert_layer_period and _offset then unread)
    Object.assign(config, { num_experts: 1, intermediate_size: agreed(m, ffnKey, m.optInt(ffnKey), rowsOf(g, "blk.0.ffn_gate.weight"), "MLP") });
  }
  if (experts > 1) {
    const dense = at(sparse, false).find((i) => !g.has(`blk.${i}.ffn_gate.weight`));
    if (dense !== undefined) throw new WeightFileError(g.file, `layer ${dense} has neither a router (blk.${dense}.ffn_gate_inp.weight) nor an MLP (blk.${dense}.ffn_gate.weight)`);
  }

  if (mamba.some(Boolean)) {
    const first = mamba.indexOf(true);
    const inner = m.positiveInt(m.key("ssm.inner_size"));
    if (inner % hidden !== 0) m.fail(m.key("ssm.inner_size"), `is ${inner}, not a multiple of embedding_length (${hidden}); Jamba's inner size is mamba_expand × hidden_size`);
    const state = m.positiveInt(m.key("ssm.state_size"));
    const a = g.ggufTensor(`blk.${first}.ssm_a`);
    if (a.ne.join() !== `${state},${inner}`) throw new WeightFileError(g.file, `has ne [${a.ne}], but Mamba-1's A is [state, inner] = [${state}, ${inner}] (ssm.state_size, ssm.inner_size)`, a.name);
    Object.assign(config, {
      mamba_expand: inner / hidden, mamba_d_state: state, mamba_d_conv: m.positiveInt(m.key("ssm.conv_kernel")),
      mamba_dt_rank: m.positiveInt(m.key("ssm.time_step_rank")),
      mamba_conv_bias: g.has(`blk.${first}.ssm_conv1d.bias`), mamba_proj_bias: g.has(`blk.${first}.ssm_in.bias`),
    });
  }

  const reversed = (t: GgufTensorInfo) => [...t.ne].reverse();
  const rules: Record<string, LayerRule> = {
    "attn_norm.weight": { hf: "input_layernorm.weight" },
    "ffn_norm.weight": { hf: "pre_ff_layernorm.weight" },
    ...Object.fromEntries(["q", "k", "v", "output"].map((p) => [`attn_${p}.weight`, { hf: `self_attn.${p === "output" ? "o" : p}_proj.weight` }])),
    "ssm_in.weight": { hf: "mamba.in_proj.weight" },
    "ssm_in.bias": { hf: "mamba.in_proj.bias" },
    "ssm_conv1d.weight": { hf: "mamba.conv1d.weight", shape: (t) => [t.ne[1]!, 1, t.ne[0]!] },
    "ssm_conv1d.bias": { hf: "mamba.conv1d.bias" },
    "ssm_x.weight": { hf: "mamba.x_proj.weight" },
    "ssm_dt.weight": { hf: "mamba.dt_proj.weight" },
    "ssm_dt.bias": { hf: "mamba.dt_proj.bias" },
    "ssm_dt_norm.weight": { hf: "mamba.dt_layernorm.weight" },
    "ssm_b_norm.weight": { hf: "mamba.b_layernorm.weight" },
    "ssm_c_norm.weight": { hf: "mamba.c_layernorm.weight" },
    "ssm_a": {
      custom: (t, P, add) => add(`${P}.mamba.A_log`, { gguf: t.name, shape: reversed(t), rows: null, unpermuteHeads: null, derive: { from: [t.name], make: ([x]) => x!.map((v) => Math.log(-v)) } }),
    },
    "ssm_d": { hf: "mamba.D" },
    "ssm_out.weight": { hf: "mamba.out_proj.weight" },
    "ssm_out.bias": { hf: "mamba.out_proj.bias" },
    "ffn_gate_inp.weight": { hf: "feed_forward.router.weight" },
    ...Object.fromEntries(["gate", "up", "down"].flatMap((p) => [
      [`ffn_${p}_exps.weight`, { experts: "feed_forward.experts", proj: `${p}_proj` }],
      [`ffn_${p}.weight`, { hf: `feed_forward.${p}_proj.weight` }],
    ])),
  };
  return { config, family: "jamba", arch, notes, entries: mapByRules(g, arch, rules, { global: { "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.final_layernorm.weight", "output.weight": "lm_head.weight" } }) };
}
