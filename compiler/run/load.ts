// Loading a model to run: a .moe file or a Hugging Face folder (imported on the fly), plus
// its weights from a safetensors file/folder or deterministic random weights.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { openCheckpoint, WeightFileError, type WeightSource } from "../../runtime/weights/safetensors.js";
import { isGgufFile } from "../../runtime/weights/gguf.js";
import { loadGgufModel, openGgufWeights } from "./gguf-load.js";
import { checkFile, checkSource, type CheckedSource } from "../index.js";
import { importHfDir, MAX_CONFIG_BYTES } from "../import/hf.js";
import { readFileCapped } from "../../runtime/weights/read-capped.js";
import type { Graph } from "../ir/graph.js";
import { runPipeline } from "../passes/pipeline.js";
import { bindWeights, BindError } from "../weights/bind.js";
import { randomWeights } from "../weights/random.js";
import { expectedTensors } from "../weights/expected.js";
import { weightMemoryProblem, type CheckWeights } from "./weight-checks.js";
import { memoryWeights, sourceWeights, type BoundWeights } from "../weights/bound.js";

/** Random weights are generated in memory; past this they would take minutes and the runtime could not hold them. */
export const MAX_RANDOM_BYTES = 4 * 2 ** 30;

export interface LoadOptions {
  readonly weights?: string;
  readonly randomWeights?: number;
  /** Scan the weights for NaN / ±Infinity as they are read: "auto" (default) for models up to 2 GiB. */
  readonly checkWeights?: CheckWeights;
}

export interface LoadedModel {
  readonly graph: Graph;
  readonly weights: Map<string, Float32Array>;
}

/** A problem with the command's inputs (not with moec): printed as is, exit code 1. */
export class RunError extends Error {}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Checks the model; returns the checked source (diagnostics to print) when it has errors. */
/** A checked model: `graph` after the pass pipeline, `before` as checked (for reports). */
export interface LoadedGraph {
  readonly graph: Graph;
  readonly before: Graph;
  readonly hfDir: string | null;
  readonly gguf?: WeightSource;
  /** The context the model was trained for, where its config says (max_position_embeddings). */
  readonly context?: { readonly positions: number; readonly source: string };
}

function trainedContext(config: unknown, source: string): { context?: { positions: number; source: string } } {
  const v = (config as { max_position_embeddings?: unknown } | null)?.max_position_embeddings;
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? { context: { positions: v, source } } : {};
}

/**
 * The context a run may use without --max-context: the trained one, or the program's `exact_context` where that
 * is smaller (past it the source model computes something else: DeepSeek Sparse Attention's key selection).
 */
function runContext(graph: Graph, trained: { context?: { positions: number; source: string } }, file: string): { context?: { positions: number; source: string } } {
  const exact = graph.constants["exact_context"];
  if (typeof exact !== "number" || !Number.isSafeInteger(exact) || exact <= 0) return trained;
  if (trained.context && trained.context.positions <= exact) return trained;
  return { context: { positions: exact, source: `exact_context in ${file} (the source model attends differently past it)` } };
}

export async function loadGraph(model: string): Promise<LoadedGraph | CheckedSource> {
  if (model.endsWith(".gguf") || (!(await isDir(model)) && (await isGgufFile(model).catch(() => false)))) {
    let imported: Awaited<ReturnType<typeof loadGgufModel>>;
    try {
      imported = await loadGgufModel(model);
    } catch (e) {
      if (e instanceof WeightFileError) throw new RunError(e.message);
      throw e;
    }
    const checked = checkSource(`${model} (imported)`, imported.text);
    if (!checked.graph) {
      await imported.source.close();
      return checked;
    }
    return { graph: runPipeline(checked.graph).graph, before: checked.graph, hfDir: null, gguf: imported.source, ...runContext(checked.graph, trainedContext(imported.config, `the context_length in ${model}`), `${model} (imported)`) };
  }
  if (await isDir(model)) {
    const imported = await importHfDir(model);
    if ("error" in imported) throw new RunError(imported.error);
    const checked = checkSource(join(model, "config.json (imported)"), imported.text);
    if (!checked.graph) return checked;
    const config = await readFileCapped(join(model, "config.json"), MAX_CONFIG_BYTES).then((b) => JSON.parse(b.toString("utf8")) as unknown, () => null);
    return { graph: runPipeline(checked.graph).graph, before: checked.graph, hfDir: model, ...runContext(checked.graph, trainedContext(config, `max_position_embeddings in ${join(model, "config.json")}`), `the program imported from ${join(model, "config.json")}`) };
  }
  const checked = await checkFile(model);
  if (!checked.graph) return checked;
  return { graph: runPipeline(checked.graph).graph, before: checked.graph, hfDir: null, ...runContext(checked.graph, {}, model) };
}

