// Gemma-4's text model with its mixture of experts (gemma4_text: Gemma4ForCausalLM; the 26B-A4B shape). Semantics: transformers 5.17's modeling_gemma4.py / configuration_gemma4.py:
//   - the embedding times f32(sqrt(hidden)); every layer: input_layernorm → attention → post_attention_layernorm,
//     added; then the dense GeGLU MLP (pre_feedforward_layernorm → mlp → post_feedforward_layernorm_1) and, with
//     enable_moe_block, the experts beside it (pre_feedforward_layernorm_2 → experts → post_feedforward_layernorm_2),
//     their sum through post_feedforward_layernorm, added; the layer's output times its layer_scalar buffer;
//   - the router reads the residual stream (the layer input of the feed-forward part), not the experts' input:
//     a weightless RMSNorm times router.scale times hidden^-1/2, router.proj, softmax over all experts, top-k,
//     renormalised, times router.per_expert_scale of each chosen expert;
//   - attention: q/k RMSNorms per head, a weightless RMSNorm on v, softmax scale 1; sliding layers with head_dim and
//     num_key_value_heads, RoPE "default"; full layers with the per-layer head_dim / num_key_value_heads
//     (per_layer_config, or the older flat global_head_dim / num_global_key_value_heads), "proportional" RoPE and,
//     with attention_k_eq_v, no v_proj (v is the raw k projection);
//   - final_logit_softcapping as tanh(logits / cap) · cap; tied embedding by default.
import { show, type ConfigReader } from "../config.js";
import { fmtNum, layerCondition } from "../emit.js";
import { MAX_IMPORT_LAYERS, type Family, type ProgramBody } from "./common.js";

const TEXT_KEYS = [
  "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
  "hidden_activation", "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings", "rope_parameters", "attention_bias", "sliding_window",
  "layer_types", "final_logit_softcapping", "use_bidirectional_attention", "vocab_size_per_layer_input", "hidden_size_per_layer_input",
  "attention_k_eq_v", "num_kv_shared_layers", "enable_moe_block", "use_double_wide_mlp", "num_experts", "top_k_experts", "moe_intermediate_size",
  "per_layer_config", "global_head_dim", "num_global_key_value_heads",
] as const;

/** The attention of one layer: its kind, heads, KV heads, head dim and RoPE. */
interface LayerAttention {
  readonly full: boolean;
  readonly kv: number;
  readonly hd: number;
  readonly rope: string;
}

/** f32(x): the value torch's float32 tensor holds for the Python float x (the embedding and router scales). */
const f32 = (x: number) => fmtNum(Math.fround(x));

function layerTypes(r: ConfigReader, layers: number, notes: string[]): boolean[] {
  let types: string[];
  if (r.given("layer_types")) {
    types = r.strList("layer_types");
    if (types.length !== layers) r.fail("layer_types", `has ${types.length} entries for ${layers} layers (num_hidden_layers)`);
    for (const t of types) if (t !== "sliding_attention" && t !== "full_attention") r.fail("layer_types", `holds ${show(t)}; Gemma-4's layers are "sliding_attention" or "full_attention"`);
  } else {
    // Gemma4TextConfig: five sliding layers, then a full one
    types = Array.from({ length: layers }, (_, i) => ((i + 1) % 6 === 0 ? "full_attention" : "sliding_attention"));
  }
  if (types[types.length - 1] !== "full_attention") {
    notes.push("the last layer of layer_types is not \"full_attention\"; Gemma4TextConfig forces it to full attention, and so does this program");
    types = [...types.slice(0, -1), "full_attention"];
  }
  return types.map((t) => t === "full_attention");
}

