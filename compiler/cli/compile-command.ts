// `moec compile MODEL --target wasm|js|webgpu|cuda -o DIR`: check, run the passes, lower to a plan,
// and write the bundle (compiler/emit/bundle.ts; for cuda, the native backend's CUDA C bundle).
import { COMPILE_TARGETS, findNativeBackend } from "../../backends/registry.js";
import { CudaEmitError } from "../../backends/cuda/plan-c.js";
import { readFile } from "node:fs/promises";
import { diagnostic, formatDiagnostics, modelStats } from "../index.js";
import { LowerError } from "../lower/lower.js";
import { planGraph } from "../passes/pipeline.js";
import { loadGraph, openWeights, RunError } from "../run/load.js";
import { planFor, targetContext } from "../run/engines.js";
import { PASS_OPTIONS, passFlags } from "./pass-flags.js";
import { measureError, quantizeFor, quantizeFlag, quantJson, quantSummary, type QuantOutcome } from "../quant/run.js";
import type { Command } from "./commands.js";
import { progressBar } from "./progress.js";
import { reportDiagnostics, UsageError } from "./io.js";
import { BUNDLE_MARKER, checkOutDir } from "../emit/outdir.js";
import { AUTO_CHECK_BYTES } from "../run/weight-checks.js";
import { bundleTokenizer } from "./compile-tokenizer.js";

/** Targets DESIGN.md plans that have no backend yet: refused with MOE6003 rather than as unknown. */
const TARGETS = COMPILE_TARGETS;
const PLANNED = ["webgpu", "cuda"].filter((t) => !(TARGETS as readonly string[]).includes(t));

