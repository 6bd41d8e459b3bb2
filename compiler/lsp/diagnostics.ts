// Compiler diagnostics as LSP diagnostics (code, severity, range, hint), and a debouncer so
// that typing fast checks the document once it pauses, not on every keystroke.
import { DiagnosticSeverity, DiagnosticTag, type Diagnostic as LspDiagnostic } from "vscode-languageserver";
import type { Diagnostic } from "../diagnostics/diagnostic.js";
import type { Analysis } from "./analysis.js";

export function toLspDiagnostic(a: Analysis, d: Diagnostic): LspDiagnostic {
  // Spans of tokens inserted by error recovery are empty; show at least one character.
  const start = d.span?.start ?? 0;
  let end = d.span?.end ?? 0;
  if (end <= start) end = Math.min(a.text.length, start + 1);
  const out: LspDiagnostic = {
    range: a.lines.range(start, end),
    severity: d.severity === "error" ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: d.code,
    source: "moec",
    message: d.hint ? `${d.message}\nHint: ${d.hint}` : d.message,
    // The hint on its own, for clients that show it separately.
    data: { hint: d.hint },
  };
  if (d.code === "MOE2008") out.tags = [DiagnosticTag.Unnecessary];
  return out;
}

export function lspDiagnostics(a: Analysis): LspDiagnostic[] {
  return a.diagnostics.map((d) => toLspDiagnostic(a, d));
}

/** Runs `task(key)` once `delayMs` after the last `schedule(key)`; `now` skips the wait. */
export class Debouncer {
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    public delayMs: number,
    private readonly task: (key: string) => void,
  ) {}

  schedule(key: string, delayMs = this.delayMs): void {
    this.cancel(key);
    if (delayMs <= 0) {
      this.task(key);
      return;
    }
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.task(key);
      }, delayMs),
    );
  }

  cancel(key: string): void {
    const t = this.timers.get(key);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(key);
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
