// One entry per Hugging Face model_type: the config keys it understands (everything else,
// apart from the shared no-effect keys in hf.ts, is an error), and how the config maps to
// a ModelSpec. Defaults are those of the transformers 5.17 config classes
// (configuration_<family>.py), used when a key is absent; the semantics are those of
// modeling_<family>.py.
import { ConfigReader, show } from "./config.js";
import { readRope, ROPE_KEYS, type RopeOptions } from "./rope.js";
import type { MlaSpec, MlpSpec, ModelSpec, MoeSpec, RouterSpec } from "./spec.js";

export type FamilySpec = Omit<ModelSpec, "source" | "family" | "architecture" | "transformersVersion" | "notes">;

export interface Family {
  readonly modelType: string;
  /** Config keys this family understands, besides the shared no-effect keys. */
  readonly keys: readonly string[];
  build(r: ConfigReader, notes: string[]): FamilySpec;
}

// ---- shared pieces ---------------------------------------------------------------------

const ACTS = { silu: "silu", swish: "silu", gelu: "gelu", gelu_new: "gelu_tanh", gelu_pytorch_tanh: "gelu_tanh", gelu_fast: "gelu_tanh", relu: "relu" } as const;

function activation(r: ConfigReader): MlpSpec["act"] {
  const a = r.oneOf("hidden_act", Object.keys(ACTS), "silu");
  return ACTS[a as keyof typeof ACTS];
}

interface Dims {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  eps: number;
}

/** Most layers an import builds (per-layer tables are made for each): the elaborator's loop limit, MAX_LOOP. */
export const MAX_IMPORT_LAYERS = 100_000;

function dims(r: ConfigReader, d: { vocab: number; hidden: number; layers: number; heads: number; eps: number }): Dims {
  const eps = r.num("rms_norm_eps", d.eps);
  if (eps < 0) r.fail("rms_norm_eps", `must not be negative, got ${eps}`);
  const layers = r.positiveInt("num_hidden_layers", d.layers);
  if (layers > MAX_IMPORT_LAYERS) r.fail("num_hidden_layers", `is ${layers}, more than the ${MAX_IMPORT_LAYERS} layers moec elaborates (the largest published models have about 100); the config is damaged`);
  return {
    vocab: r.positiveInt("vocab_size", d.vocab),
    hidden: r.positiveInt("hidden_size", d.hidden),
    layers,
    heads: r.positiveInt("num_attention_heads", d.heads),
    eps,
  };
}

/** num_key_value_heads: the class default when absent; `nullMeansHeads` mirrors __post_init__. */
function kvHeads(r: ConfigReader, heads: number, dflt: number | null, nullMeansHeads = true): number {
  if (r.has("num_key_value_heads") && r.raw("num_key_value_heads") === null && !nullMeansHeads) r.fail("num_key_value_heads", "is null, which transformers cannot use for this family");
  const kv = r.given("num_key_value_heads") ? r.positiveInt("num_key_value_heads") : r.has("num_key_value_heads") ? heads : (dflt ?? heads);
  if (heads % kv !== 0) r.fail("num_key_value_heads", `is ${kv}, which does not divide num_attention_heads (${heads})`);
  return kv;
}

/** The attention head dim: head_dim if given, `dflt` if absent, else (or when null) hidden // heads. */
function headDim(r: ConfigReader, d: Dims, dflt: number | null = null): { value: number; explicit: number | null } {
  const value = r.given("head_dim") ? r.positiveInt("head_dim") : !r.has("head_dim") && dflt !== null ? dflt : Math.floor(d.hidden / d.heads);
  return { value, explicit: value * d.heads === d.hidden ? null : value };
}

function expertCount(r: ConfigReader, keys: readonly string[], dflt: number): number {
  const k = r.alias(keys);
  return k === null ? dflt : r.int(k);
}

function topK(r: ConfigReader, experts: number, dflt: number | null, keys: readonly string[] = ["num_experts_per_tok"]): number {
  const key = r.alias(keys) ?? keys[0]!;
  const k = dflt === null ? r.positiveInt(key) : r.positiveInt(key, dflt);
  if (experts > 0 && k > experts) r.fail(key, `is ${k}, more than the ${experts} experts`);
  return k;
}

