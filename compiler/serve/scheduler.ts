// Continuous batching over a model's sequence slots. Each request owns a slot while it runs;
// every step is one Model.forwardBatch call with one item per running request (its whole prompt
// on the step it joins, then its last token), so a request joins the running batch at the next
// step and leaves it as soon as it ends. Waiting requests queue (up to a bound) for a free slot.
// A cancelled request (its client went away) is dropped at the next step and its slot freed
// (and reset when it is handed out again). Written against Model's public API only (forwardBatch, reset, sequences), and it
// awaits forwardBatch, so it works whether that returns logits or a promise of them.
import type { Model } from "../../runtime/model.js";
import { makeSampler, type SamplingOptions } from "../../runtime/sampling.js";
import { TextContinuation, type FinishReason } from "../../runtime/text/continuation.js";
import type { TextTokenizer } from "../../runtime/text/tokenizer.js";

export interface Job {
  readonly promptIds: readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplingOptions;
  readonly stop: readonly string[];
  /** Receives each piece of text as it is released. */
  readonly onText?: (text: string) => void;
  readonly signal?: AbortSignal;
}

export interface JobResult {
  readonly text: string;
  /** "abort": the request was cancelled (or the server shut down) before it ended. */
  readonly finishReason: FinishReason | "abort";
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export class QueueFullError extends Error {}
export class ShuttingDownError extends Error {}

interface Running {
  readonly job: Job;
  readonly cont: TextContinuation;
  readonly sample: (logits: Float32Array) => number;
  readonly resolve: (r: JobResult) => void;
  readonly reject: (e: Error) => void;
  text: string;
  slot: number;
  /** Ids to run on the next step: the prompt, then the last sampled token. */
  pending: readonly number[];
  settled: boolean;
}

/** Capacity-factor and expert-choice routers depend on which tokens share a pass, so those models run one sequence per pass. */
function canBatch(model: Model): boolean {
  return !model.plan.steps.some((s) => s.op === "moe" && (s.router.choice === "expert" || s.router.capacityFactor !== null));
}

export class Scheduler {
  private readonly queue: Running[] = [];
  private readonly active = new Map<number, Running>();
  private readonly free: number[];
  private looping = false;
  private closing = false;
  private readonly batching: boolean;
  private idleWaiters: (() => void)[] = [];
  /** Steps run and tokens generated, for the log and the benchmark. */
  stats = { steps: 0, tokens: 0, maxBatch: 0 };

  constructor(private readonly model: Model, private readonly tokenizer: TextTokenizer, private readonly maxQueue: number) {
    this.free = Array.from({ length: model.sequences }, (_, i) => model.sequences - 1 - i);
    this.batching = canBatch(model);
  }

  get slots(): number {
    return this.model.sequences;
  }
  get busy(): number {
    return this.active.size;
  }
  get queued(): number {
    return this.queue.length;
  }

  /** Runs a request to its end; rejects with QueueFullError when every slot is busy and the queue is full. */
  submit(job: Job): Promise<JobResult> {
    if (this.closing) return Promise.reject(new ShuttingDownError("the server is shutting down and takes no new requests"));
    if (this.free.length === 0 && this.queue.length >= this.maxQueue) {
      return Promise.reject(new QueueFullError(`the server is busy: all ${this.slots} sequence slots are in use and ${this.queue.length} requests are waiting (the limit, --max-queue); try again later`));
    }
    return new Promise<JobResult>((resolve, reject) => {
      const skip = true;
      const r: Running = {
        job,
        cont: new TextContinuation((ids) => this.tokenizer.decode(ids, { skipSpecialTokens: skip }), { promptIds: job.promptIds, stopTokenIds: this.tokenizer.eosTokenIds, stopStrings: job.stop, maxNewTokens: job.maxTokens }),
        sample: makeSampler(job.sampling),
        resolve,
        reject,
        text: "",
        slot: -1,
        pending: job.promptIds,
        settled: false,
      };
      job.signal?.addEventListener("abort", () => this.cancel(r), { once: true });
      if (job.signal?.aborted) return this.settle(r, { reason: "abort" });
      this.queue.push(r);
      void this.loop();
    });
  }

  /** Stops taking requests, fails the queued ones, and lets the running ones finish for up to graceMs before cancelling them. */
  async drain(graceMs: number): Promise<void> {
    this.closing = true;
    for (const r of this.queue.splice(0)) this.settle(r, { error: new ShuttingDownError("the server is shutting down; the request was not started") });
    if (this.active.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.idle(), new Promise<void>((res) => (timer = setTimeout(res, graceMs)))]);
    clearTimeout(timer);
    for (const r of [...this.active.values()]) this.settle(r, { reason: "abort" });
    await this.idle();
  }

  /** Resolves when no request is running or waiting. */
  idle(): Promise<void> {
    if (this.active.size === 0 && this.queue.length === 0 && !this.looping) return Promise.resolve();
    return new Promise((res) => this.idleWaiters.push(res));
  }

  private cancel(r: Running): void {
    const q = this.queue.indexOf(r);
    if (q >= 0) {
      this.queue.splice(q, 1);
      this.settle(r, { reason: "abort" });
    }
    // A running request is dropped at the next step (a step in flight cannot be interrupted).
  }

  private settle(r: Running, how: { reason: FinishReason | "abort" } | { error: Error }): void {
    if (r.settled) return;
    r.settled = true;
    if (r.slot >= 0) {
      // The slot's cache is emptied when the loop hands it out again (a step may be in flight now).
      this.active.delete(r.slot);
      this.free.push(r.slot);
      r.slot = -1;
    }
    if ("error" in how) r.reject(how.error);
    else r.resolve({ text: r.text, finishReason: how.reason, promptTokens: r.job.promptIds.length, completionTokens: r.cont.ids.length });
  }

  private emit(r: Running, text: string): void {
    if (!text) return;
    r.text += text;
    r.job.onText?.(text);
  }

  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    try {
      for (;;) {
        for (const r of [...this.active.values()]) if (r.job.signal?.aborted) this.settle(r, { reason: "abort" });
        while (this.queue.length > 0 && this.free.length > 0) {
          const r = this.queue.shift()!;
          r.slot = this.free.pop()!;
          this.model.reset(r.slot);
          this.active.set(r.slot, r);
        }
        if (this.active.size === 0) break;
        let running = [...this.active.values()];
        if (!this.batching) running = running.slice(0, 1);
        const items = running.map((r) => ({ seq: r.slot, ids: r.pending }));
        let outs: Float32Array[];
        try {
          outs = await this.model.forwardBatch(items, { logits: "last" });
        } catch (e) {
          for (const r of running) this.settle(r, { error: e as Error });
          continue;
        }
        this.stats.steps++;
        this.stats.maxBatch = Math.max(this.stats.maxBatch, items.length);
        const vocab = this.model.plan.output.width;
        running.forEach((r, j) => {
          if (r.settled) return;
          const out = outs[j]!;
          const id = r.sample(out.subarray(out.length - vocab));
          this.stats.tokens++;
          const step = r.cont.push(id);
          this.emit(r, step.text);
          if (step.finish) this.settle(r, { reason: step.finish });
          else r.pending = [id];
        });
        // Let the server read requests, write replies and notice disconnects between steps.
        await new Promise((res) => setImmediate(res));
      }
    } finally {
      this.looping = false;
      if (this.active.size === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      else void this.loop();
    }
  }
}
