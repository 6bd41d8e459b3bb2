// `moec compile MODEL --target wasm -o DIR`: check, run the passes, lower to a plan, and
// write the bundle (compiler/emit/bundle.ts). WebGPU and CUDA are refused until they exist.
import { diagnostic, formatDiagnostics, modelStats } from "../index.js";
import { lowerGraph, LowerError } from "../lower/lower.js";
import { loadGraph, loadWeights, RunError } from "../run/load.js";
import type { Command } from "./commands.js";
import { progressBar } from "./progress.js";
import { reportDiagnostics, UsageError } from "./io.js";
import { bundleTokenizer } from "./compile-tokenizer.js";

const TARGETS = ["wasm", "webgpu", "cuda"] as const;

export const compileCommand: Command = {
  name: "compile",
  summary: "Compile a model (.moe file or Hugging Face folder) into a bundle for a target.",
  usage: "moec compile MODEL --target wasm -o DIR [--weights FILE | --random-weights SEED] [--tokenizer DIR]",
  options: { target: { type: "string", short: "t" }, out: { type: "string", short: "o" }, weights: { type: "string", short: "w" }, "random-weights": { type: "string" }, tokenizer: { type: "string" } },
  async run(io, positionals, values) {
    if (positionals.length !== 1) throw new UsageError("'moec compile' takes one model: a .moe file or a Hugging Face folder.");
    const target = values["target"] as string | undefined;
    if (target === undefined) throw new UsageError(`'moec compile' needs --target (one of ${TARGETS.join(", ")}).`);
    if (!(TARGETS as readonly string[]).includes(target)) throw new UsageError(`Unknown target '${target}'. Targets: ${TARGETS.join(", ")}.`);
    const outDir = values["out"] as string | undefined;
    if (outDir === undefined) throw new UsageError("'moec compile' needs an output directory: -o DIR.");
    const seedText = values["random-weights"] as string | undefined;
    const seed = seedText === undefined ? undefined : Number(seedText);
    if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0)) throw new UsageError(`--random-weights must be a non-negative integer seed, not '${seedText}'.`);
    if (seed !== undefined && values["weights"] !== undefined) throw new UsageError("give either --weights or --random-weights, not both.");
    try {
      const loaded = await loadGraph(positionals[0]!);
      if (!("hfDir" in loaded)) {
        reportDiagnostics(io, loaded);
        return 1;
      }
      if (target !== "wasm") {
        await loaded.gguf?.close();
        io.err(formatDiagnostics([diagnostic("MOE6003", null, target, "This version of moec generates code for the wasm target only. Nothing was written.")], { color: io.color }));
        return 2;
      }
      let plan;
      try {
        plan = lowerGraph(loaded.graph);
      } catch (e) {
        await loaded.gguf?.close();
        throw e;
      }
      const hasWeights = values["weights"] !== undefined || seed !== undefined || loaded.hfDir !== null || loaded.gguf !== undefined;
      const weights = hasWeights
        ? await loadWeights(loaded.graph, loaded.hfDir, { ...(values["weights"] !== undefined ? { weights: values["weights"] as string } : {}), ...(seed !== undefined ? { randomWeights: seed } : {}) }, loaded.gguf)
        : null;
      const tokenizer = await bundleTokenizer(positionals[0]!, values["tokenizer"] as string | undefined, plan.vocab);
      const stats = modelStats(loaded.graph);
      // Loaded lazily: esbuild, ts-morph and binaryen are only needed to write a bundle.
      const { writeWasmBundle } = await import("../emit/bundle.js");
      const bar = progressBar(io, "packing weights");
      const files = await writeWasmBundle({
        outDir,
        plan,
        info: { totalParams: stats.totalParams, activeParams: stats.activeParams },
        weights: weights ? (name) => weights.get(name)! : null,
        onPackProgress: (p) => bar.update(p.written, p.total),
        tokenizer,
      });
      bar.done();
      io.out(`wrote ${outDir}: ${files.join(", ")}`);
      if (!weights) io.err(`note: no weights were given, so the bundle has no weights.safetensors; pass --weights FILE (or --random-weights SEED) to include them.`);
      return 0;
    } catch (e) {
      if (e instanceof RunError || e instanceof LowerError) {
        io.err(`moec compile: ${e.message}`);
        return 1;
      }
      // The file system (an output path that is a file, no permission, a full disk): the user's to fix.
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
        io.err(`moec compile: cannot write ${outDir}: ${(e as Error).message}`);
        return 1;
      }
      throw e;
    }
  },
};