function tied(r: ConfigReader): boolean {
  return r.bool("tie_word_embeddings", false);
}

function positiveWindow(r: ConfigReader, key: string, what: string): number {
  const w = r.int(key);
  if (w <= 0) r.fail(key, `is ${w}, but ${what}`);
  return w;
}

/** Per-layer sliding flags from `layer_types` (GPT-OSS, Qwen2-MoE). */
function layerTypes(r: ConfigReader, layers: number, dflt: (i: number) => boolean): boolean[] {
  if (!r.given("layer_types")) return Array.from({ length: layers }, (_, i) => dflt(i));
  const types = r.strList("layer_types");
  if (types.length !== layers) r.fail("layer_types", `has ${types.length} entries for ${layers} layers (num_hidden_layers)`);
  return types.map((t) => {
    if (t !== "sliding_attention" && t !== "full_attention") r.fail("layer_types", `contains ${show(t)}; supported layer types are "full_attention" and "sliding_attention"`);
    return t === "sliding_attention";
  });
}

const SWIGLU_NAMES = ["gate_proj", "up_proj", "down_proj"] as const;
const W_NAMES = ["w1", "w3", "w2"] as const;

function router(p: Partial<RouterSpec> & Pick<RouterSpec, "k" | "scoring" | "comment">): RouterSpec {
  return { name: "gate", renormalize: false, bias: false, selectionBias: false, groups: null, scale: 1, jitterEps: null, ...p };
}

const none = <T>(xs: readonly T[]) => xs.every((x) => !x);

/** Notes a key that is read but has no effect for the values given. */
function unusedNote(r: ConfigReader, key: string, why: string, notes: string[]): void {
  if (r.given(key)) notes.push(`${key} = ${show(r.raw(key))}: ${why}`);
}

// ---- Qwen-style sparsity (decoder_sparse_step, mlp_only_layers) -------------------------

function qwenSparsity(r: ConfigReader, layers: number, experts: number): { sparse: boolean[]; rule: ModelSpec["sparseRule"] } {
  const step = r.int("decoder_sparse_step", 1);
  if (step <= 0) r.fail("decoder_sparse_step", `must be positive, got ${step}`);
  const only = r.given("mlp_only_layers") ? r.intList("mlp_only_layers") : [];
  for (const l of only) if (l < 0 || l >= layers) r.fail("mlp_only_layers", `contains layer ${l}, outside 0..${layers - 1}`);
  const sparse = Array.from({ length: layers }, (_, i) => !only.includes(i) && experts > 0 && (i + 1) % step === 0);
  const parts: string[] = [];
  const consts: [string, number][] = [];
  if (step !== 1) {
    parts.push("(i + 1) % sparse_step == 0");
    consts.push(["sparse_step", step]);
  }
  const dense = [...new Set(only)].sort((a, b) => a - b).filter((l) => step === 1 || (l + 1) % step === 0);
  for (const l of dense) parts.push(`i != ${l}`);
  return { sparse, rule: parts.length ? { expr: parts.join(" and "), consts } : null };
}

// ---- the families ------------------------------------------------------------------------

