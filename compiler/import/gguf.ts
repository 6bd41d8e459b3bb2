// GGUF import: a GGUF file as llama.cpp's convert_hf_to_gguf.py writes it for an MoE model
// (Mixtral as general.architecture "llama" with experts, "qwen2moe", "qwen3moe", "olmoe", "glm4moe",
// "dots1", "granitemoe"; "deepseek2", "gpt-oss", "ernie4_5-moe", "hunyuan-moe", "llama4", "dbrx",
// "exaone-moe", "qwen3next", "qwen35moe", "granitehybrid", "nemotron_h" / "nemotron_h_moe", "glm-dsa", "jamba" and "qwen3vlmoe" in
// gguf-<family>.ts) → the Hugging
// Face config.json it was converted from (then `importHfConfig` makes the .moe program), and
// a WeightSource that presents the GGUF tensors under their Hugging Face names and shapes.
//
// What the converter changed, and this module undoes:
//  - names: token_embd → model.embed_tokens, blk.N.attn_q → model.layers.N.self_attn.q_proj, ...
//  - shapes: GGUF lists dims fastest first (ne), so the HF shape is ne reversed;
//  - experts: per-expert [I, H] matrices are stacked into one blk.N.ffn_{gate,up,down}_exps
//    tensor (ne = [H, I, E]); expert e is rows e·I .. (e+1)·I of it;
//  - "llama" only: LlamaModel.permute reorders the rows of q_proj and k_proj (weights and
//    biases) within each head from the half-split layout HF's rotary uses to the interleaved
//    pairs llama.cpp's rope rotates: HF row h·D + s·D/2 + i becomes GGUF row h·D + 2i + s
//    (s ∈ {0, 1}, i < D/2, D the head dim, n_head the kv heads for k_proj). Reading GGUF row
//    h·D + 2i + s back into HF row h·D + s·D/2 + i inverts it exactly.
import type { StorageFormat } from "../../runtime/plan/formats.js";
import { type GgufFile, type GgufTensorInfo, type GgufValue } from "../../runtime/weights/gguf.js";
import { WeightFileError, type RawTensor, type TensorInfo, type WeightSource } from "../../runtime/weights/safetensors.js";
import type { Json, JsonObject } from "./config.js";
import { deepseek2ToHf, joinMlaKvB } from "./gguf-deepseek.js";
import { dbrxToHf } from "./gguf-dbrx.js";
import { ernieToHf } from "./gguf-ernie.js";
import { exaoneMoeToHf } from "./gguf-exaone.js";
import { glmDsaToHf } from "./gguf-glm-dsa.js";
import { gptOssToHf } from "./gguf-gpt-oss.js";
import { graniteHybridToHf } from "./gguf-granite-hybrid.js";
import { hunyuanToHf } from "./gguf-hunyuan.js";
import { jambaToHf } from "./gguf-jamba.js";
import { llama4ToHf } from "./gguf-llama4.js";
import { nemotronHToHf } from "./gguf-nemotron-h.js";
import { qwen35moeToHf } from "./gguf-qwen35.js";
import { qwen3vlmoeToHf } from "./gguf-qwen3vl.js";
import { qwen3nextToHf } from "./gguf-qwen3next.js";

export type GgufFamily = "mixtral" | "qwen2_moe" | "qwen3_moe" | "olmoe" | "glm4_moe" | "dots1" | "granitemoe" | "granitemoeshared" | "deepseek_v2" | "deepseek_v3" | "minimax_m2" | "gpt_oss" | "ernie4_5_moe" | "hunyuan_v1_moe" | "llama4_text" | "dbrx" | "exaone_moe" | "qwen3_next" | "qwen3_5_moe" | "granitemoehybrid" | "nemotron_h" | "glm_moe_dsa" | "jamba" | "qwen3_vl_moe";

/** GGUF architectures this importer reads, and the Hugging Face model_type each came from. */
export const GGUF_ARCHITECTURES: Readonly<Record<string, string>> = {
  llama: "mixtral (a \"llama\" GGUF with llama.expert_count > 0)",
  qwen2moe: "qwen2_moe",
  qwen3moe: "qwen3_moe",
  olmoe: "olmoe",
  glm4moe: "glm4_moe",
  dots1: "dots1",
  granitemoe: "granitemoe (granitemoeshared with shared experts)",
  "minimax-m2": "minimax_m2",
  deepseek2: "deepseek_v2 (softmax routing) or deepseek_v3 (sigmoid routing; also Kimi-K2 and GLM-4.7-Flash files)",
  "gpt-oss": "gpt_oss",
  "ernie4_5-moe": "ernie4_5_moe",
  "hunyuan-moe": "hunyuan_v1_moe",
  llama4: "llama4_text (Llama-4 Scout and Maverick; the language model of the multimodal checkpoints)",
  dbrx: "dbrx",
  "exaone-moe": "exaone_moe (K-EXAONE)",
  qwen3next: "qwen3_next (Qwen3-Next: gated DeltaNet and attention layers)",
  qwen35moe: "qwen3_5_moe (Qwen3.5 / Qwen3.6 MoE, the language model)",
  granitehybrid: "granitemoehybrid (Granite-4.0-H: Mamba-2 and attention layers)",
  nemotron_h: "nemotron_h (Nemotron-H without experts: Mamba-2, attention and ReLU² MLP layers)",
  nemotron_h_moe: "nemotron_h (Nemotron-3 Nano: Mamba-2, attention and mixture-of-experts layers)",
  "glm-dsa": "glm_moe_dsa (GLM-5: MLA with DeepSeek Sparse Attention's indexer)",
  jamba: "jamba (Jamba, Jamba-1.5, Jamba2: Mamba-1 and attention layers)",
  qwen3vlmoe: "qwen3_vl_moe (Qwen3-VL-MoE, the language model; the vision tower is in a separate mmproj file)",
};

/** The architectures with DeepSeek-V3's router: sigmoid scores, exp_probs_b, shared experts, leading dense layers. */
const V3_ROUTED = new Set(["glm4moe", "dots1"]);

/** llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX and _SIGMOID. */
export const GATING_SOFTMAX = 1;
export const GATING_SIGMOID = 2;

const UNSUPPORTED = "the GGUF metadata does not describe a model moec can import";

