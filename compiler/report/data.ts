// The numbers behind `moec report`: layer structure, parameter and byte breakdowns, what each
// pass changed, the plan's kernel list, quantization bits, and the expert load of a
// calibration run. Plain data; html.ts turns it into a page.
import { weightBytes as formatWeightBytes } from "../../runtime/plan/formats.js";
import { stepSpec } from "../../runtime/plan/steps.js";
import type { ExpertGroupAttr, Graph, Node, RouterAttr } from "../ir/graph.js";
import { expertsPerToken, modelStats } from "../ir/stats.js";
import { product } from "../ir/types.js";
import { runPipeline } from "../passes/pipeline.js";
import { expectedTensors } from "../weights/expected.js";
import { seededRandom } from "../../runtime/sampling.js";
import type { MoeStep, Plan, Step, WRef } from "../../runtime/plan/plan.js";

export const BYTES_PER_PARAM = 4; // float32: moec has no quantization pass yet

// ---- layer structure -----------------------------------------------------------------

export interface LayerRow {
  readonly layer: number;
  readonly kind: "dense" | "moe";
  readonly attention: string;
  readonly experts: number;
  /** "8 × SwiGLU", "60 × Expert + 4 × zero". */
  readonly expertGroups: string;
  readonly topK: number;
  /** Token-choice (each token picks topK experts) or expert-choice routing; null for dense layers. */
  readonly choice: "token" | "expert" | null;
  readonly shared: boolean;
  readonly router: readonly string[];
}

function routerOptions(r: RouterAttr, n: Node): string[] {
  const o: string[] = [r.choice === "expert" ? `expert-choice (capacity ${r.capacityFactor ?? 1})` : `token-choice top-${r.k}`, `scoring ${r.scoring}`];
  if (r.renormalize) o.push("renormalize");
  if (r.bias) o.push("router bias");
  if (r.selectionBias) o.push("selection bias");
  if (r.groups > 1) o.push(`group-limited: ${r.topkGroups} of ${r.groups} groups (${r.groupScoring})`);
  if (r.scale !== 1) o.push(`routed scale ${r.scale}`);
  if (r.capacityFactor !== null && r.choice === "token") o.push(`capacity factor ${r.capacityFactor} (drops tokens)`);
  if (r.scoring === "sparsemixer" && r.jitterEps > 0) o.push(`jitter ${r.jitterEps}`);
  if (r.pregated) o.push("pre-gated");
  if (n.subgraphs["shared"]) o.push(n.attrs["sharedGateName"] ? "shared expert (sigmoid gate)" : "shared expert");
  return o;
}

function groupsText(n: Node): string {
  const groups = n.attrs["experts"] as unknown as ExpertGroupAttr[];
  return groups.map((g) => `${g.count} × ${g.kind === "ffn" ? (g.def ?? "ffn") : g.kind}`).join(" + ");
}

function attentionLabel(n: Node): string {
  if (n.op === "mla") return "mla";
  const h = n.attrs["heads"] as number;
  const kv = n.attrs["kvHeads"] as number;
  const kind = kv === h ? "mha" : kv === 1 ? "mqa" : "gqa";
  const window = n.attrs["window"];
  return `${kind} ${h}/${kv} heads${window === null || window === undefined ? "" : `, window ${String(window)}`}`;
}

export function layerStructure(g: Graph): LayerRow[] {
  const by = new Map<number, { attention: string[]; moe: Node | null }>();
  for (const n of g.nodes) {
    if (n.layer === null) continue;
    const row = by.get(n.layer) ?? { attention: [], moe: null };
    if (n.op === "attention" || n.op === "mla") row.attention.push(attentionLabel(n));
    if (n.op === "moe") row.moe = n;
    by.set(n.layer, row);
  }
  return [...by.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([layer, r]) => {
      const router = r.moe ? (r.moe.attrs["router"] as unknown as RouterAttr) : null;
      return {
        layer,
        kind: r.moe ? "moe" : "dense",
        attention: r.attention.join(" + ") || "—",
        experts: r.moe ? (r.moe.attrs["numExperts"] as number) : 0,
        expertGroups: r.moe ? groupsText(r.moe) : "",
        topK: router ? router.k : 0,
        choice: router ? router.choice : null,
        shared: r.moe ? r.moe.subgraphs["shared"] !== undefined : false,
        router: r.moe && router ? routerOptions(router, r.moe) : [],
      };
    });
}

