// A GGUF vocabulary (tokenizer.ggml.*, written as llama.cpp's converter writes it) becomes a
// tokenizer that encodes and decodes as the Hugging Face tokenizer it was converted from does
// (the Python references in test/fixtures/text/reference).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ggufTokenizerFiles } from "../../../runtime/text/gguf-vocab.js";
import { TextTokenizer } from "../../../runtime/text/tokenizer.js";
import { ggufVocabKv, metadataOf } from "../../helpers/gguf-vocab.js";
import { publishedDir, referenceOf } from "../../helpers/text.js";

const CASES = [
  { name: "qwen3", model: "gpt2", pre: "qwen2" },
  { name: "deepseek_v3", model: "gpt2", pre: "deepseek-v3" },
  { name: "gptoss", model: "gpt2", pre: "gpt-4o" },
  { name: "llama2", model: "llama" },
  { name: "tiny", model: "gpt2", pre: "qwen2" },
] as const;

const json = (f: string) => JSON.parse(readFileSync(f, "utf8"));

function fromGguf(name: string, model: "gpt2" | "llama", pre?: string): TextTokenizer {
  const dir = publishedDir(name);
  const kv = ggufVocabKv(json(join(dir, "tokenizer.json")), json(join(dir, "tokenizer_config.json")), { model, ...(pre ? { pre } : {}) });
  return new TextTokenizer(ggufTokenizerFiles(metadataOf(kv), `${name}.gguf`), `${name}.gguf`);
}

describe("GGUF vocabularies", () => {
  for (const c of CASES) {
    it(`${c.name} (${c.model}${"pre" in c ? `, pre ${c.pre}` : ""}): encodes and decodes the corpus as Python's tokenizers does with the original tokenizer.json`, () => {
      const tok = fromGguf(c.name, c.model, "pre" in c ? c.pre : undefined);
      const ref = referenceOf(c.name);
      // DeepSeek-V3's tokenizer_config.json asks for BOS (add_bos_token), which its tokenizer.json
      // does not add; the GGUF file carries the flag and llama.cpp adds it, and so does moec.
      const bos = c.name === "deepseek_v3" ? [0] : [];
      for (const e of ref.encode) {
        expect(tok.encode(e.text), JSON.stringify(e.text)).toEqual([...bos, ...e.ids]);
        expect(tok.encode(e.text, { addSpecialTokens: false }), JSON.stringify(e.text)).toEqual(e.ids_no_special);
      }
      for (const d of ref.decode) {
        expect(tok.decode(d.ids), JSON.stringify(d.ids)).toBe(d.text);
        expect(tok.decode(d.ids, { skipSpecialTokens: true }), JSON.stringify(d.ids)).toBe(d.text_skip_special);
      }
      if (ref.special.eos_token_id !== null) expect(tok.eosTokenIds).toContain(ref.special.eos_token_id);
    });
  }

  it("the chat template comes along (tokenizer.chat_template)", () => {
    const tok = fromGguf("qwen3", "gpt2", "qwen2");
    const c = referenceOf("qwen3").chat[0]!;
    expect(tok.applyChatTemplate([{ role: "user", content: "Hello!" }], { addGenerationPrompt: c.add_generation_prompt })).toBe(c.text.ok);
  });

  it("refuses what it cannot read, naming the key and the way out", () => {
    const meta = (extra: Record<string, unknown>) => (k: string) => ({ "tokenizer.ggml.tokens": ["a", "b"], ...extra } as Record<string, any>)[k];
    expect(() => ggufTokenizerFiles(meta({}), "m.gguf")).toThrow(/m.gguf: the GGUF file has no tokenizer.ggml.model.*--tokenizer DIR/);
    expect(() => ggufTokenizerFiles(meta({ "tokenizer.ggml.model": "bert" }), "m.gguf")).toThrow(/tokenizer.ggml.model is "bert"; moec reads "gpt2".*"llama"/);
    expect(() => ggufTokenizerFiles(meta({ "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "klingon", "tokenizer.ggml.merges": [] }), "m.gguf")).toThrow(/tokenizer.ggml.pre is "klingon", a pre-tokenizer moec does not know/);
    expect(() => ggufTokenizerFiles(meta({ "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "qwen2" }), "m.gguf")).toThrow(/has no tokenizer.ggml.merges/);
    expect(() => ggufTokenizerFiles(meta({ "tokenizer.ggml.model": "llama" }), "m.gguf")).toThrow(/needs tokenizer.ggml.scores/);
  });

  it("refuses a damaged vocabulary instead of generating past an EOS that cannot occur or decoding a lost id", () => {
    const dir = publishedDir("tiny");
    const kv = ggufVocabKv(json(join(dir, "tokenizer.json")), json(join(dir, "tokenizer_config.json")), { model: "gpt2", pre: "qwen2" });
    const good = metadataOf(kv);
    const size = (good("tokenizer.ggml.tokens") as string[]).length;
    const with_ = (key: string, value: unknown) => (k: string) => (k === key ? value : good(k));
    for (const key of ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"]) {
      for (const id of [size, 999_999, -1]) {
        expect(() => ggufTokenizerFiles(with_(key, id), "m.gguf"), `${key} ${id}`).toThrow(`m.gguf: ${key} is ${id}, outside the vocabulary of ${size} tokens (tokenizer.ggml.tokens); the file is damaged`);
      }
    }
    const tokens = [...(good("tokenizer.ggml.tokens") as string[])];
    tokens[9] = tokens[4]!;
    expect(() => ggufTokenizerFiles(with_("tokenizer.ggml.tokens", tokens), "m.gguf")).toThrow(`m.gguf: tokenizer.ggml.tokens has ${JSON.stringify(tokens[4])} twice (ids 4 and 9)`);
  });
});
