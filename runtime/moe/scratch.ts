// Where an MoE step keeps its routing data in the scratch area (byte offsets from its start;
// runtime/memory.ts reserves the largest step's `bytes`):
//   logits f32 [T, E] | offsets i32 [E+1] | token indices i32 [A] | weights f32 [A] | route_topk's work
// A, the assignments, is T·k for token choice (capacity only drops some) and at most T·E for
// expert choice. The expert bodies run while the offsets, indices and weights are live, so no
// body step may use scratch (none does: rope and attention are never inside an expert). The
// shared expert's gate runs after them and reuses the area: its gate logits f32 [T] at 0.
import { routeWorkBytes } from "../kernels/catalogue.js";
import type { RouterAttr } from "../plan/types.js";

export interface MoeScratch {
  readonly logits: number;
  readonly offsets: number;
  readonly tokens: number;
  readonly weights: number;
  readonly work: number;
  readonly bytes: number;
}

const align = (n: number) => Math.ceil(n / 16) * 16;

export function moeScratch(T: number, E: number, router: RouterAttr): MoeScratch {
  const A = T * (router.choice === "expert" ? E : router.k);
  const offsets = align(4 * T * E);
  const tokens = align(offsets + 4 * (E + 1));
  const weights = align(tokens + 4 * A);
  const work = align(weights + 4 * A);
  return { logits: 0, offsets, tokens, weights, work, bytes: align(work + routeWorkBytes(T, E, router.k)) };
}
