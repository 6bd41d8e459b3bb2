// `moec run`: execute a model on token ids — greedy or sampled continuation, and optionally
// the prompt's logits as raw little-endian float32 [seq, vocab].
import { generate, promptLogits } from "../run/generate.js";
import { defaultRunTarget, RUN_TARGETS } from "../run/targets.js";
import { defaultThreads } from "../../backends/wasm/device.js";
import { loadGraph, loadWeights, openWeights, RunError } from "../run/load.js";
import { effectiveF32, type BoundWeights } from "../weights/bound.js";
import { measureError, quantizeFlag, quantizeFor, quantJson, quantSummary, type QuantOutcome } from "../quant/run.js";
import type { Plan } from "../../runtime/plan/plan.js";
import { weightBytes } from "../../runtime/plan/formats.js";
import { outputTarget, writeFileAtomic } from "../run/write.js";
import { AUTO_CHECK_BYTES, type CheckWeights } from "../run/weight-checks.js";
import { checkSampling, OptionError } from "../../runtime/options.js";
import { LoadError } from "../../runtime/model.js";
import type { Command } from "./commands.js";
import { reportDiagnostics, UsageError } from "./io.js";
import { progressBar } from "./progress.js";
import { runText } from "./run-text.js";
import { PASS_OPTIONS, passFlags } from "./pass-flags.js";
import { findNativeBackend } from "../../backends/registry.js";
import { ToolchainError } from "../../backends/cuda/native.js";

/** Positions `moec run` allows when the model does not say its context (a .moe file): the runtime's default maxContext. */
export const DEFAULT_RUN_CONTEXT = 2048;


function parseIds(text: string | undefined): number[] {
  if (text === undefined) throw new UsageError("'moec run' needs --ids, like --ids 1,2,3, or --prompt TEXT.");
  const parts = text.split(",").map((s) => s.trim());
  const ids = parts.map(Number);
  const bad = parts.findIndex((p, i) => p === "" || !Number.isInteger(ids[i]) || ids[i]! < 0 || ids[i]! > 2 ** 31 - 1);
  if (bad >= 0) throw new UsageError(`--ids must be non-negative integers separated by commas; '${parts[bad]}' is not one.`);
  return ids;
}

/** The sampling flags, validated by the runtime's own rules (runtime/options.ts), so the API and the CLI refuse the same values. */
function samplingFlags(values: Record<string, unknown>): { temperature: number; topK?: number; topP?: number; seed: number } {
  const FLAGS = { temperature: "temperature", topK: "top-k", topP: "top-p", seed: "seed" } as const;
  const opts: Record<string, number> = {};
  for (const [option, flag] of Object.entries(FLAGS)) {
    const raw = values[flag] as string | undefined;
    if (raw !== undefined) opts[option] = raw.trim() === "" ? NaN : Number(raw);
  }
  try {
    checkSampling(opts);
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    const flag = FLAGS[e.option as keyof typeof FLAGS];
    throw new UsageError(`--${flag} must be ${e.requirement}, not '${values[flag] as string}'${e.fix ? `; ${e.fix}` : ""}.`);
  }
  return { temperature: opts["temperature"] ?? 0, ...(opts["topK"] !== undefined ? { topK: opts["topK"] } : {}), ...(opts["topP"] !== undefined ? { topP: opts["topP"] } : {}), seed: opts["seed"] ?? 0 };
}

function checkWeightsFlag(values: Record<string, unknown>): CheckWeights {
  if (values["check-weights"] && values["no-check-weights"]) throw new UsageError("give --check-weights or --no-check-weights, not both.");
  return values["check-weights"] ? "on" : values["no-check-weights"] ? "off" : "auto";
}

function numberFlag(values: Record<string, unknown>, name: string, check: (v: number) => boolean, what: string): number | undefined {
  const raw = values[name] as string | undefined;
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || !check(v)) throw new UsageError(`--${name} must be ${what}, not '${raw}'.`);
  return v;
}


