// Lowering: graph IR → plan (runtime/plan/plan.ts). High-level ops become kernel steps —
// attention into projections, norms, rope, the attention kernel and the output projection;
// MLA likewise; a moe node into one MoE step whose expert bodies are step lists run per
// chosen expert. Buffer slots are then assigned by liveness (slots.ts).
import type { ExpertGroupAttr, Graph, Node, RopeAttr, RouterAttr } from "../ir/graph.js";
import type { MoeGroup, Plan, PlanCache, PlanWeight, Step, UnaryKind, WRef } from "../../runtime/plan/plan.js";
import { PLAN_FORMAT, PLAN_VERSION } from "../../runtime/plan/plan.js";
import { assignSlots } from "./slots.js";

export class LowerError extends Error {}

/** How a body's parameters resolve: globally by name, or to the j-th local of an expert group. */
interface WeightScope {
  ref(name: string, shape: readonly number[]): WRef;
}

class Lowerer {
  readonly weights: PlanWeight[] = [];
  private readonly weightIndex = new Map<string, number>();
  readonly widths: number[] = [];
  readonly caches: PlanCache[] = [];

  value(width: number): number {
    this.widths.push(width);
    return this.widths.length - 1;
  }

  weight(name: string, shape: readonly number[]): number {
    let i = this.weightIndex.get(name);
    if (i === undefined) {
      i = this.weights.length;
      this.weights.push({ name, shape: [...shape], dtype: "f32" });
      this.weightIndex.set(name, i);
    }
    return i;
  }

  readonly global: WeightScope = { ref: (name, shape) => ({ w: this.weight(name, shape) }) };

  /** Lowers a graph's nodes into `steps`; returns the value of every node (-1 for the token input). */
  graph(g: Graph, steps: Step[], scope: WeightScope, inputs: readonly number[]): number[] {
    const vals: number[] = [];
    let nextInput = 0;
    for (const n of g.nodes) {
      if (n.op === "input") vals.push(inputs[nextInput++] ?? -1);
      else vals.push(this.node(n, n.inputs.map((i) => vals[i]!), steps, scope));
    }
    return vals;
  }

  private node(n: Node, ins: number[], steps: Step[], scope: WeightScope): number {
    const a = n.attrs;
    const width = n.type.shape[n.type.shape.length - 1] as number;
    const param = (suffix: string): WRef => {
      const p = n.params.find((q) => q.name === n.name + suffix);
      if (!p) throw new LowerError(`${n.op} ${n.name}: no parameter ${suffix}`);
      return scope.ref(p.name, p.shape);
    };
    const out = () => this.value(width);
    const x = ins[0]!;
    switch (n.op) {
      case "input":
        throw new LowerError("unreachable");
      case "embed": {
        const o = out();
        steps.push({ op: "embed", out: o, weight: param(".weight"), vocab: a["vocab"] as number, dim: a["dim"] as number });
        return o;
      }
      case "linear": {
        const inOut = a["layout"] === "in_out";
        const o = out();
        steps.push({ op: "matmul", x, out: o, weight: param(inOut ? "" : ".weight"), bias: a["bias"] === true ? param(inOut ? "_bias" : ".bias") : null, K: this.widths[x]!, N: width, layout: inOut ? "in_out" : "out_in" });
        return o;
      }
      case "rmsnorm": {
        const o = out();
        steps.push({ op: "rmsnorm", x, out: o, weight: param(".weight"), n: width, eps: a["eps"] as number });
        return o;
      }
      case "layernorm": {
        const o = out();
        steps.push({ op: "layernorm", x, out: o, weight: param(".weight"), bias: a["bias"] === true ? param(".bias") : null, n: width, eps: a["eps"] as number });
        return o;
      }
      case "silu":
      case "relu":
      case "sigmoid":
      case "tanh":
      case "gelu": {
        const kind: UnaryKind = n.op === "gelu" ? (a["approximate"] === "tanh" ? "gelu_tanh" : "gelu") : n.op;
        const o = out();
        steps.push({ op: "unary", kind, x, out: o });
        return o;
      }
      case "add":
      case "sub":
      case "mul":
      case "div": {
        const [ta, tb] = [this.widths[ins[0]!]!, this.widths[ins[1]!]!];
        if (ta !== tb) throw new LowerError(`${n.name}: broadcasting '${n.op}' over widths ${ta} and ${tb} is not supported by the plan yet`);
        const o = out();
        steps.push({ op: "binary", kind: n.op, a: ins[0]!, b: ins[1]!, out: o });
        return o;
      }
      case "scale": {
        const o = out();
        steps.push({ op: "scale", x, out: o, factor: a["factor"] as number });
        return o;
      }
      case "swiglu": {
        let [g, u] = ins;
        if (u === undefined) {
          g = this.value(width);
          u = this.value(width);
          steps.push({ op: "split", x, a: g, b: u, interleaved: a["layout"] === "interleaved" });
        }
        const o = out();
        steps.push({ op: "swiglu", gate: g!, up: u, out: o, alpha: a["alpha"] as number, limit: a["limit"] as number | null, upOffset: a["upOffset"] as number });
        return o;
      }
      case "attention":
        return this.attention(n, x, width, steps, param);
      case "mla":
        return this.mla(n, x, width, steps, param);
      case "moe":
        return this.moe(n, ins, width, steps, scope, param);
    }
  }

