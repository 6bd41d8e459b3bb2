// Folding ranges: every bracket pair `{ } ( ) [ ]` that spans lines, block comments, and
// runs of line comments, from the lexer's tokens.
import { FoldingRangeKind, type FoldingRange } from "vscode-languageserver";
import * as T from "../syntax/tokens.js";
import type { Analysis } from "./analysis.js";

export function foldingRanges(a: Analysis): FoldingRange[] {
  const out: FoldingRange[] = [];
  const stack: number[] = [];
  let commentRun: { start: number; end: number } | null = null;
  const flushComments = () => {
    if (commentRun && commentRun.end > commentRun.start) out.push({ startLine: commentRun.start, endLine: commentRun.end, kind: FoldingRangeKind.Comment });
    commentRun = null;
  };
  for (const t of a.allTokens) {
    const tt = t.tokenType;
    const line = a.lines.positionAt(t.startOffset).line;
    if (tt === T.LineComment) {
      if (commentRun && commentRun.end === line - 1) commentRun.end = line;
      else {
        flushComments();
        commentRun = { start: line, end: line };
      }
      continue;
    }
    flushComments();
    if (tt === T.BlockComment || tt === T.UnterminatedBlockComment) {
      const end = a.lines.positionAt((t.endOffset ?? t.startOffset) + 1).line;
      if (end > line) out.push({ startLine: line, endLine: end, kind: FoldingRangeKind.Comment });
    } else if (tt === T.LBrace || tt === T.LParen || tt === T.LBracket) stack.push(line);
    else if (tt === T.RBrace || tt === T.RParen || tt === T.RBracket) {
      const start = stack.pop();
      // Fold up to the line before the closing bracket, so it stays visible.
      if (start !== undefined && line - 1 > start) out.push({ startLine: start, endLine: line - 1 });
    }
  }
  flushComments();
  return out;
}
