// Output helpers for the CLI: colour only on a TTY and never when NO_COLOR is set.
import { formatDiagnostics } from "../diagnostics/format.js";
import type { CheckedSource } from "../index.js";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  readonly color: boolean;
}

export function processIo(): Io {
  const noColor = process.env["NO_COLOR"] !== undefined && process.env["NO_COLOR"] !== "";
  return {
    out: (t) => process.stdout.write(t.endsWith("\n") ? t : t + "\n"),
    err: (t) => process.stderr.write(t.endsWith("\n") ? t : t + "\n"),
    color: !noColor && process.stderr.isTTY === true,
  };
}

/** Prints a file's diagnostics with source excerpts; returns whether there were errors. */
export function reportDiagnostics(io: Io, checked: CheckedSource): boolean {
  if (checked.diagnostics.length > 0) {
    io.err(formatDiagnostics(checked.diagnostics, { sources: new Map([[checked.file, checked.text]]), color: io.color }));
    const errors = checked.diagnostics.filter((d) => d.severity === "error").length;
    const warnings = checked.diagnostics.length - errors;
    const parts = [errors ? `${errors} error${errors === 1 ? "" : "s"}` : "", warnings ? `${warnings} warning${warnings === 1 ? "" : "s"}` : ""].filter(Boolean);
    io.err(`\n${parts.join(", ")} in ${checked.file}`);
  }
  return checked.graph === null;
}

export class UsageError extends Error {}
