// Elaboration: runs the checked-as-it-goes program at compile time and builds the graph IR.
// Constants and loop variables are evaluated, `for` loops unrolled, blocks inlined with
// their weight-name prefixes, and every tensor op goes through the op table. Errors are
// reported where they occur and evaluate to an error value, so one run reports them all
// without cascades.
import { diagnostic, type Diagnostic, type DiagnosticCode, type Span } from "../diagnostics/diagnostic.js";
import { GraphBuilder, type NodeSpec } from "../ir/builder.js";
import type { ExpertGroupAttr, Graph } from "../ir/graph.js";
import { isOpError } from "../ir/ops.js";
import { DTYPES, formatType, type DType, type Dim, type TensorType } from "../ir/types.js";
import type * as A from "../syntax/ast.js";
import { BUILTIN_EXPERTS, BUILTINS } from "./builtins.js";
import type { BuildContext, CallInfo } from "./context.js";
import { evalBinary, evalUnary } from "./operators.js";
import { Scope } from "./scope.js";
import { formatDecl, instantiate, unify, type DeclDim, type DeclType } from "./shapes.js";
import { bindArgs, type CallArg } from "./signature.js";
import { closest, didYouMean } from "./suggest.js";
import { constantOf, describeValue, ERROR, type ExpertValue, type Value } from "./values.js";
import { drive, type Thunk } from "./trampoline.js";

export const MAX_NODES = 200_000;
export const MAX_LOOP = 100_000;
export const MAX_EXPERTS = 1 << 16;
const SCALAR_TYPES = ["int", "float", "bool", "string"] as const;

class Return {
  constructor(readonly value: Value) {}
}
/** Thrown to stop elaboration when continuing would only repeat one error (node budget). */
class Abort extends Error {}

export class Elaborator implements BuildContext {
  readonly diags: Diagnostic[] = [];
  private builder: GraphBuilder;
  private prefix = "";
  private layer: number | null = null;
  private loopDepth = 0;
  private readonly counters = new Map<string, number>();
  private readonly defs = new Map<string, A.BlockMember>();
  private readonly used = new Set<string>();
  private readonly callStack: string[] = [];
  private readonly constants: Record<string, number | string | boolean> = {};
  private nodeCount = 0;
  /** Weight name → shape, to catch one name bound to two different tensors. */
  private readonly paramShapes = new Map<string, string>();
  /** Model constants only: the parent scope of block and expert bodies (they see no model tensors). */
  private readonly constants_ = new Scope(null);
  /** The model's top level: constants, inputs and variables. */
  private readonly global = new Scope(this.constants_);
  private inExpert = false;
  /** The call being elaborated most recently: where a stack overflow (from builtins' own recursion) is reported. */
  at: Span | null = null;
  /** Loop iterations run so far, over all loops: nested loops multiply. */
  private iterations = 0;

  constructor(private readonly model: A.Model) {
    this.builder = new GraphBuilder(model.name);
  }

  // ---- BuildContext ------------------------------------------------------------------

  error(code: DiagnosticCode, span: Span | null, ...args: (string | number)[]): Value {
    this.diags.push(diagnostic(code, span, ...args));
    return ERROR;
  }

  typeOf(id: number): TensorType {
    return this.builder.typeOf(id);
  }

  weightName(call: CallInfo, defaultName: string): string {
    if (call.name !== null) return join(this.prefix, call.name);
    const key = `${this.prefix}\u0000${defaultName}`;
    const n = this.counters.get(key) ?? 0;
    this.counters.set(key, n + 1);
    return join(this.prefix, `${defaultName}_${n}`);
  }