/** RoPE of one layer type, as transformers 5.17 builds it (Gemma4TextRotaryEmbedding). */
function ropeOf(r: ConfigReader, type: "sliding_attention" | "full_attention", hd: number): string {
  const all = r.object("rope_parameters");
  const dflt = type === "sliding_attention" ? { rope_type: "default", rope_theta: 10000 } : { rope_type: "proportional", partial_rotary_factor: 0.25, rope_theta: 1e6 };
  const p = all?.object(type) ?? null;
  if (all && !p) all.fail(type, `is missing; Gemma-4 keeps one RoPE setting per layer type`);
  const get = (k: string) => (p ? p.raw(k) : (dflt as Record<string, unknown>)[k]);
  const known = ["rope_type", "rope_theta", "partial_rotary_factor", "factor"];
  if (p) for (const k of Object.keys(p.obj)) if (!known.includes(k)) p.fail(k, `is not a RoPE setting moec import reads for Gemma-4 (it reads ${known.join(", ")})`);
  const kind = get("rope_type") ?? "default";
  const rawTheta = get("rope_theta");
  if (typeof rawTheta !== "number" || !(rawTheta > 0)) (p ?? r).fail(p ? "rope_theta" : "rope_parameters", `must be a positive number, got ${show(rawTheta)}`);
  const theta = rawTheta as number;
  const rawFactor = get("factor") ?? 1;
  if (typeof rawFactor !== "number" || !(rawFactor > 0)) p!.fail("factor", `must be a positive number, got ${show(rawFactor)}`);
  const factor = rawFactor as number;
  if (kind === "default") {
    // compute_default_rope_parameters rotates the whole head_dim and reads neither partial_rotary_factor nor factor
    if (get("partial_rotary_factor") !== undefined && get("partial_rotary_factor") !== 1) p!.fail("partial_rotary_factor", "is not read by Gemma-4's default RoPE (the whole head rotates); moec will not guess which was meant");
    if (factor !== 1) p!.fail("factor", "is not read by Gemma-4's default RoPE; moec will not guess which was meant");
    return `rope(theta = ${fmtNum(theta)})`;
  }
  if (kind !== "proportional") p!.fail("rope_type", `is ${show(kind)}; moec imports Gemma-4's "default" and "proportional" RoPE`);
  const rawPartial = get("partial_rotary_factor") ?? 1;
  if (typeof rawPartial !== "number" || rawPartial < 0 || rawPartial > 1) p!.fail("partial_rotary_factor", `must be a number from 0 to 1, got ${show(rawPartial)}`);
  const partial = rawPartial as number;
  // _compute_proportional_rope_parameters: rope_angles = int(partial · head_dim // 2) pairs rotate, the rest do not
  const rotated = 2 * Math.floor((partial * hd) / 2);
  return `rope(theta = ${fmtNum(theta)}, scaling = proportional(rotated = ${rotated}${factor !== 1 ? `, factor = ${fmtNum(factor)}` : ""}))`;
}

/** Per-layer overrides of head_dim / num_key_value_heads: per_layer_config, else the flat global_* keys on the full layers. */
function overrides(r: ConfigReader, full: readonly boolean[], kEqV: boolean): Map<number, { hd?: number; kv?: number }> {
  const out = new Map<number, { hd?: number; kv?: number }>();
  const plc = r.object("per_layer_config");
  if (plc) {
    for (const g of ["global_head_dim", "num_global_key_value_heads"]) if (r.given(g)) r.fail(g, "is given with per_layer_config; transformers 5.17 then ignores it, so the config is ambiguous");
    for (const key of Object.keys(plc.obj)) {
      const i = Number(key);
      if (!Number.isSafeInteger(i) || i < 0 || i >= full.length) plc.fail(key, `is not a layer index below ${full.length}`);
      const o = plc.object(key) ?? plc.fail(key, "must be an object");
      for (const k of Object.keys(o.obj)) if (k !== "head_dim" && k !== "num_key_value_heads" && k !== "num_attention_heads") o.fail(k, "is not a per-layer setting moec import reads (head_dim, num_key_value_heads)");
      if (o.given("num_attention_heads") && o.int("num_attention_heads") !== r.positiveInt("num_attention_heads", 8)) o.fail("num_attention_heads", "differs from num_attention_heads; moec imports Gemma-4 with one query head count");
      out.set(i, { ...(o.given("head_dim") ? { hd: o.positiveInt("head_dim") } : {}), ...(o.given("num_key_value_heads") ? { kv: o.positiveInt("num_key_value_heads") } : {}) });
    }
    return out;
  }
  // Gemma4TextConfig.__post_init__: the full layers get head_dim = global_head_dim (default 512) and, with
  // attention_k_eq_v, num_key_value_heads = num_global_key_value_heads when it is given
  const hd = r.positiveInt("global_head_dim", 512);
  const kv = kEqV && r.given("num_global_key_value_heads") ? r.positiveInt("num_global_key_value_heads") : undefined;
  full.forEach((f, i) => f && out.set(i, { hd, ...(kv !== undefined ? { kv } : {}) }));
  return out;
}

