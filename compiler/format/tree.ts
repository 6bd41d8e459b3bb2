// The formatter's own tree: the compiler's AST (syntax/ast.ts) re-shaped for prettier.
// Every node gets a `type` and the exact source range it covers (`start`, `end`), computed
// from the tokens so that:
//  - an expression's range is the expression itself, without the parentheses around it
//    (the parser folds them into the span); the printer decides parentheses by precedence;
//  - the bracketed parts a comment can sit in have nodes of their own, each knowing where
//    its opening bracket is: `Args` (a call's `(...)`), `Params`, `Dims` (`[...]` of a
//    type), `List`, `Body` (`{...}` of a block, if, else, for) and `Model`.
import type { IToken } from "chevrotain";
import type * as A from "../syntax/ast.js";

export interface Loc {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
}

export interface FComment extends Loc {
  readonly type: "Comment";
  /** The comment as written, `// ...` or `/* ... *\/`. */
  readonly value: string;
  // Set by prettier while it attaches comments.
  leading?: boolean;
  trailing?: boolean;
  printed?: boolean;
  marker?: string;
  placement?: "ownLine" | "endOfLine" | "remaining";
  enclosingNode?: FNode;
  precedingNode?: FNode;
  followingNode?: FNode;
}

interface Base extends Loc {
  comments?: FComment[];
}
/** A bracketed list; `open` is the offset of its opening bracket. */
interface Bracketed extends Base {
  readonly open: number;
}

export interface FProgram extends Base {
  readonly type: "Program";
  readonly text: string;
  readonly models: FModel[];
  comments?: FComment[];
}
export interface FModel extends Bracketed {
  readonly type: "Model";
  readonly name: string;
  readonly members: FMember[];
}
export interface FConst extends Base {
  readonly type: "Const";
  readonly items: FConstItem[];
}
export interface FConstItem extends Base {
  readonly type: "ConstItem";
  readonly name: string;
  readonly value: FExpr;
}
export interface FBlock extends Base {
  readonly type: "Block";
  readonly keyword: "block" | "expert";
  readonly name: string;
  readonly params: FParams;
  readonly returns: FType | null;
  readonly body: FBody;
}
export interface FParams extends Bracketed {
  readonly type: "Params";
  readonly items: FParam[];
}
export interface FParam extends Base {
  readonly type: "Param";
  readonly name: string;
  readonly ty: FType;
  readonly default: FExpr | null;
}
/** A type; an empty one (`x:`, which parses but does not check) has name "", no dims and an empty range. */
export interface FType extends Base {
  readonly type: "Type";
  /** The dtype (`f32`) or scalar type name (`int`); null when a tensor type leaves it out. */
  readonly name: string | null;
  readonly dims: FDims | null;
}
export interface FDims extends Bracketed {
  readonly type: "Dims";
  readonly items: FExpr[];
}
export interface FInput extends Base {
  readonly type: "Input";
  readonly name: string;
  readonly ty: FType;
}
export interface FOutput extends Base {
  readonly type: "Output";
  readonly name: string;
  readonly value: FExpr;
}
export interface FAssign extends Base {
  readonly type: "Assign";
  readonly target: string;
  readonly value: FExpr;
}
export interface FReturn extends Base {
  readonly type: "Return";
  readonly value: FExpr;
}
export interface FIf extends Base {
  readonly type: "If";
  readonly cond: FExpr;
  readonly thenBody: FBody;
  /** `else if ...` as written (an If), `else { ... }` (a Body), or none. */
  readonly elseNode: FIf | FBody | null;
}
export interface FFor extends Base {
  readonly type: "For";
  readonly variable: string;
  readonly from: FExpr;
  readonly to: FExpr;
  readonly body: FBody;
}
export interface FBody extends Bracketed {
  readonly type: "Body";
  readonly stmts: FStmt[];
}

export type FStmt = FAssign | FReturn | FIf | FFor;
export type FMember = FConst | FBlock | FInput | FOutput | FStmt;