  addNode(spec: Omit<NodeSpec, "name" | "layer" | "span">, call: CallInfo, name: string): Value {
    if (++this.nodeCount > MAX_NODES) {
      this.error("MOE3014", call.span, MAX_NODES);
      throw new Abort();
    }
    const id = this.builder.add({ ...spec, name, layer: this.layer, span: call.span });
    if (isOpError(id)) return this.error(id.code, call.span, ...id.args);
    for (const p of this.builder.node(id).params) {
      const shape = `[${p.shape.join(", ")}]`;
      if (p.shape.some((d) => !Number.isSafeInteger(d) || d <= 0) || !Number.isSafeInteger(p.shape.reduce((a, b) => a * b, 1))) {
        return this.error("MOE3007", call.span, `the weight ${p.name}`, `its shape would be ${shape}`, "Every dimension of a weight must be a positive integer, and its size below 2^53.");
      }
      const es = (p.name.match(/\{e\}/g) ?? []).length;
      if (es > (this.inExpert ? 1 : 0)) return this.error("MOE4007", call.span, p.name);
      const prev = this.paramShapes.get(p.name);
      if (prev !== undefined && prev !== shape) return this.error("MOE3013", call.span, p.name, prev, shape);
      this.paramShapes.set(p.name, shape);
    }
    return { k: "tensor", id, type: this.builder.typeOf(id) };
  }

  expertGroups(groups: Extract<Value, { k: "experts" }>["groups"], width: number, moeName: string, span: Span) {
    const attrs: ExpertGroupAttr[] = [];
    const subgraphs: Record<string, Graph> = {};
    let ok = true;
    groups.forEach((g, i) => {
      if (g.expert.builtin) {
        attrs.push({ kind: g.expert.builtin, count: g.count, def: null });
        return;
      }
      const graph = this.expertBody(g.expert, width, join(moeName, g.expert.name ?? "experts.{e}"), span);
      if (!graph) ok = false;
      else subgraphs[`expert${i}`] = graph;
      attrs.push({ kind: "ffn", count: g.count, def: g.expert.decl!.name });
    });
    return ok ? { attrs, subgraphs } : null;
  }

  sharedExpert(expert: ExpertValue, width: number, moeName: string, span: Span): Graph | null {
    if (expert.builtin) {
      this.error("MOE4002", span, `a shared expert must be defined with 'expert', not '${expert.builtin}'`, "");
      return null;
    }
    return this.expertBody(expert, width, join(moeName, expert.name ?? "shared_expert"), span);
  }

  // ---- entry -------------------------------------------------------------------------

  run(): Graph | null {
    for (const m of this.model.members) {
      if (m.kind !== "block" && m.kind !== "expert") continue;
      const prev = this.defs.get(m.name);
      if (prev) this.error("MOE2002", m.nameSpan, m.name, `${prev.nameSpan.line}:${prev.nameSpan.column}`);
      else if (BUILTINS.has(m.name) || (BUILTIN_EXPERTS as readonly string[]).includes(m.name)) this.error("MOE2002", m.nameSpan, m.name, "built in");
      else this.defs.set(m.name, m);
    }
    let outputs = 0;
    try {
      // Elaboration recurses as deep as the program nests (a chain of 1000 blocks, a sum of
      // 20000 terms): the trampoline keeps that depth on the heap, not on the call stack.
      outputs = drive(this.members());
    } catch (e) {
      if (!(e instanceof Abort)) throw e;
      return null;
    }
    if (this.builder.size === 0 || !this.model.members.some((m) => m.kind === "input")) this.error("MOE2006", this.model.nameSpan);
    if (outputs === 0) this.error("MOE2005", this.model.nameSpan);
    for (const [name, d] of this.defs) if (!this.used.has(name)) this.diags.push(diagnostic("MOE2008", d.nameSpan, name));
    return this.builder.finish(this.constants);
  }

  /** The model's members in order; returns the number of outputs. */
  private *members(): Thunk<number> {
    let outputs = 0;
    const outputNames = new Map<string, string>();
    for (const m of this.model.members) {
      switch (m.kind) {
        case "const":
          for (const item of m.items) yield this.defineConst(item);
          break;
        case "input":
          yield this.declareInput(m);
          break;
        case "output": {
          if (outputNames.has(m.name)) this.error("MOE2002", m.nameSpan, m.name, outputNames.get(m.name)!);
          outputNames.set(m.name, `${m.nameSpan.line}:${m.nameSpan.column}`);
          const v = (yield this.expr(m.value, this.global)) as Value;
          if (v.k === "tensor") {
            this.builder.output(m.name, v.id);
            outputs++;
          } else if (v.k !== "error") this.error("MOE3001", m.value.span, `output ${m.name}`, "a tensor", describeValue(v), "");
          else outputs++;
          break;
        }
        case "stmt":
          yield this.stmt(m.stmt, this.global, true);
          break;
        default:
          break;
      }
    }
    return outputs;
  }