/** Where the language model's tensors are: the text model's own names, or the multimodal wrapper's (its towers left unbound). */
interface Names {
  readonly prefix: string;
  readonly head: string;
  readonly unused: readonly string[];
}
const TEXT_NAMES: Names = { prefix: "model", head: "lm_head", unused: [] };

function gemma4Text(r: ConfigReader, notes: string[], names: Names = TEXT_NAMES): ProgramBody {
  const { prefix, head } = names;
  const vocab = r.positiveInt("vocab_size", 262144);
  const d = r.positiveInt("hidden_size", 2304);
  const layers = r.positiveInt("num_hidden_layers", 30);
  if (layers > MAX_IMPORT_LAYERS) r.fail("num_hidden_layers", `is ${layers}, more than the ${MAX_IMPORT_LAYERS} layers moec elaborates`);
  const heads = r.positiveInt("num_attention_heads", 8);
  const kvDefault = r.positiveInt("num_key_value_heads", 4);
  const hdDefault = r.positiveInt("head_dim", 256);
  const eps = r.num("rms_norm_eps", 1e-6);
  if (eps < 0) r.fail("rms_norm_eps", `must not be negative, got ${eps}`);
  // the MLPs and experts are GeGLU with gelu's tanh form (gelu_new and gelu_fast are the same function in transformers)
  r.oneOf("hidden_activation", ["gelu_pytorch_tanh", "gelu_new", "gelu_fast"], "gelu_pytorch_tanh", "Gemma-4's MLPs and experts are GeGLU (gelu, tanh form)");
  if (r.bool("attention_bias", false)) r.fail("attention_bias", "is true; Gemma-4 as released has no attention biases and moec imports it without");
  const window = r.positiveInt("sliding_window", 512);
  const bidir = r.raw("use_bidirectional_attention") ?? null;
  if (bidir === "all") r.fail("use_bidirectional_attention", "is \"all\" (every token attends both ways, with a halved window); moec imports causal Gemma-4");
  if (bidir !== null && bidir !== "vision") r.fail("use_bidirectional_attention", `is ${show(bidir)}; transformers takes "all", "vision" or null`);
  if (bidir === "vision") notes.push("use_bidirectional_attention = \"vision\" changes only how image tokens attend; text is causal");
  const ple = r.int("hidden_size_per_layer_input", 256);
  if (ple !== 0) r.fail("hidden_size_per_layer_input", `is ${ple}: per-layer input embeddings (Gemma-4 E2B/E4B) are not in the language yet; moec imports the models without them (0)`);
  if (r.given("vocab_size_per_layer_input")) notes.push("vocab_size_per_layer_input is not read: hidden_size_per_layer_input is 0 (no per-layer input embeddings)");
  const shared = r.int("num_kv_shared_layers", 0);
  if (shared !== 0) r.fail("num_kv_shared_layers", `is ${shared}: layers that reuse another layer's keys and values are not in the language yet`);
  if (r.bool("use_double_wide_mlp", false)) notes.push("use_double_wide_mlp widens only the MLPs of KV-sharing layers, and num_kv_shared_layers is 0");
  const kEqV = r.bool("attention_k_eq_v", false);
  const moe = r.bool("enable_moe_block", false);
  const ffn = r.positiveInt("intermediate_size", 9216);
  const cap = r.optNum("final_logit_softcapping");
  if (cap !== null && !(cap > 0)) r.fail("final_logit_softcapping", `must be positive or null, got ${cap}`);
  const tied = r.bool("tie_word_embeddings", true);
  if (r.given("max_position_embeddings")) r.positiveInt("max_position_embeddings");

  const full = layerTypes(r, layers, notes);
  const over = overrides(r, full, kEqV);
  const attn: LayerAttention[] = full.map((f, i) => {
    const o = over.get(i) ?? {};
    const hd = o.hd ?? hdDefault;
    const kv = o.kv ?? kvDefault;
    if (heads % kv !== 0) r.fail(over.has(i) ? "per_layer_config" : "num_key_value_heads", `gives layer ${i} ${kv} KV heads, which does not divide num_attention_heads (${heads})`);
    return { full: f, kv, hd, rope: ropeOf(r, f ? "full_attention" : "sliding_attention", hd) };
  });
  // Two attention calls, the sliding layers' and the full layers': every layer of a kind must agree.
  const variant = (f: boolean): LayerAttention | null => {
    const of = attn.filter((a) => a.full === f);
    const v = of[0] ?? null;
    if (v && of.some((a) => a.kv !== v.kv || a.hd !== v.hd)) r.fail("per_layer_config", `gives the ${f ? "full" : "sliding"} attention layers different head dims or KV heads; moec imports one setting per layer type`);
    return v;
  };
  const variants = [variant(false), variant(true)].filter((v): v is LayerAttention => v !== null);
  const L: string[] = ["model Gemma4 {", `  const vocab = ${vocab}, d = ${d}, layers = ${layers}, eps = ${fmtNum(eps)}`, `  const heads = ${heads}, window = ${window}, ffn = ${ffn}`];
  if (moe) {
    const experts = r.positiveInt("num_experts", 128);
    const k = r.positiveInt("top_k_experts", 8);
    if (k > experts) r.fail("top_k_experts", `is ${k}, more than the ${experts} experts`);
    L.push(`  const experts = ${experts}, top_k = ${k}, expert_ffn = ${r.positiveInt("moe_intermediate_size", 704)}`);
  } else for (const key of ["num_experts", "top_k_experts", "moe_intermediate_size"]) if (r.given(key)) notes.push(`${key} is not read: enable_moe_block is false`);
  if (names.unused.length) L.push("", "  // checkpoint tensors this program does not read, left unbound (the binder says how many)", `  const unused_weights = "${names.unused.join(" ")}"`);
  L.push(
    "",
    "  // the dense MLP: gelu (tanh form) of gate_proj times up_proj, then down_proj",
    "  block Mlp(x: [seq, d]) -> [seq, d] {",
    "    return linear(gelu(linear(x, ffn) @ \"gate_proj\", approximate = \"tanh\") * linear(x, ffn) @ \"up_proj\", d) @ \"down_proj\"",
    "  }",
    "",
  );
  if (moe) {
    L.push(
      "  // an expert: the same GeGLU, its gate and up projections stacked in one tensor (experts.gate_up_proj [E, 2·ffn, d],",
      "  // gate first) and its down projection in another (experts.down_proj [E, d, ffn]), both without .weight",
      "  expert GeGLU(x: [T, d], ffn: int) -> [T, d] {",
      "    return linear(swiglu(linear(x, 2 * ffn, bare = true) @ \"gate_up_proj\", activation = \"gelu_tanh\"), d, bare = true) @ \"down_proj\"",
      "  }",
      "",
    );
  }
  const attnCall = (v: LayerAttention) =>
    `attention(a, heads, ${v.kv}, head_dim = ${v.hd}, rope = ${v.rope}, ${v.full ? "" : "window = window, "}qk_norm = "head", norm_eps = eps, v_norm = true, ` +
    `scale = 1${v.full && kEqV ? ", v_name = \"k_proj\"" : ""}) @ "self_attn"`;
  const sel = variants.length > 1 ? ", full: bool" : "";
  L.push(`  block Layer(h: [seq, d]${sel}) -> [seq, d] {`, "    a = rmsnorm(h, eps) @ \"input_layernorm\"");
  if (variants.length === 1) L.push(`    a = ${attnCall(variants[0]!)}`);
  else L.push("    if full {", `      a = ${attnCall(variants[1]!)}`, "    } else {", `      a = ${attnCall(variants[0]!)}`, "    }");
  L.push("    h = h + rmsnorm(a, eps) @ \"post_attention_layernorm\"", "    m = Mlp(rmsnorm(h, eps) @ \"pre_feedforward_layernorm\") @ \"mlp\"");
  if (moe) {
    L.push(
      "    // the router reads the residual stream: a weightless RMSNorm times router.scale (as the norm's weight) times d^-1/2",
      `    r = rmsnorm(h, eps, bare = true) @ "router.scale" * ${f32(1 / Math.sqrt(d))}`,
      "    routing = topk(k = top_k, scoring = \"softmax\", renormalize = true, input = r, expert_scale = \"router.per_expert_scale\") @ \"router.proj\"",
      "    e = moe(rmsnorm(h, eps) @ \"pre_feedforward_layernorm_2\", experts = experts of GeGLU(ffn = expert_ffn) @ \"experts\", router = routing) @ \"\"",
      "    m = rmsnorm(m, eps) @ \"post_feedforward_layernorm_1\" + rmsnorm(e, eps) @ \"post_feedforward_layernorm_2\"",
    );
  }
  L.push("    h = h + rmsnorm(m, eps) @ \"post_feedforward_layernorm\"", "    return learned_scale(h) @ \"layer_scalar\"", "  }", "");
  L.push("  input tokens: i32[seq]", `  h = embed(tokens, vocab, d) @ "${prefix}.embed_tokens" * ${f32(Math.sqrt(d))}`);
  if (variants.length === 1) L.push("  for i in 0..layers {", `    h = Layer(h) @ "${prefix}.layers.{i}"`, "  }");
  else {
    L.push("  for i in 0..layers {", `    h = Layer(h, full = ${layerCondition(full)}) @ "${prefix}.layers.{i}"`, "  }");
  }
  L.push(`  h = rmsnorm(h, eps) @ "${prefix}.norm"`);
  const logits = `linear(h, vocab) @ "${tied ? `${prefix}.embed_tokens` : head}"`;
  if (tied) L.push("  // tie_word_embeddings: the output head is the embedding matrix");
  if (cap !== null) L.push("  // final_logit_softcapping", `  output logits = tanh(${logits} / ${fmtNum(cap)}) * ${fmtNum(cap)}`);
  else L.push(`  output logits = ${logits}`);
  L.push("}");
  return { kind: "program", lines: L, modeling: "gemma4" };
}