/** Typed access to `<arch>.*` and other metadata keys; every problem names the file and key. */
/** At most 12 numbers, then a count: a list in a message stays readable whatever the file claims. */
export function listed(ns: readonly number[]): string {
  return ns.length <= 12 ? ns.join(", ") : `${ns.slice(0, 12).join(", ")} … (${ns.length} in all)`;
}

export class Meta {
  constructor(readonly g: GgufFile, readonly arch: string) {}

  fail(key: string, problem: string): never {
    throw new WeightFileError(this.g.file, `metadata "${key}" ${problem}; ${UNSUPPORTED}`);
  }

  key(k: string): string {
    return `${this.arch}.${k}`;
  }

  private value(key: string): GgufValue | undefined {
    return this.g.get(key);
  }

  has(key: string): boolean {
    return this.g.metadata.has(key);
  }

  /**
   * A number-valued key (any integer or float type). A float32 value is given as the shortest
   * decimal that rounds to it (1e-5, not 9.999999747378752e-6): the value the converter was given.
   */
  optNum(key: string): number | null {
    const v = this.value(key);
    if (v === undefined) return null;
    if (typeof v !== "number") this.fail(key, `must be a number, got ${typeof v === "bigint" ? `the 64-bit integer ${v}` : JSON.stringify(v)}`);
    return this.g.metadata.get(key)!.type === "f32" ? shortestF32(v) : v;
  }

  num(key: string, dflt?: number): number {
    const v = this.optNum(key) ?? dflt;
    if (v === undefined) this.fail(key, "is missing");
    return v;
  }

  optInt(key: string): number | null {
    const v = this.optNum(key);
    if (v !== null && !Number.isSafeInteger(v)) this.fail(key, `must be an integer, got ${v}`);
    return v;
  }

  int(key: string, dflt?: number): number {
    const v = this.optInt(key) ?? dflt;
    if (v === undefined) this.fail(key, "is missing");
    return v;
  }

  positiveInt(key: string, dflt?: number): number {
    const v = this.int(key, dflt);
    if (v <= 0) this.fail(key, `must be positive, got ${v}`);
    return v;
  }

  /** A per-layer count: one integer, or an array of one integer per layer that must all be equal. */
  layerInt(key: string, layers: number, dflt?: number): number {
    const v = this.value(key);
    if (!Array.isArray(v)) return this.positiveInt(key, dflt);
    if (v.length !== layers) this.fail(key, `lists ${v.length} values for ${layers} layers`);
    const first = v[0];
    if (typeof first !== "number" || !Number.isSafeInteger(first) || first <= 0 || v.some((x) => x !== first)) {
      this.fail(key, `varies per layer (${JSON.stringify(v.slice(0, 8))}${v.length > 8 ? ", ..." : ""}); moec imports models whose layers all have the same ${key.split(".").at(-1)}`);
    }
    return first;
  }

  optBool(key: string): boolean | null {
    const v = this.value(key);
    if (v === undefined) return null;
    if (typeof v !== "boolean") this.fail(key, `must be a boolean, got ${JSON.stringify(v)}`);
    return v;
  }

  optStr(key: string): string | null {
    const v = this.value(key);
    if (v === undefined) return null;
    if (typeof v !== "string") this.fail(key, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }
}

/** The shortest decimal that rounds to the float32 `x`. */
export function shortestF32(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let p = 1; p <= 9; p++) {
    const v = Number(x.toPrecision(p));
    if (Math.fround(v) === x) return v;
  }
  return x;
}

/** Where one Hugging Face tensor comes from in the GGUF file. */
export interface Entry {
  readonly gguf: string;
  /** HF (row-major) shape. */
  readonly shape: readonly number[];
  /** A slice of rows (ne[0]-element rows) of the GGUF tensor: one expert of a stacked tensor. */
  readonly rows: { readonly first: number; readonly count: number } | null;
  /** Undo LlamaModel.permute with this many heads. */
  readonly unpermuteHeads: number | null;
  /**
   * Granite's fused gate/up: the HF tensor is, for each of `experts` experts, `rows` rows of `gguf` (the gate)
   * then `rows` rows of `up`, which the converter split into two tensors.
   */
  readonly fused?: { readonly up: string; readonly rows: number; readonly experts: number };
  /**
   * DeepSeek MLA's kv_b_proj, which llama.cpp's converter splits into `gguf` (attn_k_b: per head the key rows,
   * transposed to [kv_lora, nope]) and `vb` (attn_v_b: per head [v, kv_lora]); the HF tensor is, per head, the
   * `nope` key rows then the `v` value rows.
   */
  readonly mlaKvB?: { readonly vb: string; readonly heads: number; readonly nope: number; readonly v: number; readonly kvLora: number };
  /**
   * A tensor the converter rearranged in a way no row slice undoes (GPT-OSS's gate_up_proj, split into gate and up and
   * transposed): the Hugging Face tensor is `make` of the GGUF tensors `from` (`gguf` is the first), read as float32.
   */
  readonly derive?: { readonly from: readonly string[]; readonly make: (parts: readonly Float32Array[]) => Float32Array };
}

export interface GgufImport {
  /** The Hugging Face config.json the GGUF metadata describes. */
  readonly config: JsonObject;
  readonly family: GgufFamily;
  /** general.architecture. */
  readonly arch: string;
  /** Things worth knowing about the conversion (unused metadata, defaults assumed). */
  readonly notes: readonly string[];
  /** HF tensor name → where it is in the GGUF file (also GGUF names that map to nothing, as they are). */
  readonly entries: ReadonlyMap<string, Entry>;
}

const SWIGLU = { gate: "gate_proj", up: "up_proj", down: "down_proj" } as const;
const MIXTRAL_W = { gate: "w1", up: "w3", down: "w2" } as const;

/**
 * Reads a GGUF file's metadata and tensor list and works out the Hugging Face config and the
 * name mapping. Throws WeightFileError (naming the file and the key or tensor) for anything that
 * cannot be mapped faithfully.
 */
