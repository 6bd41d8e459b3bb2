// Opening a model that speaks text, for `moec run --prompt`, `moec chat` and `moec serve`:
//   a compiled bundle folder (plan.json; its tokenizer.json if it has one)
//   a Hugging Face folder (config.json + weights; tokenizer.json beside them)
//   a GGUF file (the program, the weights and the embedded vocabulary)
//   a .moe file (with --weights or --random-weights; the tokenizer must come with --tokenizer)
// The model runs the compiled plan in process (WASM kernels, or the TypeScript ones).
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { loadModel as loadBundle } from "../../runtime/load.js";
import { LoadError, type Model } from "../../runtime/model.js";
import { openGguf } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import { ggufTokenizerFiles, hasGgufVocab } from "../../runtime/text/gguf-vocab.js";
import { loadTokenizer } from "../../runtime/text/load.js";
import { TextTokenizer, TokenizerError } from "../../runtime/text/tokenizer.js";
import { formatDiagnostics } from "../diagnostics/format.js";
import { loadGraph, loadWeights, RunError } from "./load.js";
import type { CheckWeights } from "./weight-checks.js";

export interface TextModelOptions {
  readonly target?: string;
  readonly threads?: number;
  /** Sequence slots (concurrent sequences, for the server). */
  readonly sequences?: number;
  /** The context to reserve, as the user asked for it (--context): taken as is. */
  readonly maxContext?: number;
  /** Without maxContext: this many positions (default 2048), or the model's trained context if that is smaller. */
  readonly defaultContext?: number;
  /** Scan the weights for NaN / ±Infinity as they load (--check-weights / --no-check-weights; default: small models). */
  readonly checkWeights?: CheckWeights;
  /** A folder with tokenizer.json to use instead of the model's own. */
  readonly tokenizer?: string;
  readonly weights?: string;
  readonly randomWeights?: number;
  readonly onProgress?: (loaded: number, total: number) => void;
}

export interface TextModel {
  readonly model: Model;
  readonly tokenizer: TextTokenizer;
  /** The model's name (the plan's). */
  readonly name: string;
  /** The positions reserved (model.maxContext) and where that number came from, for messages. */
  readonly context: { readonly positions: number; readonly source: string };
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The tokenizer a model path carries: a folder's tokenizer.json, or a GGUF file's vocabulary. */
export async function tokenizerOfPath(path: string): Promise<TextTokenizer | null> {
  if ((await stat(path)).isDirectory()) return loadTokenizer(path);
  if (!path.endsWith(".gguf")) return null;
  const g = await openGguf(path);
  try {
    const meta = (k: string) => g.get(k);
    return hasGgufVocab(meta) ? new TextTokenizer(ggufTokenizerFiles(meta, path), path) : null;
  } finally {
    await g.close();
  }
}

/** Opens a model and its tokenizer; every problem with the inputs is a RunError naming the file and the fix. */
export async function openTextModel(path: string, opts: TextModelOptions = {}): Promise<TextModel> {
  if (!(await exists(path))) throw new RunError(`${path}: no such file or folder`);
  if (opts.tokenizer !== undefined) {
    const st = await stat(opts.tokenizer).catch(() => null);
    if (st === null) throw new RunError(`${opts.tokenizer}: no such folder (--tokenizer takes a folder holding a Hugging Face tokenizer.json)`);
    if (!st.isDirectory()) throw new RunError(`${opts.tokenizer}: is a file, not a folder; --tokenizer takes the folder holding tokenizer.json (and tokenizer_config.json)`);
  }
  let tokenizer: TextTokenizer | null;
  try {
    tokenizer = opts.tokenizer !== undefined ? await loadTokenizer(opts.tokenizer) : await tokenizerOfPath(path);
    if (opts.tokenizer !== undefined && tokenizer === null) throw new RunError(`${opts.tokenizer}: no tokenizer.json there (--tokenizer takes a folder holding a Hugging Face tokenizer.json)`);
  } catch (e) {
    if (e instanceof TokenizerError || e instanceof WeightFileError) throw new RunError(e.message);
    throw e;
  }
  if (tokenizer === null) {
    throw new RunError(`${path} has no tokenizer (no tokenizer.json in the folder, no vocabulary in the GGUF file), so it cannot take text; give one with --tokenizer DIR (a folder with the model's tokenizer.json), or use 'moec run --ids'`);
  }
  const fallback = opts.defaultContext ?? 2048;
  let context = opts.maxContext !== undefined ? { positions: opts.maxContext, source: "--context" } : { positions: fallback, source: `the default of ${fallback}` };
  let model: Model;
  if (await exists(join(path, "plan.json"))) {
    const sizes = { maxContext: context.positions, sequences: opts.sequences ?? 1 };
    try {
      model = await loadBundle(path, { ...sizes, tokenizer: false, backend: opts.target ?? "wasm", ...(opts.threads ? { threads: opts.threads } : {}), ...(opts.onProgress ? { onProgress: (p) => opts.onProgress!(p.loadedBytes, p.totalBytes) } : {}) });
    } catch (e) {
      if (e instanceof LoadError) throw new RunError(e.message);
      throw e;
    }
  } else {
    const loaded = await loadGraph(path);
    if (!("hfDir" in loaded)) throw new RunError(`${path} has errors:\n${formatDiagnostics(loaded.diagnostics, { sources: new Map([[loaded.file, loaded.text]]) })}`);
    // Without --context, never past the context the model was trained for (as `moec run --ids` bounds -n).
    if (opts.maxContext === undefined && loaded.context && loaded.context.positions < context.positions) context = { positions: loaded.context.positions, source: loaded.context.source };
    const sizes = { maxContext: context.positions, sequences: opts.sequences ?? 1 };
    const weights = await loadWeights(loaded.graph, loaded.hfDir, { ...(opts.weights !== undefined ? { weights: opts.weights } : {}), ...(opts.randomWeights !== undefined ? { randomWeights: opts.randomWeights } : {}), ...(opts.checkWeights !== undefined ? { checkWeights: opts.checkWeights } : {}) }, loaded.gguf);
    // Loaded lazily: binaryen is only needed when a kernel module is built.
    const { planModel } = await import("./engines.js");
    const target = opts.target ?? "wasm";
    try {
      model = await planModel({ graph: loaded.graph, weights }, target, sizes.maxContext, target === "wasm" ? (opts.threads ?? 1) : 1, opts.onProgress ? (p) => opts.onProgress!(p.loadedBytes, p.totalBytes) : undefined, sizes.sequences);
    } catch (e) {
      if (e instanceof LoadError) throw new RunError(e.message);
      throw e;
    }
  }
  if (tokenizer.vocabSize > model.plan.vocab) {
    const n = model.plan.vocab;
    await model.dispose();
    throw new RunError(`the tokenizer has ${tokenizer.vocabSize} tokens but ${model.plan.model} has a vocabulary of ${n}; give the model's own tokenizer (--tokenizer DIR)`);
  }
  model.tokenizer = tokenizer;
  return { model, tokenizer, name: model.plan.model, context };
}
