// Nemotron-H (nemotron_h: Nemotron-H, Nemotron-3 Nano): a stack of blocks, each one RMSNorm and one mixer with a
// residual around it, the mixer a Mamba-2 layer, attention without positional encoding, a non-gated ReLU² MLP or a
// mixture of ReLU² experts (DeepSeek-V3's sigmoid router, plus a shared expert). Semantics: transformers 5.17's
// modeling_nemotron_h.py; checkpoint names backbone.* as released (transformers renames them to model.* on load).
// The blocks do not fit emit.ts's one-attention-one-FFN layer, so this family writes its program itself.
import { show, type ConfigReader } from "../config.js";
import { fmtNum, layerCondition } from "../emit.js";
import { FP8_BLOCKS, fixedValue, quantization, unusedNote, type Family, type ProgramBody } from "./common.js";

const KIND: Record<string, "mamba" | "attention" | "mlp" | "moe"> = {
  linear_attention: "mamba", mamba: "mamba", full_attention: "attention", attention: "attention", mlp: "mlp", moe: "moe",
};
const PATTERN: Record<string, "mamba" | "attention" | "mlp" | "moe"> = { M: "mamba", "*": "attention", "-": "mlp", E: "moe" };

/** The layer kinds: layers_block_type / layer_types (legacy names remapped), else hybrid_override_pattern, else the class default. */
function layerKinds(r: ConfigReader, notes: string[]): ("mamba" | "attention" | "mlp" | "moe")[] {
  const listKey = r.alias(["layers_block_type", "layer_types"]);
  let kinds: ("mamba" | "attention" | "mlp" | "moe")[];
  if (listKey !== null) {
    kinds = r.strList(listKey).map((t) => KIND[t] ?? r.fail(listKey, `contains ${show(t)}; the layer types are "linear_attention" (Mamba-2), "full_attention", "mlp" and "moe"`));
  } else if (r.given("hybrid_override_pattern")) {
    const p = r.str("hybrid_override_pattern");
    kinds = [...p].map((ch) => PATTERN[ch] ?? r.fail("hybrid_override_pattern", `contains ${show(ch)}; the pattern's letters are M (Mamba-2), * (attention), - (MLP) and E (MoE)`));
  } else kinds = ["mamba", "moe", "attention", "mlp"];
  if (kinds.length === 0) r.fail(listKey ?? "hybrid_override_pattern", "lists no layers");
  if (r.given("num_hidden_layers") && r.int("num_hidden_layers") !== kinds.length) {
    notes.push(`num_hidden_layers = ${r.int("num_hidden_layers")} is not the ${kinds.length} layers of ${listKey ?? "hybrid_override_pattern"}, which transformers builds instead`);
  }
  return kinds;
}

/** `name = cond` in lines of at most 100 columns: a long `or` / `and` chain in parts, then their combination. */
function flagLines(name: string, cond: string, indent: string): string[] {
  const whole = `${indent}${name} = ${cond}`;
  const sep = cond.includes(" or ") ? " or " : cond.includes(" and ") ? " and " : null;
  if (whole.length <= 100 || sep === null) return [whole];
  const parts: string[][] = [[]];
  for (const term of cond.split(sep)) {
    const cur = parts[parts.length - 1]!;
    if (cur.length > 0 && `${indent}${name}_${parts.length} = ${[...cur, term].join(sep)}`.length > 100) parts.push([term]);
    else cur.push(term);
  }
  return [...parts.map((p, i) => `${indent}${name}_${i + 1} = ${p.join(sep)}`), `${indent}${name} = ${parts.map((_, i) => `${name}_${i + 1}`).join(sep)}`];
}