export interface FNum extends Base {
  readonly type: "Num";
  readonly text: string;
}
export interface FStr extends Base {
  readonly type: "Str";
  /** The literal as written, quotes and escapes included. */
  readonly raw: string;
}
export interface FBool extends Base {
  readonly type: "Bool";
  readonly value: boolean;
}
export interface FNone extends Base {
  readonly type: "None";
}
export interface FName extends Base {
  readonly type: "Name";
  readonly name: string;
}
export interface FCall extends Base {
  readonly type: "Call";
  readonly callee: string;
  readonly args: FArgs;
}
export interface FArgs extends Bracketed {
  readonly type: "Args";
  readonly items: FArg[];
}
export interface FArg extends Base {
  readonly type: "Arg";
  readonly name: string | null;
  readonly value: FExpr;
}
export interface FBinary extends Base {
  readonly type: "Binary";
  readonly op: A.BinaryOp;
  readonly left: FExpr;
  readonly right: FExpr;
}
export interface FUnary extends Base {
  readonly type: "Unary";
  readonly op: "-" | "not";
  readonly operand: FExpr;
}
export interface FCond extends Base {
  readonly type: "Cond";
  readonly test: FExpr;
  readonly then: FExpr;
  readonly otherwise: FExpr;
}
export interface FList extends Bracketed {
  readonly type: "List";
  readonly items: FExpr[];
}
export interface FOf extends Base {
  readonly type: "Of";
  readonly count: FExpr;
  readonly item: FExpr;
}
export interface FNamed extends Base {
  readonly type: "Named";
  readonly expr: FExpr;
  /** The weight-name string as written, quotes included. */
  readonly raw: string;
}

export type FExpr = FNum | FStr | FBool | FNone | FName | FCall | FBinary | FUnary | FCond | FList | FOf | FNamed;

export type FNode =
  | FProgram
  | FModel
  | FMember
  | FConstItem
  | FParams
  | FParam
  | FType
  | FDims
  | FBody
  | FArgs
  | FArg
  | FExpr;

/** The nodes a comment can sit directly inside, between their brackets. */
export type FBracketed = FModel | FBody | FParams | FDims | FArgs | FList;

export function isBracketed(n: FNode | undefined): n is FBracketed {
  return n !== undefined && (n.type === "Model" || n.type === "Body" || n.type === "Params" || n.type === "Dims" || n.type === "Args" || n.type === "List");
}

/** The child nodes of a node, in source order (what comments can attach to). */
export function childNodes(n: FNode): FNode[] {
  const out: (FNode | null)[] = [];
  switch (n.type) {
    case "Program": out.push(...n.models); break;
    case "Model": out.push(...n.members); break;
    case "Const": out.push(...n.items); break;
    case "ConstItem": out.push(n.value); break;
    case "Block": out.push(n.params, n.returns, n.body); break;
    case "Params": out.push(...n.items); break;
    case "Param": out.push(n.ty, n.default); break;
    case "Type": out.push(n.dims); break;
    case "Dims": out.push(...n.items); break;
    case "Input": out.push(n.ty); break;
    case "Output": out.push(n.value); break;
    case "Assign": out.push(n.value); break;
    case "Return": out.push(n.value); break;
    case "If": out.push(n.cond, n.thenBody, n.elseNode); break;
    case "For": out.push(n.from, n.to, n.body); break;
    case "Body": out.push(...n.stmts); break;
    case "Call": out.push(n.args); break;
    case "Args": out.push(...n.items); break;
    case "Arg": out.push(n.value); break;
    case "Binary": out.push(n.left, n.right); break;
    case "Unary": out.push(n.operand); break;
    case "Cond": out.push(n.test, n.then, n.otherwise); break;
    case "List": out.push(...n.items); break;
    case "Of": out.push(n.count, n.item); break;
    case "Named": out.push(n.expr); break;
    case "Num": case "Str": case "Bool": case "None": case "Name": break;
  }
  return out.filter((c): c is FNode => c !== null);
}

/** Where a problem in the conversion is, for the error message. */
export class TreeError extends Error {}

/** Token lookups by offset, and the matching bracket of every bracket token. */
class Tokens {
  private readonly byStart = new Map<number, number>();
  private readonly byEnd = new Map<number, number>();
  private readonly match: Int32Array;

