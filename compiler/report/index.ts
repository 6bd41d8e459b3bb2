// `moec report`: one self-contained HTML page about a model — layer structure, parameter and
// memory breakdowns, what each pass changed, the plan's kernels, quantization bits, the
// expert load of a calibration run, and the overlap schedule (none yet).
//
//   const r = await buildReport({ model: "test/fixtures/hf/qwen2_moe" });
//   if ("html" in r) await writeFileAtomic("report.html", r.html);
import { readdir, stat } from "node:fs/promises";
import { readFileCapped } from "../../runtime/weights/read-capped.js";
import { Model } from "../../runtime/model.js";
import { findBackend } from "../../backends/registry.js";
import { defaultRunTarget } from "../run/targets.js";
import { hasMemory64, layoutFor, MAX_MEMORY32, MAX_MEMORY64 } from "../../runtime/memory.js";
import type { Plan } from "../../runtime/plan/plan.js";
import type { CheckedSource } from "../index.js";
import type { Graph } from "../ir/graph.js";
import { planGraph } from "../passes/pipeline.js";
import { loadWeights, RunError, loadGraph, type LoadedGraph } from "../run/load.js";
import {
  addLoad, kernelReport, layerStructure, NO_SCHEDULE, paramReport, passReport, pseudoRandomIds, quantReport,
  type Calibration, type ReportData,
} from "./data.js";
import { renderReport } from "./html.js";
import { quantSection } from "./quant.js";
import type { QuantizeSpec } from "../quant/scheme.js";

export { renderReport } from "./html.js";
export * from "./data.js";
export { esc } from "./svg.js";

export interface ReportOptions {
  /** A .moe file, a Hugging Face folder, or a .gguf file. */
  readonly model: string;
  /** A safetensors file or folder (or .gguf) with the weights. */
  readonly weights?: string;
  /** Deterministic random weights with this seed. */
  readonly randomWeights?: number;
  /** A file of comma/space-separated token ids, or such a list itself. */
  readonly calibration?: string;
  /** --quantize: the section shows this scheme's formats and its error against float32. */
  readonly quantize?: QuantizeSpec;
}

export interface Report {
  readonly html: string;
  readonly data: ReportData;
}

/** Tokens of the calibration run: it is one forward over at most this many ids. */
export const MAX_CALIBRATION_TOKENS = 256;
export const DEFAULT_CALIBRATION_TOKENS = 64;

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

/** Parses `--calibration`: a file of ids, or the ids themselves, comma- or space-separated. */
export async function calibrationIds(arg: string, vocab: number): Promise<{ ids: number[]; source: string }> {
  const fromFile = await isFile(arg);
  let text = arg;
  if (fromFile) {
    try {
      text = (await readFileCapped(arg, 16 * 1024 * 1024)).toString("utf8");
    } catch (e) {
      throw new RunError(`--calibration ${(e as Error).message}; give a file of token ids (at most 16 MiB) or the ids themselves`);
    }
  }
  const parts = text.split(/[\s,]+/).filter((p) => p !== "");
  if (parts.length === 0) throw new RunError(`--calibration ${arg}: no token ids${fromFile ? " in the file" : ""}`);
  const ids = parts.map(Number);
  const bad = parts.findIndex((p, i) => !/^\d+$/.test(p) || ids[i]! >= vocab);
  if (bad >= 0) {
    const what = fromFile ? `the file ${arg}` : "--calibration";
    if (!/^\d+$/.test(parts[bad]!)) throw new RunError(fromFile || parts.length > 1 ? `${what}: '${parts[bad]}' is not a token id (ids are non-negative integers separated by commas or spaces)` : `--calibration: '${arg}' is neither a file nor a list of token ids`);
    throw new RunError(`${what}: token id ${parts[bad]} is outside the vocabulary (0..${vocab - 1})`);
  }
  const used = ids.slice(0, MAX_CALIBRATION_TOKENS);
  const cut = ids.length > used.length ? ` (the first ${used.length} of ${ids.length}; the run is one forward of at most ${MAX_CALIBRATION_TOKENS} tokens)` : "";
  return { ids: used, source: `${used.length} token ids ${fromFile ? `from ${arg}` : "given with --calibration"}${cut}` };
}

async function hasHfWeights(dir: string): Promise<boolean> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  return entries.some((f) => f.endsWith(".safetensors") || f.endsWith(".safetensors.index.json"));
}

