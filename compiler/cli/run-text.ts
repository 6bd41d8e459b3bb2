// `moec run MODEL --prompt "..."`: text in, text out, streamed as it is generated. MODEL is a
// Hugging Face folder with tokenizer.json, a GGUF file with its vocabulary, a compiled bundle
// folder, or anything with --tokenizer DIR. --chat sends the prompt as a user message through
// the model's chat template.
import { TARGETS } from "../../runtime/backends.js";
import { defaultRunTarget } from "../run/targets.js";
import { openTextModel, type TextModelOptions } from "../run/text-model.js";
import { RunError } from "../run/load.js";
import type { Io } from "./io.js";
import { UsageError } from "./io.js";
import { progressBar } from "./progress.js";
import { checkSampling, OptionError } from "../../runtime/options.js";
import { promptIds } from "../../runtime/text/generate.js";
import { TokenizerError } from "../../runtime/text/tokenizer.js";

export function numberFlag(values: Record<string, unknown>, name: string, check: (v: number) => boolean, what: string): number | undefined {
  const raw = values[name] as string | undefined;
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || !check(v)) throw new UsageError(`--${name} must be ${what}, not '${raw}'.`);
  return v;
}

/** --target for text commands: the compiled plan in process (the reference interpreter has no text path). */
export function textTarget(values: Record<string, unknown>, cmd: string): string {
  const t = (values["target"] as string | undefined) ?? defaultRunTarget();
  if (!(TARGETS as readonly string[]).includes(t)) throw new UsageError(`'moec ${cmd}' with text runs the compiled plan on a backend: --target ${TARGETS.join(" or ")} (default ${defaultRunTarget()}), not '${t}'.`);
  return t;
}

/** The options every text command shares: how to open the model. */
export function textModelOptions(values: Record<string, unknown>, cmd: string): TextModelOptions {
  const randomWeights = numberFlag(values, "random-weights", (v) => Number.isInteger(v) && v >= 0, "a non-negative integer seed");
  if (randomWeights !== undefined && values["weights"] !== undefined) throw new UsageError("give either --weights or --random-weights, not both.");
  const threads = numberFlag(values, "threads", (v) => Number.isInteger(v) && v >= 1 && v <= 16, "an integer from 1 to 16");
  const maxContext = contextFlag(values);
  if (values["check-weights"] && values["no-check-weights"]) throw new UsageError("give --check-weights or --no-check-weights, not both.");
  const checkWeights = values["check-weights"] ? "on" : values["no-check-weights"] ? "off" : undefined;
  return {
    ...(checkWeights !== undefined ? { checkWeights } : {}),
    target: textTarget(values, cmd),
    ...(threads !== undefined ? { threads } : {}),
    ...(maxContext !== undefined ? { maxContext } : {}),
    ...(values["tokenizer"] !== undefined ? { tokenizer: values["tokenizer"] as string } : {}),
    ...(values["weights"] !== undefined ? { weights: values["weights"] as string } : {}),
    ...(randomWeights !== undefined ? { randomWeights } : {}),
  };
}

/** The sampling flags, checked by the runtime's own rules (runtime/options.ts) and refused as usage errors naming the flag. */
export function samplingFlags(values: Record<string, unknown>) {
  const flags = {
    temperature: numberFlag(values, "temperature", (v) => v >= 0, "a number ≥ 0") ?? 0,
    topK: numberFlag(values, "top-k", (v) => Number.isInteger(v) && v >= 0, "a non-negative integer"),
    topP: numberFlag(values, "top-p", (v) => v > 0 && v <= 1, "in (0, 1]"),
    seed: numberFlag(values, "seed", (v) => Number.isInteger(v), "an integer") ?? 0,
  };
  try {
    checkSampling(flags);
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    const flag = ({ temperature: "temperature", topK: "top-k", topP: "top-p", seed: "seed" } as Record<string, string>)[e.option] ?? e.option;
    throw new UsageError(`--${flag} must be ${e.requirement}, not '${values[flag] as string}'${e.fix ? `; ${e.fix}` : ""}.`);
  }
  return flags;
}

/** --context, or --max-context as `moec run --ids` spells it. */
export function contextFlag(values: Record<string, unknown>): number | undefined {
  if (values["context"] !== undefined && values["max-context"] !== undefined) throw new UsageError("give --context or --max-context (the same thing), not both.");
  const name = values["max-context"] !== undefined ? "max-context" : "context";
  return numberFlag(values, name, (v) => Number.isInteger(v) && v >= 2 && v <= 1 << 20, "an integer from 2 to 1048576");
}

/** The flags of `moec run` that only token ids take. */
const IDS_ONLY = ["logits", "json"];

export async function runText(io: Io, path: string, values: Record<string, unknown>, write: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  const prompt = values["prompt"] as string;
  const idsOnly = IDS_ONLY.find((f) => values[f] !== undefined);
  if (idsOnly) throw new UsageError(`--${idsOnly} works with --ids, not with --prompt.`);
  const asked = numberFlag(values, "max-new-tokens", (v) => Number.isInteger(v) && v >= 0, "a non-negative integer");
  let maxNewTokens = asked ?? 64;
  const stop = ([] as string[]).concat((values["stop"] as string[] | string | undefined) ?? []);
  const opts = textModelOptions(values, "run");
  const sampling = samplingFlags(values);
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  try {
    const bar = progressBar(io, "loading weights");
    const tm = await openTextModel(path, { ...opts, defaultContext: 4096, onProgress: (a, b) => bar.update(a, b) });
    const { model } = tm;
    bar.done();
    try {
      const input = values["chat"] ? [{ role: "user", content: prompt }] : prompt;
      // Prompt + -n must fit in the context: a usage error naming the flags, as for --ids.
      const n = promptIds(tm.tokenizer, input).length;
      const room = Math.max(0, tm.context.positions - n + 1);
      if (asked === undefined) maxNewTokens = Math.min(maxNewTokens, room);
      if (n > 0 && maxNewTokens > room) {
        const more = values["context"] === undefined && values["max-context"] === undefined ? ", or pass --context N to run past it" : "";
        if (n > tm.context.positions) throw new UsageError(`the prompt has ${n} tokens, more than the ${tm.context.positions} positions of the context (${tm.context.source}); shorten it${more}.`);
        throw new UsageError(`-n ${maxNewTokens}: a prompt of ${n} token${n === 1 ? "" : "s"} and ${maxNewTokens} new tokens need ${n + maxNewTokens - 1} positions, more than the ${tm.context.positions} of the context (${tm.context.source}); use -n ${room} or less${more}.`);
      }
      let reason = "";
      try {
        for await (const piece of model.generate(input, { maxNewTokens, stop, ...sampling, signal: controller.signal, onFinish: (f) => (reason = `${f.reason}: ${f.completionTokens} tokens`) })) write(piece);
      } catch (e) {
        if (!controller.signal.aborted) throw e;
        reason = "interrupted";
      }
      write("\n");
      if (values["verbose"]) io.err(`(${reason})`);
      return 0;
    } finally {
      await model.dispose();
    }
  } catch (e) {
    if (e instanceof RunError || e instanceof RangeError) {
      io.err(`moec run: ${e.message}`);
      return 1;
    }
    if (e instanceof TokenizerError) {
      io.err(`moec run: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  } finally {
    process.off("SIGINT", onSigint);
  }
}