export async function loadWeights(graph: Graph, hfDir: string | null, opts: LoadOptions, gguf?: WeightSource): Promise<Map<string, Float32Array>> {
  if (opts.randomWeights !== undefined) {
    await gguf?.close();
    const bytes = 4 * [...expectedTensors(graph).values()].reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
    if (bytes > MAX_RANDOM_BYTES) {
      throw new RunError(`${graph.name} has ${(bytes / 2 ** 30).toFixed(1)} GiB of float32 weights; random weights are generated in memory and are for small models (at most ${MAX_RANDOM_BYTES / 2 ** 30} GiB); give the real weights with --weights`);
    }
    const short = weightMemoryProblem(graph.name, bytes, "--random-weights");
    if (short) throw new RunError(short);
    return randomWeights(graph, opts.randomWeights);
  }
  if (gguf && opts.weights === undefined) {
    try {
      return await bindWeights(graph, gguf, "GGUF file", opts.checkWeights !== undefined ? { checkWeights: opts.checkWeights } : {});
    } catch (e) {
      if (e instanceof WeightFileError || e instanceof BindError) throw new RunError(e.message);
      throw e;
    } finally {
      await gguf.close();
    }
  }
  await gguf?.close();
  const source = opts.weights ?? hfDir;
  if (source === null) throw new RunError("the model has no weights: pass --weights FILE.safetensors (or a folder with model.safetensors), or --random-weights SEED to run with random ones");
  try {
    const ck = source.endsWith(".gguf") ? await openGgufWeights(source) : await openCheckpoint(source);
    try {
      return await bindWeights(graph, ck, source, opts.checkWeights !== undefined ? { checkWeights: opts.checkWeights } : {});
    } finally {
      await ck.close();
    }
  } catch (e) {
    if (e instanceof WeightFileError || e instanceof BindError) throw new RunError(e.message);
    throw e;
  }
}

/**
 * The model's weights bound but not read (compiler/weights/bound.ts): each is read when the model
 * or the weight pack asks for it, in the plan's format, straight from the file where the file
 * holds it in that format. Names and shapes are checked now (RunError lists every problem).
 */
export async function openWeights(graph: Graph, hfDir: string | null, opts: LoadOptions, gguf?: WeightSource): Promise<BoundWeights> {
  if (opts.randomWeights !== undefined) return memoryWeights(await loadWeights(graph, hfDir, opts, gguf), `random weights (seed ${opts.randomWeights})`);
  const bind = (src: WeightSource, name: string) => {
    try {
      return sourceWeights(graph, src, name, opts.checkWeights !== undefined ? { checkWeights: opts.checkWeights } : {});
    } catch (e) {
      if (e instanceof WeightFileError || e instanceof BindError) throw new RunError(e.message);
      throw e;
    }
  };
  const wrap = (w: BoundWeights, close: () => Promise<void>): BoundWeights => ({
    ...w,
    read: (n, f, s, into) => w.read(n, f, s, into).catch(rethrow),
    readF32: (n) => w.readF32(n).catch(rethrow),
    close,
  });
  if (gguf && opts.weights === undefined) {
    try {
      return wrap(bind(gguf, "GGUF file"), () => gguf.close());
    } catch (e) {
      await gguf.close();
      throw e;
    }
  }
  await gguf?.close();
  const source = opts.weights ?? hfDir;
  if (source === null) throw new RunError("the model has no weights: pass --weights FILE.safetensors (or a folder with model.safetensors), or --random-weights SEED to run with random ones");
  let ck: WeightSource;
  try {
    ck = source.endsWith(".gguf") ? await openGgufWeights(source) : await openCheckpoint(source);
  } catch (e) {
    if (e instanceof WeightFileError || e instanceof BindError) throw new RunError(e.message);
    throw e;
  }
  try {
    return wrap(bind(ck, source), () => ck.close());
  } catch (e) {
    await ck.close();
    throw e;
  }
}

function rethrow(e: unknown): never {
  if (e instanceof WeightFileError || e instanceof BindError) throw new RunError(e.message);
  throw e;
}
