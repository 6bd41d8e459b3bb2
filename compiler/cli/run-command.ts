// `moec run`: execute a model on token ids — greedy or sampled continuation, and optionally
// the prompt's logits as raw little-endian float32 [seq, vocab].
import { generate, promptLogits } from "../run/generate.js";
import { RUN_TARGETS } from "../run/targets.js";
import { loadGraph, loadWeights, RunError } from "../run/load.js";
import { writeFileAtomic } from "../run/write.js";
import type { Command } from "./commands.js";
import { reportDiagnostics, UsageError } from "./io.js";
import { progressBar } from "./progress.js";
import { runText } from "./run-text.js";


function parseIds(text: string | undefined): number[] {
  if (text === undefined) throw new UsageError("'moec run' needs --ids, like --ids 1,2,3, or --prompt TEXT.");
  const parts = text.split(",").map((s) => s.trim());
  const ids = parts.map(Number);
  const bad = parts.findIndex((p, i) => p === "" || !Number.isInteger(ids[i]) || ids[i]! < 0 || ids[i]! > 2 ** 31 - 1);
  if (bad >= 0) throw new UsageError(`--ids must be non-negative integers separated by commas; '${parts[bad]}' is not one.`);
  return ids;
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
  usage: "moec run MODEL (--ids 1,2,3 | --prompt TEXT [--chat] [--stop S] [--tokenizer DIR]) [--weights FILE] [--random-weights SEED] [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--logits OUT.f32] [--target reference|wasm|js] [--threads N] [--json]",
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
    temperature: { type: "string" },
    "top-k": { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string" },
    logits: { type: "string" },
    target: { type: "string", short: "t" },
    threads: { type: "string" },
    json: { type: "boolean" },
  },
  async run(io, positionals, values) {
    if (positionals.length !== 1) throw new UsageError("'moec run' takes one model: a .moe file or a Hugging Face folder.");
    if (values["prompt"] !== undefined) {
      if (values["ids"] !== undefined) throw new UsageError("give either --ids or --prompt, not both.");
      return runText(io, positionals[0]!, values);
    }
    const target = (values["target"] as string | undefined) ?? "reference";
    if (!(RUN_TARGETS as readonly string[]).includes(target)) throw new UsageError(`'moec run' cannot run on target '${target}' yet; targets: ${RUN_TARGETS.join(", ")}.`);
    const ids = parseIds(values["ids"] as string | undefined);
    if (ids.length === 0) throw new UsageError("--ids needs at least one token id.");
    const maxNew = numberFlag(values, "max-new-tokens", (v) => Number.isInteger(v) && v >= 0, "a non-negative integer") ?? 16;
    const randomSeed = numberFlag(values, "random-weights", (v) => Number.isInteger(v) && v >= 0, "a non-negative integer seed");
    if (randomSeed !== undefined && values["weights"] !== undefined) throw new UsageError("give either --weights or --random-weights, not both.");
    const sampling = {
      temperature: numberFlag(values, "temperature", (v) => v >= 0, "a number ≥ 0") ?? 0,
      topK: numberFlag(values, "top-k", (v) => Number.isInteger(v) && v >= 0, "a non-negative integer"),
      topP: numberFlag(values, "top-p", (v) => v > 0 && v <= 1, "in (0, 1]"),
      seed: numberFlag(values, "seed", (v) => Number.isInteger(v), "an integer") ?? 0,
    };
    const t0 = performance.now();
    try {
      const loaded = await loadGraph(positionals[0]!);
      if (!("hfDir" in loaded)) {
        reportDiagnostics(io, loaded);
        return 1;
      }
      const weights = await loadWeights(loaded.graph, loaded.hfDir, {
        ...(values["weights"] !== undefined ? { weights: values["weights"] as string } : {}),
        ...(randomSeed !== undefined ? { randomWeights: randomSeed } : {}),
      }, loaded.gguf);
      const model = { graph: loaded.graph, weights };
      const vocab = loaded.graph.nodes.find((n) => n.op === "embed")?.attrs["vocab"] as number | undefined;
      const outOfRange = vocab === undefined ? undefined : ids.find((i) => i >= vocab);
      if (outOfRange !== undefined) throw new RunError(`token id ${outOfRange} is outside the vocabulary of ${loaded.graph.name} (0..${vocab! - 1})`);
      const loadMs = performance.now() - t0;
      const logitsPath = values["logits"] as string | undefined;
      let result: { ids: number[]; prefillMs: number; decodeMs: number };
      if (target === "reference") {
        if (logitsPath !== undefined) {
          const logits = promptLogits(model, ids);
          await writeFileAtomic(logitsPath, new Uint8Array(logits.data.buffer, logits.data.byteOffset, logits.data.byteLength));
        }
        result = generate(model, ids, maxNew, sampling);
      } else {
        // Loaded lazily: binaryen is only needed when a kernel module is built.
        const { planModel } = await import("../run/engines.js");
        const threads = numberFlag(values, "threads", (v) => Number.isInteger(v) && v >= 1 && v <= 16, "an integer from 1 to 16") ?? 1;
        const bar = progressBar(io, "loading weights");
        const compiled = await planModel(model, target as "wasm" | "js", ids.length + maxNew + 1, target === "wasm" ? threads : 1, (p) => bar.update(p.loadedBytes, p.totalBytes));
        bar.done();
        try {
          if (logitsPath !== undefined) {
            const logits = compiled.forward(ids);
            await writeFileAtomic(logitsPath, new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
          }
          const out: number[] = [];
          const t1 = performance.now();
          let t2 = t1;
          for await (const tok of compiled.generate(ids, { maxNewTokens: maxNew, ...sampling })) {
            if (out.length === 0) t2 = performance.now();
            out.push(tok);
          }
          result = { ids: out, prefillMs: t2 - t1, decodeMs: performance.now() - t2 };
        } finally {
          await compiled.dispose();
        }
      }
      if (values["json"]) {
        const decodeTokens = Math.max(0, result.ids.length - 1);
        io.out(JSON.stringify({
          model: loaded.graph.name,
          target,
          prompt: ids,
          ids: result.ids,
          ...(logitsPath !== undefined ? { logits: logitsPath } : {}),
          timings: { loadMs: round(loadMs), prefillMs: round(result.prefillMs), decodeMs: round(result.decodeMs), decodeTokensPerSecond: decodeTokens ? round((decodeTokens * 1000) / result.decodeMs) : null },
        }));
      } else io.out(result.ids.join(","));
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