  // ---- declarations ------------------------------------------------------------------

  private *defineConst(item: A.ConstItem): Thunk<void> {
    const prev = this.global.lookup(item.name);
    if (prev) {
      this.error("MOE2002", item.nameSpan, item.name, prev.span ? `${prev.span.line}:${prev.span.column}` : "built in");
      return;
    }
    const v = (yield this.expr(item.value, this.global)) as Value;
    if (v.k !== "error" && constantOf(v) === null && v.k !== "record" && v.k !== "list") {
      this.error("MOE3001", item.value.span, `const ${item.name}`, "a number, bool, string or configuration", describeValue(v), "Tensors are computed with assignments, not 'const'.");
    }
    this.constants_.set(item.name, { value: v, isConst: true, span: item.nameSpan });
    const c = constantOf(v);
    if (c !== null) this.constants[item.name] = c;
  }

  private *declareInput(m: Extract<A.Member, { kind: "input" }>): Thunk<void> {
    const prev = this.global.local(m.name);
    if (prev) {
      this.error("MOE2002", m.nameSpan, m.name, prev.span ? `${prev.span.line}:${prev.span.column}` : "built in");
      return;
    }
    const decl = (yield this.declType(m.type, this.global)) as DeclType | "scalar" | null;
    if (!decl) return;
    if (decl === "scalar") {
      this.error("MOE3001", m.type.span, `input ${m.name}`, "a tensor type like i32[seq]", "a scalar type", "");
      return;
    }
    const id = this.builder.input(m.name, instantiate(decl, new Map()), m.nameSpan);
    this.global.set(m.name, { value: { k: "tensor", id, type: this.builder.typeOf(id) }, isConst: false, span: m.nameSpan });
  }

  /** Evaluates a written type. Null after an error; "scalar" for int/float/bool/string. */
  private *declType(t: A.TypeExpr, scope: Scope): Thunk<DeclType | "scalar" | null> {
    if (t.kind === "scalar") {
      if ((SCALAR_TYPES as readonly string[]).includes(t.name)) return "scalar";
      this.error("MOE2012", t.span, t.name || "(missing)", didYouMean(t.name, [...SCALAR_TYPES, ...DTYPES]) || "Scalar types are int, float, bool and string; tensor types look like f32[seq, d].");
      return null;
    }
    if (t.dtype !== null && !(DTYPES as readonly string[]).includes(t.dtype)) {
      this.error("MOE2012", t.span, t.dtype, didYouMean(t.dtype, DTYPES) || `Tensor dtypes are ${DTYPES.join(", ")}.`);
      return null;
    }
    const dims: DeclDim[] = [];
    for (const d of t.dims) {
      if (d.kind === "name" && !scope.lookup(d.name)) {
        dims.push({ kind: "var", name: d.name });
        continue;
      }
      const v = (yield this.expr(d, scope)) as Value;
      if (v.k === "int" && v.v >= 0) dims.push({ kind: "fixed", value: v.v });
      else if (v.k === "error") return null;
      else {
        this.error("MOE3001", d.span, "a shape dimension", "a non-negative int or a dimension name like seq", describeValue(v), "");
        return null;
      }
    }
    return { dtype: (t.dtype as DType | null) ?? null, dims };
  }

  // ---- statements --------------------------------------------------------------------

  private *stmts(body: readonly A.Stmt[], scope: Scope, topLevel: boolean): Thunk<void> {
    for (const s of body) yield this.stmt(s, scope, topLevel);
  }

