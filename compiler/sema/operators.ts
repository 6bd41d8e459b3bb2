// Operators on compile-time values (constant arithmetic, comparisons, logic) and on
// tensors (elementwise nodes; a tensor times a number is a `scale` node).
import type { Span } from "../diagnostics/diagnostic.js";
import type { BinaryOp } from "../syntax/ast.js";
import type { BuildContext } from "./context.js";
import { describeValue, ERROR, isNumber, type Value } from "./values.js";

const TENSOR_OPS = { "+": "add", "-": "sub", "*": "mul", "/": "div" } as const;

function scale(ctx: BuildContext, t: Extract<Value, { k: "tensor" }>, factor: number, span: Span): Value {
  const call = { callee: "scale", span, name: null };
  return ctx.addNode({ op: "scale", inputs: [t.id], attrs: { factor } }, call, ctx.weightName(call, "scale"));
}

function numeric(ctx: BuildContext, op: BinaryOp, a: { k: "int" | "float"; v: number }, b: { k: "int" | "float"; v: number }, span: Span): Value {
  const bothInt = a.k === "int" && b.k === "int";
  let r: number;
  switch (op) {
    case "+": r = a.v + b.v; break;
    case "-": r = a.v - b.v; break;
    case "*": r = a.v * b.v; break;
    case "/":
      if (b.v === 0) return ctx.error("MOE3010", span);
      r = a.v / b.v;
      // Integer division that comes out exact stays an int (head_dim = d / heads).
      return bothInt && Number.isInteger(r) ? { k: "int", v: r } : { k: "float", v: r };
    case "%":
      if (b.v === 0) return ctx.error("MOE3010", span);
      r = a.v % b.v;
      break;
    case "**": r = a.v ** b.v; break;
    case "==": return { k: "bool", v: a.v === b.v };
    case "!=": return { k: "bool", v: a.v !== b.v };
    case "<": return { k: "bool", v: a.v < b.v };
    case "<=": return { k: "bool", v: a.v <= b.v };
    case ">": return { k: "bool", v: a.v > b.v };
    case ">=": return { k: "bool", v: a.v >= b.v };
    default: return ctx.error("MOE3009", span, op, describeValue(a), describeValue(b));
  }
  if (bothInt && op !== "**") {
    if (!Number.isSafeInteger(r)) return ctx.error("MOE3016", span);
    return { k: "int", v: r };
  }
  if (bothInt && Number.isSafeInteger(r) && b.v >= 0) return { k: "int", v: r };
  if (!Number.isFinite(r)) return ctx.error("MOE3007", span, op, `the result is ${r}`, "");
  return { k: "float", v: r };
}

export function evalBinary(ctx: BuildContext, op: BinaryOp, a: Value, b: Value, span: Span): Value {
  if (a.k === "error" || b.k === "error") return ERROR;
  if (isNumber(a) && isNumber(b)) return numeric(ctx, op, a, b, span);
  if (op === "and" || op === "or") {
    if (a.k === "bool" && b.k === "bool") return { k: "bool", v: op === "and" ? a.v && b.v : a.v || b.v };
  } else if (op === "==" || op === "!=") {
    if ((a.k === "bool" && b.k === "bool") || (a.k === "str" && b.k === "str") || (a.k === "none" && b.k === "none")) {
      const eq = a.k === "none" || (a as { v: unknown }).v === (b as { v: unknown }).v;
      return { k: "bool", v: op === "==" ? eq : !eq };
    }
  } else if (op in TENSOR_OPS) {
    const top = TENSOR_OPS[op as keyof typeof TENSOR_OPS];
    if (a.k === "tensor" && b.k === "tensor") {
      const call = { callee: op, span, name: null };
      return ctx.addNode({ op: top, inputs: [a.id, b.id] }, call, ctx.weightName(call, top));
    }
    if (a.k === "tensor" && isNumber(b) && (op === "*" || op === "/")) {
      if (op === "/" && b.v === 0) return ctx.error("MOE3010", span);
      return scale(ctx, a, op === "*" ? b.v : 1 / b.v, span);
    }
    if (isNumber(a) && b.k === "tensor" && op === "*") return scale(ctx, b, a.v, span);
  }
  return ctx.error("MOE3009", span, op, describeValue(a), describeValue(b));
}

export function evalUnary(ctx: BuildContext, op: "-" | "not", v: Value, span: Span): Value {
  if (v.k === "error") return ERROR;
  if (op === "-") {
    if (v.k === "int" || v.k === "float") return { k: v.k, v: -v.v };
    if (v.k === "tensor") return scale(ctx, v, -1, span);
  } else if (v.k === "bool") return { k: "bool", v: !v.v };
  return ctx.error("MOE3009", span, op, "nothing", describeValue(v));
}