async function calibrate(opts: ReportOptions, loaded: LoadedGraph, graph: Graph, plan: Plan | null, lowerError: string | null): Promise<Calibration> {
  const explicit = opts.weights !== undefined || opts.randomWeights !== undefined;
  const implicit = loaded.gguf !== undefined || (loaded.hfDir !== null && (await hasHfWeights(loaded.hfDir)));
  const close = () => loaded.gguf?.close();
  if (!explicit && !implicit) {
    await close();
    return { skipped: "The model has no weights (pass --weights FILE or --random-weights SEED), so no calibration run was made and there is no expert load to show." };
  }
  if (!plan) {
    await close();
    return { skipped: `The model could not be lowered to a plan (${lowerError ?? "unknown error"}), so it cannot run on the kernels.` };
  }
  const moeSteps = plan.steps.filter((s) => s.op === "moe");
  if (moeSteps.length === 0) {
    await close();
    return { skipped: "The model has no MoE layers, so there is no expert load to show." };
  }
  let ids: number[];
  let source: string;
  if (opts.calibration !== undefined) ({ ids, source } = await calibrationIds(opts.calibration, plan.vocab));
  else {
    ids = pseudoRandomIds(Math.min(DEFAULT_CALIBRATION_TOKENS, MAX_CALIBRATION_TOKENS), plan.vocab);
    source = `${ids.length} pseudo-random token ids (mulberry32, seed 1, uniform over the ${plan.vocab}-token vocabulary) — not real text, since no --calibration file was given; the load shows how the router spreads random tokens`;
  }
  let need: number;
  try {
    need = layoutFor(plan, { maxTokens: ids.length, maxContext: ids.length }).totalBytes;
  } catch (e) {
    await close();
    return { skipped: `The calibration run was skipped: ${(e as Error).message}.` };
  }
  const limit = hasMemory64() ? MAX_MEMORY64 : MAX_MEMORY32;
  if (need > limit) {
    await close();
    return { skipped: `Running the model needs ${(need / 2 ** 30).toFixed(2)} GiB (float32 weights, KV cache and activations), more than the ${limit / 2 ** 30} GiB a ${hasMemory64() ? "64" : "32"}-bit WebAssembly memory holds here, so the calibration run was skipped.` };
  }
  const weights = await loadWeights(graph, loaded.hfDir, {
    ...(opts.weights !== undefined ? { weights: opts.weights } : {}),
    ...(opts.randomWeights !== undefined ? { randomWeights: opts.randomWeights } : {}),
  }, loaded.gguf);
  // On the backend `moec run` would use (the registry's first available one), one thread.
  const sizes = { maxContext: ids.length, maxTokens: Math.min(ids.length, MAX_CALIBRATION_TOKENS) };
  const backend = findBackend(defaultRunTarget());
  const device = backend ? await backend.device({ plan, threads: 1, ...sizes, sequences: 1, files: (name) => backend.buildFile(name) }) : undefined;
  const model = await Model.create(plan, (name, into) => into.set(weights.get(name)!), { ...sizes, ...(device ? { device } : {}) });
  // One forward per chunk of the prompt (one chunk at ≤ 256 tokens); expertLoad is per forward.
  let load: number[][] = [];
  try {
    for (let i = 0; i < ids.length; i += model.maxTokens) {
      await model.forward(ids.slice(i, i + model.maxTokens));
      load = addLoad(load, model.expertLoad);
    }
  } finally {
    await model.dispose();
  }
  const moeNodes = graph.nodes.filter((n) => n.op === "moe");
  return {
    run: {
      ids,
      source,
      layers: moeSteps.map((s, i) => {
        const n = moeNodes[i];
        return { label: n?.layer !== null && n?.layer !== undefined ? `layer ${n.layer}` : (n?.name ?? `moe ${i}`), k: s.op === "moe" ? s.router.k : 0, choice: s.op === "moe" ? s.router.choice : "token", experts: s.op === "moe" ? s.experts : 0 };
      }),
      load,
      kernels: model.kernels,
    },
  };
}

function weightsLabel(opts: ReportOptions, loaded: LoadedGraph): string {
  if (opts.randomWeights !== undefined) return `deterministic random weights (seed ${opts.randomWeights})`;
  if (opts.weights !== undefined) return opts.weights;
  if (loaded.gguf) return `${opts.model} (GGUF)`;
  if (loaded.hfDir !== null) return `${loaded.hfDir} (safetensors in the Hugging Face folder)`;
  return "none";
}

/**
 * Builds the report page. Returns the checked source (with diagnostics to print) when the
 * model has errors; throws RunError for problems with the inputs (weights, calibration ids).
 */
export async function buildReport(opts: ReportOptions): Promise<Report | CheckedSource> {
  if (opts.weights !== undefined && opts.randomWeights !== undefined) throw new RunError("give either --weights or --random-weights, not both");
  if (opts.weights !== undefined && !(await stat(opts.weights).then(() => true, () => false))) throw new RunError(`${opts.weights}: no such file or directory; pass a .safetensors file, a Hugging Face model folder or a .gguf file`);
  const loaded = await loadGraph(opts.model);
  if (!("before" in loaded)) return loaded;
  let data: ReportData;
  try {
    const { rows: passes, graph } = passReport(loaded.before);
    let plan: Plan | null = null;
    let lowerError: string | null = null;
    try {
      plan = planGraph(graph);
    } catch (e) {
      lowerError = (e as Error).message;
    }
    const params = paramReport(graph);
    const calibration = await calibrate(opts, loaded, graph, plan, lowerError);
    const quantized = opts.quantize ? await quantSection(opts, opts.quantize) : undefined;
    data = {
      model: graph.name,
      source: opts.model,
      weights: weightsLabel(opts, loaded),
      constants: graph.constants,
      structure: layerStructure(graph),
      params,
      passes,
      kernels: plan ? kernelReport(plan, graph) : { error: lowerError ?? "unknown error" },
      quantization: quantReport(params.moeLayers),
      ...(quantized ? { quantized } : {}),
      calibration,
      schedule: NO_SCHEDULE,
    };
  } catch (e) {
    await loaded.gguf?.close().catch(() => {});
    throw e;
  }
  return { html: renderReport(data), data };
}

/** Writes a file whole or not at all: a temporary file beside it, then a rename. */
export { writeFileAtomic } from "../run/write.js";
