// Validation of everything an app passes to the runtime: load options, generation and sampling
// options, token ids. The CLI (`moec run`) validates its flags with the same functions, so the
// API refuses exactly what the command line refuses. A refusal is an OptionError (a RangeError)
// naming the option, the value given, what is allowed and, where there is one, the fix.
// Everything here is checked once per call, before any work: nothing runs per token.
import { weightBytes } from "./plan/formats.js";
import type { Plan } from "./plan/plan.js";

export class OptionError extends RangeError {
  override name = "OptionError";
  constructor(
    /** The option's name in the API (`maxNewTokens`, `topP`, ...). */
    readonly option: string,
    readonly value: unknown,
    /** What is allowed, as a phrase: "an integer ≥ 1". */
    readonly requirement: string,
    readonly fix?: string,
    /** A message in other words, where a fixed wording is known to callers. */
    message?: string,
  ) {
    super(message ?? `${option} must be ${requirement}, not ${show(value)}${fix ? `; ${fix}` : ""}`);
  }
}

/** A value as a person would write it in a message. */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : String(v);
  if (v === null || v === undefined || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `a ${typeof v === "function" ? "function" : (Object.getPrototypeOf(v)?.constructor?.name ?? "object")}`;
}

type Opts = Record<string, unknown>;

function optionsObject(opts: unknown, what: string): Opts {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== "object" || Array.isArray(opts)) throw new OptionError(what, opts, "an object of options");
  return opts as Opts;
}

