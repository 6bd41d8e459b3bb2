// `--quantize` for `moec run` and `moec compile`: the scheme parsed, a budget solved into
// per-expert formats (mixed.ts), the plan made with it, and the error it makes measured against
// the float32 plan on calibration ids (error.ts) — every quantized run and compile reports it.
import { findBackend } from "../../backends/registry.js";
import { Model } from "../../runtime/model.js";
import { machineProblem } from "../../runtime/options.js";
import { bitsPerWeight, weightBytes, type StorageFormat } from "../../runtime/plan/formats.js";
import type { Plan } from "../../runtime/plan/plan.js";
import type { Graph } from "../ir/graph.js";
import type { QuantChoice } from "../passes/quantize.js";
import { planFor } from "../run/engines.js";
import type { BoundWeights } from "../weights/bound.js";
import { UsageError } from "../cli/io.js";
import { compareTraces, moeLabels, traceModel, type QuantError } from "./error.js";
import { parseQuantize, SchemeError, type QuantizeSpec } from "./scheme.js";
import { solveBudget, type MixedChoice } from "./mixed.js";

/** Calibration tokens when none are given. */
export const DEFAULT_CALIBRATION_TOKENS = 64;

/** Parses --quantize (null when absent); a bad scheme is a usage error (exit 2). */
export function quantizeFlag(text: string | undefined): QuantizeSpec | null {
  if (text === undefined) return null;
  try {
    return parseQuantize(text);
  } catch (e) {
    if (e instanceof SchemeError) throw new UsageError(`${e.message}.`);
    throw e;
  }
}

export interface QuantOutcome {
  readonly plan: Plan;
  readonly scheme: QuantizeSpec;
  readonly choices: readonly QuantChoice[];
  /** The mixed-precision decision, when the scheme was a budget. */
  readonly mixed?: MixedChoice;
  /** Bits per element over the quantized weights, scales included. */
  readonly bitsPerWeight: number;
  readonly calibration: { readonly ids: readonly number[]; readonly source: string };
}

/** The calibration ids: --calibration (ids or a file of them), else pseudo-random ids. */
export async function calibrationFor(arg: string | undefined, vocab: number, maxTokens = DEFAULT_CALIBRATION_TOKENS): Promise<{ ids: number[]; source: string }> {
  if (arg !== undefined) {
    const { calibrationIds } = await import("../report/index.js");
    const c = await calibrationIds(arg, vocab);
    return { ids: c.ids.slice(0, maxTokens), source: c.source };
  }
  const { pseudoRandomIds } = await import("../report/data.js");
  const n = Math.min(DEFAULT_CALIBRATION_TOKENS, maxTokens);
  return { ids: pseudoRandomIds(n, vocab), source: `${n} pseudo-random token ids (mulberry32, seed 1; no --calibration was given)` };
}

/** Makes the quantized plan (solving a budget first). */
export async function quantizeFor(graph: Graph, weights: BoundWeights, target: string, scheme: QuantizeSpec, opts: { calibration?: string | undefined; threads: number }): Promise<QuantOutcome> {
  const vocab = (graph.nodes.find((n) => n.op === "embed")?.attrs["vocab"] as number | undefined) ?? 1;
  const calibration = await calibrationFor(opts.calibration, vocab);
  let spec = scheme;
  let mixed: MixedChoice | undefined;
  if (scheme.kind === "budget") {
    mixed = await solveBudget(graph, weights, target, scheme.bits, calibration.ids, opts.threads);
    spec = mixed.spec;
  }
  let choices: QuantChoice[] = [];
  const plan = planFor(graph, weights, target, { quantize: spec, note: (pass, d) => pass === "quantize" && (choices = d as QuantChoice[]) });
  let bits = 0;
  let elements = 0;
  for (const c of choices) {
    const n = c.shape.reduce((a, b) => a * b, 1);
    bits += bitsPerWeight(c.to, c.shape[c.shape.length - 1]) * n;
    elements += n;
  }
  return { plan, scheme, choices, ...(mixed ? { mixed } : {}), bitsPerWeight: elements ? bits / elements : 32, calibration };
}