export const nemotronH: Family = {
  modelType: "nemotron_h",
  architectures: ["NemotronHForCausalLM"],
  keys: [
    "vocab_size", "hidden_size", "num_hidden_layers", "layers_block_type", "layer_types", "hybrid_override_pattern", "tie_word_embeddings",
    "num_attention_heads", "num_key_value_heads", "head_dim", "attention_bias", "sliding_window", "max_position_embeddings",
    "intermediate_size", "mlp_hidden_act", "mlp_bias", "layer_norm_epsilon",
    "mamba_num_heads", "mamba_head_dim", "ssm_state_size", "n_groups", "conv_kernel", "use_conv_bias", "mamba_hidden_act", "use_bias", "mamba_proj_bias",
    "time_step_min", "time_step_max", "time_step_limit", "time_step_floor", "chunk_size", "expand", "use_mamba_kernels", "mamba_ssm_cache_dtype",
    // read by nothing in transformers 5.17's float32 forward (initialisation, kernels, chunking, cache precision):
    // mamba_proj_bias, time_step_max / _limit / _floor, chunk_size, expand, use_mamba_kernels, mamba_ssm_cache_dtype and
    "residual_in_fp32", "rescale_prenorm_residual", "num_logits_to_keep",
    "n_routed_experts", "num_local_experts", "n_shared_experts", "moe_intermediate_size", "moe_shared_expert_intermediate_size", "moe_latent_size",
    "moe_shared_expert_overlap", "num_experts_per_tok", "routed_scaling_factor", "n_group", "topk_group", "norm_topk_prob",
    "num_nextn_predict_layers", "mtp_layers_block_type", "quantization_config",
    // published configs (NVIDIA's own code): norm_eps beside layer_norm_epsilon, RoPE keys the attention does not use
    "norm_eps", "rope_theta", "partial_rotary_factor", "rope_parameters", "rope_scaling",
  ],
  build(r, notes): ProgramBody {
    const kinds = layerKinds(r, notes);
    const vocab = r.positiveInt("vocab_size", 131072);
    const d = r.positiveInt("hidden_size", 4096);
    const eps = r.num("layer_norm_epsilon", 1e-5);
    if (r.given("norm_eps") && r.num("norm_eps") !== eps) r.fail("norm_eps", `is ${r.num("norm_eps")}, but transformers' nemotron_h reads layer_norm_epsilon (${eps}); the two disagree`);
    for (const k of ["rope_theta", "partial_rotary_factor", "rope_parameters", "rope_scaling"]) unusedNote(r, k, "transformers' nemotron_h attention has no positional encoding, so it is not read", notes);
    const has = (k: string) => kinds.includes(k as never);
    // What transformers' class does whatever the config says, or what the program cannot express.
    fixedValue(r, "attention_bias", false, "transformers' nemotron_h attention projections have no biases");
    fixedValue(r, "mlp_bias", false, "the MLP and expert biases (mlp_bias) are not supported by this import");
    fixedValue(r, "use_bias", false, "the Mamba-2 in_proj / out_proj biases (use_bias) are not supported by this import");
    fixedValue(r, "mlp_hidden_act", "relu2", "the MLPs and experts are imported as ReLU² (relu(x)²), transformers' nemotron_h default");
    fixedValue(r, "mamba_hidden_act", "silu", "the Mamba-2 conv activation is SiLU in the language's mamba2 op");
    if (r.given("sliding_window")) r.fail("sliding_window", `is ${show(r.raw("sliding_window"))}; sliding-window attention is not supported for nemotron_h by this import`);
    if (r.given("moe_latent_size")) r.fail("moe_latent_size", `is ${show(r.raw("moe_latent_size"))}: the latent projections around the experts (fc1_latent_proj / fc2_latent_proj) are not supported by this import`);
    const lines: string[] = [];
    const consts: string[] = [`  const vocab = ${fmtNum(vocab)}, d = ${fmtNum(d)}, eps = ${fmtNum(eps)}`];
    /** Each layer kind's mixer call (its input `a`, the block's normalised input; named "mixer"). */
    const mixers = new Map<"mamba" | "attention" | "mlp" | "moe", string>();
    if (has("mamba")) {
      const H = r.positiveInt("mamba_num_heads", 128);
      const P = r.positiveInt("mamba_head_dim", 64);
      const N = r.positiveInt("ssm_state_size", 128);
      const G = r.positiveInt("n_groups", 8);
      if (H % G !== 0) r.fail("n_groups", `is ${G}, which does not divide mamba_num_heads (${H})`);
      const K = r.positiveInt("conv_kernel", 4);
      const dtMin = r.num("time_step_min", 0.001);
      consts.push(`  const mamba_heads = ${fmtNum(H)}, mamba_head_dim = ${fmtNum(P)}, ssm_state = ${fmtNum(N)}, mamba_groups = ${fmtNum(G)}, mamba_conv = ${fmtNum(K)}`);
      consts.push(`  // the mixer clamps δ = softplus(dt + dt_bias) at time_step_min (transformers: in its chunked prefill only)`, `  const dt_min = ${fmtNum(dtMin)}`);
      const bias = r.bool("use_conv_bias", true);
      mixers.set("mamba", `mamba2(a, heads = mamba_heads, head_dim = mamba_head_dim, state_dim = ssm_state, groups = mamba_groups, conv_kernel = mamba_conv${bias ? "" : ", conv_bias = false"}, dt_min = dt_min, norm_eps = eps)`);
    }
    if (has("attention")) {
      const heads = r.positiveInt("num_attention_heads", 32);
      const kv = r.given("num_key_value_heads") ? r.positiveInt("num_key_value_heads") : r.has("num_key_value_heads") ? heads : 8;
      if (heads % kv !== 0) r.fail("num_key_value_heads", `is ${kv}, which does not divide num_attention_heads (${heads})`);
      const hd = r.given("head_dim") ? r.positiveInt("head_dim") : r.has("head_dim") ? Math.floor(d / heads) : 128;
      consts.push(`  const heads = ${fmtNum(heads)}, kv_heads = ${fmtNum(kv)}, head_dim = ${fmtNum(hd)}`);
      mixers.set("attention", "attention(a, heads, kv_heads, head_dim = head_dim)"); // no positional encoding
    }
    if (has("mlp")) {
      consts.push(`  const mlp_ffn = ${fmtNum(r.positiveInt("intermediate_size", 21504))}`);
      mixers.set("mlp", "Relu2(a, ffn = mlp_ffn)");
    } else unusedNote(r, "intermediate_size", "no layer is an MLP", notes);
    let routing: string[] = [];
    if (has("moe")) {
      const E = r.positiveInt(r.alias(["n_routed_experts", "num_local_experts"]) ?? "n_routed_experts", 8);
      const k = r.positiveInt("num_experts_per_tok", 2);
      if (k > E) r.fail("num_experts_per_tok", `is ${k}, more than the ${E} experts`);
      const g = r.positiveInt("n_group", 1);
      const keep = r.positiveInt("topk_group", 1);
      if (E % g !== 0) r.fail("n_group", `is ${g}, which does not divide the ${E} routed experts`);
      if (keep > g) r.fail("topk_group", `is ${keep}; it must be between 1 and n_group (${g})`);
      if (k > keep * (E / g)) r.fail("num_experts_per_tok", `is ${k}, more than the ${keep * (E / g)} experts in the ${keep} kept groups`);
      const norm = r.bool("norm_topk_prob", true);
      const scale = r.num("routed_scaling_factor", 1);
      if (r.given("n_shared_experts") && r.int("n_shared_experts") !== 1) notes.push(`n_shared_experts = ${r.int("n_shared_experts")} is not read by transformers' nemotron_h: its shared expert is one MLP of moe_shared_expert_intermediate_size`);
      consts.push(`  const experts = ${fmtNum(E)}, top_k = ${fmtNum(k)}, expert_ffn = ${fmtNum(r.positiveInt("moe_intermediate_size", 7688))}, shared_ffn = ${fmtNum(r.positiveInt("moe_shared_expert_intermediate_size", 7688))}`);
      consts.push(`  const ${g > 1 ? `groups = ${fmtNum(g)}, topk_groups = ${fmtNum(keep)}, ` : ""}routed_scale = ${fmtNum(scale)}`);
      routing = [
        `  // router: sigmoid scores, e_score_correction_bias for choosing only${g > 1 ? ", group-limited top-k (group score = sum of the top 2)" : ", top-k"}, ${norm ? "renormalised" : "not renormalised"}, times routed_scaling_factor`,
        `  const routing = topk(k = top_k, scoring = "sigmoid", renormalize = ${norm}, selection_bias = true${g > 1 ? ", groups = groups, topk_groups = topk_groups, group_scoring = \"top2_sum\"" : ""}, scale = routed_scale) @ "gate"`,
        "",
      ];
      mixers.set("moe", "moe(a, experts = experts of Relu2(ffn = expert_ffn) @ \"experts.{e}\", router = routing, shared = Relu2(ffn = shared_ffn) @ \"shared_experts\")");
    } else for (const key of ["n_routed_experts", "moe_intermediate_size"]) unusedNote(r, key, "no layer is MoE", notes);
    // mtp_layers_block_type describes the multi-token-prediction layers; transformers writes it even when there are none
    if (r.int("num_nextn_predict_layers", 0) > 0) notes.push(`num_nextn_predict_layers = ${r.int("num_nextn_predict_layers")}: multi-token-prediction layers are not part of the main model; transformers 5.17 does not build them`);
    quantization(r, ["fp8"], FP8_BLOCKS, notes);
    const tied = r.bool("tie_word_embeddings", false);
    lines.push("model NemotronH {", `  const layers = ${kinds.length}`, ...consts, "", ...routing);
    if (has("mlp") || has("moe")) {
      lines.push(
        "  // the MLPs and experts are not gated: down(relu(up(x))²)",
        "  expert Relu2(x: [T, d], ffn: int) -> [T, d] {",
        "    r = relu(linear(x, ffn) @ \"up_proj\")",
        "    return linear(r * r, d) @ \"down_proj\"",
        "  }",
        "",
      );
    }
    // One block for every layer: its kind picks the mixer (a flag per kind present but the last, the else branch).
    const present = (["mamba", "attention", "moe", "mlp"] as const).filter((k) => mixers.has(k));
    const flags = present.slice(0, -1);
    const FLAG = { mamba: "mamba", attention: "attn", moe: "sparse", mlp: "dense" } as const;
    lines.push(`  block Layer(${["h: [seq, d]", ...flags.map((k) => `${FLAG[k]}: bool`)].join(", ")}) -> [seq, d] {`, "    a = rmsnorm(h, eps) @ \"norm\"");
    const branch = (i: number, indent: string): string[] => {
      const call = `${indent}h = h + ${mixers.get(present[i]!)!} @ "mixer"`;
      if (i === present.length - 1) return [call];
      return [`${indent}if ${FLAG[present[i]!]} {`, `  ${call}`, `${indent}} else {`, ...branch(i + 1, `${indent}  `), `${indent}}`];
    };
    lines.push(...branch(0, "    "), "    return h", "  }", "", "  input tokens: i32[seq]", "  h = embed(tokens, vocab, d) @ \"backbone.embeddings\"");
    const conds = flags.map((k) => [FLAG[k], kinds.every((x) => x === k) ? "true" : kinds.every((x) => x !== k) ? "false" : layerCondition(kinds.map((x) => x === k))] as const);
    const call = (args: readonly string[]) => `    h = Layer(${["h", ...args].join(", ")}) @ "backbone.layers.{i}"`;
    const inline = call(conds.map(([f, c]) => `${f} = ${c}`));
    // An irregular pattern (Nemotron 3 Nano's) lists many layers: the flags are then computed in lines that fit
    lines.push("  for i in 0..layers {", ...(inline.length <= 100 ? [inline] : [...conds.flatMap(([f, c]) => flagLines(f, c, "    ")), call(conds.map(([f]) => `${f} = ${f}`))]), "  }");
    lines.push("  h = rmsnorm(h, eps) @ \"backbone.norm_f\"");
    if (tied) lines.push("  // tie_word_embeddings: the output head is the embedding matrix");
    lines.push(`  output logits = linear(h, vocab) @ "${tied ? "backbone.embeddings" : "lm_head"}"`, "}");
    return { kind: "program", lines };
  },
};
