// Granite-4.0-H (granitemoehybrid): every layer is a mixer — a Mamba-2 layer (Bamba's) or attention — behind an
// RMSNorm, then a feed-forward of routed experts plus a shared MLP (or the shared MLP alone, with
// num_local_experts 0) behind another, with Granite's muP multipliers: the embedding, every residual branch and
// the logits scaled, the attention's softmax scale attention_multiplier. Attention has RoPE only with
// position_embedding_type "rope" (the released models say "nope"). Semantics: transformers 5.17's
// modeling_granitemoehybrid.py. The layers do not fit emit.ts's one-attention-one-FFN layer (the mixer differs per
// layer), so this family writes its program itself, as nemotron-h.ts does.
import type { ConfigReader } from "../config.js";
import { show } from "../config.js";
import { fmtNum, layerCondition, ropeLines } from "../emit.js";
import { readRope, ROPE_KEYS } from "../rope.js";
import { dims, fixedValue, kvHeads, topK, unusedNote, type Family, type ProgramBody } from "./common.js";

/** A muP multiplier: any non-zero number (0 would zero the model). */
function multiplier(r: ConfigReader, key: string): number {
  const v = r.num(key, 1);
  if (v === 0) r.fail(key, "is 0, which would zero the model");
  return v;
}

/** Layer type names: transformers 5.17 writes "linear_attention" / "full_attention"; released configs say "mamba" / "attention". */
const IS_MAMBA: Record<string, boolean> = { mamba: true, linear_attention: true, attention: false, full_attention: false };

/** Which layers are Mamba-2: layer_types (alias layers_block_type); absent, every layer is (the class default). */
function mambaLayers(r: ConfigReader, layers: number): boolean[] {
  const key = r.alias(["layer_types", "layers_block_type"]);
  if (key === null) return Array(layers).fill(true);
  const types = r.strList(key);
  if (types.length !== layers) r.fail(key, `has ${types.length} entries for ${layers} layers (num_hidden_layers)`);
  return types.map((t) => IS_MAMBA[t] ?? r.fail(key, `contains ${show(t)}; the layer types are "mamba" / "linear_attention" (Mamba-2) and "attention" / "full_attention"`));
}

/** A float as transformers 5.17 writes it into config.json: a number, or {"__float__": "Infinity"} for ±inf and nan. */
function jsonFloat(v: unknown): number | null {
  if (typeof v === "number") return v;
  if (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 1) {
    const s = (v as Record<string, unknown>)["__float__"];
    if (s === "Infinity") return Infinity;
    if (s === "-Infinity") return -Infinity;
  }
  return null;
}

/**
 * time_step_limit (default (0, inf)): the mixer clamps softplus(dt + dt_bias) to it. The lower bound is mamba2's dt_min;
 * an upper bound the op cannot express.
 */
function timeStepFloor(r: ConfigReader): number {
  if (!r.given("time_step_limit")) return 0;
  const v = r.raw("time_step_limit");
  const [lo, hi] = Array.isArray(v) && v.length === 2 ? v.map(jsonFloat) : [null, null];
  if (lo === null || hi === null || !(lo >= 0) || !(hi > lo)) r.fail("time_step_limit", `must be [low, high] with 0 ≤ low < high, got ${show(v)}`);
  if (hi !== Infinity) r.fail("time_step_limit", `is ${show(v)}; moec's mamba2 clamps the time step from below only (dt_min), so the upper bound must be infinity`);
  return lo;
}

