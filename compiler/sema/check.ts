// The checker's entry point: a parsed program in, a graph and every diagnostic out.
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import type { Graph } from "../ir/graph.js";
import type { Program } from "../syntax/ast.js";
import { Elaborator } from "./elaborate.js";

export interface CheckResult {
  readonly graph: Graph | null;
  readonly diagnostics: readonly Diagnostic[];
}

export function checkProgram(program: Program): CheckResult {
  if (program.models.length !== 1) {
    const span = program.models[1]?.nameSpan ?? { file: program.file, start: 0, end: 0, line: 1, column: 1 };
    return { graph: null, diagnostics: [diagnostic("MOE2004", span, program.models.length)] };
  }
  const elab = new Elaborator(program.models[0]!);
  try {
    const graph = elab.run();
    return { graph, diagnostics: elab.diags };
  } catch (e) {
    // Elaboration recurses over the AST; a pathological file must not crash the compiler.
    if (e instanceof RangeError) return { graph: null, diagnostics: [...elab.diags, diagnostic("MOE1007", elab.at ?? program.models[0]!.nameSpan, 256)] };
    const msg = e instanceof Error ? e.message : String(e);
    return { graph: null, diagnostics: [...elab.diags, diagnostic("MOE5002", null, msg)] };
  }
}
