// The launch table: how each plan step runs on a device — which kernels of the catalogue it
// launches, with which arguments, and what it moves across the device seam. It is mapped over
// every step op (runtime/plan/steps.ts is its companion), so an op without an entry does not
// compile. Only `moe` reads back from the device (the expert offsets it needs to run each
// chosen expert once), which is why launches may return a promise — except on devices with
// grouped kernels (Device.grouped), where MoE steps keep the offsets on the device.
import type { Device } from "./device.js";
import { enumCode, type Kernels } from "./kernels/catalogue.js";
import type { FusedKernels } from "./kernels/fused.js";
import type { Layout } from "./memory.js";
import { ropeCosSin } from "./math/rope.js";
import { temperatureFactor } from "./math/temperature.js";
import { runExperts } from "./moe/experts.js";
import { byExpert } from "./moe/permute.js";
import { moeOnDevice, runsOnDevice } from "./moe/on-device.js";
import { route } from "./moe/routing.js";
import { moeScratch } from "./moe/scratch.js";
import type { GluOperand, MoeStep, Plan, Step, StepOf, WRef } from "./plan/plan.js";
import { FORMATS, rowBytes, type StorageFormat } from "./plan/formats.js";

/** Where a weight (or an expert's slice of a stacked one) is, in its storage format. */
export interface WeightAt {
  readonly at: number;
  /** The row scales of a channel format (int8), or 0. */
  readonly scales: number;
  readonly format: StorageFormat;
}

/**
 * The address of weight `wi` of the plan from element `offset` on (an expert's slice of a
 * stacked tensor: whole rows), in its format: rows are rowBytes(format, K) bytes each, and a
 * channel format's scales follow all of the tensor's rows.
 */
export function weightAt(plan: Plan, layout: Layout, wi: number, offset: number): WeightAt {
  const w = plan.weights[wi]!;
  const base = layout.weightOffsets[wi]!;
  if (w.format === "f32") return { at: base + 4 * offset, scales: 0, format: "f32" };
  const K = w.shape[w.shape.length - 1] ?? 1;
  const row = offset / K;
  const rb = rowBytes(w.format, K);
  const rows = w.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return { at: base + row * rb, scales: FORMATS[w.format].kind === "channel" ? base + rows * rb + 4 * row : 0, format: w.format };
}

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

/** An expert's weights: bind[j] is its j-th parameter → weight index and element offset (stacked tensors). */
export type Bind = readonly (readonly [weight: number, offset: number])[];

/** What a launch sees: the device, the plan and layout, and the pass in progress. */
export interface LaunchContext {
  readonly device: Device;
  readonly k: Kernels;
  readonly plan: Plan;
  readonly layout: Layout;
  readonly segments: readonly Segment[];
  /** Expert-use counts of the pass, one array per MoE step run. */
  readonly expertLoad: number[][];
  /** Byte address of a value's rows. */
  v(value: number): number;
  /** Byte address of a weight (an expert body's local parameters through `bind`). */
  w(ref: WRef, bind: Bind | null): number;
  /** A weight as a quantized kernel takes it: its address, a channel format's row scales (else 0), and its format. */
  wq(ref: WRef, bind: Bind | null): WeightAt;
  width(value: number): number;
  /** Runs an expert body's steps (which never read back) over `T` rows. */
  runBody(steps: readonly Step[], T: number, bind: Bind | null): void;
}

type Launch<S extends Step> = (x: LaunchContext, s: S, T: number, bind: Bind | null) => void | Promise<void>;

const opt = (x: LaunchContext, r: WRef | null, bind: Bind | null) => (r ? x.w(r, bind) : 0);

