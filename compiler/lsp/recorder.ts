// Checking for the editor: the compiler's own elaborator, subclassed to remember what each
// expression evaluated to (shape and dtype of tensors, values of constants, router records)
// and which graph nodes every block call created. Nothing in compiler/sema changes: the
// subclass only observes `expr`, `addNode` and the expert-body hooks, which are public.
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import type { Graph } from "../ir/graph.js";
import type { NodeSpec } from "../ir/builder.js";
import { checkProgram } from "../sema/check.js";
import type { CallInfo } from "../sema/context.js";
import { Elaborator } from "../sema/elaborate.js";
import type { Thunk } from "../sema/trampoline.js";
import type { Scope } from "../sema/scope.js";
import type { ExpertValue, Value } from "../sema/values.js";
import type * as A from "../syntax/ast.js";

/** The distinct values one expression took (a loop evaluates it once per iteration). */
export interface Recorded {
  readonly values: Value[];
  count: number;
  /** More distinct values were seen than are kept. */
  truncated: boolean;
}

/** One evaluation of a block (or an expert applied to tokens): the main-graph nodes it made. */
export interface CallFrame {
  readonly def: string;
  readonly ids: number[];
}

export interface CheckInfo {
  readonly graph: Graph | null;
  readonly diagnostics: readonly Diagnostic[];
  readonly values: ReadonlyMap<number, Recorded>;
  readonly frames: readonly CallFrame[];
}

const MAX_DISTINCT = 8;

/** Span → map key (offsets are below 2^24, so this is exact). */
export function spanKey(start: number, end: number): number {
  return start * 2 ** 25 + end;
}

function valueKey(v: Value): string {
  switch (v.k) {
    case "int":
    case "float":
    case "bool":
    case "str":
      return `${v.k}:${v.v}`;
    case "tensor":
      return `t:${v.type.dtype}[${v.type.shape.join(",")}]`;
    case "record":
      return `r:${v.ctor}:${[...v.fields].map(([k, f]) => `${k}=${valueKey(f)}`).join(",")}`;
    case "expert":
      return `e:${v.decl?.name ?? v.builtin}:${[...v.args].map(([k, f]) => `${k}=${valueKey(f)}`).join(",")}`;
    case "experts":
      return `x:${v.groups.map((g) => `${g.count}*${valueKey(g.expert)}`).join(",")}`;
    case "list":
      return `l:${v.items.map(valueKey).join(",")}`;
    case "def":
      return `d:${v.decl.name}`;
    default:
      return v.k;
  }
}

class RecordingElaborator extends Elaborator {
  readonly values = new Map<number, Recorded>();
  readonly frames: CallFrame[] = [];
  private readonly open: CallFrame[] = [];
  private readonly keys = new Map<number, Set<string>>();
  private subgraphDepth = 0;

  constructor(
    model: A.Model,
    private readonly defKinds: ReadonlyMap<string, "block" | "expert">,
  ) {
    super(model);
  }

  private record(span: { start: number; end: number }, v: Value): void {
    if (!(span.end > span.start)) return;
    const key = spanKey(span.start, span.end);
    let r = this.values.get(key);
    if (!r) {
      r = { values: [], count: 0, truncated: false };
      this.values.set(key, r);
      this.keys.set(key, new Set());
    }
    r.count++;
    const seen = this.keys.get(key)!;
    if (seen.size >= MAX_DISTINCT) {
      if (!r.truncated && !seen.has(valueKey(v))) r.truncated = true;
      return;
    }
    const k = valueKey(v);
    if (seen.has(k)) return;
    seen.add(k);
    r.values.push(v);
  }

  override *expr(e: A.Expr, scope: Scope): Thunk<Value> {
    const call = e.kind === "call" ? e : e.kind === "named" && e.expr.kind === "call" ? e.expr : null;
    const frame = call && this.subgraphDepth === 0 && this.defKinds.has(call.callee) ? { def: call.callee, ids: [] as number[] } : null;
    if (frame) this.open.push(frame);
    let v: Value;
    try {
      v = yield* super.expr(e, scope);
    } finally {
      if (frame) this.open.pop();
    }
    // An expert called with configuration only (`SwiGLU(ffn = 64)`) runs no body.
    if (frame && v.k !== "expert" && v.k !== "error") this.frames.push(frame);
    this.record(e.span, v);
    if (e.kind === "named") this.record(e.expr.span, v);
    return v;
  }

  override addNode(spec: Omit<NodeSpec, "name" | "layer" | "span">, call: CallInfo, name: string): Value {
    const v = super.addNode(spec, call, name);
    if (v.k === "tensor" && this.subgraphDepth === 0) for (const f of this.open) f.ids.push(v.id);
    return v;
  }

  override expertGroups(groups: Extract<Value, { k: "experts" }>["groups"], width: number, moeName: string, span: A.Expr["span"]) {
    this.subgraphDepth++;
    try {
      return super.expertGroups(groups, width, moeName, span);
    } finally {
      this.subgraphDepth--;
    }
  }

  override sharedExpert(expert: ExpertValue, width: number, moeName: string, span: A.Expr["span"]) {
    this.subgraphDepth++;
    try {
      return super.sharedExpert(expert, width, moeName, span);
    } finally {
      this.subgraphDepth--;
    }
  }
}

/**
 * Checks a parsed program exactly as `checkProgram` does, and records what the editor
 * shows on hover. Unlike `checkSource`, the graph is kept even when there are semantic
 * errors, so hovers work while the file is still wrong elsewhere.
 */
export function checkForEditor(program: A.Program): CheckInfo {
  if (program.models.length !== 1) {
    const r = checkProgram(program);
    return { graph: null, diagnostics: r.diagnostics, values: new Map(), frames: [] };
  }
  const model = program.models[0]!;
  const defKinds = new Map<string, "block" | "expert">();
  for (const m of model.members) if (m && (m.kind === "block" || m.kind === "expert") && !defKinds.has(m.name)) defKinds.set(m.name, m.kind);
  const elab = new RecordingElaborator(model, defKinds);
  try {
    const graph = elab.run();
    return { graph, diagnostics: elab.diags, values: elab.values, frames: elab.frames };
  } catch (e) {
    if (e instanceof RangeError) return { graph: null, diagnostics: [...elab.diags, diagnostic("MOE1007", elab.at ?? model.nameSpan, 256)], values: elab.values, frames: [] };
    const msg = e instanceof Error ? e.message : String(e);
    return { graph: null, diagnostics: [...elab.diags, diagnostic("MOE5002", null, msg)], values: elab.values, frames: [] };
  }
}
