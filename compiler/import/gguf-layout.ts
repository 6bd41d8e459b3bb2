// What the GGUF importers of the newer architectures (gguf-gpt-oss.ts, gguf-ernie.ts, gguf-hunyuan.ts) share: the
// metadata every llama.cpp TextModel writes (TextModel.set_gguf_parameters: block_count, embedding_length,
// head counts, key_length, rms epsilon, rope.freq_base, expert counts) read back into the Hugging Face keys, and a
// tensor mapper driven by one table per architecture (GGUF name within a block → Hugging Face name), with the
// stacked experts (blk.N.ffn_{gate,up,down}_exps, ne [in, out, experts]) split back into one tensor per expert.
import type { GgufFile, GgufTensorInfo } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { Entry, Meta } from "./gguf.js";

export interface CommonDims {
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocab: number;
  /** The keys every family has: vocab_size ... tie_word_embeddings, bos/eos ids; head_dim when the metadata gives it. */
  readonly base: JsonObject;
}

/** The TextModel keys, read back; `blk.N.*` tensors must exist for every block. */
export function commonDims(g: GgufFile, m: Meta): CommonDims {
  const layers = m.positiveInt(m.key("block_count"));
  const withTensors = new Set(g.tensors.flatMap((t) => /^blk\.(\d+)\./.exec(t.name)?.[1] ?? []));
  if (layers > withTensors.size) m.fail(m.key("block_count"), `is ${layers}, but the file has tensors (blk.N.*) for ${withTensors.size} layers; the metadata and the tensors disagree`);
  const hidden = m.positiveInt(m.key("embedding_length"));
  const heads = m.layerInt(m.key("attention.head_count"), layers);
  const kvHeads = m.has(m.key("attention.head_count_kv")) ? m.layerInt(m.key("attention.head_count_kv"), layers) : heads;
  const embd = g.has("token_embd.weight") ? g.ggufTensor("token_embd.weight") : undefined;
  if (!embd || embd.ne.length !== 2 || embd.ne[0] !== hidden) {
    throw new WeightFileError(g.file, `tensor "token_embd.weight" is ${embd ? `[${embd.ne}] (ne)` : "missing"}; a model needs the token embedding with ne [${hidden}, vocab]`);
  }
  const keyLength = m.optInt(m.key("attention.key_length"));
  const valueLength = m.optInt(m.key("attention.value_length"));
  const headDim = keyLength ?? Math.floor(hidden / heads);
  if (valueLength !== null && valueLength !== headDim) m.fail(m.key("attention.value_length"), `is ${valueLength} but the key head dim is ${headDim}; the supported families use one head dim`);
  const base: JsonObject = {
    vocab_size: embd.ne[1]!, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kvHeads,
    hidden_act: "silu", rms_norm_eps: m.num(m.key("attention.layer_norm_rms_epsilon")), max_position_embeddings: m.positiveInt(m.key("context_length")),
    tie_word_embeddings: !g.has("output.weight"),
  };
  if (keyLength !== null) base.head_dim = keyLength;
  for (const [hf, key] of [["bos_token_id", "tokenizer.ggml.bos_token_id"], ["eos_token_id", "tokenizer.ggml.eos_token_id"]] as const) {
    const v = m.optInt(key);
    if (v !== null) base[hf] = v;
  }
  return { layers, hidden, heads, kvHeads, headDim, vocab: embd.ne[1]!, base };
}

/** Plain RoPE: only rope.freq_base; any rope.scaling other than "none" is refused (callers that map YaRN read it first). */
export function plainRope(m: Meta, defaultTheta: number, arch: string): JsonObject {
  const scaling = m.optStr(m.key("rope.scaling.type"));
  if (scaling !== null && scaling !== "none") m.fail(m.key("rope.scaling.type"), `is "${scaling}"; the "${arch}" GGUF import maps plain RoPE only`);
  const factor = m.optNum(m.key("rope.scaling.factor"));
  if (factor !== null && factor !== 1 && factor !== 0) m.fail(m.key("rope.scaling.factor"), `is ${factor} without a scaling type; the "${arch}" GGUF import maps plain RoPE only`);
  return { rope_type: "default", rope_theta: m.num(m.key("rope.freq_base"), defaultTheta) };
}

