// Where the cursor is, syntactically, from the token stream (robust while a line is half
// typed and the AST is partial): inside a comment or string, inside a call's argument list
// (which callee, which argument, which names are already given), after ':' in a type, or
// at the start of a statement.
import type { IToken } from "chevrotain";
import * as T from "../syntax/tokens.js";

export type CursorContext =
  | { readonly kind: "none" }
  /** Argument position of a call: a keyword-argument name or a value may follow. */
  | { readonly kind: "argument"; readonly callee: string; readonly given: ReadonlySet<string>; readonly index: number; readonly positionalBefore: number }
  /** After `name =` inside a call: the value of that keyword argument. */
  | { readonly kind: "kwvalue"; readonly callee: string; readonly param: string; readonly given: ReadonlySet<string>; readonly index: number }
  | { readonly kind: "type" }
  | { readonly kind: "statement"; readonly depth: number }
  | { readonly kind: "expression"; readonly call: { readonly callee: string; readonly index: number; readonly param: string | null } | null };

function isName(t: IToken | undefined): boolean {
  return !!t && (t.tokenType === T.Identifier || t.tokenType.CATEGORIES?.includes(T.KeywordCategory) === true);
}

function endOf(t: IToken): number {
  return (t.endOffset ?? t.startOffset) + 1;
}

/** The call whose argument list the token at `i` is in: its callee, the `(` index, argument index, names given. */
export interface EnclosingCall {
  readonly callee: string;
  /** Index of the `(`. */
  readonly open: number;
  /** Which argument the token at `i` is in (commas before it). */
  readonly index: number;
  /** Names given as keyword arguments anywhere in the list. */
  readonly given: Set<string>;
  /** Positional arguments that start at or before `i`. */
  readonly positionalBefore: number;
  /** The keyword of the argument the token at `i` is in, if it has one. */
  readonly param: string | null;
}

const OPEN = new Set([T.LParen, T.LBracket, T.LBrace]);
const CLOSE = new Set([T.RParen, T.RBracket, T.RBrace]);

/** The call whose argument list the token at `i` is in. */
export function enclosingCall(tokens: readonly IToken[], i: number): EnclosingCall | null {
  let depth = 0;
  let index = 0;
  let param: string | null = null;
  for (let j = i; j >= 0; j--) {
    const t = tokens[j]!;
    const tt = t.tokenType;
    if (CLOSE.has(tt)) depth++;
    else if (OPEN.has(tt)) {
      if (depth === 0) {
        if (tt !== T.LParen) return null;
        const callee = tokens[j - 1];
        if (!callee || callee.tokenType !== T.Identifier) return null;
        // Every argument of the list: its first token and its keyword, if any.
        const given = new Set<string>();
        let positionalBefore = 0;
        let d = 0;
        for (let k = j + 1; k < tokens.length; k++) {
          const u = tokens[k]!;
          if (d === 0 && CLOSE.has(u.tokenType)) break;
          if (d === 0 && (k === j + 1 || tokens[k - 1]!.tokenType === T.Comma) && u.tokenType !== T.Comma) {
            if (isName(u) && tokens[k + 1]?.tokenType === T.Equals) given.add(u.image);
            else if (k <= i) positionalBefore++;
          }
          if (OPEN.has(u.tokenType)) d++;
          else if (CLOSE.has(u.tokenType)) d--;
        }
        return { callee: callee.image, open: j, index, given, positionalBefore, param };
      }
      depth--;
    } else if (depth === 0 && tt === T.Comma) index++;
    else if (depth === 0 && tt === T.Equals && index === 0 && param === null && isName(tokens[j - 1]) && (tokens[j - 2]?.tokenType === T.LParen || tokens[j - 2]?.tokenType === T.Comma)) {
      param = tokens[j - 1]!.image;
    }
  }
  return null;
}

/** Index of the last token that ends at or before `offset`, or -1. Tokens are sorted. */
export function tokenBefore(tokens: readonly IToken[], offset: number): number {
  let lo = 0;
  let hi = tokens.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (endOf(tokens[mid]!) <= offset) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

const COMMENTS = new Set([T.LineComment, T.BlockComment, T.UnterminatedBlockComment]);

/**
 * The context at `offset`. `tokens` must include comments (Analysis.allTokens). The word
 * being typed (an identifier ending at the cursor) is not part of the context.
 */
export function cursorContext(tokens: readonly IToken[], text: string, offset: number): CursorContext {
  // Inside a comment or string?
  const at = tokenBefore(tokens, offset);
  const next = tokens[at + 1];
  if (next && next.startOffset < offset) {
    const tt = next.tokenType;
    if (COMMENTS.has(tt) || tt === T.StringLiteral || tt === T.UnterminatedString) return { kind: "none" };
  }
  let i = at;
  const last = tokens[i];
  if (last && endOf(last) === offset) {
    if (last.tokenType === T.LineComment || last.tokenType === T.UnterminatedString || last.tokenType === T.UnterminatedBlockComment) return { kind: "none" };
    if (isName(last) || last.tokenType === T.NumberLiteral) i--; // the word being typed
  }
  // Comments say nothing about the syntax around them.
  const sig: IToken[] = [];
  let k = -1;
  for (let j = 0; j < tokens.length; j++) {
    if (COMMENTS.has(tokens[j]!.tokenType)) continue;
    sig.push(tokens[j]!);
    if (j <= i) k = sig.length - 1;
  }
  const prev = sig[k];
  if (!prev) return { kind: "statement", depth: 0 };
  const call = enclosingCall(sig, k);
  if (call) {
    if (prev.tokenType === T.LParen && k === call.open) return { kind: "argument", callee: call.callee, given: call.given, index: 0, positionalBefore: 0 };
    if (prev.tokenType === T.Comma) return { kind: "argument", callee: call.callee, given: call.given, index: call.index, positionalBefore: call.positionalBefore };
    if (prev.tokenType === T.Equals && isName(sig[k - 1]) && (sig[k - 2]?.tokenType === T.LParen || sig[k - 2]?.tokenType === T.Comma)) {
      return { kind: "kwvalue", callee: call.callee, param: sig[k - 1]!.image, given: call.given, index: call.index };
    }
    return { kind: "expression", call: { callee: call.callee, index: call.index, param: call.param } };
  }
  if (prev.tokenType === T.Colon || prev.tokenType === T.Arrow) return { kind: "type" };
  // Inside brackets (a list or a shape) it is an expression.
  let depth = 0;
  let braces = 0;
  for (let j = k; j >= 0; j--) {
    const tt = sig[j]!.tokenType;
    if (tt === T.RParen || tt === T.RBracket) depth++;
    else if (tt === T.LParen || tt === T.LBracket) {
      if (depth === 0) return { kind: "expression", call: null };
      depth--;
    } else if (tt === T.LBrace) braces++;
    else if (tt === T.RBrace) braces--;
  }
  // Statements need no terminator: a new line after a complete expression starts one.
  const prevLineBreak = /[\r\n]/.test(text.slice(endOf(prev), offset));
  const ends = prev.tokenType === T.LBrace || prev.tokenType === T.RBrace || (prevLineBreak && endsExpression(prev));
  return ends ? { kind: "statement", depth: Math.max(0, braces) } : { kind: "expression", call: null };
}

function endsExpression(t: IToken): boolean {
  const tt = t.tokenType;
  return tt === T.Identifier || tt === T.NumberLiteral || tt === T.StringLiteral || tt === T.RParen || tt === T.RBracket || tt === T.True || tt === T.False || tt === T.None;
}
