// A pass is a named graph → graph rewrite with a one-line summary. Passes never mutate:
// they return a new graph (or the same one when nothing changed).
import type { Graph } from "../ir/graph.js";

export interface Pass {
  readonly name: string;
  readonly summary: string;
  run(graph: Graph): Graph;
}
