// Pieces shared by the family tables: typed readers for the keys most families spell the same
// way, with the defaults and checks of transformers 5.17's config classes.
import { ConfigReader, show } from "../config.js";
import type { ModelSpec, MlpSpec, RouterSpec } from "../spec.js";

export type FamilySpec = Omit<ModelSpec, "source" | "family" | "architecture" | "transformersVersion" | "notes">;

export interface Family {
  readonly modelType: string;
  /** The transformers classes (`architectures[0]`) this family implements. */
  readonly architectures: readonly string[];
  /** Config keys this family understands, besides the shared no-effect keys. */
  readonly keys: readonly string[];
  /** The model as a spec for emit.ts, or, for a family whose layers do not fit it (Nemotron-H), its program text. */
  build(r: ConfigReader, notes: string[]): FamilySpec | ProgramBody;
}

/** A program written by the family itself: the lines from `model Name {` to `}`, under emit.ts's header. */
export interface ProgramBody {
  readonly kind: "program";
  readonly lines: readonly string[];
  /** transformers' modeling_<name>.py when it is not named after the model_type (gemma4_text: gemma4). */
  readonly modeling?: string;
}

const ACTS = { silu: "silu", swish: "silu", gelu: "gelu", gelu_new: "gelu_tanh", gelu_pytorch_tanh: "gelu_tanh", gelu_fast: "gelu_tanh", relu: "relu" } as const;

export function activation(r: ConfigReader): MlpSpec["act"] {
  const a = r.oneOf("hidden_act", Object.keys(ACTS), "silu");
  return ACTS[a as keyof typeof ACTS];
}

export interface Dims {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  eps: number;
}

/** Most layers an import builds (per-layer tables are made for each): the elaborator's loop limit, MAX_LOOP. */
export const MAX_IMPORT_LAYERS = 100_000;