const mixtral: Family = {
  modelType: "mixtral",
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "rms_norm_eps", "sliding_window", "num_experts_per_tok", "num_local_experts", "num_experts",
    "router_jitter_noise", "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 32000, hidden: 4096, layers: 32, heads: 32, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d);
    const experts = expertCount(r, ["num_local_experts", "num_experts"], 8);
    const k = topK(r, experts, 2);
    const jitter = r.num("router_jitter_noise", 0);
    if (jitter !== 0) notes.push(`router_jitter_noise = ${jitter} only perturbs the router input while training (MixtralSparseMoeBlock), so it has no effect here`);
    const window = r.given("sliding_window") ? positiveWindow(r, "sliding_window", "a sliding window must be positive (or null for none)") : null;
    return {
      ...d,
      norm: "rmsnorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias: false, outBias: false, qkNorm: null, sinks: false, clipQkv: null, window: window === null ? null : { size: window, layers: Array(d.layers).fill(true) } },
      rope: readRope(r, { defaultTheta: 1e6, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: W_NAMES, act: activation(r), denseBias: false },
      moe: { experts, ffn: r.positiveInt("intermediate_size", 14336), expertsName: "experts.{e}", router: router({ k, scoring: "softmax", renormalize: true, comment: "softmax over all experts, top-k, renormalised over the chosen k" }), shared: null },
      ffnName: "block_sparse_moe",
      sparse: Array(d.layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

const qwen2Moe: Family = {
  modelType: "qwen2_moe",
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "rms_norm_eps", "use_sliding_window", "sliding_window", "max_window_layers", "layer_types",
    "decoder_sparse_step", "moe_intermediate_size", "shared_expert_intermediate_size", "num_experts_per_tok", "num_experts",
    "norm_topk_prob", "mlp_only_layers", "qkv_bias", "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 151936, hidden: 2048, layers: 24, heads: 16, eps: 1e-6 });
    const kv = kvHeads(r, d.heads, 16, false);
    const hd = headDim(r, d);
    const experts = r.int("num_experts", 60);
    const k = topK(r, experts, 4);
    const norm = r.bool("norm_topk_prob", false);
    // Qwen2MoeConfig.__post_init__: sliding_window = sliding_window if use_sliding_window else 0,
    // and layer_types (when not given) marks even layers below max_window_layers as sliding.
    const useSw = r.bool("use_sliding_window", false);
    const maxWindowLayers = r.int("max_window_layers", 28);
    const swRaw = r.has("sliding_window") ? r.optInt("sliding_window") : 4096;
    const sw = useSw ? swRaw : 0;
    const sliding = layerTypes(r, d.layers, (i) => (i + 1) % 2 === 1 && i < maxWindowLayers && useSw);
    if (!none(sliding) && !(sw !== null && sw > 0)) {
      r.fail(useSw ? "sliding_window" : "use_sliding_window", `makes the sliding window ${show(sw)} (use_sliding_window = ${useSw}, sliding_window = ${show(swRaw)}), but layer_types has sliding_attention layers`);
    }
    if (r.given("layer_types") && r.has("max_window_layers") && useSw) notes.push("max_window_layers is not used because layer_types is given");
    const { sparse, rule } = qwenSparsity(r, d.layers, experts);
    const sharedFfn = r.int("shared_expert_intermediate_size", 5632);
    if (!none(sparse) && sharedFfn <= 0) r.fail("shared_expert_intermediate_size", `is ${sharedFfn}; Qwen2-MoE always has a shared expert, so it must be positive`);
    return {
      ...d,
      norm: "rmsnorm",
      attention: {
        kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias: r.bool("qkv_bias", true), outBias: false, qkNorm: null, sinks: false, clipQkv: null,
        window: none(sliding) ? null : { size: sw!, layers: sliding },
      },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("moe_intermediate_size", 1408), expertsName: "experts.{e}",
        router: router({ k, scoring: "softmax", renormalize: norm, comment: `softmax over all experts, top-k${norm ? ", renormalised (norm_topk_prob)" : ", not renormalised (norm_topk_prob false)"}` }),
        shared: { ffn: sharedFfn, count: null, name: "shared_expert", gate: "shared_expert_gate" },
      },
      ffnName: "mlp",
      sparse,
      sparseRule: rule,
      denseFfn: r.positiveInt("intermediate_size", 5632),
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

const qwen3Moe: Family = {
  modelType: "qwen3_moe",
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "rms_norm_eps", "attention_bias", "use_sliding_window", "sliding_window", "max_window_layers",
    "decoder_sparse_step", "moe_intermediate_size", "num_experts_per_tok", "num_experts", "num_local_experts",
    "norm_topk_prob", "mlp_only_layers", "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 151936, hidden: 2048, layers: 24, heads: 32, eps: 1e-6 });
    const kv = kvHeads(r, d.heads, 4, false);
    const hd = headDim(r, d);
    const experts = expertCount(r, ["num_experts", "num_local_experts"], 128);
    const k = topK(r, experts, 8);
    const norm = r.bool("norm_topk_prob", false);
    const bias = r.bool("attention_bias", false);
    // Qwen3MoeConfig.__post_init__: sliding_window only when use_sliding_window; then every
    // layer uses it (create_sliding_window_causal_mask for the whole model).
    const useSw = r.bool("use_sliding_window", false);
    const window = useSw && r.given("sliding_window") ? positiveWindow(r, "sliding_window", "a sliding window must be positive") : null;
    if (useSw && window !== null) unusedNote(r, "max_window_layers", "transformers 5.17's qwen3_moe applies the sliding window to every layer and does not read it", notes);
    const { sparse, rule } = qwenSparsity(r, d.layers, experts);
    return {
      ...d,
      norm: "rmsnorm",
      attention: {
        kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: "head", sinks: false, clipQkv: null,
        window: window === null ? null : { size: window, layers: Array(d.layers).fill(true) },
      },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("moe_intermediate_size", 768), expertsName: "experts.{e}",
        router: router({ k, scoring: "softmax", renormalize: norm, comment: `softmax over all experts, top-k${norm ? ", renormalised (norm_topk_prob)" : ", not renormalised (norm_topk_prob false)"}` }),
        shared: null,
      },
      ffnName: "mlp",
      sparse,
      sparseRule: rule,
      denseFfn: r.positiveInt("intermediate_size", 6144),
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

const olmoe: Family = {
  modelType: "olmoe",
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "hidden_act", "rms_norm_eps", "attention_bias", "clip_qkv", "num_experts_per_tok", "num_experts", "num_local_experts",
    "norm_topk_prob", "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 50304, hidden: 2048, layers: 16, heads: 16, eps: 1e-5 });
    if (d.hidden % d.heads !== 0) r.fail("hidden_size", `(${d.hidden}) must be a multiple of num_attention_heads (${d.heads}): OLMoE's q_norm spans hidden_size`);
    const kv = kvHeads(r, d.heads, null);
    const experts = expertCount(r, ["num_experts", "num_local_experts"], 64);
    const k = topK(r, experts, 8);
    const norm = r.bool("norm_topk_prob", false);
    const bias = r.bool("attention_bias", false);
    const clip = r.optNum("clip_qkv");
    if (clip !== null && !(clip > 0)) r.fail("clip_qkv", `must be positive or null, got ${clip}`);
    return {
      ...d,
      norm: "rmsnorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: null, bias, outBias: bias, qkNorm: "full", sinks: false, clipQkv: clip, window: null },
      rope: readRope(r, { defaultTheta: 10000, rotaryDim: d.hidden / d.heads, style: "half", allowPartial: true, phimoe: false }, notes),
      mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("intermediate_size", 2048), expertsName: "experts.{e}",
        router: router({ k, scoring: "softmax", renormalize: norm, comment: `softmax over all experts, top-k${norm ? ", renormalised (norm_topk_prob)" : ", not renormalised (norm_topk_prob false)"}` }),
        shared: null,
      },
      ffnName: "mlp",
      sparse: Array(d.layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

// ---- DeepSeek (MLA) ----------------------------------------------------------------------

const DEEPSEEK_KEYS = [
  "vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers", "num_attention_heads",
  "num_key_value_heads", "hidden_act", "rms_norm_eps", "attention_bias", "first_k_dense_replace", "moe_layer_freq",
  "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "qk_head_dim", "head_dim",
  "n_routed_experts", "n_shared_experts", "num_experts_per_tok", "routed_scaling_factor", "n_group", "topk_group",
  "topk_method", "scoring_func", "norm_topk_prob", "tie_word_embeddings",
  // no effect on inference: tensor-parallel slicing, training losses, expert parallelism
  "pretraining_tp", "aux_loss_alpha", "seq_aux", "ep_size",
  ...ROPE_KEYS,
] as const;

interface DeepseekDefaults {
  vocab: number; hidden: number; layers: number; heads: number; kv: number | null; intermediate: number; moeIntermediate: number;
  experts: number; shared: number; topK: number | null; firstDense: number; qLora: number; kvLora: number; qkNope: number; qkRope: number;
  vDim: number; scale: number; nGroup: number | null; topkGroup: number | null;
}

function deepseekCommon(r: ConfigReader, df: DeepseekDefaults, notes: string[], interleave: boolean, expertKeys: readonly string[]) {
  const d = dims(r, { vocab: df.vocab, hidden: df.hidden, layers: df.layers, heads: df.heads, eps: 1e-6 });
  const kv = kvHeads(r, d.heads, df.kv);
  if (kv !== d.heads) r.fail("num_key_value_heads", `is ${kv}; transformers' MLA expands the latent to all ${d.heads} heads, so it must equal num_attention_heads`);
  if (r.bool("attention_bias", false)) r.fail("attention_bias", "is true: MLA projection biases (q_a_proj, kv_a_proj_with_mqa, o_proj) cannot be expressed by the language's mla op yet");
  const qkNope = r.positiveInt("qk_nope_head_dim", df.qkNope);
  const qkRope = r.positiveInt("qk_rope_head_dim", df.qkRope);
  if (r.given("qk_head_dim") && r.int("qk_head_dim") !== qkNope + qkRope) r.fail("qk_head_dim", `is ${r.int("qk_head_dim")}, but qk_nope_head_dim + qk_rope_head_dim = ${qkNope + qkRope}`);
  if (r.given("head_dim") && r.int("head_dim") !== qkRope) notes.push(`head_dim = ${r.int("head_dim")} is replaced by qk_rope_head_dim (${qkRope}) in transformers' config`);
  const layerFreq = r.int("moe_layer_freq", 1);
  if (layerFreq !== 1) r.fail("moe_layer_freq", `is ${layerFreq}: transformers ignores it (every layer from first_k_dense_replace on is MoE) while DeepSeek's reference code uses it, so the layout is ambiguous; only 1 is supported`);
  const firstDense = r.int("first_k_dense_replace", df.firstDense);
  if (firstDense < 0) r.fail("first_k_dense_replace", `must not be negative, got ${firstDense}`);
  const experts = r.positiveInt(r.alias(expertKeys) ?? "n_routed_experts", df.experts);
  const k = topK(r, experts, df.topK);
  const nShared = r.int("n_shared_experts", df.shared);
  if (nShared <= 0) r.fail("n_shared_experts", `is ${nShared}; transformers always builds the shared MLP (moe_intermediate_size × n_shared_experts wide), so it must be positive`);
  const qLora = r.has("q_lora_rank") ? r.optInt("q_lora_rank") : df.qLora;
  if (qLora !== null && qLora <= 0) r.fail("q_lora_rank", `must be positive or null, got ${qLora}`);
  const attention: MlaSpec = {
    kind: "mla", heads: d.heads, qLoraRank: qLora, kvLoraRank: r.positiveInt("kv_lora_rank", df.kvLora), qkNope, qkRope,
    vDim: r.positiveInt("v_head_dim", df.vDim), normEps: 1e-6,
  };
  const moeFfn = r.positiveInt("moe_intermediate_size", df.moeIntermediate);
  const sparse = Array.from({ length: d.layers }, (_, i) => i >= firstDense);
  const scale = r.num("routed_scaling_factor", df.scale);
  return {
    d, attention, experts, k, nShared, moeFfn, sparse, scale,
    rule: firstDense > 0 && firstDense < d.layers ? { expr: "i >= first_dense", consts: [["first_dense", firstDense]] as [string, number][] } : null,
    denseFfn: r.positiveInt("intermediate_size", df.intermediate),
    rope: readRope(r, { defaultTheta: 10000, rotaryDim: qkRope, style: interleave ? "interleaved" : "half", allowPartial: false, phimoe: false }, notes),
  };
}

function deepseekSpec(r: ConfigReader, c: ReturnType<typeof deepseekCommon>, routerSpec: RouterSpec, mlpBias: boolean): FamilySpec {
  const moe: MoeSpec = { experts: c.experts, ffn: c.moeFfn, expertsName: "experts.{e}", router: routerSpec, shared: { ffn: c.nShared * c.moeFfn, count: c.nShared, name: "shared_experts", gate: null } };
  return {
    ...c.d,
    norm: "rmsnorm",
    attention: c.attention,
    rope: c.rope,
    mlp: { kind: "swiglu", names: SWIGLU_NAMES, act: activation(r), denseBias: mlpBias },
    moe,
    ffnName: "mlp",
    sparse: c.sparse,
    sparseRule: c.rule,
    denseFfn: c.denseFfn,
    tied: tied(r),
    lmHeadBias: false,
  };
}

function groupsOf(r: ConfigReader, experts: number, k: number, nGroupDefault: number | null, topkGroupDefault: number | null, method: string) {
  const g = r.has("n_group") ? r.optInt("n_group") : nGroupDefault;
  const keep = r.has("topk_group") ? r.optInt("topk_group") : topkGroupDefault;
  if (g === null) r.fail("n_group", `is null, but topk_method "${method}" groups the experts`);
  if (keep === null) r.fail("topk_group", `is null, but topk_method "${method}" keeps topk_group groups`);
  if (g <= 0 || experts % g !== 0) r.fail("n_group", `is ${g}, which does not divide the ${experts} routed experts`);
  if (keep <= 0 || keep > g) r.fail("topk_group", `is ${keep}; it must be between 1 and n_group (${g})`);
  if (k > keep * (experts / g)) r.fail("num_experts_per_tok", `is ${k}, more than the ${keep * (experts / g)} experts in the ${keep} kept groups`);
  return { g, keep };
}

const deepseekV2: Family = {
  modelType: "deepseek_v2",
  keys: [...DEEPSEEK_KEYS, "mlp_bias", "num_experts"],
  build(r, notes) {
    const c = deepseekCommon(r, {
      vocab: 102400, hidden: 4096, layers: 32, heads: 32, kv: null, intermediate: 11008, moeIntermediate: 1407, experts: 64, shared: 2,
      topK: null, firstDense: 0, qLora: 1536, kvLora: 512, qkNope: 128, qkRope: 64, vDim: 128, scale: 1, nGroup: null, topkGroup: null,
    }, notes, true, ["n_routed_experts", "num_experts"]);
    // DeepseekV2TopkRouter: softmax scores; greedy or group-limited (group score = max) top-k;
    // never renormalised (norm_topk_prob is not read); times routed_scaling_factor.
    r.oneOf("scoring_func", ["softmax"], "softmax", "transformers' deepseek_v2 router always uses softmax scores");
    const method = r.oneOf("topk_method", ["greedy", "group_limited_greedy"], "greedy", "these are the methods transformers' deepseek_v2 implements");
    if (r.given("norm_topk_prob") && r.bool("norm_topk_prob")) notes.push("norm_topk_prob = true is not read by transformers' deepseek_v2: the chosen weights are not renormalised");
    let groups: RouterSpec["groups"] = null;
    if (method === "group_limited_greedy") {
      const { g, keep } = groupsOf(r, c.experts, c.k, null, null, method);
      if (g > 1) groups = { count: g, keep, scoring: "max" };
    } else {
      for (const key of ["n_group", "topk_group"]) unusedNote(r, key, `topk_method "greedy" does not group experts`, notes);
    }
    const rs = router({
      k: c.k, scoring: "softmax", renormalize: false, groups, scale: c.scale,
      comment: `softmax over all experts, ${groups ? "group-limited top-k (group score = max, topk_method group_limited_greedy)" : "top-k (topk_method greedy)"}, not renormalised, times routed_scaling_factor`,
    });
    return deepseekSpec(r, c, rs, r.bool("mlp_bias", false));
  },
};

const deepseekV3: Family = {
  modelType: "deepseek_v3",
  keys: [...DEEPSEEK_KEYS, "rope_interleave", "num_nextn_predict_layers", "num_mtp_layers", "num_local_experts", "quantization_config"],
  build(r, notes) {
    const interleave = r.bool("rope_interleave", true);
    const c = deepseekCommon(r, {
      vocab: 129280, hidden: 7168, layers: 61, heads: 128, kv: 128, intermediate: 18432, moeIntermediate: 2048, experts: 256, shared: 1,
      topK: 8, firstDense: 3, qLora: 1536, kvLora: 512, qkNope: 128, qkRope: 64, vDim: 128, scale: 2.5, nGroup: 8, topkGroup: 4,
    }, notes, interleave, ["n_routed_experts", "num_local_experts"]);
    // DeepseekV3TopkRouter (noaux_tc): sigmoid scores, e_score_correction_bias for choosing
    // only, groups scored by the sum of their top-2 biased scores, optional renormalisation.
    r.oneOf("scoring_func", ["sigmoid"], "sigmoid", "transformers' deepseek_v3 router always uses sigmoid scores");
    r.oneOf("topk_method", ["noaux_tc"], "noaux_tc", "transformers' deepseek_v3 router always uses noaux_tc");
    const norm = r.bool("norm_topk_prob", true);
    const { g, keep } = groupsOf(r, c.experts, c.k, 8, 4, "noaux_tc");
    const mtpKey = r.alias(["num_nextn_predict_layers", "num_mtp_layers"]);
    if (mtpKey !== null && r.int(mtpKey) > 0) {
      notes.push(`${mtpKey} = ${r.int(mtpKey)}: the multi-token-prediction layers (model.layers.${c.d.layers} on) are not part of the main model; transformers skips them when loading and so does this program`);
    }
    quantization(r, "fp8", "weights are stored in float8 with per-block <name>_scale_inv tensors, which a loader dequantises to the tensors named here", notes);
    const rs = router({
      k: c.k, scoring: "sigmoid", renormalize: norm, selectionBias: true, groups: g > 1 ? { count: g, keep, scoring: "top2_sum" } : null, scale: c.scale,
      comment: `sigmoid scores, e_score_correction_bias for choosing only, group-limited top-k (group score = sum of the top 2), ${norm ? "renormalised (norm_topk_prob)" : "not renormalised (norm_topk_prob false)"}, times routed_scaling_factor`,
    });
    return deepseekSpec(r, c, rs, false);
  },
};

function quantization(r: ConfigReader, method: string, what: string, notes: string[]): void {
  const q = r.object("quantization_config");
  if (!q) return;
  q.oneOf("quant_method", [method], undefined, "moec import only knows the storage format of the released checkpoints of this family");
  notes.push(`quantization_config (${method}): ${what}`);
}

const gptOss: Family = {
  modelType: "gpt_oss",
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "rms_norm_eps", "attention_bias", "sliding_window", "layer_types", "num_local_experts",
    "num_experts", "num_experts_per_tok", "experts_per_token", "swiglu_limit", "initial_context_length", "quantization_config",
    "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 201088, hidden: 2880, layers: 36, heads: 64, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d, 64);
    const experts = expertCount(r, ["num_local_experts", "num_experts"], 128);
    const k = topK(r, experts, 4, ["num_experts_per_tok", "experts_per_token"]);
    const bias = r.bool("attention_bias", true);
    // GptOssExperts hard-codes alpha 1.702 and limit 7.0; the config value is informational.
    const limit = r.num("swiglu_limit", 7);
    if (limit !== 7) r.fail("swiglu_limit", `is ${limit}, but transformers' gpt_oss clamps at 7.0 whatever the config says; the intended limit is ambiguous`);
    if (r.given("hidden_act") && r.str("hidden_act") !== "silu") notes.push(`hidden_act = ${show(r.raw("hidden_act"))} is not used: GPT-OSS experts always use the clamped SwiGLU`);
    unusedNote(r, "initial_context_length", "the original training context; RoPE reads original_max_position_embeddings", notes);
    const sliding = layerTypes(r, d.layers, (i) => (i + 1) % 2 === 1);
    const sw = r.has("sliding_window") ? r.optInt("sliding_window") : 128;
    if (!none(sliding) && !(sw !== null && sw > 0)) r.fail("sliding_window", `is ${show(sw)}, but layer_types has sliding_attention layers`);
    quantization(r, "mxfp4", "the expert projections are stored as MXFP4 <name>_blocks / <name>_scales, which a loader dequantises to the [experts, in, out] tensors named here", notes);
    // GptOssConfig.__post_init__: without rope settings, YaRN (factor 32 over 4096 positions).
    const ropeOpts: RopeOptions = { defaultTheta: 150000, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: false };
    const hasRope = r.given("rope_parameters") || r.given("rope_scaling");
    if (!hasRope) notes.push("no rope_parameters: GptOssConfig defaults to YaRN (factor 32 over 4096 positions, beta_fast 32, beta_slow 1, truncate false)");
    if (!hasRope && (r.has("rope_scaling") || r.has("rope_parameters"))) {
      // transformers 5.17: `rope_scaling or self.rope_parameters`, so a null is the same as absent; transformers 4
      // read `rope_scaling: null` as plain RoPE.
      notes.push(`${r.has("rope_scaling") ? "rope_scaling" : "rope_parameters"} is null, which transformers 5.17 reads as absent, so the YaRN default applies (transformers 4 read rope_scaling: null as plain RoPE); plain RoPE is {"rope_type": "default"}`);
    }
    const rope = hasRope
      ? readRope(r, ropeOpts, notes)
      : readRope(new ConfigReader(r.source, r.family, {
          ...r.obj, rope_parameters: { rope_type: "yarn", factor: 32, beta_fast: 32, beta_slow: 1, truncate: false, original_max_position_embeddings: 4096 },
        }), ropeOpts, notes);
    return {
      ...d,
      norm: "rmsnorm",
      attention: {
        kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: null, sinks: true, clipQkv: null,
        window: none(sliding) ? null : { size: sw!, layers: sliding },
      },
      rope,
      mlp: { kind: "gpt_oss", names: ["gate_up_proj", "gate_up_proj", "down_proj"], act: "silu", denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("intermediate_size", 2880), expertsName: "experts",
        router: router({ name: "router", k, scoring: "softmax_topk", bias: true, comment: "a linear router with bias; top-k of the logits, softmax over the chosen k" }),
        shared: null,
      },
      ffnName: "mlp",
      sparse: Array(d.layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: tied(r),
      lmHeadBias: false,
    };
  },
};

const phimoe: Family = {
  modelType: "phimoe",
  keys: [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "rms_norm_eps", "attention_bias", "sliding_window", "num_local_experts", "num_experts_per_tok",
    "router_jitter_noise", "input_jitter_noise", "lm_head_bias", "tie_word_embeddings", ...ROPE_KEYS,
  ],
  build(r, notes) {
    const d = dims(r, { vocab: 32064, hidden: 4096, layers: 32, heads: 32, eps: 1e-5 });
    const kv = kvHeads(r, d.heads, 8);
    const hd = headDim(r, d);
    const experts = r.positiveInt("num_local_experts", 16);
    const k = topK(r, experts, 2);
    if (k !== 2) r.fail("num_experts_per_tok", `is ${k}, but PhiMoE's sparsemixer routing always picks exactly 2 experts`);
    const jitter = r.num("router_jitter_noise", 0.01);
    const inputJitter = r.num("input_jitter_noise", 0);
    if (inputJitter !== 0) notes.push(`input_jitter_noise = ${inputJitter} only perturbs the router input while training, so it has no effect here`);
    const bias = r.bool("attention_bias", false);
    const lmHeadBias = r.bool("lm_head_bias", false);
    const isTied = tied(r);
    if (isTied && lmHeadBias) r.fail("lm_head_bias", "is true together with tie_word_embeddings: a tied output head with its own bias cannot be named in the language (the bias would be model.embed_tokens.bias)");
    const window = r.given("sliding_window") ? positiveWindow(r, "sliding_window", "a sliding window must be positive (or null for none)") : null;
    return {
      ...d,
      norm: "layernorm",
      attention: { kind: "attention", heads: d.heads, kvHeads: kv, headDim: hd.explicit, bias, outBias: bias, qkNorm: null, sinks: false, clipQkv: null, window: window === null ? null : { size: window, layers: Array(d.layers).fill(true) } },
      rope: readRope(r, { defaultTheta: 1e6, rotaryDim: hd.value, style: "half", allowPartial: true, phimoe: true, types: ["default", "longrope"] }, notes),
      mlp: { kind: "swiglu", names: W_NAMES, act: activation(r), denseBias: false },
      moe: {
        experts, ffn: r.positiveInt("intermediate_size", 6400), expertsName: "experts.{e}",
        router: router({ k: 2, scoring: "sparsemixer", jitterEps: jitter, comment: "sparsemixer (inference form): two arg-max picks, each weighted by a softmax over the logits within 2·router_jitter_noise of it" }),
        shared: null,
      },
      ffnName: "block_sparse_moe",
      sparse: Array(d.layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: isTied,
      lmHeadBias,
    };
  },
};

export const FAMILIES: ReadonlyMap<string, Family> = new Map([mixtral, qwen2Moe, qwen3Moe, olmoe, deepseekV2, deepseekV3, gptOss, phimoe].map((f) => [f.modelType, f]));
