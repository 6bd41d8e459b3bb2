// The reference interpreter: executes the checked graph IR in plain TypeScript, float32
// storage with float64 accumulation, with a KV cache for incremental decoding. It defines
// the semantics every backend is tested against, so it favours obvious code over speed.
import type { ExpertGroupAttr, Graph, Node, RouterAttr } from "../ir/graph.js";
import { attention, mla, newKvEntry, type KvEntry } from "./attention.js";
import { selectionBiasSuffix } from "../ir/ops.js";
import { gatedDeltaNet, newDeltaNetState, type DeltaNetState } from "./deltanet.js";
import { mamba2Mixer, newMamba2State } from "./mamba2.js";
import { mambaMixer, newMambaState } from "./mamba.js";
import { route } from "../../runtime/moe/routing.js";
import { expertTensor, runExperts, type ExpertIndex } from "../../runtime/moe/experts.js";
import { byExpert } from "../../runtime/moe/permute.js";
import { describeNonFinite, firstNonFinite, indexText, NonFiniteError } from "../../runtime/finite.js";
import { broadcast, erf, isIds, layernormRows, linear, map, rmsnormRows, rows, sigmoid, silu, tensor, width, type Tensor, type Value } from "./tensor.js";

/** Weights by checkpoint name, already converted to float32 and checked against the graph. */
export interface WeightStore {
  get(name: string): Float32Array | undefined;
}

/** Which expert a subgraph is being run for: fills `{e}` and slices stacked tensors. */
type ExpertContext = ExpertIndex;

/** What a calibration observer sees of each routed expert's run (compiler/quant/mixed.ts). */
export interface ExpertRun {
  readonly node: Node;
  readonly expert: ExpertIndex;
  /** The expert's input rows and output rows (its tokens, in routing order). */
  readonly rows: Tensor;
  readonly out: Tensor;
  /** Each row's mixing weight. */
  readonly weights: Float64Array;
  /** The same expert over the same rows with other weights (quantized ones, say). */
  rerun(store: WeightStore): Tensor;
}

export type ExpertObserver = (run: ExpertRun) => void;

export class ReferenceSession {
  private readonly caches = new Map<number, KvEntry>();
  /** Linear-attention layers' conv and recurrent states. */
  private readonly states = new Map<number, DeltaNetState>();
  /** Positions already in the KV cache. */
  position = 0;

  constructor(
    readonly graph: Graph,
    private weights: WeightStore,
    /** Called after each routed expert runs (calibration statistics). */
    private readonly observer?: ExpertObserver,
  ) {}

  reset(): void {
    this.caches.clear();
    this.states.clear();
    this.position = 0;
  }

  /** Runs the new tokens `ids` after everything already cached; returns every graph output. */
  forward(ids: Int32Array): Map<string, Tensor> {
    if (this.graph.inputs.length !== 1) throw new Error(`the reference interpreter runs models with one token input; ${this.graph.name} has ${this.graph.inputs.length}`);
    const values = this.run(this.graph, [{ shape: [ids.length], ids }], null);
    const at = this.position;
    this.position += ids.length;
    const out = new Map<string, Tensor>();
    for (const o of this.graph.outputs) out.set(o.name, values[o.node] as Tensor);
    // A non-finite output stops here, naming the layer where the first non-finite value appeared.
    for (const t of out.values()) if (firstNonFinite(t.data) >= 0) throw this.nonFinite(values, at);
    return out;
  }