export const LAUNCH: { readonly [K in Step["op"]]: Launch<StepOf<K>> } = {
  embed: (x, s, T, bind) => {
    const w = x.wq(s.weight, bind);
    if (w.format === "f32") x.k.gather_rows(w.at, x.v(s.ids), x.v(s.out), T, s.dim);
    else x.k.gather_rows_q(w.at, w.scales, x.v(s.ids), x.v(s.out), T, s.dim, enumCode("format", w.format));
  },
  matmul: (x, s, T, bind) => {
    const w = x.wq(s.weight, bind);
    if (w.format === "f32") (s.layout === "in_out" ? x.k.matmul_kn : x.k.matmul)(x.v(s.x), w.at, opt(x, s.bias, bind), x.v(s.out), T, s.K, s.N, 0, s.N);
    else if (s.layout === "in_out") throw new Error(`matmul over ${s.K}×${s.N} weights stored [K, N] (in_out) takes f32 weights only, not ${w.format}; the plan is invalid (the quantize pass leaves such weights alone)`);
    else x.k.matmul_q(x.v(s.x), w.at, w.scales, opt(x, s.bias, bind), x.v(s.out), T, s.K, s.N, 0, s.N, enumCode("format", w.format), x.layout.quantScratch);
  },
  rmsnorm: (x, s, T, bind) => x.k.rmsnorm(x.v(s.x), opt(x, s.weight, bind), x.v(s.out), (T * x.width(s.x)) / s.n, s.n, s.eps, s.offset ?? 0),
  layernorm: (x, s, T, bind) => x.k.layernorm(x.v(s.x), x.w(s.weight, bind), opt(x, s.bias, bind), x.v(s.out), (T * x.width(s.x)) / s.n, s.n, s.eps),
  unary: (x, s, T) => x.k.unary(x.v(s.x), x.v(s.out), T * x.width(s.x), enumCode("unary", s.kind)),
  binary: (x, s, T) => x.k.binary(x.v(s.a), x.v(s.b), x.v(s.out), T * x.width(s.a), enumCode("binary", s.kind)),
  scale: (x, s, T) => x.k.scale(x.v(s.x), x.v(s.out), T * x.width(s.x), s.factor),
  // x as [T·width, 1] rows times the [1, 1] weight: every element times the one value, exactly f32(x·w)
  learned_scale: (x, s, T, bind) => x.k.matmul(x.v(s.x), x.w(s.weight, bind), 0, x.v(s.out), T * x.width(s.x), 1, 1, 0, 1),
  clamp: (x, s, T) => x.k.clamp(x.v(s.x), T * x.width(s.x), -s.limit, s.limit),
  glu: (x, s, T, bind) => {
    const at = (r: WRef, offset: number) => x.w(r, bind) + 4 * offset;
    const bias = (o: GluOperand) => (o.bias ? at(o.bias, o.biasOffset) : 0);
    if (s.unfused && !fusedFor(x, T)) {
      // Gate and up rows are nn.Linear rows here (rowStride = K), so the catalogue's matmul reads them.
      x.k.matmul(x.v(s.x), at(s.gate.weight, s.gate.offset), bias(s.gate), x.v(s.unfused.gate), T, s.K, s.N, 0, s.N);
      x.k.matmul(x.v(s.x), at(s.up.weight, s.up.offset), bias(s.up), x.v(s.unfused.up), T, s.K, s.N, 0, s.N);
      return x.k.swiglu(x.v(s.unfused.gate), x.v(s.unfused.up), x.v(s.out), T * s.N, s.alpha, s.limit ?? 0, s.upOffset);
    }
    fused(x).glu_matmul(x.v(s.x), at(s.gate.weight, s.gate.offset), at(s.up.weight, s.up.offset), s.rowStride, s.gate.bias ? at(s.gate.bias, s.gate.biasOffset) : 0, s.up.bias ? at(s.up.bias, s.up.biasOffset) : 0, s.biasStride, x.v(s.out), T, s.K, s.N, 0, s.N, s.alpha, s.limit ?? 0, s.upOffset);
  },
  swiglu: (x, s, T) => x.k.swiglu(x.v(s.gate), x.v(s.up), x.v(s.out), T * x.width(s.gate), s.alpha, s.limit ?? 0, s.upOffset),
  split: (x, s, T) => x.k.deinterleave(x.v(s.x), x.v(s.a), x.v(s.b), T, x.width(s.a), s.interleaved ? 1 : 0),
  copy: (x, s, T) => x.k.copy_blocks(x.v(s.x) + 4 * s.inOffset, x.v(s.out) + 4 * s.outOffset, T, s.heads, s.len, x.width(s.x), s.inStride, x.width(s.out), s.outStride),
  rope: (x, s, T) => {
    // Each sequence's rows at its own positions (and its own length, for long-context scalings):
    // the tables are computed on the host, as transformers computes them, and uploaded.
    const half = s.rope.dim / 2;
    const cos = x.layout.scratch;
    const sin = cos + 4 * T * half;
    for (const g of x.segments) {
      const tables = ropeCosSin(s.rope, Array.from({ length: g.length }, (_, t) => g.position + t), g.ropeLength);
      x.device.upload(cos + 4 * g.start * half, tables.cos);
      x.device.upload(sin + 4 * g.start * half, tables.sin);
    }
    x.k.rope(x.v(s.x) + 4 * s.offset, cos, sin, T, s.heads, s.stride, s.rope.dim, s.rope.style === "interleaved" ? 1 : 0);
  },
  deltanet: (x, s, _T, bind) => {
    // Per sequence: its own conv window and recurrent state, fresh (zeros) at its position 0.
    for (const g of x.segments) {
      const at = x.layout.cacheOffsets[g.seq]![s.state]!;
      const row = (v: number) => x.v(v) + 4 * g.start * x.width(v);
      x.k.gated_delta_rule(row(s.x), row(s.b), row(s.a), x.w(s.convWeight, bind), x.w(s.aLog, bind), x.w(s.dtBias, bind), at.k, at.v, row(s.out), g.length, g.position === 0 ? 1 : 0, s.kHeads, s.vHeads, s.kDim, s.vDim, s.kernel, x.layout.scratch);
    }
  },
  mamba2: (x, s, _T, bind) => {
    // Per sequence: its own conv window and SSM state, fresh (zeros) at its position 0.
    for (const g of x.segments) {
      const at = x.layout.cacheOffsets[g.seq]![s.state]!;
      const row = (v: number) => x.v(v) + 4 * g.start * x.width(v);
      x.k.mamba2_scan(
        row(s.xbc), row(s.dt), row(s.z), x.w(s.convWeight, bind), opt(x, s.convBias, bind), x.w(s.aLog, bind), x.w(s.dtBias, bind), x.w(s.d, bind), x.w(s.norm, bind),
        at.k, at.v, row(s.out), g.length, g.position === 0 ? 1 : 0, s.heads, s.headDim, s.stateDim, s.groups, s.kernel, s.dtMin, s.eps, x.layout.scratch,
      );
    }
  },
  conv1d: (x, s, _T, bind) => {
    // Per sequence: its own conv window, fresh (zeros) at its position 0.
    for (const g of x.segments) {
      const at = x.layout.cacheOffsets[g.seq]![s.state]!;
      const row = (v: number) => x.v(v) + 4 * g.start * x.width(v);
      x.k.causal_conv1d(row(s.x), x.w(s.weight, bind), opt(x, s.bias, bind), at.k, row(s.out), g.length, g.position === 0 ? 1 : 0, s.channels, s.kernel);
    }
  },
  mamba: (x, s, _T, bind) => {
    // Per sequence: its own SSM state, fresh (zeros) at its position 0.
    for (const g of x.segments) {
      const at = x.layout.cacheOffsets[g.seq]![s.state]!;
      const row = (v: number) => x.v(v) + 4 * g.start * x.width(v);
      x.k.mamba_scan(row(s.x), row(s.dt), row(s.b), row(s.c), row(s.z), x.w(s.aLog, bind), x.w(s.d, bind), at.v, row(s.out), g.length, g.position === 0 ? 1 : 0, s.channels, s.stateDim);
    }
  },
  temperature: (x, s, T) => {
    // Each sequence's rows at its own positions: the factors are computed on the host and uploaded.
    const factors = x.layout.scratch;
    for (const g of x.segments) {
      x.device.upload(factors + 4 * g.start, Float32Array.from({ length: g.length }, (_, t) => temperatureFactor(g.position + t, s.floorScale, s.scale)));
    }
    x.k.scale_rows(x.v(s.x), factors, x.v(s.x), T, x.width(s.x));
  },
  attention: (x, s, _T, bind) => {
    // Per sequence: append its keys and values to its own cache, attend over that cache.
    const cache = x.plan.caches[s.cache]!;
    for (const g of x.segments) {
      const at = x.layout.cacheOffsets[g.seq]![s.cache]!;
      x.k.copy_blocks(x.v(s.k) + 4 * g.start * x.width(s.k), at.k + 4 * g.position * cache.kWidth, g.length, 1, cache.kWidth, x.width(s.k), 0, cache.kWidth, 0);
      x.k.copy_blocks(x.v(s.v) + 4 * g.start * x.width(s.v), at.v + 4 * g.position * cache.vWidth, g.length, 1, cache.vWidth, x.width(s.v), 0, cache.vWidth, 0);
      // Chunked attention: the rows of each chunk attend over the cache from the chunk's first position,
      // as if it began there (one call per chunk the segment touches).
      const C = s.chunk ?? 0;
      for (let r0 = 0; r0 < g.length; ) {
        const p0 = g.position + r0;
        const from = C > 0 ? Math.floor(p0 / C) * C : 0;
        const r1 = C > 0 ? Math.min(g.length, from + C - g.position) : g.length;
        const q = x.v(s.q) + 4 * (g.start + r0) * x.width(s.q);
        const out = x.v(s.out) + 4 * (g.start + r0) * x.width(s.out);
        x.k.attention(q, at.k + 4 * from * cache.kWidth, at.v + 4 * from * cache.vWidth, out, r1 - r0, p0 - from, s.heads, s.kvHeads, s.headDim, s.vDim, cache.kWidth, cache.vWidth, s.scale, s.window ?? 0, s.softcap ?? 0, opt(x, s.sinks, bind), x.layout.scratch, s.causal ? 1 : 0, 0, s.heads);
        r0 = r1;
      }
    }
  },
  // A device with grouped kernels runs MoE steps with nothing read back (moe/on-device.ts).
  moe: (x, s, T) => {
    const gk = x.device.grouped;
    if (gk && runsOnDevice(x, s)) return moeOnDevice(x, s, T, gk, () => shared(x, s, T, x.layout.scratch + moeScratch(T, s.experts, s.router).logits));
    return moe(x, s, T);
  },
};