/** The expert counts: expert_count (positive) and expert_used_count (at most that many). */
export function expertCounts(m: Meta, arch: string, g: GgufFile): { experts: number; k: number } {
  const experts = m.int(m.key("expert_count"), 0);
  if (experts <= 0) throw new WeightFileError(g.file, `metadata "${m.key("expert_count")}" is ${m.has(m.key("expert_count")) ? experts : "missing"}: this is a dense ${arch} model, and moec imports MoE models`);
  const k = m.positiveInt(m.key("expert_used_count"));
  if (k > experts) m.fail(m.key("expert_used_count"), `is ${k}, more than the ${experts} experts`);
  return { experts, k };
}

/** Refuses expert_gating_func unless it is `want` (llama.cpp: 1 softmax, 2 sigmoid); absent is `want`. */
export function requireGating(m: Meta, want: 1 | 2, arch: string): void {
  const gating = m.optInt(m.key("expert_gating_func"));
  if (gating !== null && gating !== want) m.fail(m.key("expert_gating_func"), `is ${gating}; the "${arch}" family routes with a ${want === 1 ? "softmax" : "sigmoid"} (${want})`);
}

/**
 * The main model's blocks: block_count less the multi-token-prediction blocks the converter
 * appends (nextn_predict_layers), which the main model does not use; a note says so.
 */
export function mainLayers(m: Meta, blocks: number, notes: string[]): number {
  const nextn = m.int(m.key("nextn_predict_layers"), 0);
  if (nextn < 0 || nextn >= blocks) m.fail(m.key("nextn_predict_layers"), `is ${nextn}, but block_count is ${blocks}`);
  const layers = blocks - nextn;
  if (nextn > 0) notes.push(`${m.key("nextn_predict_layers")} is ${nextn}: blk.${layers} on are multi-token-prediction layers, which the main model does not use; their tensors are left out`);
  return layers;
}

/** Gated DeltaNet's sizes (qwen3next, qwen35moe): nk key heads of dk, nv value heads of dv, r = nv / nk value heads per key head. */
export function deltaNetDims(m: Meta): { nk: number; nv: number; dk: number; dv: number; r: number } {
  const nk = m.positiveInt(m.key("ssm.group_count"));
  const nv = m.positiveInt(m.key("ssm.time_step_rank"));
  const dk = m.positiveInt(m.key("ssm.state_size"));
  const inner = m.positiveInt(m.key("ssm.inner_size"));
  if (inner % nv !== 0) m.fail(m.key("ssm.inner_size"), `is ${inner}, not a multiple of the ${nv} value heads (ssm.time_step_rank)`);
  if (nv % nk !== 0) m.fail(m.key("ssm.time_step_rank"), `is ${nv}, not a multiple of the ${nk} key heads (ssm.group_count)`);
  return { nk, nv, dk, dv: inner / nv, r: nv / nk };
}

/** Which blocks have a router (blk.N.ffn_gate_inp.weight). */
export function routedLayers(g: GgufFile, layers: number): boolean[] {
  return Array.from({ length: layers }, (_, i) => g.has(`blk.${i}.ffn_gate_inp.weight`));
}

/** ne[1] (the HF rows) of a tensor, or null when the file lacks it. */
export function rowsOf(g: GgufFile, name: string): number | null {
  return g.has(name) ? g.ggufTensor(name).ne[1] ?? null : null;
}

/** A size from the metadata and the tensors: they must agree; either may be missing, not both. */
export function agreed(m: Meta, key: string, fromMeta: number | null, fromTensor: number | null, what: string): number {
  if (fromMeta !== null && fromTensor !== null && fromMeta !== fromTensor) m.fail(key, `is ${fromMeta} but the ${what} tensors have ${fromTensor} rows`);
  const v = fromTensor ?? fromMeta;
  if (v === null) m.fail(key, `is missing and no ${what} tensor gives it`);
  return v;
}

