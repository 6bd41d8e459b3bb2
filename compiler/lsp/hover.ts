// Hover: the shape and dtype of a value (as the checker computed it), a block's or expert's
// parameter count (from the IR), a router's options, and built-in docs (from BUILTINS).
// Reads the cached check of this document version; never re-checks.
import type { Hover } from "vscode-languageserver";
import type { ExpertGroupAttr, RouterAttr } from "../ir/graph.js";
import { DTYPES } from "../ir/types.js";
import { BUILTINS } from "../sema/builtins.js";
import type { Value } from "../sema/values.js";
import type * as A from "../syntax/ast.js";
import type { Analysis } from "./analysis.js";
import { builtinDoc, defSignature, fence, formatCount, formatValue, paramDoc, typeSource, valueKind } from "./describe.js";
import { defStats, moeNodesAt, nodeParams } from "./params.js";
import { spanKey, type CheckInfo, type Recorded } from "./recorder.js";
import type { Ref, Sym } from "./resolver.js";

export function hover(a: Analysis, offset: number): Hover | null {
  const r = a.resolution.refAt(offset);
  if (!r) return null;
  const md = hoverText(a, r);
  if (!md) return null;
  return { contents: { kind: "markdown", value: md }, range: a.lines.range(r.start, r.end) };
}

function recordedAt(check: CheckInfo | null, span: { start: number; end: number } | null | undefined): Recorded | null {
  if (!check || !span) return null;
  return check.values.get(spanKey(span.start, span.end)) ?? null;
}

/** `h: f32[seq, 4096]` plus what kind of value it is; several lines when it varies by layer. */
function valueLines(label: string, rec: Recorded | null): string[] {
  if (!rec || rec.values.length === 0) return [];
  const vs = rec.values.filter((v) => v.k !== "error");
  if (vs.length === 0) return ["*(invalid: see the diagnostics)*"];
  if (vs.length === 1) return [fence(`${label}: ${formatValue(vs[0]!)}`), valueKind(vs[0]!)];
  const lines = vs.map((v) => `${label}: ${formatValue(v)}`);
  return [fence(lines.join("\n")), `${vs.length}${rec.truncated ? "+" : ""} different values over ${rec.count} evaluations (loops and calls evaluate it more than once).`];
}

function hoverText(a: Analysis, r: Ref): string | null {
  const check = a.check;
  switch (r.kind) {
    case "builtin":
      return builtinHover(a, r.name, r.call, check);
    case "builtinExpert":
      return r.name === "zero"
        ? [fence("zero"), "Built-in parameter-free expert that outputs zeros (MoE++). Use it in an expert list: `1 of zero`."].join("\n")
        : [fence("identity"), "Built-in parameter-free expert that returns its input unchanged (MoE++). Use it in an expert list: `1 of identity`."].join("\n");
    case "kwarg": {
      const arg = r.call.args.find((x) => x && x.nameSpan?.start === r.start);
      const val = valueLines(r.name, recordedAt(check, arg?.value.span));
      if (r.sym) return [...symHeader(a, r.sym), ...val].join("\n\n");
      const doc = paramDoc(r.callee, r.name);
      return doc || val.length ? [doc ?? fence(r.name), ...val].join("\n\n") : null;
    }
    case "type":
      return typeHover(r.name);
    case "unresolved":
      return null;
    case "sym":
      return symHover(a, r, check);
  }
}

function typeHover(name: string): string {
  if ((DTYPES as readonly string[]).includes(name)) return [fence(name), `Tensor dtype \`${name}\`. Dtypes: ${DTYPES.join(", ")}.`].join("\n");
  return [fence(name), `Scalar type \`${name}\` (block and expert parameters only).`].join("\n");
}

function builtinHover(a: Analysis, name: string, call: Extract<A.Expr, { kind: "call" }> | null, check: CheckInfo | null): string | null {
  const doc = builtinDoc(name);
  if (!doc) return null;
  const parts = [doc];
  if (call && check) {
    const rec = recordedAt(check, call.span);
    const b = BUILTINS.get(name)!;
    if (name === "moe") parts.push(...moeSummary(check, call));
    else if (b.kind === "record" && rec) parts.push(...recordSummary(name, rec));
    else if (rec) {
      const lines = valueLines("result", rec);
      if (lines.length) parts.push("**This call**", ...lines);
    }
  }
  return parts.join("\n\n");
}