  constructor(readonly list: readonly IToken[]) {
    this.match = new Int32Array(list.length).fill(-1);
    const stack: number[] = [];
    list.forEach((t, i) => {
      this.byStart.set(t.startOffset, i);
      this.byEnd.set((t.endOffset ?? t.startOffset) + 1, i);
      const k = t.tokenType.name;
      if (k === "LParen" || k === "LBracket" || k === "LBrace") stack.push(i);
      else if (k === "RParen" || k === "RBracket" || k === "RBrace") {
        const o = stack.pop();
        if (o !== undefined) {
          this.match[o] = i;
          this.match[i] = o;
        }
      }
    });
  }

  kind(i: number): string {
    return this.list[i]?.tokenType.name ?? "";
  }
  start(i: number): number {
    return this.list[i]!.startOffset;
  }
  end(i: number): number {
    const t = this.list[i]!;
    return (t.endOffset ?? t.startOffset) + 1;
  }
  at(offset: number): number | undefined {
    return this.byStart.get(offset);
  }
  endingAt(offset: number): number | undefined {
    return this.byEnd.get(offset);
  }
  matching(i: number): number {
    const m = this.match[i] ?? -1;
    if (m < 0) throw new TreeError(`unbalanced bracket at offset ${this.start(i)}`);
    return m;
  }
  /** The index of the first token of kind `kind` starting at or after `offset`. */
  next(offset: number, kind: string): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.list[mid]!.startOffset < offset) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.list.length; i++) if (this.kind(i) === kind) return i;
    throw new TreeError(`no ${kind} after offset ${offset}`);
  }
}

