// Llama-4 text (llama4_text: Llama4ForCausalLM) and the language model of the multimodal
// checkpoints (llama4: Llama4ForConditionalGeneration, its text_config; the vision tower is left
// unbound). Semantics: transformers 5.17's modeling_llama4.py —
//  - layers with RoPE (no_rope_layers[i] = 1; by default every layer but each no_rope_layer_interval-th)
//    rotate q and k with interleaved (complex) pairs, then, with use_qk_norm, L2-normalise each head of q
//    and k (x·rsqrt(mean(x²) + rms_norm_eps), no weight); the others use no RoPE and, with
//    attn_temperature_tuning, scale the queries at position p by 1 + attn_scale·ln(1 + ⌊(p + 1)/floor_scale⌋);
//  - "chunked_attention" layers (layer_types; by default the RoPE layers) attend within chunks of
//    attention_chunk_size positions;
//  - MoE layers (moe_layers, or every interleave_moe_layer_step-th) pick the top num_experts_per_tok router
//    logits, weight them by their sigmoid and multiply each expert's INPUT by that weight; the experts are
//    stacked (gate_up_proj [E, d, 2I], down_proj [E, I, d]) and a shared expert (intermediate_size) is
//    always added; other layers are dense MLPs of intermediate_size_mlp.
import type { ConfigReader } from "../config.js";
import { show } from "../config.js";
import { readRope, ROPE_KEYS } from "../rope.js";
import type { FamilySpec } from "./common.js";
import { dims, fixedValue, headDim, kvHeads, router, SWIGLU_NAMES, topK, unusedNote, type Family } from "./common.js";

const TEXT_KEYS = [
  "vocab_size", "hidden_size", "intermediate_size", "intermediate_size_mlp", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
  "head_dim", "hidden_act", "rms_norm_eps", "num_experts_per_tok", "num_local_experts", "moe_layers", "interleave_moe_layer_step", "use_qk_norm",
  "no_rope_layers", "no_rope_layer_interval", "attention_chunk_size", "layer_types", "attn_temperature_tuning", "floor_scale", "attn_scale",
  "attention_bias", "router_jitter_noise", "tie_word_embeddings", "for_llm_compressor", ...ROPE_KEYS,
] as const;

