// What each plan step reads and writes, and the ordering edges that follow: the information a
// backend with several queues (CUDA streams, WebGPU queues, overlapped expert prefetch) needs
// to run steps concurrently. The WASM runtime runs steps in order on one queue and does not
// need it; the plan's serial order is one valid order of these edges.
//
// Resources are activation slots (values that share a slot alias each other), KV caches, and
// the runtime's scratch area (routing, RoPE tables and attention rows use it within a step).
import type { Plan, Step } from "./plan.js";

export type Resource = `slot:${number}` | `cache:${number}` | "scratch";

export interface Access {
  readonly reads: readonly Resource[];
  readonly writes: readonly Resource[];
}

/** The resources one top-level step reads and writes (a moe step includes its expert bodies). */
export function stepAccess(plan: Plan, s: Step): Access {
  const reads = new Set<Resource>();
  const writes = new Set<Resource>();
  const slot = (v: number): Resource => `slot:${plan.values[v]!.slot}`;
  const r = (...vs: number[]) => vs.forEach((v) => reads.add(slot(v)));
  const w = (...vs: number[]) => vs.forEach((v) => writes.add(slot(v)));
  const visit = (st: Step): void => {
    switch (st.op) {
      case "embed":
        r(plan.input.value);
        w(st.out);
        return;
      case "matmul":
      case "rmsnorm":
      case "layernorm":
      case "unary":
      case "scale":
        r(st.x);
        w(st.out);
        return;
      case "copy":
        // A strided partial write: ordered after earlier writers of `out` like any write.
        r(st.x);
        w(st.out);
        return;
      case "binary":
        r(st.a, st.b);
        w(st.out);
        return;
      case "swiglu":
        r(st.gate, st.up);
        w(st.out);
        return;
      case "split":
        r(st.x);
        w(st.a, st.b);
        return;
      case "clamp":
        r(st.x);
        w(st.x);
        return;
      case "rope":
        r(st.x);
        w(st.x);
        writes.add("scratch");
        return;
      case "attention":
        r(st.q, st.k, st.v);
        w(st.out);
        reads.add(`cache:${st.cache}`);
        writes.add(`cache:${st.cache}`);
        writes.add("scratch");
        return;
      case "moe":
        r(st.x, st.routerInput);
        w(st.out);
        writes.add("scratch");
        for (const g of st.groups) {
          if (g.input >= 0) w(g.input);
          g.steps.forEach(visit);
        }
        if (st.shared) st.shared.steps.forEach(visit);
        return;
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