function recordSummary(name: string, rec: Recorded): string[] {
  const recs = rec.values.filter((v): v is Extract<Value, { k: "record" }> => v.k === "record");
  if (recs.length === 0) return [];
  const title = name === "topk" || name === "expert_choice" ? "**Router options** (defaults filled in)" : "**Options** (defaults filled in)";
  return [title, ...recs.map((r) => [...r.fields].map(([k, v]) => `- \`${k}\` = \`${formatValue(v)}\``).join("\n"))];
}

function routerLines(r: RouterAttr): string {
  const opts: string[] = [
    r.choice === "token" ? `token choice, top-${r.k}` : `expert choice, capacity factor ${r.capacityFactor}`,
    `scoring ${r.scoring}`,
  ];
  if (r.renormalize) opts.push("renormalised");
  if (r.bias) opts.push("router bias");
  if (r.selectionBias) opts.push("selection bias");
  if (r.groups > 1) opts.push(`${r.groups} groups, top ${r.topkGroups} groups by ${r.groupScoring}`);
  if (r.scale !== 1) opts.push(`scale ${r.scale}`);
  if (r.choice === "token" && r.capacityFactor !== null) opts.push(`capacity factor ${r.capacityFactor}`);
  if (r.scoring === "sparsemixer") opts.push(`jitter eps ${r.jitterEps}`);
  if (r.pregated) opts.push("pre-gated (reads an earlier hidden state)");
  return opts.join(" · ");
}

function moeSummary(check: CheckInfo, call: Extract<A.Expr, { kind: "call" }>): string[] {
  const nodes = moeNodesAt(check, call.span.start, call.span.end);
  if (nodes.length === 0) return [];
  const n = nodes[0]!;
  const groups = n.attrs["experts"] as unknown as ExpertGroupAttr[];
  const router = n.attrs["router"] as unknown as RouterAttr;
  const p = nodeParams(n);
  const experts = groups.map((g) => `${g.count} × ${g.kind === "ffn" ? g.def : g.kind}`).join(" + ");
  const lines = [
    "**This moe layer**",
    `- experts: ${experts}${n.subgraphs["shared"] ? ` + shared ${n.subgraphs["shared"].name}` : ""}`,
    `- router: ${routerLines(router)}`,
    `- parameters: ${formatCount(p.total)} total, ${formatCount(p.active)} active per token`,
  ];
  if (nodes.length > 1) lines.push(`- built ${nodes.length} times (${nodes.map((x) => (x.layer === null ? "-" : x.layer)).slice(0, 12).join(", ")}${nodes.length > 12 ? ", …" : ""})`);
  return [lines.join("\n")];
}

function symHeader(a: Analysis, s: Sym): string[] {
  switch (s.kind) {
    case "param": {
      const p = s.param!;
      return [fence(`(parameter of ${s.container?.name ?? "?"}) ${p.name}: ${typeSource(p.type, a.text)}${p.default ? ` = ${a.text.slice(p.default.span.start, p.default.span.end)}` : ""}`)];
    }
    case "block":
    case "expert":
      return [fence(defSignature(s.def!, a.text))];
    default:
      return [fence(`${s.kind} ${s.name}`)];
  }
}

