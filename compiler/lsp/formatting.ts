// Formatting through the compiler's formatter (compiler/format). A file with syntax errors
// is left alone: the formatter refuses it, and the diagnostics already say why.
import { fileURLToPath } from "node:url";
import type { TextEdit } from "vscode-languageserver";
import { formatSource } from "../format/index.js";
import type { Analysis } from "./analysis.js";

export function pathOf(uri: string): string {
  try {
    return uri.startsWith("file:") ? fileURLToPath(uri) : uri;
  } catch {
    return uri;
  }
}

/** One edit covering only what changed, so the cursor and folds outside it stay put. */
export function minimalEdit(a: Analysis, formatted: string): TextEdit[] {
  const old = a.text;
  if (formatted === old) return [];
  let start = 0;
  const max = Math.min(old.length, formatted.length);
  while (start < max && old.charCodeAt(start) === formatted.charCodeAt(start)) start++;
  let endOld = old.length;
  let endNew = formatted.length;
  while (endOld > start && endNew > start && old.charCodeAt(endOld - 1) === formatted.charCodeAt(endNew - 1)) {
    endOld--;
    endNew--;
  }
  // Do not split a \r\n pair.
  if (start > 0 && old.charCodeAt(start - 1) === 13) start--;
  return [{ range: a.lines.range(start, endOld), newText: formatted.slice(start, endNew) }];
}

export async function formatDocument(a: Analysis): Promise<TextEdit[]> {
  if (!a.parses) return [];
  let formatted: string;
  try {
    formatted = await formatSource(a.text, pathOf(a.uri));
  } catch {
    return [];
  }
  return minimalEdit(a, formatted);
}
