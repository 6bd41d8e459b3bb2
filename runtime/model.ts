// The app-facing API of the JS runtime:
//   const model = await loadModel("dist/model");          // a compiled bundle folder
//   for await (const token of model.generate(ids, { maxNewTokens: 32, signal })) ...
// It loads the plan and the weight pack, lays out memory, and runs prefill and decode with a
// KV cache on a device (runtime/device.ts): the WASM kernels, or the TypeScript ones.
import { jsDevice } from "../backends/js/device.js";
import type { DeviceFactory } from "./device.js";
import { Executor, type BatchItem, type StepObserver } from "./executor.js";
import { hasMemory64, layoutFor, MAX_MEMORY32, MemoryLimitError } from "./memory.js";
import { weightBytes, type StorageFormat } from "./plan/formats.js";
import { PLAN_FORMAT, PLAN_VERSION, type Plan } from "./plan/plan.js";
import { makeSampler, type SamplingOptions } from "./sampling.js";
import { checkGenerate, checkLoadOptions, checkPrompts, checkTokenIds, machineProblem } from "./options.js";
import { ModelBusyError, ModelLock } from "./lock.js";
import { checkLogits, firstNonFinite, NonFiniteError } from "./finite.js";
import { generateText, generateTextBatch, isTextInput, type TextGenerateOptions, type TextInput } from "./text/generate.js";
import type { TextTokenizer } from "./text/tokenizer.js";

export interface GenerateOptions extends SamplingOptions {
  readonly maxNewTokens?: number;
  /** Token ids that end generation (not yielded). */
  readonly stopTokens?: readonly number[];
  readonly signal?: AbortSignal;
}

export interface LoadProgress {
  readonly loadedBytes: number;
  readonly totalBytes: number;
}

/** Fills `into` with the float32 values of weight `name` (shape as in the plan); for plans whose weights are all f32. */
export type WeightReader = (name: string, into: Float32Array) => Promise<void> | void;

/**
 * Fills `into` — the weight's place in the model's memory — with weight `name` stored in `format`
 * (runtime/plan/formats.ts: the bytes the kernels read, weightBytes(format, shape) of them). A
 * reader that copies from a file or a stream straight into `into` loads without a second copy.
 */
export interface RawWeightReader {
  readonly raw: (name: string, format: StorageFormat, into: Uint8Array) => Promise<void> | void;
}

export interface LoadOptions {
  /** Longest sequence (prompt + generated) the KV cache holds. */
  readonly maxContext?: number;
  /** Most tokens per forward call; longer prompts are processed in chunks of this size. */
  readonly maxTokens?: number;
  /** Sequences that can run batched, each with its own KV cache (default 1). */
  readonly sequences?: number;
  readonly onProgress?: (p: LoadProgress) => void;
  readonly signal?: AbortSignal;
  /** The device to run on (a backend's, e.g. `wasmDevice(bytes)`); default: the TypeScript kernels. */
  readonly device?: DeviceFactory;
  /**
   * Testing aid: bytes left unused before the weights. Set above 4 GiB (with 64-bit kernels)
   * it runs a small model at 64-bit addresses; the unused pages are never touched.
   */
  readonly memoryBase?: number;
}

/** maxContext and maxTokens after defaults (2048 and 256, maxTokens ≤ maxContext). */
export function resolveSizes(opts: Pick<LoadOptions, "maxContext" | "maxTokens">): { maxContext: number; maxTokens: number } {
  const maxContext = opts.maxContext ?? 2048;
  return { maxContext, maxTokens: Math.min(opts.maxTokens ?? 256, maxContext) };
}

/**
 * Whether a model loaded with these options needs the 64-bit kernel build: its memory passes
 * 4 GiB and the engine has Memory64 (where it has not, Model.create explains the limit).
 * loadModel and `moec run` ask this before they pick a kernel build.
 */
export function wantsMemory64(plan: Plan, opts: Pick<LoadOptions, "maxContext" | "maxTokens" | "sequences" | "memoryBase">, threads: number): boolean {
  try {
    const layout = layoutFor(plan, { ...resolveSizes(opts), threads, sequences: opts.sequences ?? 1, ...(opts.memoryBase !== undefined ? { base: opts.memoryBase } : {}) });
    return layout.totalBytes > MAX_MEMORY32 && hasMemory64();
  } catch {
    return false; // Model.create reports the limit
  }
}

export class LoadError extends Error {
  override name = "LoadError";
}

/** A call on a model after its dispose(). */
export class ModelDisposedError extends Error {
  override name = "ModelDisposedError";
}

