// The pass pipeline, in order. Each pass can be switched off (`--disable-pass NAME`) and
// its result printed (`--dump-after NAME`). Passes that later issues add (router
// decoupling, expert fusion, quantization, overlap scheduling) go into this list.
import type { Graph } from "../ir/graph.js";
import { verifyGraph } from "../ir/verifier.js";
import type { Diagnostic } from "../diagnostics/diagnostic.js";
import { dce } from "./dce.js";
import type { Pass } from "./pass.js";

export const PIPELINE: readonly Pass[] = [dce];

export interface PassOptions {
  readonly disabled?: readonly string[];
  /** Called with the graph after each pass that ran. */
  readonly afterPass?: (pass: Pass, graph: Graph) => void;
  /** Run the verifier after every pass (tests and `--verify` do). */
  readonly verify?: boolean;
}

export function findPass(name: string): Pass | undefined {
  return PIPELINE.find((p) => p.name === name);
}

export function runPipeline(graph: Graph, opts: PassOptions = {}): { graph: Graph; diagnostics: Diagnostic[] } {
  let g = graph;
  for (const pass of PIPELINE) {
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
