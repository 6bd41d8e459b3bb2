// Renders diagnostics the way compilers people know do it:
//   model.moe:12:7: error MOE3002: Shape mismatch in ...
//     12 |   h = linear(x, 2048) + y
//        |       ^^^^^^^^^^^^^^^
//     hint: ...
import type { Diagnostic } from "./diagnostic.js";

export interface FormatOptions {
  /** The source text of each file named in a span, to print the offending line. */
  readonly sources?: ReadonlyMap<string, string>;
  readonly color?: boolean;
}

const ansi = (code: string, on: boolean) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

/** Control characters from the user's file must never reach the terminal as escape codes. */
function visible(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export function formatDiagnostic(d: Diagnostic, opts: FormatOptions = {}): string {
  const c = opts.color ?? false;
  const red = ansi("1;31", c);
  const yellow = ansi("1;33", c);
  const bold = ansi("1", c);
  const dim = ansi("2", c);
  const cyan = ansi("36", c);
  const where = d.span ? `${d.span.file}:${d.span.line}:${d.span.column}: ` : "";
  const sev = d.severity === "error" ? red("error") : yellow("warning");
  const lines = [`${bold(visible(where))}${sev} ${dim(d.code)}: ${visible(d.message)}`];
  const source = d.span ? opts.sources?.get(d.span.file) : undefined;
  if (d.span && source !== undefined) {
    const excerpt = sourceExcerpt(source, d.span.start, d.span.end, d.span.line);
    if (excerpt) {
      const gutter = String(d.span.line).length;
      lines.push(`${dim(`${String(d.span.line).padStart(gutter)} |`)} ${excerpt.text}`);
      lines.push(`${dim(`${" ".repeat(gutter)} |`)} ${" ".repeat(excerpt.caretCol)}${red("^".repeat(excerpt.caretLen))}`);
    }
  }
  if (d.hint) lines.push(`  ${cyan("hint")}: ${visible(d.hint)}`);
  return lines.join("\n");
}

/** The line holding `start`, tabs expanded, clipped to 160 columns so binary junk stays readable. */
function sourceExcerpt(
  source: string,
  start: number,
  end: number,
  _line: number,
): { text: string; caretCol: number; caretLen: number } | null {
  if (start < 0 || start > source.length) return null;
  const lineStart = source.lastIndexOf("\n", start - 1) + 1;
  let lineEnd = source.indexOf("\n", start);
  if (lineEnd < 0) lineEnd = source.length;
  const raw = source.slice(lineStart, lineEnd).replace(/\r$/, "");
  const clean = (s: string) => s.replace(/\t/g, "  ").replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, "?");
  const before = clean(raw.slice(0, start - lineStart));
  const width = 160;
  let text = clean(raw);
  let caretCol = [...before].length;
  if (caretCol > width - 20) {
    const cut = caretCol - 40;
    text = "…" + [...text].slice(cut + 1).join("");
    caretCol = 40;
  }
  const chars = [...text];
  if (chars.length > width) text = chars.slice(0, width).join("") + "…";
  const spanLen = Math.max(1, Math.min(end, lineEnd) - start);
  const caretLen = Math.max(1, Math.min(spanLen, width - caretCol));
  return { text, caretCol, caretLen };
}

export function formatDiagnostics(ds: readonly Diagnostic[], opts: FormatOptions = {}): string {
  return ds.map((d) => formatDiagnostic(d, opts)).join("\n\n");
}
