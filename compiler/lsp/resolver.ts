// Name resolution over the AST for the editor: which declaration every identifier refers
// to. It follows the elaborator's scoping rules (compiler/sema/elaborate.ts, SPEC §5.1):
// the model (global) scope holds constants, inputs and top-level variables; a block or
// expert body is a function scope whose parent is the model scope; `if` and `for` bodies
// share the scope around them; blocks and experts are hoisted; names in a declared shape
// that are not bound are shape variables. The compiler does not keep a symbol table, so
// this walk builds one; it needs no elaboration and works on a partial (recovered) AST.
import type { Span } from "../diagnostics/diagnostic.js";
import { BUILTIN_EXPERTS, BUILTINS } from "../sema/builtins.js";
import type * as A from "../syntax/ast.js";

export type SymbolKind = "model" | "const" | "input" | "output" | "variable" | "param" | "loop" | "block" | "expert" | "dim";

export interface Sym {
  readonly id: number;
  readonly name: string;
  readonly kind: SymbolKind;
  /** The declaring name's span (the first binding for variables). */
  readonly decl: Span;
  /** The block or expert whose scope holds it; null for model-level names. */
  readonly container: A.BlockMember | null;
  /** Params: the declaration (type, default). */
  readonly param?: A.Param;
  /** Blocks and experts: the definition. */
  readonly def?: A.BlockMember;
  /** Inputs: the declared type. */
  readonly type?: A.TypeExpr;
}

export type Ref =
  /** A use or declaration of a symbol; `value` is the expression bound there (assignments, constants, outputs). */
  | { readonly kind: "sym"; readonly start: number; readonly end: number; readonly sym: Sym; readonly decl: boolean; readonly value?: A.Expr; readonly loop?: Extract<A.Stmt, { kind: "for" }>; readonly inString?: boolean }
  /** A built-in op, record or scalar function named as a callee (or, wrongly, as a value). */
  | { readonly kind: "builtin"; readonly start: number; readonly end: number; readonly name: string; readonly call: Extract<A.Expr, { kind: "call" }> | null }
  /** `zero` / `identity`. */
  | { readonly kind: "builtinExpert"; readonly start: number; readonly end: number; readonly name: string }
  /** A keyword argument's name; `sym` is the block parameter it binds, when the callee is a block. */
  | { readonly kind: "kwarg"; readonly start: number; readonly end: number; readonly name: string; readonly callee: string; readonly sym: Sym | null; readonly call: Extract<A.Expr, { kind: "call" }> }
  /** A dtype or scalar type name in a type. */
  | { readonly kind: "type"; readonly start: number; readonly end: number; readonly name: string }
  /** A name the resolver cannot bind (the checker reports it). */
  | { readonly kind: "unresolved"; readonly start: number; readonly end: number; readonly name: string };

export interface Resolution {
  readonly symbols: readonly Sym[];
  /** Sorted by start offset; they never overlap. */
  readonly refs: readonly Ref[];
  /** Model-level names (constants, inputs, top-level variables and loop variables). */
  readonly globals: ReadonlyMap<string, Sym>;
  readonly defs: ReadonlyMap<string, Sym>;
  /** Parameters and locals of each block/expert, by block name. */
  readonly locals: ReadonlyMap<A.BlockMember, ReadonlyMap<string, Sym>>;
  readonly models: readonly A.Model[];
  refAt(offset: number): Ref | null;
  refsTo(sym: Sym): readonly Ref[];
  /** The block or expert whose text contains the offset. */
  blockAt(offset: number): A.BlockMember | null;
}

type CallExpr = Extract<A.Expr, { kind: "call" }>;

