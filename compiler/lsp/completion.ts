// Completion: built-in ops and records with signature snippets, named constants, variables
// and parameters in scope, blocks and experts, keyword arguments inside a call to a
// built-in or a block, the allowed strings of a one-of argument, and keywords.
import { CompletionItemKind, InsertTextFormat, type CompletionItem } from "vscode-languageserver";
import { DTYPES } from "../ir/types.js";
import { BUILTIN_EXPERTS, BUILTINS } from "../sema/builtins.js";
import type { ParamSig } from "../sema/signature.js";
import type * as A from "../syntax/ast.js";
import type { Analysis } from "./analysis.js";
import { cursorContext, type CursorContext } from "./context.js";
import { builtinDoc, builtinSignature, builtinSnippet, defSignature, defSnippet, fence, formatParamSig, formatValue, typeSource } from "./describe.js";
import type { Resolution, Sym } from "./resolver.js";

const SCALAR_TYPES = ["int", "float", "bool", "string"];
const MODEL_KEYWORDS = ["const", "block", "expert", "input", "output", "for", "if"];
const VALUE_KEYWORDS = ["true", "false", "none", "if", "not"];

/** `resolution` may come from an older version of the document when the current one does not parse. */
export function complete(a: Analysis, offset: number, fallback: Resolution | null): CompletionItem[] {
  const ctx = cursorContext(a.allTokens, a.text, offset);
  const res = a.parses || !fallback ? a.resolution : fallback;
  switch (ctx.kind) {
    case "none":
      return [];
    case "type":
      return [...new Set([...DTYPES, ...SCALAR_TYPES])].map((t, i) => ({
        label: t,
        kind: CompletionItemKind.TypeParameter,
        detail: (DTYPES as readonly string[]).includes(t) ? (SCALAR_TYPES.includes(t) ? "dtype, or scalar type" : "dtype") : "scalar type",
        sortText: `0${String(i).padStart(2, "0")}`,
      }));
    case "argument":
      return [...keywordArgs(ctx, res, a), ...values(a, res, offset, "1")];
    case "kwvalue":
      return [...argValues(ctx, res), ...values(a, res, offset, "1")];
    case "statement":
      return [...statementKeywords(a, res, offset, ctx.depth), ...values(a, res, offset, "1")];
    case "expression":
      return values(a, res, offset, "1");
  }
}

function signatureOf(callee: string, res: Resolution): { sig: readonly ParamSig[] | null; def: A.BlockMember | null } {
  const def = res.defs.get(callee)?.def ?? null;
  if (def) return { sig: null, def };
  return { sig: BUILTINS.get(callee)?.sig ?? null, def: null };
}

function keywordArgs(ctx: Extract<CursorContext, { kind: "argument" }>, res: Resolution, a: Analysis): CompletionItem[] {
  const { sig, def } = signatureOf(ctx.callee, res);
  const items: CompletionItem[] = [];
  if (sig) {
    const taken = new Set(sig.filter((p) => p.positional).slice(0, ctx.positionalBefore).map((p) => p.name));
    sig.forEach((p, i) => {
      if (ctx.given.has(p.name) || taken.has(p.name)) return;
      items.push({
        label: `${p.name} =`,
        filterText: p.name,
        kind: CompletionItemKind.Property,
        detail: formatParamSig(p),
        documentation: p.doc ? { kind: "markdown", value: p.doc } : undefined,
        insertText: `${p.name} = `,
        // Required arguments first, then in signature order.
        sortText: `0${p.default === undefined ? 0 : 1}${String(i).padStart(2, "0")}`,
      });
    });
  } else if (def) {
    def.params.forEach((p, i) => {
      if (!p || ctx.given.has(p.name) || i < ctx.positionalBefore) return;
      items.push({
        label: `${p.name} =`,
        filterText: p.name,
        kind: CompletionItemKind.Property,
        detail: `${p.name}: ${typeSource(p.type, a.text)}${p.default ? " (optional)" : ""}`,
        insertText: `${p.name} = `,
        sortText: `0${p.default === null ? 0 : 1}${String(i).padStart(2, "0")}`,
      });
    });
  }
  return items;
}

/** `scoring = |` offers "softmax", "sigmoid", …; `router = |` offers topk(…) and expert_choice(…). */
function argValues(ctx: Extract<CursorContext, { kind: "kwvalue" }>, res: Resolution): CompletionItem[] {
  const { sig } = signatureOf(ctx.callee, res);
  const p = sig?.find((s) => s.name === ctx.param);
  if (!p || typeof p.type === "string") {
    if (p?.type === "bool") return ["true", "false"].map((v) => ({ label: v, kind: CompletionItemKind.Value, sortText: "00" }));
    return [];
  }
  if ("oneOf" in p.type) {
    return p.type.oneOf.map((v, i) => ({
      label: JSON.stringify(v),
      kind: CompletionItemKind.EnumMember,
      detail: p.default && formatValue(p.default) === JSON.stringify(v) ? "default" : undefined,
      sortText: `00${i}`,
    }));
  }
  if ("record" in p.type) return p.type.record.filter((r) => BUILTINS.has(r)).map((r) => builtinItem(r, "0"));
  return [];
}