export const runCommand: Command = {
  name: "run",
  summary: "Run a model (.moe file, Hugging Face folder, GGUF file or bundle) on token ids or a text prompt.",
  usage: `moec run MODEL (--ids 1,2,3 | --prompt TEXT [--chat] [--stop S] [--tokenizer DIR]) [--weights FILE] [--random-weights SEED] [--max-new-tokens N] [--max-context N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--logits OUT.f32] [--target ${RUN_TARGETS.join("|")}] [--threads N] [--check-weights | --no-check-weights] [--quantize SCHEME [--calibration IDS|FILE]] [--disable-pass PASS[,PASS]] [--enable-pass PASS[,PASS]] [--json]`,
  notes: [
    `--max-new-tokens (-n, default 16; 64 with --prompt) is bounded by the context: prompt + new tokens must fit in the model's trained context (max_position_embeddings of a config.json, context_length of a GGUF file; ${DEFAULT_RUN_CONTEXT} for a .moe file); --max-context N (or --context N) allows more positions.`,
    `Weights are checked for NaN and Infinity as they load when they take at most ${AUTO_CHECK_BYTES / 2 ** 30} GiB as float32 (about ${Math.round(AUTO_CHECK_BYTES / 4 / 1e6)} M parameters): the first bad value is named (file, tensor, index). --check-weights checks any size; --no-check-weights skips it.`,
    "Without --target the plan runs on the fastest backend here (wasm, on every core; --threads N to choose); --target reference runs the graph interpreter that defines the semantics. --json says which ran.",
    "A NaN or Infinity in the logits stops the run with an error (exit 1); on --target reference it names the layer where the first non-finite value appeared.",
  ],
  options: {
    ids: { type: "string" },
    prompt: { type: "string", short: "p" },
    chat: { type: "boolean" },
    stop: { type: "string", multiple: true },
    tokenizer: { type: "string" },
    context: { type: "string" },
    verbose: { type: "boolean" },
    weights: { type: "string", short: "w" },
    "random-weights": { type: "string" },
    "max-new-tokens": { type: "string", short: "n" },
    "max-context": { type: "string" },
    "check-weights": { type: "boolean" },
    "no-check-weights": { type: "boolean" },
    temperature: { type: "string" },
    "top-k": { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string" },
    logits: { type: "string" },
    target: { type: "string", short: "t" },
    threads: { type: "string" },
    json: { type: "boolean" },
    quantize: { type: "string", short: "q" },
    calibration: { type: "string" },
    ...PASS_OPTIONS,
  },
  async run(io, positionals, values) {
    if (positionals.length !== 1) throw new UsageError("'moec run' takes one model: a .moe file or a Hugging Face folder.");
    if (values["prompt"] !== undefined) {
      if (values["ids"] !== undefined) throw new UsageError("give either --ids or --prompt, not both.");
      return runText(io, positionals[0]!, values);
    }
    const target = (values["target"] as string | undefined) ?? defaultRunTarget();
    if (!RUN_TARGETS.includes(target)) throw new UsageError(`'moec run' cannot run on target '${target}' yet; targets: ${RUN_TARGETS.join(", ")} ('moec targets' describes them).`);
    const ids = parseIds(values["ids"] as string | undefined);
    if (ids.length === 0) throw new UsageError("--ids needs at least one token id.");
    const maxNew = numberFlag(values, "max-new-tokens", (v) => Number.isInteger(v) && v >= 0, "a non-negative integer") ?? 16;
    const randomSeed = numberFlag(values, "random-weights", (v) => Number.isInteger(v) && v >= 0, "a non-negative integer seed");
    if (randomSeed !== undefined && values["weights"] !== undefined) throw new UsageError("give either --weights or --random-weights, not both.");
    const sampling = samplingFlags(values);
    const checkWeights = checkWeightsFlag(values);
    const maxContextFlag = numberFlag(values, "max-context", (v) => Number.isInteger(v) && v >= 1 && v <= 2 ** 31 - 1, "a positive integer");
    if (target !== "reference") numberFlag(values, "threads", (v) => Number.isInteger(v) && v >= 1 && v <= 16, "an integer from 1 to 16");
    const native = findNativeBackend(target);
    if (native) {
      if (sampling.temperature !== 0) throw new UsageError(`--target ${target} runs greedy decoding only (its host program takes no sampling flags); drop --temperature.`);
      // What the machine lacks is said before any weight is read.
      const missing = await native.missing();
      if (missing.length) {
        io.err(`moec run: --target ${target} builds the emitted code and runs it natively, and this machine cannot: ${missing.join("; ")}. 'moec compile MODEL --target ${target} -o DIR' works here; build DIR with make where those are.`);
        return 1;
      }
    }
    const scheme = quantizeFlag(values["quantize"] as string | undefined);
    const logitsOut = { inputs: [positionals[0]!, values["weights"] as string | undefined], flag: "--logits" };
    const t0 = performance.now();
    try {
      // The output is checked before anything is computed: never a folder, never an input.
      if (values["logits"] !== undefined) await outputTarget(values["logits"] as string, logitsOut);
      const loaded = await loadGraph(positionals[0]!);
      if (!("hfDir" in loaded)) {
        reportDiagnostics(io, loaded);
        return 1;
      }
      // Sizes before work: prompt + new tokens must fit in the context, checked before any weight is read.
      const context = maxContextFlag !== undefined ? { positions: maxContextFlag, source: "--max-context" } : (loaded.context ?? { positions: DEFAULT_RUN_CONTEXT, source: `moec run's default for a .moe file, which does not state its context` });
      const need = ids.length + maxNew - (maxNew > 0 ? 1 : 0);
      if (need > context.positions) {
        await loaded.gguf?.close();
        const room = Math.max(0, context.positions - ids.length + 1);
        if (ids.length > context.positions) throw new UsageError(`the prompt has ${ids.length} tokens, more than the ${context.positions} positions of the context (${context.source}); shorten it${maxContextFlag === undefined ? ", or pass --max-context N" : ""}.`);
        throw new UsageError(`-n ${values["max-new-tokens"] as string}: a prompt of ${ids.length} token${ids.length === 1 ? "" : "s"} and ${maxNew} new tokens need ${need} positions, more than the ${context.positions} of the context (${context.source}); use -n ${room} or less${maxContextFlag === undefined ? ", or pass --max-context N to run past it" : ""}.`);
      }
      const weightOpts = {
        ...(values["weights"] !== undefined ? { weights: values["weights"] as string } : {}),
        ...(randomSeed !== undefined ? { randomWeights: randomSeed } : {}),
        checkWeights,
      };
      // The reference interpreter holds float32 weights; a backend reads each weight into its memory in the plan's format.
      let quant: QuantOutcome | null = null;
      let quantError: Awaited<ReturnType<typeof measureError>> | null = null;
      let weights: Map<string, Float32Array> | BoundWeights;
      if (target === "reference" && !scheme) weights = await loadWeights(loaded.graph, loaded.hfDir, weightOpts, loaded.gguf);
      else {
        const bound = await openWeights(loaded.graph, loaded.hfDir, weightOpts, loaded.gguf);
        weights = bound;
        try {
          if (scheme) quant = await quantizeFor(loaded.graph, bound, target === "reference" ? "js" : target, scheme, { calibration: values["calibration"] as string | undefined, threads: 1 });
          if (target === "reference" && quant) {
            // The interpreter runs the weights the quantized plan's kernels see: quantized, then dequantised.
            const map = new Map<string, Float32Array>();
            for (const w of quant.plan.weights) map.set(w.name, await effectiveF32(bound, w.name, w.format, w.shape));
            quantError = await measureError(loaded.graph, bound, "js", quant, 1);
            await bound.close();
            weights = map;
          }
        } catch (e) {
          await bound.close();
          throw e;
        }
      }
      const model = { graph: loaded.graph, weights };
      const vocab = loaded.graph.nodes.find((n) => n.op === "embed")?.attrs["vocab"] as number | undefined;
      const outOfRange = vocab === undefined ? undefined : ids.find((i) => i >= vocab);
      if (outOfRange !== undefined) throw new RunError(`token id ${outOfRange} is outside the vocabulary of ${loaded.graph.name} (0..${vocab! - 1})`);
      // Until the model is ready to run: on a backend that includes reading every weight into its memory (below).
      let loadMs = performance.now() - t0;
      const logitsPath = values["logits"] as string | undefined;
      let result: { ids: number[]; prefillMs: number; decodeMs: number };
      let kernels: string | null = null;
      let stored: ReturnType<typeof formatSummary> | null = null;
      if (native) {
        const bound = weights as BoundWeights;
        try {
          const { planFor } = await import("../run/engines.js");
          const plan = quant?.plan ?? planFor(loaded.graph, bound, target);
          const maxContext = ids.length + maxNew + 1;
          const r = await native.run({ plan, weights: (n, format, shape, into) => bound.read(n, format, shape, into), ids, maxNew, maxContext, ...(logitsPath !== undefined ? { logitsPath } : {}), onLog: (l) => io.err(l) }).catch((e: unknown) => {
            throw e instanceof ToolchainError ? new RunError(e.message) : e;
          });
          // A native target has no in-process runtime: the quantization error is measured on wasm, same plan.
          if (quant) quantError = await measureError(loaded.graph, bound, "wasm", quant, 1);
          result = { ids: r.ids, prefillMs: r.prefillMs, decodeMs: r.decodeMs };
          kernels = `cuda C runtime on ${r.device}`;
          stored = formatSummary(plan);
        } finally {
          await bound.close();
        }
      } else if (target === "reference") {
        if (logitsPath !== undefined) {
          const ref = { graph: loaded.graph, weights: weights as Map<string, Float32Array> };
        const logits = promptLogits(ref, ids);
          await writeFileAtomic(logitsPath, new Uint8Array(logits.data.buffer, logits.data.byteOffset, logits.data.byteLength), logitsOut);
        }
        result = generate({ graph: loaded.graph, weights: weights as Map<string, Float32Array> }, ids, maxNew, sampling);
      } else {
        // Loaded lazily: binaryen is only needed when a kernel module is built.
        const { planModel } = await import("../run/engines.js");
        const threads = numberFlag(values, "threads", (v) => Number.isInteger(v) && v >= 1 && v <= 16, "an integer from 1 to 16") ?? (await defaultThreads());
        const bar = progressBar(io, "loading weights");
        const positions = Math.max(ids.length + maxNew + 1, quant ? quant.calibration.ids.length : 0);
        const compiled = await planModel(model, target, positions, threads, (p) => bar.update(p.loadedBytes, p.totalBytes), 1, quant ? { plan: quant.plan } : passFlags(values))
          .catch((e: unknown) => {
            // The runtime names its own knobs (maxContext, maxTokens); here they are the prompt and -n.
            if (e instanceof LoadError) throw new RunError(/the weights alone do not fit/.test(e.message) ? e.message : `${e.message}. (moec run --target ${target} reserves the prompt plus -n, ${positions} positions, as both maxContext and maxTokens: use a smaller -n.)`);
            throw e;
          })
          .catch(async (e: unknown) => {
            await (weights as BoundWeights).close();
            throw e;
          });
        loadMs = performance.now() - t0;
        // Every quantized run reports its error against float32 on calibration ids (the weights are still open for the reference).
        try {
          if (quant) quantError = await measureError(loaded.graph, weights as BoundWeights, target, quant, threads, compiled);
        } finally {
          await (weights as BoundWeights).close();
        }
        bar.done();
        try {
          if (logitsPath !== undefined) {
            const logits = await compiled.forward(ids);
            await writeFileAtomic(logitsPath, new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength), logitsOut);
          }
          const out: number[] = [];
          const t1 = performance.now();
          let t2 = t1;
          for await (const tok of compiled.generate(ids, { maxNewTokens: maxNew, ...sampling })) {
            if (out.length === 0) t2 = performance.now();
            out.push(tok);
          }
          result = { ids: out, prefillMs: t2 - t1, decodeMs: performance.now() - t2 };
          kernels = compiled.kernels;
          stored = formatSummary(compiled.plan);
        } finally {
          await compiled.dispose();
        }
      }
      if (values["json"]) {
        const decodeTokens = Math.max(0, result.ids.length - 1);
        io.out(JSON.stringify({
          model: loaded.graph.name,
          target,
          ...(kernels !== null ? { kernels } : {}),
          ...(stored !== null ? { weights: stored } : {}),
          ...(quant && quantError ? { quantization: quantJson(quant, quantError) } : {}),
          prompt: ids,
          ids: result.ids,
          ...(logitsPath !== undefined ? { logits: logitsPath } : {}),
          timings: { loadMs: round(loadMs), prefillMs: round(result.prefillMs), decodeMs: round(result.decodeMs), decodeTokensPerSecond: decodeTokens ? round((decodeTokens * 1000) / result.decodeMs) : null },
        }));
      } else {
        io.out(result.ids.join(","));
        if (quant && quantError) io.err(quantSummary(quant, quantError));
      }
      return 0;
    } catch (e) {
      if (e instanceof RunError) {
        io.err(`moec run: ${e.message}`);
        return 1;
      }
      throw e;
    }
  },
};

const round = (v: number) => Math.round(v * 100) / 100;

/** How the plan stores its weights: tensors and bytes per storage format. */
export function formatSummary(plan: Plan): { bytes: number; formats: Record<string, { tensors: number; bytes: number }> } {
  const formats: Record<string, { tensors: number; bytes: number }> = {};
  let bytes = 0;
  for (const w of plan.weights) {
    const b = weightBytes(w.format, w.shape);
    const f = (formats[w.format] ??= { tensors: 0, bytes: 0 });
    f.tensors++;
    f.bytes += b;
    bytes += b;
  }
  return { bytes, formats };
}