  private *stmt(s: A.Stmt, scope: Scope, topLevel: boolean): Thunk<void> {
    switch (s.kind) {
      case "assign": {
        const existing = scope.lookup(s.target);
        if (existing?.isConst) {
          this.error("MOE2003", s.targetSpan, s.target);
          return;
        }
        scope.set(s.target, { value: (yield this.expr(s.value, scope)) as Value, isConst: false, span: s.targetSpan });
        return;
      }
      case "return":
        if (topLevel) {
          this.error("MOE2010", s.span);
          return;
        }
        throw new Return((yield this.expr(s.value, scope)) as Value);
      case "if": {
        const c = (yield this.expr(s.cond, scope)) as Value;
        if (c.k === "error") return;
        if (c.k !== "bool") {
          this.error("MOE3011", s.cond.span, describeValue(c));
          return;
        }
        if (c.v) yield this.stmts(s.then, scope, topLevel);
        else if (s.else) yield this.stmts(s.else, scope, topLevel);
        return;
      }
      case "for": {
        const from = (yield this.expr(s.from, scope)) as Value;
        const to = (yield this.expr(s.to, scope)) as Value;
        if (from.k === "error" || to.k === "error") return;
        if (from.k !== "int" || to.k !== "int") {
          this.error("MOE3001", s.from.span, "for", "int bounds", `${describeValue(from)} .. ${describeValue(to)}`, "Loops run over integer ranges like 0..layers.");
          return;
        }
        if (to.v < from.v) {
          this.error("MOE3018", s.to.span, from.v, to.v);
          return;
        }
        if (to.v - from.v > MAX_LOOP) {
          this.error("MOE3012", s.span, to.v - from.v, MAX_LOOP);
          return;
        }
        const outermost = topLevel && this.loopDepth === 0;
        this.loopDepth++;
        try {
          for (let i = from.v; i < to.v; i++) {
            if (++this.iterations > MAX_LOOP) {
              this.error("MOE3012", s.span, this.iterations, MAX_LOOP);
              throw new Abort();
            }
            if (outermost) this.layer = i;
            scope.set(s.variable, { value: { k: "int", v: i }, isConst: false, span: s.variableSpan });
            yield this.stmts(s.body, scope, topLevel);
          }
        } finally {
          this.loopDepth--;
          if (outermost) this.layer = null;
        }
        return;
      }
    }
  }

  // ---- expressions -------------------------------------------------------------------

  /** Evaluates an expression: a step for the trampoline (`yield this.expr(...)` inside elaboration, `drive` outside). */
  *expr(e: A.Expr, scope: Scope): Thunk<Value> {
    switch (e.kind) {
      case "num":
        if (e.isInt && !Number.isSafeInteger(e.value)) return this.error("MOE3016", e.span);
        return e.isInt ? { k: "int", v: e.value } : { k: "float", v: e.value };
      case "str":
        return { k: "str", v: e.value };
      case "bool":
        return { k: "bool", v: e.value };
      case "none":
        return { k: "none" };
      case "error":
        return ERROR;
      case "name":
        return this.name(e.name, e.span, scope);
      case "list": {
        const items: Value[] = [];
        for (const i of e.items) items.push((yield this.expr(i, scope)) as Value);
        return { k: "list", items };
      }
      case "unary":
        return evalUnary(this, e.op, (yield this.expr(e.operand, scope)) as Value, e.span);
      case "binary": {
        const left = (yield this.expr(e.left, scope)) as Value;
        return evalBinary(this, e.op, left, (yield this.expr(e.right, scope)) as Value, e.span);
      }
      case "cond": {
        const c = (yield this.expr(e.cond, scope)) as Value;
        if (c.k === "error") return ERROR;
        if (c.k !== "bool") return this.error("MOE3011", e.cond.span, describeValue(c));
        return (yield this.expr(c.v ? e.then : e.else, scope)) as Value;
      }
      case "call":
        return (yield this.call(e, scope, null)) as Value;
      case "of":
        return (yield this.of(e, scope, null)) as Value;
      case "named":
        return (yield this.named(e, scope)) as Value;
    }
  }

  private name(name: string, span: Span, scope: Scope): Value {
    const b = scope.lookup(name);
    if (b) return b.value;
    const def = this.defs.get(name);
    if (def) {
      this.used.add(name);
      return { k: "def", decl: def };
    }
    if ((BUILTIN_EXPERTS as readonly string[]).includes(name)) {
      return { k: "expert", decl: null, builtin: name as "zero" | "identity", args: new Map(), name: null, span };
    }
    if (BUILTINS.has(name)) return this.error("MOE2014", span, name, "a built-in function", `Call it: ${name}(...).`);
    const hint = didYouMean(name, [...scope.names(), ...this.defs.keys(), ...BUILTIN_EXPERTS]);
    return this.error("MOE2001", span, name, hint || (scope.lookup("seq") ? "" : "Names must be defined before they are used."));
  }

