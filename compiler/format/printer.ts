// The prettier printer for .moe trees (tree.ts): the layout rules and the comment rules.
//
// Layout: 2-space indentation, one member or statement per line, at most one blank line
// kept between them; spaces around binary operators, `=` and `@`; numbers and strings as
// written. Calls, lists, parameter lists and type dims are prettier groups: flat when they
// fit in the print width, otherwise one item per line. `const a = 1, b = 2` stays one
// declaration; when it is too long it breaks after its commas. Parentheses are printed
// where precedence needs them (and around a conditional used as a condition), not where
// the input happened to have them.
//
// Comments: prettier attaches each comment to the nearest node by offset (leading,
// trailing, or dangling inside an empty node); `handleComments` below adjusts the cases
// where the default would move a comment across a bracket on the next run.
import { builders } from "prettier/doc";
import type { AstPath, Doc, ParserOptions, Printer } from "prettier";
import { childNodes, isBracketed, type FComment, type FExpr, type FNode } from "./tree.js";

const { breakParent, group, hardline, indent, join, line, lineSuffix, literalline, softline } = builders;

type Print = (selector?: string | number | (string | number)[] | Path) => Doc;
// The tree is a union of node types; prettier's typed path helpers cannot follow it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Path = AstPath<any>;

// ---- precedence ----------------------------------------------------------------------

/** Loosest first; mirrors the grammar's rule order (dsl-spec/SPEC.md §3). */
const P = { cond: 0, or: 1, and: 2, not: 3, cmp: 4, of: 5, add: 6, mul: 7, neg: 8, pow: 9, postfix: 10, primary: 11 } as const;

function level(e: FExpr): number {
  switch (e.type) {
    case "Cond": return P.cond;
    case "Of": return P.of;
    case "Named": return P.postfix;
    case "Unary": return e.op === "not" ? P.not : P.neg;
    case "Binary":
      switch (e.op) {
        case "or": return P.or;
        case "and": return P.and;
        case "+": case "-": return P.add;
        case "*": case "/": case "%": return P.mul;
        case "**": return P.pow;
        default: return P.cmp;
      }
    default: return P.primary;
  }
}

/** The levels a binary operator's operands must have (left-associative, except `**`; comparisons do not chain). */
function operandLevels(op: string): [number, number] {
  switch (op) {
    case "or": return [P.or, P.and];
    case "and": return [P.and, P.not];
    case "+": case "-": return [P.add, P.mul];
    case "*": case "/": case "%": return [P.mul, P.neg];
    case "**": return [P.postfix, P.neg];
    default: return [P.of, P.of];
  }
}

/** Prints the child expression at `key`, in parentheses when it binds looser than `min`. */
function sub(path: Path, print: Print, key: string, min: number): Doc {
  const child = (path.node as unknown as Record<string, FExpr>)[key]!;
  const doc = print(key);
  return level(child) < min ? ["(", doc, ")"] : doc;
}

// ---- source text helpers -------------------------------------------------------------

/** Whether the line after the one `index` is on (past trailing comments) is blank. */
function isNextLineEmpty(text: string, index: number): boolean {
  let i = index;
  for (;;) {
    while (text[i] === " " || text[i] === "\t") i++;
    if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      if (end < 0) return false;
      i = end + 2;
      continue;
    }
    break;
  }
  if (text.startsWith("//", i)) {
    const nl = text.indexOf("\n", i);
    if (nl < 0) return false;
    i = nl;
  }
  if (text[i] === "\r") i++;
  if (text[i] !== "\n") return false;
  i++;
  while (text[i] === " " || text[i] === "\t" || text[i] === "\r") i++;
  return text[i] === "\n";
}

/** Whether text[from, to) holds code other than whitespace, comments and parentheses. */
function tokenBetween(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const ch = text[i]!;
    if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || ch === "(" || ch === ")") continue;
    if (text.startsWith("//", i)) {
      const nl = text.indexOf("\n", i);
      if (nl < 0 || nl >= to) return false;
      i = nl;
      continue;
    }
    if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      if (end < 0 || end + 2 > to) return false;
      i = end + 1;
      continue;
    }
    return true;
  }
  return false;
}

/** Whether text[from, to) — whitespace, comments and parentheses only — holds a line comment. */
function lineCommentBetween(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    if (text.startsWith("//", i)) return true;
    if (text.startsWith("/*", i)) i = Math.max(i, text.indexOf("*/", i + 2) + 1);
  }
  return false;
}

function newlineBefore(text: string, index: number): boolean {
  let i = index - 1;
  while (text[i] === " " || text[i] === "\t") i--;
  return i < 0 || text[i] === "\n" || text[i] === "\r";
}

// ---- comments --------------------------------------------------------------------------

const isLineComment = (c: FComment): boolean => c.value.startsWith("//");

