// The moec compiler as a library. The CLI (cli/) and the language server (lsp/) are thin
// layers over these functions.
import { CappedReadError, readFileCapped } from "../runtime/weights/read-capped.js";
import { diagnostic, hasErrors, type Diagnostic } from "./diagnostics/diagnostic.js";
import type { Graph } from "./ir/graph.js";
import { checkProgram } from "./sema/check.js";
import type { Program } from "./syntax/ast.js";
import { parseSource, MAX_SOURCE_BYTES } from "./syntax/parse.js";

export { diagnostic, hasErrors, allCodes, type Diagnostic, type DiagnosticCode, type Span } from "./diagnostics/diagnostic.js";
export { formatDiagnostic, formatDiagnostics } from "./diagnostics/format.js";
export { parseSource } from "./syntax/parse.js";
export { checkProgram } from "./sema/check.js";
export { BUILTINS } from "./sema/builtins.js";
export type * from "./ir/graph.js";
export * from "./ir/types.js";
export { printGraph } from "./ir/printer.js";
export { verifyGraph } from "./ir/verifier.js";
export { modelStats, type ModelStats, type LayerStats } from "./ir/stats.js";
export { PIPELINE, runPipeline, runPlanPipeline, planGraph, findPass, type PassOptions } from "./passes/pipeline.js";
export type { Pass, GraphPass, PlanPass, PassOption } from "./passes/pass.js";
// Import: Hugging Face configs and GGUF files as .moe programs.
export { importHfConfig, importHfDir } from "./import/hf.js";
// Lowering: graph IR → plan, the plan's verifier and printer.
export { lowerGraph, LowerError } from "./lower/lower.js";
export { verifyPlan } from "./lower/verify.js";
export { printPlan } from "./lower/printer.js";
// Backends: the registry of targets (each a device for the runtime and an emitter).
export { BACKENDS, TARGETS, findBackend, type Backend } from "../backends/registry.js";
// Running: models and weights from files, the reference interpreter, and the plan in process.
export { loadGraph, loadWeights, RunError, type LoadedGraph, type LoadedModel } from "./run/load.js";
export { ReferenceSession, type WeightStore } from "./reference/interpreter.js";
export { generate as generateReference, promptLogits as referenceLogits } from "./run/generate.js";
export type { Plan, Step } from "../runtime/plan/plan.js";

/** Loads a model onto a registered backend in this process (what `moec run --target T` does). */
export async function runOnBackend(...args: Parameters<typeof import("./run/engines.js").planModel>): ReturnType<typeof import("./run/engines.js").planModel> {
  return (await import("./run/engines.js")).planModel(...args);
}

/** Writes a bundle for a target (what `moec compile` does); loads esbuild and ts-morph only when called. */
export async function emitBundle(...args: Parameters<typeof import("./emit/bundle.js").writeBundle>): ReturnType<typeof import("./emit/bundle.js").writeBundle> {
  return (await import("./emit/bundle.js")).writeBundle(...args);
}

export interface CheckedSource {
  readonly file: string;
  readonly text: string;
  readonly program: Program | null;
  /** Null when there were errors. */
  readonly graph: Graph | null;
  readonly diagnostics: readonly Diagnostic[];
}

/** Parses and checks one source text. Never throws on bad input: problems are diagnostics. */
export function checkSource(file: string, text: string): CheckedSource {
  const parsed = parseSource(file, text);
  if (hasErrors(parsed.diagnostics)) return { file, text, program: parsed.program, graph: null, diagnostics: parsed.diagnostics };
  const checked = checkProgram(parsed.program);
  const diagnostics = [...parsed.diagnostics, ...checked.diagnostics];
  return { file, text, program: parsed.program, graph: hasErrors(diagnostics) ? null : checked.graph, diagnostics };
}

/** Reads a .moe file (as strict UTF-8) and checks it. */
export async function checkFile(path: string): Promise<CheckedSource> {
  let bytes: Buffer;
  const at = { file: path, start: 0, end: 0, line: 1, column: 1 };
  try {
    // Size checked before and while reading: /dev/zero or a huge file must not fill memory.
    bytes = await readFileCapped(path, MAX_SOURCE_BYTES);
  } catch (e) {
    if (e instanceof CappedReadError && e.reason === "too-large") return { file: path, text: "", program: null, graph: null, diagnostics: [diagnostic("MOE1006", at, e.size ?? `more than ${MAX_SOURCE_BYTES}`, MAX_SOURCE_BYTES)] };
    const why = e instanceof CappedReadError ? e.problem : (e as Error).message;
    return { file: path, text: "", program: null, graph: null, diagnostics: [diagnostic("MOE6001", null, path, why)] };
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { file: path, text: "", program: null, graph: null, diagnostics: [diagnostic("MOE1008", at)] };
  }
  return checkSource(path, text.replace(/^\uFEFF/, ""));
}
