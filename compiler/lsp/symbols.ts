// The outline: the model, its constants, blocks and experts (with their parameters),
// inputs and outputs, straight from the AST.
import { SymbolKind, type DocumentSymbol } from "vscode-languageserver";
import type { Span } from "../diagnostics/diagnostic.js";
import type * as A from "../syntax/ast.js";
import type { Analysis } from "./analysis.js";
import { typeSource } from "./describe.js";

export function documentSymbols(a: Analysis): DocumentSymbol[] {
  const L = a.lines;
  const ok = (s: Span | null | undefined): s is Span => !!s && s.end > s.start;
  const sym = (name: string, detail: string, kind: SymbolKind, span: Span, nameSpan: Span, children?: DocumentSymbol[]): DocumentSymbol => {
    const range = L.range(Math.min(span.start, nameSpan.start), Math.max(span.end, nameSpan.end));
    return { name, detail, kind, range, selectionRange: L.spanRange(nameSpan), ...(children ? { children } : {}) };
  };
  const out: DocumentSymbol[] = [];
  for (const model of a.parse.program.models) {
    if (!model || !ok(model.nameSpan)) continue;
    const children: DocumentSymbol[] = [];
    for (const m of model.members) {
      if (!m) continue;
      switch (m.kind) {
        case "const":
          for (const it of m.items) {
            if (!it || !ok(it.nameSpan)) continue;
            children.push(sym(it.name, a.text.slice(it.value?.span.start ?? 0, it.value?.span.end ?? 0), SymbolKind.Constant, it.span, it.nameSpan));
          }
          break;
        case "block":
        case "expert": {
          if (!ok(m.nameSpan)) break;
          const params = m.params.filter((p): p is A.Param => !!p && ok(p.nameSpan)).map((p) => sym(p.name, typeSource(p.type, a.text), SymbolKind.TypeParameter, p.span, p.nameSpan));
          const detail = `${m.kind}(${m.params.filter(Boolean).map((p) => p.name).join(", ")})${m.returns ? ` -> ${typeSource(m.returns, a.text)}` : ""}`;
          children.push(sym(m.name, detail, m.kind === "expert" ? SymbolKind.Class : SymbolKind.Function, m.span, m.nameSpan, params));
          break;
        }
        case "input":
          if (ok(m.nameSpan)) children.push(sym(m.name, `input ${typeSource(m.type, a.text)}`, SymbolKind.Field, m.span, m.nameSpan));
          break;
        case "output":
          if (ok(m.nameSpan)) children.push(sym(m.name, "output", SymbolKind.Event, m.span, m.nameSpan));
          break;
        default:
          break;
      }
    }
    out.push(sym(model.name, "model", SymbolKind.Module, model.span, model.nameSpan, children));
  }
  return out;
}