export const gemma4TextFamily: Family = {
  modelType: "gemma4_text",
  architectures: ["Gemma4ForCausalLM"],
  keys: TEXT_KEYS,
  build: (r, notes) => gemma4Text(r, notes),
};

/** A text_config's keys that change nothing at inference (as NO_EFFECT_KEYS at the top level). */
const NO_EFFECT_TEXT_KEYS = [
  "model_type", "_name_or_path", "transformers_version", "dtype", "torch_dtype", "use_cache", "initializer_range", "attention_dropout",
  "bos_token_id", "eos_token_id", "pad_token_id", "output_attentions", "output_hidden_states", "return_dict", "architectures",
] as const;

/** The towers of Gemma4ForConditionalGeneration beside the language model (Gemma4Model.vision_tower, embed_vision, ...). */
const TOWERS = ["model.vision_tower.", "model.embed_vision.", "model.audio_tower.", "model.embed_audio."] as const;

/**
 * Gemma-4's multimodal checkpoints (gemma4: Gemma4ForConditionalGeneration), for text: the language model is
 * text_config's, under model.language_model.* with the head lm_head (tied by default); the vision and audio towers and
 * their embedders are not imported and stay unbound. Text-only input never reaches them (Gemma4Model embeds the
 * tokens with the language model's embedding and scatters tower features only at image / audio tokens).
 */