  private attention(n: Node, x: number, width: number, steps: Step[], param: (s: string) => WRef): number {
    const a = n.attrs;
    const [H, KV, hd] = [a["heads"] as number, a["kvHeads"] as number, a["headDim"] as number];
    const bias = a["bias"] === true;
    const proj = (name: string, N: number, withBias: boolean) => {
      const o = this.value(N);
      steps.push({ op: "matmul", x, out: o, weight: param(`.${name}.weight`), bias: withBias ? param(`.${name}.bias`) : null, K: width, N, layout: "out_in" });
      return o;
    };
    const q = proj("q_proj", H * hd, bias);
    const k = proj("k_proj", KV * hd, bias);
    const v = proj("v_proj", KV * hd, bias);
    const eps = a["normEps"] as number;
    if (a["qkNorm"] !== null) {
      const per = a["qkNorm"] === "head";
      steps.push({ op: "rmsnorm", x: q, out: q, weight: param(".q_norm.weight"), n: per ? hd : H * hd, eps });
      steps.push({ op: "rmsnorm", x: k, out: k, weight: param(".k_norm.weight"), n: per ? hd : KV * hd, eps });
    }
    const clip = a["clipQkv"] as number | null;
    if (clip !== null) for (const t of [q, k, v]) steps.push({ op: "clamp", x: t, limit: clip });
    const rope = a["rope"] as unknown as RopeAttr | null;
    if (rope) {
      steps.push({ op: "rope", x: q, heads: H, stride: hd, offset: 0, rope });
      steps.push({ op: "rope", x: k, heads: KV, stride: hd, offset: 0, rope });
    }
    const o = this.value(H * hd);
    this.caches.push({ kWidth: KV * hd, vWidth: KV * hd });
    steps.push({
      op: "attention", q, k, v, out: o, cache: this.caches.length - 1, heads: H, kvHeads: KV, headDim: hd, vDim: hd,
      scale: a["scale"] as number, window: a["window"] as number | null, softcap: a["softcap"] as number | null,
      sinks: a["sinks"] === true ? param(".sinks") : null, causal: a["causal"] !== false,
    });
    const y = this.value(width);
    steps.push({ op: "matmul", x: o, out: y, weight: param(".o_proj.weight"), bias: a["outBias"] === true ? param(".o_proj.bias") : null, K: H * hd, N: width, layout: "out_in" });
    return y;
  }

  private mla(n: Node, x: number, width: number, steps: Step[], param: (s: string) => WRef): number {
    const a = n.attrs;
    const H = a["heads"] as number;
    const [nope, rd, vd, kvLora] = [a["qkNopeDim"] as number, a["qkRopeDim"] as number, a["vDim"] as number, a["kvLoraRank"] as number];
    const qk = nope + rd;
    const eps = a["normEps"] as number;
    const qLora = a["qLoraRank"] as number | null;
    const mm = (src: number, K: number, N: number, name: string) => {
      const o = this.value(N);
      steps.push({ op: "matmul", x: src, out: o, weight: param(`.${name}.weight`), bias: null, K, N, layout: "out_in" });
      return o;
    };
    let q: number;
    if (qLora === null) q = mm(x, width, H * qk, "q_proj");
    else {
      const qa = mm(x, width, qLora, "q_a_proj");
      steps.push({ op: "rmsnorm", x: qa, out: qa, weight: param(".q_a_layernorm.weight"), n: qLora, eps });
      q = mm(qa, qLora, H * qk, "q_b_proj");
    }
    const kva = mm(x, width, kvLora + rd, "kv_a_proj_with_mqa");
    const compressed = this.value(kvLora);
    steps.push({ op: "copy", x: kva, out: compressed, heads: 1, len: kvLora, inStride: 0, inOffset: 0, outStride: 0, outOffset: 0 });
    steps.push({ op: "rmsnorm", x: compressed, out: compressed, weight: param(".kv_a_layernorm.weight"), n: kvLora, eps });
    const kv = mm(compressed, kvLora, H * (nope + vd), "kv_b_proj");
    const rope = a["rope"] as unknown as RopeAttr | null;
    if (rope) {
      steps.push({ op: "rope", x: q, heads: H, stride: qk, offset: nope, rope });
      steps.push({ op: "rope", x: kva, heads: 1, stride: kvLora + rd, offset: kvLora, rope });
    }
    const keys = this.value(H * qk);
    const values = this.value(H * vd);
    steps.push({ op: "copy", x: kv, out: keys, heads: H, len: nope, inStride: nope + vd, inOffset: 0, outStride: qk, outOffset: 0 });
    steps.push({ op: "copy", x: kva, out: keys, heads: H, len: rd, inStride: 0, inOffset: kvLora, outStride: qk, outOffset: nope });
    steps.push({ op: "copy", x: kv, out: values, heads: H, len: vd, inStride: nope + vd, inOffset: nope, outStride: vd, outOffset: 0 });
    const o = this.value(H * vd);
    this.caches.push({ kWidth: H * qk, vWidth: H * vd });
    steps.push({ op: "attention", q, k: keys, v: values, out: o, cache: this.caches.length - 1, heads: H, kvHeads: H, headDim: qk, vDim: vd, scale: a["scale"] as number, window: null, softcap: null, sinks: null, causal: true });
    return mm(o, H * vd, width, "o_proj");
  }

