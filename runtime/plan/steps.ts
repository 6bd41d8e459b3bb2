// The step table: for each plan step op, the values it reads and writes, the other resources
// it touches (a KV cache, the scratch area), its weights, the expert bodies it runs, what it
// reads back to the host, and how a report describes it. Buffer reuse (compiler/lower/slots.ts),
// ordering edges (deps.ts), the plan verifier and `moec report` all read it; the executor's
// launch table (runtime/executor/launch.ts) is its companion. Both are mapped over every op,
// so a new op without an entry does not compile.
import type { MoeStep, Plan, Step, StepOf, WRef } from "./plan.js";

type V = number;

/** Steps run inside a step, once per chosen expert (or once, for a shared expert). */
export interface Body {
  /** The body's input value: gathered rows of the step's input, or the input itself. */
  readonly input: V;
  /** True when the step writes `input` (gathering an expert's rows into it). */
  readonly gathered: boolean;
  readonly steps: readonly Step[];
  readonly output: V;
}

export interface Description {
  readonly op: string;
  readonly io: string;
  readonly detail: string;
}

export interface StepSpec<S extends Step> {
  /** Activation values read and written by the step itself (its bodies are listed apart). */
  values(s: S): { readonly reads: readonly V[]; readonly writes: readonly V[] };
  /** The KV cache it reads and appends to. */
  cache?(s: S): number;
  /** It uses the runtime's scratch area (within the step only). */
  readonly scratch?: boolean;
  /** Its weight operands. */
  weights(s: S): readonly (WRef | null)[];
  /** The weight operands its kernels read in any storage format (matmul_q, gather_rows_q); the others are f32. */
  formatted?(s: S): readonly WRef[];
  /** Steps it runs inside itself. */
  bodies?(s: S): readonly Body[];
  /** What it reads back to the host while it runs (a sync point on asynchronous devices). */
  hostReads?(s: S): readonly string[];
  describe(s: S, val: (v: V) => string, w: (r: WRef) => string): Description;
}

const io = (val: (v: V) => string, reads: readonly V[], writes: readonly V[]) => `${reads.map(val).join(", ")} → ${writes.map(val).join(", ")}`;
const plusBias = (w: (r: WRef) => string, b: WRef | null) => (b ? ` + bias ${w(b)}` : "");

