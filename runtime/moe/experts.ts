// What every MoE implementation does once tokens are routed, written once: the expert weight
// names, and the sequence gather → expert body → weighted scatter-add → shared expert. The
// reference interpreter (compiler/reference) and the plan executor (runtime/executor) both run
// `runExperts`, each with its own arithmetic behind the callbacks.

/** Which expert a body runs for: its index among all experts, within its group, and the group's size. */
export interface ExpertIndex {
  readonly global: number;
  readonly local: number;
  readonly count: number;
}

/**
 * The checkpoint tensor an expert's parameter binds to. A name with `{e}` names one tensor per
 * expert (filled with the expert's global index); a name without it names one stacked tensor
 * [count, ...shape] for the whole group, of which this expert owns the `local`-th slice.
 */
export function expertTensor(name: string, shape: readonly number[], e: ExpertIndex, flat = false): { name: string; shape: readonly number[]; offset: number } {
  if (name.includes("{e}")) return { name: name.replace("{e}", String(e.global)), shape, offset: 0 };
  const size = shape.reduce((a, b) => a * b, 1);
  // flat stacks (DBRX): [count·rows, ...], the same bytes as [count, rows, ...]
  return { name, shape: flat && shape.length > 0 ? [e.count * shape[0]!, ...shape.slice(1)] : [e.count, ...shape], offset: e.local * size };
}

export interface ExpertGroupShape {
  readonly kind: "ffn" | "zero" | "identity";
  readonly count: number;
}

/** The callbacks `runExperts` drives; `R` is however an implementation holds a block of rows. */
export interface ExpertOps<R> {
  /** The rows of assignments [from, from + n) — one expert's tokens — gathered from the layer input. */
  gather(from: number, n: number, group: number): R;
  /** Runs the expert's body (an `ffn` group) over its gathered rows. */
  body(group: number, expert: ExpertIndex, rows: R, n: number): R;
  /** Adds the expert's output rows, times each assignment's weight, into the layer output. */
  scatter(from: number, n: number, y: R): void;
  /** Runs the shared expert over every token and adds it (through its gate, if it has one). */
  shared?(): void;
}

/**
 * Runs every routed expert in expert order over its assignments (expert e owns assignments
 * [offsets[e], offsets[e+1]), already sorted by expert): zero experts add nothing, identity
 * experts add their input rows, ffn experts their body's output. Experts nobody chose never
 * run. Then the shared expert, if any.
 */
export function runExperts<R>(groups: readonly ExpertGroupShape[], offsets: ArrayLike<number>, ops: ExpertOps<R>): void {
  let first = 0;
  groups.forEach((g, gi) => {
    for (let local = 0; local < g.count; local++) {
      const from = offsets[first + local]!;
      const n = offsets[first + local + 1]! - from;
      if (n === 0 || g.kind === "zero") continue;
      const rows = ops.gather(from, n, gi);
      ops.scatter(from, n, g.kind === "identity" ? rows : ops.body(gi, { global: first + local, local, count: g.count }, rows, n));
    }
    first += g.count;
  });
  ops.shared?.();
}
