// The C-style printer: walks a kernel description (ir.ts) and spells it through a language
// table — types, literals, builtins, the kernel's signature and index space, workgroup loops and
// reductions. Everything the languages share (expressions, statements, precedence by full
// parenthesisation, indentation) is here; everything they spell differently is in the table.
import type { Builtin, Expr, KernelDesc, Param, Stmt, Ty } from "./ir.js";

export interface LanguageTable {
  /** The type of a local. */
  type(t: Ty): string;
  literal(t: Ty, v: number): string;
  builtin(fn: Builtin, args: readonly string[]): string;
  /** `const T name = e;` / `T name = e;` */
  declare(name: string, t: Ty, e: string, mutable: boolean): string;
  load(buf: string, i: string): string;
  store(buf: string, i: string, e: string): string;
  has(buf: string): string;
  select(c: string, a: string, b: string): string;
  /** The whole kernel (and its launcher, where the language has one), around the printed body. */
  kernel(desc: KernelDesc, body: readonly string[]): string;
  /** A workgroup-shared loop over j in [0, n). */
  forEach(j: string, n: string, body: readonly string[]): string[];
  /** name = Σ_j e over the workgroup, into every invocation. */
  reduce(name: string, j: string, n: string, e: string): string[];
  /** `switch` on an integer. */
  switch(on: string, cases: readonly (readonly [number, readonly string[]])[], deflt: readonly string[]): string[];
}

const INDENT = "  ";

export class CStylePrinter {
  constructor(private readonly lang: LanguageTable) {}

  kernel(desc: KernelDesc): string {
    return this.lang.kernel(desc, this.block(desc.body));
  }

  private block(stmts: readonly Stmt[]): string[] {
    return stmts.flatMap((s) => this.stmt(s));
  }

  private stmt(s: Stmt): string[] {
    const L = this.lang;
    switch (s.k) {
      case "let":
        return [L.declare(s.name, s.ty, this.expr(s.e), false)];
      case "var":
        return [L.declare(s.name, s.ty, this.expr(s.e), true)];
      case "set":
        return [`${s.name} = ${this.expr(s.e)};`];
      case "store":
        return [L.store(s.buf, this.expr(s.i), this.expr(s.e))];
      case "if": {
        const out = [`if (${this.expr(s.c)}) {`, ...indent(this.block(s.then))];
        if (s.else) out.push("} else {", ...indent(this.block(s.else)));
        out.push("}");
        return out;
      }
      case "switch":
        return L.switch(this.expr(s.on), s.cases.map(([c, body]) => [c, this.block(body)] as const), this.block(s.default));
      case "forEach":
        return L.forEach(s.v, this.expr(s.n), this.block(s.body));
      case "reduce":
        return L.reduce(s.name, s.v, this.expr(s.n), this.expr(s.e));
    }
  }

  expr(e: Expr): string {
    const L = this.lang;
    switch (e.k) {
      case "lit":
        return L.literal(e.ty, e.v);
      case "var":
        return e.name;
      case "bin":
        return `(${this.expr(e.a)} ${e.op} ${this.expr(e.b)})`;
      case "call":
        return L.builtin(e.fn, e.args.map((a) => this.expr(a)));
      case "sel":
        return L.select(this.expr(e.c), this.expr(e.a), this.expr(e.b));
      case "load":
        return L.load(e.buf, this.expr(e.i));
      case "has":
        return L.has(e.buf);
    }
  }
}

export function indent(lines: readonly string[]): string[] {
  return lines.map((l) => INDENT + l);
}

/** Parameters that are buffers. */
export function isBuffer(p: Param): boolean {
  return p.kind.startsWith("f32 ") || p.kind === "i32 in";
}
