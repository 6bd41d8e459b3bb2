// Jamba (jamba: AI21's Jamba, Jamba-1.5, Jamba2): every layer is a mixer — a Mamba-1 layer or attention without
// positional encoding — behind an RMSNorm, then a feed-forward — a SwiGLU MLP or a mixture of SwiGLU experts
// (softmax over the router logits, top-k, not renormalised) — behind another. Which layers attend and which are
// sparse follow attn_layer_period / _offset and expert_layer_period / _offset. Semantics: transformers 5.17's
// modeling_jamba.py (JambaMambaMixer's PyTorch path). The layers do not fit emit.ts's one-attention-one-FFN layer
// (the mixer differs per layer), so this family writes its program itself, as granite-hybrid.ts does.
import type { ConfigReader } from "../config.js";
import { show } from "../config.js";
import { fmtNum } from "../emit.js";
import { dims, kvHeads, topK, unusedNote, type Family, type ProgramBody } from "./common.js";

/** A layer pattern: layer i has the kind when i % period == offset (JambaConfig's layers_block_type / layers_num_experts). */
function pattern(r: ConfigReader, layers: number, period: string, offset: string, dflt: [number, number]): { on: boolean[]; period: number; offset: number } {
  const p = r.positiveInt(period, dflt[0]);
  const o = r.int(offset, dflt[1]);
  if (o < 0 || o >= p) r.fail(offset, `is ${o}; it must be between 0 and ${period} − 1 (${p - 1}), or no layer would have the kind (JambaConfig checks it)`);
  return { on: Array.from({ length: layers }, (_, i) => i % p === o), period: p, offset: o };
}