function symHover(a: Analysis, r: Extract<Ref, { kind: "sym" }>, check: CheckInfo | null): string | null {
  const s = r.sym;
  const here = r.inString ? null : recordedAt(check, r.value ? r.value.span : r);
  switch (s.kind) {
    case "model": {
      const lines = [fence(`model ${s.name}`)];
      const g = check?.graph;
      if (g) {
        let total = 0;
        let active = 0;
        const seen = new Set<string>();
        for (const n of g.nodes) {
          const p = nodeParams(n, seen);
          total += p.total;
          active += p.active;
        }
        lines.push(`Parameters: ${formatCount(total)} total, ${formatCount(active)} active per token · ${g.nodes.length} graph nodes`);
      }
      return lines.join("\n\n");
    }
    case "const": {
      const lines = valueLines(s.name, here ?? recordedAt(check, declValue(a, s)?.span));
      return [fence(`const ${s.name}`), ...lines].join("\n\n");
    }
    case "variable":
    case "output": {
      const lines = valueLines(s.name, here);
      const where = s.container ? `local variable of ${s.container.name}` : s.kind === "output" ? "model output" : "model variable";
      return lines.length ? [...lines, `*${where}*`].join("\n\n") : [fence(`${s.kind === "output" ? "output" : "variable"} ${s.name}`), `*${where}*`].join("\n\n");
    }
    case "param": {
      let lines = valueLines(s.name, here);
      if (!lines.length && check) {
        // At the declaration, show what the parameter was bound to at its first recorded use.
        const use = a.resolution.refsTo(s).find((x) => x.kind === "sym" && !x.decl && !x.inString && recordedAt(check, x));
        if (use) lines = valueLines(s.name, recordedAt(check, use));
      }
      return [...symHeader(a, s), ...lines].join("\n\n");
    }
    case "loop": {
      const decl = a.resolution.refsTo(s).find((x): x is Extract<Ref, { kind: "sym" }> => x.kind === "sym" && !!x.loop);
      const loop = decl?.loop;
      const from = loop ? recordedAt(check, loop.from.span)?.values[0] : undefined;
      const to = loop ? recordedAt(check, loop.to.span)?.values[0] : undefined;
      const range = from && to ? `${formatValue(from)}..${formatValue(to)}` : loop ? `${a.text.slice(loop.from.span.start, loop.from.span.end)}..${a.text.slice(loop.to.span.start, loop.to.span.end)}` : "";
      return [fence(`for ${s.name} in ${range}`), `Loop variable (int).${!s.container ? " The outermost model-level loop sets each node's layer index." : ""}`].join("\n\n");
    }
    case "input": {
      const lines = [fence(`input ${s.name}: ${typeSource(s.type, a.text)}`)];
      const g = check?.graph;
      const node = g?.inputs.map((i) => g.nodes[i]!).find((n) => n.name === s.name);
      if (node) lines.push(`tensor · shape [${node.type.shape.join(", ")}] · dtype ${node.type.dtype}`);
      return lines.join("\n\n");
    }
    case "dim":
      return [fence(`(shape variable) ${s.name}`), s.container ? `Bound from the arguments each time \`${s.container.name}\` is called; every use must agree.` : "Symbolic dimension: stays symbolic in the IR and is bound from the actual input tensors at run time."].join("\n\n");
    case "block":
    case "expert":
      return defHover(a, s, check);
  }
}

function declValue(a: Analysis, s: Sym): A.Expr | undefined {
  const d = a.resolution.refsTo(s).find((x): x is Extract<Ref, { kind: "sym" }> => x.kind === "sym" && x.decl && !!x.value);
  return d?.value;
}

function defHover(a: Analysis, s: Sym, check: CheckInfo | null): string {
  const parts = [fence(defSignature(s.def!, a.text))];
  const st = check ? defStats(check, s.name) : null;
  if (st) {
    const lines: string[] = [];
    if (st.calls > 0) {
      const per = st.perCallMin === st.perCallMax ? formatCount(st.perCallMax) : `${formatCount(st.perCallMin)} to ${formatCount(st.perCallMax)}`;
      lines.push(`- ${per} parameters per call · ${st.calls} call${st.calls === 1 ? "" : "s"} · ${formatCount(st.total)} in total (${formatCount(st.activeTotal)} active per token)`);
    }
    if (st.perExpert !== null) {
      lines.push(`- ${formatCount(st.perExpert)} parameters per expert`);
      if (st.routedIn) lines.push(`- routed expert in ${st.routedIn} moe layer${st.routedIn === 1 ? "" : "s"} (${st.routedCount} experts in all: ${formatCount(st.routedCount * st.perExpert)})`);
      if (st.sharedIn) lines.push(`- shared expert in ${st.sharedIn} moe layer${st.sharedIn === 1 ? "" : "s"}`);
    }
    if (lines.length === 0) lines.push(check?.graph ? "- not used by the model" : "");
    parts.push(["**Parameters**", ...lines].join("\n"));
  } else if (!check) parts.push("*Parameter counts appear when the file has no syntax errors.*");
  return parts.join("\n\n");
}