/**
 * Routes, then runs each chosen expert's body once over its tokens and scatter-adds the
 * results (runExperts). Token-choice routing runs in the route_topk kernel, which leaves the
 * assignments permuted by expert in scratch; only the E+1 offsets come back to the host, and
 * each expert gets its slice of token indices and weights in place. Capacity factors and
 * expert choice are cross-token (routing "host"): the logits come back, route() routes them,
 * and the assignments go up laid out the same way.
 */
async function moe(x: LaunchContext, s: MoeStep, T: number): Promise<void> {
  const { k, device } = x;
  const d = x.width(s.x);
  const E = s.experts;
  const ro = s.router;
  const at = moeScratch(T, E, ro);
  const [logitsAt, offsetsAt, tokAt, wAt, workAt] = [at.logits, at.offsets, at.tokens, at.weights, at.work].map((o) => x.layout.scratch + o) as [number, number, number, number, number];
  k.matmul(x.v(s.routerInput), x.w(s.routerWeight, null), opt(x, s.routerBias, null), logitsAt, T, x.width(s.routerInput), E, 0, E);
  if (s.routing === "host") {
    const logits = Float64Array.from(f32(await device.read(logitsAt, 4 * T * E)));
    const bias = s.selectionBias ? f32(await device.read(x.w(s.selectionBias, null), 4 * E)) : null;
    const scales = s.expertScale ? f32(await device.read(x.w(s.expertScale, null), 4 * E)) : null;
    const p = byExpert(route(ro, logits, T, E, bias, scales), E);
    device.upload(offsetsAt, p.offsets);
    device.upload(tokAt, p.tokens);
    device.upload(wAt, p.weights);
  } else {
    k.route_topk(logitsAt, T, E, ro.k, enumCode("scoring", ro.scoring), opt(x, s.selectionBias, null), ro.groups, ro.topkGroups, enumCode("group_scoring", ro.groupScoring), ro.renormalize ? 1 : 0, ro.scale, ro.jitterEps, offsetsAt, tokAt, wAt, workAt);
  }
  const raw = await device.read(offsetsAt, 4 * (E + 1));
  const offsets = new Int32Array(raw.buffer, raw.byteOffset, E + 1);
  x.expertLoad.push(Array.from({ length: E }, (_, e) => offsets[e + 1]! - offsets[e]!));
  const out = x.v(s.out);
  k.fill(out, T * d, 0);
  let bind: Bind | null = null;
  runExperts(s.groups, offsets, {
    // Identity experts gather into the first ffn group's input (they have no body of their own).
    gather: (from, n, gi) => {
      const g = s.groups[gi]!;
      const rows = g.kind === "identity" ? identityRows(x, s) : x.v(g.input);
      k.gather_rows(x.v(s.x), tokAt + 4 * from, rows, n, d);
      if (ro.weightInput) {
        // Llama-4: the weights scale the expert's input rows, and its output is added with weight 1.
        k.scale_rows(rows, wAt + 4 * from, rows, n, d);
        k.fill(wAt + 4 * from, n, 1);
      }
      return rows;
    },
    body: (gi, e, _rows, n) => {
      const g = s.groups[gi]!;
      bind = g.bind[e.local]!;
      // A fused group stops before its down projection, which the scatter launches.
      const fuse = g.fusedDown === true && fusedFor(x, n);
      x.runBody(fuse ? g.steps.slice(0, -1) : g.steps, n, bind);
      return x.v(fuse ? downOf(g.steps).x : g.output);
    },
    scatter: (from, n, y, gi) => {
      if (s.groups[gi]!.fusedDown && fusedFor(x, n)) downScatter(x, downOf(s.groups[gi]!.steps), bind, y, tokAt + 4 * from, wAt + 4 * from, out, n);
      else k.scatter_add_rows(y, tokAt + 4 * from, wAt + 4 * from, out, n, d);
    },
    ...(s.shared ? { shared: () => shared(x, s, T, logitsAt) } : {}),
  });
}

