// How deeply a program nests (expressions inside expressions, statements inside statements),
// measured with a work list, never by recursion, so it can be asked of any parsed program.
// Tools that walk the tree recursively (the formatter, on prettier) check it first and refuse a
// program nested deeper than they can walk with a placed diagnostic instead of overflowing.
import type { Span } from "../diagnostics/diagnostic.js";
import type * as A from "./ast.js";

export interface Depth {
  readonly depth: number;
  /** The node at the deepest point. */
  readonly span: Span | null;
}

type Item = { readonly node: A.Expr | A.Stmt | A.TypeExpr; readonly depth: number };

export function programDepth(program: A.Program): Depth {
  const todo: Item[] = [];
  for (const m of program.models) {
    for (const member of m.members) {
      if (!member) continue;
      switch (member.kind) {
        case "const":
          for (const c of member.items) todo.push({ node: c.value, depth: 1 });
          break;
        case "block":
        case "expert":
          for (const p of member.params) {
            todo.push({ node: p.type, depth: 1 });
            if (p.default) todo.push({ node: p.default, depth: 1 });
          }
          if (member.returns) todo.push({ node: member.returns, depth: 1 });
          for (const s of member.body) todo.push({ node: s, depth: 1 });
          break;
        case "input":
          todo.push({ node: member.type, depth: 1 });
          break;
        case "output":
          todo.push({ node: member.value, depth: 1 });
          break;
        case "stmt":
          todo.push({ node: member.stmt, depth: 1 });
          break;
      }
    }
  }
  let best: Depth = { depth: 0, span: null };
  while (todo.length > 0) {
    const { node, depth } = todo.pop()!;
    if (!node) continue;
    if (depth > best.depth) best = { depth, span: node.span };
    const d = depth + 1;
    const push = (n: A.Expr | A.Stmt | A.TypeExpr | null | undefined) => {
      if (n) todo.push({ node: n, depth: d });
    };
    switch (node.kind) {
      case "call":
        node.args.forEach((a) => push(a.value));
        break;
      case "binary":
        push(node.left);
        push(node.right);
        break;
      case "unary":
        push(node.operand);
        break;
      case "cond":
        push(node.cond);
        push(node.then);
        push(node.else);
        break;
      case "list":
        node.items.forEach(push);
        break;
      case "of":
        push(node.count);
        push(node.item);
        break;
      case "named":
        push(node.expr);
        break;
      case "tensor":
        node.dims.forEach(push);
        break;
      case "assign":
      case "return":
        push(node.value);
        break;
      case "if":
        push(node.cond);
        node.then.forEach(push);
        node.else?.forEach(push);
        break;
      case "for":
        push(node.from);
        push(node.to);
        node.body.forEach(push);
        break;
      default:
        break;
    }
  }
  return best;
}
