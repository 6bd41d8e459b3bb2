// A pass is a named rewrite with a one-line summary, at one of two levels: `graph` passes
// rewrite the graph IR before lowering (they see the MoE structure whole), `plan` passes
// rewrite the plan after it (buffers, schedules, weight formats). Passes never mutate: they
// return a new graph or plan (or the same one when nothing changed). Options are declared so
// the CLI can list and check them.
import type { Graph } from "../ir/graph.js";
import type { Plan } from "../../runtime/plan/plan.js";
import type { StorageFormat } from "../../runtime/plan/formats.js";
import type { QuantizeSpec } from "../quant/scheme.js";

export interface PassOption {
  readonly name: string;
  readonly summary: string;
  readonly default: string | number | boolean;
}

interface PassInfo {
  readonly name: string;
  readonly summary: string;
  readonly options?: readonly PassOption[];
}

export interface GraphPass extends PassInfo {
  readonly level: "graph";
  run(graph: Graph): Graph;
}

/** What plan passes may know beyond the plan: the checkpoint, the target, the command's options. */
export interface PlanContext {
  /** The storage format a checkpoint tensor ships in, or null (none moec keeps: read as float32). */
  readonly shipped?: (name: string) => StorageFormat | null;
  /** The formats the target's kernels read (default: every format). */
  readonly formats?: readonly StorageFormat[];
  /** Weight-only quantization to apply (`--quantize`). */
  readonly quantize?: QuantizeSpec;
  /** Called with what a pass decided, for reports (the quantize pass: each weight's format and why). */
  readonly note?: (pass: string, detail: unknown) => void;
}

export interface PlanPass extends PassInfo {
  readonly level: "plan";
  run(plan: Plan, ctx: PlanContext): Plan;
}

export type Pass = GraphPass | PlanPass;
