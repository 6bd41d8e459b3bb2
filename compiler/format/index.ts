// The .moe formatter: a prettier plugin built on the compiler's own parser.
//
//   import { formatSource } from "./format/index.js";
//   const pretty = await formatSource(text, "model.moe");   // throws MoeSyntaxError on syntax errors
//
// The plugin (`moePlugin`: language "moe", parser "moe", printer for astFormat "moe") can
// also be handed to prettier directly. Layout and comment rules: printer.ts.
import type { Parser, Plugin } from "prettier";
import { format } from "prettier/standalone";
import { diagnostic, hasErrors, type Diagnostic } from "../diagnostics/diagnostic.js";
import { programDepth } from "../syntax/depth.js";
import { formatDiagnostics } from "../diagnostics/format.js";
import { parseSource } from "../syntax/parse.js";
import { moePrinter } from "./printer.js";
import { buildTree, type FComment, type FNode } from "./tree.js";

export type { FNode, FProgram, FComment } from "./tree.js";

/** The print width and indentation of .moe files. */
export const MOE_FORMAT_OPTIONS = { printWidth: 100, tabWidth: 2, useTabs: false } as const;

/**
 * The deepest nesting the formatter takes: prettier walks the tree recursively, and a sum of
 * about 800 terms overflows its stack. Deeper programs are refused with MOE6004, left as they are.
 */
export const MAX_FORMAT_DEPTH = 300;

/** Thrown (not formatted) for a file with syntax errors, or nested deeper than MAX_FORMAT_DEPTH; `diagnostics` say which. */
export class MoeSyntaxError extends Error {
  override readonly name = "MoeSyntaxError";
  constructor(
    readonly file: string,
    readonly text: string,
    readonly diagnostics: readonly Diagnostic[],
  ) {
    const errors = diagnostics.filter((d) => d.severity === "error").length;
    super(
      `Cannot format ${file}: ${errors} syntax error${errors === 1 ? "" : "s"}.\n` +
        formatDiagnostics(diagnostics, { sources: new Map([[file, text]]), color: false }),
    );
  }
}

export const moeParser: Parser<FNode> = {
  astFormat: "moe",
  parse(text, options) {
    const file = options.filepath ?? "input.moe";
    const parsed = parseSource(file, text);
    if (hasErrors(parsed.diagnostics)) throw new MoeSyntaxError(file, text, parsed.diagnostics);
    const deep = programDepth(parsed.program);
    if (deep.depth > MAX_FORMAT_DEPTH) throw new MoeSyntaxError(file, text, [diagnostic("MOE6004", deep.span, deep.depth, MAX_FORMAT_DEPTH)]);
    const tree = buildTree(parsed.program, parsed.tokens, text);
    tree.comments = parsed.program.comments.map((c): FComment => ({ type: "Comment", value: c.text, start: c.span.start, end: c.span.end }));
    return tree;
  },
  locStart: (node) => node.start,
  locEnd: (node) => node.end,
};

export const moePlugin: Plugin<FNode> = {
  languages: [{ name: "moe", parsers: ["moe"], extensions: [".moe"], vscodeLanguageIds: ["moe"] }],
  parsers: { moe: moeParser },
  printers: { moe: moePrinter },
  defaultOptions: { ...MOE_FORMAT_OPTIONS },
};

/**
 * Formats one .moe source text. Line endings follow the input's first line ending, and a
 * leading byte-order mark is kept. Throws MoeSyntaxError (with the diagnostics) when the
 * text has syntax errors; the text is never partly formatted.
 */
export async function formatSource(text: string, filepath = "input.moe"): Promise<string> {
  const bom = text.startsWith("\uFEFF") ? "\uFEFF" : "";
  const body = bom ? text.slice(1) : text;
  const out = await format(body, { ...MOE_FORMAT_OPTIONS, parser: "moe", plugins: [moePlugin], filepath, endOfLine: "auto" });
  return bom + out;
}