export function ggufToHf(g: GgufFile): GgufImport {
  const arch = g.get("general.architecture");
  if (typeof arch !== "string") {
    throw new WeightFileError(g.file, `metadata "general.architecture" is ${arch === undefined ? "missing" : `not a string (${JSON.stringify(arch)})`}; a GGUF model file names its architecture there`);
  }
  if (!Object.hasOwn(GGUF_ARCHITECTURES, arch)) {
    throw new WeightFileError(g.file, `GGUF architecture "${arch}" is not supported by moec's GGUF import (supported: ${Object.entries(GGUF_ARCHITECTURES).map(([a, f]) => `"${a}" → ${f}`).join(", ")}); convert the Hugging Face checkpoint instead, or import its config.json with moec import`);
  }
  const m = new Meta(g, arch);
  if (arch === "deepseek2") return deepseek2ToHf(g, m);
  if (arch === "gpt-oss") return gptOssToHf(g, m);
  if (arch === "ernie4_5-moe") return ernieToHf(g, m);
  if (arch === "hunyuan-moe") return hunyuanToHf(g, m);
  if (arch === "llama4") return llama4ToHf(g, m);
  if (arch === "dbrx") return dbrxToHf(g, m);
  if (arch === "exaone-moe") return exaoneMoeToHf(g, m);
  if (arch === "qwen3next") return qwen3nextToHf(g, m);
  if (arch === "qwen35moe") return qwen35moeToHf(g, m);
  if (arch === "granitehybrid") return graniteHybridToHf(g, m);
  if (arch === "nemotron_h" || arch === "nemotron_h_moe") return nemotronHToHf(g, m);
  if (arch === "glm-dsa") return glmDsaToHf(g, m);
  if (arch === "jamba") return jambaToHf(g, m);
  if (arch === "qwen3vlmoe") return qwen3vlmoeToHf(g, m);
  const notes: string[] = [];
  const tensor = (name: string): GgufTensorInfo | undefined => (g.has(name) ? g.ggufTensor(name) : undefined);
  const blocks = m.positiveInt(m.key("block_count"));
  // glm4moe: block_count includes the multi-token-prediction layers appended after the main model.
  const nextn = arch === "glm4moe" ? m.int(m.key("nextn_predict_layers"), 0) : 0;
  if (nextn < 0 || nextn >= blocks) m.fail(m.key("nextn_predict_layers"), `is ${nextn}, but block_count is ${blocks}`);
  const layers = blocks - nextn;
  if (nextn > 0) notes.push(`${m.key("nextn_predict_layers")} is ${nextn}: blk.${layers} on are multi-token-prediction layers, which the main model does not use; their tensors are left out`);
  const hidden = m.positiveInt(m.key("embedding_length"));
  const heads = m.layerInt(m.key("attention.head_count"), blocks);
  const kvHeads = m.has(m.key("attention.head_count_kv")) ? m.layerInt(m.key("attention.head_count_kv"), blocks) : heads;
  const eps = m.num(m.key("attention.layer_norm_rms_epsilon"));
  const ctx = m.positiveInt(m.key("context_length"));
  const theta = m.num(m.key("rope.freq_base"), 10000);
  const experts = m.int(m.key("expert_count"), 0);

  const embd = tensor("token_embd.weight");
  if (!embd || embd.ne.length !== 2 || embd.ne[0] !== hidden) {
    throw new WeightFileError(g.file, `tensor "token_embd.weight" is ${embd ? `[${embd.ne}] (ne)` : "missing"}; a model needs the token embedding with ne [${hidden}, vocab]`);
  }
  const vocab = embd.ne[1]!;
  const tokens = g.get("tokenizer.ggml.tokens");
  if (Array.isArray(tokens) && tokens.length !== vocab) notes.push(`tokenizer.ggml.tokens has ${tokens.length} tokens and token_embd ${vocab} rows; vocab_size is the embedding's ${vocab}`);

  // Head dims and rotary.
  const keyLength = m.optInt(m.key("attention.key_length"));
  const valueLength = m.optInt(m.key("attention.value_length"));
  const headDim = keyLength ?? Math.floor(hidden / heads);
  if (valueLength !== null && valueLength !== headDim) m.fail(m.key("attention.value_length"), `is ${valueLength} but the key head dim is ${headDim}; the supported families use one head dim`);
  const ropeDims = m.optInt(m.key("rope.dimension_count"));
  // glm4moe and minimax-m2 rotate the first rope.dimension_count dims of each head (NEOX order, as transformers
  // does: no permutation)
  const partialArch = arch === "glm4moe" || arch === "minimax-m2";
  const partial = partialArch && ropeDims !== null && ropeDims !== headDim ? ropeDims / headDim : null;
  if (ropeDims !== null && ropeDims !== headDim && partial === null) m.fail(m.key("rope.dimension_count"), `is ${ropeDims}, not the head dim ${headDim}; partial rotary is not supported by the GGUF import for "${arch}"`);
  if (partial !== null && !(ropeDims! > 0 && ropeDims! < headDim && ropeDims! % 2 === 0)) m.fail(m.key("rope.dimension_count"), `is ${ropeDims}, which is not an even number of dims below the head dim ${headDim}`);
  if (g.has("rope_freqs.weight")) throw new WeightFileError(g.file, "Llama 3 style rotary frequencies (rope_freqs) are not supported by the GGUF import", "rope_freqs.weight");
  const rope: JsonObject = { rope_type: "default", rope_theta: theta, ...(partialArch ? { partial_rotary_factor: partial ?? 1 } : {}) };
  const scaling = m.optStr(m.key("rope.scaling.type"));
  if (scaling !== null && scaling !== "none") {
    const factor = m.num(m.key("rope.scaling.factor"));
    if (scaling === "linear") Object.assign(rope, { rope_type: "linear", factor });
    else if (scaling === "yarn") {
      for (const k of ["rope.scaling.yarn_ext_factor", "rope.scaling.yarn_attn_factor", "rope.scaling.yarn_beta_fast", "rope.scaling.yarn_beta_slow", "rope.scaling.yarn_log_multiplier"]) {
        if (m.has(m.key(k))) m.fail(m.key(k), "is set; the GGUF import maps only YaRN's factor and original context length");
      }
      Object.assign(rope, { rope_type: "yarn", factor, original_max_position_embeddings: m.positiveInt(m.key("rope.scaling.original_context_length")) });
    } else m.fail(m.key("rope.scaling.type"), `is "${scaling}"; the GGUF import supports none, linear and yarn`);
  }
  const gating = m.optInt(m.key("expert_gating_func"));
  const v3 = V3_ROUTED.has(arch);
  // MiniMax-M2 routes with a sigmoid too (llama.cpp fixes it for the architecture; the converter writes no key)
  const sigmoid = v3 || arch === "minimax-m2";
  const wantGating = sigmoid ? GATING_SIGMOID : GATING_SOFTMAX;
  if (gating !== null && gating !== wantGating) m.fail(m.key("expert_gating_func"), `is ${gating}; the "${arch}" family routes with a ${sigmoid ? "sigmoid" : "softmax"} (${wantGating})`);
  if (v3 && gating === null) notes.push(`${m.key("expert_gating_func")} is absent: sigmoid scores, as the "${arch}" family has them`);
  for (const k of v3 ? [] : ["expert_weights_scale", "expert_shared_count", "leading_dense_block_count"]) {
    const v = m.optNum(m.key(k));
    // expert_weights_scale: 1 (or 0, "unset" in llama.cpp) leaves the routing weights as they are
    const neutral = k === "expert_weights_scale" ? [0, 1] : k === "expert_shared_count" ? [arch === "qwen2moe" ? 1 : 0] : [0];
    if (v !== null && !neutral.includes(v)) m.fail(m.key(k), `is ${v}, which the "${arch}" family in transformers cannot express`);
  }

  const FAMILY: Readonly<Record<string, GgufFamily>> = { llama: "mixtral", qwen2moe: "qwen2_moe", qwen3moe: "qwen3_moe", olmoe: "olmoe", glm4moe: "glm4_moe", dots1: "dots1", granitemoe: "granitemoe", "minimax-m2": "minimax_m2" };
  const family: GgufFamily = arch === "granitemoe" && g.tensors.some((t) => /^blk\.\d+\.ffn_gate_shexp\.weight$/.test(t.name)) ? "granitemoeshared" : FAMILY[arch]!;
  if (experts <= 0) {
    throw new WeightFileError(g.file, `metadata "${m.key("expert_count")}" is ${m.has(m.key("expert_count")) ? experts : "missing"}: this is a dense ${arch} model, and moec imports MoE models`);
  }
  const k = m.positiveInt(m.key("expert_used_count"));
  if (k > experts) m.fail(m.key("expert_used_count"), `is ${k}, more than the ${experts} experts`);
  const renorm = m.optBool(m.key("expert_weights_norm"));

  // Bounded by the tensors before anything is built per layer: every layer has tensors blk.N.*.
  const layersWithTensors = new Set(g.tensors.flatMap((t) => /^blk\.(\d+)\./.exec(t.name)?.[1] ?? []));
  if (layers > layersWithTensors.size) {
    m.fail(m.key("block_count"), `is ${layers}, but the file has tensors (blk.N.*) for ${layersWithTensors.size} layer${layersWithTensors.size === 1 ? "" : "s"}; the metadata and the tensors disagree`);
  }
  // Which layers are MoE: those with a router.
  const sparse = Array.from({ length: layers }, (_, i) => g.has(`blk.${i}.ffn_gate_inp.weight`));
  const dense = sparse.flatMap((s, i) => (s ? [] : [i]));
  if (dense.length === layers) throw new WeightFileError(g.file, `no layer has a router (blk.N.ffn_gate_inp.weight), although ${m.key("expert_count")} is ${experts}; the file is incomplete`);
  const firstSparse = sparse.indexOf(true);
  /** An expert FFN size from the stacked (or per-expert) gate tensor of the first MoE layer. */
  const expertFfnFromTensors = (): number | null => {
    const t = tensor(`blk.${firstSparse}.ffn_gate_exps.weight`) ?? tensor(`blk.${firstSparse}.ffn_gate.0.weight`);
    return t ? t.ne[1]! : null;
  };
  const checkFfn = (key: string, fromMeta: number | null, fromTensor: number | null, what: string): number => {
    if (fromMeta !== null && fromTensor !== null && fromMeta !== fromTensor) m.fail(key, `is ${fromMeta} but the ${what} tensors have ${fromTensor} rows`);
    const v = fromMeta ?? fromTensor;
    if (v === null) return m.fail(key, `is missing and no ${what} tensor gives it`);
    return v;
  };

  const base: JsonObject = {
    vocab_size: vocab, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kvHeads,
    hidden_act: "silu", rms_norm_eps: eps, max_position_embeddings: ctx, rope_parameters: rope,
    tie_word_embeddings: !g.has("output.weight"),
  };
  for (const [hf, key] of [["bos_token_id", "tokenizer.ggml.bos_token_id"], ["eos_token_id", "tokenizer.ggml.eos_token_id"]] as const) {
    const v = m.optInt(key);
    if (v !== null) base[hf] = v;
  }
  if (headDim * heads !== hidden) {
    if (family === "olmoe") m.fail(m.key("attention.key_length"), `is ${headDim}, but OLMoE's head dim is hidden_size / heads (${hidden / heads})`);
    base.head_dim = headDim;
  }

  let config: JsonObject;
  if (family === "mixtral") {
    if (dense.length) throw new WeightFileError(g.file, `layers ${listed(dense)} have no router (blk.N.ffn_gate_inp.weight); a Mixtral-style model has experts in every layer`);
    if (renorm === false) m.fail(m.key("expert_weights_norm"), "is false, but Mixtral renormalises the top-k weights");
    const ffn = checkFfn(m.key("feed_forward_length"), m.has(m.key("feed_forward_length")) ? m.layerInt(m.key("feed_forward_length"), layers) : null, expertFfnFromTensors(), "expert");
    const window = m.optInt(m.key("attention.sliding_window"));
    config = {
      model_type: "mixtral", architectures: ["MixtralForCausalLM"], ...base, intermediate_size: ffn,
      num_local_experts: experts, num_experts_per_tok: k, sliding_window: window !== null && window > 0 ? window : null,
    };
  } else if (family === "qwen2_moe") {
    const moeFfn = checkFfn(m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), expertFfnFromTensors(), "expert");
    const shexp = tensor(`blk.${firstSparse}.ffn_gate_shexp.weight`);
    const sharedFfn = checkFfn(m.key("expert_shared_feed_forward_length"), m.optInt(m.key("expert_shared_feed_forward_length")), shexp ? shexp.ne[1]! : null, "shared expert");
    const denseT = dense.length ? tensor(`blk.${dense[0]}.ffn_gate.weight`) : undefined;
    const denseMeta = m.optInt(m.key("feed_forward_length"));
    const denseFfn = dense.length ? checkFfn(m.key("feed_forward_length"), denseMeta, denseT ? denseT.ne[1]! : null, "dense MLP") : denseMeta;
    if (m.has(m.key("attention.sliding_window"))) notes.push(`${m.key("attention.sliding_window")} is ignored: Qwen2-MoE uses sliding window attention only with use_sliding_window, which GGUF does not record`);
    config = {
      model_type: "qwen2_moe", architectures: ["Qwen2MoeForCausalLM"], ...base,
      num_experts: experts, num_experts_per_tok: k, moe_intermediate_size: moeFfn, shared_expert_intermediate_size: sharedFfn,
      norm_topk_prob: renorm ?? false, decoder_sparse_step: 1, mlp_only_layers: dense, use_sliding_window: false,
      qkv_bias: g.has("blk.0.attn_q.bias"),
      ...(denseFfn !== null ? { intermediate_size: denseFfn } : {}),
    };
  } else if (family === "qwen3_moe") {
    // llama.cpp's qwen3moe always renormalises the top-k weights (Qwen3-MoE checkpoints set norm_topk_prob).
    const moeFfn = checkFfn(m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), expertFfnFromTensors(), "expert");
    const denseT = dense.length ? tensor(`blk.${dense[0]}.ffn_gate.weight`) : undefined;
    const denseMeta = m.optInt(m.key("feed_forward_length"));
    const denseFfn = dense.length ? checkFfn(m.key("feed_forward_length"), denseMeta, denseT ? denseT.ne[1]! : null, "dense MLP") : denseMeta;
    if (renorm === null) notes.push(`${m.key("expert_weights_norm")} is absent: the top-k weights are renormalised, as llama.cpp's qwen3moe does`);
    config = {
      model_type: "qwen3_moe", architectures: ["Qwen3MoeForCausalLM"], ...base, head_dim: headDim,
      num_experts: experts, num_experts_per_tok: k, moe_intermediate_size: moeFfn, norm_topk_prob: renorm ?? true,
      decoder_sparse_step: 1, mlp_only_layers: dense, use_sliding_window: false, attention_bias: g.has("blk.0.attn_q.bias"),
      ...(denseFfn !== null ? { intermediate_size: denseFfn } : {}),
    };
  } else if (family === "granitemoe" || family === "granitemoeshared") {
    // GraniteMoeModel (a LlamaModel): input_linear split into ffn_gate_exps / ffn_up_exps, q/k permuted, muP scales.
    if (dense.length) throw new WeightFileError(g.file, `layers ${dense.join(", ")} have no router (blk.N.ffn_gate_inp.weight); Granite MoE has experts in every layer`);
    if (renorm === false) m.fail(m.key("expert_weights_norm"), "is false, but Granite's weights are a softmax over the chosen experts' logits");
    const ffn = checkFfn(m.key("feed_forward_length"), m.has(m.key("feed_forward_length")) ? m.layerInt(m.key("feed_forward_length"), blocks) : null, expertFfnFromTensors(), "expert");
    // llama.cpp uses head_dim^-1/2 when attention.scale is absent; transformers' GraniteMoe uses attention_multiplier,
    // default 1.0: without the key the intended scale is ambiguous.
    const attentionScale = m.optNum(m.key("attention.scale"));
    if (attentionScale === null || attentionScale === 0) m.fail(m.key("attention.scale"), `is ${attentionScale === null ? "missing" : 0}: llama.cpp then scales by head_dim^-1/2, transformers' Granite by attention_multiplier (default 1.0), so the scale is ambiguous`);
    const scale = (key: string) => {
      const v = m.optNum(m.key(key));
      return v === null || v === 0 ? 1 : v; // the converter writes only non-zero values; llama.cpp skips 0
    };
    const shexp = tensor(`blk.${firstSparse}.ffn_gate_shexp.weight`);
    const sharedFfn = family === "granitemoeshared" ? checkFfn(m.key("expert_shared_feed_forward_length"), m.optInt(m.key("expert_shared_feed_forward_length")), shexp ? shexp.ne[1]! : null, "shared expert") : null;
    config = {
      model_type: family, architectures: [family === "granitemoe" ? "GraniteMoeForCausalLM" : "GraniteMoeSharedForCausalLM"], ...base,
      intermediate_size: ffn, num_local_experts: experts, num_experts_per_tok: k, attention_bias: g.has("blk.0.attn_q.bias"),
      attention_multiplier: attentionScale, embedding_multiplier: scale("embedding_scale"), residual_multiplier: scale("residual_scale"),
      logits_scaling: scale("logit_scale"), ...(sharedFfn !== null ? { shared_intermediate_size: sharedFfn } : {}),
    };
    delete config.head_dim; // GraniteModel drops head_dim: the head dim is hidden / heads
  } else if (family === "glm4_moe" || family === "dots1") {
    // DeepSeek-V3's mixture: leading dense layers, sigmoid + exp_probs_b, shared experts, routed scaling, groups.
    const first = m.int(m.key("leading_dense_block_count"), sparse.indexOf(true));
    if (!sparse.every((s, i) => s === i >= first)) {
      throw new WeightFileError(g.file, `the layers with a router (blk.N.ffn_gate_inp.weight) are not exactly those from ${m.key("leading_dense_block_count")} (${first}) on; the "${arch}" family makes the first layers dense and every later one MoE`);
    }
    const moeFfn = checkFfn(m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), expertFfnFromTensors(), "expert");
    const nShared = m.positiveInt(m.key("expert_shared_count"), 1);
    const shexp = tensor(`blk.${firstSparse}.ffn_gate_shexp.weight`);
    if (!shexp || shexp.ne[1] !== nShared * moeFfn) {
      throw new WeightFileError(g.file, `the shared experts of layer ${firstSparse} (blk.${firstSparse}.ffn_gate_shexp.weight) are ${shexp ? `${shexp.ne[1]} rows` : "missing"}, but ${m.key("expert_shared_count")} (${nShared}) × ${moeFfn} is ${nShared * moeFfn}`, `blk.${firstSparse}.ffn_gate_shexp.weight`);
    }
    if (!g.has(`blk.${firstSparse}.exp_probs_b.bias`)) throw new WeightFileError(g.file, `layer ${firstSparse} has no selection bias (blk.${firstSparse}.exp_probs_b.bias); the "${arch}" router chooses with it`);
    const denseT = dense.length ? tensor(`blk.${dense[0]}.ffn_gate.weight`) : undefined;
    const denseMeta = m.optInt(m.key("feed_forward_length"));
    const denseFfn = dense.length ? checkFfn(m.key("feed_forward_length"), denseMeta, denseT ? denseT.ne[1]! : null, "dense MLP") : denseMeta;
    const scale = m.optNum(m.key("expert_weights_scale"));
    const nGroup = m.optInt(m.key("expert_group_count"));
    const topkGroup = m.optInt(m.key("expert_group_used_count"));
    const qkNorm = g.has("blk.0.attn_q_norm.weight");
    if (m.has(m.key("attention.sliding_window"))) notes.push(`${m.key("attention.sliding_window")} is ignored: GGUF does not record which layers slide, and llama.cpp's "${arch}" attends to every key`);
    if (family === "dots1" && !qkNorm) throw new WeightFileError(g.file, `layer 0 has no q/k norm (blk.0.attn_q_norm.weight); dots1 always normalises q and k per head`, "blk.0.attn_q_norm.weight");
    config = {
      model_type: family, architectures: [family === "glm4_moe" ? "Glm4MoeForCausalLM" : "Dots1ForCausalLM"], ...base, head_dim: headDim,
      n_routed_experts: experts, num_experts_per_tok: k, moe_intermediate_size: moeFfn, n_shared_experts: nShared,
      first_k_dense_replace: first, norm_topk_prob: renorm ?? false,
      // llama.cpp writes 0 for "unset", which multiplies by nothing
      routed_scaling_factor: scale === null || scale === 0 ? 1 : scale,
      n_group: nGroup ?? 1, topk_group: topkGroup ?? nGroup ?? 1,
      attention_bias: g.has("blk.0.attn_q.bias"),
      ...(family === "glm4_moe" ? { use_qk_norm: qkNorm, num_nextn_predict_layers: nextn } : { sliding_window: null }),
      ...(denseFfn !== null ? { intermediate_size: denseFfn } : {}),
    };
    if (renorm === null) notes.push(`${m.key("expert_weights_norm")} is absent: the top-k weights are not renormalised (transformers' norm_topk_prob default for "${family}" aside, llama.cpp does not renormalise without it)`);
  } else if (family === "minimax_m2") {
    // MiniMaxM2Model: q/k norms over the whole projections, partial NEOX RoPE, sigmoid + exp_probs_b, renormalised
    if (dense.length) throw new WeightFileError(g.file, `layers ${listed(dense)} have no router (blk.N.ffn_gate_inp.weight); MiniMax-M2 has experts in every layer`);
    if (renorm === false) m.fail(m.key("expert_weights_norm"), "is false, but MiniMax-M2 renormalises the top-k weights");
    if (!g.has(`blk.0.exp_probs_b.bias`)) throw new WeightFileError(g.file, "layer 0 has no selection bias (blk.0.exp_probs_b.bias); MiniMax-M2's router chooses with it", "blk.0.exp_probs_b.bias");
    if (!g.has("blk.0.attn_q_norm.weight")) throw new WeightFileError(g.file, "layer 0 has no q norm (blk.0.attn_q_norm.weight); MiniMax-M2 always normalises q and k", "blk.0.attn_q_norm.weight");
    const ffn = checkFfn(m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), expertFfnFromTensors(), "expert");
    config = { model_type: "minimax_m2", architectures: ["MiniMaxM2ForCausalLM"], ...base, head_dim: headDim, intermediate_size: ffn, num_local_experts: experts, num_experts_per_tok: k };
  } else {
    if (dense.length) throw new WeightFileError(g.file, `layers ${listed(dense)} have no router (blk.N.ffn_gate_inp.weight); OLMoE has experts in every layer`);
    const ffn = checkFfn(m.key("feed_forward_length"), m.optInt(m.key("feed_forward_length")), expertFfnFromTensors(), "expert");
    const clamp = m.optNum(m.key("attention.clamp_kqv"));
    config = {
      model_type: "olmoe", architectures: ["OlmoeForCausalLM"], ...base, intermediate_size: ffn,
      num_experts: experts, num_experts_per_tok: k, norm_topk_prob: renorm ?? false,
      attention_bias: g.has("blk.0.attn_q.bias"), clip_qkv: clamp !== null && clamp > 0 ? clamp : null,
    };
  }
  return { config, family, arch, notes, entries: mapTensors(g, family, arch === "llama" || arch === "granitemoe" ? { heads, kvHeads } : null, layers) };
}

