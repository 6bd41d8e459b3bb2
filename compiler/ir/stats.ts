// Parameter counts from the IR: total (every distinct weight tensor, tied weights once)
// and active per token (what one token's forward pass touches: dense weights, the router,
// shared experts, and k routed experts per MoE layer).
import type { ExpertGroupAttr, Graph, Node, RouterAttr } from "./graph.js";
import { product } from "./types.js";

export interface LayerStats {
  readonly layer: number | null;
  readonly kind: "dense" | "moe" | "other";
  readonly attention: string;
  readonly experts: number;
  readonly topK: number;
  readonly totalParams: number;
  readonly activeParams: number;
}

export interface ModelStats {
  readonly totalParams: number;
  /** Counts whole embedding tables as active, as Mixtral's, Qwen's and OLMoE's figures do. */
  readonly activeParams: number;
  /** The input embedding tables (a token reads one row); some publishers (GPT-OSS) leave them out of "active". */
  readonly embeddingParams: number;
  readonly layers: readonly LayerStats[];
  readonly moeLayers: number;
}

/** Parameters of a graph (tied names once). */
export function graphParams(g: Graph, seen: Set<string> = new Set()): number {
  let total = 0;
  for (const n of g.nodes) total += nodeParams(n, seen).total;
  return total;
}

/** Expected number of experts one token runs through in this layer. */
export function expertsPerToken(router: RouterAttr, total: number): number {
  if (router.choice === "expert") return Math.min(total, router.capacityFactor ?? 1);
  return router.k;
}

/** One node's parameters, total and active per token; `seen` skips names already counted (tied weights). */
export function nodeParams(n: Node, seen: Set<string> = new Set()): { total: number; active: number } {
  let own = 0;
  for (const p of n.params) {
    if (seen.has(p.name)) continue;
    seen.add(p.name);
    own += product(p.shape);
  }
  if (n.op !== "moe") return { total: own, active: own };
  const groups = n.attrs["experts"] as unknown as ExpertGroupAttr[];
  const router = n.attrs["router"] as unknown as RouterAttr;
  let routedTotal = 0;
  let maxPerExpert = 0;
  groups.forEach((g, i) => {
    const body = n.subgraphs[`expert${i}`];
    if (!body) return;
    const per = graphParams(body, new Set());
    routedTotal += per * g.count;
    maxPerExpert = Math.max(maxPerExpert, per);
  });
  const numExperts = groups.reduce((s, g) => s + g.count, 0);
  const shared = n.subgraphs["shared"] ? graphParams(n.subgraphs["shared"], new Set()) : 0;
  // With zero/identity experts (MoE++) a token may pick parameter-free experts; the active
  // count is the upper bound: k experts of the largest kind.
  const active = own + shared + expertsPerToken(router, numExperts) * maxPerExpert;
  return { total: own + shared + routedTotal, active };
}

export function modelStats(g: Graph): ModelStats {
  const seen = new Set<string>();
  const byLayer = new Map<number | null, { total: number; active: number; moe: Node | null; attention: string }>();
  let total = 0;
  let active = 0;
  let embedding = 0;
  for (const n of g.nodes) {
    const { total: t, active: a } = nodeParams(n, seen);
    if (n.op === "embed") embedding += t;
    total += t;
    active += a;
    const row = byLayer.get(n.layer) ?? { total: 0, active: 0, moe: null, attention: "" };
    row.total += t;
    row.active += a;
    if (n.op === "moe") row.moe = n;
    if (n.op === "attention") row.attention = attentionLabel(n);
    if (n.op === "mla") row.attention = "mla";
    byLayer.set(n.layer, row);
  }
  const layers: LayerStats[] = [];
  for (const [layer, r] of byLayer) {
    const router = r.moe ? (r.moe.attrs["router"] as unknown as RouterAttr) : null;
    layers.push({
      layer,
      kind: layer === null ? "other" : r.moe ? "moe" : "dense",
      attention: r.attention,
      experts: r.moe ? (r.moe.attrs["numExperts"] as number) : 0,
      topK: router ? router.k : 0,
      totalParams: r.total,
      activeParams: r.active,
    });
  }
  layers.sort((a, b) => (a.layer ?? -1) - (b.layer ?? -1));
  return { totalParams: total, activeParams: active, embeddingParams: embedding, layers, moeLayers: layers.filter((l) => l.kind === "moe").length };
}

function attentionLabel(n: Node): string {
  const h = n.attrs["heads"] as number;
  const kv = n.attrs["kvHeads"] as number;
  const kind = kv === h ? "mha" : kv === 1 ? "mqa" : "gqa";
  const window = n.attrs["window"];
  return window === null ? kind : `${kind} sw${window}`;
}