/**
 * The quantized plan's error against the float32 plan on the calibration ids, on `target`.
 * `quantModel` may be the model the command runs (its caches are reset around the trace);
 * without it one is made. Skipped (with the reason) when the float32 model does not fit here.
 */
export async function measureError(graph: Graph, weights: BoundWeights, target: string, q: QuantOutcome, threads: number, quantModel?: Model): Promise<QuantError | { skipped: string }> {
  const ids = q.calibration.ids;
  const ref = planFor(graph, weights, target, { disabled: ["weight-formats"] });
  const sizes = { maxContext: ids.length, maxTokens: ids.length, sequences: 1 };
  const short = machineProblem(ref, sizes);
  if (short) return { skipped: `the float32 reference does not fit here (${short})` };
  const make = async (plan: Plan) => {
    const backend = findBackend(target)!;
    const device = await backend.device({ plan, threads: backend.capabilities.threads ? threads : 1, ...sizes, files: (name) => backend.buildFile(name) });
    const shapes = new Map(plan.weights.map((w) => [w.name, w.shape]));
    return Model.create(plan, { raw: (name, format, into) => weights.read(name, format, shapes.get(name)!, into) }, { ...sizes, device });
  };
  const refModel = await make(ref);
  let r;
  try {
    r = await traceModel(refModel, ids);
  } finally {
    await refModel.dispose();
  }
  const own = quantModel ?? (await make(q.plan));
  try {
    const t = await traceModel(own, ids);
    return compareTraces(r, t, q.plan.output.width, q.calibration.source, moeLabels(q.plan));
  } finally {
    if (!quantModel) await own.dispose();
  }
}

/** The --json object of a quantized run or compile. */
export function quantJson(q: QuantOutcome, error: QuantError | { skipped: string }): Record<string, unknown> {
  const formats: Record<string, { tensors: number; bytes: number }> = {};
  for (const c of q.choices) {
    const f = (formats[c.to] ??= { tensors: 0, bytes: 0 });
    f.tensors++;
    f.bytes += weightBytes(c.to, c.shape);
  }
  const fallbacks = q.choices.filter((c) => c.fallback).map((c) => ({ name: c.name, format: c.to, why: c.fallback }));
  return {
    scheme: q.scheme.text,
    bitsPerWeight: round(q.bitsPerWeight, 4),
    formats,
    ...(fallbacks.length ? { fallbacks } : {}),
    ...(q.mixed ? { mixed: q.mixed.report } : {}),
    error: "skipped" in error ? { skipped: error.skipped } : {
      calibration: error.calibration,
      tokens: error.tokens,
      logitsRelativeError: round(error.logits.relativeError, 6),
      top1Agreement: round(error.logits.top1Agreement, 4),
      routingChanged: round(error.routingChanged, 4),
      layers: error.layers.map((l) => ({ label: l.label, relativeError: round(l.relativeError, 6), routingChanged: round(l.routingChanged, 4) })),
    },
  };
}

/** One paragraph for stderr. */
export function quantSummary(q: QuantOutcome, error: QuantError | { skipped: string }): string {
  const counts = new Map<StorageFormat, number>();
  for (const c of q.choices) counts.set(c.to, (counts.get(c.to) ?? 0) + 1);
  const fell = q.choices.filter((c) => c.fallback).length;
  const head = `quantized (${q.scheme.text}): ${[...counts].map(([f, n]) => `${n} ${f}`).join(", ")} tensors, ${q.bitsPerWeight.toFixed(2)} bits per weight${fell ? ` (${fell} fell back: rows not whole blocks)` : ""}`;
  if ("skipped" in error) return `${head}; error not measured: ${error.skipped}`;
  const worst = error.layers.reduce<{ label: string; relativeError: number } | null>((w, l) => (!w || l.relativeError > w.relativeError ? l : w), null);
  return `${head}; against float32 on ${error.tokens} calibration tokens: logits relative error ${error.logits.relativeError.toPrecision(3)}, top-1 agreement ${(100 * error.logits.top1Agreement).toFixed(1)}%, routing decisions changed ${(100 * error.routingChanged).toFixed(1)}%${worst ? ` (worst MoE layer: ${worst.label}, output error ${worst.relativeError.toPrecision(3)})` : ""}`;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
