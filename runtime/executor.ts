// Executes a plan on a device: walks its steps and launches each through the launch table
// (launch.ts). Token ids in, logits out; the KV caches persist across calls so decoding
// continues where it left off. The executor never touches memory: it uploads the ids, reads
// the logits back, and the steps do the rest through the device seam (device.ts).
import type { Device } from "./device.js";
import { LAUNCH, weightAt, type Bind, type LaunchContext, type Segment } from "./launch.js";
import type { Layout } from "./memory.js";
import { describeNonFinite, firstNonFinite, NonFiniteError } from "./finite.js";
import type { Plan, Step, WRef } from "./plan/plan.js";
import { stepSpec } from "./plan/steps.js";

export type { Segment } from "./launch.js";

/** A batch item: token ids that continue sequence slot `seq`. */
export interface BatchItem {
  readonly seq: number;
  readonly ids: ArrayLike<number>;
  /**
   * When this pass is one chunk of a longer prompt: the prompt's end position, so dynamic-NTK
   * and LongRoPE scale every chunk as transformers scales the prompt in one pass. Default:
   * the end of this pass's rows.
   */
  readonly ropeLength?: number;
}

/** What an observer of a pass sees after each top-level step (calibration runs and error reports read values with it). */
export interface StepView {
  readonly index: number;
  readonly step: Step;
  /** Rows in this pass. */
  readonly T: number;
  readonly layout: Layout;
  /** Byte address of a value's rows. */
  value(v: number): number;
  read(at: number, bytes: number): Promise<Uint8Array>;
}
export type StepObserver = (view: StepView) => void | Promise<void>;

type AnyLaunch = (x: LaunchContext, s: Step, T: number, bind: Bind | null) => void | Promise<void>;
const launchOf = (s: Step) => LAUNCH[s.op] as AnyLaunch;

export class Executor {
  /** Positions already in each sequence slot's KV caches. */
  readonly positions: number[];
  /** Expert-use counts of the last forward, per MoE step (for reports and prefetch). */
  readonly expertLoad: number[][] = [];
  private readonly ctx: LaunchContext & { segments: readonly Segment[] };
  /**
   * Where a pass that needs the logits of a few rows only (generation: each prompt's last token)
   * may drop the other rows: after the last attention, DeltaNet or Mamba-2 step every step is row-wise, so the
   * values still to be read are compacted to those rows and the rest (the last layers' MoE and
   * norm, the output projection over the vocabulary) runs on them alone. Null when a step after
   * it depends on other rows (routing on the host: capacity factors, expert choice).
   */
  private readonly tail: { readonly cut: number; readonly live: readonly number[] } | null;

  constructor(
    readonly plan: Plan,
    readonly device: Device,
    private readonly layout: Layout,
  ) {
    this.positions = new Array<number>(layout.sequences).fill(0);
    this.tail = Executor.tailOf(plan);
    const values = plan.values;
    this.ctx = {
      device,
      k: device.launch,
      plan,
      layout,
      segments: [],
      expertLoad: this.expertLoad,
      v: (value) => layout.slotOffsets[values[value]!.slot]!,
      w: (ref: WRef, bind: Bind | null) => {
        if ("w" in ref) return layout.weightOffsets[ref.w]!;
        const [wi, off] = bind![ref.local]!;
        return weightAt(plan, layout, wi, off).at;
      },
      wq: (ref: WRef, bind: Bind | null) => {
        if ("w" in ref) return weightAt(plan, layout, ref.w, 0);
        const [wi, off] = bind![ref.local]!;
        return weightAt(plan, layout, wi, off);
      },
      width: (value) => values[value]!.width,
      runBody: (steps, T, bind) => {
        for (const s of steps) {
          if (launchOf(s)(this.ctx, s, T, bind) !== undefined) throw new Error(`plan step ${s.op} reads back from the device and cannot run inside an expert body`);
        }
      },
    };
  }

  private static tailOf(plan: Plan): { cut: number; live: number[] } | null {
    let cut = 0;
    plan.steps.forEach((s, i) => {
      // steps that mix rows or carry state across them (attention, and the linear-attention / state-space layers,
      // whose state must see every row) end the prefix that runs on all rows
      if (s.op === "attention" || s.op === "rope" || s.op === "deltanet" || s.op === "mamba2" || s.op === "conv1d" || s.op === "mamba") cut = i + 1;
    });
    if (plan.steps.slice(cut).some((s) => s.op === "moe" && s.routing === "host")) return null;
    const written = new Set<number>();
    const live = new Set<number>();
    for (const s of plan.steps.slice(cut)) {
      const { reads, writes } = stepSpec(s).values(s);
      for (const r of reads) if (!written.has(r)) live.add(r);
      for (const w of writes) written.add(w);
    }
    return { cut, live: [...live] };
  }

  /** Positions in sequence slot 0's cache (the single-sequence API). */
  get position(): number {
    return this.positions[0]!;
  }

  /** Empties one sequence slot's cache, or all of them. */
  reset(seq?: number): void {
    if (seq === undefined) this.positions.fill(0);
    else this.positions[seq] = 0;
  }

  async dispose(): Promise<void> {
    await this.device.dispose();
  }

  /** Runs `ids` (at most maxTokens) after sequence 0's cached positions; returns the logits [ids.length, vocab]. */
  forward(ids: ArrayLike<number>): Promise<Float32Array> {
    return this.forwardBatch([{ seq: 0, ids }]);
  }

