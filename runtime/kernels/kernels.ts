// The kernel interface the plan executor calls. Pointers are byte offsets into one linear
// memory; sizes are element counts. The WASM backend's exports implement it (see
// backends/wasm/README.md for the same ABI); js.ts implements it in TypeScript as the
// portable fallback and as a second opinion in tests.
import type { RouterAttr, Scoring } from "../plan/types.js";

export const UNARY = { silu: 0, gelu: 1, gelu_tanh: 2, relu: 3, sigmoid: 4, tanh: 5 } as const;
export const BINARY = { add: 0, sub: 1, mul: 2, div: 3 } as const;
/** `route_topk`'s codes for RouterAttr.scoring and RouterAttr.groupScoring. */
export const SCORING = { softmax: 0, sigmoid: 1, softmax_topk: 2, sparsemixer: 3 } as const satisfies Record<Scoring, number>;
export const GROUP_SCORING = { max: 0, top2_sum: 1 } as const satisfies Record<RouterAttr["groupScoring"], number>;

/** Bytes of `work` that `route_topk` needs for T tokens, E experts and k experts per token. */
export function routeWorkBytes(T: number, E: number, k: number): number {
  return 28 * E + 12 * k + 8 * T * k;
}

export interface Kernels {
  readonly name: string;
  matmul(x: number, w: number, bias: number, y: number, T: number, K: number, N: number, n0: number, n1: number): void;
  matmul_kn(x: number, w: number, bias: number, y: number, T: number, K: number, N: number, n0: number, n1: number): void;
  rmsnorm(x: number, w: number, y: number, rows: number, n: number, eps: number): void;
  layernorm(x: number, w: number, b: number, y: number, rows: number, n: number, eps: number): void;
  unary(x: number, y: number, n: number, kind: number): void;
  binary(a: number, b: number, y: number, n: number, kind: number): void;
  scale(x: number, y: number, n: number, factor: number): void;
  clamp(x: number, n: number, lo: number, hi: number): void;
  swiglu(g: number, u: number, y: number, n: number, alpha: number, limit: number, upOffset: number): void;
  deinterleave(x: number, a: number, b: number, rows: number, half: number, interleaved: number): void;
  rope(x: number, cos: number, sin: number, rows: number, heads: number, headDim: number, ropeDim: number, interleaved: number): void;
  /** Causal attention over a KV cache; `vDim` may differ from `headDim` (MLA). */
  attention(q: number, k: number, v: number, out: number, T: number, start: number, heads: number, kvHeads: number, headDim: number, vDim: number, kStride: number, vStride: number, scale: number, window: number, softcap: number, sinks: number, scratch: number, causal: number): void;
  gather_rows(src: number, idx: number, dst: number, count: number, d: number): void;
  scatter_add_rows(src: number, idx: number, weights: number, dst: number, count: number, d: number): void;
  fill(x: number, n: number, value: number): void;
  /**
   * Token-choice routing of T tokens over E experts from f32 logits [T, E] (router bias
   * added), exactly as runtime/moe/routing.ts's route(): `scoring` and `groupScoring` are
   * SCORING / GROUP_SCORING codes, `bias` the f32 [E] selection bias or 0, `renormalize`
   * 0/1, `scale` and `eps` (sparsemixer's jitter) the router's numbers. Writes the T·k
   * assignments permuted by expert: `counts` i32 [E+1] offsets (expert e owns
   * [counts[e], counts[e+1]), counts[E] = T·k), `tokOut` i32 [T·k] token indices (ascending
   * within an expert) and `wOut` f32 [T·k] weights (scale applied). `work`: routeWorkBytes(T,
   * E, k) bytes. Capacity factors and expert choice are cross-token: route() does those.
   */
  route_topk(logits: number, T: number, E: number, k: number, scoring: number, bias: number, groups: number, topkGroups: number, groupScoring: number, renormalize: number, scale: number, eps: number, counts: number, tokOut: number, wOut: number, work: number): void;
  /** Stops worker threads, if any. */
  dispose?(): Promise<void>;
}