// ---- parameters and bytes ------------------------------------------------------------

export const CATEGORIES = ["embedding", "attention", "norms", "dense linear", "router", "shared experts", "routed experts"] as const;
export type Category = (typeof CATEGORIES)[number];

export interface ParamRow {
  /** "embedding", "layer 3", "head". */
  readonly label: string;
  readonly layer: number | null;
  /** Parameters per category, in CATEGORIES order. */
  readonly params: readonly number[];
  readonly total: number;
  readonly active: number;
}

export interface ExpertInfo {
  readonly index: number;
  readonly kind: "ffn" | "zero" | "identity";
  readonly def: string | null;
  readonly params: number;
}

export interface MoeLayerInfo {
  readonly layer: number | null;
  readonly name: string;
  readonly experts: readonly ExpertInfo[];
  readonly routerParams: number;
  readonly sharedParams: number;
  readonly router: RouterAttr;
}

export interface ParamReport {
  readonly rows: readonly ParamRow[];
  readonly moeLayers: readonly MoeLayerInfo[];
  readonly totalParams: number;
  readonly activeParams: number;
  readonly embeddingParams: number;
}

function subgraphParams(g: Graph): number {
  const seen = new Set<string>();
  let total = 0;
  for (const n of g.nodes) {
    for (const p of n.params) {
      if (seen.has(p.name)) continue;
      seen.add(p.name);
      total += product(p.shape);
    }
  }
  return total;
}

function category(n: Node): Category {
  switch (n.op) {
    case "embed":
      return "embedding";
    case "attention":
    case "mla":
      return "attention";
    case "rmsnorm":
    case "layernorm":
      return "norms";
    case "moe":
      return "router";
    default:
      return "dense linear";
  }
}

/** Per-layer parameters by category, counted as modelStats counts them (tied weights once). */
export function paramReport(g: Graph): ParamReport {
  const stats = modelStats(g);
  const seen = new Set<string>();
  const firstLayered = g.nodes.find((n) => n.layer !== null)?.id ?? g.nodes.length;
  const rows = new Map<string, { label: string; layer: number | null; params: number[]; active: number }>();
  const moeLayers: MoeLayerInfo[] = [];
  const ci = (c: Category) => CATEGORIES.indexOf(c);
  for (const n of g.nodes) {
    const label = n.layer !== null ? `layer ${n.layer}` : n.id < firstLayered ? "embedding" : "head";
    const row = rows.get(label) ?? { label, layer: n.layer, params: CATEGORIES.map(() => 0), active: 0 };
    rows.set(label, row);
    let own = 0;
    for (const p of n.params) {
      if (seen.has(p.name)) continue;
      seen.add(p.name);
      own += product(p.shape);
    }
    row.params[ci(category(n))]! += own;
    if (n.op !== "moe") {
      row.active += own;
      continue;
    }
    const groups = n.attrs["experts"] as unknown as ExpertGroupAttr[];
    const router = n.attrs["router"] as unknown as RouterAttr;
    const experts: ExpertInfo[] = [];
    let routed = 0;
    let maxPer = 0;
    groups.forEach((gr, i) => {
      const body = n.subgraphs[`expert${i}`];
      const per = body ? subgraphParams(body) : 0;
      for (let e = 0; e < gr.count; e++) experts.push({ index: experts.length, kind: gr.kind, def: gr.def, params: per });
      routed += per * gr.count;
      maxPer = Math.max(maxPer, per);
    });
    const shared = n.subgraphs["shared"] ? subgraphParams(n.subgraphs["shared"]) : 0;
    row.params[ci("shared experts")]! += shared;
    row.params[ci("routed experts")]! += routed;
    row.active += own + shared + expertsPerToken(router, experts.length) * maxPer;
    moeLayers.push({ layer: n.layer, name: n.name, experts, routerParams: own, sharedParams: shared, router });
  }
  const out: ParamRow[] = [...rows.values()].map((r) => ({ label: r.label, layer: r.layer, params: r.params, total: r.params.reduce((a, b) => a + b, 0), active: r.active }));
  return { rows: out, moeLayers, totalParams: stats.totalParams, activeParams: stats.activeParams, embeddingParams: stats.embeddingParams };
}

