// The .moe grammar as a Chevrotain parser whose embedded actions build the AST directly.
// Error recovery is on: one run reports every syntax error in a file, and the partial AST
// still reaches the checker and the language server. The EBNF in dsl-spec/SPEC.md mirrors
// the rules below one to one.
import { EmbeddedActionsParser, type IToken, type TokenType } from "chevrotain";
import type { Span } from "../diagnostics/diagnostic.js";
import type * as A from "./ast.js";
import * as T from "./tokens.js";

const ERROR_SPAN: Span = { file: "", start: 0, end: 0, line: 1, column: 1 };

/** Thrown when a file has so many syntax errors that recovering from more would only cost time. */
export class TooManySyntaxErrors extends Error {}

export class MoeParser extends EmbeddedActionsParser {
  file = "";
  /** Stop parsing after this many errors (garbage files would otherwise take minutes). */
  errorLimit = Infinity;

  constructor() {
    super(T.allTokens as TokenType[], { recoveryEnabled: true, maxLookahead: 3 });
    this.performSelfAnalysis();
    // Chevrotain records every recognition error through SAVE_ERROR; stop once enough are known.
    const self = this as unknown as { SAVE_ERROR: (e: unknown) => unknown };
    const save = self.SAVE_ERROR.bind(this);
    self.SAVE_ERROR = (e: unknown) => {
      const r = save(e);
      if (this.errors.length > this.errorLimit) throw new TooManySyntaxErrors();
      return r;
    };
  }

  // ---- spans -------------------------------------------------------------------------

  private tokSpan(t: IToken): Span {
    if (t === undefined || Number.isNaN(t.startOffset) || t.isInsertedInRecovery) return { ...ERROR_SPAN, file: this.file };
    return { file: this.file, start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1, line: t.startLine ?? 1, column: t.startColumn ?? 1 };
  }

  private join(a: Span | undefined, b: Span | undefined): Span {
    if (!a || a.end === 0) return b ?? { ...ERROR_SPAN, file: this.file };
    if (!b || b.end === 0) return a;
    return { file: this.file, start: a.start, end: Math.max(a.end, b.end), line: a.line, column: a.column };
  }

  private errorExpr(): A.Expr {
    return { kind: "error", span: this.tokSpan(this.LA(0)) };
  }

  // ---- program and members ------------------------------------------------------------

  program = this.RULE("program", (): A.Model[] => {
    const models: A.Model[] = [];
    this.MANY(() => models.push(this.SUBRULE(this.model)));
    return models;
  });

