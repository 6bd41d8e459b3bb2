// Executes a plan: walks its steps and calls kernels on one linear memory. Token ids in,
// logits out; the KV caches persist across calls so decoding continues where it left off.
import type { Kernels } from "./kernels/kernels.js";
import { BINARY, GROUP_SCORING, SCORING, UNARY } from "./kernels/kernels.js";
import type { Layout } from "./memory.js";
import { ropeCosSin } from "./math/rope.js";
import { byExpert } from "./moe/permute.js";
import { route } from "./moe/routing.js";
import { moeScratch } from "./moe/scratch.js";
import type { MoeStep, Plan, Step, WRef } from "./plan/plan.js";

/** One sequence's rows in a (batched) forward: rows [start, start + length) of every value. */
export interface Segment {
  readonly seq: number;
  readonly start: number;
  readonly length: number;
  /** Positions of this sequence already in its KV cache. */
  readonly position: number;
  /** The sequence length RoPE scalings that depend on it (dynamic NTK, LongRoPE) see. */
  readonly ropeLength: number;
}

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

export class Executor {
  /** Positions already in each sequence slot's KV caches. */
  readonly positions: number[];
  /** The sequences of the forward call in progress. */
  private segments: readonly Segment[] = [];
  /** Expert-use counts of the last forward, per MoE step (for reports and prefetch). */
  readonly expertLoad: number[][] = [];

  constructor(
    readonly plan: Plan,
    private readonly k: Kernels,
    private readonly layout: Layout,
    private readonly memory: () => ArrayBuffer,
  ) {
    this.positions = new Array<number>(layout.sequences).fill(0);
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
    await this.k.dispose?.();
  }

  private f32(): Float32Array {
    return new Float32Array(this.memory());
  }

  /** Byte offset of a value's rows. */
  private v(value: number): number {
    return this.layout.slotOffsets[this.plan.values[value]!.slot]!;
  }

  private w(ref: WRef, bind: readonly (readonly [number, number])[] | null): number {
    if ("w" in ref) return this.layout.weightOffsets[ref.w]!;
    const [wi, off] = bind![ref.local]!;
    return this.layout.weightOffsets[wi]! + 4 * off;
  }

  /** Runs `ids` (at most maxTokens) after sequence 0's cached positions; returns the logits [ids.length, vocab]. */
  forward(ids: ArrayLike<number>): Float32Array {
    return this.forwardBatch([{ seq: 0, ids }]);
  }

  /**
   * Runs several sequences in one pass (their rows stacked: every matmul and expert reads its
   * weights once for all of them); each item continues its own slot's KV cache. Returns the
   * logits of all rows, item after item: [Σ ids.length, vocab].
   */
  forwardBatch(items: readonly BatchItem[]): Float32Array {
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
    const idsAt = this.v(this.plan.input.value);
    const idsView = new Int32Array(this.memory(), idsAt, T);
    items.forEach((it, i) => idsView.set(Array.from(it.ids), segments[i]!.start));
    this.expertLoad.length = 0;
    this.segments = segments;
    this.run(this.plan.steps, T, null);
    for (const g of segments) this.positions[g.seq] = g.position + g.length;
    const out = this.plan.output;
    return this.f32().slice(this.v(out.value) / 4, this.v(out.value) / 4 + T * out.width);
  }

  private run(steps: readonly Step[], T: number, bind: readonly (readonly [number, number])[] | null): void {
    for (const s of steps) this.step(s, T, bind);
  }