// ---- passes --------------------------------------------------------------------------

export interface GraphCounts {
  /** Top-level nodes. */
  readonly nodes: number;
  /** Nodes inside expert and shared-expert bodies. */
  readonly bodyNodes: number;
  readonly params: number;
  /** Checkpoint tensors the graph binds (one per expert for `{e}` names). */
  readonly weights: number;
  readonly ops: Readonly<Record<string, number>>;
}

export interface PassRow {
  readonly name: string;
  readonly summary: string;
  readonly before: GraphCounts;
  readonly after: GraphCounts;
  readonly changed: boolean;
}

export function graphCounts(g: Graph): GraphCounts {
  const ops: Record<string, number> = {};
  let bodyNodes = 0;
  for (const n of g.nodes) {
    ops[n.op] = (ops[n.op] ?? 0) + 1;
    for (const sg of Object.values(n.subgraphs)) bodyNodes += sg.nodes.length;
  }
  return { nodes: g.nodes.length, bodyNodes, params: modelStats(g).totalParams, weights: expectedTensors(g).size, ops };
}

/** Runs the pass pipeline on the checked (pre-pass) graph, recording each pass's effect. */
export function passReport(before: Graph): { rows: PassRow[]; graph: Graph } {
  const rows: PassRow[] = [];
  let prev = before;
  let prevCounts = graphCounts(before);
  const result = runPipeline(before, {
    afterPass(pass, g) {
      const counts = graphCounts(g);
      rows.push({ name: pass.name, summary: pass.summary, before: prevCounts, after: counts, changed: g !== prev });
      prev = g;
      prevCounts = counts;
    },
  });
  return { rows, graph: result.graph };
}

// ---- kernels -------------------------------------------------------------------------

export interface KernelRow {
  /** 0 for plan steps; 1 inside an expert or shared-expert body. */
  readonly depth: number;
  /** Plan step index (top-level steps only). */
  readonly index: number | null;
  readonly op: string;
  readonly io: string;
  readonly detail: string;
  /** A heading row inside a MoE step ("expert body: 8 × ffn, run per chosen expert"). */
  readonly heading?: boolean;
}

export interface KernelGroup {
  readonly label: string;
  readonly rows: readonly KernelRow[];
  readonly steps: number;
}

export interface KernelReport {
  readonly groups: readonly KernelGroup[];
  readonly steps: number;
  readonly bodySteps: number;
  readonly ops: readonly [string, number][];
  readonly values: number;
  readonly slots: number;
  /** Bytes per token row: every value its own buffer, and with slots shared by liveness. */
  readonly valueBytesPerToken: number;
  readonly slotBytesPerToken: number;
  readonly weights: number;
  readonly weightBytes: number;
  readonly caches: number;
  readonly kvBytesPerToken: number;
}

