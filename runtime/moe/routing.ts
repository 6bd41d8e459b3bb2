// Routing: which experts each token uses and with what mixing weight, for every router
// option of the language (dsl-spec/SPEC.md, "moe"). Scores are computed in float64 from
// the router logits; ties in top-k go to the lower expert index. The route_topk kernel
// (backends/wasm/kernels/routing.ts) repeats token-choice routing operation for operation:
// change one, change the other (test/backends/wasm/kernels.test.ts compares them).
import type { RouterAttr } from "../plan/types.js";

/** One token-to-expert assignment. */
export interface Assignment {
  readonly token: number;
  readonly expert: number;
  readonly weight: number;
  /** 0 for a token's first choice, 1 for its second, ... (capacity drops later ranks first). */
  readonly rank: number;
}

/** Indices of the k largest values (ties: lower index first), in descending order. */
export function topk(values: ArrayLike<number>, k: number, allowed?: (i: number) => boolean): number[] {
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) if (!allowed || allowed(i)) idx.push(i);
  idx.sort((a, b) => values[b]! - values[a]! || a - b);
  return idx.slice(0, k);
}

function softmax(xs: readonly number[]): number[] {
  const finite = xs.filter((x) => x !== -Infinity);
  const m = finite.length ? Math.max(...finite) : 0;
  const e = xs.map((x) => (x === -Infinity ? 0 : Math.exp(x - m)));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Phi-3.5-MoE's sparsemixer at inference: two masked-softmax picks (HF `sparsemixer`, training=False). */
function sparsemixer(logits: readonly number[], eps: number): { experts: number[]; weights: number[] } {
  const pick = (scores: readonly number[], masked: readonly number[]) => {
    let best = -1;
    for (let i = 0; i < masked.length; i++) if (best < 0 || masked[i]! > masked[best]!) best = i;
    const threshold = masked[best]!;
    const gated = masked.map((s, i) => {
      const factor = Math.max(Math.abs(scores[i]!), threshold);
      return (threshold - scores[i]!) / factor > 2 * eps ? -Infinity : s;
    });
    return { expert: best, weight: softmax(gated)[best]! };
  };
  const first = pick(logits, logits);
  const rest = logits.map((s, i) => (i === first.expert ? -Infinity : s));
  const second = pick(logits, rest);
  return { experts: [first.expert, second.expert], weights: [first.weight, second.weight] };
}

/**
 * Routes `tokens` tokens given router logits [tokens, experts] (float64, bias already added)
 * and the selection bias (DeepSeek-V3's e_score_correction_bias) when the router has one; `expertScale`
 * (Gemma-4's per_expert_scale, [experts]) multiplies each chosen expert's final weight.
 */
export function route(router: RouterAttr, logits: Float64Array, tokens: number, experts: number, selectionBias: Float32Array | null, expertScale: Float32Array | null = null): Assignment[] {
  if (router.expertScale && !expertScale) throw new Error("route: the router has a per-expert scale (expertScale) but none was given");
  const es = (e: number) => (expertScale ? expertScale[e]! : 1);
  if (router.choice === "expert") return expertChoice(router, logits, tokens, experts);
  const out: Assignment[] = [];
  for (let t = 0; t < tokens; t++) {
    const row = Array.from(logits.subarray(t * experts, (t + 1) * experts));
    if (router.scoring === "sparsemixer") {
      const { experts: chosen, weights } = sparsemixer(row, router.jitterEps);
      chosen.forEach((e, rank) => out.push({ token: t, expert: e, weight: weights[rank]! * router.scale * es(e), rank }));
      continue;
    }
    const scores = router.scoring === "softmax" ? softmax(row) : router.scoring === "sigmoid" ? row.map(sigmoid) : row;
    const selection = selectionBias ? scores.map((s, i) => s + selectionBias[i]!) : scores;
    let allowed: ((i: number) => boolean) | undefined;
    if (router.groups > 1) {
      const size = experts / router.groups;
      const groupScore = (g: number) => {
        const members = selection.slice(g * size, (g + 1) * size).sort((a, b) => b - a);
        return router.groupScoring === "max" ? members[0]! : members[0]! + (members[1] ?? 0);
      };
      const keep = new Set(topk(Array.from({ length: router.groups }, (_, g) => groupScore(g)), router.topkGroups));
      allowed = (i) => keep.has(Math.floor(i / size));
    }
    const chosen = topk(selection, router.k, allowed);
    let weights = router.scoring === "softmax_topk" ? softmax(chosen.map((e) => row[e]!)) : chosen.map((e) => scores[e]!);
    if (router.renormalize) {
      const sum = weights.reduce((a, b) => a + b, 0) + 1e-20;
      weights = weights.map((w) => w / sum);
    }
    chosen.forEach((e, rank) => out.push({ token: t, expert: e, weight: weights[rank]! * router.scale * es(e), rank }));
  }
  return router.capacityFactor === null ? out : applyCapacity(out, Math.ceil((router.capacityFactor * tokens * router.k) / experts), experts);
}

/**
 * Token dropping: each expert keeps at most `capacity` assignments, taken by rank first (every
 * token's first choice before any second choice), then in token order — as Switch/GShard.
 */
function applyCapacity(assignments: Assignment[], capacity: number, experts: number): Assignment[] {
  const used = new Array<number>(experts).fill(0);
  const order = [...assignments].sort((a, b) => a.rank - b.rank || a.token - b.token);
  const kept = new Set<Assignment>();
  for (const a of order) {
    if (used[a.expert]! < capacity) {
      used[a.expert]!++;
      kept.add(a);
    }
  }
  return assignments.filter((a) => kept.has(a));
}

/** Expert choice: each expert takes its top C = ceil(cf · tokens / experts) tokens by score. */
function expertChoice(router: RouterAttr, logits: Float64Array, tokens: number, experts: number): Assignment[] {
  const scores = new Float64Array(tokens * experts);
  for (let t = 0; t < tokens; t++) {
    const row = Array.from(logits.subarray(t * experts, (t + 1) * experts));
    const s = router.scoring === "sigmoid" ? row.map(sigmoid) : softmax(row);
    scores.set(s, t * experts);
  }
  const capacity = Math.min(tokens, Math.ceil(((router.capacityFactor ?? 1) * tokens) / experts));
  const out: Assignment[] = [];
  for (let e = 0; e < experts; e++) {
    const column = Array.from({ length: tokens }, (_, t) => scores[t * experts + e]!);
    for (const t of topk(column, capacity)) out.push({ token: t, expert: e, weight: column[t]!, rank: 0 });
  }
  return out.sort((a, b) => a.token - b.token || a.expert - b.expert);
}