  private step(s: Step, T: number, bind: readonly (readonly [number, number])[] | null): void {
    const k = this.k;
    const v = (x: number) => this.v(x);
    const w = (r: WRef) => this.w(r, bind);
    const width = (x: number) => this.plan.values[x]!.width;
    switch (s.op) {
      case "embed": {
        const ids = new Int32Array(this.memory(), this.v(this.plan.input.value), T);
        const table = w(s.weight);
        const f = this.f32();
        const out = v(s.out) / 4;
        for (let t = 0; t < T; t++) {
          const id = ids[t]!;
          if (id < 0 || id >= s.vocab) throw new RangeError(`token id ${id} is outside the vocabulary (0..${s.vocab - 1})`);
          f.copyWithin(out + t * s.dim, table / 4 + id * s.dim, table / 4 + (id + 1) * s.dim);
        }
        return;
      }
      case "matmul":
        (s.layout === "in_out" ? k.matmul_kn : k.matmul).call(k, v(s.x), w(s.weight), s.bias ? w(s.bias) : 0, v(s.out), T, s.K, s.N, 0, s.N);
        return;
      case "rmsnorm":
        k.rmsnorm(v(s.x), w(s.weight), v(s.out), (T * width(s.x)) / s.n, s.n, s.eps);
        return;
      case "layernorm":
        k.layernorm(v(s.x), w(s.weight), s.bias ? w(s.bias) : 0, v(s.out), (T * width(s.x)) / s.n, s.n, s.eps);
        return;
      case "unary":
        k.unary(v(s.x), v(s.out), T * width(s.x), UNARY[s.kind]);
        return;
      case "binary":
        k.binary(v(s.a), v(s.b), v(s.out), T * width(s.a), BINARY[s.kind]);
        return;
      case "scale":
        k.scale(v(s.x), v(s.out), T * width(s.x), s.factor);
        return;
      case "clamp":
        k.clamp(v(s.x), T * width(s.x), -s.limit, s.limit);
        return;
      case "swiglu":
        k.swiglu(v(s.gate), v(s.up), v(s.out), T * width(s.gate), s.alpha, s.limit ?? 0, s.upOffset);
        return;
      case "split":
        k.deinterleave(v(s.x), v(s.a), v(s.b), T, width(s.a), s.interleaved ? 1 : 0);
        return;
      case "copy": {
        const f = this.f32();
        const [src, dst, wi, wo] = [v(s.x) / 4, v(s.out) / 4, width(s.x), width(s.out)];
        for (let t = 0; t < T; t++) {
          for (let h = 0; h < s.heads; h++) {
            const from = src + t * wi + h * s.inStride + s.inOffset;
            f.copyWithin(dst + t * wo + h * s.outStride + s.outOffset, from, from + s.len);
          }
        }
        return;
      }
      case "rope": {
        const half = s.rope.dim / 2;
        const c = this.layout.scratch;
        const sn = c + 4 * T * half;
        const f = this.f32();
        // Each sequence's rows at its own positions (and its own length, for long-context scalings).
        for (const g of this.segments) {
          const positions = Array.from({ length: g.length }, (_, t) => g.position + t);
          const { cos, sin } = ropeCosSin(s.rope, positions, g.ropeLength);
          f.set(cos, c / 4 + g.start * half);
          f.set(sin, sn / 4 + g.start * half);
        }
        k.rope(v(s.x) + 4 * s.offset, c, sn, T, s.heads, s.stride, s.rope.dim, s.rope.style === "interleaved" ? 1 : 0);
        return;
      }
      case "attention": {
        // Per sequence: append its keys and values to its own cache, attend over that cache.
        const cache = this.plan.caches[s.cache]!;
        const f = this.f32();
        for (const g of this.segments) {
          const at = this.layout.cacheOffsets[g.seq]![s.cache]!;
          const kRows = v(s.k) / 4 + g.start * cache.kWidth;
          const vRows = v(s.v) / 4 + g.start * cache.vWidth;
          f.copyWithin((at.k + 4 * g.position * cache.kWidth) / 4, kRows, kRows + g.length * cache.kWidth);
          f.copyWithin((at.v + 4 * g.position * cache.vWidth) / 4, vRows, vRows + g.length * cache.vWidth);
          const q = v(s.q) + 4 * g.start * width(s.q);
          const out = v(s.out) + 4 * g.start * width(s.out);
          k.attention(q, at.k, at.v, out, g.length, g.position, s.heads, s.kvHeads, s.headDim, s.vDim, cache.kWidth, cache.vWidth, s.scale, s.window ?? 0, s.softcap ?? 0, s.sinks ? w(s.sinks) : 0, this.layout.scratch, s.causal ? 1 : 0);
        }
        return;
      }
      case "moe":
        this.moe(s, T);
        return;
    }
  }