/** The shared expert over every token, added through its sigmoid gate (gate logits in scratch) or as is. */
function shared(x: LaunchContext, s: MoeStep, T: number, gateAt: number): void {
  const d = x.width(s.x);
  if (s.shared!.fusedDown && fusedFor(x, T)) return sharedFused(x, s, T, gateAt);
  x.runBody(s.shared!.steps, T, null);
  const y = x.v(s.shared!.output);
  const out = x.v(s.out);
  if (s.sharedGate) {
    x.k.matmul(x.v(s.x), x.w(s.sharedGate, null), 0, gateAt, T, d, 1, 0, 1);
    x.k.gate_add_rows(gateAt, y, out, T, d);
  } else x.k.binary(out, y, out, T * d, enumCode("binary", "add"));
}

/**
 * The shared expert folded in as an expert every token chose: its body up to the down
 * projection, then the down projection scatter-adding into every row (token indices 0…T−1 in
 * the routing's index area, free once the routed experts are done) with weight 1, or with the
 * sigmoid of its gate as the routing weight (the gate logits made sigmoid in place).
 */
function sharedFused(x: LaunchContext, s: MoeStep, T: number, gateAt: number): void {
  const sh = s.shared!;
  const d = x.width(s.x);
  x.runBody(sh.steps.slice(0, -1), T, null);
  const at = moeScratch(T, s.experts, s.router);
  const idxAt = x.layout.scratch + at.tokens;
  x.device.upload(idxAt, Int32Array.from({ length: T }, (_, t) => t));
  let weights = 0;
  if (s.sharedGate) {
    x.k.matmul(x.v(s.x), x.w(s.sharedGate, null), 0, gateAt, T, d, 1, 0, 1);
    x.k.unary(gateAt, gateAt, T, enumCode("unary", "sigmoid"));
    weights = gateAt;
  }
  const down = downOf(sh.steps);
  downScatter(x, down, null, x.v(down.x), idxAt, weights, x.v(s.out), T);
}

