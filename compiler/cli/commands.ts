// The moec subcommands. Each parses its own flags, prints its own --help, and returns an
// exit code: 0 ok, 1 diagnostics (the input has errors), 2 usage (the command line is wrong).
import { passesCommand, targetsCommand } from "./registry-commands.js";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { diagnostic, checkFile, PIPELINE, findPass, printGraph, runPipeline, verifyGraph, modelStats, formatDiagnostics } from "../index.js";
import { lowerGraph, LowerError } from "../lower/lower.js";
import { printPlan } from "../lower/printer.js";
import { runPlanPipeline } from "../passes/pipeline.js";
import { formatInfo } from "./info.js";
import { importCommand } from "./import-command.js";
import { runCommand } from "./run-command.js";
import { compileCommand } from "./compile-command.js";
import { lspCommand } from "./lsp-command.js";
import { fmtCommand } from "./fmt-command.js";
import { reportCommand } from "./report-command.js";
import { chatCommand } from "./chat-command.js";
import { serveCommand } from "./serve-command.js";
import { UsageError, reportDiagnostics, type Io } from "./io.js";
import { PASS_OPTIONS, passFlags } from "./pass-flags.js";
import { RUNTIME_BACKENDS as BACKENDS } from "../../runtime/backends.js";
import type { RuntimeBackend } from "../../runtime/backend.js";

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig["options"]>;
  /** Lines printed after the options in --help. */
  readonly notes?: readonly string[];
  run(io: Io, positionals: string[], values: Record<string, unknown>): Promise<number>;
}

function oneFile(positionals: string[], cmd: string): string {
  if (positionals.length !== 1) throw new UsageError(`'moec ${cmd}' takes exactly one .moe file${positionals.length ? `, got ${positionals.length}` : ""}.`);
  return positionals[0]!;
}

export const COMMANDS: readonly Command[] = [
  {
    name: "check",
    summary: "Parse and check a .moe file; print every diagnostic.",
    usage: "moec check FILE.moe",
    options: {},
    async run(io, positionals) {
      const file = oneFile(positionals, "check");
      const checked = await checkFile(file);
      if (reportDiagnostics(io, checked)) return 1;
      io.out(`${file}: ok`);
      return 0;
    },
  },
  {
    name: "info",
    summary: "Show a model's constants, layers, experts and parameter counts.",
    usage: "moec info FILE.moe [--json]",
    options: { json: { type: "boolean" } },
    async run(io, positionals, values) {
      const file = oneFile(positionals, "info");
      const checked = await checkFile(file);
      if (reportDiagnostics(io, checked)) return 1;
      const graph = runPipeline(checked.graph!).graph;
      const stats = modelStats(graph);
      if (values["json"]) {
        io.out(JSON.stringify({ model: graph.name, file, constants: graph.constants, totalParams: stats.totalParams, activeParams: stats.activeParams, embeddingParams: stats.embeddingParams, moeLayers: stats.moeLayers, layers: stats.layers }, null, 2));
      } else io.out(formatInfo(file, graph, stats));
      return 0;
    },
  },
  {
    name: "ir",
    summary: "Print the graph IR (or with --plan the lowered plan) after the pass pipeline, or after one pass.",
    usage: "moec ir FILE.moe [--plan] [--target T] [--dump-after PASS] [--disable-pass PASS[,PASS]] [--enable-pass PASS[,PASS]] [--no-passes] [--verify]",
    options: { plan: { type: "boolean" }, target: { type: "string", short: "t" }, "dump-after": { type: "string" }, ...PASS_OPTIONS, "no-passes": { type: "boolean" }, verify: { type: "boolean" } },
    async run(io, positionals, values) {
      const file = oneFile(positionals, "ir");
      const dumpAfter = values["dump-after"] as string | undefined;
      if (dumpAfter !== undefined && !findPass(dumpAfter)) throw new UsageError(`Unknown pass '${dumpAfter}' for --dump-after. Passes: ${PIPELINE.map((p) => p.name).join(", ")}.`);
      const { disabled, enabled } = passFlags(values);
      const targetName = values["target"] as string | undefined;
      const target: RuntimeBackend | null = targetName === undefined ? null : (BACKENDS.find((b) => b.target === targetName) ?? null);
      if (targetName !== undefined && !target) throw new UsageError(`Unknown target '${targetName}' for --target. Targets: ${BACKENDS.map((b) => b.target).join(", ")}.`);
      const checked = await checkFile(file);
      if (reportDiagnostics(io, checked)) return 1;
      if (values["no-passes"]) {
        io.out(printGraph(checked.graph!));
        return 0;
      }
      let dumped = false;
      const verify = values["verify"] === true;
      const result = runPipeline(checked.graph!, {
        disabled,
        enabled,
        verify,
        afterPass(pass, g) {
          if (pass.name === dumpAfter) {
            io.out(`// after ${pass.name}\n${printGraph(g)}`);
            dumped = true;
          }
        },
      });
      if (result.diagnostics.length > 0) {
        io.err(formatDiagnostics(result.diagnostics, { color: io.color }));
        return 1;
      }
      if (verify) {
        const problems = verifyGraph(result.graph);
        if (problems.length > 0) {
          io.err(formatDiagnostics(problems, { color: io.color }));
          return 1;
        }
      }
      // Plan passes run after lowering: only when the plan is asked for.
      const wantPlan = values["plan"] === true || findPass(dumpAfter ?? "")?.level === "plan";
      if (wantPlan) {
        let planned;
        try {
          planned = runPlanPipeline(lowerGraph(result.graph), {
            disabled,
            enabled,
            verify,
            // With --target, the plan passes see what that backend's kernels can do (fuse-experts needs its fused kernels).
            ...(target ? { context: { formats: target.capabilities.formats, ...(target.capabilities.fused ? { fused: target.capabilities.fused } : {}) } } : {}),
            afterPass(pass, p) {
              if (pass.name === dumpAfter) {
                io.out(`// after ${pass.name}\n${printPlan(p)}`);
                dumped = true;
              }
            },
          });
        } catch (e) {
          if (!(e instanceof LowerError)) throw e;
          io.err(`moec ir: ${e.message}`);
          return 1;
        }
        if (planned.diagnostics.length > 0) {
          io.err(formatDiagnostics(planned.diagnostics, { color: io.color }));
          return 1;
        }
        if (values["plan"] === true && dumpAfter === undefined) io.out(printPlan(planned.plan));
      }
      if (dumpAfter !== undefined && !dumped) io.err(`note: pass '${dumpAfter}' is disabled, so nothing was dumped after it`);
      if (dumpAfter === undefined && values["plan"] !== true) io.out(printGraph(result.graph));
      return 0;
    },
  },
  compileCommand,
  targetsCommand,
  passesCommand,
  importCommand,
  runCommand,
  chatCommand,
  serveCommand,
  lspCommand,
  fmtCommand,
  reportCommand,
];