export const graniteMoeHybrid: Family = {
  modelType: "granitemoehybrid",
  architectures: ["GraniteMoeHybridForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_act",
    "rms_norm_eps", "attention_bias", "embedding_multiplier", "logits_scaling", "residual_multiplier", "attention_multiplier",
    "num_local_experts", "num_experts_per_tok", "shared_intermediate_size", "tie_word_embeddings", "position_embedding_type",
    "layer_types", "layers_block_type", "mamba_n_heads", "mamba_n_groups", "mamba_d_state", "mamba_d_head", "mamba_d_conv", "mamba_expand",
    "mamba_conv_bias", "mamba_proj_bias", "mamba_chunk_size", "time_step_limit", ...ROPE_KEYS,
    // in IBM's published configs; transformers 5.17's class reads none of them
    "mlp_bias", "normalization_function", "init_method",
  ],
  build(r, notes): ProgramBody {
    const d = dims(r, { vocab: 32000, hidden: 4096, layers: 32, heads: 32, eps: 1e-6 });
    const mamba = mambaLayers(r, d.layers);
    const hasMamba = mamba.some(Boolean);
    const hasAttention = mamba.some((m) => !m);
    // The SiLU of the fused gate/up split (experts and shared MLP) and of the Mamba-2 conv: the language's swiglu
    // and mamba2 are SiLU only.
    r.oneOf("hidden_act", ["silu", "swish"], "silu", "the granitemoehybrid MLPs split their fused input_linear into gate and up and the Mamba-2 conv applies hidden_act, which moec expresses with SiLU only");
    fixedValue(r, "mlp_bias", false, "transformers' granitemoehybrid MLPs have no biases (it does not read mlp_bias)");
    fixedValue(r, "normalization_function", "rmsnorm", "transformers' granitemoehybrid normalises with RMSNorm (it does not read normalization_function)");
    unusedNote(r, "init_method", "initialisation only", notes);
    unusedNote(r, "mamba_chunk_size", "the chunk length of transformers' prefill scan, equal to the token-by-token scan up to rounding", notes);
    const scales = { embedding: multiplier(r, "embedding_multiplier"), residual: multiplier(r, "residual_multiplier"), logits: multiplier(r, "logits_scaling") };
    const consts = [
      `  const vocab = ${fmtNum(d.vocab)}, d = ${fmtNum(d.hidden)}, layers = ${fmtNum(d.layers)}, eps = ${fmtNum(d.eps)}`,
      `  const embedding_scale = ${fmtNum(scales.embedding)}, residual_scale = ${fmtNum(scales.residual)}, logits_scale = ${fmtNum(scales.logits)}`,
    ];
    const ropeLinesOut: string[] = [];
    let mambaCall = "";
    if (hasMamba) {
      const H = r.positiveInt("mamba_n_heads", 128);
      const expand = r.positiveInt("mamba_expand", 2);
      const inner = expand * d.hidden;
      if (inner % H !== 0) r.fail("mamba_n_heads", `is ${H}, which does not divide mamba_expand × hidden_size (${inner})`);
      const P = r.given("mamba_d_head") && r.raw("mamba_d_head") !== "auto" ? r.positiveInt("mamba_d_head") : inner / H;
      if (P * H !== inner) r.fail("mamba_d_head", `is ${P}: ${H} heads of ${P} are not mamba_expand × hidden_size (${inner}), which transformers requires`);
      const G = r.positiveInt("mamba_n_groups", 1);
      // Bamba's gated RMSNorm (GraniteMoeHybridRMSNormGated) normalises all H·P channels together whatever the groups,
      // while the language's mamba2 normalises each group's channels: the two agree for one group only.
      if (G !== 1) r.fail("mamba_n_groups", `is ${G}; transformers' granitemoehybrid normalises the whole ${inner}-wide Mamba-2 output in one RMSNorm, while moec's mamba2 normalises per group (Nemotron-H's), so only 1 group (every released Granite-4.0-H) is supported`);
      fixedValue(r, "mamba_proj_bias", false, "the Mamba-2 in_proj / out_proj biases are not supported by moec's mamba2");
      const bias = r.bool("mamba_conv_bias", true);
      consts.push(`  const mamba_heads = ${fmtNum(H)}, mamba_head_dim = ${fmtNum(P)}, ssm_state = ${fmtNum(r.positiveInt("mamba_d_state", 256))}, mamba_conv = ${fmtNum(r.positiveInt("mamba_d_conv", 4))}`);
      // the mixer clamps softplus(dt + dt_bias) to time_step_limit, (0, inf) by default: no clamp at all
      const floor = timeStepFloor(r);
      if (floor > 0) consts.push(`  const dt_min = ${fmtNum(floor)}`);
      mambaCall = `mamba2(a, heads = mamba_heads, head_dim = mamba_head_dim, state_dim = ssm_state, conv_kernel = mamba_conv${bias ? "" : ", conv_bias = false"}${floor > 0 ? ", dt_min = dt_min" : ""}, norm_eps = eps)`;
    } else for (const k of ["mamba_n_heads", "mamba_d_state", "mamba_n_groups"]) unusedNote(r, k, "no layer is Mamba-2", notes);
    let attentionCall = "";
    const ropeKind = r.given("position_embedding_type") ? r.oneOf("position_embedding_type", ["rope", "nope"], undefined, "transformers' granitemoehybrid rotates with \"rope\" and has no positional encoding otherwise") : "nope";
    if (hasAttention) {
      const kv = kvHeads(r, d.heads, null);
      if (d.hidden % d.heads !== 0) r.fail("num_attention_heads", `is ${d.heads}, which does not divide hidden_size (${d.hidden}); transformers' head_dim is hidden_size / num_attention_heads`);
      const bias = r.bool("attention_bias", false);
      // GraniteMoeHybridAttention: self.scaling = attention_multiplier (default 1.0, not head_dim^-1/2)
      if (!r.given("attention_multiplier")) notes.push("attention_multiplier is absent: transformers' default 1.0 is the softmax scale (not head_dim^-1/2)");
      consts.push(`  const heads = ${fmtNum(d.heads)}, kv_heads = ${fmtNum(kv)}, attention_scale = ${fmtNum(r.num("attention_multiplier", 1))}`);
      const args = ["a", "heads", "kv_heads"];
      if (ropeKind === "rope") {
        ropeLinesOut.push("", ...ropeLines(readRope(r, { defaultTheta: 10000, rotaryDim: d.hidden / d.heads, style: "half", allowPartial: true, phimoe: false }, notes)));
      } else for (const k of ["rope_theta", "rope_scaling", "rope_parameters"]) unusedNote(r, k, `position_embedding_type is ${show(ropeKind)}: the attention has no positional encoding`, notes);
      if (ropeKind === "rope") args.push("rope = pos");
      if (bias) args.push("bias = true", "out_bias = true");
      args.push("scale = attention_scale");
      attentionCall = `attention(${args.join(", ")})`;
    } else unusedNote(r, "position_embedding_type", "no layer is attention", notes);
    const experts = r.int("num_local_experts", 8);
    if (experts < 0) r.fail("num_local_experts", `must not be negative, got ${experts}`);
    const shared = r.positiveInt("shared_intermediate_size", 1024);
    const lines: string[] = [];
    let routing: string[] = [];
    if (experts > 0) {
      const k = topK(r, experts, 2);
      consts.push(`  const experts = ${fmtNum(experts)}, top_k = ${fmtNum(k)}, expert_ffn = ${fmtNum(r.positiveInt("intermediate_size", 11008))}, shared_ffn = ${fmtNum(shared)}`);
      routing = ["", "  // router: a linear router (router.layer); top-k of the logits, softmax over the chosen k", "  const routing = topk(k = top_k, scoring = \"softmax_topk\") @ \"router.layer\""];
    } else {
      // GraniteMoeHybridDecoderLayer: with no experts the feed-forward is the shared MLP alone
      notes.push("num_local_experts is 0: every layer's feed-forward is the shared MLP alone");
      unusedNote(r, "intermediate_size", "no layer has routed experts (num_local_experts 0)", notes);
      consts.push(`  const shared_ffn = ${fmtNum(shared)}`);
    }
    const tied = r.bool("tie_word_embeddings", false);
    lines.push("model GraniteMoeHybrid {", ...consts, ...ropeLinesOut, ...routing, "",
      "  // gate and up in one projection (gate first, then up), as the checkpoint stores them",
      "  expert FusedSwiGLU(x: [T, d], ffn: int) -> [T, d] {",
      "    return linear(swiglu(linear(x, 2 * ffn) @ \"input_linear\"), d) @ \"output_linear\"",
      "  }", "");
    const mixer = (call: string, name: string, indent: string) => `${indent}h = h + ${call} @ "${name}" * residual_scale`;
    lines.push(`  block Layer(h: [seq, d]${hasMamba && hasAttention ? ", mamba: bool" : ""}) -> [seq, d] {`, "    a = rmsnorm(h, eps) @ \"input_layernorm\"");
    if (hasMamba && hasAttention) lines.push("    if mamba {", mixer(mambaCall, "mamba", "      "), "    } else {", mixer(attentionCall, "self_attn", "      "), "    }");
    else lines.push(hasMamba ? mixer(mambaCall, "mamba", "    ") : mixer(attentionCall, "self_attn", "    "));
    lines.push("    m = rmsnorm(h, eps) @ \"post_attention_layernorm\"");
    if (experts > 0) {
      lines.push(
        "    y = moe(m, experts = experts of FusedSwiGLU(ffn = expert_ffn) @ \"\", router = routing) @ \"block_sparse_moe\"",
        "    h = h + (y + FusedSwiGLU(m, ffn = shared_ffn) @ \"shared_mlp\") * residual_scale",
      );
    } else lines.push("    h = h + FusedSwiGLU(m, ffn = shared_ffn) @ \"shared_mlp\" * residual_scale");
    lines.push("    return h", "  }", "", "  input tokens: i32[seq]", "  h = embed(tokens, vocab, d) @ \"model.embed_tokens\" * embedding_scale", "  for i in 0..layers {");
    lines.push(hasMamba && hasAttention ? `    h = Layer(h, mamba = ${layerCondition(mamba)}) @ "model.layers.{i}"` : "    h = Layer(h) @ \"model.layers.{i}\"", "  }", "  h = rmsnorm(h, eps) @ \"model.norm\"");
    if (tied) lines.push("  // tie_word_embeddings: the output head is the embedding matrix");
    lines.push(`  output logits = linear(h, vocab) @ "${tied ? "model.embed_tokens" : "lm_head"}" / logits_scale`, "}");
    return { kind: "program", lines };
  },
};