  /**
   * Route, then run each chosen expert's body once over its tokens and scatter-add the results.
   * Token-choice routers route in the kernels (route_topk), which leave the assignments
   * permuted by expert in scratch; only the E+1 offsets come back to JavaScript, and each
   * expert gets its slice of token indices and weights in place. Capacity factors and expert
   * choice are cross-token: route() computes those, laid out the same way.
   */
  private moe(s: MoeStep, T: number): void {
    const k = this.k;
    const d = this.plan.values[s.x]!.width;
    const E = s.experts;
    const ro = s.router;
    const at = moeScratch(T, E, ro);
    const [logitsAt, offsetsAt, tokAt, wAt, workAt] = [at.logits, at.offsets, at.tokens, at.weights, at.work].map((o) => this.layout.scratch + o) as [number, number, number, number, number];
    const rIn = this.plan.values[s.routerInput]!.width;
    k.matmul(this.v(s.routerInput), this.w(s.routerWeight, null), s.routerBias ? this.w(s.routerBias, null) : 0, logitsAt, T, rIn, E, 0, E);
    if (ro.choice === "expert" || ro.capacityFactor !== null) {
      const logits = Float64Array.from(new Float32Array(this.memory(), logitsAt, T * E));
      const bias = s.selectionBias ? new Float32Array(this.memory(), this.w(s.selectionBias, null), E).slice() : null;
      const p = byExpert(route(ro, logits, T, E, bias), E);
      new Int32Array(this.memory(), offsetsAt, E + 1).set(p.offsets);
      new Int32Array(this.memory(), tokAt, p.tokens.length).set(p.tokens);
      new Float32Array(this.memory(), wAt, p.weights.length).set(p.weights);
    } else {
      const bias = s.selectionBias ? this.w(s.selectionBias, null) : 0;
      k.route_topk(logitsAt, T, E, ro.k, SCORING[ro.scoring], bias, ro.groups, ro.topkGroups, GROUP_SCORING[ro.groupScoring], ro.renormalize ? 1 : 0, ro.scale, ro.jitterEps, offsetsAt, tokAt, wAt, workAt);
    }
    const offsets = new Int32Array(this.memory(), offsetsAt, E + 1).slice();
    this.expertLoad.push(Array.from({ length: E }, (_, e) => offsets[e + 1]! - offsets[e]!));
    const out = this.v(s.out);
    k.fill(out, T * d, 0);
    let first = 0;
    for (const g of s.groups) {
      for (let local = 0; local < g.count; local++) {
        const from = offsets[first + local]!;
        const n = offsets[first + local + 1]! - from;
        if (n === 0 || g.kind === "zero") continue;
        const idx = tokAt + 4 * from;
        const wts = wAt + 4 * from;
        if (g.kind === "identity") {
          const rows = this.identityBuffer(s);
          k.gather_rows(this.v(s.x), idx, rows, n, d);
          k.scatter_add_rows(rows, idx, wts, out, n, d);
          continue;
        }
        k.gather_rows(this.v(s.x), idx, this.v(g.input), n, d);
        this.run(g.steps, n, g.bind[local]!);
        k.scatter_add_rows(this.v(g.output), idx, wts, out, n, d);
      }
      first += g.count;
    }
    if (s.shared) {
      this.run(s.shared.steps, T, null);
      const y = this.v(s.shared.output);
      if (s.sharedGate) {
        // The routed experts are done with scratch: gates [T] over the logits, indices and
        // weights [T] in the assignment arrays (see moe/scratch.ts).
        const gateAt = logitsAt;
        k.matmul(this.v(s.x), this.w(s.sharedGate, null), 0, gateAt, T, d, 1, 0, 1);
        const f = this.f32();
        const gates = Array.from(f.subarray(gateAt / 4, gateAt / 4 + T), (g) => 1 / (1 + Math.exp(-g)));
        new Int32Array(this.memory(), tokAt, T).set(Array.from({ length: T }, (_, t) => t));
        new Float32Array(this.memory(), wAt, T).set(gates);
        k.scatter_add_rows(y, tokAt, wAt, out, T, d);
      } else k.binary(out, y, out, T * d, BINARY.add);
    }
  }

  /** Identity experts need a place for the gathered rows: the first group body's input slot, or scratch. */
  private identityBuffer(s: MoeStep): number {
    const g = s.groups.find((x) => x.input >= 0);
    if (!g) throw new Error("an identity expert needs at least one ffn expert group in the same moe");
    return this.v(g.input);
  }
}
