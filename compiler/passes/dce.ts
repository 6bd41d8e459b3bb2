// Dead-code elimination: drops nodes no output depends on (and their weights), renumbering
// the rest. Inputs always stay: they are the model's interface.
import type { Graph, Node } from "../ir/graph.js";
import type { GraphPass } from "./pass.js";

export const dce: GraphPass = {
  level: "graph",
  name: "dce",
  summary: "Remove nodes that no output depends on.",
  run(graph: Graph): Graph {
    const live = new Set<number>(graph.inputs);
    const stack = graph.outputs.map((o) => o.node);
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (live.has(id) && !graph.inputs.includes(id)) continue;
      live.add(id);
      for (const i of graph.nodes[id]!.inputs) if (!live.has(i)) stack.push(i);
    }
    if (live.size === graph.nodes.length) return graph;
    const remap = new Map<number, number>();
    const nodes: Node[] = [];
    for (const n of graph.nodes) {
      if (!live.has(n.id)) continue;
      remap.set(n.id, nodes.length);
      nodes.push(Object.freeze({ ...n, id: nodes.length, inputs: Object.freeze(n.inputs.map((i) => remap.get(i)!)) }));
    }
    return Object.freeze({
      ...graph,
      nodes: Object.freeze(nodes),
      inputs: Object.freeze(graph.inputs.map((i) => remap.get(i)!)),
      outputs: Object.freeze(graph.outputs.map((o) => Object.freeze({ ...o, node: remap.get(o.node)! }))),
    });
  },
};