/** GGUF tensor names → Hugging Face names, shapes and the transformations to undo. */
function mapTensors(g: GgufFile, family: GgufFamily, permuted: { heads: number; kvHeads: number } | null, mainLayers: number): Map<string, Entry> {
  const sharedName = family === "glm4_moe" || family === "dots1" ? "shared_experts" : "shared_expert";
  const out = new Map<string, Entry>();
  const granite = family === "granitemoe" || family === "granitemoeshared";
  const ffnPrefix = family === "mixtral" || family === "minimax_m2" || granite ? "block_sparse_moe" : "mlp";
  const expertW = family === "mixtral" || family === "minimax_m2" ? MIXTRAL_W : SWIGLU;
  const add = (hf: string, e: Entry) => {
    const prev = out.get(hf);
    if (prev) throw new WeightFileError(g.file, `tensors "${prev.gguf}" and "${e.gguf}" both map to the Hugging Face tensor "${hf}"; the file holds the same weights twice`, e.gguf);
    out.set(hf, e);
  };
  const whole = (t: GgufTensorInfo, hf: string, shape: readonly number[] = t.shape, unpermuteHeads: number | null = null) =>
    add(hf, { gguf: t.name, shape, rows: null, unpermuteHeads });
  const GLOBAL: Record<string, string> = { "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight" };
  const ATTN: Record<string, string> = { attn_q: "q_proj", attn_k: "k_proj", attn_v: "v_proj", attn_output: "o_proj" };
  const FFN = { gate: "gate", up: "up", down: "down" } as const;

  for (const t of g.tensors) {
    if (Object.hasOwn(GLOBAL, t.name)) {
      whole(t, GLOBAL[t.name]!);
      continue;
    }
    const mm = /^blk\.(\d+)\.(.+)$/.exec(t.name);
    if (!mm) {
      whole(t, t.name); // not a model tensor moec knows: bindWeights reports it as unused
      continue;
    }
    if (Number(mm[1]) >= mainLayers) continue; // a multi-token-prediction layer (glm4moe's nextn blocks)
    const P = `model.layers.${mm[1]}`;
    const F = `${P}.${ffnPrefix}`;
    const rest = mm[2]!;
    let r: RegExpExecArray | null;
    if (rest === "attn_norm.weight") whole(t, `${P}.input_layernorm.weight`);
    else if (rest === "ffn_norm.weight" || (family === "glm4_moe" && rest === "post_attention_norm.weight")) whole(t, `${P}.post_attention_layernorm.weight`);
    // MiniMax-M2's selection bias is the moe block's own buffer, not the router's
    else if (rest === "exp_probs_b.bias") whole(t, family === "minimax_m2" ? `${F}.e_score_correction_bias` : `${F}.gate.e_score_correction_bias`);
    else if (granite && (r = /^ffn_(gate|up|down)_(exps|shexp)\.weight$/.exec(rest))) {
      // stacked [E, rows, in] (exps) or [rows, in] (shexp); gate and up come back together as input_linear
      const base = r[2] === "exps" ? F : `${P}.shared_mlp`;
      if (r[1] === "down") whole(t, `${base}.output_linear.weight`);
      else if (r[1] === "gate") {
        const up = `blk.${mm[1]}.ffn_up_${r[2]}.weight`;
        const u = g.has(up) ? g.ggufTensor(up) : undefined;
        if (!u || u.ne.join() !== t.ne.join()) throw new WeightFileError(g.file, `has no matching ${up} (the converter splits Granite's input_linear into a gate and an up tensor of one shape)`, t.name);
        const experts = r[2] === "exps" ? t.ne[2]! : 1;
        const shape = r[2] === "exps" ? [experts, 2 * t.ne[1]!, t.ne[0]!] : [2 * t.ne[1]!, t.ne[0]!];
        add(`${base}.input_linear.weight`, { gguf: t.name, shape, rows: null, unpermuteHeads: null, fused: { up, rows: t.ne[1]!, experts } });
      }
      // the up half is read with its gate
    } else if (granite && rest === "ffn_gate_inp.weight") whole(t, `${F}.router.layer.weight`);
    else if ((r = /^(attn_q|attn_k|attn_v|attn_output)\.(weight|bias)$/.exec(rest))) {
      const heads = permuted && r[1] === "attn_q" ? permuted.heads : permuted && r[1] === "attn_k" ? permuted.kvHeads : null;
      if (heads !== null && (t.shape[0]! % (2 * heads) !== 0)) {
        throw new WeightFileError(g.file, `has ${t.shape[0]} rows, which do not split into ${heads} heads of an even head dim, so the llama rotary permutation cannot be undone`, t.name);
      }
      whole(t, `${P}.self_attn.${ATTN[r[1]!]}.${r[2]}`, t.shape, heads);
    } else if ((r = /^attn_(q|k)_norm\.weight$/.exec(rest))) whole(t, `${P}.self_attn.${r[1]}_norm.weight`);
    else if (rest === "ffn_gate_inp.weight") whole(t, `${F}.gate.weight`);
    else if (rest === "ffn_gate_inp_shexp.weight") {
      if (t.numel !== t.ne[0]) throw new WeightFileError(g.file, `has ne [${t.ne}], but a shared-expert gate is one row`, t.name);
      whole(t, `${F}.shared_expert_gate.weight`, [1, t.ne[0]!]);
    } else if ((r = /^ffn_(gate|up|down)_exps\.weight$/.exec(rest))) {
      if (t.ne.length !== 3) throw new WeightFileError(g.file, `has ne [${t.ne}]; stacked experts have three dims [in, out, experts]`, t.name);
      const [inDim, outDim, n] = t.ne as [number, number, number];
      for (let e = 0; e < n; e++) {
        add(`${F}.experts.${e}.${expertW[FFN[r[1] as keyof typeof FFN]]}.weight`, { gguf: t.name, shape: [outDim, inDim], rows: { first: e * outDim, count: outDim }, unpermuteHeads: null });
      }
    } else if ((r = /^ffn_(gate|up|down)\.(\d+)\.weight$/.exec(rest))) whole(t, `${F}.experts.${r[2]}.${expertW[r[1] as keyof typeof FFN]}.weight`);
    else if ((r = /^ffn_(gate|up|down)_shexp\.weight$/.exec(rest))) whole(t, `${F}.${sharedName}.${SWIGLU[r[1] as keyof typeof SWIGLU]}.weight`);
    else if ((r = /^ffn_(gate|up|down)\.weight$/.exec(rest))) whole(t, `${F}.${SWIGLU[r[1] as keyof typeof SWIGLU]}.weight`);
    else whole(t, t.name);
  }
  return out;
}