  /** The first node (in execution order) whose value holds NaN or ±Infinity, and the weight to blame if one is. */
  private nonFinite(values: readonly Value[], position: number): NonFiniteError {
    const node = this.graph.nodes.find((n) => {
      const v = values[n.id];
      return v !== undefined && "data" in v && firstNonFinite(v.data) >= 0;
    })!;
    const v = values[node.id] as Tensor;
    const bad = firstNonFinite(v.data);
    const w = width(v);
    const where = `${node.layer !== null ? `layer ${node.layer}, ` : ""}'${node.name}' (${node.op}${node.span ? `, ${node.span.file}:${node.span.line}:${node.span.column}` : ""})`;
    // Only after a failure: scan the node's own weights (experts' included) for the cause.
    let blame = "";
    const all = this.weights as WeightStore & { entries?: () => IterableIterator<[string, Float32Array]> };
    if (typeof all.entries === "function") {
      for (const [name, data] of all.entries()) {
        if (!(name === node.name || name.startsWith(`${node.name}.`) || name.startsWith(`${node.name}_`))) continue;
        const i = firstNonFinite(data);
        if (i >= 0) {
          blame = ` Its weight ${name} holds ${describeNonFinite(data[i]!)} at element ${i}: the weights are damaged (moec run --check-weights names every such tensor at load).`;
          break;
        }
      }
    }
    if (!blame) blame = " Its weights and inputs are finite: the computation overflowed float32 there (activations grew past ±3.4e38).";
    return new NonFiniteError(
      `${this.graph.name}: the output is not finite; the first non-finite value (${describeNonFinite(v.data[bad]!)} at position ${position + Math.floor(bad / w)}, ${indexText(bad, v.shape)} of [${v.shape.join(", ")}]) appears in ${where}.${blame}`,
    );
  }

  private weight(node: Node, suffix: string, ctx: ExpertContext | null): Float32Array {
    const w = this.optWeight(node, suffix, ctx);
    if (!w) throw new Error(`weight ${node.name}${suffix} is not loaded`);
    return w;
  }

  private optWeight(node: Node, suffix: string, ctx: ExpertContext | null): Float32Array | null {
    const name = node.name + suffix;
    if (ctx === null) return this.weights.get(name) ?? null;
    const p = node.params.find((q) => q.name === name);
    if (!p) return null;
    // A tensor of its own ({e}), or this expert's slice of a stacked [count, ...] tensor.
    const t = expertTensor(name, p.shape, ctx);
    const all = this.weights.get(t.name);
    return all ? all.subarray(t.offset, t.offset + p.shape.reduce((x, y) => x * y, 1)) : null;
  }

  private run(g: Graph, inputs: Value[], ctx: ExpertContext | null): Value[] {
    const vals: Value[] = [];
    let nextInput = 0;
    for (const n of g.nodes) {
      if (n.op === "input") vals.push(inputs[nextInput++]!);
      else vals.push(this.exec(n, n.inputs.map((i) => vals[i]!), ctx));
    }
    return vals;
  }

