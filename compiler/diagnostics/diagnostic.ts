// Diagnostics: every message the compiler prints comes from messages.json, so each has a
// stable code (MOE1xxx syntax, 2xxx names, 3xxx types and shapes, 4xxx MoE constructs,
// 5xxx IR, 6xxx tooling). Text is filled in from positional arguments {0}, {1}, ...
import catalogue from "./messages.json" with { type: "json" };

export type Severity = "error" | "warning";
export type DiagnosticCode = keyof typeof catalogue;

/** A half-open range of source text; line and column are 1-based. */
export interface Span {
  readonly file: string;
  readonly start: number;
  readonly end: number;
  readonly line: number;
  readonly column: number;
}

export interface Diagnostic {
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  readonly message: string;
  readonly hint: string | null;
  readonly span: Span | null;
}

function fill(template: string, args: readonly (string | number)[]): string {
  return template.replace(/\{(\d+)\}/g, (_m, i: string) => String(args[Number(i)] ?? ""));
}

export function diagnostic(
  code: DiagnosticCode,
  span: Span | null,
  ...args: (string | number)[]
): Diagnostic {
  const entry = catalogue[code] as { severity: string; message: string; hint: string | null };
  const hint = entry.hint === null ? null : fill(entry.hint, args);
  return {
    code,
    severity: entry.severity as Severity,
    message: fill(entry.message, args),
    hint: hint === "" ? null : hint,
    span,
  };
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === "error");
}

/** Every catalogue entry, for documentation and tests. */
export function allCodes(): DiagnosticCode[] {
  return Object.keys(catalogue) as DiagnosticCode[];
}

/** Thrown by internal code paths that must stop elaboration; caught at the API boundary. */
export class DiagnosticError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}