/**
 * Undoes LlamaModel.permute on `data` ([rows, rowLength], row-major) with `heads` heads:
 * HF row h·D + s·D/2 + i is GGUF row h·D + 2i + s.
 */
/** unpermuteRows on stored bytes: rows of `rowBytes` bytes (block formats keep whole rows). */
export function unpermuteRowBytes(data: Uint8Array, heads: number, rowBytes: number): Uint8Array {
  const rows = data.length / rowBytes;
  const D = rows / heads, half = D / 2;
  const out = new Uint8Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < half; i++) {
        const to = (h * D + s * half + i) * rowBytes, from = (h * D + 2 * i + s) * rowBytes;
        out.set(data.subarray(from, from + rowBytes), to);
      }
    }
  }
  return out;
}

export function unpermuteRows(data: Float32Array, heads: number, rowLength: number): Float32Array {
  const rows = data.length / rowLength;
  const D = rows / heads, half = D / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let s = 0; s < 2; s++) {
      for (let i = 0; i < half; i++) {
        const to = (h * D + s * half + i) * rowLength, from = (h * D + 2 * i + s) * rowLength;
        out.set(data.subarray(from, from + rowLength), to);
      }
    }
  }
  return out;
}

/**
 * The tensors of a GGUF file under their Hugging Face names and shapes, as float32 (quantised
 * tensors are dequantised on read; one expert of a stacked tensor reads only its rows). Closing
 * it closes the file.
 */