export const STEPS: { readonly [K in Step["op"]]: StepSpec<StepOf<K>> } = {
  embed: {
    values: (s) => ({ reads: [s.ids], writes: [s.out] }),
    weights: (s) => [s.weight],
    formatted: (s) => [s.weight],
    describe: (s, val, w) => ({ op: "embed", io: `ids → ${val(s.out)}`, detail: `table ${w(s.weight)}` }),
  },
  matmul: {
    values: (s) => ({ reads: [s.x], writes: [s.out] }),
    weights: (s) => [s.weight, s.bias],
    // matmul_kn ([K, N] weights, GPT-OSS's stacked experts) reads f32 only.
    formatted: (s) => (s.layout === "out_in" ? [s.weight] : []),
    describe: (s, val, w) => ({ op: "matmul", io: io(val, [s.x], [s.out]), detail: `K=${s.K} N=${s.N} (${s.layout}) · ${w(s.weight)}${plusBias(w, s.bias)}` }),
  },
  rmsnorm: {
    values: (s) => ({ reads: [s.x], writes: [s.out] }),
    weights: (s) => [s.weight],
    describe: (s, val, w) => ({ op: "rmsnorm", io: io(val, [s.x], [s.out]), detail: `n=${s.n} eps=${s.eps} · ${s.weight ? w(s.weight) : "no weight"}${s.offset ? ` (+ ${s.offset})` : ""}` }),
  },
  layernorm: {
    values: (s) => ({ reads: [s.x], writes: [s.out] }),
    weights: (s) => [s.weight, s.bias],
    describe: (s, val, w) => ({ op: "layernorm", io: io(val, [s.x], [s.out]), detail: `n=${s.n} eps=${s.eps} · ${w(s.weight)}${plusBias(w, s.bias)}` }),
  },
  unary: {
    values: (s) => ({ reads: [s.x], writes: [s.out] }),
    weights: () => [],
    describe: (s, val) => ({ op: s.kind, io: io(val, [s.x], [s.out]), detail: "elementwise" }),
  },
  binary: {
    values: (s) => ({ reads: [s.a, s.b], writes: [s.out] }),
    weights: () => [],
    describe: (s, val) => ({ op: s.kind, io: io(val, [s.a, s.b], [s.out]), detail: "elementwise" }),
  },
  scale: {
    values: (s) => ({ reads: [s.x], writes: [s.out] }),
    weights: () => [],
    describe: (s, val) => ({ op: "scale", io: io(val, [s.x], [s.out]), detail: `× ${s.factor}` }),
  },
  learned_scale: {
    values: (s) => ({ reads: [s.x], writes: [s.out] }),
    weights: (s) => [s.weight],
    describe: (s, val, w) => ({ op: "learned_scale", io: io(val, [s.x], [s.out]), detail: `× ${w(s.weight)}` }),
  },
  swiglu: {
    values: (s) => ({ reads: [s.gate, s.up], writes: [s.out] }),
    weights: () => [],
    describe: (s, val) => ({ op: "swiglu", io: io(val, [s.gate, s.up], [s.out]), detail: `alpha=${s.alpha}${s.limit !== null ? ` limit=${s.limit}` : ""}${s.upOffset ? ` up+${s.upOffset}` : ""}` }),
  },
  glu: {
    values: (s) => ({ reads: [s.x], writes: s.unfused ? [s.out, s.unfused.gate, s.unfused.up] : [s.out] }),
    weights: (s) => [s.gate.weight, s.gate.bias, s.up.weight, s.up.bias],
    describe: (s, val, w) => ({
      op: "glu",
      io: io(val, [s.x], [s.out]),
      detail: `K=${s.K} N=${s.N} · gate ${w(s.gate.weight)}${s.gate.offset ? `+${s.gate.offset}` : ""}${plusBias(w, s.gate.bias)}, up ${w(s.up.weight)}${s.up.offset ? `+${s.up.offset}` : ""}${plusBias(w, s.up.bias)}${s.rowStride !== s.K ? ` (rows ${s.rowStride} apart)` : ""} · swiglu alpha=${s.alpha}${s.limit !== null ? ` limit=${s.limit}` : ""}${s.upOffset ? ` up+${s.upOffset}` : ""} (fused)`,
    }),
  },
  split: {
    values: (s) => ({ reads: [s.x], writes: [s.a, s.b] }),
    weights: () => [],
    describe: (s, val) => ({ op: "split", io: io(val, [s.x], [s.a, s.b]), detail: s.interleaved ? "even/odd columns" : "halves" }),
  },
  clamp: {
    values: (s) => ({ reads: [s.x], writes: [s.x] }),
    weights: () => [],
    describe: (s, val) => ({ op: "clamp", io: `${val(s.x)} (in place)`, detail: `±${s.limit}` }),
  },
  copy: {
    // A strided partial write: ordered after earlier writers of `out` like any write.
    values: (s) => ({ reads: [s.x], writes: [s.out] }),
    weights: () => [],
    describe: (s, val) => ({ op: "copy", io: io(val, [s.x], [s.out]), detail: `${s.heads} × ${s.len} columns` }),
  },
  rope: {
    values: (s) => ({ reads: [s.x], writes: [s.x] }),
    scratch: true,
    weights: () => [],
    describe: (s, val) => ({ op: "rope", io: `${val(s.x)} (in place)`, detail: `${s.heads} heads, dim ${s.rope.dim}, θ=${s.rope.theta}${s.rope.scaling ? `, ${s.rope.scaling.type} scaling` : ""}` }),
  },
  deltanet: {
    values: (s) => ({ reads: [s.x, s.b, s.a], writes: [s.out] }),
    cache: (s) => s.state,
    scratch: true,
    weights: (s) => [s.convWeight, s.aLog, s.dtBias],
    describe: (s, val, w) => ({
      op: "deltanet",
      io: `x ${val(s.x)}, b ${val(s.b)}, a ${val(s.a)} → ${val(s.out)}`,
      detail: `${s.kHeads}/${s.vHeads} heads × ${s.kDim}/${s.vDim}, conv ${s.kernel} · ${w(s.convWeight)}, state ${s.state}`,
    }),
  },
  mamba2: {
    values: (s) => ({ reads: [s.xbc, s.dt, s.z], writes: [s.out] }),
    cache: (s) => s.state,
    scratch: true,
    weights: (s) => [s.convWeight, s.convBias, s.aLog, s.dtBias, s.d, s.norm],
    describe: (s, val, w) => ({
      op: "mamba2",
      io: `xbc ${val(s.xbc)}, dt ${val(s.dt)}, z ${val(s.z)} → ${val(s.out)}`,
      detail: `${s.heads} heads × ${s.headDim}, state ${s.stateDim} in ${s.groups} groups, conv ${s.kernel}${s.dtMin ? `, δ ≥ ${s.dtMin}` : ""} · ${w(s.convWeight)}, state ${s.state}`,
    }),
  },
  conv1d: {
    values: (s) => ({ reads: [s.x], writes: [s.out] }),
    cache: (s) => s.state,
    weights: (s) => [s.weight, s.bias],
    describe: (s, val, w) => ({
      op: "conv1d",
      io: `${val(s.x)} → ${val(s.out)}`,
      detail: `${s.channels} channels, causal kernel ${s.kernel} + SiLU · ${w(s.weight)}, window in state ${s.state}`,
    }),
  },
  mamba: {
    values: (s) => ({ reads: [s.x, s.dt, s.b, s.c, s.z], writes: [s.out] }),
    cache: (s) => s.state,
    weights: (s) => [s.aLog, s.d],
    describe: (s, val, w) => ({
      op: "mamba",
      io: `x ${val(s.x)}, dt ${val(s.dt)}, B ${val(s.b)}, C ${val(s.c)}, z ${val(s.z)} → ${val(s.out)}`,
      detail: `${s.channels} channels × state ${s.stateDim} · ${w(s.aLog)}, state ${s.state}`,
    }),
  },
  temperature: {
    values: (s) => ({ reads: [s.x], writes: [s.x] }),
    scratch: true,
    weights: () => [],
    describe: (s, val) => ({ op: "temperature", io: `${val(s.x)} (in place)`, detail: `× 1 + ${s.scale}·ln(1 + ⌊(p + 1)/${s.floorScale}⌋)` }),
  },
  attention: {
    values: (s) => ({ reads: [s.q, s.k, s.v], writes: [s.out] }),
    cache: (s) => s.cache,
    scratch: true,
    weights: (s) => [s.sinks],
    describe: (s, val) => ({
      op: "attention",
      io: `q ${val(s.q)}, k ${val(s.k)}, v ${val(s.v)} → ${val(s.out)}`,
      detail: `${s.heads}/${s.kvHeads} heads × ${s.headDim}${s.vDim !== s.headDim ? ` (v ${s.vDim})` : ""}, KV cache ${s.cache}${s.window !== null ? `, window ${s.window}` : ""}${s.chunk ? `, chunks of ${s.chunk}` : ""}${s.softcap !== null ? `, softcap ${s.softcap}` : ""}${s.sinks ? ", sinks" : ""}${s.causal ? ", causal" : ""}`,
    }),
  },
  moe: {
    values: (s) => ({ reads: [s.x, s.routerInput], writes: [s.out] }),
    scratch: true,
    weights: (s) => [s.routerWeight, s.routerBias, s.selectionBias, s.sharedGate, s.expertScale ?? null],
    bodies: (s) => [
      ...s.groups.filter((g) => g.input >= 0).map((g) => ({ input: g.input, gathered: true, steps: g.steps, output: g.output })),
      ...(s.shared ? [{ input: s.shared.input, gathered: false, steps: s.shared.steps, output: s.shared.output }] : []),
    ],
    hostReads: (s) => (s.routing === "host" ? [`router logits [T, ${s.experts}] (routed on the host)`, `expert offsets [${s.experts + 1}]`] : [`expert offsets [${s.experts + 1}]`]),
    describe: (s, val, w) => {
      const r = s.router;
      return { op: "moe", io: io(val, [s.x], [s.out]), detail: `router ${w(s.routerWeight)}: ${r.choice === "expert" ? "expert-choice" : `top-${r.k}`} ${r.scoring} over ${s.experts} experts${s.routing === "host" ? " (routed on the host)" : ""}` };
    },
  },
};