function commentText(c: FComment): Doc {
  if (isLineComment(c)) return c.value.trimEnd();
  const lines = c.value.split("\n");
  return lines.length === 1 ? c.value : join(literalline, lines);
}

/** The same bookkeeping as prettier's own addLeadingComment / addTrailingComment / addDanglingComment. */
function attach(node: FNode, c: FComment, how: "leading" | "trailing" | "dangling", marker?: string): true {
  c.leading = how === "leading";
  c.trailing = how === "trailing";
  if (marker !== undefined) c.marker = marker;
  c.printed = false;
  (node.comments ??= []).push(c);
  return true;
}

/**
 * Adjusts prettier's default attachment where it would not be stable:
 *  1. between an if's then-body and `else`: a trailing comment of the then-body (the if
 *     printer then starts `else` on a new line after it);
 *  2. between a statement's (or the model's) header and its `{`: moved just after the `{`
 *     (a line comment left before it would be printed after the `{` on the next run anyway);
 *  3. after an operator or keyword between two operands (`a + // why` then `b`, `-> // why`):
 *     a leading comment of what follows (prettier would make it trailing of what precedes,
 *     and print it before the operator);
 *  4. just after an opening bracket on the same line (`moe( // why`, `{ // why`): kept
 *     there rather than becoming a leading comment of the first item;
 *  5. on its own line after the last item of `(...)`/`[...]`: kept before the closing
 *     bracket, so the group breaks and the comment stays inside it;
 *  6. after a line comment that already ends the operand before it (`(a + b // why`, then
 *     `) // more` and `* c`): it cannot share that line, and printed on a line of its own it
 *     would read on the next run as a comment before the operator — so, as there, a leading
 *     comment of what follows.
 */
function handleComment(comment: unknown, text: string): boolean {
  const c = comment as FComment;
  const enc = c.enclosingNode;
  const prev = c.precedingNode;
  const next = c.followingNode;
  if (enc?.type === "If" && enc.elseNode !== null && c.start >= enc.thenBody.end && c.end <= enc.elseNode.start) {
    return attach(enc.thenBody, c, "trailing");
  }
  if (next?.type === "Body" && prev?.type !== "Body" && c.end <= next.start) return attach(next, c, "dangling", "open");
  if (prev && next && !isBracketed(enc) && enc?.type !== "Const" && tokenBetween(text, prev.end, c.start)) return attach(next, c, "leading");
  if (prev && next && !isBracketed(enc) && enc?.type !== "Const" && lineCommentBetween(text, prev.end, c.start)) return attach(next, c, "leading");
  if (enc?.type === "Model" && c.end <= enc.open) return attach(enc, c, "dangling", "open");
  if (isBracketed(enc)) {
    const braces = enc.type === "Body" || enc.type === "Model";
    if (!prev && c.start > enc.open && !/[\n\r]/.test(text.slice(enc.open, c.start)) && (isLineComment(c) || braces)) {
      return attach(enc, c, "dangling", "open");
    }
    if (prev && !next && !braces && c.placement === "ownLine") return attach(enc, c, "dangling", "close");
  }
  return false;
}

interface Printed {
  readonly doc: Doc;
  /** A line comment, or a block comment spanning lines: what follows it is on another line. */
  readonly line: boolean;
}

/** Dangling comments of the current node with this marker (none: unmarked); marks them printed. */
function dangling(path: Path, marker: string | undefined): Printed[] {
  const node = path.node as FNode;
  const out: Printed[] = [];
  for (const c of node.comments ?? []) {
    if (c.leading || c.trailing || c.printed || c.marker !== marker) continue;
    c.printed = true;
    out.push({ doc: isLineComment(c) ? [commentText(c), breakParent] : commentText(c), line: isLineComment(c) || c.value.includes("\n") });
  }
  return out;
}

/** Comments after an opening bracket: on its line, and a new line after each line comment. */
function afterOpen(open: readonly Printed[]): Doc[] {
  return open.map((c, i) => (i > 0 && open[i - 1]!.line ? [hardline, c.doc] : [" ", c.doc]));
}

/** A safety net: a dangling comment no printer placed is appended rather than lost. */
function leftoverComments(path: Path): Doc[] {
  const rest: Doc[] = [];
  for (const c of (path.node as FNode).comments ?? []) {
    if (c.leading || c.trailing || c.printed) continue;
    c.printed = true;
    rest.push(isLineComment(c) ? [lineSuffix([" ", commentText(c)]), breakParent] : [" ", commentText(c)]);
  }
  return rest;
}

// ---- layout helpers --------------------------------------------------------------------