  private moe(n: Node, ins: number[], width: number, steps: Step[], scope: WeightScope, param: (s: string) => WRef): number {
    if (scope !== this.global) throw new LowerError(`${n.name}: a moe inside an expert is not supported`);
    const router = n.attrs["router"] as unknown as RouterAttr;
    const groupsAttr = n.attrs["experts"] as unknown as ExpertGroupAttr[];
    const rname = n.attrs["routerName"] as string;
    const out = this.value(width);
    let first = 0;
    const groups: MoeGroup[] = groupsAttr.map((g, gi) => {
      const body = n.subgraphs[`expert${gi}`];
      const base = first;
      first += g.count;
      if (!body) return { kind: g.kind, count: g.count, steps: [], input: -1, output: -1, bind: [] };
      const locals: { name: string; shape: readonly number[] }[] = [];
      const local: WeightScope = {
        ref: (name, shape) => {
          let j = locals.findIndex((l) => l.name === name);
          if (j < 0) j = locals.push({ name, shape }) - 1;
          return { local: j };
        },
      };
      const bodySteps: Step[] = [];
      const input = this.value(width);
      const vals = this.graph(body, bodySteps, local, [input]);
      const bind = Array.from({ length: g.count }, (_, e) =>
        locals.map((l): [number, number] => {
          if (l.name.includes("{e}")) return [this.weight(l.name.replace("{e}", String(base + e)), l.shape), 0];
          const size = l.shape.reduce((p, q) => p * q, 1);
          return [this.weight(l.name, [g.count, ...l.shape]), e * size];
        }),
      );
      return { kind: g.kind, count: g.count, steps: bodySteps, input, output: vals[body.outputs[0]!.node]!, bind };
    });
    let shared: { steps: Step[]; input: number; output: number } | null = null;
    const sg = n.subgraphs["shared"];
    if (sg) {
      const sharedSteps: Step[] = [];
      const vals = this.graph(sg, sharedSteps, this.global, [ins[0]!]);
      shared = { steps: sharedSteps, input: ins[0]!, output: vals[sg.outputs[0]!.node]! };
    }
    const gate = n.attrs["sharedGateName"] as string | null;
    steps.push({
      op: "moe", x: ins[0]!, routerInput: ins[1] ?? ins[0]!, out, router,
      routerWeight: param(`.${rname}.weight`), routerBias: router.bias ? param(`.${rname}.bias`) : null,
      selectionBias: router.selectionBias ? param(`.${rname}.e_score_correction_bias`) : null,
      experts: n.attrs["numExperts"] as number, groups, shared, sharedGate: gate ? param(`.${gate}.weight`) : null,
    });
    return out;
  }
}

export function lowerGraph(g: Graph): Plan {
  if (g.inputs.length !== 1) throw new LowerError(`${g.name}: the plan supports models with one token input; this one has ${g.inputs.length}`);
  const inputNode = g.nodes[g.inputs[0]!]!;
  if (inputNode.type.shape.length !== 1) throw new LowerError(`${g.name}: the input must be i32[seq]; batch dimensions are not supported by the plan yet`);
  const output = g.outputs[0];
  if (!output || g.outputs.length !== 1) throw new LowerError(`${g.name}: the plan supports exactly one output (the logits)`);
  const l = new Lowerer();
  const steps: Step[] = [];
  const inputValue = l.value(1);
  const vals = l.graph(g, steps, l.global, [inputValue]);
  const embed = g.nodes.find((n) => n.op === "embed");
  const outValue = vals[output.node]!;
  const { slots, valueSlots } = assignSlots(steps, l.widths, [inputValue], [outValue]);
  return {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    model: g.name,
    vocab: (embed?.attrs["vocab"] as number | undefined) ?? 0,
    input: { name: inputNode.attrs["name"] as string, value: inputValue },
    output: { name: output.name, value: outValue, width: l.widths[outValue]! },
    weights: l.weights,
    values: l.widths.map((width, i) => ({ width, slot: valueSlots[i]! })),
    slots,
    caches: l.caches,
    steps,
  };
}