export const gemma4Family: Family = {
  modelType: "gemma4",
  architectures: ["Gemma4ForConditionalGeneration"],
  keys: [
    "text_config", "vision_config", "audio_config", "tie_word_embeddings", "boi_token_id", "eoi_token_id", "image_token_id", "video_token_id",
    "audio_token_id", "boa_token_id", "eoa_token_id", "eoa_token_index", "vision_soft_tokens_per_image",
  ],
  build(r, notes) {
    const t = r.object("text_config") ?? r.fail("text_config", "is missing; a gemma4 config holds its language model's settings there");
    if (t.given("model_type") && t.raw("model_type") !== "gemma4_text") t.fail("model_type", `is ${show(t.raw("model_type"))}; a gemma4 text_config is "gemma4_text"`);
    t.rejectUnknown(new Set([...NO_EFFECT_TEXT_KEYS, ...TEXT_KEYS]), 'the text_config of model_type "gemma4"');
    // PreTrainedModel ties lm_head to the input embedding by the text config's flag (get_text_config), which the
    // wrapper's own flag must agree with
    if (r.bool("tie_word_embeddings", true) !== t.bool("tie_word_embeddings", true)) {
      r.fail("tie_word_embeddings", `is ${show(r.raw("tie_word_embeddings") ?? true)} but text_config.tie_word_embeddings is ${show(t.raw("tie_word_embeddings") ?? true)}`);
    }
    notes.push("the language model of Gemma4ForConditionalGeneration (text_config), for text inputs; the vision and audio towers (model.vision_tower.*, model.embed_vision.*, model.audio_tower.*, model.embed_audio.*) are not imported and their tensors are left unbound");
    return gemma4Text(t, notes, { prefix: "model.language_model", head: "lm_head", unused: TOWERS });
  },
};
