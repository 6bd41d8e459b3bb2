// A GGUF file's embedded vocabulary (`tokenizer.ggml.*`, as llama.cpp's convert_hf_to_gguf.py
// writes it) as the Hugging Face files it was converted from: a tokenizer.json for
// @huggingface/tokenizers and the tokenizer_config.json fields that matter (special tokens,
// add_bos_token, the chat template). Two vocabulary models:
//   "gpt2"  byte-level BPE (Qwen, DeepSeek, GPT-OSS, OLMoE, Llama 3): tokens, merges, and a
//           pre-tokenizer named by tokenizer.ggml.pre (the regexes of the original tokenizer.json)
//   "llama" SentencePiece BPE with byte fallback (Mixtral, Phi, Llama 2): tokens and scores; the
//           merges are recovered from the scores, as transformers' GGUF loader and the
//           `tokenizers` SentencePiece converter do.
import type { GgufValue } from "../weights/gguf.js";
import type { TokenizerFiles } from "./tokenizer.js";
import { TokenizerError } from "./tokenizer.js";

/** GGUF token types (llama.cpp's llama_token_type). */
const NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

type Json = Record<string, unknown>;

const byteLevel = (o: { add_prefix_space?: boolean; trim_offsets?: boolean; use_regex?: boolean } = {}): Json => ({ type: "ByteLevel", add_prefix_space: o.add_prefix_space ?? false, trim_offsets: o.trim_offsets ?? false, use_regex: o.use_regex ?? false });
const split = (regex: string): Json => ({ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false });

const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT4O = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const DEEPSEEK3 = [
  "\\p{N}{1,3}",
  "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
];

interface PreTokenizer {
  readonly pre_tokenizer: Json;
  readonly normalizer: Json | null;
  readonly ignore_merges: boolean;
}

/** tokenizer.ggml.pre → the pre-tokenizer of the tokenizer.json it came from. */
const PRE: Record<string, PreTokenizer> = {};
for (const name of ["qwen2", "deepseek-r1-qwen"]) PRE[name] = { pre_tokenizer: { type: "Sequence", pretokenizers: [split(QWEN2), byteLevel()] }, normalizer: { type: "NFC" }, ignore_merges: false };
for (const name of ["llama3", "llama-v3", "llama-bpe", "smaug-bpe", "dbrx"]) PRE[name] = { pre_tokenizer: { type: "Sequence", pretokenizers: [split(LLAMA3), byteLevel()] }, normalizer: null, ignore_merges: true };
PRE["gpt-4o"] = { pre_tokenizer: { type: "Sequence", pretokenizers: [split(GPT4O), byteLevel()] }, normalizer: null, ignore_merges: true };
PRE["deepseek-v3"] = { pre_tokenizer: { type: "Sequence", pretokenizers: [...DEEPSEEK3.map(split), byteLevel()] }, normalizer: null, ignore_merges: false };
// GPT-2's own regex (the ByteLevel pre-tokenizer's built-in one): GPT-2, GPT-NeoX/OLMo, MPT.
for (const name of ["gpt-2", "gpt2", "olmo", "mpt", "default"]) PRE[name] = { pre_tokenizer: byteLevel({ use_regex: true }), normalizer: null, ignore_merges: false };

export type GgufMetadata = (key: string) => GgufValue | undefined;

function strings(meta: GgufMetadata, key: string, source: string, required: boolean): string[] | null {
  const v = meta(key);
  if (v === undefined) {
    if (required) throw new TokenizerError(`${source}: the GGUF vocabulary has no ${key}; re-convert the model with llama.cpp's convert_hf_to_gguf.py`);
    return null;
  }
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new TokenizerError(`${source}: ${key} is not an array of strings; the file is damaged or not from llama.cpp`);
  return v as string[];
}

function numbers(meta: GgufMetadata, key: string, source: string, n: number): number[] | null {
  const v = meta(key);
  if (v === undefined) return null;
  if (!Array.isArray(v) || v.length !== n || v.some((x) => typeof x !== "number")) throw new TokenizerError(`${source}: ${key} must be ${n} numbers (one per token); the file is damaged`);
  return v as number[];
}