/** The table entry of a step. */
export function stepSpec<S extends Step>(s: S): StepSpec<S> {
  return STEPS[s.op] as unknown as StepSpec<S>;
}

/** Every step of a list, bodies included (depth first, a step before its bodies). */
export function* allSteps(steps: readonly Step[]): Generator<Step> {
  for (const s of steps) {
    yield s;
    for (const b of stepSpec(s).bodies?.(s) ?? []) yield* allSteps(b.steps);
  }
}

/** Whether a step is a MoE step (its routing and groups). */
export function isMoe(s: Step): s is MoeStep {
  return s.op === "moe";
}

/**
 * The plan's weights (by index) whose every use is a formatted operand (steps.ts `formatted`):
 * the ones that may be stored in any format. Expert-local operands resolve through their
 * group's bind table.
 */
export function formattableWeights(plan: Plan): Set<number> {
  const ok = new Set<number>();
  const bad = new Set<number>();
  const visit = (steps: readonly Step[], resolve: (r: WRef) => number[]) => {
    for (const s of steps) {
      const spec = stepSpec(s);
      const formatted = new Set(spec.formatted?.(s) ?? []);
      for (const r of spec.weights(s)) if (r) for (const i of resolve(r)) (formatted.has(r) ? ok : bad).add(i);
      if (s.op === "moe") {
        for (const g of s.groups) visit(g.steps, (r) => ("w" in r ? [r.w] : g.bind.map((b) => b[r.local]![0])));
        if (s.shared) visit(s.shared.steps, resolve);
      }
    }
  };
  visit(plan.steps, (r) => ("w" in r ? [r.w] : []));
  for (const i of bad) ok.delete(i);
  return ok;
}
