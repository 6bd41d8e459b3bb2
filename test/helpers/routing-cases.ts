// Random token-choice routing problems for the route_topk kernels (WASM and TypeScript), and
// the answer they must give: route() from runtime/moe/routing.ts, its assignments grouped by
// expert the way the executor grouped them before the kernel existed (experts ascending, each
// expert's tokens in route()'s order).
import { enumCode, routeWorkBytes } from "../../runtime/kernels/catalogue.js";
import { route } from "../../runtime/moe/routing.js";
import type { RouterAttr, Scoring } from "../../runtime/plan/types.js";

export interface RouteCase {
  readonly label: string;
  readonly router: RouterAttr;
  readonly T: number;
  readonly E: number;
  readonly logits: Float32Array;
  readonly bias: Float32Array | null;
}

export interface Routed {
  readonly counts: ArrayLike<number>;
  readonly tokens: ArrayLike<number>;
  readonly weights: ArrayLike<number>;
}

const randn = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

/** Logits with exact ties (values on a coarse grid) or not, and some −∞ (a whole row of them sometimes). */
function makeLogits(r: () => number, T: number, E: number, ties: boolean, negInf: boolean): Float32Array {
  const x = Float32Array.from({ length: T * E }, () => (ties ? Math.round(4 * randn(r)) / 2 : 3 * randn(r)));
  if (negInf) {
    for (let i = 0; i < x.length; i++) if (r() < 0.15) x[i] = -Infinity;
    if (T > 1) x.fill(-Infinity, E * (T - 1), E * T); // the last token sees nothing but −∞
  }
  return x;
}

/** Every scoring × selection bias × groups (none, both scorings) × renormalize on odd sizes, with ties and −∞. */
export function* routeCases(r: () => number): Generator<RouteCase> {
  const scorings: Scoring[] = ["softmax", "sigmoid", "softmax_topk", "sparsemixer"];
  for (const E of [1, 7, 60, 129])
    for (const k of [1, 2, 6, 8]) {
      if (k > E) continue;
      // Group layouts that keep at least k experts selectable: E = 7 in 7 groups of one
      // (top2_sum's group of one), 60 in 4 groups of 15, 129 in 3 groups of 43.
      const G = E === 7 ? 7 : E === 60 ? 4 : E === 129 ? 3 : 1;
      const size = E / G;
      const groupings: [number, number, RouterAttr["groupScoring"]][] = [[1, 1, "max"]];
      if (G > 1) {
        const minKeep = Math.ceil(k / size);
        const keep = () => minKeep + Math.floor(r() * (G - minKeep + 1));
        groupings.push([G, keep(), "max"], [G, keep(), "top2_sum"]);
      }
      for (const T of [1, 5, 33])
        for (const scoring of scorings) {
          if (scoring === "sparsemixer" && k !== 2) continue;
          for (const [groups, topkGroups, groupScoring] of groupings)
            for (const withBias of [false, true])
              for (const renormalize of [false, true]) {
                const ties = r() < 0.4;
                const negInf = r() < 0.3;
                const scale = r() < 0.3 ? 1 : 0.5 + 2.5 * r();
                const jitterEps = r() < 0.5 ? 0.01 : 0.3 * r();
                const router: RouterAttr = {
                  choice: "token", k, scoring, renormalize, bias: false, selectionBias: withBias, groups, topkGroups, groupScoring,
                  scale, capacityFactor: null, jitterEps, pregated: false,
                };
                const bias = withBias ? Float32Array.from({ length: E }, () => (ties ? Math.round(2 * randn(r)) / 4 : 0.5 * randn(r))) : null;
                const label = `${scoring} T=${T} E=${E} k=${k} groups=${groups}/${topkGroups} ${groupScoring} bias=${withBias} renorm=${renormalize} scale=${scale.toFixed(3)} ties=${ties} -inf=${negInf}`;
                yield { label, router, T, E, logits: makeLogits(r, T, E, ties, negInf), bias };
              }
        }
    }
}

type N = number;

/** The kernel arguments after `logits` and before the outputs, for a case. */
export function kernelArgs(c: RouteCase, biasPtr: number): [N, N, N, N, N, N, N, N, N, N, N] {
  const ro = c.router;
  return [c.T, c.E, ro.k, enumCode("scoring", ro.scoring), biasPtr, ro.groups, ro.topkGroups, enumCode("group_scoring", ro.groupScoring), ro.renormalize ? 1 : 0, ro.scale, ro.jitterEps];
}

export function workBytes(c: RouteCase): number {
  return routeWorkBytes(c.T, c.E, c.router.k);
}

/** route()'s answer, grouped by expert (weights as route() computed them, in float64). */
export function expectedRouting(c: RouteCase): Routed {
  const assignments = route(c.router, Float64Array.from(c.logits), c.T, c.E, c.bias);
  const counts = [0];
  const tokens: number[] = [];
  const weights: number[] = [];
  for (let e = 0; e < c.E; e++) {
    for (const a of assignments) {
      if (a.expert !== e) continue;
      tokens.push(a.token);
      weights.push(a.weight);
    }
    counts.push(tokens.length);
  }
  return { counts, tokens, weights };
}

/**
 * Throws unless `got` has route()'s offsets and token lists exactly and its weights within
 * 1e-6 relative (NaN where route() gives NaN). Returns how many weights were the f32
 * rounding of route()'s to the bit, and how many there were.
 */
export function checkRouting(c: RouteCase, got: Routed): { exact: number; total: number } {
  const want = expectedRouting(c);
  const list = (a: ArrayLike<number>) => Array.from(a).join(",");
  if (list(got.counts) !== list(want.counts)) throw new Error(`${c.label}: offsets ${list(got.counts)}, want ${list(want.counts)}`);
  if (list(got.tokens) !== list(want.tokens)) throw new Error(`${c.label}: tokens ${list(got.tokens)}, want ${list(want.tokens)}`);
  let exact = 0;
  for (let i = 0; i < want.weights.length; i++) {
    const g = got.weights[i]!;
    const w = want.weights[i]!;
    if (Object.is(g, Math.fround(w))) exact++;
    else if (Number.isNaN(w) ? !Number.isNaN(g) : !(Math.abs(g - w) <= 1e-6 * Math.abs(w))) throw new Error(`${c.label}: weight ${i} is ${g}, want ${w}`);
  }
  return { exact, total: want.weights.length };
}
