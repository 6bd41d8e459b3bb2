// The IR verifier: checks the invariants every pass must keep. It runs after every pass in
// tests and with `moec ir --verify`; a failure is a compiler bug, reported as MOE5001.
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import type { ExpertGroupAttr, Graph, Node, RouterAttr } from "./graph.js";
import { isOpError, OP_RULES } from "./ops.js";
import { formatType, sameShape } from "./types.js";

export function verifyGraph(g: Graph, where = g.name): Diagnostic[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  check(g, where, problems, seen, false);
  return problems.map((p) => diagnostic("MOE5001", null, where, p));
}

function check(g: Graph, where: string, problems: string[], paramShapes: Map<string, string>, inExpert: boolean): void {
  const fail = (n: Node | null, msg: string) => problems.push(`${where}${n ? ` %${n.id} (${n.op})` : ""}: ${msg}`);
  g.nodes.forEach((n, i) => {
    if (n.id !== i) fail(n, `id ${n.id} at position ${i}`);
    const badInput = n.inputs.find((input) => !(Number.isInteger(input) && input >= 0 && input < i));
    if (badInput !== undefined) return fail(n, `input %${badInput} is not an earlier node`);
    if (!Object.isFrozen(n)) fail(n, "node is mutable");
    if (n.op === "input") {
      if (!g.inputs.includes(n.id)) fail(n, "input node not listed in graph inputs");
      return;
    }
    const rule = OP_RULES[n.op];
    if (!rule) return fail(n, "unknown op");
    if (n.inputs.length < rule.arity[0] || n.inputs.length > rule.arity[1]) fail(n, `${n.inputs.length} inputs, expected ${rule.arity.join("..")}`);
    const inputTypes = n.inputs.map((id) => g.nodes[id]!.type);
    const t = rule.infer(inputTypes, n.attrs);
    if (isOpError(t)) return fail(n, `op table rejects it (${t.code})`);
    if (t.dtype !== n.type.dtype || !sameShape(t.shape, n.type.shape)) fail(n, `type ${formatType(n.type)} but the op table infers ${formatType(t)}`);
    const expected = rule.params(inputTypes, n.attrs);
    if (expected.length !== n.params.length) fail(n, `${n.params.length} params, expected ${expected.length}`);
    expected.forEach((p, j) => {
      const got = n.params[j];
      if (!got || got.name !== n.name + p.suffix || !sameShape(got.shape, p.shape)) fail(n, `param ${j} is ${got?.name}[${got?.shape}], expected ${n.name + p.suffix}[${p.shape}]`);
    });
    for (const p of n.params) {
      const shape = p.shape.join("x");
      const prev = paramShapes.get(p.name);
      if (prev !== undefined && prev !== shape) fail(n, `param ${p.name} has shapes ${prev} and ${shape}`);
      paramShapes.set(p.name, shape);
      if (p.shape.some((d) => !Number.isSafeInteger(d) || d <= 0)) fail(n, `param ${p.name} has a bad shape [${p.shape}]`);
      if (inExpert && (p.name.match(/\{e\}/g) ?? []).length > 1) fail(n, `param ${p.name} has more than one {e}`);
      if (!inExpert && p.name.includes("{e}")) fail(n, `param ${p.name} uses {e} outside an expert`);
    }
    if (n.op === "moe") checkMoe(n, where, problems, paramShapes, fail);
  });
  if (g.outputs.length === 0) fail(null, "graph has no outputs");
  for (const o of g.outputs) if (!(o.node >= 0 && o.node < g.nodes.length)) fail(null, `output ${o.name} refers to %${o.node}`);
}

function checkMoe(n: Node, where: string, problems: string[], paramShapes: Map<string, string>, fail: (n: Node, msg: string) => void): void {
  const groups = n.attrs["experts"] as unknown as ExpertGroupAttr[];
  const router = n.attrs["router"] as unknown as RouterAttr;
  const total = groups.reduce((s, g) => s + g.count, 0);
  if (total !== n.attrs["numExperts"]) fail(n, `numExperts ${n.attrs["numExperts"]} but groups hold ${total}`);
  if (router.choice === "token" && (router.k < 1 || router.k > total)) fail(n, `k=${router.k} with ${total} experts`);
  const width = n.type.shape[n.type.shape.length - 1];
  groups.forEach((g, i) => {
    const body = n.subgraphs[`expert${i}`];
    if ((g.kind === "ffn") !== (body !== undefined)) fail(n, `expert group ${i} (${g.kind}) ${body ? "has" : "lacks"} a body`);
    if (body) checkBody(body, `${where} %${n.id}.expert${i}`, width, problems, paramShapes, fail, n);
  });
  const shared = n.subgraphs["shared"];
  if (shared) checkBody(shared, `${where} %${n.id}.shared`, width, problems, paramShapes, fail, n);
}

function checkBody(body: Graph, where: string, width: unknown, problems: string[], paramShapes: Map<string, string>, fail: (n: Node, msg: string) => void, owner: Node): void {
  check(body, where, problems, paramShapes, true);
  const out = body.outputs[0];
  const t = out ? body.nodes[out.node]?.type : undefined;
  if (!t || t.shape.length !== 2 || t.shape[1] !== width) fail(owner, `${where} returns ${t ? formatType(t) : "nothing"}, expected [T, ${String(width)}]`);
}