/** How one GGUF tensor inside a block becomes Hugging Face tensors. */
export type LayerRule =
  /** Renamed under the block's prefix (model.layers.N unless mapByRules is told otherwise; the shape is ne reversed, `shape` overrides it). */
  | { readonly hf: string; readonly shape?: (t: GgufTensorInfo) => readonly number[] }
  /** A stacked expert tensor split into `${prefix}.${e}.${proj}.weight` rows. */
  | { readonly experts: string; readonly proj: string }
  /** Anything else: the caller adds the entries (or nothing, for a tensor read together with another). */
  | { readonly custom: (t: GgufTensorInfo, layer: string, add: (hf: string, e: Entry) => void) => void };

const GLOBAL: Record<string, string> = {
  "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight", "output.bias": "lm_head.bias",
};

/**
 * GGUF tensor names → Hugging Face names through `rules` (keyed by the name after "blk.N."). A block tensor no rule
 * names is an error naming it: silently dropping it would compute a different model.
 */
export function mapByRules(
  g: GgufFile, arch: string, rules: Readonly<Record<string, LayerRule>>,
  names: {
    readonly layer?: (n: string) => string;
    readonly global?: Readonly<Record<string, string>>;
    /** Blocks from this index on are multi-token-prediction blocks, left out. */
    readonly mainLayers?: number;
    /** Tensors the importer read into the config (rope_freqs): not weights. */
    readonly consumed?: readonly string[];
  } = {},
): Map<string, Entry> {
  const global = names.global ?? GLOBAL;
  const layerName = names.layer ?? ((n: string) => `model.layers.${n}`);
  const out = new Map<string, Entry>();
  const add = (hf: string, e: Entry) => {
    const prev = out.get(hf);
    if (prev) throw new WeightFileError(g.file, `tensors "${prev.gguf}" and "${e.gguf}" both map to the Hugging Face tensor "${hf}"; the file holds the same weights twice`, e.gguf);
    out.set(hf, e);
  };
  const reversed = (t: GgufTensorInfo) => [...t.ne].reverse();
  for (const t of g.tensors) {
    if (names.consumed?.includes(t.name)) continue;
    if (Object.hasOwn(global, t.name)) {
      add(global[t.name]!, { gguf: t.name, shape: reversed(t), rows: null, unpermuteHeads: null });
      continue;
    }
    const mm = /^blk\.(\d+)\.(.+)$/.exec(t.name);
    if (!mm) {
      add(t.name, { gguf: t.name, shape: reversed(t), rows: null, unpermuteHeads: null }); // bindWeights reports it as unused
      continue;
    }
    if (names.mainLayers !== undefined && Number(mm[1]) >= names.mainLayers) continue; // a multi-token-prediction block
    const P = layerName(mm[1]!);
    const rule = Object.hasOwn(rules, mm[2]!) ? rules[mm[2]!]! : undefined;
    if (!rule) throw new WeightFileError(g.file, `is not a tensor of llama.cpp's "${arch}" architecture that moec knows (known in each block: ${Object.keys(rules).join(", ")})`, t.name);
    if ("hf" in rule) add(`${P}.${rule.hf}`, { gguf: t.name, shape: rule.shape ? rule.shape(t) : reversed(t), rows: null, unpermuteHeads: null });
    else if ("experts" in rule) {
      if (t.ne.length !== 3) throw new WeightFileError(g.file, `has ne [${t.ne}]; stacked experts have three dims [in, out, experts]`, t.name);
      const [inDim, outDim, n] = t.ne as [number, number, number];
      for (let e = 0; e < n; e++) add(`${P}.${rule.experts}.${e}.${rule.proj}.weight`, { gguf: t.name, shape: [outDim, inDim], rows: { first: e * outDim, count: outDim }, unpermuteHeads: null });
    } else rule.custom(t, P, add);
  }
  return out;
}