export class GgufHfSource implements WeightSource {
  constructor(readonly gguf: GgufFile, private readonly entries: ReadonlyMap<string, Entry>) {}

  names(): string[] { return [...this.entries.keys()]; }
  has(name: string): boolean { return this.entries.has(name); }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new WeightFileError(this.gguf.file, `no tensor maps to this Hugging Face name (the file gives ${this.entries.size}); check the name against names()`, name);
    return e;
  }

  /** The GGUF tensor (and the row slice of it) a Hugging Face name reads. */
  origin(name: string): { tensor: GgufTensorInfo; rows: Entry["rows"]; unpermuteHeads: number | null } {
    const e = this.entry(name);
    return { tensor: this.gguf.ggufTensor(e.gguf), rows: e.rows, unpermuteHeads: e.unpermuteHeads };
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    const t = this.gguf.ggufTensor(e.gguf);
    const numel = e.shape.reduce((a, b) => a * b, 1);
    const rowBytes = t.rowLength === 0 ? 0 : t.byteLength / t.rows;
    return { name, dtype: "F32", shape: [...e.shape], numel, byteLength: numel * 4, file: this.gguf.file, offset: t.offset + (e.rows?.first ?? 0) * rowBytes };
  }

  async readF32(name: string): Promise<Float32Array> {
    const e = this.entry(name);
    const t = this.gguf.ggufTensor(e.gguf);
    if (e.derive) {
      const parts: Float32Array[] = [];
      for (const f of e.derive.from) parts.push(await this.gguf.readF32(f));
      return e.derive.make(parts);
    }
    if (e.mlaKvB) return joinMlaKvB(await this.gguf.readF32(e.gguf), await this.gguf.readF32(e.mlaKvB.vb), e.mlaKvB);
    if (e.fused) {
      const [gate, up] = [await this.gguf.readF32(e.gguf), await this.gguf.readF32(e.fused.up)];
      const block = gate.length / e.fused.experts;
      const out = new Float32Array(2 * gate.length);
      for (let x = 0; x < e.fused.experts; x++) {
        out.set(gate.subarray(x * block, (x + 1) * block), 2 * x * block);
        out.set(up.subarray(x * block, (x + 1) * block), (2 * x + 1) * block);
      }
      return out;
    }
    const data = e.rows ? await this.gguf.readRowsF32(e.gguf, e.rows.first, e.rows.count) : await this.gguf.readF32(e.gguf);
    return e.unpermuteHeads === null ? data : unpermuteRows(data, e.unpermuteHeads, t.ne.length > 1 ? t.rowLength : 1);
  }

  async readTensor(name: string): Promise<RawTensor> {
    const data = await this.readF32(name);
    return { info: this.info(name), bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }

  /** The storage format the tensor is in (both halves of a fused one alike), or null. */
  storedFormat(name: string): StorageFormat | null {
    const e = this.entry(name);
    if (e.mlaKvB || e.derive) return null; // assembled from several tensors (some transposed): read as float32
    const f = this.gguf.storedFormat(e.gguf);
    if (e.fused && this.gguf.storedFormat(e.fused.up) !== f) return null;
    // A 1-d tensor is un-permuted element by element, which only float formats allow.
    if (e.unpermuteHeads !== null && this.gguf.ggufTensor(e.gguf).ne.length < 2 && f !== "f32" && f !== "f16" && f !== "bf16") return null;
    return f;
  }

  /** The tensor's stored bytes straight into `into`: its rows (an expert's slice), un-permuted or fused as readF32 does. */
  async readStoredInto(name: string, into: Uint8Array): Promise<void> {
    const e = this.entry(name);
    const t = this.gguf.ggufTensor(e.gguf);
    const rowBytes = t.rows === 0 ? 0 : t.byteLength / t.rows;
    if (e.fused) {
      const block = t.rows / e.fused.experts;
      for (let x = 0; x < e.fused.experts; x++) {
        await this.gguf.readStoredRowsInto(e.gguf, x * block, block, into.subarray(2 * x * block * rowBytes, (2 * x + 1) * block * rowBytes));
        await this.gguf.readStoredRowsInto(e.fused.up, x * block, block, into.subarray((2 * x + 1) * block * rowBytes, (2 * x + 2) * block * rowBytes));
      }
      return;
    }
    const [first, count] = e.rows ? [e.rows.first, e.rows.count] : [0, t.rows];
    await this.gguf.readStoredRowsInto(e.gguf, first, count, into);
    if (e.unpermuteHeads !== null) {
      const rb = t.ne.length > 1 ? rowBytes : t.byteLength / t.numel;
      into.set(unpermuteRowBytes(into.slice(), e.unpermuteHeads, rb));
    }
  }

  async readMxfp4(baseName: string): Promise<{ shape: number[]; data: Float32Array }> {
    return this.gguf.readMxfp4(baseName);
  }

  close(): Promise<void> {
    return this.gguf.close();
  }
}

/** The notes and a one-line description of the conversion, as .moe comment lines. */
export function ggufHeaderComment(g: GgufFile, imp: GgufImport): string {
  const types = new Map<string, number>();
  for (const t of g.tensors) types.set(t.type.name, (types.get(t.type.name) ?? 0) + 1);
  const facts = [
    `Converted from the GGUF file ${g.file}`,
    `(GGUF v${g.version}, general.architecture "${imp.arch}", ${g.tensors.length} tensors: ${[...types].map(([n, c]) => `${c} ${n}`).join(", ")}).`,
  ];
  const prose = [
    `Its metadata was turned into the Hugging Face ${imp.family} config below; the weights are read from the GGUF file under Hugging Face names${imp.arch === "llama" ? ", with the rows of q_proj and k_proj un-permuted (llama.cpp interleaves them for its rotary)" : ""}, quantised tensors dequantised to float32.`,
    ...imp.notes,
  ];
  return [...facts, ...prose.flatMap((l) => wrap(l, 96))].map((l) => `// ${l}`).join("\n") + "\n";
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...out, line];
}

/** Values as plain JSON (for printing the synthesised config). */
export function configJson(c: JsonObject): string {
  return JSON.stringify(c as Json, null, 2);
}