  private *named(e: Extract<A.Expr, { kind: "named" }>, scope: Scope): Thunk<Value> {
    const name = this.interpolate(e.name, e.nameSpan, scope);
    if (name === null) return ERROR;
    const inner = e.expr;
    if (inner.kind === "call") return (yield this.call(inner, scope, name)) as Value;
    if (inner.kind === "of") return (yield this.of(inner, scope, name)) as Value;
    if (inner.kind === "name") {
      const v = (yield this.expr(inner, scope)) as Value;
      const ex = this.asExpert(v, inner.span);
      if (ex) return { ...ex, name };
      return v.k === "error" ? v : this.error("MOE2013", e.nameSpan, e.name);
    }
    yield this.expr(inner, scope);
    return this.error("MOE2013", e.nameSpan, e.name);
  }

  /** Fills `{i}` placeholders from the scope; `{e}` (the expert index) stays for binding. */
  private interpolate(template: string, span: Span, scope: Scope): string | null {
    let bad: string | null = null;
    const out = template.replace(/\{([^{}]*)\}/g, (m, id: string) => {
      if (id === "e") return m;
      const v = /^[A-Za-z_][A-Za-z0-9_]*$/.test(id) ? scope.lookup(id)?.value : undefined;
      if (v && (v.k === "int" || v.k === "str")) return String(v.v);
      bad ??= m;
      return m;
    });
    if (bad === null && /[{}]/.test(out.replace(/\{e\}/g, ""))) bad = out;
    if (bad !== null) {
      this.error("MOE1010", span, bad);
      return null;
    }
    return out;
  }

  private asExpert(v: Value, span: Span): ExpertValue | null {
    if (v.k === "expert") return v;
    if (v.k === "def" && v.decl.kind === "expert") return { k: "expert", decl: v.decl, builtin: null, args: new Map(), name: null, span };
    return null;
  }

  private *of(e: Extract<A.Expr, { kind: "of" }>, scope: Scope, name: string | null): Thunk<Value> {
    const count = (yield this.expr(e.count, scope)) as Value;
    let item = (yield this.expr(e.item, scope)) as Value;
    if (count.k === "error" || item.k === "error") return ERROR;
    if (count.k !== "int" || count.v < 1 || count.v > MAX_EXPERTS) return this.error("MOE4002", e.count.span, `the count must be an int from 1 to ${MAX_EXPERTS}, not ${describeValue(count)}`, "");
    const ex = this.asExpert(item, e.item.span);
    if (!ex) return this.error("MOE4002", e.item.span, `${describeValue(item)} is not an expert`, "Define it with 'expert Name(x: [T, d]) -> [T, d] { ... }', or use zero / identity.");
    item = name !== null ? { ...ex, name } : ex;
    return { k: "experts", groups: [{ count: count.v, expert: item as ExpertValue }] };
  }

  private *evalArgs(args: readonly A.Arg[], scope: Scope): Thunk<CallArg[]> {
    const out: CallArg[] = [];
    for (const a of args) {
      const v = (yield this.expr(a.value, scope)) as Value;
      // `experts = [8 of E, 1 of zero]`: a list of expert groups is one set of experts.
      if (v.k === "list" && v.items.length > 0 && v.items.every((i) => i.k === "experts" || i.k === "error")) {
        if (v.items.some((i) => i.k === "error")) out.push({ name: a.name, nameSpan: a.nameSpan, value: ERROR, span: a.span });
        else out.push({ name: a.name, nameSpan: a.nameSpan, value: { k: "experts", groups: v.items.flatMap((i) => (i as Extract<Value, { k: "experts" }>).groups) }, span: a.span });
      } else out.push({ name: a.name, nameSpan: a.nameSpan, value: v, span: a.span });
    }
    return out;
  }