function intKey(meta: GgufMetadata, key: string): number | null {
  const v = meta(key);
  return typeof v === "number" && Number.isInteger(v) ? v : null;
}

function boolKey(meta: GgufMetadata, key: string, fallback: boolean): boolean {
  const v = meta(key);
  return typeof v === "boolean" ? v : fallback;
}

/** Whether the GGUF file embeds a vocabulary moec can read. */
export function hasGgufVocab(meta: GgufMetadata): boolean {
  return meta("tokenizer.ggml.tokens") !== undefined;
}

/** The Hugging Face tokenizer files a GGUF vocabulary stands for. */
export function ggufTokenizerFiles(meta: GgufMetadata, source: string): TokenizerFiles {
  const model = meta("tokenizer.ggml.model");
  if (typeof model !== "string") throw new TokenizerError(`${source}: the GGUF file has no tokenizer.ggml.model, so it embeds no vocabulary; give the tokenizer separately (--tokenizer DIR with tokenizer.json)`);
  const tokens = strings(meta, "tokenizer.ggml.tokens", source, true)!;
  const types = numbers(meta, "tokenizer.ggml.token_type", source, tokens.length) ?? tokens.map(() => NORMAL);
  // Two ids for one token string: one of them could never be produced, and would decode wrongly (llama.cpp refuses such a vocabulary too).
  const seen = new Map<string, number>();
  tokens.forEach((t, id) => {
    const first = seen.get(t);
    if (first !== undefined) throw new TokenizerError(`${source}: tokenizer.ggml.tokens has ${JSON.stringify(t)} twice (ids ${first} and ${id}); the file is damaged; re-convert the model`);
    seen.set(t, id);
  });
  const special = (id: number | null) => (id !== null && id >= 0 && id < tokens.length ? tokens[id]! : null);
  // The ids that decide where text begins and ends must be tokens (out of range, EOS would never stop generation).
  const inVocab = (key: string) => {
    const id = intKey(meta, key);
    if (id !== null && !(id >= 0 && id < tokens.length)) throw new TokenizerError(`${source}: ${key} is ${id}, outside the vocabulary of ${tokens.length} tokens (tokenizer.ggml.tokens); the file is damaged; re-convert the model`);
    return id;
  };
  const bos = special(inVocab("tokenizer.ggml.bos_token_id"));
  const eos = special(inVocab("tokenizer.ggml.eos_token_id"));
  const unk = special(intKey(meta, "tokenizer.ggml.unknown_token_id"));
  const pad = special(intKey(meta, "tokenizer.ggml.padding_token_id"));
  const addBos = boolKey(meta, "tokenizer.ggml.add_bos_token", model === "llama");
  const addEos = boolKey(meta, "tokenizer.ggml.add_eos_token", false);
  const added = tokens.flatMap((content, id) => {
    const t = types[id];
    if (t !== CONTROL && t !== USER_DEFINED && t !== UNKNOWN && t !== UNUSED) return [];
    return [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: t !== USER_DEFINED }];
  });
  let tokenizer: Json;
  if (model === "gpt2") {
    const preName = meta("tokenizer.ggml.pre");
    const pre = PRE[typeof preName === "string" ? preName : "default"];
    if (!pre) throw new TokenizerError(`${source}: tokenizer.ggml.pre is "${String(preName)}", a pre-tokenizer moec does not know (it knows ${Object.keys(PRE).join(", ")}); give the model's tokenizer.json with --tokenizer DIR`);
    const merges = strings(meta, "tokenizer.ggml.merges", source, true)!.map((m) => {
      const at = m.indexOf(" ", 1);
      if (at < 0) throw new TokenizerError(`${source}: tokenizer.ggml.merges has "${m}", which is not two tokens separated by a space`);
      return [m.slice(0, at), m.slice(at + 1)];
    });
    tokenizer = {
      version: "1.0",
      added_tokens: added,
      normalizer: pre.normalizer,
      pre_tokenizer: pre.pre_tokenizer,
      post_processor: withSpecial(byteLevel(), addBos ? bos : null, addEos ? eos : null),
      decoder: byteLevel(),
      model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, ignore_merges: pre.ignore_merges, vocab: vocabOf(tokens), merges },
    };
  } else if (model === "llama") {
    const scores = numbers(meta, "tokenizer.ggml.scores", source, tokens.length);
    if (!scores) throw new TokenizerError(`${source}: a SentencePiece ("llama") GGUF vocabulary needs tokenizer.ggml.scores; re-convert the model`);
    const spacePrefix = boolKey(meta, "tokenizer.ggml.add_space_prefix", true);
    const replace = { type: "Replace", pattern: { String: " " }, content: "\u2581" };
    tokenizer = {
      version: "1.0",
      added_tokens: added,
      normalizer: { type: "Sequence", normalizers: spacePrefix ? [{ type: "Prepend", prepend: "\u2581" }, replace] : [replace] },
      pre_tokenizer: null,
      post_processor: withSpecial(null, addBos ? bos : null, addEos ? eos : null),
      decoder: { type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }, ...(spacePrefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : [])] },
      model: { type: "BPE", dropout: null, unk_token: unk, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab: vocabOf(tokens), merges: mergesFromScores(tokens, scores, types) },
    };
  } else {
    throw new TokenizerError(`${source}: tokenizer.ggml.model is "${model}"; moec reads "gpt2" (byte-level BPE) and "llama" (SentencePiece) vocabularies; give the model's tokenizer.json with --tokenizer DIR`);
  }
  const template = meta("tokenizer.chat_template");
  const config: Json = {
    bos_token: bos,
    eos_token: eos,
    unk_token: unk,
    pad_token: pad,
    add_bos_token: addBos,
    add_eos_token: addEos,
    clean_up_tokenization_spaces: false,
    ...(typeof template === "string" ? { chat_template: template } : {}),
  };
  // End-of-generation tokens llama.cpp knows besides EOS (end of turn, end of message).
  const eog = ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"].map((k) => inVocab(k)).filter((x): x is number => x !== null);
  return { tokenizer, config, generation: eog.length ? { eos_token_id: eog } : null };
}

