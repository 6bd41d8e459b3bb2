// Parameter counts for hovers, from the IR the check produced: per block call (the nodes
// each call made), per expert (its subgraph), and per moe node. Same counting rules as
// compiler/ir/stats.ts: every distinct weight name once, experts times their count.
import type { ExpertGroupAttr, Graph, Node, RouterAttr } from "../ir/graph.js";
import { expertsPerToken, graphParams, nodeParams } from "../ir/stats.js";
import { product } from "../ir/types.js";
import type { CheckInfo } from "./recorder.js";
import { spanKey } from "./recorder.js";

export { nodeParams };

export interface DefStats {
  /** Evaluations of the body (block calls, or an expert applied to tokens). */
  readonly calls: number;
  readonly perCallMin: number;
  readonly perCallMax: number;
  readonly total: number;
  readonly activeTotal: number;
  /** Experts: parameters of one expert, and where it is used inside moe layers. */
  readonly perExpert: number | null;
  readonly routedIn: number;
  readonly routedCount: number;
  readonly sharedIn: number;
}

const memo = new WeakMap<CheckInfo, Map<string, DefStats>>();
const moeIndex = new WeakMap<CheckInfo, Map<number, Node[]>>();

export function defStats(check: CheckInfo, name: string): DefStats | null {
  const g = check.graph;
  if (!g) return null;
  let cache = memo.get(check);
  if (!cache) memo.set(check, (cache = new Map()));
  const hit = cache.get(name);
  if (hit) return hit;
  let calls = 0;
  let min = Infinity;
  let max = 0;
  let total = 0;
  let activeTotal = 0;
  for (const f of check.frames) {
    if (f.def !== name) continue;
    calls++;
    const seen = new Set<string>();
    let t = 0;
    let a = 0;
    for (const id of f.ids) {
      const n = g.nodes[id];
      if (!n) continue;
      const p = nodeParams(n, seen);
      t += p.total;
      a += p.active;
    }
    min = Math.min(min, t);
    max = Math.max(max, t);
    total += t;
    activeTotal += a;
  }
  let perExpert: number | null = null;
  let routedIn = 0;
  let routedCount = 0;
  let sharedIn = 0;
  for (const n of g.nodes) {
    if (n.op !== "moe") continue;
    const groups = n.attrs["experts"] as unknown as ExpertGroupAttr[];
    groups.forEach((grp, i) => {
      const body = n.subgraphs[`expert${i}`];
      if (grp.def !== name || !body) return;
      perExpert ??= graphParams(body);
      routedIn++;
      routedCount += grp.count;
    });
    const shared = n.subgraphs["shared"];
    if (shared && shared.name === name) {
      perExpert ??= graphParams(shared);
      sharedIn++;
    }
  }
  const s: DefStats = { calls, perCallMin: calls ? min : 0, perCallMax: max, total, activeTotal, perExpert, routedIn, routedCount, sharedIn };
  cache.set(name, s);
  return s;
}

/** The moe nodes a `moe(...)` call made (one per evaluation), by the call's span. */
export function moeNodesAt(check: CheckInfo, start: number, end: number): readonly Node[] {
  const g = check.graph;
  if (!g) return [];
  let index = moeIndex.get(check);
  if (!index) {
    index = new Map();
    for (const n of g.nodes) {
      if (n.op !== "moe" || !n.span) continue;
      const k = spanKey(n.span.start, n.span.end);
      const list = index.get(k);
      if (list) list.push(n);
      else index.set(k, [n]);
    }
    moeIndex.set(check, index);
  }
  return index.get(spanKey(start, end)) ?? [];
}