function integer(o: Opts, name: string, min: number, max = Number.MAX_SAFE_INTEGER, fix?: string): void {
  const v = o[name];
  if (v === undefined) return;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new OptionError(name, v, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`, fix);
  }
}

function fn(o: Opts, name: string): void {
  const v = o[name];
  if (v !== undefined && typeof v !== "function") throw new OptionError(name, v, "a function");
}

function signal(o: Opts): void {
  const v = o["signal"];
  if (v !== undefined && (typeof v !== "object" || v === null || typeof (v as AbortSignal).throwIfAborted !== "function")) throw new OptionError("signal", v, "an AbortSignal");
}

/** The most threads the runtime starts (each is a worker with its own attention scratch). */
export const MAX_THREADS = 256;

/** LoadOptions (Model.create, loadModel). */
export function checkLoadOptions(opts: unknown): void {
  const o = optionsObject(opts, "the load options");
  integer(o, "maxContext", 1, 2 ** 31 - 1);
  integer(o, "maxTokens", 1, 2 ** 31 - 1);
  integer(o, "sequences", 1, 2 ** 31 - 1);
  integer(o, "memoryBase", 0);
  fn(o, "onProgress");
  fn(o, "kernels");
  signal(o);
}

/** BundleLoadOptions (loadModel): LoadOptions plus the backend and its threads. */
export function checkBundleLoadOptions(opts: unknown): void {
  checkLoadOptions(opts);
  const o = optionsObject(opts, "the load options");
  if (o["backend"] !== undefined && typeof o["backend"] !== "string") throw new OptionError("backend", o["backend"], 'a target name such as "wasm" or "js"');
  integer(o, "threads", 1, MAX_THREADS);
  integer(o, "splitThreshold", 0);
}

/** SamplingOptions, as `moec run` takes them: --temperature, --top-k, --top-p, --seed. */
export function checkSampling(opts: unknown): void {
  const o = optionsObject(opts, "the sampling options");
  const t = o["temperature"];
  if (t !== undefined && !(typeof t === "number" && Number.isFinite(t) && t >= 0)) throw new OptionError("temperature", t, "a finite number ≥ 0 (0 is greedy)");
  integer(o, "topK", 0, Number.MAX_SAFE_INTEGER, "0 keeps every token");
  const p = o["topP"];
  if (p !== undefined && !(typeof p === "number" && p > 0 && p <= 1)) throw new OptionError("topP", p, "a number in (0, 1] (1 keeps every token)");
  const s = o["seed"];
  if (s !== undefined && !(typeof s === "number" && Number.isSafeInteger(s))) throw new OptionError("seed", s, "an integer");
}

/**
 * GenerateOptions for a prompt of `promptLength` tokens on a cache of `maxContext` positions:
 * the sampling options, maxNewTokens (bounded by what is left of the context: the last new
 * token is never run, so a prompt of n leaves maxContext − n + 1), stopTokens, signal.
 */
export function checkGenerate(opts: unknown, promptLength: number, maxContext: number, vocab: number): void {
  checkSampling(opts);
  const o = optionsObject(opts, "the generate options");
  const room = Math.max(0, maxContext - promptLength + 1);
  integer(o, "maxNewTokens", 0);
  const max = o["maxNewTokens"] as number | undefined;
  if (max !== undefined && max > room) {
    throw new OptionError("maxNewTokens", max, `at most ${room}`, `a prompt of ${promptLength} token${promptLength === 1 ? "" : "s"} and ${max} new tokens need ${promptLength + max - 1} positions, more than the maxContext of ${maxContext} this model was loaded with; ask for fewer tokens, or load the model with a larger maxContext`);
  }
  const stop = o["stopTokens"];
  if (stop !== undefined) {
    if (!Array.isArray(stop)) throw new OptionError("stopTokens", stop, "an array of token ids");
    for (let i = 0; i < stop.length; i++) {
      const id = stop[i];
      if (!(typeof id === "number" && Number.isInteger(id) && id >= 0 && id < vocab)) throw new OptionError(`stopTokens[${i}]`, id, `a token id in the vocabulary (0..${vocab - 1})`);
    }
  }
  signal(o);
}

/** Token ids: a non-empty array (or typed array) of integers in 0..vocab−1; `what` names the call. */
export function checkTokenIds(ids: unknown, vocab: number, what: string): void {
  const isArray = Array.isArray(ids) || (ArrayBuffer.isView(ids) && !(ids instanceof DataView));
  if (!isArray) throw new OptionError(`${what}: token ids`, ids, "an array of token ids");
  const a = ids as ArrayLike<unknown>;
  if (a.length === 0) throw new OptionError(`${what}: token ids`, ids, "at least one token id", "give the prompt's ids");
  for (let i = 0; i < a.length; i++) {
    const id = a[i];
    // A hole in a sparse array reads as undefined, as does a missing id.
    if (!(typeof id === "number" && Number.isInteger(id) && id >= 0 && id < vocab)) {
      throw new OptionError(`${what}: token id [${i}]`, id, `an integer in the vocabulary (0..${vocab - 1})`, undefined, `${what}: token id ${show(id)} (at index ${i}) is not an integer in the vocabulary (0..${vocab - 1})`);
    }
  }
}

/** Prompts for generateBatch: an array of prompts, each an array of token ids. */
export function checkPrompts(prompts: unknown, vocab: number): void {
  if (!Array.isArray(prompts)) throw new OptionError("generateBatch: prompts", prompts, "an array of prompts (arrays of token ids)");
  if (prompts.length === 0) throw new OptionError("generateBatch: prompts", prompts, "at least one prompt");
  prompts.forEach((p, i) => checkTokenIds(p, vocab, `generateBatch: prompt ${i}`));
}

// ---- sizes before allocation -------------------------------------------------------------

/** Bytes for a person: GiB from 1 GiB, MiB from 1 MiB, else KiB. */
export function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}
const gib = formatBytes;

export interface MemoryNeed {
  readonly weights: number;
  /** One sequence slot's KV caches. */
  readonly cachePerSequence: number;
  readonly activations: number;
  readonly total: number;
}

/**
 * The bytes a model needs (weights, KV caches, activations; scratch and alignment aside), by
 * arithmetic alone: nothing is allocated, so absurd sizes are refused before anything is built.
 */
export function memoryNeed(plan: Plan, sizes: { maxContext: number; maxTokens: number; sequences: number }): MemoryNeed {
  const weights = plan.weights.reduce((s, w) => s + weightBytes(w.format, w.shape), 0);
  const cachePerSequence = plan.caches.reduce((s, c) => s + 4 * sizes.maxContext * (c.kWidth + c.vWidth) + (c.state ? 4 * (c.state.k + c.state.v) : 0), 0);
  const activations = plan.slots.reduce((s, w) => s + 4 * sizes.maxTokens * w, 0);
  return { weights, cachePerSequence, activations, total: weights + sizes.sequences * cachePerSequence + activations };
}

/** Explains a need over `limit` bytes: the parts, and the sequences or context that would fit. */
export function explainNeed(plan: Plan, sizes: { maxContext: number; maxTokens: number; sequences: number }, need: MemoryNeed, limit: number, limitText: string): string {
  const parts = `weights ${gib(need.weights)}, KV caches ${gib(sizes.sequences * need.cachePerSequence)} (${gib(need.cachePerSequence)} for each of ${sizes.sequences} sequence${sizes.sequences === 1 ? "" : "s"} of ${sizes.maxContext} positions), activations ${gib(need.activations)} (maxTokens ${sizes.maxTokens})`;
  const room = limit - need.weights - need.activations;
  let fit: string;
  if (need.weights > limit) fit = "the weights alone do not fit; use a machine or engine with more memory, or a smaller model";
  else if (room <= 0 || need.cachePerSequence === 0) fit = "lower maxTokens (the activations grow with it), or use a machine or engine with more memory";
  else {
    const perPosition = need.cachePerSequence / sizes.maxContext;
    const total = Math.floor(room / perPosition);
    const ways = new Set<string>();
    const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
    const fitSeqs = Math.floor(total / sizes.maxContext);
    if (fitSeqs >= 1) ways.add(`${plural(fitSeqs, "sequence")} of ${sizes.maxContext} positions`);
    const fitCtx = Math.floor(total / sizes.sequences);
    if (fitCtx >= 1) ways.add(`${plural(sizes.sequences, "sequence")} of ${fitCtx} positions`);
    if (ways.size === 0) ways.add(`1 sequence of ${total} positions`);
    fit = total < 1 ? "lower maxTokens, or use a machine or engine with more memory" : `the KV caches can hold ${total} positions in all (sequences × maxContext), such as ${[...ways].join(" or ")}`;
  }
  return `${plan.model} needs ${gib(need.total)} (${parts}), more than ${limitText}: ${fit}`;
}

/** Why a layout cannot be made within `limit` bytes (say, the engine's), or null; nothing allocated. */
export function memoryProblem(plan: Plan, sizes: { maxContext: number; maxTokens: number; sequences: number }, limit: number, limitText: string): string | null {
  for (const k of ["maxContext", "maxTokens", "sequences"] as const) {
    if (!(Number.isInteger(sizes[k]) && sizes[k] >= 1)) return new OptionError(k, sizes[k], "an integer ≥ 1").message;
  }
  const need = memoryNeed(plan, sizes);
  return need.total > limit ? explainNeed(plan, sizes, need, limit, limitText) : null;
}

/** Why the machine cannot hold the model now (its available memory), or null; nothing allocated. */
export function machineProblem(plan: Plan, sizes: { maxContext: number; maxTokens: number; sequences: number }): string | null {
  const free = availableMemory();
  if (free === null) return null;
  const need = memoryNeed(plan, sizes);
  return need.total > free ? explainNeed(plan, sizes, need, free, `the ${gib(free)} this machine has available`) : null;
}

/**
 * Memory the machine can give now (Node: process.availableMemory, which counts container
 * limits), or null where the runtime cannot know (browsers). MOEC_AVAILABLE_MEMORY (bytes)
 * overrides it, to test the refusals on a machine of any size.
 */
export function availableMemory(): number | null {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined>; availableMemory?: () => number } }).process;
  const forced = Number(p?.env?.["MOEC_AVAILABLE_MEMORY"] ?? NaN);
  if (Number.isFinite(forced) && forced > 0) return forced;
  if (typeof p?.availableMemory === "function") {
    const v = p.availableMemory();
    if (Number.isFinite(v) && v > 0) return v;
  }
  return null;
}