  /**
   * Runs several sequences in one pass (their rows stacked: every matmul and expert reads its
   * weights once for all of them); each item continues its own slot's KV cache. Returns the
   * logits of all rows, item after item: [Σ ids.length, vocab].
   */
  async forwardBatch(items: readonly BatchItem[], opts: { checkSteps?: boolean; observe?: StepObserver; logitRows?: readonly number[] } = {}): Promise<Float32Array> {
    const segments: Segment[] = [];
    let T = 0;
    for (const { seq, ids, ropeLength } of items) {
      if (!(Number.isInteger(seq) && seq >= 0 && seq < this.layout.sequences)) throw new RangeError(`sequence slot ${seq} does not exist (the model was loaded with ${this.layout.sequences})`);
      if (segments.some((g) => g.seq === seq)) throw new RangeError(`sequence slot ${seq} appears twice in one batch`);
      if (ids.length === 0) throw new RangeError("forward needs at least one token per sequence");
      const position = this.positions[seq]!;
      if (position + ids.length > this.layout.maxContext) throw new RangeError(`the context of sequence ${seq} is full: ${position} + ${ids.length} tokens exceed maxContext ${this.layout.maxContext}`);
      segments.push({ seq, start: T, length: ids.length, position, ropeLength: Math.max(ropeLength ?? 0, position + ids.length) });
      T += ids.length;
    }
    if (T === 0) throw new RangeError("forward needs at least one token");
    if (T > this.layout.maxTokens) throw new RangeError(`at most ${this.layout.maxTokens} tokens per forward call, got ${T}`);
    const ids = new Int32Array(T);
    items.forEach((it, i) => ids.set(Array.from(it.ids), segments[i]!.start));
    // The embedding kernel trusts its indices: check them here, where they are known.
    const vocab = this.plan.vocab;
    for (const id of ids) if (vocab > 0 && !(id >= 0 && id < vocab)) throw new RangeError(`token id ${id} is outside the vocabulary (0..${vocab - 1})`);
    this.device.upload(this.ctx.v(this.plan.input.value), ids);
    this.expertLoad.length = 0;
    this.ctx.segments = segments;
    // Only some rows' logits wanted (and the plan allows it): the rest stop after the last row-mixing step.
    const rows = opts.logitRows && this.tail && !opts.checkSteps && !opts.observe ? opts.logitRows : null;
    let stepT = T;
    for (let i = 0; i < this.plan.steps.length; i++) {
      if (rows && i === this.tail!.cut) {
        if (rows.length === 0) break;
        this.compact(rows, T);
        stepT = rows.length;
      }
      const s = this.plan.steps[i]!;
      const pending = launchOf(s)(this.ctx, s, stepT, null);
      if (pending !== undefined) await pending;
      if (opts.checkSteps) await this.checkStep(i, T);
      if (opts.observe) await opts.observe({ index: i, step: s, T, layout: this.layout, value: (v) => this.ctx.v(v), read: (at, bytes) => this.device.read(at, bytes) });
    }
    for (const g of segments) this.positions[g.seq] = g.position + g.length;
    const out = this.plan.output;
    const n = rows ? rows.length : T;
    if (n === 0) return new Float32Array(0);
    const bytes = await this.device.read(this.ctx.v(out.value), 4 * n * out.width);
    return new Float32Array(bytes.buffer, bytes.byteOffset, n * out.width);
  }

  /** Moves `rows` (ascending) of every value the tail reads to its first rows, through scratch. */
  private compact(rows: readonly number[], T: number): void {
    const k = this.device.launch;
    const idx = this.layout.scratch;
    const tmp = idx + 16 * Math.ceil(rows.length / 4);
    for (const r of rows) if (!(r >= 0 && r < T)) throw new RangeError(`logit row ${r} is outside the pass's ${T} rows`);
    this.device.upload(idx, Int32Array.from(rows));
    for (const v of this.tail!.live) {
      const w = this.plan.values[v]!.width;
      k.gather_rows(this.ctx.v(v), idx, tmp, rows.length, w);
      k.copy_blocks(tmp, this.ctx.v(v), rows.length, 1, w, w, 0, w, 0);
    }
  }

  /** Rolls sequences back to earlier positions (to run a pass again: the cache rows it wrote are rewritten). */
  rewind(positions: readonly { seq: number; position: number }[]): void {
    for (const p of positions) this.positions[p.seq] = p.position;
  }

  /** Reads back what step `i` wrote and throws a NonFiniteError naming the step if any of it is NaN or ±Infinity. */
  private async checkStep(i: number, T: number): Promise<void> {
    const s = this.plan.steps[i]!;
    for (const v of stepSpec(s).values(s).writes) {
      const n = T * this.plan.values[v]!.width;
      const b = await this.device.read(this.ctx.v(v), 4 * n);
      const data = new Float32Array(b.buffer, b.byteOffset, n);
      const bad = firstNonFinite(data);
      if (bad >= 0) throw new NonFiniteError(`the first non-finite value (${describeNonFinite(data[bad]!)}, row ${Math.floor(bad / this.plan.values[v]!.width)}) comes out of ${describeStep(this.plan, i)}`);
    }
  }
}

/** "step 37 (matmul in model.layers.3: K=… · model.layers.3.mlp.…)", for messages. */
export function describeStep(plan: Plan, i: number): string {
  const name = (r: WRef) => ("w" in r ? plan.weights[r.w]?.name ?? `weight ${r.w}` : `expert parameter ${r.local}`);
  const layerOf = (s: Step) => stepSpec(s).weights(s).flatMap((r) => (r && "w" in r ? [/(?:^|\.)layers\.(\d+)\./.exec(name(r))?.[1]] : [])).find((x) => x !== undefined);
  let layer: string | undefined;
  for (let j = i; j >= 0 && layer === undefined; j--) layer = layerOf(plan.steps[j]!);
  const s = plan.steps[i]!;
  const d = stepSpec(s).describe(s, (v) => `v${v}`, name);
  return `step ${i} of the plan (${d.op}${layer !== undefined ? `, layer ${layer}` : ""}: ${d.detail})`;
}