/** The down projection of a fused body: its last step (the pass and the plan verifier see to that). */
function downOf(steps: readonly Step[]): StepOf<"matmul"> {
  const last = steps[steps.length - 1];
  if (last?.op !== "matmul") throw new Error("a fused expert body must end in its down projection (a matmul); the plan is invalid");
  return last;
}

/** `down` over `n` rows at `y`, each times its weight and added into `out` at its token's row. */
function downScatter(x: LaunchContext, down: StepOf<"matmul">, bind: Bind | null, y: number, idx: number, weights: number, out: number, n: number): void {
  fused(x).matmul_scatter_add(y, x.w(down.weight, bind), opt(x, down.bias, bind), idx, weights, out, n, down.K, down.N, 0, down.N);
}

/** Whether a fused step over `rows` rows runs the fused kernels on this device (Device.fusedMaxRows), or its unfused steps. */
function fusedFor(x: LaunchContext, rows: number): boolean {
  return rows <= (x.device.fusedMaxRows ?? Infinity);
}

/** The device's fused kernels; a plan made for a target that has them only reaches here on such a device. */
function fused(x: LaunchContext): FusedKernels {
  if (!x.device.fused) throw new Error(`this plan uses fused expert kernels (the fuse-experts pass ran for a target that has them), and device ${x.device.name} has none; recompile without --enable-pass fuse-experts (or with --disable-pass fuse-experts), or for this target`);
  return x.device.fused;
}

function identityRows(x: LaunchContext, s: MoeStep): number {
  const g = s.groups.find((q) => q.input >= 0);
  if (!g) throw new Error("an identity expert needs at least one ffn expert group in the same moe");
  return x.v(g.input);
}

function f32(b: Uint8Array): Float32Array {
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}