export function dims(r: ConfigReader, d: { vocab: number; hidden: number; layers: number; heads: number; eps: number }): Dims {
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
export function kvHeads(r: ConfigReader, heads: number, dflt: number | null, nullMeansHeads = true): number {
  if (r.has("num_key_value_heads") && r.raw("num_key_value_heads") === null && !nullMeansHeads) r.fail("num_key_value_heads", "is null, which transformers cannot use for this family");
  const kv = r.given("num_key_value_heads") ? r.positiveInt("num_key_value_heads") : r.has("num_key_value_heads") ? heads : (dflt ?? heads);
  if (heads % kv !== 0) r.fail("num_key_value_heads", `is ${kv}, which does not divide num_attention_heads (${heads})`);
  return kv;
}

/** The attention head dim: head_dim if given, `dflt` if absent, else (or when null) hidden // heads. */
export function headDim(r: ConfigReader, d: Dims, dflt: number | null = null): { value: number; explicit: number | null } {
  const value = r.given("head_dim") ? r.positiveInt("head_dim") : !r.has("head_dim") && dflt !== null ? dflt : Math.floor(d.hidden / d.heads);
  return { value, explicit: value * d.heads === d.hidden ? null : value };
}

export function expertCount(r: ConfigReader, keys: readonly string[], dflt: number): number {
  const k = r.alias(keys);
  return k === null ? dflt : r.int(k);
}

export function topK(r: ConfigReader, experts: number, dflt: number | null, keys: readonly string[] = ["num_experts_per_tok"]): number {
  const key = r.alias(keys) ?? keys[0]!;
  const k = dflt === null ? r.positiveInt(key) : r.positiveInt(key, dflt);
  if (experts > 0 && k > experts) r.fail(key, `is ${k}, more than the ${experts} experts`);
  return k;
}

export function tied(r: ConfigReader): boolean {
  return r.bool("tie_word_embeddings", false);
}

export function positiveWindow(r: ConfigReader, key: string, what: string): number {
  const w = r.int(key);
  if (w <= 0) r.fail(key, `is ${w}, but ${what}`);
  return w;
}

/** Per-layer sliding flags from `layer_types` (GPT-OSS, Qwen2-MoE, dots.llm1). */
export function layerTypes(r: ConfigReader, layers: number, dflt: (i: number) => boolean): boolean[] {
  if (!r.given("layer_types")) return Array.from({ length: layers }, (_, i) => dflt(i));
  const types = r.strList("layer_types");
  if (types.length !== layers) r.fail("layer_types", `has ${types.length} entries for ${layers} layers (num_hidden_layers)`);
  return types.map((t) => {
    if (t !== "sliding_attention" && t !== "full_attention") r.fail("layer_types", `contains ${show(t)}; supported layer types are "full_attention" and "sliding_attention"`);
    return t === "sliding_attention";
  });
}

export const SWIGLU_NAMES = ["gate_proj", "up_proj", "down_proj"] as const;
export const W_NAMES = ["w1", "w3", "w2"] as const;

export function router(p: Partial<RouterSpec> & Pick<RouterSpec, "k" | "scoring" | "comment">): RouterSpec {
  return { name: "gate", renormalize: false, bias: false, selectionBias: false, groups: null, scale: 1, jitterEps: null, ...p };
}

export const none = <T>(xs: readonly T[]) => xs.every((x) => !x);

/** Notes a key that is read but has no effect for the values given. */
export function unusedNote(r: ConfigReader, key: string, why: string, notes: string[]): void {
  if (r.given(key)) notes.push(`${key} = ${show(r.raw(key))}: ${why}`);
}

/**
 * A key whose only supported value is the family's fixed behaviour (Qwen3-Coder's `use_qk_norm: true`):
 * absent, or that value, is accepted; anything else fails, naming the key, the value and why.
 */
export function fixedValue(r: ConfigReader, key: string, value: boolean | number | string, why: string): void {
  if (!r.given(key)) return;
  const v = r.raw(key);
  if (v !== value) r.fail(key, `is ${show(v)}; ${why}, so only ${show(value)} (the family's behaviour) is supported`);
}

/** `quantization_config`: only the storage format the family's released checkpoints use. */
export function quantization(r: ConfigReader, methods: readonly string[], what: string, notes: string[]): void {
  const q = r.object("quantization_config");
  if (!q) return;
  const m = q.oneOf("quant_method", methods, undefined, "moec import only knows the storage format of the released checkpoints of this family");
  notes.push(`quantization_config (${m}): ${what}`);
}

export const FP8_BLOCKS = "weights are stored in float8 with per-block <name>_scale_inv tensors, which a loader dequantises to the tensors named here";

// ---- Qwen-style sparsity (decoder_sparse_step, mlp_only_layers) -------------------------

export function qwenSparsity(r: ConfigReader, layers: number, experts: number): { sparse: boolean[]; rule: ModelSpec["sparseRule"] } {
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

/** DeepSeek-style first_k_dense_replace: layers below it are dense. */
export function firstDense(r: ConfigReader, layers: number, dflt: number): { sparse: boolean[]; rule: ModelSpec["sparseRule"]; first: number } {
  const first = r.int("first_k_dense_replace", dflt);
  if (first < 0) r.fail("first_k_dense_replace", `must not be negative, got ${first}`);
  const sparse = Array.from({ length: layers }, (_, i) => i >= first);
  return { sparse, first, rule: first > 0 && first < layers ? { expr: "i >= first_dense", consts: [["first_dense", first]] } : null };
}

/** Group-limited routing settings (n_group, topk_group), checked against the experts and k. */
export function groupsOf(r: ConfigReader, experts: number, k: number, nGroupDefault: number | null, topkGroupDefault: number | null, method: string) {
  const g = r.has("n_group") ? r.optInt("n_group") : nGroupDefault;
  const keep = r.has("topk_group") ? r.optInt("topk_group") : topkGroupDefault;
  if (g === null) r.fail("n_group", `is null, but topk_method "${method}" groups the experts`);
  if (keep === null) r.fail("topk_group", `is null, but topk_method "${method}" keeps topk_group groups`);
  if (g <= 0 || experts % g !== 0) r.fail("n_group", `is ${g}, which does not divide the ${experts} routed experts`);
  if (keep <= 0 || keep > g) r.fail("topk_group", `is ${keep}; it must be between 1 and n_group (${g})`);
  if (k > keep * (experts / g)) r.fail("num_experts_per_tok", `is ${k}, more than the ${keep * (experts / g)} experts in the ${keep} kept groups`);
  return { g, keep };
}

/** The multi-token-prediction layers some checkpoints carry after the main model. */
export function mtpNote(r: ConfigReader, layers: number, notes: string[]): void {
  const key = r.alias(["num_nextn_predict_layers", "num_mtp_layers"]);
  if (key !== null && r.int(key) > 0) {
    notes.push(`${key} = ${r.int(key)}: the multi-token-prediction layers (model.layers.${layers} on) are not part of the main model; transformers skips them when loading and so does this program`);
  }
}