  private *call(e: Extract<A.Expr, { kind: "call" }>, scope: Scope, name: string | null): Thunk<Value> {
    const args = (yield this.evalArgs(e.args, scope)) as CallArg[];
    this.at = e.span;
    const info: CallInfo = { callee: e.callee, span: e.span, name };
    const def = this.defs.get(e.callee);
    if (def) {
      this.used.add(e.callee);
      return (yield this.callDef(def, args, info)) as Value;
    }
    const builtin = BUILTINS.get(e.callee);
    if (builtin) {
      const bound = bindArgs(e.callee, builtin.sig, args, e.span, this.diags);
      if (builtin.kind !== "op" && builtin.kind !== "record" && name !== null) return this.error("MOE2013", e.span, name);
      return builtin.build(this, bound, info);
    }
    const local = scope.lookup(e.callee);
    if (local) return this.error("MOE2009", e.calleeSpan, e.callee, `it is ${describeValue(local.value)}, not a block or function`);
    const hint = closest(e.callee, [...BUILTINS.keys(), ...this.defs.keys()]);
    return this.error("MOE2001", e.calleeSpan, e.callee, hint ? `Did you mean '${hint}'?` : "Define it as a block or expert, or see the list of built-in ops in SPEC.md.");
  }

  /** A block call is inlined; an expert called without tokens becomes a configured expert. */
  private *callDef(def: A.BlockMember, args: readonly CallArg[], call: CallInfo): Thunk<Value> {
    const first = def.params[0];
    const tensorGiven = first?.type.kind === "tensor" && args.some((a) => a.name === first.name || (a.name === null && args.indexOf(a) === 0));
    if (def.kind === "expert" && !tensorGiven) {
      const cfg = new Map<string, Value>();
      for (const a of args) {
        if (a.name === null) return this.error("MOE3005", a.span, def.name, 0, args.filter((x) => x.name === null).length);
        if (!def.params.some((p) => p.name === a.name)) return this.error("MOE3003", a.nameSpan ?? a.span, def.name, a.name, didYouMean(a.name, def.params.map((p) => p.name)));
        cfg.set(a.name, a.value);
      }
      return { k: "expert", decl: def, builtin: null, args: cfg, name: call.name, span: call.span };
    }
    if (this.callStack.includes(def.name)) return this.error("MOE2011", call.span, [...this.callStack, def.name].join(" -> "));
    const saved = this.prefix;
    if (call.name !== null) this.prefix = join(this.prefix, call.name);
    this.callStack.push(def.name);
    try {
      return (yield this.runBody(def, args, call.span, null)) as Value;
    } finally {
      this.callStack.pop();
      this.prefix = saved;
    }
  }

  /**
   * Binds parameters and runs a body in a fresh function scope whose parent holds the model
   * constants. `fixedInput` supplies the token tensor when elaborating an expert body.
   */
  private *runBody(def: A.BlockMember, args: readonly CallArg[], span: Span, fixedInput: Value | null): Thunk<Value> {
    const scope = new Scope(this.constants_);
    const bindings = new Map<string, Dim>();
    let positional = 0;
    const given = new Map<string, CallArg>();
    for (const a of args) {
      const p = a.name === null ? def.params[positional++] : def.params.find((q) => q.name === a.name);
      if (!p) {
        if (a.name === null) return this.error("MOE3005", a.span, def.name, def.params.length, args.filter((x) => x.name === null).length);
        return this.error("MOE3003", a.nameSpan ?? a.span, def.name, a.name, didYouMean(a.name, def.params.map((q) => q.name)));
      }
      if (given.has(p.name)) return this.error("MOE3006", a.span, def.name, p.name);
      given.set(p.name, a);
    }
    let failed = false;
    for (let i = 0; i < def.params.length; i++) {
      const p = def.params[i]!;
      const decl = (yield this.declType(p.type, scope)) as DeclType | "scalar" | null;
      let value: Value | undefined = i === 0 && fixedInput ? fixedInput : given.get(p.name)?.value;
      const at = given.get(p.name)?.span ?? span;
      if (value === undefined) {
        if (p.default === null) {
          this.error("MOE3004", span, def.name, p.name, `Pass it as '${p.name} = ...'.`);
          failed = true;
          continue;
        }
        value = (yield this.expr(p.default, scope)) as Value;
      }
      if (value.k === "error" || decl === null) failed = true;
      else if (decl === "scalar") {
        const t = (p.type as { name: string }).name;
        const ok = (t === "int" && value.k === "int") || (t === "float" && (value.k === "float" || value.k === "int")) || (t === "bool" && value.k === "bool") || (t === "string" && value.k === "str");
        if (!ok) {
          this.error("MOE3017", at, p.name, def.name, t, describeValue(value), "");
          failed = true;
        } else if (t === "float" && value.k === "int") value = { k: "float", v: value.v };
      } else if (value.k !== "tensor") {
        this.error("MOE3017", at, p.name, def.name, `a tensor ${formatDecl(decl)}`, describeValue(value), "");
        failed = true;
      } else {
        const why = unify(decl, value.type, bindings);
        if (why !== null) {
          this.error("MOE3002", at, `the argument '${p.name}' of '${def.name}'`, formatType(value.type), formatDecl(decl), `${why}.`);
          failed = true;
        }
      }
      scope.set(p.name, { value, isConst: false, span: p.nameSpan });
    }
    if (failed) return ERROR;
    let result: Value | null = null;
    try {
      yield this.stmts(def.body, scope, false);
    } catch (e) {
      if (!(e instanceof Return)) throw e;
      result = e.value;
    }
    if (result === null) return this.error("MOE2007", def.nameSpan, def.name);
    if (def.returns && result.k === "tensor") {
      const decl = (yield this.declType(def.returns, scope)) as DeclType | "scalar" | null;
      if (decl && decl !== "scalar") {
        const why = unify(decl, result.type, bindings);
        if (why !== null) return this.error("MOE3015", def.returns.span, def.name, formatDecl(decl), formatType(result.type));
      }
    }
    return result;
  }