/** The attention and norm tensors every llama-style block has, and their biases. */
export const LLAMA_BLOCK: Readonly<Record<string, LayerRule>> = {
  "attn_norm.weight": { hf: "input_layernorm.weight" },
  "ffn_norm.weight": { hf: "post_attention_layernorm.weight" },
  ...Object.fromEntries(["q", "k", "v", "output"].flatMap((p) => ["weight", "bias"].map((w) => [`attn_${p}.${w}`, { hf: `self_attn.${p === "output" ? "o" : p}_proj.${w}` }]))),
};

/**
 * The hybrid families' blocks (granitehybrid, nemotron_h, nemotron_h_moe): each block is a Mamba-2 mixer
 * (blk.N.ssm_in), attention (blk.N.attn_q) or, for Nemotron-H, a feed-forward alone; the kind is read from the
 * tensors. attention.head_count_kv is then one entry per block, 0 where there is no attention (the converter writes
 * it so): the attention blocks must all have the same positive count, the others 0.
 */
export function hybridKvHeads(m: Meta, layers: number, attention: readonly boolean[]): number {
  const key = m.key("attention.head_count_kv");
  const v = m.g.get(key);
  if (!Array.isArray(v)) return m.positiveInt(key);
  if (v.length !== layers) m.fail(key, `lists ${v.length} values for ${layers} layers`);
  const want = v.find((x, i) => attention[i]);
  const bad = v.flatMap((x, i) => (attention[i] ? (x === want && typeof x === "number" && x > 0 ? [] : [i]) : x === 0 ? [] : [i]));
  if (bad.length) m.fail(key, `is ${JSON.stringify(v.slice(0, 12))}${v.length > 12 ? " …" : ""}: the attention layers (blk.N.attn_q) must share one positive count and the other layers be 0 (layers ${bad.slice(0, 12).join(", ")} are not)`);
  return want as number;
}

/**
 * Mamba2Model's tensors (llama.cpp's converter, shared by GraniteHybridModel and NemotronHModel) → the Hugging Face
 * mixer's, under `mixer` (mamba, mixer): A_log written as −exp(A_log) with a unit dim (ssm_a, ne [1, H]) is read back
 * as log(−x); D likewise unsqueezed (ssm_d); the conv weight [C, 1, K] squeezed (ne [K, C]: the same bytes); the
 * gated norm's weight reshaped to [groups, inner / groups] (the same bytes); dt_bias renamed ssm_dt.bias.
 */
export function mamba2Rules(mixer: string): Record<string, LayerRule> {
  const flat = (t: GgufTensorInfo) => [t.numel];
  return {
    "ssm_in.weight": { hf: `${mixer}.in_proj.weight` },
    "ssm_conv1d.weight": { hf: `${mixer}.conv1d.weight`, shape: (t) => [t.ne[1]!, 1, t.ne[0]!] },
    "ssm_conv1d.bias": { hf: `${mixer}.conv1d.bias` },
    "ssm_dt.bias": { hf: `${mixer}.dt_bias` },
    "ssm_a": {
      custom: (t, P, add) => add(`${P}.${mixer}.A_log`, { gguf: t.name, shape: flat(t), rows: null, unpermuteHeads: null, derive: { from: [t.name], make: ([x]) => x!.map((v) => Math.log(-v)) } }),
    },
    "ssm_d": { hf: `${mixer}.D`, shape: flat },
    "ssm_norm.weight": { hf: `${mixer}.norm.weight`, shape: flat },
    "ssm_out.weight": { hf: `${mixer}.out_proj.weight` },
  };
}

/** q_proj / k_proj as LlamaModel.permute wrote them (rows interleaved per head for llama.cpp's rotary): un-permuted on read. */
export function permutedRule(g: GgufFile, hf: string, heads: number): LayerRule {
  return {
    custom: (t, P, add) => {
      const rows = t.ne[1] ?? t.ne[0]!;
      if (rows % (2 * heads) !== 0) throw new WeightFileError(g.file, `has ${rows} rows, which do not split into ${heads} heads of an even head dim, so the llama rotary permutation cannot be undone`, t.name);
      add(`${P}.${hf}`, { gguf: t.name, shape: [...t.ne].reverse(), rows: null, unpermuteHeads: heads });
    },
  };
}
