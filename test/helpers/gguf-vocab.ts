// A Hugging Face tokenizer as the `tokenizer.ggml.*` metadata llama.cpp's convert_hf_to_gguf.py
// writes for it, written independently of moec's adapter (runtime/text/gguf-vocab.ts) so that
// it can check it: tokens by id with their types (normal 1, unknown 2, control 3, user-defined 4,
// byte 6), BPE merges as "a b" strings for byte-level vocabularies, and for SentencePiece ones
// the piece scores (a SentencePiece BPE piece's score falls with the rank of the merge that makes
// it, which is how the Hugging Face file's merges were ordered; byte and special pieces score 0).
import type { KV } from "./gguf-writer.js";

export function ggufVocabKv(tokenizer: any, config: any, opts: { model: "gpt2" | "llama"; pre?: string }): KV[] {
  const tokens: string[] = [];
  const types: number[] = [];
  for (const [t, id] of Object.entries(tokenizer.model.vocab as Record<string, number>)) {
    tokens[id] = t;
    types[id] = /^<0x[0-9A-F]{2}>$/.test(t) && opts.model === "llama" ? 6 : 1;
  }
  for (const a of tokenizer.added_tokens as { id: number; content: string; special: boolean }[]) {
    tokens[a.id] = a.content;
    types[a.id] = a.content === tokenizer.model.unk_token ? 2 : a.special ? 3 : 4;
  }
  const idOf = (v: unknown) => {
    const s = typeof v === "string" ? v : (v as { content?: string } | null)?.content;
    return s === undefined ? -1 : tokens.indexOf(s);
  };
  const kv: KV[] = [
    ["tokenizer.ggml.model", "string", opts.model],
    ["tokenizer.ggml.tokens", "array", tokens, "string"],
    ["tokenizer.ggml.token_type", "array", types, "i32"],
  ];
  if (opts.model === "gpt2") {
    kv.push(["tokenizer.ggml.pre", "string", opts.pre!]);
    kv.push(["tokenizer.ggml.merges", "array", (tokenizer.model.merges as (string | string[])[]).map((m) => (Array.isArray(m) ? m.join(" ") : m)), "string"]);
  } else {
    // The scores SentencePiece had: the earlier the merge that makes a piece, the higher its score.
    const rank = new Map<string, number>();
    (tokenizer.model.merges as (string | string[])[]).forEach((m, i) => {
      const [a, b] = Array.isArray(m) ? m : [m.slice(0, m.indexOf(" ")), m.slice(m.indexOf(" ") + 1)];
      if (!rank.has(a! + b!)) rank.set(a! + b!, i);
    });
    kv.push(["tokenizer.ggml.scores", "array", tokens.map((t, id) => (types[id] !== 1 ? 0 : rank.has(t) ? -rank.get(t)! : [...t].length > 1 ? -1e9 : 0)), "f32"]);
    kv.push(["tokenizer.ggml.add_space_prefix", "bool", true]);
  }
  for (const [key, field] of [["bos", "bos_token"], ["eos", "eos_token"], ["unknown", "unk_token"], ["padding", "pad_token"]] as const) {
    const id = idOf(config[field]);
    if (id >= 0) kv.push([`tokenizer.ggml.${key}_token_id`, "u32", id]);
  }
  kv.push(["tokenizer.ggml.add_bos_token", "bool", config.add_bos_token === true]);
  if (typeof config.chat_template === "string") kv.push(["tokenizer.chat_template", "string", config.chat_template]);
  return kv;
}

/** The metadata lookup moec's adapter takes, over a list of key/values. */
export function metadataOf(kv: readonly KV[]): (key: string) => any {
  const m = new Map(kv.map((e) => [e[0], e[2]]));
  return (k) => m.get(k);
}
