// The error a quantized plan makes, measured against the float32 plan of the same model on the
// same backend over calibration token ids (one pass each): the relative error of the logits
// (‖L_q − L‖ / ‖L‖ over all positions), the fraction of positions whose top-1 token agrees, the
// fraction of routing decisions that changed (a token's chosen experts in a MoE layer that the
// quantized model did not choose), and per MoE layer the relative error of its output and its
// routing changes. Errors accumulate through the layers, so the per-layer numbers show where
// the quantized model drifts.
import type { Model } from "../../runtime/model.js";
import type { StepView } from "../../runtime/executor.js";
import { moeScratch } from "../../runtime/moe/scratch.js";
import type { MoeStep, Plan } from "../../runtime/plan/plan.js";

export interface LayerError {
  /** "layer 3" (from the weight names), or the MoE step's position. */
  readonly label: string;
  /** ‖y_q − y‖ / ‖y‖ of the MoE layer's output over the calibration positions. */
  readonly relativeError: number;
  /** Fraction of (token, chosen expert) decisions of the float32 model that the quantized one did not make. */
  readonly routingChanged: number;
}

export interface QuantError {
  /** The calibration ids, in words. */
  readonly calibration: string;
  readonly tokens: number;
  readonly logits: { readonly relativeError: number; readonly top1Agreement: number };
  readonly routingChanged: number;
  readonly layers: readonly LayerError[];
}

interface Trace {
  readonly logits: Float32Array;
  /** Per MoE step: its output rows, and each token's chosen experts (sorted). */
  readonly moe: { readonly out: Float32Array; readonly experts: readonly number[][] }[];
}

/** Runs one traced pass over `ids` (the model's caches are reset before and after). */
export async function traceModel(model: Model, ids: readonly number[]): Promise<Trace> {
  const moe: { out: Float32Array; experts: number[][] }[] = [];
  model.reset();
  const logits = await model.trace(ids, async (v: StepView) => {
    if (v.step.op !== "moe") return;
    const s = v.step as MoeStep;
    const width = model.plan.values[s.out]!.width;
    const outBytes = await v.read(v.value(s.out), 4 * v.T * width);
    const at = moeScratch(v.T, s.experts, s.router);
    const offB = await v.read(v.layout.scratch + at.offsets, 4 * (s.experts + 1));
    const offsets = new Int32Array(offB.buffer, offB.byteOffset, s.experts + 1);
    const total = offsets[s.experts]!;
    const tokB = await v.read(v.layout.scratch + at.tokens, 4 * Math.max(1, total));
    const tokens = new Int32Array(tokB.buffer, tokB.byteOffset, total);
    const experts: number[][] = Array.from({ length: v.T }, () => []);
    for (let e = 0; e < s.experts; e++) for (let i = offsets[e]!; i < offsets[e + 1]!; i++) experts[tokens[i]!]?.push(e);
    moe.push({ out: new Float32Array(outBytes.buffer, outBytes.byteOffset, v.T * width).slice(), experts });
  });
  model.reset();
  return { logits: logits.slice(), moe };
}

function relative(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
}

function routingChange(q: readonly number[][], ref: readonly number[][]): [changed: number, total: number] {
  let changed = 0;
  let total = 0;
  ref.forEach((r, t) => {
    const got = new Set(q[t] ?? []);
    for (const e of r) if (!got.has(e)) changed++;
    total += r.length;
  });
  return [changed, total];
}

/** Compares a quantized plan's trace with the float32 plan's. `labels`: a name per MoE layer. */
export function compareTraces(ref: Trace, q: Trace, vocab: number, calibration: string, labels: readonly string[]): QuantError {
  const T = ref.logits.length / vocab;
  let agree = 0;
  for (let t = 0; t < T; t++) if (argmax(ref.logits, t * vocab, vocab) === argmax(q.logits, t * vocab, vocab)) agree++;
  let changed = 0;
  let total = 0;
  const layers = ref.moe.map((r, i) => {
    const m = q.moe[i]!;
    const [c, n] = routingChange(m.experts, r.experts);
    changed += c;
    total += n;
    return { label: labels[i] ?? `moe ${i}`, relativeError: relative(m.out, r.out), routingChanged: n ? c / n : 0 };
  });
  return { calibration, tokens: T, logits: { relativeError: relative(q.logits, ref.logits), top1Agreement: T ? agree / T : 1 }, routingChanged: total ? changed / total : 0, layers };
}

function argmax(a: Float32Array, from: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[from + i]! > a[from + best]!) best = i;
  return best;
}

/** "layer N" for each MoE step of a plan, from the weight names of its router. */
export function moeLabels(plan: Plan): string[] {
  return plan.steps.flatMap((s, i) => {
    if (s.op !== "moe") return [];
    const name = "w" in s.routerWeight ? plan.weights[s.routerWeight.w]?.name ?? "" : "";
    const layer = /(?:^|\.)(?:layers|blk)\.(\d+)\./.exec(name)?.[1];
    return [layer !== undefined ? `layer ${layer}` : `moe step ${i}`];
  });
}
