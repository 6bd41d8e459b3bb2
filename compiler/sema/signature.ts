// Signatures of built-in calls and the binding of call arguments to them: positional
// then keyword, defaults, type checks, and did-you-mean hints for misspelled keywords.
import { diagnostic, type Diagnostic, type Span } from "../diagnostics/diagnostic.js";
import { describeValue, float, type Value } from "./values.js";
import { didYouMean } from "./suggest.js";

export type ArgType =
  | "tensor" | "int" | "number" | "bool" | "string" | "any" | "experts" | "expert"
  | { readonly oneOf: readonly string[] }
  | { readonly record: readonly string[] }
  | { readonly listOf: "number" };

export interface ParamSig {
  readonly name: string;
  readonly type: ArgType;
  /** Undefined: required. A value: the default. */
  readonly default?: Value;
  readonly nullable?: boolean;
  /** May be passed by position (positional parameters come first in the list). */
  readonly positional?: boolean;
  readonly doc?: string;
}

export interface BoundArg {
  readonly value: Value;
  readonly span: Span;
}

export function describeType(t: ArgType): string {
  if (typeof t === "string") {
    return { tensor: "a tensor", int: "an int", number: "a number", bool: "a bool", string: "a string", any: "a value", experts: "experts (like '8 of SwiGLU')", expert: "an expert" }[t];
  }
  if ("oneOf" in t) return `one of ${t.oneOf.map((s) => `"${s}"`).join(", ")}`;
  if ("record" in t) return t.record.map((r) => `${r}(...)`).join(" or ");
  return "a list of numbers";
}

/** Checks `v` against `t`, converting ints to floats where a number is expected. */
export function coerce(v: Value, t: ArgType, nullable: boolean): Value | null {
  if (v.k === "error") return v;
  if (v.k === "none") return nullable ? v : null;
  if (typeof t === "string") {
    switch (t) {
      case "any":
        return v;
      case "tensor":
        return v.k === "tensor" ? v : null;
      case "int":
        return v.k === "int" ? v : v.k === "float" && Number.isInteger(v.v) && Math.abs(v.v) < 2 ** 53 ? { k: "int", v: v.v } : null;
      case "number":
        return v.k === "int" ? float(v.v) : v.k === "float" ? v : null;
      case "bool":
        return v.k === "bool" ? v : null;
      case "string":
        return v.k === "str" ? v : null;
      case "experts": {
        const e = asExpert(v);
        return v.k === "experts" ? v : e ? { k: "experts", groups: [{ count: 1, expert: e }] } : null;
      }
      case "expert":
        return asExpert(v);
    }
  }
  if ("oneOf" in t) return v.k === "str" && t.oneOf.includes(v.v) ? v : null;
  if ("record" in t) return v.k === "record" && t.record.includes(v.ctor) ? v : null;
  if (v.k !== "list") return null;
  const items: Value[] = [];
  for (const it of v.items) {
    const c = coerce(it, "number", false);
    if (c === null) return null;
    items.push(c);
  }
  return { k: "list", items };
}

/** An expert value, or a bare expert definition name (`shared = SwiGLU`) taken with no configuration. */
function asExpert(v: Value): Extract<Value, { k: "expert" }> | null {
  if (v.k === "expert") return v;
  if (v.k === "def" && v.decl.kind === "expert") return { k: "expert", decl: v.decl, builtin: null, args: new Map(), name: null, span: v.decl.nameSpan };
  return null;
}

export interface CallArg {
  readonly name: string | null;
  readonly nameSpan: Span | null;
  readonly value: Value;
  readonly span: Span;
}

/** Binds arguments; reports every problem; missing or bad arguments bind to the error value. */
export function bindArgs(
  callee: string,
  sig: readonly ParamSig[],
  args: readonly CallArg[],
  callSpan: Span,
  diags: Diagnostic[],
): Map<string, BoundArg> {
  const bound = new Map<string, BoundArg>();
  const positional = sig.filter((p) => p.positional);
  let pos = 0;
  for (const a of args) {
    let p: ParamSig | undefined;
    if (a.name === null) {
      p = positional[pos++];
      if (!p) {
        diags.push(diagnostic("MOE3005", a.span, callee, positional.length, args.filter((x) => x.name === null).length));
        continue;
      }
    } else {
      p = sig.find((s) => s.name === a.name);
      if (!p) {
        diags.push(diagnostic("MOE3003", a.nameSpan ?? a.span, callee, a.name, didYouMean(a.name, sig.map((s) => s.name)) || `It takes: ${sig.map((s) => s.name).join(", ")}.`));
        continue;
      }
    }
    if (bound.has(p.name)) {
      diags.push(diagnostic("MOE3006", a.span, callee, p.name));
      continue;
    }
    const c = coerce(a.value, p.type, p.nullable ?? false);
    if (c === null) {
      diags.push(diagnostic("MOE3001", a.span, `${callee}(${p.name})`, describeType(p.type) + (p.nullable ? " or none" : ""), describeValue(a.value), p.doc ?? ""));
      bound.set(p.name, { value: { k: "error" }, span: a.span });
    } else bound.set(p.name, { value: c, span: a.span });
  }
  for (const p of sig) {
    if (bound.has(p.name)) continue;
    if (p.default === undefined) {
      diags.push(diagnostic("MOE3004", callSpan, callee, p.name, p.doc ?? `Pass it as '${p.name} = ...'.`));
      bound.set(p.name, { value: { k: "error" }, span: callSpan });
    } else bound.set(p.name, { value: p.default, span: callSpan });
  }
  return bound;
}