  model = this.RULE("model", (): A.Model => {
    const kw = this.CONSUME(T.Model);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.LBrace);
    const members: A.Member[] = [];
    this.MANY(() => {
      const m = this.SUBRULE(this.member);
      if (m) members.push(m);
    });
    const close = this.CONSUME(T.RBrace);
    return { name: name.image, nameSpan: this.tokSpan(name), members, span: this.join(this.tokSpan(kw), this.tokSpan(close)) };
  });

  member = this.RULE("member", (): A.Member =>
    this.OR([
      { ALT: () => this.SUBRULE(this.constDecl) },
      { ALT: () => this.SUBRULE(this.blockDecl) },
      { ALT: () => this.SUBRULE(this.inputDecl) },
      { ALT: () => this.SUBRULE(this.outputDecl) },
      {
        ALT: () => {
          const stmt = this.SUBRULE(this.statement);
          return { kind: "stmt" as const, stmt, span: stmt?.span ?? this.tokSpan(this.LA(0)) };
        },
      },
    ]),
  );

  constDecl = this.RULE("constDecl", (): A.Member => {
    const kw = this.CONSUME(T.Const);
    const items: A.ConstItem[] = [];
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => {
        const name = this.CONSUME(T.Identifier);
        this.CONSUME(T.Equals);
        const value = this.SUBRULE(this.expression);
        items.push({ name: name.image, nameSpan: this.tokSpan(name), value, span: this.join(this.tokSpan(name), value?.span) });
      },
    });
    return { kind: "const", items, span: this.join(this.tokSpan(kw), items[items.length - 1]?.span) };
  });

  blockDecl = this.RULE("blockDecl", (): A.Member => {
    const kw = this.OR([{ ALT: () => this.CONSUME(T.Block) }, { ALT: () => this.CONSUME(T.Expert) }]);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    const params: A.Param[] = [];
    this.MANY_SEP({ SEP: T.Comma, DEF: () => params.push(this.SUBRULE(this.param)) });
    this.CONSUME(T.RParen);
    let returns: A.TypeExpr | null = null;
    this.OPTION(() => {
      this.CONSUME(T.Arrow);
      returns = this.SUBRULE(this.typeExpr);
    });
    const { body, close } = this.SUBRULE(this.body);
    return {
      kind: kw.image === "expert" ? "expert" : "block",
      name: name.image,
      nameSpan: this.tokSpan(name),
      params,
      returns,
      body,
      span: this.join(this.tokSpan(kw), this.tokSpan(close)),
    };
  });

  param = this.RULE("param", (): A.Param => {
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    const type = this.SUBRULE(this.typeExpr);
    let dflt: A.Expr | null = null;
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      dflt = this.SUBRULE(this.expression);
    });
    return { name: name.image, nameSpan: this.tokSpan(name), type, default: dflt, span: this.join(this.tokSpan(name), (dflt as A.Expr | null)?.span ?? type?.span) };
  });

  /** `f32[seq, d]`, `[T, d]` (f32 implied), or a scalar type `int`, `float`, `bool`, `string`. */
  typeExpr = this.RULE("typeExpr", (): A.TypeExpr => {
    let dtype: IToken | null = null;
    let dims: A.Expr[] | null = null;
    let close: IToken | null = null;
    const start = this.LA(1);
    this.OPTION(() => (dtype = this.CONSUME(T.Identifier)));
    this.OPTION2(() => {
      this.CONSUME(T.LBracket);
      dims = [];
      this.MANY_SEP({ SEP: T.Comma, DEF: () => dims!.push(this.SUBRULE(this.expression)) });
      close = this.CONSUME(T.RBracket);
    });
    const span = this.join(this.tokSpan(start), close ? this.tokSpan(close) : dtype ? this.tokSpan(dtype) : undefined);
    if (dims === null) return { kind: "scalar", name: (dtype as IToken | null)?.image ?? "", span };
    return { kind: "tensor", dtype: (dtype as IToken | null)?.image ?? null, dims, span };
  });

  inputDecl = this.RULE("inputDecl", (): A.Member => {
    const kw = this.CONSUME(T.Input);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    const type = this.SUBRULE(this.typeExpr);
    return { kind: "input", name: name.image, nameSpan: this.tokSpan(name), type, span: this.join(this.tokSpan(kw), type?.span) };
  });

  outputDecl = this.RULE("outputDecl", (): A.Member => {
    const kw = this.CONSUME(T.Output);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    const value = this.SUBRULE(this.expression);
    return { kind: "output", name: name.image, nameSpan: this.tokSpan(name), value, span: this.join(this.tokSpan(kw), value?.span) };
  });

  // ---- statements --------------------------------------------------------------------

  body = this.RULE("body", (): { body: A.Stmt[]; close: IToken } => {
    this.CONSUME(T.LBrace);
    const body: A.Stmt[] = [];
    this.MANY(() => {
      const s = this.SUBRULE(this.statement);
      if (s) body.push(s);
    });
    const close = this.CONSUME(T.RBrace);
    return { body, close };
  });

  statement = this.RULE("statement", (): A.Stmt =>
    this.OR([
      { ALT: () => this.SUBRULE(this.assignStmt) },
      { ALT: () => this.SUBRULE(this.returnStmt) },
      { ALT: () => this.SUBRULE(this.ifStmt) },
      { ALT: () => this.SUBRULE(this.forStmt) },
    ]),
  );

  assignStmt = this.RULE("assignStmt", (): A.Stmt => {
    const target = this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    const value = this.SUBRULE(this.expression);
    return { kind: "assign", target: target.image, targetSpan: this.tokSpan(target), value, span: this.join(this.tokSpan(target), value?.span) };
  });

  returnStmt = this.RULE("returnStmt", (): A.Stmt => {
    const kw = this.CONSUME(T.Return);
    const value = this.SUBRULE(this.expression);
    return { kind: "return", value, span: this.join(this.tokSpan(kw), value?.span) };
  });

  ifStmt = this.RULE("ifStmt", (): A.Stmt => {
    const kw = this.CONSUME(T.If);
    const cond = this.SUBRULE(this.expression);
    const thenPart = this.SUBRULE(this.body);
    let elsePart: A.Stmt[] | null = null;
    let end: IToken = thenPart?.close;
    this.OPTION(() => {
      this.CONSUME(T.Else);
      this.OR([
        {
          ALT: () => {
            const nested = this.SUBRULE2(this.ifStmt);
            elsePart = [nested];
          },
        },
        {
          ALT: () => {
            const b = this.SUBRULE2(this.body);
            elsePart = b?.body ?? [];
            end = b?.close;
          },
        },
      ]);
    });
    const last = elsePart !== null && (elsePart as A.Stmt[]).length === 1 && (elsePart as A.Stmt[])[0]?.kind === "if" ? (elsePart as A.Stmt[])[0]!.span : this.tokSpan(end);
    return { kind: "if", cond, then: thenPart?.body ?? [], else: elsePart, span: this.join(this.tokSpan(kw), last) };
  });

  forStmt = this.RULE("forStmt", (): A.Stmt => {
    const kw = this.CONSUME(T.For);
    const variable = this.CONSUME(T.Identifier);
    this.CONSUME(T.In);
    const from = this.SUBRULE(this.additive);
    this.CONSUME(T.DotDot);
    const to = this.SUBRULE2(this.additive);
    const b = this.SUBRULE(this.body);
    return {
      kind: "for",
      variable: variable.image,
      variableSpan: this.tokSpan(variable),
      from,
      to,
      body: b?.body ?? [],
      span: this.join(this.tokSpan(kw), this.tokSpan(b?.close)),
    };
  });

  // ---- expressions, lowest precedence first ------------------------------------------

  expression = this.RULE("expression", (): A.Expr =>
    this.OR([{ ALT: () => this.SUBRULE(this.conditional) }, { ALT: () => this.SUBRULE(this.orExpr) }]),
  );

  conditional = this.RULE("conditional", (): A.Expr => {
    const kw = this.CONSUME(T.If);
    const cond = this.SUBRULE(this.expression);
    this.CONSUME(T.Then);
    const then = this.SUBRULE2(this.expression);
    this.CONSUME(T.Else);
    const otherwise = this.SUBRULE3(this.expression);
    return { kind: "cond", cond, then, else: otherwise, span: this.join(this.tokSpan(kw), otherwise?.span) };
  });

  private binaryChain(first: A.Expr, rest: { op: A.BinaryOp; right: A.Expr }[]): A.Expr {
    let acc = first ?? this.errorExpr();
    for (const { op, right } of rest) {
      const r = right ?? this.errorExpr();
      acc = { kind: "binary", op, left: acc, right: r, span: this.join(acc.span, r.span) };
    }
    return acc;
  }

  orExpr = this.RULE("orExpr", (): A.Expr => {
    const first = this.SUBRULE(this.andExpr);
    const rest: { op: A.BinaryOp; right: A.Expr }[] = [];
    this.MANY(() => {
      this.CONSUME(T.Or);
      rest.push({ op: "or", right: this.SUBRULE2(this.andExpr) });
    });
    return this.binaryChain(first, rest);
  });

  andExpr = this.RULE("andExpr", (): A.Expr => {
    const first = this.SUBRULE(this.notExpr);
    const rest: { op: A.BinaryOp; right: A.Expr }[] = [];
    this.MANY(() => {
      this.CONSUME(T.And);
      rest.push({ op: "and", right: this.SUBRULE2(this.notExpr) });
    });
    return this.binaryChain(first, rest);
  });

  notExpr = this.RULE("notExpr", (): A.Expr =>
    this.OR([
      {
        ALT: () => {
          const kw = this.CONSUME(T.Not);
          const operand = this.SUBRULE(this.notExpr) ?? this.errorExpr();
          return { kind: "unary" as const, op: "not" as const, operand, span: this.join(this.tokSpan(kw), operand.span) };
        },
      },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]),
  );

  comparison = this.RULE("comparison", (): A.Expr => {
    const first = this.SUBRULE(this.ofExpr);
    const rest: { op: A.BinaryOp; right: A.Expr }[] = [];
    this.OPTION(() => {
      const op = this.OR([
        { ALT: () => this.CONSUME(T.EqEq) },
        { ALT: () => this.CONSUME(T.NotEq) },
        { ALT: () => this.CONSUME(T.LessEq) },
        { ALT: () => this.CONSUME(T.GreaterEq) },
        { ALT: () => this.CONSUME(T.Less) },
        { ALT: () => this.CONSUME(T.Greater) },
      ]);
      rest.push({ op: op.image as A.BinaryOp, right: this.SUBRULE2(this.ofExpr) });
    });
    return this.binaryChain(first, rest);
  });

  ofExpr = this.RULE("ofExpr", (): A.Expr => {
    const count = this.SUBRULE(this.additive);
    let item: A.Expr | null = null;
    this.OPTION(() => {
      this.CONSUME(T.Of);
      item = this.SUBRULE2(this.additive);
    });
    if (item === null) return count;
    const it = (item as A.Expr) ?? this.errorExpr();
    const c = count ?? this.errorExpr();
    return { kind: "of", count: c, item: it, span: this.join(c.span, it.span) };
  });

  additive = this.RULE("additive", (): A.Expr => {
    const first = this.SUBRULE(this.multiplicative);
    const rest: { op: A.BinaryOp; right: A.Expr }[] = [];
    this.MANY(() => {
      const op = this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      rest.push({ op: op.image as A.BinaryOp, right: this.SUBRULE2(this.multiplicative) });
    });
    return this.binaryChain(first, rest);
  });

  multiplicative = this.RULE("multiplicative", (): A.Expr => {
    const first = this.SUBRULE(this.unary);
    const rest: { op: A.BinaryOp; right: A.Expr }[] = [];
    this.MANY(() => {
      const op = this.OR([
        { ALT: () => this.CONSUME(T.Star) },
        { ALT: () => this.CONSUME(T.Slash) },
        { ALT: () => this.CONSUME(T.Percent) },
      ]);
      rest.push({ op: op.image as A.BinaryOp, right: this.SUBRULE2(this.unary) });
    });
    return this.binaryChain(first, rest);
  });

  unary = this.RULE("unary", (): A.Expr =>
    this.OR([
      {
        ALT: () => {
          const minus = this.CONSUME(T.Minus);
          const operand = this.SUBRULE(this.unary) ?? this.errorExpr();
          return { kind: "unary" as const, op: "-" as const, operand, span: this.join(this.tokSpan(minus), operand.span) };
        },
      },
      { ALT: () => this.SUBRULE(this.power) },
    ]),
  );

  /** `a ** b` is right-associative and binds tighter than unary minus on its left. */
  power = this.RULE("power", (): A.Expr => {
    const base = this.SUBRULE(this.postfix);
    let exp: A.Expr | null = null;
    this.OPTION(() => {
      this.CONSUME(T.StarStar);
      exp = this.SUBRULE(this.unary);
    });
    if (exp === null) return base;
    const b = base ?? this.errorExpr();
    const e = (exp as A.Expr) ?? this.errorExpr();
    return { kind: "binary", op: "**", left: b, right: e, span: this.join(b.span, e.span) };
  });

  postfix = this.RULE("postfix", (): A.Expr => {
    let expr = this.SUBRULE(this.primary) ?? this.errorExpr();
    this.MANY(() => {
      this.CONSUME(T.At);
      const name = this.CONSUME(T.StringLiteral);
      const nameSpan = this.tokSpan(name);
      expr = { kind: "named", expr, name: unquote(name.image ?? '""'), nameSpan, span: this.join(expr.span, nameSpan) };
    });
    return expr;
  });

  primary = this.RULE("primary", (): A.Expr =>
    this.OR([
      {
        ALT: () => {
          const t = this.CONSUME(T.NumberLiteral);
          const text = t.image ?? "0";
          return { kind: "num" as const, value: Number(text), isInt: /^\d+$/.test(text), text, span: this.tokSpan(t) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.StringLiteral);
          return { kind: "str" as const, value: unquote(t.image ?? '""'), span: this.tokSpan(t) };
        },
      },
      { ALT: () => ({ kind: "bool" as const, value: true, span: this.tokSpan(this.CONSUME(T.True)) }) },
      { ALT: () => ({ kind: "bool" as const, value: false, span: this.tokSpan(this.CONSUME(T.False)) }) },
      { ALT: () => ({ kind: "none" as const, span: this.tokSpan(this.CONSUME(T.None)) }) },
      { ALT: () => this.SUBRULE(this.nameOrCall) },
      {
        ALT: () => {
          const open = this.CONSUME(T.LParen);
          const inner = this.SUBRULE(this.expression) ?? this.errorExpr();
          const close = this.CONSUME(T.RParen);
          // Keep the parentheses in the span so carets cover what the user wrote.
          return { ...inner, span: this.join(this.tokSpan(open), this.tokSpan(close)) } as A.Expr;
        },
      },
      {
        ALT: () => {
          const open = this.CONSUME(T.LBracket);
          const items: A.Expr[] = [];
          this.MANY_SEP({ SEP: T.Comma, DEF: () => items.push(this.SUBRULE2(this.expression) ?? this.errorExpr()) });
          const close = this.CONSUME(T.RBracket);
          return { kind: "list" as const, items, span: this.join(this.tokSpan(open), this.tokSpan(close)) };
        },
      },
    ]),
  );

  nameOrCall = this.RULE("nameOrCall", (): A.Expr => {
    const name = this.CONSUME(T.Identifier);
    const nameSpan = this.tokSpan(name);
    let args: A.Arg[] | null = null;
    let close: IToken | null = null;
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      args = [];
      this.MANY_SEP({ SEP: T.Comma, DEF: () => args!.push(this.SUBRULE(this.argument)) });
      close = this.CONSUME(T.RParen);
    });
    if (args === null) return { kind: "name", name: name.image, span: nameSpan };
    return { kind: "call", callee: name.image, calleeSpan: nameSpan, args, span: this.join(nameSpan, this.tokSpan(close as unknown as IToken)) };
  });

  argument = this.RULE("argument", (): A.Arg =>
    this.OR([
      {
        // Keywords are allowed as argument names (`topk(k = 2, input = h)`).
        GATE: () => this.LA(2).tokenType === T.Equals,
        ALT: () => {
          const name = this.OR2([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.CONSUME(T.KeywordCategory) }]);
          this.CONSUME(T.Equals);
          const value = this.SUBRULE(this.expression) ?? this.errorExpr();
          return { name: name.image, nameSpan: this.tokSpan(name), value, span: this.join(this.tokSpan(name), value.span) };
        },
      },
      {
        ALT: () => {
          const value = this.SUBRULE2(this.expression) ?? this.errorExpr();
          return { name: null, nameSpan: null, value, span: value.span };
        },
      },
    ]),
  );
}

/** String literals allow the escapes \" \\ \n \t; anything else after a backslash stays as written. */
export function unquote(image: string): string {
  return image.slice(1, -1).replace(/\\(["\\nt])/g, (_m, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c));
}
