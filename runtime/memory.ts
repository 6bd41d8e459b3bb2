// The memory layout of a loaded model in one linear memory (WASM or a plain ArrayBuffer):
//   [weights | KV caches | activation slots (for maxTokens rows) | scratch]
// Everything is 16-byte aligned so SIMD loads never straddle.
import type { Plan } from "./plan/plan.js";

export interface Layout {
  readonly weightOffsets: readonly number[];
  readonly cacheOffsets: readonly { k: number; v: number }[];
  readonly slotOffsets: readonly number[];
  readonly scratch: number;
  readonly scratchBytes: number;
  readonly totalBytes: number;
  readonly maxTokens: number;
  readonly maxContext: number;
}

const align = (n: number) => Math.ceil(n / 16) * 16;

/** `threads`: attention kernels running in parallel each need their own scratch row. */
export function layoutFor(plan: Plan, maxTokens: number, maxContext: number, threads = 1): Layout {
  let at = 64; // keep 0 free: a null pointer means "no bias" to the kernels
  const weightOffsets = plan.weights.map((w) => {
    const o = at;
    at = align(at + 4 * w.shape.reduce((a, b) => a * b, 1));
    return o;
  });
  const cacheOffsets = plan.caches.map((c) => {
    const k = at;
    at = align(at + 4 * maxContext * c.kWidth);
    const v = at;
    at = align(at + 4 * maxContext * c.vWidth);
    return { k, v };
  });
  const slotOffsets = plan.slots.map((w) => {
    const o = at;
    at = align(at + 4 * maxTokens * w);
    return o;
  });
  // Scratch: router logits, routing indices/weights, rope tables, attention logits.
  let experts = 0;
  let ropeHalf = 0;
  const visit = (steps: Plan["steps"]) => {
    for (const s of steps) {
      if (s.op === "moe") {
        experts = Math.max(experts, s.experts);
        s.groups.forEach((g) => visit(g.steps));
        if (s.shared) visit(s.shared.steps);
      }
      if (s.op === "rope") ropeHalf = Math.max(ropeHalf, s.rope.dim / 2);
    }
  };
  visit(plan.steps);
  const routing = 3 * maxTokens * Math.max(experts, 1) + 2 * maxTokens * ropeHalf;
  const attention = threads * (maxContext + maxTokens + 16);
  const scratchBytes = align(4 * (Math.max(routing, attention) + 64));
  const scratch = at;
  at += scratchBytes;
  return { weightOffsets, cacheOffsets, slotOffsets, scratch, scratchBytes, totalBytes: at, maxTokens, maxContext };
}