function vocabOf(tokens: readonly string[]): Record<string, number> {
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => {
    if (!(t in vocab)) vocab[t] = id;
  });
  return vocab;
}

/** A post-processor adding BOS/EOS around a text (TemplateProcessing), or the given one. */
function withSpecial(base: Json | null, bos: string | null, eos: string | null): Json | null {
  if (bos === null && eos === null) return base;
  const specialTokens: Json = {};
  const piece = (t: string) => ({ SpecialToken: { id: t, type_id: 0 } });
  for (const t of [bos, eos]) if (t !== null) specialTokens[t] = { id: t, ids: [], tokens: [t] };
  const single = [...(bos ? [piece(bos)] : []), { Sequence: { id: "A", type_id: 0 } }, ...(eos ? [piece(eos)] : [])];
  return { type: "TemplateProcessing", single, pair: single, special_tokens: specialTokens };
}

/**
 * SentencePiece BPE merges from piece scores: every way to split a piece into two pieces of the
 * vocabulary is a merge, ranked by the merged piece's score (higher first), ties by the ids of
 * the two halves — what the `tokenizers` SentencePiece extractor does.
 */
export function mergesFromScores(tokens: readonly string[], scores: readonly number[], types: readonly number[]): string[][] {
  const idOf = new Map<string, number>();
  tokens.forEach((t, id) => {
    if (types[id] === NORMAL || types[id] === USER_DEFINED || types[id] === BYTE) if (!idOf.has(t)) idOf.set(t, id);
  });
  const merges: { l: string; r: string; score: number; lid: number; rid: number; id: number }[] = [];
  idOf.forEach((id, piece) => {
    if (types[id] !== NORMAL) return;
    const chars = [...piece];
    let at = 0;
    for (let k = 1; k < chars.length; k++) {
      at += chars[k - 1]!.length;
      const l = piece.slice(0, at);
      const r = piece.slice(at);
      const lid = idOf.get(l);
      const rid = idOf.get(r);
      if (lid !== undefined && rid !== undefined) merges.push({ l, r, score: scores[id]!, lid, rid, id });
    }
  });
  merges.sort((a, b) => b.score - a.score || a.id - b.id || a.lid - b.lid || a.rid - b.rid);
  return merges.map((m) => [m.l, m.r]);
}
