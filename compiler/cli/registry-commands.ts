// `moec targets` and `moec passes`: what the backend registry and the pass pipeline hold, so
// --target and --disable-pass/--dump-after are discoverable from the command line.
import { BACKENDS, NATIVE_BACKENDS } from "../../backends/registry.js";
import { FORMATS } from "../../runtime/plan/formats.js";
import { PIPELINE } from "../passes/pipeline.js";
import type { Command } from "./commands.js";

export const targetsCommand: Command = {
  name: "targets",
  summary: "List the registered backends (--target values) and what each can do.",
  usage: "moec targets [--json]",
  options: { json: { type: "boolean" } },
  async run(io, _positionals, values) {
    const rows = [
      ...BACKENDS.map((b) => ({ target: b.target, kind: "runtime", available: b.available(), missing: [] as string[], summary: b.summary, ...b.capabilities, files: b.files })),
      // Emit-only: `moec compile` writes their code; `moec run` builds and runs it where the toolchain is.
      ...(await Promise.all(NATIVE_BACKENDS.map(async (b) => {
        const missing = await b.missing();
        return { target: b.target, kind: "emit-only", available: missing.length === 0, missing, summary: b.summary, ...b.capabilities, files: [] as string[] };
      }))),
    ];
    if (values["json"]) {
      io.out(JSON.stringify({ targets: rows, formats: Object.keys(FORMATS) }, null, 2));
      return 0;
    }
    const w = Math.max(...rows.map((r) => r.target.length));
    for (const r of rows) {
      const here = r.available ? "" : r.kind === "emit-only" ? ` (compiles here; runs not here: ${r.missing.join("; ")})` : " (not available here)";
      io.out(`${r.target.padEnd(w)}  ${r.summary}${here}`);
      io.out(`${"".padEnd(w)}  formats ${r.formats.join(", ")}; threads ${r.threads ? "yes" : "no"}; over 4 GiB ${r.memory64 ? "yes" : "no"}; runs in ${r.hosts.join(", ")}`);
    }
    io.out(`${"reference".padEnd(w)}  the graph interpreter (moec run only): float32 storage, float64 accumulation; the semantics every backend is tested against`);
    return 0;
  },
};

export const passesCommand: Command = {
  name: "passes",
  summary: "List the pass pipeline in order: graph passes, lowering, plan passes.",
  usage: "moec passes",
  options: {},
  async run(io) {
    const w = Math.max(...PIPELINE.map((p) => p.name.length));
    const show = (level: "graph" | "plan") => PIPELINE.filter((p) => p.level === level).forEach((p) => io.out(`  ${p.name.padEnd(w)}  ${p.summary}${p.optIn ? ` (off unless --enable-pass ${p.name})` : ""}${(p.options ?? []).map((o) => `\n  ${"".padEnd(w)}    ${o.name} (default ${String(o.default)}): ${o.summary}`).join("")}`));
    io.out("graph passes (on the graph IR):");
    show("graph");
    io.out("lowering (graph IR → plan)");
    io.out("plan passes (on the plan):");
    show("plan");
    io.out("Switch one off with --disable-pass NAME (an opt-in one on with --enable-pass NAME); print the result of one with 'moec ir --dump-after NAME'.");
    return 0;
  },
};