export const compileCommand: Command = {
  name: "compile",
  summary: "Compile a model (.moe file or Hugging Face folder) into a bundle for a target.",
  usage: `moec compile MODEL --target ${TARGETS.join("|")} -o DIR [--weights FILE | --random-weights SEED] [--tokenizer DIR] [--tuning FILE] [--force] [--check-weights | --no-check-weights] [--quantize SCHEME [--calibration IDS|FILE]] [--disable-pass PASS[,PASS]] [--enable-pass PASS[,PASS]] [--json]`,
  options: {
    target: { type: "string", short: "t" },
    out: { type: "string", short: "o" },
    weights: { type: "string", short: "w" },
    "random-weights": { type: "string" },
    tokenizer: { type: "string" },
    tuning: { type: "string" },
    force: { type: "boolean" },
    "check-weights": { type: "boolean" },
    "no-check-weights": { type: "boolean" },
    quantize: { type: "string", short: "q" },
    ...PASS_OPTIONS,
    calibration: { type: "string" },
    json: { type: "boolean" },
  },
  notes: [
    `-o DIR must be a new or empty folder, or one moec wrote before (it holds ${BUNDLE_MARKER}, the list of the bundle's files); --force writes into any other folder, replacing only files the bundle writes. Nothing but the bundle's own files is ever removed, and an interrupted compile leaves nothing behind.`,
    `Weights are checked for NaN and Infinity as they load when they take at most ${AUTO_CHECK_BYTES / 2 ** 30} GiB as float32; --check-weights checks any size, --no-check-weights skips it.`,
    "--target cuda writes CUDA C with a C ABI (moec.h), a Makefile and a host program (moec_run) instead of a JS bundle; --tuning FILE stores a tile table written by `moec_run --tune` with it.",
    "Weights keep the format their checkpoint ships (bf16, f16, GGUF Q8_0/Q4_0/Q2_K/Q3_K/Q4_K/Q5_K/Q6_K, MXFP4) unless --quantize gives one: int8, int4[:g32|g64|g128], int4a[:gG] (zero points), q8_0, q4_0, q2_k, q3_k, q4_k, q5_k, q6_k, mxfp4, fp8, or budget=BITS (per-expert mixed precision from a calibration pass). A quantized compile reports its error against float32 on --calibration ids (default: 64 pseudo-random ids).",
  ],
  async run(io, positionals, values) {
    if (positionals.length !== 1) throw new UsageError("'moec compile' takes one model: a .moe file or a Hugging Face folder.");
    const target = values["target"] as string | undefined;
    if (target === undefined) throw new UsageError(`'moec compile' needs --target (one of ${TARGETS.join(", ")}).`);
    if (!(TARGETS as readonly string[]).includes(target) && !PLANNED.includes(target)) throw new UsageError(`Unknown target '${target}'. Targets: ${TARGETS.join(", ")} ('moec targets' describes them).`);
    const outDir = values["out"] as string | undefined;
    if (outDir === undefined) throw new UsageError("'moec compile' needs an output directory: -o DIR.");
    const seedText = values["random-weights"] as string | undefined;
    const seed = seedText === undefined ? undefined : Number(seedText);
    if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0)) throw new UsageError(`--random-weights must be a non-negative integer seed, not '${seedText}'.`);
    if (seed !== undefined && values["weights"] !== undefined) throw new UsageError("give either --weights or --random-weights, not both.");
    if (values["check-weights"] && values["no-check-weights"]) throw new UsageError("give --check-weights or --no-check-weights, not both.");
    const checkWeights = values["check-weights"] ? "on" : values["no-check-weights"] ? "off" : "auto";
    const force = values["force"] === true;
    const scheme = quantizeFlag(values["quantize"] as string | undefined);
    const passes = passFlags(values);
    // The output folder is checked before anything is loaded or built (and again before files move in).
    if (!PLANNED.includes(target)) await checkOutDir(outDir, force);
    try {
      const loaded = await loadGraph(positionals[0]!);
      if (!("hfDir" in loaded)) {
        reportDiagnostics(io, loaded);
        return 1;
      }
      if (PLANNED.includes(target)) {
        await loaded.gguf?.close();
        io.err(formatDiagnostics([diagnostic("MOE6003", null, target, `This version of moec generates code for ${TARGETS.join(", ")} only. Nothing was written.`)], { color: io.color }));
        return 2;
      }
      const hasWeights = values["weights"] !== undefined || seed !== undefined || loaded.hfDir !== null || loaded.gguf !== undefined;
      if (!hasWeights && scheme) throw new UsageError("--quantize needs weights: pass --weights FILE (or --random-weights SEED), or compile a Hugging Face folder or GGUF file.");
      // Weights are bound now and read while the pack is written, each in the plan's format.
      const weights = hasWeights
        ? await openWeights(loaded.graph, loaded.hfDir, { ...(values["weights"] !== undefined ? { weights: values["weights"] as string } : {}), ...(seed !== undefined ? { randomWeights: seed } : {}), checkWeights }, loaded.gguf)
        : null;
      let plan;
      let quant: QuantOutcome | null = null;
      try {
        if (weights && scheme) {
          quant = await quantizeFor(loaded.graph, weights, target, scheme, { calibration: values["calibration"] as string | undefined, threads: 1 });
          plan = quant.plan;
        } else plan = weights ? planFor(loaded.graph, weights, target, passes) : planGraph(loaded.graph, { ...passes, context: targetContext(target) });
      } catch (e) {
        await (weights ?? loaded.gguf)?.close();
        throw e;
      }
      const native = findNativeBackend(target);
      if (native) {
        const tuningPath = values["tuning"] as string | undefined;
        const tuning = tuningPath === undefined ? null : await readFile(tuningPath, "utf8").catch(() => {
          throw new RunError(`cannot read the tuning table ${tuningPath}`);
        });
        const bar = progressBar(io, "packing weights");
        const files = await native.writeBundle({ outDir, plan, weights: weights ? (name, format, shape, into) => weights.read(name, format, shape, into) : null, force, tuning, onPackProgress: (p) => bar.update(p.written, p.total) }).catch(async (e: unknown) => {
          await weights?.close();
          throw e;
        });
        bar.done();
        // A native target has no in-process runtime: the quantization error is measured on wasm, same plan.
        const error = quant && weights ? await measureError(loaded.graph, weights, "wasm", quant, 1) : null;
        await weights?.close();
        if (values["json"]) io.out(JSON.stringify({ bundle: outDir, files, ...(quant && error ? { quantization: quantJson(quant, error) } : {}) }));
        else io.out(`wrote ${outDir}: ${files.join(", ")}`);
        if (quant && error && !values["json"]) io.err(quantSummary(quant, error));
        if (!weights) io.err(`note: no weights were given, so the bundle has no weights.safetensors; pass --weights FILE (or --random-weights SEED) to include them.`);
        return 0;
      }
      if (values["tuning"] !== undefined) throw new UsageError(`--tuning is for --target cuda`);
      const tokenizer = await bundleTokenizer(positionals[0]!, values["tokenizer"] as string | undefined, plan.vocab);
      const stats = modelStats(loaded.graph);
      // Loaded lazily: esbuild, ts-morph and binaryen are only needed to write a bundle.
      const { writeBundle } = await import("../emit/bundle.js");
      const bar = progressBar(io, "packing weights");
      const files = await writeBundle({
        target,
        outDir,
        plan,
        info: { totalParams: stats.totalParams, activeParams: stats.activeParams },
        weights: weights ? (name, format, shape, into) => weights.read(name, format, shape, into) : null,
        onPackProgress: (p) => bar.update(p.written, p.total),
        force,
        tokenizer,
      });
      bar.done();
      // Every quantized compile reports its error against float32 on calibration ids.
      const error = quant && weights ? await measureError(loaded.graph, weights, target, quant, 1) : null;
      await weights?.close();
      if (values["json"]) io.out(JSON.stringify({ bundle: outDir, files, ...(quant && error ? { quantization: quantJson(quant, error) } : {}) }));
      else io.out(`wrote ${outDir}: ${files.join(", ")}`);
      if (quant && error && !values["json"]) io.err(quantSummary(quant, error));
      if (!weights) io.err(`note: no weights were given, so the bundle has no weights.safetensors; pass --weights FILE (or --random-weights SEED) to include them.`);
      return 0;
    } catch (e) {
      if (e instanceof RunError || e instanceof LowerError || e instanceof CudaEmitError) {
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
