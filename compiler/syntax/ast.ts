// The abstract syntax tree of a .moe file. Plain readonly data with a span on every node;
// built by the parser's embedded actions (parser.ts), consumed by sema and the formatter.
import type { Span } from "../diagnostics/diagnostic.js";

export type BinaryOp = "+" | "-" | "*" | "/" | "%" | "**" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "and" | "or";

export type Expr =
  | { readonly kind: "num"; readonly value: number; readonly isInt: boolean; readonly text: string; readonly span: Span }
  | { readonly kind: "str"; readonly value: string; readonly span: Span }
  | { readonly kind: "bool"; readonly value: boolean; readonly span: Span }
  | { readonly kind: "none"; readonly span: Span }
  | { readonly kind: "name"; readonly name: string; readonly span: Span }
  | { readonly kind: "call"; readonly callee: string; readonly calleeSpan: Span; readonly args: readonly Arg[]; readonly span: Span }
  | { readonly kind: "binary"; readonly op: BinaryOp; readonly left: Expr; readonly right: Expr; readonly span: Span }
  | { readonly kind: "unary"; readonly op: "-" | "not"; readonly operand: Expr; readonly span: Span }
  | { readonly kind: "cond"; readonly cond: Expr; readonly then: Expr; readonly else: Expr; readonly span: Span }
  | { readonly kind: "list"; readonly items: readonly Expr[]; readonly span: Span }
  /** `8 of SwiGLU(ffn = 1024)`: a count of identical experts. */
  | { readonly kind: "of"; readonly count: Expr; readonly item: Expr; readonly span: Span }
  /** `linear(x, d) @ "w2"`: a weight name for whatever parameters the expression creates. */
  | { readonly kind: "named"; readonly expr: Expr; readonly name: string; readonly nameSpan: Span; readonly span: Span }
  /** Left by error recovery where an expression was expected. */
  | { readonly kind: "error"; readonly span: Span };

export interface Arg {
  readonly name: string | null;
  readonly nameSpan: Span | null;
  readonly value: Expr;
  readonly span: Span;
}

export type TypeExpr =
  | { readonly kind: "tensor"; readonly dtype: string | null; readonly dims: readonly Expr[]; readonly span: Span }
  | { readonly kind: "scalar"; readonly name: string; readonly span: Span };

export type Stmt =
  | { readonly kind: "assign"; readonly target: string; readonly targetSpan: Span; readonly value: Expr; readonly span: Span }
  | { readonly kind: "return"; readonly value: Expr; readonly span: Span }
  | { readonly kind: "if"; readonly cond: Expr; readonly then: readonly Stmt[]; readonly else: readonly Stmt[] | null; readonly span: Span }
  | { readonly kind: "for"; readonly variable: string; readonly variableSpan: Span; readonly from: Expr; readonly to: Expr; readonly body: readonly Stmt[]; readonly span: Span };

export interface Param {
  readonly name: string;
  readonly nameSpan: Span;
  readonly type: TypeExpr;
  readonly default: Expr | null;
  readonly span: Span;
}

export interface ConstItem {
  readonly name: string;
  readonly nameSpan: Span;
  readonly value: Expr;
  readonly span: Span;
}

export type Member =
  | { readonly kind: "const"; readonly items: readonly ConstItem[]; readonly span: Span }
  | {
      readonly kind: "block" | "expert";
      readonly name: string;
      readonly nameSpan: Span;
      readonly params: readonly Param[];
      readonly returns: TypeExpr | null;
      readonly body: readonly Stmt[];
      readonly span: Span;
    }
  | { readonly kind: "input"; readonly name: string; readonly nameSpan: Span; readonly type: TypeExpr; readonly span: Span }
  | { readonly kind: "output"; readonly name: string; readonly nameSpan: Span; readonly value: Expr; readonly span: Span }
  | { readonly kind: "stmt"; readonly stmt: Stmt; readonly span: Span };

export type BlockMember = Extract<Member, { kind: "block" | "expert" }>;

export interface Model {
  readonly name: string;
  readonly nameSpan: Span;
  readonly members: readonly Member[];
  readonly span: Span;
}

export interface Comment {
  readonly text: string;
  readonly span: Span;
}

export interface Program {
  readonly file: string;
  readonly models: readonly Model[];
  readonly comments: readonly Comment[];
}
