// What each plan step reads and writes, and the ordering edges that follow: the information a
// backend with several queues (CUDA streams, WebGPU queues, overlapped expert prefetch) needs
// to run steps concurrently. The WASM runtime runs steps in order on one queue and does not
// need it; the plan's serial order is one valid order of these edges.
//
// Resources are activation slots (values that share a slot alias each other), KV caches, and
// the runtime's scratch area (routing, RoPE tables and attention rows use it within a step).
import type { Plan, Step } from "./plan.js";
import { stepSpec } from "./steps.js";

export type Resource = `slot:${number}` | `cache:${number}` | "scratch";

export interface Access {
  readonly reads: readonly Resource[];
  readonly writes: readonly Resource[];
}

/** The resources one top-level step reads and writes (its expert bodies included), from the step table. */
export function stepAccess(plan: Plan, s: Step): Access {
  const reads = new Set<Resource>();
  const writes = new Set<Resource>();
  const slot = (v: number): Resource => `slot:${plan.values[v]!.slot}`;
  const visit = (st: Step): void => {
    const spec = stepSpec(st);
    const { reads: r, writes: w } = spec.values(st);
    r.forEach((v) => reads.add(slot(v)));
    w.forEach((v) => writes.add(slot(v)));
    const cache = spec.cache?.(st);
    if (cache !== undefined) {
      reads.add(`cache:${cache}`);
      writes.add(`cache:${cache}`);
    }
    if (spec.scratch) writes.add("scratch");
    for (const body of spec.bodies?.(st) ?? []) {
      if (body.gathered) writes.add(slot(body.input));
      body.steps.forEach(visit);
    }
  };
  visit(s);
  return { reads: [...reads], writes: [...writes] };
}

/**
 * deps[i]: the earlier steps step i must wait for — the last writer of everything it reads
 * (read after write), and the last writer and every reader since of everything it writes
 * (write after write, write after read). Sorted ascending.
 */
export function stepDependencies(plan: Plan): number[][] {
  const lastWriter = new Map<Resource, number>();
  const readers = new Map<Resource, number[]>();
  return plan.steps.map((s, i) => {
    const { reads, writes } = stepAccess(plan, s);
    const deps = new Set<number>();
    for (const res of reads) {
      const lw = lastWriter.get(res);
      if (lw !== undefined) deps.add(lw);
    }
    for (const res of writes) {
      const lw = lastWriter.get(res);
      if (lw !== undefined) deps.add(lw);
      for (const rd of readers.get(res) ?? []) deps.add(rd);
    }
    for (const res of reads) readers.set(res, [...(readers.get(res) ?? []), i]);
    for (const res of writes) {
      lastWriter.set(res, i);
      readers.set(res, []);
    }
    deps.delete(i);
    return [...deps].sort((a, b) => a - b);
  });
}