export function kernelReport(plan: Plan, g: Graph): KernelReport {
  // A weight's layer, from the graph node that owns it; steps without weights inherit the
  // layer of the step before them (a residual add belongs to its layer).
  const firstLayered = g.nodes.find((n) => n.layer !== null)?.id ?? g.nodes.length;
  // Groups only move forward (embedding < layer 0 < … < head), so a tied weight used again
  // by the output head does not send its step back to the embedding group.
  const groupOf = (n: Node): [string, number] => (n.layer !== null ? [`layer ${n.layer}`, n.layer] : n.id < firstLayered ? ["embedding", -1] : ["head", Infinity]);
  const labelOf = new Map<string, [string, number]>();
  for (const n of g.nodes) {
    for (const p of n.params) if (!labelOf.has(p.name)) labelOf.set(p.name, groupOf(n));
  }
  const wname = (r: WRef) => ("w" in r ? plan.weights[r.w]!.name : `local ${r.local}`);
  const wdesc = (r: WRef) => ("w" in r ? `${plan.weights[r.w]!.name} [${plan.weights[r.w]!.shape.join("×")}]` : `local ${r.local}`);
  const val = (v: number) => `v${v}[T×${plan.values[v]?.width ?? "?"}]`;
  const ops = new Map<string, number>();
  let bodySteps = 0;
  const rows = (steps: readonly Step[], depth: number, bind: BindNames | null): KernelRow[] => {
    const out: KernelRow[] = [];
    steps.forEach((s, i) => {
      ops.set(s.op, (ops.get(s.op) ?? 0) + 1);
      if (depth > 0) bodySteps++;
      const w = (r: WRef) => ("local" in r && bind ? `${bind[r.local] ?? `local ${r.local}`}` : wdesc(r));
      out.push({ depth, index: depth === 0 ? i : null, ...stepSpec(s).describe(s, val, w) });
      if (s.op === "moe") out.push(...moeRows(s, depth + 1));
    });
    return out;
  };
  const moeRows = (s: MoeStep, depth: number): KernelRow[] => {
    const out: KernelRow[] = [];
    let first = 0;
    for (const gr of s.groups) {
      const range = gr.count === 1 ? `expert ${first}` : `experts ${first}–${first + gr.count - 1}`;
      if (gr.kind !== "ffn") out.push({ depth, index: null, op: gr.kind, io: "", detail: `${range}: ${gr.kind === "zero" ? "output 0, no kernels" : "output = input, no kernels"}`, heading: true });
      else {
        out.push({ depth, index: null, op: "body", io: `${val(gr.input)} → ${val(gr.output)}`, detail: `${range}: ${gr.steps.length} steps, run once per chosen expert over its tokens`, heading: true });
        out.push(...rows(gr.steps, depth, bindNames(gr.bind, plan)));
      }
      first += gr.count;
    }
    if (s.shared) {
      out.push({ depth, index: null, op: "shared", io: `${val(s.shared.input)} → ${val(s.shared.output)}`, detail: `shared expert: ${s.shared.steps.length} steps over every token${s.sharedGate ? `, sigmoid gate ${wname(s.sharedGate)}` : ""}`, heading: true });
      out.push(...rows(s.shared.steps, depth, null));
    }
    return out;
  };
  const all = rows(plan.steps, 0, null);
  // Group top-level steps (and the body rows after them) by layer.
  const groups: { label: string; rows: KernelRow[]; steps: number }[] = [];
  let current: [string, number] = ["embedding", -1];
  let stepIdx = 0;
  for (const r of all) {
    if (r.depth === 0) {
      const s = plan.steps[stepIdx++]!;
      const known = stepSpec(s).weights(s).map((x) => (x && "w" in x ? labelOf.get(plan.weights[x.w]!.name) : undefined)).find((l) => l !== undefined);
      if (known !== undefined && known[1] >= current[1]) current = known;
      const last = groups[groups.length - 1];
      if (!last || last.label !== current[0]) groups.push({ label: current[0], rows: [], steps: 0 });
      groups[groups.length - 1]!.steps++;
    }
    groups[groups.length - 1]!.rows.push(r);
  }
  const widthSum = (ws: readonly number[]) => ws.reduce((a, b) => a + b, 0) * 4;
  const weightBytes = plan.weights.reduce((s, w) => s + formatWeightBytes(w.format, w.shape), 0);
  return {
    groups,
    steps: plan.steps.length,
    bodySteps,
    ops: [...ops.entries()].sort((a, b) => b[1] - a[1]),
    values: plan.values.length,
    slots: plan.slots.length,
    valueBytesPerToken: widthSum(plan.values.map((v) => v.width)),
    slotBytesPerToken: widthSum(plan.slots),
    weights: plan.weights.length,
    weightBytes,
    caches: plan.caches.length,
    kvBytesPerToken: plan.caches.reduce((s, c) => s + 4 * (c.kWidth + c.vWidth), 0),
  };
}

type BindNames = readonly string[];