interface Ctx {
  readonly block: A.BlockMember | null;
  /** The current function scope: the model scope at top level. */
  readonly vars: Map<string, Sym>;
  /** Shape variables of this signature (or of the model's inputs). */
  readonly dims: Map<string, Sym>;
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function resolve(program: A.Program, text: string): Resolution {
  const symbols: Sym[] = [];
  const refs: Ref[] = [];
  const globals = new Map<string, Sym>();
  const defs = new Map<string, Sym>();
  const locals = new Map<A.BlockMember, Map<string, Sym>>();
  const params = new Map<string, Map<string, Sym>>();
  const inputDims = new Map<string, Sym>();

  const mk = (name: string, kind: SymbolKind, decl: Span, container: A.BlockMember | null, extra: Partial<Sym> = {}): Sym => {
    const s: Sym = { id: symbols.length, name, kind, decl, container, ...extra };
    symbols.push(s);
    return s;
  };
  const valid = (s: Span | null | undefined): s is Span => !!s && s.end > s.start;
  const ref = (r: Ref) => {
    if (r.end > r.start) refs.push(r);
  };

  // ---- declarations first: blocks are hoisted, and block bodies see every model-level name.
  const models = program.models.filter(Boolean);
  for (const model of models) {
    if (valid(model.nameSpan)) ref({ kind: "sym", start: model.nameSpan.start, end: model.nameSpan.end, sym: mk(model.name, "model", model.nameSpan, null), decl: true });
    for (const m of model.members) {
      if (!m) continue;
      if ((m.kind === "block" || m.kind === "expert") && !defs.has(m.name) && valid(m.nameSpan)) {
        defs.set(m.name, mk(m.name, m.kind, m.nameSpan, null, { def: m }));
        const ps = new Map<string, Sym>();
        for (const p of m.params) if (p && valid(p.nameSpan) && !ps.has(p.name)) ps.set(p.name, mk(p.name, "param", p.nameSpan, m, { param: p }));
        params.set(m.name, ps);
      }
    }
    for (const m of model.members) {
      if (!m) continue;
      if (m.kind === "const") for (const it of m.items) declareGlobal(it?.name, it?.nameSpan, "const");
      else if (m.kind === "input") declareGlobal(m.name, m.nameSpan, "input", { type: m.type });
      else if (m.kind === "stmt") collectStmt(m.stmt);
    }
  }
  function declareGlobal(name: string | undefined, span: Span | undefined, kind: SymbolKind, extra: Partial<Sym> = {}): void {
    if (!name || !valid(span) || globals.has(name)) return;
    globals.set(name, mk(name, kind, span, null, extra));
  }
  function collectStmt(s: A.Stmt | undefined): void {
    if (!s) return;
    if (s.kind === "assign") declareGlobal(s.target, s.targetSpan, "variable");
    else if (s.kind === "for") {
      declareGlobal(s.variable, s.variableSpan, "loop");
      s.body.forEach(collectStmt);
    } else if (s.kind === "if") {
      s.then.forEach(collectStmt);
      s.else?.forEach(collectStmt);
    }
  }

  // ---- uses ----------------------------------------------------------------------------
  const top: Ctx = { block: null, vars: globals, dims: inputDims };

  function lookup(name: string, ctx: Ctx): Sym | undefined {
    return (ctx.block ? ctx.vars.get(name) : undefined) ?? globals.get(name);
  }

  function nameRef(name: string, span: Span, ctx: Ctx): void {
    const s = lookup(name, ctx) ?? defs.get(name);
    if (s) ref({ kind: "sym", start: span.start, end: span.end, sym: s, decl: false });
    else if ((BUILTIN_EXPERTS as readonly string[]).includes(name)) ref({ kind: "builtinExpert", start: span.start, end: span.end, name });
    else if (BUILTINS.has(name)) ref({ kind: "builtin", start: span.start, end: span.end, name, call: null });
    else ref({ kind: "unresolved", start: span.start, end: span.end, name });
  }

  /** Visits an expression left to right with a work list, not recursion: a sum of 20000 terms or a 50000-deep if-chain is legal. */
  function expr(root: A.Expr | null | undefined, ctx: Ctx): void {
    const todo: (A.Expr | null | undefined | (() => void))[] = [root];
    while (todo.length > 0) {
      const e = todo.pop();
      if (!e) continue;
      if (typeof e === "function") {
        e();
        continue;
      }
      switch (e.kind) {
        case "name":
          nameRef(e.name, e.span, ctx);
          break;
        case "call":
          call(e, ctx);
          break;
        case "binary":
          todo.push(e.right, e.left);
          break;
        case "unary":
          todo.push(e.operand);
          break;
        case "cond":
          todo.push(e.else, e.then, e.cond);
          break;
        case "list":
          for (let i = e.items.length - 1; i >= 0; i--) todo.push(e.items[i]);
          break;
        case "of":
          todo.push(e.item, e.count);
          break;
        case "named": {
          const span = e.nameSpan;
          todo.push(() => placeholders(span, ctx), e.expr);
          break;
        }
        default:
          break;
      }
    }
  }

  /** `"model.layers.{i}"`: each `{name}` refers to a variable (`{e}` is the expert index). */
  function placeholders(span: Span, ctx: Ctx): void {
    if (!valid(span)) return;
    const raw = text.slice(span.start, span.end);
    for (const m of raw.matchAll(PLACEHOLDER)) {
      if (m[1] === "e") continue;
      const s = lookup(m[1]!, ctx);
      const start = span.start + m.index + 1;
      if (s) ref({ kind: "sym", start, end: start + m[1]!.length, sym: s, decl: false, inString: true });
    }
  }

  function call(e: CallExpr, ctx: Ctx): void {
    const cs = e.calleeSpan;
    const def = defs.get(e.callee);
    if (valid(cs)) {
      if (def) ref({ kind: "sym", start: cs.start, end: cs.end, sym: def, decl: false });
      else if (BUILTINS.has(e.callee)) ref({ kind: "builtin", start: cs.start, end: cs.end, name: e.callee, call: e });
      else nameRef(e.callee, cs, ctx);
    }
    const ps = def ? params.get(def.name) : undefined;
    for (const a of e.args) {
      if (!a) continue;
      if (a.name !== null && valid(a.nameSpan)) {
        ref({ kind: "kwarg", start: a.nameSpan.start, end: a.nameSpan.end, name: a.name, callee: e.callee, sym: ps?.get(a.name) ?? null, call: e });
      }
      expr(a.value, ctx);
    }
  }

  function typeExpr(t: A.TypeExpr | null | undefined, ctx: Ctx): void {
    if (!t) return;
    if (t.kind === "scalar") {
      if (t.name && valid(t.span)) ref({ kind: "type", start: t.span.start, end: t.span.start + t.name.length, name: t.name });
      return;
    }
    if (t.dtype !== null && valid(t.span)) ref({ kind: "type", start: t.span.start, end: t.span.start + t.dtype.length, name: t.dtype });
    for (const d of t.dims) {
      if (d && d.kind === "name" && !lookup(d.name, ctx)) {
        let s = ctx.dims.get(d.name);
        const isDecl = !s;
        if (!s) {
          s = mk(d.name, "dim", d.span, ctx.block);
          ctx.dims.set(d.name, s);
        }
        ref({ kind: "sym", start: d.span.start, end: d.span.end, sym: s, decl: isDecl });
      } else expr(d, ctx);
    }
  }

  function bind(name: string, span: Span, kind: "variable" | "loop", ctx: Ctx, extra: { value?: A.Expr; loop?: Extract<A.Stmt, { kind: "for" }> }): void {
    if (!valid(span)) return;
    let s = ctx.block ? ctx.vars.get(name) : globals.get(name);
    // Assigning to a model constant inside a block is an error (MOE2003); it still names the constant.
    if (!s && ctx.block) s = globals.get(name)?.kind === "const" ? globals.get(name) : undefined;
    let isDecl = false;
    if (!s) {
      s = mk(name, kind, span, ctx.block);
      ctx.vars.set(name, s);
    }
    if (s.decl.start === span.start) isDecl = true;
    ref({ kind: "sym", start: span.start, end: span.end, sym: s, decl: isDecl, ...extra });
  }

  function stmt(s: A.Stmt | null | undefined, ctx: Ctx): void {
    if (!s) return;
    switch (s.kind) {
      case "assign":
        expr(s.value, ctx);
        bind(s.target, s.targetSpan, "variable", ctx, { value: s.value });
        return;
      case "return":
        expr(s.value, ctx);
        return;
      case "if":
        expr(s.cond, ctx);
        s.then.forEach((x) => stmt(x, ctx));
        s.else?.forEach((x) => stmt(x, ctx));
        return;
      case "for":
        expr(s.from, ctx);
        expr(s.to, ctx);
        bind(s.variable, s.variableSpan, "loop", ctx, { loop: s });
        s.body.forEach((x) => stmt(x, ctx));
        return;
    }
  }

  for (const model of models) {
    for (const m of model.members) {
      if (!m) continue;
      switch (m.kind) {
        case "const":
          for (const it of m.items) {
            if (!it) continue;
            expr(it.value, top);
            const s = globals.get(it.name);
            if (s && valid(it.nameSpan)) ref({ kind: "sym", start: it.nameSpan.start, end: it.nameSpan.end, sym: s, decl: s.decl.start === it.nameSpan.start, value: it.value });
          }
          break;
        case "input": {
          const s = globals.get(m.name);
          if (s && valid(m.nameSpan)) ref({ kind: "sym", start: m.nameSpan.start, end: m.nameSpan.end, sym: s, decl: s.decl.start === m.nameSpan.start });
          typeExpr(m.type, top);
          break;
        }
        case "output":
          expr(m.value, top);
          if (valid(m.nameSpan)) ref({ kind: "sym", start: m.nameSpan.start, end: m.nameSpan.end, sym: mk(m.name, "output", m.nameSpan, null), decl: true, value: m.value });
          break;
        case "stmt":
          stmt(m.stmt, top);
          break;
        case "block":
        case "expert": {
          const d = defs.get(m.name);
          const own = d?.def === m;
          if (valid(m.nameSpan)) {
            // A duplicate definition (MOE2002) gets its own symbol so its name still resolves.
            const sym = own ? d : mk(m.name, m.kind, m.nameSpan, null, { def: m });
            ref({ kind: "sym", start: m.nameSpan.start, end: m.nameSpan.end, sym: sym!, decl: true });
          }
          const vars = new Map<string, Sym>();
          locals.set(m, vars);
          const ctx: Ctx = { block: m, vars, dims: new Map() };
          const ps = own ? params.get(m.name)! : new Map<string, Sym>();
          for (const p of m.params) {
            if (!p) continue;
            typeExpr(p.type, ctx);
            expr(p.default, ctx);
            const s = ps.get(p.name) ?? (valid(p.nameSpan) ? mk(p.name, "param", p.nameSpan, m, { param: p }) : undefined);
            if (!s) continue;
            vars.set(p.name, s);
            ref({ kind: "sym", start: p.nameSpan.start, end: p.nameSpan.end, sym: s, decl: s.decl.start === p.nameSpan.start });
          }
          m.body.forEach((x) => stmt(x, ctx));
          typeExpr(m.returns, ctx);
          break;
        }
      }
    }
  }

  refs.sort((a, b) => a.start - b.start || a.end - b.end);
  // Drop duplicates (a span visited twice by recovery) so the list never overlaps.
  const sorted: Ref[] = [];
  for (const r of refs) {
    const last = sorted[sorted.length - 1];
    if (last && r.start < last.end) continue;
    sorted.push(r);
  }
  const bySym = new Map<number, Ref[]>();
  for (const r of sorted) {
    const s = r.kind === "sym" ? r.sym : r.kind === "kwarg" ? r.sym : null;
    if (!s) continue;
    let list = bySym.get(s.id);
    if (!list) bySym.set(s.id, (list = []));
    list.push(r);
  }
  const blocks = models.flatMap((m) => m.members.filter((x): x is A.BlockMember => !!x && (x.kind === "block" || x.kind === "expert")));

  return {
    symbols,
    refs: sorted,
    globals,
    defs,
    locals,
    models,
    refAt(offset) {
      let lo = 0;
      let hi = sorted.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const r = sorted[mid]!;
        if (r.end < offset) lo = mid + 1;
        else if (r.start > offset) hi = mid - 1;
        else {
          // The cursor just after one name and just before the next: prefer the one it is in.
          const next = sorted[mid + 1];
          if (r.end === offset && next && next.start === offset) return next;
          return r;
        }
      }
      return null;
    },
    refsTo(sym) {
      return bySym.get(sym.id) ?? [];
    },
    blockAt(offset) {
      return blocks.find((b) => b.span.start <= offset && offset <= b.span.end) ?? null;
    },
  };
}
