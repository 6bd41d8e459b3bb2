// Loading a model to run: a .moe file or a Hugging Face folder (imported on the fly), plus
// its weights from a safetensors file/folder or deterministic random weights.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { openCheckpoint, WeightFileError, type WeightSource } from "../../runtime/weights/safetensors.js";
import { isGgufFile } from "../../runtime/weights/gguf.js";
import { loadGgufModel, openGgufWeights } from "./gguf-load.js";
import { checkFile, checkSource, type CheckedSource } from "../index.js";
import { importHfDir } from "../import/hf.js";
import type { Graph } from "../ir/graph.js";
import { runPipeline } from "../passes/pipeline.js";
import { bindWeights, BindError } from "../weights/bind.js";
import { randomWeights } from "../weights/random.js";
import { expectedTensors } from "../weights/expected.js";

/** Random weights are generated in memory; past this they would take minutes and the runtime could not hold them. */
export const MAX_RANDOM_BYTES = 4 * 2 ** 30;

export interface LoadOptions {
  readonly weights?: string;
  readonly randomWeights?: number;
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
    return { graph: runPipeline(checked.graph).graph, before: checked.graph, hfDir: null, gguf: imported.source };
  }
  if (await isDir(model)) {
    const imported = await importHfDir(model);
    if ("error" in imported) throw new RunError(imported.error);
    const checked = checkSource(join(model, "config.json (imported)"), imported.text);
    if (!checked.graph) return checked;
    return { graph: runPipeline(checked.graph).graph, before: checked.graph, hfDir: model };
  }
  const checked = await checkFile(model);
  if (!checked.graph) return checked;
  return { graph: runPipeline(checked.graph).graph, before: checked.graph, hfDir: null };
}

export async function loadWeights(graph: Graph, hfDir: string | null, opts: LoadOptions, gguf?: WeightSource): Promise<Map<string, Float32Array>> {
  if (opts.randomWeights !== undefined) {
    await gguf?.close();
    const bytes = 4 * [...expectedTensors(graph).values()].reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
    if (bytes > MAX_RANDOM_BYTES) {
      throw new RunError(`${graph.name} has ${(bytes / 2 ** 30).toFixed(1)} GiB of float32 weights; random weights are generated in memory and are for small models (at most ${MAX_RANDOM_BYTES / 2 ** 30} GiB); give the real weights with --weights`);
    }
    return randomWeights(graph, opts.randomWeights);
  }
  if (gguf && opts.weights === undefined) {
    try {
      return await bindWeights(graph, gguf, "GGUF file");
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
      return await bindWeights(graph, ck, source);
    } finally {
      await ck.close();
    }
  } catch (e) {
    if (e instanceof WeightFileError || e instanceof BindError) throw new RunError(e.message);
    throw e;
  }
}