function statementKeywords(a: Analysis, res: Resolution, offset: number, depth: number): CompletionItem[] {
  let words: string[];
  if (depth === 0) words = ["model"];
  else if (res.blockAt(offset) || blockBodyByBraces(a, offset)) words = ["return", "if", "for"];
  else if (depth === 1) words = MODEL_KEYWORDS;
  else words = ["if", "for"];
  return words.map((w) => ({ label: w, kind: CompletionItemKind.Keyword, sortText: `0${w}` }));
}

/** While a block is half typed the AST may have lost it; look for `block Name(...) ... {` before the cursor. */
function blockBodyByBraces(a: Analysis, offset: number): boolean {
  const before = a.text.slice(0, offset);
  const m = [...before.matchAll(/\b(block|expert)\s+[A-Za-z_]\w*\s*\(/g)].pop();
  if (!m) return false;
  let depth = 0;
  for (let i = m.index; i < before.length; i++) {
    if (before[i] === "{") depth++;
    else if (before[i] === "}") depth--;
  }
  return depth > 0;
}

function builtinItem(name: string, sort: string): CompletionItem {
  const b = BUILTINS.get(name)!;
  return {
    label: name,
    kind: b.kind === "record" ? CompletionItemKind.Struct : CompletionItemKind.Function,
    detail: builtinSignature(name, b),
    documentation: { kind: "markdown", value: builtinDoc(name) ?? b.summary },
    insertText: builtinSnippet(name),
    insertTextFormat: InsertTextFormat.Snippet,
    sortText: `${sort}3${name}`,
  };
}

function symItem(s: Sym, a: Analysis, res: Resolution, sort: string): CompletionItem {
  switch (s.kind) {
    case "block":
    case "expert":
      return {
        label: s.name,
        kind: CompletionItemKind.Class,
        detail: defSignature(s.def!, a.text),
        insertText: defSnippet(s.def!),
        insertTextFormat: InsertTextFormat.Snippet,
        sortText: `${sort}2${s.name}`,
      };
    case "const": {
      const decl = res.refsTo(s).find((r) => r.kind === "sym" && r.decl);
      const value = decl && decl.kind === "sym" && decl.value ? a.text.slice(decl.value.span.start, decl.value.span.end) : "";
      return { label: s.name, kind: CompletionItemKind.Constant, detail: value ? `const ${s.name} = ${value.length > 60 ? value.slice(0, 60) + "…" : value}` : `const ${s.name}`, sortText: `${sort}1${s.name}` };
    }
    case "param":
      return { label: s.name, kind: CompletionItemKind.Variable, detail: `parameter ${s.name}: ${typeSource(s.param?.type, a.text)}`, sortText: `${sort}0${s.name}` };
    case "input":
      return { label: s.name, kind: CompletionItemKind.Variable, detail: `input ${s.name}: ${typeSource(s.type, a.text)}`, sortText: `${sort}0${s.name}` };
    default:
      return { label: s.name, kind: CompletionItemKind.Variable, detail: s.kind === "loop" ? "loop variable" : "variable", sortText: `${sort}0${s.name}` };
  }
}

/** Everything that can start an expression at `offset`. */
function values(a: Analysis, res: Resolution, offset: number, sort: string): CompletionItem[] {
  const items: CompletionItem[] = [];
  const seen = new Set<string>();
  const add = (it: CompletionItem) => {
    if (seen.has(it.label)) return;
    seen.add(it.label);
    items.push(it);
  };
  const block = res.blockAt(offset);
  if (block) for (const s of res.locals.get(block)?.values() ?? []) add(symItem(s, a, res, sort));
  for (const s of res.globals.values()) {
    // Model-level variables are visible in blocks too, but only constants are dependable there.
    if (block && s.kind !== "const") continue;
    add(symItem(s, a, res, sort));
  }
  for (const s of res.defs.values()) add(symItem(s, a, res, sort));
  for (const name of BUILTINS.keys()) add(builtinItem(name, sort));
  for (const name of BUILTIN_EXPERTS) add({ label: name, kind: CompletionItemKind.Value, detail: "built-in parameter-free expert", documentation: { kind: "markdown", value: fence(`1 of ${name}`) }, sortText: `${sort}4${name}` });
  for (const w of VALUE_KEYWORDS) add({ label: w, kind: CompletionItemKind.Keyword, sortText: `${sort}5${w}` });
  return items;
}
