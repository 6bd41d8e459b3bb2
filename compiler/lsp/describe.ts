// Text the editor shows: built-in signatures and snippets (from the BUILTINS table, so the
// docs cannot drift from the checker), block signatures, and compile-time values.
import { formatType } from "../ir/types.js";
import { BUILTINS, type Builtin } from "../sema/builtins.js";
import { describeType, type ParamSig } from "../sema/signature.js";
import type { Value } from "../sema/values.js";
import type * as A from "../syntax/ast.js";

export function formatValue(v: Value, depth = 0): string {
  switch (v.k) {
    case "int":
      return String(v.v);
    case "float":
      return Number.isInteger(v.v) && Math.abs(v.v) < 1e21 ? v.v.toFixed(1) : String(v.v);
    case "bool":
      return String(v.v);
    case "str":
      return JSON.stringify(v.v);
    case "none":
      return "none";
    case "tensor":
      return formatType(v.type);
    case "list":
      return depth > 1 ? "[…]" : `[${v.items.map((i) => formatValue(i, depth + 1)).join(", ")}]`;
    case "record": {
      const fields = depth > 1 ? "…" : [...v.fields].map(([k, f]) => `${k} = ${formatValue(f, depth + 1)}`).join(", ");
      return `${v.ctor}(${fields})${v.name !== null ? ` @ ${JSON.stringify(v.name)}` : ""}`;
    }
    case "def":
      return `${v.decl.kind} ${v.decl.name}`;
    case "expert": {
      const name = v.decl?.name ?? v.builtin ?? "?";
      const args = [...v.args].map(([k, f]) => `${k} = ${formatValue(f, depth + 1)}`).join(", ");
      return `${v.builtin ? name : `${name}(${args})`}${v.name !== null ? ` @ ${JSON.stringify(v.name)}` : ""}`;
    }
    case "experts":
      return v.groups.map((g) => `${g.count} of ${formatValue(g.expert, depth + 1)}`).join(", ");
    case "error":
      return "(invalid)";
  }
}

/** What kind of value it is, in words, for hovers. */
export function valueKind(v: Value): string {
  switch (v.k) {
    case "int":
      return "int";
    case "float":
      return "float";
    case "bool":
      return "bool";
    case "str":
      return "string";
    case "none":
      return "none";
    case "tensor":
      return `tensor · shape [${v.type.shape.join(", ")}] · dtype ${v.type.dtype}`;
    case "list":
      return `list of ${v.items.length}`;
    case "record":
      return `${v.ctor} configuration`;
    case "def":
      return v.decl.kind;
    case "expert":
      return "configured expert";
    case "experts":
      return `${v.groups.reduce((s, g) => s + g.count, 0)} experts`;
    case "error":
      return "invalid";
  }
}

function typeText(t: ParamSig["type"]): string {
  if (typeof t === "string") return t;
  if ("oneOf" in t) return t.oneOf.map((s) => JSON.stringify(s)).join(" | ");
  if ("record" in t) return t.record.map((r) => `${r}(…)`).join(" | ");
  return "[number, …]";
}

export function formatParamSig(p: ParamSig): string {
  const dflt = p.default === undefined ? "" : ` = ${formatValue(p.default)}`;
  return `${p.name}: ${typeText(p.type)}${p.nullable && p.default?.k !== "none" ? " | none" : ""}${dflt}`;
}

export function builtinSignature(name: string, b: Builtin = BUILTINS.get(name)!): string {
  return `${name}(${b.sig.map(formatParamSig).join(", ")})`;
}

const KIND_WORD: Record<Builtin["kind"], string> = { op: "op", record: "configuration record", scalar: "compile-time function" };

/** Markdown documentation of a built-in: signature, summary, and each parameter. */
export function builtinDoc(name: string): string | null {
  const b = BUILTINS.get(name);
  if (!b) return null;
  const params = b.sig.map((p) => `- \`${p.name}\`${p.positional ? " (positional)" : ""}: ${describeType(p.type)}${p.nullable ? " or none" : ""}${p.default === undefined ? ", required" : `, default \`${formatValue(p.default)}\``}${p.doc ? ` — ${p.doc}` : ""}`);
  return [fence(builtinSignature(name, b)), `Built-in ${KIND_WORD[b.kind]}. ${b.summary}`, ...(params.length ? ["", ...params] : [])].join("\n");
}

export function paramDoc(callee: string, param: string): string | null {
  const p = BUILTINS.get(callee)?.sig.find((s) => s.name === param);
  if (!p) return null;
  return [fence(`${callee}(${formatParamSig(p)})`), `${describeType(p.type)}${p.nullable ? " or none" : ""}${p.default === undefined ? " (required)" : ""}${p.doc ? `. ${p.doc}` : ""}`].join("\n");
}

export function fence(code: string): string {
  return "```moe\n" + code + "\n```";
}

// ---- snippets --------------------------------------------------------------------------

function escapeSnippet(s: string): string {
  return s.replace(/[$}\\]/g, (c) => `\\${c}`);
}

/** `linear(${1:x}, ${2:out})`: the required arguments, positional where the signature allows. */
export function builtinSnippet(name: string): string {
  const b = BUILTINS.get(name)!;
  const parts: string[] = [];
  let n = 1;
  for (const p of b.sig) {
    if (p.default !== undefined) continue;
    parts.push(p.positional ? `\${${n++}:${escapeSnippet(p.name)}}` : `${p.name} = \${${n++}:${escapeSnippet(p.name)}}`);
  }
  return parts.length ? `${name}(${parts.join(", ")})` : `${name}($1)`;
}

/** A block call passes its tensor first; an expert is usually configured (`SwiGLU(ffn = …)`). */
export function defSnippet(def: A.BlockMember): string {
  const required = def.params.filter((p) => p && p.default === null);
  let n = 1;
  if (def.kind === "expert") {
    const cfg = required.filter((p, i) => !(i === 0 && p.type.kind === "tensor"));
    return `${def.name}(${cfg.map((p) => `${p.name} = \${${n++}:${escapeSnippet(p.name)}}`).join(", ")})`;
  }
  return `${def.name}(${required.map((p) => `\${${n++}:${escapeSnippet(p.name)}}`).join(", ")})`;
}

export function typeSource(t: A.TypeExpr | null | undefined, text: string): string {
  if (!t || !(t.span.end > t.span.start)) return "";
  return text.slice(t.span.start, t.span.end);
}

export function defSignature(def: A.BlockMember, text: string): string {
  const ps = def.params.filter(Boolean).map((p) => `${p.name}: ${typeSource(p.type, text)}${p.default ? ` = ${text.slice(p.default.span.start, p.default.span.end)}` : ""}`);
  return `${def.kind} ${def.name}(${ps.join(", ")})${def.returns ? ` -> ${typeSource(def.returns, text)}` : ""}`;
}

/** 46_702_792_704 → "46,702,792,704 (46.7 B)". */
export function formatCount(n: number): string {
  const exact = Math.round(n).toLocaleString("en-US");
  const short = n >= 1e9 ? `${(n / 1e9).toFixed(n >= 1e11 ? 0 : 2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} K` : "";
  return short ? `${exact} (${short})` : exact;
}