function text(r: ConfigReader, notes: string[], multimodal: boolean): FamilySpec {
  const d = dims(r, { vocab: 202048, hidden: 5120, layers: 48, heads: 40, eps: 1e-5 });
  const kv = kvHeads(r, d.heads, 8);
  const hd = headDim(r, d, 128);
  r.oneOf("hidden_act", ["silu", "swish"], "silu", "the Llama-4 experts split their fused gate_up_proj into gate and up, which moec expresses with swiglu (SiLU) only");
  fixedValue(r, "for_llm_compressor", false, "it only marks checkpoints prepared for llm-compressor");
  const bias = r.bool("attention_bias", false);
  if (bias) r.fail("attention_bias", "is true; Llama-4 checkpoints have no attention biases and moec does not import them for this family");
  const experts = r.positiveInt("num_local_experts", 16);
  const k = topK(r, experts, 1);
  const L = d.layers;

  // moe_layers, else every interleave_moe_layer_step-th layer (from step − 1).
  let sparse: boolean[];
  if (r.given("moe_layers")) {
    const ml = r.intList("moe_layers");
    for (const l of ml) if (l < 0 || l >= L) r.fail("moe_layers", `contains layer ${l}, outside 0..${L - 1}`);
    sparse = Array.from({ length: L }, (_, i) => ml.includes(i));
  } else {
    const step = r.int("interleave_moe_layer_step", 1);
    if (step <= 0) r.fail("interleave_moe_layer_step", `must be positive, got ${step}`);
    sparse = Array.from({ length: L }, (_, i) => i >= step - 1 && (i - (step - 1)) % step === 0);
  }

  // no_rope_layers: 1 = the layer uses RoPE. Absent, null or empty: every no_rope_layer_interval-th layer has none.
  let ropeLayers: boolean[];
  const given = r.given("no_rope_layers") ? r.intList("no_rope_layers") : [];
  if (given.length > 0) {
    if (given.length < L) r.fail("no_rope_layers", `has ${given.length} entries for ${L} layers (num_hidden_layers)`);
    if (given.some((x) => x !== 0 && x !== 1)) r.fail("no_rope_layers", `must hold 0 (no RoPE) or 1 (RoPE) per layer, got ${show(r.raw("no_rope_layers"))}`);
    ropeLayers = given.slice(0, L).map((x) => x === 1);
  } else {
    const interval = r.int("no_rope_layer_interval", 4);
    if (interval <= 0) r.fail("no_rope_layer_interval", `must be positive, got ${interval}`);
    ropeLayers = Array.from({ length: L }, (_, i) => (i + 1) % interval !== 0);
  }
  let chunked: boolean[];
  if (r.given("layer_types")) {
    const types = r.strList("layer_types");
    if (types.length !== L) r.fail("layer_types", `has ${types.length} entries for ${L} layers (num_hidden_layers)`);
    chunked = types.map((t) => {
      if (t !== "chunked_attention" && t !== "full_attention") r.fail("layer_types", `contains ${show(t)}; Llama-4 layers are "chunked_attention" or "full_attention"`);
      return t === "chunked_attention";
    });
  } else chunked = ropeLayers.slice();
  const chunkSize = r.has("attention_chunk_size") ? r.optInt("attention_chunk_size") : 8192;
  if (chunked.some(Boolean) && chunkSize === null) r.fail("attention_chunk_size", "is null, but some layers are \"chunked_attention\" (transformers refuses to build their mask)");
  if (chunkSize !== null && chunkSize <= 0) r.fail("attention_chunk_size", `must be positive, got ${chunkSize}`);
  if (!chunked.some(Boolean)) unusedNote(r, "attention_chunk_size", "no layer is a chunked_attention layer", notes);

  const tuning = r.has("attn_temperature_tuning") ? r.raw("attn_temperature_tuning") : true;
  if (tuning !== null && typeof tuning !== "boolean" && typeof tuning !== "number") r.fail("attn_temperature_tuning", `must be a bool, got ${show(tuning)}`);
  const tuned = Boolean(tuning) && ropeLayers.some((x) => !x);
  if (typeof tuning === "number" && tuned) notes.push(`attn_temperature_tuning = ${tuning}: transformers only tests it for truth, so the tuning is on`);
  const floorScale = r.positiveInt("floor_scale", 8192);
  const attnScale = r.num("attn_scale", 0.1);
  const qkNorm = r.bool("use_qk_norm", true) && ropeLayers.some(Boolean);
  const jitter = r.num("router_jitter_noise", 0);
  if (jitter !== 0) notes.push(`router_jitter_noise = ${jitter}: Llama4Router does not use it`);

  const tiedHead = r.bool("tie_word_embeddings", false);
  return {
    ...d,
    norm: "rmsnorm",
    attention: {
      kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias: false, outBias: false, qkNorm: qkNorm ? "head" : null, sinks: false,
      clipQkv: null, window: null, ropeLayers, chunk: chunked.some(Boolean) ? { size: chunkSize!, layers: chunked } : null,
      qkNormUnweighted: true, qkNormAfterRope: true, qkNormRopeLayersOnly: true,
      temperature: tuned ? { floorScale, scale: attnScale } : null,
    },
    rope: readRope(r, { defaultTheta: 500000, rotaryDim: hd.value, style: "interleaved", allowPartial: false, phimoe: false }, notes),
    mlp: { kind: "swiglu", names: [...SWIGLU_NAMES], act: "silu", denseBias: false, routedInOut: true },
    moe: {
      experts, ffn: r.positiveInt("intermediate_size", 8192), expertsName: "experts",
      router: router({
        name: "router", k, scoring: "sigmoid", weightInput: true,
        comment: "the top-k router logits, each weighted by its sigmoid; the weight multiplies the expert's input (Llama4TextMoe)",
      }),
      shared: { ffn: r.positiveInt("intermediate_size", 8192), count: null, name: "shared_expert", gate: null },
    },
    ffnName: "feed_forward",
    denseName: "feed_forward",
    sparse,
    sparseRule: null,
    denseFfn: sparse.every(Boolean) ? null : r.positiveInt("intermediate_size_mlp", 16384),
    tied: tiedHead,
    lmHeadBias: false,
    ...(multimodal ? { prefix: { model: "language_model.model", head: "language_model.lm_head" }, unusedWeights: ["vision_model.", "multi_modal_projector."] } : {}),
  };
}

export const llama4Text: Family = {
  modelType: "llama4_text",
  architectures: ["Llama4ForCausalLM"],
  keys: TEXT_KEYS,
  build: (r, notes) => text(r, notes, false),
};

export const llama4: Family = {
  modelType: "llama4",
  architectures: ["Llama4ForConditionalGeneration"],
  keys: ["text_config", "vision_config", "boi_token_index", "eoi_token_index", "image_token_index", "tie_word_embeddings"],
  build(r, notes) {
    const t = r.object("text_config") ?? r.fail("text_config", "is missing; a llama4 config holds its language model's settings there");
    if (t.given("model_type") && t.raw("model_type") !== "llama4_text") t.fail("model_type", `is ${show(t.raw("model_type"))}; a llama4 text_config is "llama4_text"`);
    t.rejectUnknown(new Set([...NO_EFFECT_TEXT_KEYS, ...TEXT_KEYS]), 'the text_config of model_type "llama4"');
    if (r.bool("tie_word_embeddings", false) !== t.bool("tie_word_embeddings", false)) {
      r.fail("tie_word_embeddings", `is ${show(r.raw("tie_word_embeddings") ?? false)} but text_config.tie_word_embeddings is ${show(t.raw("tie_word_embeddings") ?? false)}`);
    }
    notes.push("the language model of Llama4ForConditionalGeneration (text_config); the vision tower (vision_model.*, multi_modal_projector.*) is not imported and its tensors are left unbound");
    return text(t, notes, true);
  },
};

/** Keys of a text_config that change nothing at inference (the same list as a top-level config's). */
const NO_EFFECT_TEXT_KEYS = [
  "model_type", "_name_or_path", "transformers_version", "dtype", "torch_dtype", "use_cache", "initializer_range", "output_router_logits",
  "router_aux_loss_coef", "attention_dropout", "bos_token_id", "eos_token_id", "pad_token_id", "_attn_implementation_autoset",
];