  /** Elaborates one expert body into its own graph, applied to [T, width] tokens. */
  private expertBody(ex: ExpertValue, width: number, prefix: string, span: Span): Graph | null {
    const def = ex.decl!;
    this.used.add(def.name);
    if ((prefix.match(/\{e\}/g) ?? []).length > 1) {
      this.error("MOE4007", ex.span, prefix);
      return null;
    }
    const first = def.params[0];
    if (!first || first.type.kind !== "tensor") {
      this.error("MOE4002", def.nameSpan, `the expert '${def.name}' must take the tokens as its first parameter`, "Write it like 'expert SwiGLU(x: [T, d], ffn: int) -> [T, d]'.");
      return null;
    }
    const saved = { builder: this.builder, prefix: this.prefix, layer: this.layer, inExpert: this.inExpert };
    this.inExpert = true;
    this.builder = new GraphBuilder(def.name);
    this.prefix = prefix;
    this.callStack.push(def.name);
    try {
      const x = this.builder.input(first.name, { dtype: "f32", shape: ["T", width] }, first.nameSpan);
      const input: Value = { k: "tensor", id: x, type: this.builder.typeOf(x) };
      const args: CallArg[] = [...ex.args].map(([name, value]) => ({ name, nameSpan: null, value, span: ex.span }));
      const out = drive(this.runBody(def, args, ex.span, input));
      if (out.k === "error") return null;
      if (out.k !== "tensor" || out.type.shape.length !== 2 || out.type.shape[0] !== "T" || out.type.shape[1] !== width) {
        this.error("MOE4003", ex.span, def.name, width, `[T, ${width}]`, out.k === "tensor" ? formatType(out.type) : describeValue(out));
        return null;
      }
      // An expert runs on the rows routed to it, in any order: only row-wise ops belong there.
      this.builder.output("y", out.id);
      const graph = this.builder.finish();
      const bad = graph.nodes.find((n) => n.op === "attention" || n.op === "mla" || n.op === "moe");
      if (bad) {
        this.error("MOE4002", bad.span ?? ex.span, `'${bad.op}' cannot be used inside the expert '${def.name}': experts see only the tokens routed to them, one row at a time`, "Keep attention and moe in blocks; experts hold row-wise ops (linear, activations, norms).");
        return null;
      }
      return graph;
    } finally {
      this.callStack.pop();
      this.builder = saved.builder;
      this.prefix = saved.prefix;
      this.layer = saved.layer;
      this.inExpert = saved.inExpert;
    }
  }
}

export function join(prefix: string, name: string): string {
  if (prefix === "") return name;
  if (name === "") return prefix;
  return `${prefix}.${name}`;
}
