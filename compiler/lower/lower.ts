// Lowering: graph IR → plan (runtime/plan/plan.ts). Each IR op lowers through its entry in
// rules.ts — attention into projections, norms, rope, the attention kernel and the output
// projection; MLA likewise; a moe node into one MoE step whose expert bodies are step lists
// run per chosen expert. Every value starts in a slot of its own; the `reuse-buffers` plan
// pass (slots.ts) then shares slots between values whose lifetimes do not overlap.
import type { Graph } from "../ir/graph.js";
import type { Plan, PlanCache, PlanWeight, Step, WRef } from "../../runtime/plan/plan.js";
import { PLAN_FORMAT, PLAN_VERSION } from "../../runtime/plan/plan.js";
import { LOWER, type LowerContext } from "./rules.js";

export { LowerError } from "./errors.js";
import { LowerError } from "./errors.js";

/** How a body's parameters resolve: globally by name, or to the j-th local of an expert group. */
export interface WeightScope {
  ref(name: string, shape: readonly number[]): WRef;
}

export class Lowerer {
  readonly weights: PlanWeight[] = [];
  private readonly weightIndex = new Map<string, number>();
  readonly widths: number[] = [];
  readonly caches: PlanCache[] = [];
  /** The plan's token input (set by lowerGraph). */
  ids = -1;

  value(width: number): number {
    this.widths.push(width);
    return this.widths.length - 1;
  }

  weight(name: string, shape: readonly number[]): number {
    let i = this.weightIndex.get(name);
    if (i === undefined) {
      i = this.weights.length;
      this.weights.push({ name, shape: [...shape], format: "f32" });
      this.weightIndex.set(name, i);
    }
    return i;
  }

  readonly global: WeightScope = { ref: (name, shape) => ({ w: this.weight(name, shape) }) };

  /** Lowers a graph's nodes into `steps`; returns the value of every node (-1 for the token input). */
  graph(g: Graph, steps: Step[], scope: WeightScope, inputs: readonly number[]): number[] {
    const vals: number[] = [];
    let nextInput = 0;
    for (const n of g.nodes) {
      if (n.op === "input") {
        vals.push(inputs[nextInput++] ?? -1);
        continue;
      }
      const ins = n.inputs.map((i) => vals[i]!);
      const ctx: LowerContext = {
        l: this,
        n,
        ins,
        x: ins[0]!,
        width: n.type.shape[n.type.shape.length - 1] as number,
        steps,
        scope,
        param: (suffix) => {
          const p = n.params.find((q) => q.name === n.name + suffix);
          if (!p) throw new LowerError(`${n.op} ${n.name}: no parameter ${suffix}`);
          return scope.ref(p.name, p.shape);
        },
      };
      vals.push(LOWER[n.op](ctx));
    }
    return vals;
  }
}

export function lowerGraph(g: Graph): Plan {
  if (g.inputs.length !== 1) throw new LowerError(`${g.name}: the plan supports models with one token input; this one has ${g.inputs.length}`);
  const inputNode = g.nodes[g.inputs[0]!]!;
  if (inputNode.type.shape.length !== 1) throw new LowerError(`${g.name}: the input must be i32[seq]; batch dimensions are not supported by the plan yet`);
  const output = g.outputs[0];
  if (!output || g.outputs.length !== 1) throw new LowerError(`${g.name}: the plan supports exactly one output (the logits)`);
  const l = new Lowerer();
  const steps: Step[] = [];
  const inputValue = l.value(1);
  l.ids = inputValue;
  const vals = l.graph(g, steps, l.global, [inputValue]);
  const embed = g.nodes.find((n) => n.op === "embed");
  const outValue = vals[output.node]!;
  return {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    model: g.name,
    vocab: (embed?.attrs["vocab"] as number | undefined) ?? 0,
    input: { name: inputNode.attrs["name"] as string, value: inputValue },
    output: { name: output.name, value: outValue, width: l.widths[outValue]! },
    weights: l.weights,
    values: l.widths.map((width, i) => ({ width, slot: i })),
    slots: [...l.widths],
    caches: l.caches,
    steps,
  };
}
