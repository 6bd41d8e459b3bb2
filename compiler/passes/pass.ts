// A pass is a named rewrite with a one-line summary, at one of two levels: `graph` passes
// rewrite the graph IR before lowering (they see the MoE structure whole), `plan` passes
// rewrite the plan after it (buffers, schedules, weight formats). Passes never mutate: they
// return a new graph or plan (or the same one when nothing changed). Options are declared so
// the CLI can list and check them.
import type { Graph } from "../ir/graph.js";
import type { Plan } from "../../runtime/plan/plan.js";

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

export interface PlanPass extends PassInfo {
  readonly level: "plan";
  run(plan: Plan): Plan;
}

export type Pass = GraphPass | PlanPass;
