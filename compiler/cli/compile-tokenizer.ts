// `moec compile`'s tokenizer: the model's own (a folder's tokenizer.json, a GGUF vocabulary) or
// the one given with --tokenizer DIR, checked against the model's vocabulary size.
import { RunError } from "../run/load.js";
import { bundleTokenizerFiles, readTokenizerFiles } from "../emit/tokenizer-files.js";

export async function bundleTokenizer(modelPath: string, tokenizerDir: string | undefined, vocab: number): Promise<Record<string, string> | null> {
  const source = tokenizerDir ?? modelPath;
  let files;
  try {
    files = await readTokenizerFiles(source);
    if (files === null) {
      if (tokenizerDir !== undefined) throw new RunError(`${tokenizerDir}: no tokenizer.json there (--tokenizer takes a folder holding a Hugging Face tokenizer.json)`);
      return null;
    }
    const out = bundleTokenizerFiles(files, source);
    const size = Object.keys((files.tokenizer as { model: { vocab: object } }).model.vocab).length;
    if (size > vocab) throw new RunError(`${source}: the tokenizer has ${size} tokens but the model's vocabulary has ${vocab}; give the model's own tokenizer with --tokenizer DIR`);
    return out;
  } catch (e) {
    if (e instanceof RunError) throw e;
    throw new RunError((e as Error).message);
  }
}