/** Statements or members, one per line, keeping one blank line where the input had any. */
function lines(path: Path, print: Print, key: string, text: string): Doc[] {
  const parts: Doc[] = [];
  const items = (path.node as unknown as Record<string, FNode[]>)[key]!;
  path.each((p: Path, i: number) => {
    parts.push(print());
    if (i < items.length - 1) {
      parts.push(hardline);
      if (isNextLineEmpty(text, (p.node as FNode).end)) parts.push(hardline);
    }
  }, key);
  return parts;
}

/** `{ ... }` of a model or body. */
function braces(path: Path, content: Doc[]): Doc {
  const open = dangling(path, "open");
  const plain = dangling(path, undefined);
  if (plain.length === 0 && content.length === 0) {
    if (open.length === 0) return "{}";
    if (open.every((c) => !c.line)) return ["{ ", join(" ", open.map((c) => c.doc)), " }"];
  }
  const inner: Doc[] = [...(join(hardline, plain.map((c) => c.doc)) as Doc[])];
  if (plain.length > 0 && content.length > 0) inner.push(hardline);
  inner.push(...content);
  return ["{", indent([...afterOpen(open), inner.length > 0 ? [hardline, ...inner] : ""]), hardline, "}"];
}

/** `(a, b)` / `[a, b]`: flat when it fits, else one item per line. */
function bracketList(path: Path, print: Print, openCh: string, closeCh: string): Doc {
  const items: Doc[] = path.map(print, "items");
  const open = dangling(path, "open");
  const rest = [...dangling(path, undefined), ...dangling(path, "close")];
  if (items.length === 0 && open.length === 0 && rest.length === 0) return [openCh, closeCh];
  const inner: Doc[] = [...afterOpen(open)];
  if (items.length > 0) inner.push(softline, join([",", line], items));
  rest.forEach((c, i) => inner.push(items.length > 0 || i > 0 ? hardline : softline, c.doc));
  return group([openCh, indent(inner), softline, closeCh]);
}

/**
 * Whether `n` has a trailing comment that prettier defers to the end of the output line
 * (a line comment, or any comment that started its own line). When more code follows `n`
 * on that line, the parent breaks the line right after `n`: otherwise a second deferred
 * line comment would be printed after the first one, inside it.
 */
function deferred(n: FNode | null, text: string): boolean {
  return (n?.comments ?? []).some((c) => c.trailing && (isLineComment(c) || newlineBefore(text, c.start)));
}

/** What separates a child from the code after it on its line: a space, or a line break when the child has a deferred comment. */
function gap(n: FNode | null, text: string): Doc {
  return deferred(n, text) ? hardline : " ";
}

/** `doc` (the printed `n`) indented when `n` starts with a comment that ends its line, so `n` itself starts on a new, indented line. */
function after(n: FNode | null, doc: Doc, text: string): Doc {
  const lineEnd = /[ \t]*\r?\n/y;
  const breaks = (n?.comments ?? []).some((c) => c.leading && (isLineComment(c) || ((lineEnd.lastIndex = c.end), lineEnd.test(text))));
  return breaks ? indent(doc) : doc;
}

function hasLeading(n: FNode): boolean {
  return (n.comments ?? []).some((c) => c.leading);
}

function isEmptyType(n: FNode): boolean {
  return n.type === "Type" && n.name === "" && n.dims === null;
}

// ---- the printer -----------------------------------------------------------------------

