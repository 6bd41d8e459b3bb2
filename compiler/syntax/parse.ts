// Source text → AST plus every lexical and syntax diagnostic of the file.
import { Lexer, type IRecognitionException, type IToken, type TokenType } from "chevrotain";
import { diagnostic, type Diagnostic, type Span } from "../diagnostics/diagnostic.js";
import type { Comment, Program } from "./ast.js";
import { MoeParser, TooManySyntaxErrors } from "./parser.js";
import * as T from "./tokens.js";

export const MAX_SOURCE_BYTES = 16 * 1024 * 1024;
export const MAX_NESTING = 256;
/**
 * Tokens parsed per file. Parsing and checking hold several objects per token (the language
 * server more), so a 16 MiB file of one-character tokens would exhaust the heap; a real program
 * has a few thousand, and a sum of 200 000 terms about 400 000.
 */
export const MAX_TOKENS = 1_000_000;
/** After this many errors in one file the rest are summarised; a garbage file would print forever. */
export const MAX_SYNTAX_ERRORS = 50;

const lexer = new Lexer(T.allTokens as TokenType[], { positionTracking: "full", ensureOptimizations: false });
let parser: MoeParser | null = null;

export interface ParseResult {
  readonly program: Program;
  readonly diagnostics: readonly Diagnostic[];
  readonly tokens: readonly IToken[];
}

function spanOf(file: string, t: { startOffset: number; endOffset?: number; startLine?: number; startColumn?: number }): Span {
  const start = Number.isFinite(t.startOffset) ? t.startOffset : 0;
  return { file, start, end: (t.endOffset ?? start) + 1, line: t.startLine ?? 1, column: t.startColumn ?? 1 };
}

function describe(t: IToken): string {
  if (t.tokenType.name === "EOF") return "the end of the file";
  const img = t.image.length > 24 ? t.image.slice(0, 24) + "…" : t.image;
  return `'${img}'`;
}

/** Where the token past MAX_TOKENS starts (a cheap over-count: names, numbers, strings, comments, and any other character), or null. */
function tokenPastLimit(text: string): number | null {
  if (text.length <= MAX_TOKENS) return null;
  const re = /[A-Za-z_][A-Za-z0-9_]*|[0-9][0-9.eE]*|"[^"\n]*"?|\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)|\S/g;
  let n = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) if (++n > MAX_TOKENS) return m.index;
  return null;
}

export function parseSource(file: string, text: string): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const empty: Program = { file, models: [], comments: [] };
  if (text.length > MAX_SOURCE_BYTES) {
    return { program: empty, diagnostics: [diagnostic("MOE1006", { file, start: 0, end: 0, line: 1, column: 1 }, text.length, MAX_SOURCE_BYTES)], tokens: [] };
  }
  // Counted before lexing (the lexer's tokens alone take about 150 bytes each).
  const past = tokenPastLimit(text);
  if (past !== null) {
    const line = text.slice(0, past).split("\n");
    return { program: empty, diagnostics: [diagnostic("MOE1012", { file, start: past, end: past + 1, line: line.length, column: line.at(-1)!.length + 1 }, MAX_TOKENS.toLocaleString("en-US"))], tokens: [] };
  }
  const lexed = lexer.tokenize(text);
  for (const e of lexed.errors) {
    const ch = text.slice(e.offset, e.offset + 1);
    diagnostics.push(diagnostic("MOE1001", spanOf(file, { startOffset: e.offset, endOffset: e.offset, startLine: e.line, startColumn: e.column }), ch === "\u0000" ? "\\0" : ch));
  }
  const tokens: IToken[] = [];
  for (const t of lexed.tokens) {
    if (t.tokenType === T.UnterminatedString) {
      diagnostics.push(diagnostic("MOE1002", spanOf(file, t)));
      continue;
    }
    if (t.tokenType === T.NumberLiteral && !Number.isFinite(Number(t.image))) {
      diagnostics.push(diagnostic("MOE1009", spanOf(file, t), t.image));
    }
    tokens.push(t);
  }
  const comments: Comment[] = [];
  for (const t of (lexed.groups["comments"] ?? []) as IToken[]) {
    if (t.tokenType === T.UnterminatedBlockComment) diagnostics.push(diagnostic("MOE1003", spanOf(file, { ...t, endOffset: t.startOffset + 1 })));
    else comments.push({ text: t.image, span: spanOf(file, t) });
  }
  // Chevrotain recurses once per nesting level; refuse absurd nesting before it can overflow the stack.
  const deep = findExcessiveNesting(tokens);
  if (deep) {
    diagnostics.push(diagnostic("MOE1007", spanOf(file, deep), MAX_NESTING));
    return { program: { ...empty, comments }, diagnostics: capErrors(diagnostics, file), tokens };
  }
  parser ??= new MoeParser();
  parser.file = file;
  parser.errorLimit = MAX_SYNTAX_ERRORS + 1;
  parser.input = tokens;
  let models: Program["models"] = [];
  let errors: IRecognitionException[] = [];
  try {
    models = parser.program() ?? [];
    errors = parser.errors;
  } catch (e) {
    if (e instanceof TooManySyntaxErrors) {
      errors = parser.errors;
    } else if (e instanceof RangeError) {
      errors = parser.errors;
      // Point at the token the parser had reached when its recursion ran out: inside the deep construct.
      const at = tokens[Math.max(0, Math.min(tokens.length - 1, (parser as unknown as { exportLexerState(): number }).exportLexerState()))];
      diagnostics.push(diagnostic("MOE1007", at ? spanOf(file, at) : { file, start: 0, end: 0, line: 1, column: 1 }, MAX_NESTING));
    } else throw e;
    parser = null; // an aborted parse can leave the parser mid-rule; start the next one afresh
  }
  for (const err of errors) diagnostics.push(syntaxDiagnostic(file, err));
  diagnostics.sort((a, b) => (a.span?.start ?? 0) - (b.span?.start ?? 0));
  return { program: { file, models: models.filter(Boolean), comments }, diagnostics: capErrors(diagnostics, file), tokens };
}