  private exec(n: Node, ins: Value[], ctx: ExpertContext | null): Value {
    const a = n.attrs;
    const w = (s: string) => this.weight(n, s, ctx);
    const x = ins[0] as Tensor;
    switch (n.op) {
      case "input":
        throw new Error("unreachable");
      case "embed": {
        const ids = ins[0]!;
        if (!isIds(ids)) throw new Error("embed expects token ids");
        const dim = a["dim"] as number;
        const vocab = a["vocab"] as number;
        const table = w(".weight");
        const out = tensor([...ids.shape, dim]);
        ids.ids.forEach((id, i) => {
          if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary (0..${vocab - 1})`);
          out.data.set(table.subarray(id * dim, (id + 1) * dim), i * dim);
        });
        return out;
      }
      case "linear": {
        const inOut = a["layout"] === "in_out";
        const bare = inOut || a["bare"] === true;
        const bias = a["bias"] === true ? w(bare ? "_bias" : ".bias") : null;
        return linear(x, w(bare ? "" : ".weight"), a["out"] as number, bias, inOut ? "in_out" : "out_in");
      }
      case "rmsnorm":
        return { shape: x.shape, data: rmsnormRows(x.data, width(x), w(a["bare"] === true ? "" : ".weight"), a["eps"] as number, undefined, (a["offset"] as number | undefined) ?? 0) };
      case "layernorm":
        return { shape: x.shape, data: layernormRows(x.data, width(x), w(".weight"), a["bias"] === true ? w(".bias") : null, a["eps"] as number) };
      case "silu":
        return map(x, silu);
      case "relu":
        return map(x, (v) => (v > 0 ? v : 0));
      case "sigmoid":
        return map(x, sigmoid);
      case "tanh":
        return map(x, Math.tanh);
      case "gelu":
        return a["approximate"] === "tanh"
          ? map(x, geluTanh)
          : map(x, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
      case "swiglu":
        return swiglu(ins as Tensor[], a["alpha"] as number, a["limit"] as number | null, a["upOffset"] as number, a["layout"] as string | null, (a["activation"] as string | undefined) ?? "silu");
      case "add":
        return broadcast(x, ins[1] as Tensor, (p, q) => p + q);
      case "sub":
        return broadcast(x, ins[1] as Tensor, (p, q) => p - q);
      case "mul":
        return broadcast(x, ins[1] as Tensor, (p, q) => p * q);
      case "div":
        return broadcast(x, ins[1] as Tensor, (p, q) => p / q);
      case "scale": {
        const f = a["factor"] as number;
        return map(x, (v) => v * f);
      }
      case "learned_scale": {
        const f = w("")[0]!;
        return map(x, (v) => v * f);
      }
      case "attention":
        return attention(x, a, w, (s) => this.optWeight(n, s, ctx), this.cache(n));
      case "mla":
        return mla(x, a, w, this.cache(n));
      case "moe":
        return this.moe(n, x, ins[1] as Tensor | undefined, ctx);
      case "gated_deltanet":
        return gatedDeltaNet(x, a, w, this.deltaState(n), this.position);
      case "mamba2":
        return mamba2Mixer(x, a, w, this.deltaState(n), this.position);
      case "mamba":
        return mambaMixer(x, a, w, this.deltaState(n), this.position);
    }
  }

  private deltaState(n: Node): DeltaNetState {
    let c = this.states.get(n.id);
    if (!c) this.states.set(n.id, (c = n.op === "mamba2" ? newMamba2State(n.attrs) : n.op === "mamba" ? newMambaState(n.attrs) : newDeltaNetState(n.attrs)));
    return c;
  }

  private cache(n: Node): KvEntry {
    let c = this.caches.get(n.id);
    if (!c) this.caches.set(n.id, (c = newKvEntry()));
    return c;
  }

  /** Route, run each chosen expert once over its tokens, combine with the mixing weights. */
  private moe(n: Node, x: Tensor, routerInput: Tensor | undefined, ctx: ExpertContext | null): Tensor {
    const router = n.attrs["router"] as unknown as RouterAttr;
    const groups = n.attrs["experts"] as unknown as ExpertGroupAttr[];
    const E = n.attrs["numExperts"] as number;
    const name = n.attrs["routerName"] as string;
    const T = rows(x);
    const d = width(x);
    const r = routerInput ?? x;
    const logits32 = linear(r, this.weight(n, `.${name}.weight`, ctx), E, router.bias ? this.weight(n, `.${name}.bias`, ctx) : null, "out_in").data;
    const selectionBias = router.selectionBias ? this.weight(n, selectionBiasSuffix(n.attrs), ctx) : null;
    const expertScale = router.expertScale ? this.weight(n, `.${n.attrs["expertScaleName"] as string}`, ctx) : null;
    const assignments = route(router, Float64Array.from(logits32), T, E, selectionBias, expertScale);
    const acc = new Float64Array(T * d);
    // Laid out by expert; the mixing weights stay float64 (assignments[order[p]].weight).
    const { offsets, tokens, order } = byExpert(assignments, E);
    const shared = n.subgraphs["shared"];
    let pending: { expert: ExpertIndex; group: number; rows: Tensor; out: Tensor } | null = null;
    runExperts(groups, offsets, {
      gather: (from, count) => {
        const sub = tensor([count, d]);
        for (let i = 0; i < count; i++) sub.data.set(x.data.subarray(tokens[from + i]! * d, (tokens[from + i]! + 1) * d), i * d);
        // Llama-4: the routing weight scales the expert's input (and its output is added as is).
        if (router.weightInput) {
          for (let i = 0; i < count; i++) {
            const wt = Math.fround(assignments[order[from + i]!]!.weight);
            for (let k = 0; k < d; k++) sub.data[i * d + k] = Math.fround(sub.data[i * d + k]! * wt);
          }
        }
        return sub;
      },
      body: (group, expert, rows) => {
        const body = n.subgraphs[`expert${group}`]!;
        const out = this.run(body, [rows], expert)[body.outputs[0]!.node] as Tensor;
        if (this.observer) pending = { expert, group, rows, out };
        return out;
      },
      scatter: (from, count, y) => {
        const p = pending as { expert: ExpertIndex; group: number; rows: Tensor; out: Tensor } | null;
        if (p && p.out === y) {
          pending = null;
          const body = n.subgraphs[`expert${p.group}`]!;
          const weights = Float64Array.from({ length: count }, (_, i) => assignments[order[from + i]!]!.weight);
          const rerun = (store: WeightStore): Tensor => {
            const saved = this.weights;
            this.weights = store;
            try {
              return this.run(body, [p.rows], p.expert)[body.outputs[0]!.node] as Tensor;
            } finally {
              this.weights = saved;
            }
          };
          this.observer!({ node: n, expert: p.expert, rows: p.rows, out: p.out, weights, rerun });
        }
        for (let i = 0; i < count; i++) {
          const [t, wt] = [tokens[from + i]!, router.weightInput ? 1 : assignments[order[from + i]!]!.weight];
          for (let k = 0; k < d; k++) acc[t * d + k]! += Math.fround(y.data[i * d + k]! * wt);
        }
      },
      ...(shared
        ? {
            shared: () => {
              const y = this.run(shared, [x], ctx)[shared.outputs[0]!.node] as Tensor;
              const gateName = n.attrs["sharedGateName"] as string | null;
              const gate = gateName ? linear(x, this.weight(n, `.${gateName}.weight`, ctx), 1, null, "out_in").data : null;
              for (let t = 0; t < T; t++) {
                const gv = gate ? sigmoid(gate[t]!) : 1;
                for (let k = 0; k < d; k++) acc[t * d + k]! += Math.fround(gv * y.data[t * d + k]!);
              }
            },
          }
        : {}),
    });
    return { shape: x.shape, data: Float32Array.from(acc) };
  }
}

/** gelu's tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
const geluTanh = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));

function swiglu(ins: Tensor[], alpha: number, limit: number | null, upOffset: number, layout: string | null, activation: string): Tensor {
  let gate: Tensor;
  let up: Tensor;
  if (ins.length === 2) {
    gate = ins[0]!;
    up = ins[1]!;
  } else {
    const x = ins[0]!;
    const half = width(x) / 2;
    const R = rows(x);
    gate = tensor([...x.shape.slice(0, -1), half]);
    up = tensor([...x.shape.slice(0, -1), half]);
    for (let r = 0; r < R; r++) {
      for (let j = 0; j < half; j++) {
        const [gi, ui] = layout === "interleaved" ? [2 * j, 2 * j + 1] : [j, half + j];
        gate.data[r * half + j] = x.data[r * 2 * half + gi]!;
        up.data[r * half + j] = x.data[r * 2 * half + ui]!;
      }
    }
  }
  return broadcast(gate, up, (g, u) => {
    if (limit !== null) {
      g = Math.min(g, limit);
      u = Math.min(limit, Math.max(-limit, u));
    }
    // GeGLU: the gelu (tanh form) of the gate, rounded to float32, times up (HF act_fn(gate) * up)
    if (activation === "gelu_tanh") return Math.fround(geluTanh(g)) * u;
    return Math.fround(g * sigmoid(alpha * g)) * (u + upOffset);
  });
}
