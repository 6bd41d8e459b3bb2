// Variable scopes of the elaborator. A block or expert body is a function scope; `if` and
// `for` bodies share the scope around them (as in Python), so a loop can carry `h`.
import type { Span } from "../diagnostics/diagnostic.js";
import type { Value } from "./values.js";

export interface Binding {
  readonly value: Value;
  readonly isConst: boolean;
  readonly span: Span | null;
}

export class Scope {
  private readonly vars = new Map<string, Binding>();

  constructor(readonly parent: Scope | null) {}

  lookup(name: string): Binding | undefined {
    return this.vars.get(name) ?? this.parent?.lookup(name);
  }

  /** Only the current function scope; parents hold constants, which are read-only. */
  local(name: string): Binding | undefined {
    return this.vars.get(name);
  }

  set(name: string, b: Binding): void {
    this.vars.set(name, b);
  }

  names(): string[] {
    return [...this.vars.keys(), ...(this.parent?.names() ?? [])];
  }
}
