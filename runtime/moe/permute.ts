// Assignments laid out by expert, as the route_topk kernel lays out its own: offsets [E+1]
// (expert e owns [offsets[e], offsets[e+1])), then token indices and weights in that order.
// A stable counting sort, so each expert's tokens keep the order route() gave them (ascending).
import type { Assignment } from "./routing.js";

export interface ByExpert {
  readonly offsets: Int32Array;
  readonly tokens: Int32Array;
  readonly weights: Float32Array;
  /** order[p]: the index in `assignments` of the assignment at position p (for exact weights). */
  readonly order: Int32Array;
}

export function byExpert(assignments: readonly Assignment[], experts: number): ByExpert {
  const offsets = new Int32Array(experts + 1);
  for (const a of assignments) offsets[a.expert + 1]!++;
  for (let e = 0; e < experts; e++) offsets[e + 1]! += offsets[e]!;
  const cursor = offsets.slice(0, experts);
  const tokens = new Int32Array(assignments.length);
  const weights = new Float32Array(assignments.length);
  const order = new Int32Array(assignments.length);
  assignments.forEach((a, i) => {
    const p = cursor[a.expert]!++;
    tokens[p] = a.token;
    weights[p] = a.weight;
    order[p] = i;
  });
  return { offsets, tokens, weights, order };
}