function syntaxDiagnostic(file: string, err: IRecognitionException): Diagnostic {
  const t = err.token;
  // At the end of the file, point at the last real token: that is where something is missing.
  const prev = (err as IRecognitionException & { previousToken?: IToken }).previousToken;
  const at = t.tokenType.name === "EOF" && prev && Number.isFinite(prev.startOffset) ? prev : t;
  const span = spanOf(file, at);
  const expected = expectedFrom(err);
  return expected ? diagnostic("MOE1004", span, expected, describe(t)) : diagnostic("MOE1005", span, describe(t));
}

/** Chevrotain's messages list expected token names; turn them into what a person would write. */
function expectedFrom(err: IRecognitionException): string | null {
  const m = /Expecting (?:token of type )?--> (\w+) <--/.exec(err.message);
  if (m) return tokenDisplay(m[1]!);
  if (err.name === "NoViableAltException") {
    const inRule = err.context.ruleStack[err.context.ruleStack.length - 1] ?? "";
    const wanted: Record<string, string> = {
      member: "a declaration ('const', 'block', 'expert', 'input', 'output') or a statement",
      statement: "a statement (an assignment, 'return', 'if' or 'for')",
      primary: "an expression",
      expression: "an expression",
      typeExpr: "a type",
      blockDecl: "'block' or 'expert'",
    };
    return wanted[inRule] ?? "an expression";
  }
  if (err.name === "EarlyExitException") {
    const inRule = err.context.ruleStack[err.context.ruleStack.length - 1] ?? "";
    return inRule === "constDecl" ? "a name after 'const'" : "at least one item";
  }
  return null;
}

const DISPLAY: Record<string, string> = {
  Identifier: "a name", NumberLiteral: "a number", StringLiteral: "a string", LBrace: "'{'", RBrace: "'}'",
  LParen: "'('", RParen: "')'", LBracket: "'['", RBracket: "']'", Equals: "'='", Colon: "':'", Comma: "','",
  Arrow: "'->'", DotDot: "'..'", Then: "'then'", Else: "'else'", In: "'in'", Model: "'model'",
};
function tokenDisplay(name: string): string {
  return DISPLAY[name] ?? `'${name.toLowerCase()}'`;
}

function findExcessiveNesting(tokens: readonly IToken[]): IToken | null {
  let depth = 0;
  let prefixRun = 0;
  let prev: TokenType | null = null;
  for (const t of tokens) {
    const tt = t.tokenType;
    if (tt === T.LParen || tt === T.LBracket || tt === T.LBrace) depth++;
    else if (tt === T.RParen || tt === T.RBracket || tt === T.RBrace) depth = Math.max(0, depth - 1);
    // A '-' after an operand is binary (x - x - x: a flat chain), not a prefix.
    const binaryMinus = tt === T.Minus && prev !== null && (prev === T.Identifier || prev === T.NumberLiteral || prev === T.StringLiteral || prev === T.RParen || prev === T.RBracket);
    prev = tt;
    // Prefix operators and 'if ... then' also recurse without brackets.
    if ((tt === T.Minus && !binaryMinus) || tt === T.Not || tt === T.If || tt === T.Of || tt === T.StarStar) prefixRun++;
    else if (tt !== T.Identifier && tt !== T.NumberLiteral && tt !== T.Then && tt !== T.Else) prefixRun = Math.max(0, prefixRun - 1);
    if (depth > MAX_NESTING || prefixRun > MAX_NESTING) return t;
  }
  return null;
}

function capErrors(diags: Diagnostic[], file: string): Diagnostic[] {
  if (diags.length <= MAX_SYNTAX_ERRORS) return diags;
  const last = diags[MAX_SYNTAX_ERRORS - 1]!.span ?? { file, start: 0, end: 0, line: 1, column: 1 };
  return [...diags.slice(0, MAX_SYNTAX_ERRORS), diagnostic("MOE1011", last, diags.length - MAX_SYNTAX_ERRORS)];
}