export const jamba: Family = {
  modelType: "jamba",
  architectures: ["JambaForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_act",
    "rms_norm_eps", "tie_word_embeddings", "sliding_window", "max_position_embeddings", "num_experts", "num_experts_per_tok",
    "attn_layer_period", "attn_layer_offset", "expert_layer_period", "expert_layer_offset",
    "mamba_d_state", "mamba_d_conv", "mamba_expand", "mamba_dt_rank", "mamba_conv_bias", "mamba_proj_bias",
    // read by nothing in transformers 5.17's float32 forward (kernel choice, the scan's evaluation order, logits kept)
    "use_mamba_kernels", "use_mambapy", "use_associative_scan", "num_logits_to_keep",
  ],
  build(r, notes): ProgramBody {
    const d = dims(r, { vocab: 65536, hidden: 4096, layers: 32, heads: 32, eps: 1e-6 });
    const attnPattern = pattern(r, d.layers, "attn_layer_period", "attn_layer_offset", [8, 4]);
    const attn = attnPattern.on;
    const experts = r.positiveInt("num_experts", 16);
    // JambaConfig.layers_num_experts: num_experts on the pattern's layers, 1 (a plain MLP) elsewhere
    const sparsePattern = experts > 1 ? pattern(r, d.layers, "expert_layer_period", "expert_layer_offset", [2, 1]) : null;
    const sparse: boolean[] = sparsePattern?.on ?? Array(d.layers).fill(false);
    if (experts === 1) for (const k of ["expert_layer_period", "expert_layer_offset", "num_experts_per_tok"]) unusedNote(r, k, "num_experts is 1: every feed-forward is a plain MLP", notes);
    const hasMamba = attn.some((a) => !a);
    const hasAttention = attn.some(Boolean);
    const hasSparse = sparse.some(Boolean);
    const hasDense = sparse.some((s) => !s);
    // The SiLU of the MLPs and experts (act(gate)·up) and of the Mamba conv and gate: the language's mamba is SiLU only.
    r.oneOf("hidden_act", ["silu", "swish"], "silu", "transformers' jamba applies hidden_act in the MLPs and in the Mamba-1 mixer (conv output and gate), which moec's mamba op expresses with SiLU only");
    if (r.given("sliding_window")) r.fail("sliding_window", `is ${show(r.raw("sliding_window"))}; sliding-window attention is not supported for jamba by this import (every released Jamba has null)`);
    unusedNote(r, "use_mamba_kernels", "the choice of the CUDA kernels; the PyTorch path computes the same scan", notes);
    unusedNote(r, "use_associative_scan", "the order in which transformers evaluates the scan, equal to the token-by-token scan up to rounding", notes);
    const ffn = r.positiveInt("intermediate_size", 14336);
    const consts = [`  const vocab = ${fmtNum(d.vocab)}, d = ${fmtNum(d.hidden)}, layers = ${fmtNum(d.layers)}, eps = ${fmtNum(d.eps)}, ffn = ${fmtNum(ffn)}`];
    let mambaCall = "";
    if (hasMamba) {
      const expand = r.positiveInt("mamba_expand", 2);
      const N = r.positiveInt("mamba_d_state", 16);
      const K = r.positiveInt("mamba_d_conv", 4);
      // mamba_dt_rank "auto" (the default): ceil(hidden_size / 16)
      const R = !r.has("mamba_dt_rank") || r.raw("mamba_dt_rank") === "auto" ? Math.ceil(d.hidden / 16) : r.positiveInt("mamba_dt_rank");
      const convBias = r.bool("mamba_conv_bias", true);
      const projBias = r.bool("mamba_proj_bias", false);
      consts.push(`  const mamba_inner = ${fmtNum(expand * d.hidden)}, ssm_state = ${fmtNum(N)}, dt_rank = ${fmtNum(R)}, mamba_conv = ${fmtNum(K)}`);
      mambaCall = `mamba(a, inner = mamba_inner, state_dim = ssm_state, dt_rank = dt_rank, conv_kernel = mamba_conv${convBias ? "" : ", conv_bias = false"}${projBias ? ", proj_bias = true" : ""}, norm_eps = eps)`;
    } else for (const k of ["mamba_d_state", "mamba_dt_rank", "mamba_expand"]) unusedNote(r, k, "no layer is Mamba", notes);
    let attentionCall = "";
    if (hasAttention) {
      const kv = kvHeads(r, d.heads, 8);
      if (d.hidden % d.heads !== 0) r.fail("num_attention_heads", `is ${d.heads}, which does not divide hidden_size (${d.hidden}); transformers' head_dim is hidden_size / num_attention_heads`);
      consts.push(`  const heads = ${fmtNum(d.heads)}, kv_heads = ${fmtNum(kv)}`);
      unusedNote(r, "max_position_embeddings", "the attention has no positional encoding", notes);
      attentionCall = "attention(a, heads, kv_heads)"; // no positional encoding; scale 1/sqrt(hidden_size / heads)
    }
    const routing: string[] = [];
    if (hasSparse) {
      const k = topK(r, experts, 2);
      consts.push(`  const experts = ${fmtNum(experts)}, top_k = ${fmtNum(k)}`);
      routing.push("", "  // router: softmax over all the router logits, then the top k, not renormalised", "  const routing = topk(k = top_k, scoring = \"softmax\", renormalize = false) @ \"router\"");
    }
    const tied = r.bool("tie_word_embeddings", false);
    const lines: string[] = ["model Jamba {", ...consts, ...routing, "",
      "  expert SwiGLU(x: [T, d], ffn: int) -> [T, d] {",
      "    gate = linear(x, ffn) @ \"gate_proj\"",
      "    up = linear(x, ffn) @ \"up_proj\"",
      "    return linear(silu(gate) * up, d) @ \"down_proj\"",
      "  }", ""];
    const flags = [...(hasMamba && hasAttention ? ["mamba: bool"] : []), ...(hasSparse && hasDense ? ["sparse: bool"] : [])];
    lines.push(`  block Layer(${["h: [seq, d]", ...flags].join(", ")}) -> [seq, d] {`, "    a = rmsnorm(h, eps) @ \"input_layernorm\"");
    const mixer = (call: string, name: string, indent: string) => `${indent}h = h + ${call} @ "${name}"`;
    if (hasMamba && hasAttention) lines.push("    if mamba {", mixer(mambaCall, "mamba", "      "), "    } else {", mixer(attentionCall, "self_attn", "      "), "    }");
    else lines.push(hasMamba ? mixer(mambaCall, "mamba", "    ") : mixer(attentionCall, "self_attn", "    "));
    lines.push("    m = rmsnorm(h, eps) @ \"pre_ff_layernorm\"");
    const moeCall = "moe(m, experts = experts of SwiGLU(ffn = ffn) @ \"experts.{e}\", router = routing) @ \"feed_forward\"";
    const mlpCall = "SwiGLU(m, ffn = ffn) @ \"feed_forward\"";
    if (hasSparse && hasDense) lines.push("    if sparse {", `      h = h + ${moeCall}`, "    } else {", `      h = h + ${mlpCall}`, "    }");
    else lines.push(`    h = h + ${hasSparse ? moeCall : mlpCall}`);
    // the flags as the config states them (period and offset), not a shorter pattern that fits these layers only
    const args = [
      "h",
      ...(hasMamba && hasAttention ? [`mamba = i % ${attnPattern.period} != ${attnPattern.offset}`] : []),
      ...(hasSparse && hasDense ? [`sparse = i % ${sparsePattern!.period} == ${sparsePattern!.offset}`] : []),
    ];
    lines.push("    return h", "  }", "", "  input tokens: i32[seq]", "  h = embed(tokens, vocab, d) @ \"model.embed_tokens\"", "  for i in 0..layers {", `    h = Layer(${args.join(", ")}) @ "model.layers.{i}"`, "  }");
    lines.push("  h = rmsnorm(h, eps) @ \"model.final_layernorm\"");
    if (tied) lines.push("  // tie_word_embeddings: the output head is the embedding matrix");
    lines.push(`  output logits = linear(h, vocab) @ "${tied ? "model.embed_tokens" : "lm_head"}"`, "}");
    return { kind: "program", lines };
  },
};