/** Converts a parsed program (without syntax errors) to the formatter's tree. */
export function buildTree(program: A.Program, tokens: readonly IToken[], text: string): FProgram {
  const tk = new Tokens(tokens);

  /** An expression's range without the parentheses around it. */
  function bare(span: { start: number; end: number }): Loc {
    let i = tk.at(span.start);
    let j = tk.endingAt(span.end);
    if (i === undefined || j === undefined) throw new TreeError(`no tokens at ${span.start}..${span.end}`);
    while (i < j && tk.kind(i) === "LParen" && tk.kind(j) === "RParen" && tk.matching(i) === j) {
      i++;
      j--;
    }
    return { start: tk.start(i), end: tk.end(j) };
  }

  function body(openIndex: number, stmts: readonly A.Stmt[]): FBody {
    const close = tk.matching(openIndex);
    return { type: "Body", open: tk.start(openIndex), start: tk.start(openIndex), end: tk.end(close), stmts: stmts.map(stmt) };
  }

  /** `after` is the end of the ':' or '->' before the type: where an empty type sits. */
  function typeNode(t: A.TypeExpr, after: number): FType {
    if (t.kind === "scalar") {
      if (t.name === "") return { type: "Type", name: "", dims: null, start: after, end: after };
      return { type: "Type", name: t.name, dims: null, start: t.span.start, end: t.span.end };
    }
    const open = tk.next(t.span.start, "LBracket");
    const close = tk.matching(open);
    const dims: FDims = { type: "Dims", open: tk.start(open), start: tk.start(open), end: tk.end(close), items: t.dims.map(expr) };
    return { type: "Type", name: t.dtype, dims, start: t.span.start, end: tk.end(close) };
  }

  function expr(e: A.Expr): FExpr {
    const loc = bare(e.span);
    switch (e.kind) {
      case "num":
        return { type: "Num", text: e.text, ...loc };
      case "str":
        return { type: "Str", raw: text.slice(loc.start, loc.end), ...loc };
      case "bool":
        return { type: "Bool", value: e.value, ...loc };
      case "none":
        return { type: "None", ...loc };
      case "name":
        return { type: "Name", name: e.name, ...loc };
      case "call": {
        const open = tk.at(e.calleeSpan.start)! + 1;
        const close = tk.matching(open);
        const args: FArgs = {
          type: "Args",
          open: tk.start(open),
          start: tk.start(open),
          end: tk.end(close),
          items: e.args.map((a): FArg => {
            const value = expr(a.value);
            return { type: "Arg", name: a.name, value, start: Math.min(a.span.start, value.start), end: Math.max(a.span.end, value.end) };
          }),
        };
        return { type: "Call", callee: e.callee, args, ...loc };
      }
      case "binary":
        return { type: "Binary", op: e.op, left: expr(e.left), right: expr(e.right), ...loc };
      case "unary":
        return { type: "Unary", op: e.op, operand: expr(e.operand), ...loc };
      case "cond":
        return { type: "Cond", test: expr(e.cond), then: expr(e.then), otherwise: expr(e.else), ...loc };
      case "list":
        return { type: "List", open: loc.start, items: e.items.map(expr), ...loc };
      case "of":
        return { type: "Of", count: expr(e.count), item: expr(e.item), ...loc };
      case "named":
        return { type: "Named", expr: expr(e.expr), raw: text.slice(e.nameSpan.start, e.nameSpan.end), ...loc };
      case "error":
        throw new TreeError(`an expression is missing at offset ${e.span.start}`);
    }
  }

  function stmt(s: A.Stmt): FStmt {
    switch (s.kind) {
      case "assign":
        return { type: "Assign", target: s.target, value: expr(s.value), start: s.span.start, end: s.span.end };
      case "return":
        return { type: "Return", value: expr(s.value), start: s.span.start, end: s.span.end };
      case "for": {
        const open = tk.next(s.span.start, "LBrace");
        return { type: "For", variable: s.variable, from: expr(s.from), to: expr(s.to), body: body(open, s.body), start: s.span.start, end: s.span.end };
      }
      case "if": {
        const open = tk.next(s.span.start, "LBrace");
        const thenBody = body(open, s.then);
        let elseNode: FIf | FBody | null = null;
        if (s.else !== null) {
          const elseKw = tk.matching(open) + 1;
          if (tk.kind(elseKw) !== "Else") throw new TreeError(`expected 'else' at offset ${tk.start(elseKw)}`);
          const after = elseKw + 1;
          if (tk.kind(after) === "If") {
            const nested = s.else[0];
            if (s.else.length !== 1 || nested?.kind !== "if") throw new TreeError("an 'else if' without its if");
            elseNode = stmt(nested) as FIf;
          } else elseNode = body(after, s.else);
        }
        return { type: "If", cond: expr(s.cond), thenBody, elseNode, start: s.span.start, end: elseNode?.end ?? thenBody.end };
      }
    }
  }

  function member(m: A.Member): FMember {
    switch (m.kind) {
      case "stmt":
        return stmt(m.stmt);
      case "const":
        return {
          type: "Const",
          items: m.items.map((it): FConstItem => {
            const value = expr(it.value);
            return { type: "ConstItem", name: it.name, value, start: it.nameSpan.start, end: Math.max(value.end, it.span.end) };
          }),
          start: m.span.start,
          end: m.span.end,
        };
      case "input": {
        const ty = typeNode(m.type, tk.end(tk.at(m.nameSpan.start)! + 1));
        return { type: "Input", name: m.name, ty, start: m.span.start, end: ty.end };
      }
      case "output":
        return { type: "Output", name: m.name, value: expr(m.value), start: m.span.start, end: m.span.end };
      case "block":
      case "expert": {
        const pOpen = tk.next(m.nameSpan.end, "LParen");
        const pClose = tk.matching(pOpen);
        const params: FParams = {
          type: "Params",
          open: tk.start(pOpen),
          start: tk.start(pOpen),
          end: tk.end(pClose),
          items: m.params.map((p): FParam => {
            const ty = typeNode(p.type, tk.end(tk.at(p.nameSpan.start)! + 1));
            const dflt = p.default === null ? null : expr(p.default);
            return { type: "Param", name: p.name, ty, default: dflt, start: p.nameSpan.start, end: dflt?.end ?? ty.end };
          }),
        };
        const returns = m.returns === null ? null : typeNode(m.returns, tk.end(pClose + 1));
        const open = tk.next(tk.end(pClose), "LBrace");
        return { type: "Block", keyword: m.kind, name: m.name, params, returns, body: body(open, m.body), start: m.span.start, end: m.span.end };
      }
    }
  }

  const models = program.models.map((m): FModel => {
    const open = tk.next(m.nameSpan.end, "LBrace");
    return { type: "Model", name: m.name, open: tk.start(open), members: m.members.map(member), start: m.span.start, end: tk.end(tk.matching(open)) };
  });
  return { type: "Program", text, models, start: 0, end: text.length };
}