export function checkPlan(plan: unknown, source: string): Plan {
  const p = plan as Partial<Plan> | null;
  if (!p || p.format !== PLAN_FORMAT) throw new LoadError(`${source}: not a moec plan (no "format": "${PLAN_FORMAT}")`);
  if (p.version !== PLAN_VERSION) throw new LoadError(`${source}: plan version ${String(p.version)} is not supported by this runtime (it reads version ${PLAN_VERSION}); recompile the model with the same moec version`);
  return p as Plan;
}

/** True when a MoE step's routing depends on the pass's token count (capacity factor or expert choice). */
function hasTokenCountRouting(plan: Plan): boolean {
  return plan.steps.some((s) => s.op === "moe" && (s.router.choice === "expert" || s.router.capacityFactor !== null));
}

export class Model {
  /** Refuses a second generation (or a forward, reset) while a generator runs: runtime/lock.ts. */
  private readonly lock = new ModelLock();
  /** The model's tokenizer and chat template, when its bundle or folder has one (loadModel attaches it). */
  tokenizer: TextTokenizer | null = null;

  private constructor(
    readonly plan: Plan,
    private readonly executor: Executor,
    readonly maxContext: number,
    readonly maxTokens: number,
    /** What runs the kernels ("wasm", "wasm ×4 threads", "js"). */
    readonly kernels: string,
  ) {}

  static async create(plan: Plan, readWeight: WeightReader | RawWeightReader, opts: LoadOptions = {}): Promise<Model> {
    checkLoadOptions(opts);
    const { maxContext, maxTokens } = resolveSizes(opts);
    const threads = opts.device?.threads ?? 1;
    const sequences = opts.sequences ?? 1;
    if (!(Number.isInteger(sequences) && sequences >= 1)) throw new LoadError(`sequences must be a positive integer, got ${sequences}`);
    let layout: ReturnType<typeof layoutFor>;
    try {
      const limit = opts.device?.addressLimit;
      layout = layoutFor(plan, { maxTokens, maxContext, threads, sequences, ...(opts.memoryBase !== undefined ? { base: opts.memoryBase } : {}), ...(limit ? { limit } : {}) });
    } catch (e) {
      throw e instanceof MemoryLimitError ? new LoadError(e.message) : e;
    }
    const short = opts.device?.offHost ? null : machineProblem(plan, { maxContext, maxTokens, sequences });
    if (short) throw new LoadError(`${short}; nothing was read`);
    const raw = typeof readWeight === "function" ? null : readWeight.raw;
    const stored = plan.weights.find((w) => w.format !== "f32");
    if (raw === null && stored) throw new LoadError(`${plan.model}: weight ${stored.name} is stored as ${stored.format} in the plan, which a float32 WeightReader cannot fill; pass a RawWeightReader ({ raw(name, format, into) }) that gives each weight's bytes in its format`);
    const label = `${plan.model} with ${sequences > 1 ? `${sequences} sequences of` : "a"} ${maxContext}-token context${sequences > 1 ? "s" : ""}`;
    let device: Awaited<ReturnType<DeviceFactory>>;
    try {
      device = await (opts.device ?? jsDevice())({ plan, layout, label });
    } catch (e) {
      throw e instanceof MemoryLimitError ? new LoadError(e.message) : e;
    }
    try {
      const totalBytes = plan.weights.reduce((s, w) => s + weightBytes(w.format, w.shape), 0);
      let loadedBytes = 0;
      for (let i = 0; i < plan.weights.length; i++) {
        opts.signal?.throwIfAborted();
        const w = plan.weights[i]!;
        const n = w.shape.reduce((a, b) => a * b, 1);
        const bytes = weightBytes(w.format, w.shape);
        await device.write(layout.weightOffsets[i]!, bytes, (dst) => (raw ? raw(w.name, w.format, dst) : (readWeight as WeightReader)(w.name, new Float32Array(dst.buffer, dst.byteOffset, n))));
        loadedBytes += bytes;
        opts.onProgress?.({ loadedBytes, totalBytes });
      }
    } catch (e) {
      await device.dispose();
      throw e;
    }
    const exec = new Executor(plan, device, layout);
    return new Model(plan, exec, maxContext, maxTokens, device.name);
  }

  /**
   * Frees the device (and stops its worker threads, if any), after the forward calls in flight
   * have finished. The model cannot run afterwards: every later call is refused.
   */
  async dispose(): Promise<void> {
    this.lock.check("dispose()");
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.executor.dispose();
  }

  /** Set by dispose(): the device is gone (a kernel launched on it could wait forever for its threads). */
  private disposed = false;
  /** forward/forwardBatch calls made and not yet settled. */
  private inFlight = 0;

