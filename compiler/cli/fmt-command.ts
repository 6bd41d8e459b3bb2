// `moec fmt FILE... [--check]`: formats .moe files in place with the compiler's formatter
// (compiler/format). A file is rewritten atomically (a temporary file in the same folder,
// then a rename) and only when its text changes. `--check` writes nothing and lists the
// files that would change. A file with syntax errors is reported with the usual diagnostics
// and left as it is. Exit code 1 when any file has errors or, with --check, would change.
import { randomBytes } from "node:crypto";
import { realpath, rename, stat, unlink, writeFile } from "node:fs/promises";
import { CappedReadError, readFileCapped } from "../../runtime/weights/read-capped.js";
import { basename, dirname, join } from "node:path";
import { diagnostic, hasErrors, parseSource, type CheckedSource, type Diagnostic } from "../index.js";
import type { Command } from "./commands.js";
import { reportDiagnostics, UsageError, type Io } from "./io.js";
import { MAX_SOURCE_BYTES } from "../syntax/parse.js";
import { removeOnSignal } from "../run/cleanup.js";

type Outcome = "unchanged" | "changed" | "error";

function failed(io: Io, file: string, text: string, diagnostics: readonly Diagnostic[]): Outcome {
  const checked: CheckedSource = { file, text, program: null, graph: null, diagnostics };
  reportDiagnostics(io, checked);
  return "error";
}

/** Reads a file as strict UTF-8; a leading byte-order mark stays in the text (formatSource keeps it). */
async function readSource(io: Io, file: string): Promise<string | Outcome> {
  let bytes: Buffer;
  const at = { file, start: 0, end: 0, line: 1, column: 1 };
  try {
    bytes = await readFileCapped(file, MAX_SOURCE_BYTES);
  } catch (e) {
    if (e instanceof CappedReadError && e.reason === "too-large") return failed(io, file, "", [diagnostic("MOE1006", at, e.size ?? `more than ${MAX_SOURCE_BYTES}`, MAX_SOURCE_BYTES)]);
    const why = e instanceof CappedReadError ? e.problem : (e as Error).message;
    return failed(io, file, "", [diagnostic("MOE6001", null, file, why)]);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return failed(io, file, "", [diagnostic("MOE1008", at)]);
  }
}

/** Replaces `file`'s contents without ever leaving it half-written: write a sibling temp file, then rename. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const target = await realpath(file); // through a symlink: replace the file it points to, keep the link
  const st = await stat(target);
  // A device or pipe is never replaced by a file (as root, renaming onto /dev/tty would succeed).
  if (!st.isFile()) throw new Error("it is not a regular file; 'moec fmt' rewrites files in place (format a copy, or use --check)");
  const mode = st.mode & 0o7777;
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.moec-fmt`);
  const unregister = removeOnSignal(tmp);
  try {
    await writeFile(tmp, text, { mode, flag: "wx" });
    await rename(tmp, target);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  } finally {
    unregister();
  }
}

async function formatOne(io: Io, file: string, check: boolean): Promise<Outcome> {
  const text = await readSource(io, file);
  if (text === "error" || text === "changed" || text === "unchanged") return text;
  const source = text.replace(/^\uFEFF/, "");
  const parsed = parseSource(file, source);
  if (hasErrors(parsed.diagnostics)) return failed(io, file, source, parsed.diagnostics);
  let formatted: string;
  try {
    // prettier loads only when something is formatted.
    const { formatSource } = await import("../format/index.js");
    formatted = await formatSource(text, file);
  } catch (e) {
    // Too deep to format (MOE6004): reported with its place, the file left alone.
    if ((e as Error).name === "MoeSyntaxError") return failed(io, file, source, (e as { diagnostics: readonly Diagnostic[] }).diagnostics);
    // Not a syntax error (those were reported above): a formatter bug. Leave the file alone.
    return failed(io, file, source, [diagnostic("MOE5002", null, `formatting ${file}: ${(e as Error).message}`)]);
  }
  if (formatted === text) return "unchanged";
  if (check) return "changed";
  try {
    await writeAtomically(file, formatted);
  } catch (e) {
    return failed(io, file, "", [diagnostic("MOE6001", null, file, `cannot write: ${(e as Error).message}`)]);
  }
  return "changed";
}

export const fmtCommand: Command = {
  name: "fmt",
  summary: "Format .moe files in place (--check: only list the files that would change).",
  usage: "moec fmt FILE.moe... [--check]",
  options: { check: { type: "boolean" } },
  async run(io, positionals, values) {
    if (positionals.length === 0) throw new UsageError("'moec fmt' takes one or more .moe files.");
    const check = values["check"] === true;
    const changed: string[] = [];
    let errors = 0;
    for (const file of new Set(positionals)) {
      const outcome = await formatOne(io, file, check);
      if (outcome === "error") errors++;
      else if (outcome === "changed") {
        changed.push(file);
        io.out(check ? `${file}: would be reformatted` : `${file}: formatted`);
      }
    }
    const s = (n: number) => (n === 1 ? "" : "s");
    if (check && changed.length > 0) io.err(`${changed.length} file${s(changed.length)} would be reformatted; run 'moec fmt' on ${changed.length === 1 ? "it" : "them"}.`);
    if (errors > 0) io.err(`${errors} file${s(errors)} not formatted because of errors.`);
    return errors > 0 || (check && changed.length > 0) ? 1 : 0;
  },
};
