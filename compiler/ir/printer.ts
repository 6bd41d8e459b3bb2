// The readable text form of the graph IR, used by `moec ir`, `--dump-after` and golden tests:
//   %3 = linear(%2) out=96 bias=false layout="out_in" : f32[T, 96]  @experts.{e}.w1
import type { AttrValue, Graph, Node } from "./graph.js";
import { formatType } from "./types.js";

export function formatAttr(v: AttrValue): string {
  if (v === null) return "none";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(7)));
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(formatAttr).join(", ")}]`;
  const entries = Object.entries(v as { [k: string]: AttrValue });
  return `{${entries.map(([k, x]) => `${k}: ${formatAttr(x)}`).join(", ")}}`;
}

function printNode(n: Node, indent: string, lines: string[]): void {
  if (n.op === "input") {
    lines.push(`${indent}%${n.id} = input ${n.attrs["name"]} : ${formatType(n.type)}`);
    return;
  }
  const attrs = Object.entries(n.attrs)
    .filter(([k]) => k !== "experts" || n.op !== "moe")
    .map(([k, v]) => `${k}=${formatAttr(v)}`)
    .join(" ");
  const layer = n.layer === null ? "" : `  layer=${n.layer}`;
  lines.push(`${indent}%${n.id} = ${n.op}(${n.inputs.map((i) => `%${i}`).join(", ")})${attrs ? " " + attrs : ""} : ${formatType(n.type)}  @${n.name}${layer}`);
  for (const p of n.params) lines.push(`${indent}    param ${p.name} ${p.dtype}[${p.shape.join(", ")}]`);
  if (n.op === "moe") {
    const groups = n.attrs["experts"] as readonly { kind: string; count: number; def: string | null }[];
    groups.forEach((g, i) => {
      const body = n.subgraphs[`expert${i}`];
      lines.push(`${indent}  experts ${g.count} × ${g.kind === "ffn" ? g.def : g.kind}${body ? " {" : ""}`);
      if (body) {
        printBody(body, indent + "    ", lines);
        lines.push(`${indent}  }`);
      }
    });
    const shared = n.subgraphs["shared"];
    if (shared) {
      lines.push(`${indent}  shared ${shared.name} {`);
      printBody(shared, indent + "    ", lines);
      lines.push(`${indent}  }`);
    }
  }
}

function printBody(g: Graph, indent: string, lines: string[]): void {
  for (const n of g.nodes) printNode(n, indent, lines);
  for (const o of g.outputs) lines.push(`${indent}return %${o.node}`);
}

export function printGraph(g: Graph): string {
  const lines = [`graph ${g.name} {`];
  const consts = Object.entries(g.constants);
  if (consts.length > 0) lines.push(`  const ${consts.map(([k, v]) => `${k}=${formatAttr(v)}`).join(" ")}`);
  for (const n of g.nodes) printNode(n, "  ", lines);
  for (const o of g.outputs) lines.push(`  output ${o.name} = %${o.node}`);
  lines.push("}");
  return lines.join("\n") + "\n";
}
