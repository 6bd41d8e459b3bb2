// Everything the server knows about one version of one document, computed lazily and at
// most once: the parse (always), name resolution (navigation, completion, highlighting),
// and the check (diagnostics, hovers). Requests on the same version share the work.
import type { IToken, TokenType } from "chevrotain";
import { hasErrors, type Diagnostic } from "../diagnostics/diagnostic.js";
import { parseSource, type ParseResult } from "../syntax/parse.js";
import * as T from "../syntax/tokens.js";
import { LineIndex } from "./positions.js";
import { checkForEditor, type CheckInfo } from "./recorder.js";
import { resolve, type Resolution } from "./resolver.js";

function synthetic(tokenType: TokenType, start: number, end: number, image: string): IToken {
  return { image, startOffset: start, endOffset: end - 1, tokenType, tokenTypeIdx: tokenType.tokenTypeIdx ?? 0 } as IToken;
}

export class Analysis {
  readonly lines: LineIndex;
  private _parse: ParseResult | null = null;
  private _resolution: Resolution | null = null;
  private _check: CheckInfo | null = null;
  private _tokens: IToken[] | null = null;

  constructor(
    readonly uri: string,
    readonly version: number,
    readonly text: string,
  ) {
    this.lines = new LineIndex(text);
  }

  get parse(): ParseResult {
    return (this._parse ??= parseSource(this.uri, this.text));
  }

  get resolution(): Resolution {
    return (this._resolution ??= resolve(this.parse.program, this.text));
  }

  /** Whether the text parses without errors (the checker runs only then). */
  get parses(): boolean {
    return !hasErrors(this.parse.diagnostics);
  }

  /** The checker's results; null while the file has syntax errors. */
  get check(): CheckInfo | null {
    if (!this.parses) return null;
    return (this._check ??= checkForEditor(this.parse.program));
  }

  /** Whether `check` has already been computed (it is the expensive part). */
  get checked(): boolean {
    return this._check !== null;
  }

  /** The same diagnostics `moec check` reports for this text. */
  get diagnostics(): readonly Diagnostic[] {
    const parsed = this.parse.diagnostics;
    const check = this.check;
    return check ? [...parsed, ...check.diagnostics] : parsed;
  }

  /**
   * Every token including comments and unterminated strings, in order: the parser's tokens
   * plus the comments it set aside, and the unterminated strings and block comment it
   * reported (so no second lexing pass).
   */
  get allTokens(): readonly IToken[] {
    if (this._tokens) return this._tokens;
    const { program, tokens, diagnostics } = this.parse;
    const extra: IToken[] = program.comments.map((c) => synthetic(c.text.startsWith("//") ? T.LineComment : T.BlockComment, c.span.start, c.span.end, c.text));
    for (const d of diagnostics) {
      if (!d.span) continue;
      if (d.code === "MOE1002") extra.push(synthetic(T.UnterminatedString, d.span.start, d.span.end, this.text.slice(d.span.start, d.span.end)));
      else if (d.code === "MOE1003") extra.push(synthetic(T.UnterminatedBlockComment, d.span.start, this.text.length, this.text.slice(d.span.start)));
    }
    this._tokens = extra.length === 0 ? [...tokens] : [...tokens, ...extra].sort((a, b) => a.startOffset - b.startOffset);
    return this._tokens;
  }
}

/** One analysis per open document, replaced when the document's version changes. */
export class AnalysisCache {
  private readonly entries = new Map<string, Analysis>();
  /** The newest version of each document whose check ran without syntax errors. */
  private readonly lastChecked = new Map<string, Analysis>();

  get(uri: string, version: number, text: () => string): Analysis {
    const cached = this.entries.get(uri);
    if (cached && cached.version === version) return cached;
    if (cached && cached.parses) this.lastChecked.set(uri, cached);
    const a = new Analysis(uri, version, text());
    this.entries.set(uri, a);
    return a;
  }

  /** The most recent analysis of `uri` that parsed; used for completion while a line is half typed. */
  lastGood(uri: string): Analysis | null {
    const cur = this.entries.get(uri);
    if (cur && cur.parses) return cur;
    return this.lastChecked.get(uri) ?? null;
  }

  delete(uri: string): void {
    this.entries.delete(uri);
    this.lastChecked.delete(uri);
  }
}
