// The checkpoint tensors a graph binds: every parameter name with its stored shape, `{e}`
// expanded to each expert's index, and stacked expert tensors as [experts, ...shape].
import type { ExpertGroupAttr, Graph } from "../ir/graph.js";
import { expertTensor } from "../../runtime/moe/experts.js";

export interface ExpectedTensor {
  readonly shape: readonly number[];
  /** Where it comes from, for messages: the op and the node's name. */
  readonly origin: string;
}

export function expectedTensors(g: Graph): Map<string, ExpectedTensor> {
  const out = new Map<string, ExpectedTensor>();
  for (const n of g.nodes) {
    for (const p of n.params) out.set(p.name, { shape: p.shape, origin: `${n.op} ${n.name}` });
    if (n.op !== "moe") continue;
    const groups = n.attrs["experts"] as unknown as ExpertGroupAttr[];
    let first = 0;
    groups.forEach((grp, i) => {
      const body = n.subgraphs[`expert${i}`];
      if (body) {
        for (const [name, t] of expectedTensors(body)) {
          for (let local = 0; local < grp.count; local++) {
            const x = expertTensor(name, t.shape, { global: first + local, local, count: grp.count }, n.attrs["flatStacks"] === true);
            out.set(x.name, { ...t, shape: x.shape });
          }
        }
      }
      first += grp.count;
    });
    const shared = n.subgraphs["shared"];
    if (shared) for (const [name, t] of expectedTensors(shared)) out.set(name, t);
  }
  return out;
}
