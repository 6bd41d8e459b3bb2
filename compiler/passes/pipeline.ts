// The pass pipeline, in order: graph passes, then lowering, then plan passes. Each pass can be
// switched off (`--disable-pass NAME`) and its result printed (`--dump-after NAME`); with
// `verify` the graph or plan verifier runs after every pass. Passes that later issues add
// (router decoupling, expert fusion, quantization, overlap scheduling) go into this list.
import type { Graph } from "../ir/graph.js";
import { verifyGraph } from "../ir/verifier.js";
import type { Diagnostic } from "../diagnostics/diagnostic.js";
import type { Plan } from "../../runtime/plan/plan.js";
import { lowerGraph } from "../lower/lower.js";
import { verifyPlan } from "../lower/verify.js";
import { dce } from "./dce.js";
import type { GraphPass, Pass, PlanContext, PlanPass } from "./pass.js";
import { reuseBuffers } from "./reuse-buffers.js";
import { weightFormats } from "./weight-formats.js";
import { quantize } from "./quantize.js";

export const PIPELINE: readonly Pass[] = [dce, weightFormats, quantize, reuseBuffers];

export interface PassOptions<R = Graph> {
  readonly disabled?: readonly string[];
  /** Called with the graph (or the plan, for plan passes) after each pass that ran. */
  readonly afterPass?: (pass: Pass, result: R) => void;
  /** Run the verifier after every pass (tests and `--verify` do). */
  readonly verify?: boolean;
  /** What plan passes may know besides the plan (the checkpoint's formats, --quantize). */
  readonly context?: PlanContext;
}

export function findPass(name: string): Pass | undefined {
  return PIPELINE.find((p) => p.name === name);
}

/** The graph-level passes. */
export function runPipeline(graph: Graph, opts: PassOptions = {}): { graph: Graph; diagnostics: Diagnostic[] } {
  let g = graph;
  for (const pass of PIPELINE.filter((p): p is GraphPass => p.level === "graph")) {
    if (opts.disabled?.includes(pass.name)) continue;
    g = pass.run(g);
    if (opts.verify) {
      const problems = verifyGraph(g, `after ${pass.name}`);
      if (problems.length > 0) return { graph: g, diagnostics: problems };
    }
    opts.afterPass?.(pass, g);
  }
  return { graph: g, diagnostics: [] };
}

/** The plan-level passes. */
export function runPlanPipeline(plan: Plan, opts: PassOptions<Plan> = {}): { plan: Plan; diagnostics: Diagnostic[] } {
  let p = plan;
  if (opts.verify) {
    const problems = verifyPlan(p, "after lowering");
    if (problems.length > 0) return { plan: p, diagnostics: problems };
  }
  for (const pass of PIPELINE.filter((x): x is PlanPass => x.level === "plan")) {
    if (opts.disabled?.includes(pass.name)) continue;
    p = pass.run(p, opts.context ?? {});
    if (opts.verify) {
      const problems = verifyPlan(p, `after ${pass.name}`);
      if (problems.length > 0) return { plan: p, diagnostics: problems };
    }
    opts.afterPass?.(pass, p);
  }
  return { plan: p, diagnostics: [] };
}

/**
 * Lowers a graph that has been through the graph passes and runs the plan passes: the plan a
 * backend executes. Throws LowerError for graphs the plan cannot express, and Error when a
 * verifier finds a compiler bug.
 */
export function planGraph(graph: Graph, opts: PassOptions<Plan> = {}): Plan {
  const { plan, diagnostics } = runPlanPipeline(lowerGraph(graph), opts);
  if (diagnostics.length > 0) throw new Error(diagnostics.map((d) => d.message).join("\n"));
  return plan;
}
