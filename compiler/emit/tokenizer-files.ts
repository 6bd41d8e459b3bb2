// The tokenizer files a bundle ships: only what runtime/text reads, and only the fields of them
// it uses. tokenizer.json (without indentation), tokenizer_config.json cut down to the special
// tokens, the flags the tokenizer library reads and the chat template, and generation_config.json
// with the ids that end generation. From a Hugging Face folder, a GGUF file's vocabulary, or a
// folder given with --tokenizer.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { openGguf } from "../../runtime/weights/gguf.js";
import { ggufTokenizerFiles, hasGgufVocab } from "../../runtime/text/gguf-vocab.js";
import { TextTokenizer, type TokenizerFiles } from "../../runtime/text/tokenizer.js";

/** tokenizer_config.json fields runtime/text or @huggingface/tokenizers read. */
const CONFIG_KEYS = [
  "bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token",
  "additional_special_tokens", "add_bos_token", "add_eos_token", "clean_up_tokenization_spaces",
  "remove_space", "do_lowercase_and_remove_accent", "chat_template",
];

async function readJson(file: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

/** The tokenizer files of a model path (folder or GGUF file), or of a --tokenizer folder; null when it has none. */
export async function readTokenizerFiles(path: string): Promise<TokenizerFiles | null> {
  if ((await stat(path)).isDirectory()) {
    const tokenizer = await readJson(join(path, "tokenizer.json"));
    if (tokenizer === null) return null;
    let chatTemplate: string | null = null;
    try {
      chatTemplate = await readFile(join(path, "chat_template.jinja"), "utf8");
    } catch {
      chatTemplate = null;
    }
    return { tokenizer, config: (await readJson(join(path, "tokenizer_config.json"))) ?? {}, generation: await readJson(join(path, "generation_config.json")), model: await readJson(join(path, "config.json")), chatTemplate };
  }
  if (!path.endsWith(".gguf")) return null;
  const g = await openGguf(path);
  try {
    const meta = (k: string) => g.get(k);
    return hasGgufVocab(meta) ? ggufTokenizerFiles(meta, path) : null;
  } finally {
    await g.close();
  }
}

/** File name → contents, for the bundle. The files are checked by building the tokenizer from them. */
export function bundleTokenizerFiles(files: TokenizerFiles, source: string): Record<string, string> {
  const tok = new TextTokenizer(files, source);
  const config: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) if (files.config?.[k] !== undefined) config[k] = files.config[k];
  if (files.chatTemplate) config["chat_template"] = files.chatTemplate;
  return {
    "tokenizer.json": JSON.stringify(files.tokenizer),
    "tokenizer_config.json": JSON.stringify(config, null, 1) + "\n",
    "generation_config.json": JSON.stringify({ eos_token_id: tok.eosTokenIds }) + "\n",
  };
}
