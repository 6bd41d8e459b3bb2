// Liveness-based buffer reuse: every value gets a live interval over the (flattened) step
// order, and values whose intervals do not overlap share a slot. A slot is as wide as its
// widest value; the runtime lays slots out for the step's token count.
import type { Step } from "../../runtime/plan/plan.js";
import { stepSpec } from "../../runtime/plan/steps.js";

export function assignSlots(steps: readonly Step[], widths: readonly number[], pinned: readonly number[], outputs: readonly number[]): { slots: number[]; valueSlots: number[] } {
  const def = new Array<number>(widths.length).fill(Infinity);
  const last = new Array<number>(widths.length).fill(-1);
  let p = 0;
  const touch = (v: number, at: number, write: boolean) => {
    if (v < 0) return;
    if (write) def[v] = Math.min(def[v]!, at);
    last[v] = Math.max(last[v]!, at);
  };
  const visit = (list: readonly Step[]) => {
    for (const s of list) {
      const at = ++p;
      const spec = stepSpec(s);
      const { reads, writes } = spec.values(s);
      reads.forEach((v) => touch(v, at, false));
      writes.forEach((v) => touch(v, at, true));
      const bodies = spec.bodies?.(s) ?? [];
      if (bodies.length === 0) continue;
      for (const b of bodies) {
        if (b.gathered) touch(b.input, ++p, true);
        visit(b.steps);
        touch(b.output, ++p, false);
      }
      // The step's own operands (a moe's input, router input and accumulating output) stay live through its bodies.
      const end = ++p;
      [...reads, ...writes].forEach((v) => touch(v, end, false));
    }
  };
  visit(steps);
  const END = p + 1;
  for (const v of [...pinned, ...outputs]) {
    def[v] = Math.min(def[v]!, 0);
    last[v] = END;
  }
  for (let v = 0; v < widths.length; v++) if (def[v] === Infinity) def[v] = last[v] = 0;

  const slots: number[] = [];
  const valueSlots = new Array<number>(widths.length).fill(-1);
  const order = widths.map((_, v) => v).sort((a, b) => def[a]! - def[b]! || a - b);
  const active: number[] = [];
  const free: number[] = [];
  for (const v of order) {
    for (let i = active.length - 1; i >= 0; i--) {
      const u = active[i]!;
      if (last[u]! < def[v]!) {
        active.splice(i, 1);
        if (!pinned.includes(u)) free.push(valueSlots[u]!);
      }
    }
    let pick = -1;
    if (!pinned.includes(v)) {
      // Best fit: the narrowest free slot that is wide enough, else the widest free one (grown).
      for (const s of free) if (slots[s]! >= widths[v]! && (pick < 0 || slots[s]! < slots[pick]!)) pick = s;
      if (pick < 0) for (const s of free) if (pick < 0 || slots[s]! > slots[pick]!) pick = s;
    }
    if (pick >= 0) {
      free.splice(free.indexOf(pick), 1);
      slots[pick] = Math.max(slots[pick]!, widths[v]!);
    } else {
      pick = slots.push(widths[v]!) - 1;
    }
    valueSlots[v] = pick;
    active.push(v);
  }
  return { slots, valueSlots };
}