function printNode(path: Path, options: ParserOptions<FNode>, print: Print): Doc {
  const node = path.node as FNode;
  const text = options.originalText;
  switch (node.type) {
    case "Program": {
      if (node.models.length === 0) {
        const cs = dangling(path, undefined);
        return cs.length > 0 ? [join(hardline, cs.map((c) => c.doc)), hardline] : "";
      }
      return [...lines(path, print, "models", text), hardline];
    }
    case "Model":
      return ["model ", node.name, " ", braces(path, lines(path, print, "members", text))];
    case "Const": {
      const items: Doc[] = path.map(print, "items");
      // One item: nothing to break but the item itself, so no extra indentation for it.
      return items.length === 1 ? ["const ", items[0]!] : group(["const ", indent(join([",", line], items))]);
    }
    case "ConstItem":
      return [node.name, " = ", after(node.value, sub(path, print, "value", P.cond), text)];
    case "Block":
      return [
        node.keyword,
        " ",
        node.name,
        print("params"),
        node.returns === null ? "" : [deferred(node.params, text) ? indent(hardline) : " ", "->", isEmptyType(node.returns) ? "" : [" ", after(node.returns, print("returns"), text)]],
        " ",
        print("body"),
      ];
    case "Params":
      return bracketList(path, print, "(", ")");
    case "Param":
      return [
        node.name,
        ":",
        isEmptyType(node.ty) ? "" : [" ", print("ty")],
        node.default === null ? "" : [indent(gap(node.ty, text)), "= ", after(node.default, sub(path, print, "default", P.cond), text)],
      ];
    case "Type":
      return [node.name ?? "", node.dims === null ? "" : print("dims")];
    case "Dims":
      return bracketList(path, print, "[", "]");
    case "Input":
      return ["input ", node.name, ":", isEmptyType(node.ty) ? "" : [" ", print("ty")]];
    case "Output":
      return ["output ", node.name, " = ", after(node.value, sub(path, print, "value", P.cond), text)];
    case "Assign":
      return [node.target, " = ", after(node.value, sub(path, print, "value", P.cond), text)];
    case "Return":
      return ["return ", after(node.value, sub(path, print, "value", P.cond), text)];
    case "If": {
      const parts: Doc[] = ["if ", sub(path, print, "cond", P.or), " ", print("thenBody")];
      if (node.elseNode !== null) {
        // A comment after the then-body's `}` that prettier defers to the end of the line
        // must not end up after `else {`: start `else` on a line of its own instead.
        parts.push(gap(node.thenBody, text), "else ", print("elseNode"));
      }
      return parts;
    }
    case "For":
      return [
        "for ",
        node.variable,
        " in ",
        sub(path, print, "from", P.add),
        deferred(node.from, text) ? indent(hardline) : "",
        "..",
        hasLeading(node.to) ? " " : "",
        after(node.to, sub(path, print, "to", P.add), text),
        " ",
        print("body"),
      ];
    case "Body":
      return braces(path, lines(path, print, "stmts", text));
    case "Call":
      return [node.callee, hasLeading(node.args) ? " " : "", print("args")];
    case "Args":
      return bracketList(path, print, "(", ")");
    case "Arg":
      return node.name === null ? sub(path, print, "value", P.cond) : [node.name, " = ", after(node.value, sub(path, print, "value", P.cond), text)];
    case "Binary": {
      const [l, r] = operandLevels(node.op);
      return [sub(path, print, "left", l), indent(gap(node.left, text)), node.op, " ", after(node.right, sub(path, print, "right", r), text)];
    }
    case "Unary":
      if (node.op === "not") return ["not ", sub(path, print, "operand", P.not)];
      // `- -x` rather than `--x`, which reads like a decrement.
      return ["-", node.operand.type === "Unary" && node.operand.op === "-" ? " " : "", sub(path, print, "operand", P.neg)];
    case "Cond":
      return [
        "if ",
        sub(path, print, "test", P.or),
        indent(gap(node.test, text)),
        "then ",
        after(node.then, sub(path, print, "then", P.or), text),
        indent(gap(node.then, text)),
        "else ",
        after(node.otherwise, sub(path, print, "otherwise", P.cond), text),
      ];
    case "List":
      return bracketList(path, print, "[", "]");
    case "Of":
      return [sub(path, print, "count", P.add), indent(gap(node.count, text)), "of ", after(node.item, sub(path, print, "item", P.add), text)];
    case "Named":
      return [sub(path, print, "expr", P.postfix), indent(gap(node.expr, text)), "@ ", node.raw];
    case "Num":
      return node.text;
    case "Str":
      return node.raw;
    case "Bool":
      return node.value ? "true" : "false";
    case "None":
      return "none";
    case "Name":
      return node.name;
  }
}

const VISITOR_KEYS: Record<FNode["type"], string[]> = {
  Program: ["models"], Model: ["members"], Const: ["items"], ConstItem: ["value"], Block: ["params", "returns", "body"],
  Params: ["items"], Param: ["ty", "default"], Type: ["dims"], Dims: ["items"], Input: ["ty"], Output: ["value"],
  Assign: ["value"], Return: ["value"], If: ["cond", "thenBody", "elseNode"], For: ["from", "to", "body"], Body: ["stmts"],
  Call: ["args"], Args: ["items"], Arg: ["value"], Binary: ["left", "right"], Unary: ["operand"],
  Cond: ["test", "then", "otherwise"], List: ["items"], Of: ["count", "item"], Named: ["expr"],
  Num: [], Str: [], Bool: [], None: [], Name: [],
};

export const moePrinter: Printer<FNode> = {
  print(path, options, print) {
    const doc = printNode(path, options, print as Print);
    const rest = leftoverComments(path);
    return rest.length > 0 ? [doc, ...rest] : doc;
  },
  printComment(path) {
    return commentText(path.node as unknown as FComment);
  },
  isBlockComment(node) {
    return !isLineComment(node as unknown as FComment);
  },
  canAttachComment(node) {
    return (node as { type?: string }).type !== "Comment" && !isEmptyType(node);
  },
  getCommentChildNodes(node) {
    return childNodes(node);
  },
  getVisitorKeys(node) {
    return VISITOR_KEYS[node.type] ?? [];
  },
  handleComments: {
    ownLine: (c, text) => handleComment(c, text),
    endOfLine: (c, text) => handleComment(c, text),
    remaining: (c, text) => handleComment(c, text),
  },
};
