// Go to definition, find references, highlights and rename, all over the resolver's refs.
// A keyword argument of a block call refers to the block's parameter, and a `{name}`
// placeholder in a weight name refers to the variable, so renames keep them in step.
import { DocumentHighlightKind, ResponseError, ErrorCodes, type DocumentHighlight, type Location, type Range, type WorkspaceEdit } from "vscode-languageserver";
import { BUILTIN_EXPERTS, BUILTINS } from "../sema/builtins.js";
import { keywords } from "../syntax/tokens.js";
import type { Analysis } from "./analysis.js";
import type { Ref, Sym } from "./resolver.js";

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEYWORDS = new Set(keywords.map((k) => (k.PATTERN as RegExp).source));

function symAt(a: Analysis, offset: number): { sym: Sym; ref: Ref } | null {
  const r = a.resolution.refAt(offset);
  if (!r) return null;
  if (r.kind === "sym") return { sym: r.sym, ref: r };
  if (r.kind === "kwarg" && r.sym) return { sym: r.sym, ref: r };
  return null;
}

export function definition(a: Analysis, offset: number): Location | null {
  const hit = symAt(a, offset);
  if (!hit) return null;
  return { uri: a.uri, range: a.lines.spanRange(hit.sym.decl) };
}

export function references(a: Analysis, offset: number, includeDeclaration: boolean): Location[] {
  const hit = symAt(a, offset);
  if (!hit) return [];
  return a.resolution
    .refsTo(hit.sym)
    .filter((r) => includeDeclaration || !(r.kind === "sym" && r.start === hit.sym.decl.start))
    .map((r) => ({ uri: a.uri, range: a.lines.range(r.start, r.end) }));
}

export function highlights(a: Analysis, offset: number): DocumentHighlight[] {
  const hit = symAt(a, offset);
  if (!hit) return [];
  return a.resolution.refsTo(hit.sym).map((r) => ({
    range: a.lines.range(r.start, r.end),
    kind: r.kind === "sym" && (r.decl || r.value !== undefined || r.loop !== undefined) ? DocumentHighlightKind.Write : DocumentHighlightKind.Read,
  }));
}

function refuse(message: string): never {
  throw new ResponseError(ErrorCodes.InvalidRequest, message);
}

/** The range to rename and its current text; refuses built-ins and keywords with a reason. */
export function prepareRename(a: Analysis, offset: number): { range: Range; placeholder: string } {
  const r = a.resolution.refAt(offset);
  if (!r) refuse("Nothing to rename here.");
  if (r.kind === "builtin") refuse(`'${r.name}' is a built-in op and cannot be renamed.`);
  if (r.kind === "builtinExpert") refuse(`'${r.name}' is a built-in expert and cannot be renamed.`);
  if (r.kind === "type") refuse(`'${r.name}' is a built-in type and cannot be renamed.`);
  if (r.kind === "unresolved") refuse(`'${r.name}' is not defined.`);
  if (r.kind === "kwarg" && !r.sym) refuse(`'${r.name}' is a parameter of the built-in '${r.callee}' and cannot be renamed.`);
  const sym = r.kind === "sym" ? r.sym : r.sym!;
  return { range: a.lines.range(r.start, r.end), placeholder: sym.name };
}

export function rename(a: Analysis, offset: number, newName: string): WorkspaceEdit {
  prepareRename(a, offset);
  const hit = symAt(a, offset)!;
  if (!IDENTIFIER.test(newName)) refuse(`'${newName}' is not a valid name: names are letters, digits and '_', not starting with a digit.`);
  if (KEYWORDS.has(newName)) refuse(`'${newName}' is a keyword.`);
  if (BUILTINS.has(newName) || (BUILTIN_EXPERTS as readonly string[]).includes(newName)) refuse(`'${newName}' is a built-in name.`);
  const sym = hit.sym;
  if (sym.kind !== "model" && sym.kind !== "output") {
    const res = a.resolution;
    const clash =
      ((sym.kind === "block" || sym.kind === "expert") && res.defs.has(newName)) ||
      (sym.container === null && sym.kind !== "block" && sym.kind !== "expert" && res.globals.has(newName)) ||
      (sym.container !== null && res.locals.get(sym.container)?.has(newName));
    if (clash) refuse(`'${newName}' is already defined in this scope.`);
  }
  const edits = a.resolution.refsTo(sym).map((r) => ({ range: a.lines.range(r.start, r.end), newText: newName }));
  return { changes: { [a.uri]: edits } };
}