  private checkAlive(what: string): void {
    if (this.disposed) throw new ModelDisposedError(`${what} was called after dispose(): the model's memory and threads are freed; load the model again to run it`);
  }

  /** Positions held in the KV cache. */
  get position(): number {
    return this.executor.position;
  }

  /** Empties the KV cache of one sequence slot, or of all. */
  reset(seq?: number): void {
    this.checkAlive("reset()");
    this.lock.check("reset()");
    if (this.inFlight > 0) throw new ModelBusyError(`reset() was called while ${this.inFlight} forward()/forwardBatch() call(s) are in flight on this model; the reset would land in the middle of them. Await them first.`);
    this.executor.reset(seq);
  }

  /** Sequence slots (LoadOptions.sequences). */
  get sequences(): number {
    return this.executor.positions.length;
  }

  /** Positions held in one sequence slot's KV cache. */
  positionOf(seq: number): number {
    return this.executor.positions[seq] ?? 0;
  }

  /** Runs tokens after the cached ones (in chunks of maxTokens); returns their logits [n, vocab]. */
  async forward(ids: readonly number[]): Promise<Float32Array> {
    this.checkAlive("forward()");
    checkTokenIds(ids, this.plan.vocab, "forward");
    return (await this.forwardBatch([{ seq: 0, ids }]))[0]!;
  }

