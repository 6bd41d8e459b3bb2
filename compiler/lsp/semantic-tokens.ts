// Semantic tokens from the compiler's own lexer tokens, classified by the resolver:
// keywords, numbers, strings, comments, operators; identifiers as functions (built-ins),
// classes (blocks/experts), variables, parameters, properties (keyword-argument names),
// types (dtypes) and type parameters (shape variables).
import type { IToken } from "chevrotain";
import type { SemanticTokens, SemanticTokensLegend } from "vscode-languageserver";
import * as T from "../syntax/tokens.js";
import type { Analysis } from "./analysis.js";
import type { Ref } from "./resolver.js";

export const TOKEN_TYPES = ["keyword", "number", "string", "comment", "function", "class", "variable", "parameter", "property", "type", "typeParameter", "operator", "namespace", "enumMember"] as const;
export const TOKEN_MODIFIERS = ["declaration", "readonly", "defaultLibrary"] as const;
type TokenType = (typeof TOKEN_TYPES)[number];
type Modifier = (typeof TOKEN_MODIFIERS)[number];

export const LEGEND: SemanticTokensLegend = { tokenTypes: [...TOKEN_TYPES], tokenModifiers: [...TOKEN_MODIFIERS] };

const typeIndex = new Map<string, number>(TOKEN_TYPES.map((t, i) => [t, i]));
const modBit = new Map<string, number>(TOKEN_MODIFIERS.map((m, i) => [m, 1 << i]));

function classifyRef(r: Ref): [TokenType, Modifier[]] | null {
  switch (r.kind) {
    case "builtin":
      return ["function", ["defaultLibrary"]];
    case "builtinExpert":
      return ["enumMember", ["defaultLibrary"]];
    case "kwarg":
      return ["property", []];
    case "type":
      return ["type", ["defaultLibrary"]];
    case "unresolved":
      return ["variable", []];
    case "sym": {
      const d: Modifier[] = r.decl ? ["declaration"] : [];
      switch (r.sym.kind) {
        case "model":
          return ["namespace", d];
        case "block":
        case "expert":
          return ["class", d];
        case "param":
          return ["parameter", d];
        case "dim":
          return ["typeParameter", d];
        case "const":
          return ["variable", [...d, "readonly"]];
        default:
          return ["variable", d];
      }
    }
  }
}

function classifyToken(t: IToken): [TokenType, Modifier[]] | null {
  const tt = t.tokenType;
  if (tt === T.NumberLiteral) return ["number", []];
  if (tt === T.StringLiteral || tt === T.UnterminatedString) return ["string", []];
  if (tt === T.LineComment || tt === T.BlockComment || tt === T.UnterminatedBlockComment) return ["comment", []];
  if (tt.CATEGORIES?.includes(T.KeywordCategory)) return ["keyword", []];
  if (tt === T.Identifier) return null;
  if (tt === T.LParen || tt === T.RParen || tt === T.LBracket || tt === T.RBracket || tt === T.LBrace || tt === T.RBrace || tt === T.Comma || tt === T.Colon || tt === T.Dot) return null;
  return ["operator", []];
}

/** Encodes tokens relative to each other (LSP's format); multi-line comments are split per line. */
export function semanticTokens(a: Analysis): SemanticTokens {
  const data: number[] = [];
  let prevLine = 0;
  let prevChar = 0;
  const push = (start: number, end: number, type: TokenType, mods: Modifier[]) => {
    const p = a.lines.positionAt(start);
    const lastLine = a.lines.positionAt(end).line;
    for (let line = p.line; line <= lastLine; line++) {
      const s = line === p.line ? start : a.lines.lineStart(line);
      const e = line === lastLine ? end : a.lines.lineEnd(line);
      if (e <= s) continue;
      const ch = s - a.lines.lineStart(line);
      data.push(line - prevLine, line === prevLine ? ch - prevChar : ch, e - s, typeIndex.get(type)!, mods.reduce((m, x) => m | modBit.get(x)!, 0));
      prevLine = line;
      prevChar = ch;
    }
  };
  const res = a.resolution;
  for (const t of a.allTokens) {
    const start = t.startOffset;
    const end = (t.endOffset ?? start) + 1;
    const isName = t.tokenType === T.Identifier || t.tokenType.CATEGORIES?.includes(T.KeywordCategory);
    let cls: [TokenType, Modifier[]] | null = null;
    if (isName) {
      const r = res.refAt(start);
      if (r && r.start === start) cls = classifyRef(r);
    }
    cls ??= classifyToken(t);
    if (!cls && t.tokenType === T.Identifier) cls = ["variable", []];
    if (cls) push(start, end, cls[0], cls[1]);
  }
  return { data };
}