/** Names of an expert body's local parameters as patterns over the experts: "…experts.{e}.w1". */
function bindNames(bind: readonly (readonly (readonly [number, number])[])[], plan: Plan): BindNames {
  const first = bind[0] ?? [];
  return first.map(([w0], j) => {
    const n0 = plan.weights[w0]!.name;
    const shape = plan.weights[w0]!.shape;
    const other = bind[1]?.[j];
    if (!other) return `${n0} [${shape.join("×")}]`;
    const n1 = plan.weights[other[0]]!.name;
    if (n1 === n0) return `${n0}[e] of [${shape.join("×")}] (stacked)`;
    let p = 0;
    while (p < n0.length && n0[p] === n1[p]) p++;
    while (p > 0 && /\d/.test(n0[p - 1]!)) p--;
    let s = 0;
    while (s < n0.length - p && n0[n0.length - 1 - s] === n1[n1.length - 1 - s]) s++;
    while (s > 0 && /\d/.test(n0[n0.length - s]!)) s--;
    return `${n0.slice(0, p)}{e}${n0.slice(n0.length - s)} [${shape.join("×")}]`;
  });
}

// ---- quantization --------------------------------------------------------------------

export interface QuantRow {
  readonly layer: number | null;
  readonly first: number;
  readonly last: number;
  readonly kind: string;
  readonly bits: number;
}

/** Bits per expert. No quantization pass exists yet, so every expert is float32. */
export function quantReport(moe: readonly MoeLayerInfo[], maxRowsPerLayer = 64): QuantRow[] {
  const out: QuantRow[] = [];
  for (const l of moe) {
    const each = l.experts.length <= maxRowsPerLayer;
    for (const e of l.experts) {
      const kind = e.kind === "ffn" ? (e.def ?? "ffn") : e.kind;
      const prev = out[out.length - 1];
      if (!each && prev && prev.layer === l.layer && prev.kind === kind && prev.last === e.index - 1) out[out.length - 1] = { ...prev, last: e.index };
      else out.push({ layer: l.layer, first: e.index, last: e.index, kind, bits: e.kind === "ffn" ? 32 : 0 });
    }
  }
  return out;
}

// ---- calibration ---------------------------------------------------------------------

export interface CalibrationRun {
  readonly ids: readonly number[];
  /** Where the ids came from, in words. */
  readonly source: string;
  readonly layers: readonly { label: string; k: number; choice: "token" | "expert"; experts: number }[];
  /** load[moeLayer][expert]: tokens routed to the expert, summed over the run's forwards. */
  readonly load: readonly (readonly number[])[];
  readonly kernels: string;
}

export type Calibration = { readonly run: CalibrationRun } | { readonly skipped: string };

/** A deterministic pseudo-random id sequence (mulberry32) for the default calibration run. */
export function pseudoRandomIds(n: number, vocab: number, seed = 1): number[] {
  const next = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(next() * vocab));
}

/** Element-wise sum of expert-load tables of equal shape (accumulates forwards). */
export function addLoad(acc: number[][], load: readonly (readonly number[])[]): number[][] {
  load.forEach((row, l) => {
    const a = (acc[l] ??= new Array<number>(row.length).fill(0));
    row.forEach((v, e) => (a[e] = (a[e] ?? 0) + v));
  });
  return acc;
}

// ---- the whole report ----------------------------------------------------------------

export interface ReportData {
  readonly model: string;
  readonly source: string;
  readonly weights: string;
  readonly constants: Graph["constants"];
  readonly structure: readonly LayerRow[];
  readonly params: ParamReport;
  readonly passes: readonly PassRow[];
  readonly kernels: KernelReport | { readonly error: string };
  readonly quantization: readonly QuantRow[];
  /** With --quantize: the quantized plan's formats and its measured error (compiler/report/quant.ts). */
  readonly quantized?: { readonly json: Record<string, unknown>; readonly target: string };
  readonly calibration: Calibration;
  readonly schedule: string;
}

export const NO_SCHEDULE = "The plan has no multi-queue overlap schedule yet (no overlap-scheduling pass exists), so there is no timeline to show.";
export const NO_QUANTIZATION = "no quantization pass has run: every expert is float32";