  /**
   * Runs several sequences together, each continuing its own slot's KV cache: their rows go
   * through one pass (weights read once for all), in passes of at most maxTokens rows; a
   * sequence longer than what is left of a pass continues in the next. Returns each item's
   * logits [ids.length, vocab].
   */
  async forwardBatch(items: readonly { seq: number; ids: readonly number[] }[], opts: { logits?: "all" | "last" } = {}): Promise<Float32Array[]> {
    this.checkAlive("forwardBatch()");
    this.lock.check("forwardBatch()"); // keep this before any await
    // A device may read back mid-pass (an await): passes of concurrent calls run one after the other, never interleaved.
    this.inFlight++;
    const turn = this.queue.then(() => this.runBatch(items, opts.logits === "last")).finally(() => this.inFlight--);
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Calls of forwardBatch in flight, in order. */
  private queue: Promise<unknown> = Promise.resolve();

  private async runBatch(items: readonly { seq: number; ids: readonly number[] }[], lastOnly = false): Promise<Float32Array[]> {
    const vocab = this.plan.output.width;
    // Everything is checked before the first pass runs, so a refused call leaves every cache as it was.
    const seen = new Set<number>();
    for (const it of items) {
      if (!(Number.isInteger(it.seq) && it.seq >= 0 && it.seq < this.sequences)) throw new RangeError(`sequence slot ${it.seq} does not exist (the model was loaded with ${this.sequences})`);
      if (seen.has(it.seq)) throw new RangeError(`sequence slot ${it.seq} appears twice in one batch`);
      seen.add(it.seq);
      const at = this.executor.positions[it.seq]!;
      if (at + it.ids.length > this.maxContext) throw new RangeError(`the context of sequence ${it.seq} is full: ${at} + ${it.ids.length} tokens exceed maxContext ${this.maxContext}; reset it, or load the model with a larger maxContext`);
      checkTokenIds(it.ids, this.plan.vocab, `forwardBatch: sequence ${it.seq}`);
    }
    // Capacity and expert-choice routing depend on which tokens share a pass: chunking or batching would change results.
    if (hasTokenCountRouting(this.plan) && items.length === 1 && items[0]!.ids.length > this.maxTokens) {
      throw new RangeError(`${items[0]!.ids.length} tokens exceed maxTokens ${this.maxTokens}, and ${this.plan.model} routes by capacity or expert choice, whose result depends on the tokens in one pass; load the model with maxTokens ≥ ${items[0]!.ids.length}`);
    }
    if (items.length > 1 && hasTokenCountRouting(this.plan)) {
      throw new RangeError(`${this.plan.model} routes by capacity or expert choice, whose result depends on the tokens in one pass, so its sequences cannot share passes; run them one at a time`);
    }
    // With lastOnly, each item gets the logits of its last token only, and passes compute no others.
    const outs = items.map((it) => new Float32Array((lastOnly ? 1 : it.ids.length) * vocab));
    const done = items.map(() => 0);
    // Chunks of one prompt see its whole length, as the one-pass prefill does (RoPE scalings).
    const starts = items.map((it) => this.executor.positions[it.seq]!);
    let where: string | null = null;
    const ends = items.map((it, i) => starts[i]! + it.ids.length);
    while (done.some((d, i) => d < items[i]!.ids.length)) {
      const pass: BatchItem[] = [];
      const owners: number[] = [];
      let room = this.maxTokens;
      items.forEach((it, i) => {
        const n = Math.min(room, it.ids.length - done[i]!);
        if (n <= 0) return;
        pass.push({ seq: it.seq, ids: it.ids.slice(done[i]!, done[i]! + n), ropeLength: ends[i]! });
        owners.push(i);
        room -= n;
      });
      const before = pass.map((p) => ({ seq: p.seq, position: this.executor.positions[p.seq]! }));
      // The rows whose logits are kept: every row, or the last token of each item that ends in this pass.
      const wanted: number[] = [];
      let at = 0;
      pass.forEach((p, j) => {
        if (done[owners[j]!]! + p.ids.length === items[owners[j]!]!.ids.length) wanted.push(at + p.ids.length - 1);
        at += p.ids.length;
      });
      let logits = await this.executor.forwardBatch(pass, lastOnly ? { logitRows: wanted } : {});
      if (firstNonFinite(logits) >= 0) {
        // Only on failure: run the pass again, checking every step's output, to name where the first NaN or Infinity appears.
        this.executor.rewind(before);
        try {
          logits = await this.executor.forwardBatch(pass, { checkSteps: true });
        } catch (e) {
          if (!(e instanceof NonFiniteError)) throw e;
          where = e.message;
        }
      }
      let row = 0;
      // The executor returns the wanted rows only, unless the plan cannot drop rows (or the pass ran again, checked).
      const compact = lastOnly && logits.length === wanted.length * vocab;
      pass.forEach((p, j) => {
        const i = owners[j]!;
        if (!lastOnly) outs[i]!.set(logits.subarray(row * vocab, (row + p.ids.length) * vocab), done[i]! * vocab);
        else if (done[i]! + p.ids.length === items[i]!.ids.length) {
          const r = compact ? wanted.indexOf(row + p.ids.length - 1) : row + p.ids.length - 1;
          outs[i]!.set(logits.subarray(r * vocab, (r + 1) * vocab));
        }
        row += p.ids.length;
        done[i]! += p.ids.length;
      });
    }
    checkLogits(this.plan.model, items, outs, vocab, lastOnly ? items.map((it, i) => starts[i]! + it.ids.length - 1) : starts, where);
    return outs;
  }

  /**
   * Batched generation: prefill every prompt (sequence slot i for prompt i, from fresh caches),
   * then decode all of them together, one token each per pass. Yields, per step, each prompt's
   * new token, or null once that prompt has produced one of `stopTokens`; it ends when every
   * prompt has stopped or after maxNewTokens steps.
   */
  generateBatch(prompts: readonly (readonly number[])[], opts?: GenerateOptions): AsyncGenerator<(number | null)[], void, void>;
  /** Text prompts or conversations: per step, each one's new text ("" while held back), or null once it ended. */
  generateBatch(inputs: readonly TextInput[], opts?: TextGenerateOptions): AsyncGenerator<(string | null)[], void, void>;
  generateBatch(inputs: readonly (TextInput | readonly number[])[], opts: TextGenerateOptions = {}): AsyncGenerator<(number | null)[] | (string | null)[], void, void> {
    if (inputs.length > 0 && inputs.every((x) => isTextInput(x))) return generateTextBatch((p, o) => this.generateIdsBatch(p, o), this.needTokenizer(), inputs as TextInput[], opts);
    return this.generateIdsBatch(inputs as (readonly number[])[], opts);
  }

  private async *generateIdsBatch(prompts: readonly (readonly number[])[], opts: GenerateOptions = {}): AsyncGenerator<(number | null)[], void, void> {
    checkPrompts(prompts, this.plan.vocab);
    if (prompts.length > this.sequences) throw new RangeError(`${prompts.length} prompts but the model was loaded with ${this.sequences} sequence slot(s); load it with sequences ≥ ${prompts.length}`);
    checkGenerate(opts, Math.max(...prompts.map((p) => p.length)), this.maxContext, this.plan.vocab);
    const max = opts.maxNewTokens ?? Math.min(32, this.maxContext - Math.max(...prompts.map((p) => p.length)) + 1);
    const samplers = prompts.map(() => makeSampler(opts));
    const stop = new Set(opts.stopTokens ?? []);
    const vocab = this.plan.output.width;
    this.checkAlive("generateBatch()");
    const lock = this.lock.acquire("generateBatch()");
    try {
      // Forward calls made before this generation run first (later ones are refused by the lock).
      await this.queue;
      prompts.forEach((_, i) => this.lock.as(lock, () => this.reset(i)));
      opts.signal?.throwIfAborted();
      // Only each prompt's last token's logits are computed (no output projection over the other prompt rows).
      let logits = await this.lock.as(lock, () => this.forwardBatch(prompts.map((ids, seq) => ({ seq, ids })), { logits: "last" }));
      const active = prompts.map(() => true);
      for (let step = 0; step < max; step++) {
        opts.signal?.throwIfAborted();
        const next = prompts.map((_, i) => {
          if (!active[i]) return null;
          const t = samplers[i]!(logits[i]!);
          if (stop.has(t)) active[i] = false;
          return active[i] ? t : null;
        });
        if (!active.some(Boolean)) return;
        yield next;
        if (step + 1 >= max) return;
        await new Promise((r) => setTimeout(r, 0));
        const items = next.flatMap((t, seq) => (t === null ? [] : [{ seq, ids: [t] }]));
        const out = await this.lock.as(lock, () => this.forwardBatch(items));
        items.forEach((it, j) => (logits[it.seq] = out[j]!));
      }
    } finally {
      this.lock.release(lock);
    }
  }

  /**
   * Runs `ids` (at most maxTokens) after sequence 0's cached positions, calling `observe` after
   * every top-level plan step with a view that reads values back (calibration runs and
   * quantization error reports). Returns the logits [ids.length, vocab].
   */
  async trace(ids: readonly number[], observe: StepObserver): Promise<Float32Array> {
    this.lock.check("trace()");
    checkTokenIds(ids, this.plan.vocab, "trace");
    if (ids.length > this.maxTokens) throw new RangeError(`trace runs one pass: ${ids.length} tokens exceed maxTokens ${this.maxTokens}`);
    const turn = this.queue.then(() => this.executor.forwardBatch([{ seq: 0, ids }], { observe }));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /**
   * Expert-use counts per MoE layer of the last pass the executor ran: for a prompt longer
   * than maxTokens, or a batch, that is the last chunk (with every sequence of that pass).
   */
  get expertLoad(): readonly (readonly number[])[] {
    return this.executor.expertLoad;
  }

  /** Prefill `ids` (from a fresh cache), then yield up to maxNewTokens sampled tokens. */
  generate(ids: readonly number[], opts?: GenerateOptions): AsyncGenerator<number, void, void>;
  /** A prompt or a conversation (needs the tokenizer): yields the generated text in valid UTF-8 pieces. */
  generate(input: TextInput, opts?: TextGenerateOptions): AsyncGenerator<string, void, void>;
  generate(input: TextInput | readonly number[], opts: TextGenerateOptions = {}): AsyncGenerator<number, void, void> | AsyncGenerator<string, void, void> {
    if (isTextInput(input)) return generateText((ids, o) => this.generateIds(ids, o), this.needTokenizer(), input, opts);
    return this.generateIds(input as readonly number[], opts);
  }

  private needTokenizer(): TextTokenizer {
    if (this.tokenizer === null) throw new LoadError(`${this.plan.model} has no tokenizer, so it takes token ids, not text; compile it from a folder or GGUF file that has one (tokenizer.json, or the GGUF vocabulary), or set model.tokenizer`);
    return this.tokenizer;
  }

  private async *generateIds(ids: readonly number[], opts: GenerateOptions = {}): AsyncGenerator<number, void, void> {
    checkTokenIds(ids, this.plan.vocab, "generate");
    checkGenerate(opts, ids.length, this.maxContext, this.plan.vocab);
    const max = opts.maxNewTokens ?? Math.min(32, this.maxContext - ids.length + 1);
    const sample = makeSampler(opts);
    const stop = new Set(opts.stopTokens ?? []);
    const vocab = this.plan.output.width;
    this.checkAlive("generate()");
    const lock = this.lock.acquire("generate()");
    try {
      // Forward calls made before this generation run first (later ones are refused by the lock).
      await this.queue;
      this.lock.as(lock, () => this.reset(0));
      opts.signal?.throwIfAborted();
      let logits = (await this.lock.as(lock, () => this.forwardBatch([{ seq: 0, ids }], { logits: "last" })))[0]!;
      for (let i = 0; i < max; i++) {
        opts.signal?.throwIfAborted();
        const next = sample(logits);
        if (stop.has(next)) return;
        yield next;
        if (i + 1 < max) {
          // Let the event loop breathe between tokens so an AbortSignal can fire.
          await new Promise((r) => setTimeout(r, 0));
          logits = await this.lock.as(lock, () => this.forward([next]));
        }
      }
    } finally {
      this.lock.release(lock);
    }
  }
}
