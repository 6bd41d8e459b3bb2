// How each IR op lowers to plan steps: one entry per op (a mapped type, so an op without a
// rule does not compile). A rule pushes its steps and returns the value holding its result.
import type { ExpertGroupAttr, Node, Op, RopeAttr, RouterAttr } from "../ir/graph.js";
import type { MoeGroup, Step, UnaryKind, WRef } from "../../runtime/plan/plan.js";
import { expertTensor } from "../../runtime/moe/experts.js";
import { LowerError } from "./errors.js";
import { attentionNormNames, selectionBiasSuffix, vProjName } from "../ir/ops.js";
import type { Lowerer, WeightScope } from "./lower.js";

export interface LowerContext {
  readonly l: Lowerer;
  readonly n: Node;
  /** The values of the node's inputs; `x` is the first. */
  readonly ins: readonly number[];
  readonly x: number;
  /** The width (last dim) of the node's result. */
  readonly width: number;
  readonly steps: Step[];
  readonly scope: WeightScope;
  /** The node's parameter `name + suffix`, resolved in the scope. */
  param(suffix: string): WRef;
}

type Rule = (c: LowerContext) => number;

/** Pushes one step writing a fresh value of the node's width; returns that value. */
function emit(c: LowerContext, make: (out: number) => Step): number {
  const out = c.l.value(c.width);
  c.steps.push(make(out));
  return out;
}

const unary: Rule = (c) => {
  const a = c.n.attrs;
  const kind: UnaryKind = c.n.op === "gelu" ? (a["approximate"] === "tanh" ? "gelu_tanh" : "gelu") : (c.n.op as UnaryKind);
  return emit(c, (out) => ({ op: "unary", kind, x: c.x, out }));
};

const binary: Rule = (c) => {
  const [a, b] = [c.ins[0]!, c.ins[1]!];
  const [wa, wb] = [c.l.widths[a]!, c.l.widths[b]!];
  if (wa !== wb) throw new LowerError(`${c.n.name}: broadcasting '${c.n.op}' over widths ${wa} and ${wb} is not supported by the plan yet`);
  return emit(c, (out) => ({ op: "binary", kind: c.n.op as "add" | "sub" | "mul" | "div", a, b, out }));
};

export const LOWER: { readonly [op in Op]: Rule } = {
  input: () => {
    throw new LowerError("inputs are bound by lowerGraph");
  },
  embed: (c) => emit(c, (out) => ({ op: "embed", ids: c.x < 0 ? c.l.ids : c.x, out, weight: c.param(".weight"), vocab: c.n.attrs["vocab"] as number, dim: c.n.attrs["dim"] as number })),
  linear: (c) => {
    const inOut = c.n.attrs["layout"] === "in_out";
    const bare = inOut || c.n.attrs["bare"] === true;
    return emit(c, (out) => ({ op: "matmul", x: c.x, out, weight: c.param(bare ? "" : ".weight"), bias: c.n.attrs["bias"] === true ? c.param(bare ? "_bias" : ".bias") : null, K: c.l.widths[c.x]!, N: c.width, layout: inOut ? "in_out" : "out_in" }));
  },
  rmsnorm: (c) => emit(c, (out) => ({ op: "rmsnorm", x: c.x, out, weight: c.param(c.n.attrs["bare"] === true ? "" : ".weight"), n: c.width, eps: c.n.attrs["eps"] as number, ...(c.n.attrs["offset"] ? { offset: c.n.attrs["offset"] as number } : {}) })),
  layernorm: (c) => emit(c, (out) => ({ op: "layernorm", x: c.x, out, weight: c.param(".weight"), bias: c.n.attrs["bias"] === true ? c.param(".bias") : null, n: c.width, eps: c.n.attrs["eps"] as number })),
  silu: unary,
  relu: unary,
  sigmoid: unary,
  tanh: unary,
  gelu: unary,
  add: binary,
  sub: binary,
  mul: binary,
  div: binary,
  scale: (c) => emit(c, (out) => ({ op: "scale", x: c.x, out, factor: c.n.attrs["factor"] as number })),
  learned_scale: (c) => emit(c, (out) => ({ op: "learned_scale", x: c.x, out, weight: c.param("") })),
  swiglu: (c) => {
    const a = c.n.attrs;
    let [g, u] = c.ins;
    if (u === undefined) {
      g = c.l.value(c.width);
      u = c.l.value(c.width);
      c.steps.push({ op: "split", x: c.x, a: g, b: u, interleaved: a["layout"] === "interleaved" });
    }
    if (a["activation"] === "gelu_tanh") {
      // GeGLU: gelu (tanh form) of the gate, times up
      const act = c.l.value(c.width);
      c.steps.push({ op: "unary", kind: "gelu_tanh", x: g!, out: act });
      return emit(c, (out) => ({ op: "binary", kind: "mul", a: act, b: u!, out }));
    }
    return emit(c, (out) => ({ op: "swiglu", gate: g!, up: u, out, alpha: a["alpha"] as number, limit: a["limit"] as number | null, upOffset: a["upOffset"] as number }));
  },
  attention: (c) => attention(c),
  mla: (c) => mla(c),
  moe: (c) => moe(c),
  gated_deltanet: (c) => gatedDeltaNet(c),
  mamba2: (c) => mamba2(c),
  mamba: (c) => mamba(c),
};

/**
 * Gated DeltaNet: the two input projections; `copy` steps that regroup Qwen3-Next's per-key-head
 * [q, k, v, z] / [b, a] rows into the conv input [q | k | v], z, b and a; the `deltanet` step (conv, the
 * delta rule, its state cache); the gated RMSNorm as rmsnorm · silu(z); the output projection.
 */
function gatedDeltaNet(c: LowerContext): number {
  const { l, steps, x, width } = c;
  const a = c.n.attrs;
  const [Hk, Hv, dk, dv, K] = [a["kHeads"] as number, a["vHeads"] as number, a["kDim"] as number, a["vDim"] as number, a["kernel"] as number];
  const r = Hv / Hk;
  const Kd = Hk * dk;
  const C = 2 * Kd + Hv * dv;
  const G = 2 * dk + 2 * r * dv;
  const mm = (src: number, Kin: number, N: number, name: string) => {
    const o = l.value(N);
    steps.push({ op: "matmul", x: src, out: o, weight: c.param(`.${name}.weight`), bias: null, K: Kin, N, layout: "out_in" });
    return o;
  };
  let xin: number, z: number, b: number, av: number;
  if (a["projections"] === "separate") {
    // Qwen3.5: the conv input, z, b and a have projections of their own
    [xin, z, b, av] = [mm(x, width, C, "in_proj_qkv"), mm(x, width, Hv * dv, "in_proj_z"), mm(x, width, Hv, "in_proj_b"), mm(x, width, Hv, "in_proj_a")];
  } else {
    const qkvz = mm(x, width, Hk * G, "in_proj_qkvz");
    const ba = mm(x, width, 2 * Hv, "in_proj_ba");
    [xin, z, b, av] = [l.value(C), l.value(Hv * dv), l.value(Hv), l.value(Hv)];
    const copy = (from: number, to: number, len: number, inStride: number, inOffset: number, outStride: number, outOffset: number) =>
      steps.push({ op: "copy", x: from, out: to, heads: Hk, len, inStride, inOffset, outStride, outOffset });
    copy(qkvz, xin, dk, G, 0, dk, 0);
    copy(qkvz, xin, dk, G, dk, dk, Kd);
    copy(qkvz, xin, r * dv, G, 2 * dk, r * dv, 2 * Kd);
    copy(qkvz, z, r * dv, G, 2 * dk + r * dv, r * dv, 0);
    copy(ba, b, r, 2 * r, 0, r, 0);
    copy(ba, av, r, 2 * r, r, r, 0);
  }
  l.caches.push({ kWidth: 0, vWidth: 0, state: { k: (K - 1) * C, v: Hv * dk * dv } });
  const core = l.value(Hv * dv);
  steps.push({
    op: "deltanet", x: xin, b, a: av, out: core, state: l.caches.length - 1, kHeads: Hk, vHeads: Hv, kDim: dk, vDim: dv, kernel: K,
    convWeight: c.param(".conv1d.weight"), aLog: c.param(".A_log"), dtBias: c.param(".dt_bias"),
  });
  steps.push({ op: "rmsnorm", x: core, out: core, weight: c.param(".norm.weight"), n: dv, eps: a["normEps"] as number });
  const zs = l.value(Hv * dv);
  steps.push({ op: "unary", kind: "silu", x: z, out: zs });
  const gated = l.value(Hv * dv);
  steps.push({ op: "binary", kind: "mul", a: core, b: zs, out: gated });
  return mm(gated, Hv * dv, width, "out_proj");
}

/**
 * Mamba-2: the input projection, `copy` steps that split its rows into z, the conv input x·B·C and dt; the
 * `mamba2` step (conv, the selective scan, its state cache, and the RMSNorm in groups of y · silu(z),
 * Nemotron-H's norm_before_gate false); the output projection.
 */
function mamba2(c: LowerContext): number {
  const { l, steps, x, width } = c;
  const a = c.n.attrs;
  const [H, P, N, G, K] = [a["heads"] as number, a["headDim"] as number, a["stateDim"] as number, a["groups"] as number, a["kernel"] as number];
  const I = H * P;
  const C = I + 2 * G * N;
  const proj = l.value(I + C + H);
  steps.push({ op: "matmul", x, out: proj, weight: c.param(".in_proj.weight"), bias: null, K: width, N: I + C + H, layout: "out_in" });
  const [z, xbc, dt] = [l.value(I), l.value(C), l.value(H)];
  const copy = (to: number, len: number, inOffset: number) => steps.push({ op: "copy", x: proj, out: to, heads: 1, len, inStride: 0, inOffset, outStride: 0, outOffset: 0 });
  copy(z, I, 0);
  copy(xbc, C, I);
  copy(dt, H, I + C);
  l.caches.push({ kWidth: 0, vWidth: 0, state: { k: (K - 1) * C, v: H * P * N } });
  // the scan and the gated RMSNorm in one step: the norm's weight is one per channel, not per group
  const y = l.value(I);
  steps.push({
    op: "mamba2", xbc, dt, z, out: y, state: l.caches.length - 1, heads: H, headDim: P, stateDim: N, groups: G, kernel: K, dtMin: a["dtMin"] as number, eps: a["normEps"] as number,
    convWeight: c.param(".conv1d.weight"), convBias: a["convBias"] === true ? c.param(".conv1d.bias") : null, aLog: c.param(".A_log"), dtBias: c.param(".dt_bias"), d: c.param(".D"),
    norm: c.param(".norm.weight"),
  });
  const out = l.value(width);
  steps.push({ op: "matmul", x: y, out, weight: c.param(".out_proj.weight"), bias: null, K: I, N: width, layout: "out_in" });
  return out;
}

/**
 * Mamba-1 (Jamba): the input projection, `copy` steps that split its rows into x and z; the `conv1d` step (its
 * window in the state cache's k area); x_proj, `copy` steps that split dt, B and C apart, an RMSNorm on each;
 * dt_proj with its bias; the `mamba` step (the scan, D and the silu(z) gate; its SSM state in the cache's v area);
 * the output projection.
 */
function mamba(c: LowerContext): number {
  const { l, steps, x, width } = c;
  const a = c.n.attrs;
  const [I, N, R, K] = [a["inner"] as number, a["stateDim"] as number, a["dtRank"] as number, a["kernel"] as number];
  const eps = a["normEps"] as number;
  const projBias = a["projBias"] === true;
  const split = (from: number, to: number, len: number, inOffset: number) => steps.push({ op: "copy", x: from, out: to, heads: 1, len, inStride: 0, inOffset, outStride: 0, outOffset: 0 });
  const proj = l.value(2 * I);
  steps.push({ op: "matmul", x, out: proj, weight: c.param(".in_proj.weight"), bias: projBias ? c.param(".in_proj.bias") : null, K: width, N: 2 * I, layout: "out_in" });
  const [xs, z] = [l.value(I), l.value(I)];
  split(proj, xs, I, 0);
  split(proj, z, I, I);
  l.caches.push({ kWidth: 0, vWidth: 0, state: { k: (K - 1) * I, v: I * N } });
  const state = l.caches.length - 1;
  const conv = l.value(I);
  steps.push({ op: "conv1d", x: xs, out: conv, state, channels: I, kernel: K, weight: c.param(".conv1d.weight"), bias: a["convBias"] === true ? c.param(".conv1d.bias") : null });
  const ssm = l.value(R + 2 * N);
  steps.push({ op: "matmul", x: conv, out: ssm, weight: c.param(".x_proj.weight"), bias: null, K: I, N: R + 2 * N, layout: "out_in" });
  const [dtIn, b, cm] = [l.value(R), l.value(N), l.value(N)];
  for (const [to, len, at, norm] of [[dtIn, R, 0, "dt"], [b, N, R, "b"], [cm, N, R + N, "c"]] as const) {
    split(ssm, to, len, at);
    steps.push({ op: "rmsnorm", x: to, out: to, weight: c.param(`.${norm}_layernorm.weight`), n: len, eps });
  }
  const dt = l.value(I);
  steps.push({ op: "matmul", x: dtIn, out: dt, weight: c.param(".dt_proj.weight"), bias: c.param(".dt_proj.bias"), K: R, N: I, layout: "out_in" });
  const y = l.value(I);
  steps.push({ op: "mamba", x: conv, dt, b, c: cm, z, out: y, state, channels: I, stateDim: N, aLog: c.param(".A_log"), d: c.param(".D") });
  const out = l.value(width);
  steps.push({ op: "matmul", x: y, out, weight: c.param(".out_proj.weight"), bias: projBias ? c.param(".out_proj.bias") : null, K: I, N: width, layout: "out_in" });
  return out;
}

function attention(c: LowerContext): number {
  const { l, steps, x, width } = c;
  const a = c.n.attrs;
  const [H, KV, hd] = [a["heads"] as number, a["kvHeads"] as number, a["headDim"] as number];
  const bias = a["bias"] === true;
  const proj = (name: string, N: number, withBias: boolean) => {
    const o = l.value(N);
    steps.push({ op: "matmul", x, out: o, weight: c.param(`.${name}.weight`), bias: withBias ? c.param(`.${name}.bias`) : null, K: width, N, layout: "out_in" });
    return o;
  };
  let q: number, k: number, v: number;
  const fused = a["qkvName"] as string | undefined;
  if (fused) {
    // One projection with rows [q; k; v] (DBRX's Wqkv), then its three column blocks copied apart.
    const qkv = proj(fused, (H + 2 * KV) * hd, false);
    [q, k, v] = [l.value(H * hd), l.value(KV * hd), l.value(KV * hd)];
    steps.push({ op: "copy", x: qkv, out: q, heads: 1, len: H * hd, inStride: 0, inOffset: 0, outStride: 0, outOffset: 0 });
    steps.push({ op: "copy", x: qkv, out: k, heads: 1, len: KV * hd, inStride: 0, inOffset: H * hd, outStride: 0, outOffset: 0 });
    steps.push({ op: "copy", x: qkv, out: v, heads: 1, len: KV * hd, inStride: 0, inOffset: (H + KV) * hd, outStride: 0, outOffset: 0 });
  } else {
    q = proj("q_proj", H * hd * (a["outputGate"] === true ? 2 : 1), bias);
    k = proj("k_proj", KV * hd, bias);
    // v_name "k_proj" (Gemma-4's attention_k_eq_v): v is the raw k projection, computed again from the same weight
    v = proj(vProjName(a), KV * hd, bias);
  }
  // Gemma-4: a weightless RMSNorm per head on v
  if (a["vNorm"] === true) steps.push({ op: "rmsnorm", x: v, out: v, weight: null, n: hd, eps: a["normEps"] as number });
  // Output gate: q_proj gave [q_h | gate_h] per head; split them apart.
  let gate: number | null = null;
  if (a["outputGate"] === true) {
    const both = q;
    [q, gate] = [l.value(H * hd), l.value(H * hd)];
    steps.push({ op: "copy", x: both, out: q, heads: H, len: hd, inStride: 2 * hd, inOffset: 0, outStride: hd, outOffset: 0 });
    steps.push({ op: "copy", x: both, out: gate, heads: H, len: hd, inStride: 2 * hd, inOffset: hd, outStride: hd, outOffset: 0 });
  }
  const eps = a["normEps"] as number;
  const names = attentionNormNames(a);
  const qkNorm = () => {
    if (a["qkNorm"] === null) return;
    const per = a["qkNorm"] === "head";
    const off = a["qkNormOffset"] ? { offset: a["qkNormOffset"] as number } : {};
    steps.push({ op: "rmsnorm", x: q, out: q, weight: names ? c.param(names.q) : null, n: per ? hd : H * hd, eps, ...off });
    steps.push({ op: "rmsnorm", x: k, out: k, weight: names ? c.param(names.k) : null, n: per ? hd : KV * hd, eps, ...off });
  };
  const after = a["qkNormAfterRope"] === true;
  if (!after) qkNorm();
  const clip = a["clipQkv"] as number | null;
  if (clip !== null) for (const t of [q, k, v]) steps.push({ op: "clamp", x: t, limit: clip });
  const rope = a["rope"] as unknown as RopeAttr | null;
  if (rope) {
    steps.push({ op: "rope", x: q, heads: H, stride: hd, offset: 0, rope });
    steps.push({ op: "rope", x: k, heads: KV, stride: hd, offset: 0, rope });
  }
  if (after) qkNorm();
  const temp = (a["temperature"] ?? null) as { floorScale: number; scale: number } | null;
  if (temp) steps.push({ op: "temperature", x: q, floorScale: temp.floorScale, scale: temp.scale });
  const o = l.value(H * hd);
  l.caches.push({ kWidth: KV * hd, vWidth: KV * hd });
  steps.push({
    op: "attention", q, k, v, out: o, cache: l.caches.length - 1, heads: H, kvHeads: KV, headDim: hd, vDim: hd,
    scale: a["scale"] as number, window: a["window"] as number | null, softcap: a["softcap"] as number | null,
    sinks: a["sinks"] === true ? c.param(".sinks") : null, causal: a["causal"] !== false,
    ...(a["chunk"] ? { chunk: a["chunk"] as number } : {}),
  });
  const y = l.value(width);
  let oIn = o;
  if (gate !== null) {
    const sg = l.value(H * hd);
    steps.push({ op: "unary", kind: "sigmoid", x: gate, out: sg });
    oIn = l.value(H * hd);
    steps.push({ op: "binary", kind: "mul", a: o, b: sg, out: oIn });
  }
  const oName = (a["oName"] as string | undefined) ?? "o_proj";
  steps.push({ op: "matmul", x: oIn, out: y, weight: c.param(`.${oName}.weight`), bias: a["outBias"] === true ? c.param(`.${oName}.bias`) : null, K: H * hd, N: width, layout: "out_in" });
  return y;
}

function mla(c: LowerContext): number {
  const { l, steps, x, width } = c;
  const a = c.n.attrs;
  const H = a["heads"] as number;
  const [nope, rd, vd, kvLora] = [a["qkNopeDim"] as number, a["qkRopeDim"] as number, a["vDim"] as number, a["kvLoraRank"] as number];
  const qk = nope + rd;
  const eps = a["normEps"] as number;
  const qLora = a["qLoraRank"] as number | null;
  const mm = (src: number, K: number, N: number, name: string) => {
    const o = l.value(N);
    steps.push({ op: "matmul", x: src, out: o, weight: c.param(`.${name}.weight`), bias: null, K, N, layout: "out_in" });
    return o;
  };
  let q: number;
  if (qLora === null) q = mm(x, width, H * qk, "q_proj");
  else {
    const qa = mm(x, width, qLora, "q_a_proj");
    steps.push({ op: "rmsnorm", x: qa, out: qa, weight: c.param(".q_a_layernorm.weight"), n: qLora, eps });
    q = mm(qa, qLora, H * qk, "q_b_proj");
  }
  const kva = mm(x, width, kvLora + rd, "kv_a_proj_with_mqa");
  const compressed = l.value(kvLora);
  steps.push({ op: "copy", x: kva, out: compressed, heads: 1, len: kvLora, inStride: 0, inOffset: 0, outStride: 0, outOffset: 0 });
  steps.push({ op: "rmsnorm", x: compressed, out: compressed, weight: c.param(".kv_a_layernorm.weight"), n: kvLora, eps });
  const kv = mm(compressed, kvLora, H * (nope + vd), "kv_b_proj");
  const rope = a["rope"] as unknown as RopeAttr | null;
  if (rope) {
    steps.push({ op: "rope", x: q, heads: H, stride: qk, offset: nope, rope });
    steps.push({ op: "rope", x: kva, heads: 1, stride: kvLora + rd, offset: kvLora, rope });
  }
  const keys = l.value(H * qk);
  const values = l.value(H * vd);
  steps.push({ op: "copy", x: kv, out: keys, heads: H, len: nope, inStride: nope + vd, inOffset: 0, outStride: qk, outOffset: 0 });
  steps.push({ op: "copy", x: kva, out: keys, heads: H, len: rd, inStride: 0, inOffset: kvLora, outStride: qk, outOffset: nope });
  steps.push({ op: "copy", x: kv, out: values, heads: H, len: vd, inStride: nope + vd, inOffset: nope, outStride: vd, outOffset: 0 });
  const o = l.value(H * vd);
  l.caches.push({ kWidth: H * qk, vWidth: H * vd });
  steps.push({ op: "attention", q, k: keys, v: values, out: o, cache: l.caches.length - 1, heads: H, kvHeads: H, headDim: qk, vDim: vd, scale: a["scale"] as number, window: null, softcap: null, sinks: null, causal: true });
  return mm(o, H * vd, width, "o_proj");
}

function moe(c: LowerContext): number {
  const { l, n, ins, width } = c;
  if (c.scope !== l.global) throw new LowerError(`${n.name}: a moe inside an expert is not supported`);
  const router = n.attrs["router"] as unknown as RouterAttr;
  const groupsAttr = n.attrs["experts"] as unknown as ExpertGroupAttr[];
  const rname = n.attrs["routerName"] as string;
  const out = l.value(width);
  let first = 0;
  const groups: MoeGroup[] = groupsAttr.map((g, gi) => {
    const body = n.subgraphs[`expert${gi}`];
    const base = first;
    first += g.count;
    if (!body) return { kind: g.kind, count: g.count, steps: [], input: -1, output: -1, bind: [] };
    // An expert body's parameters become locals, bound per expert (bind[e][j]) to a tensor of its own or a slice of a stacked one.
    const locals: { name: string; shape: readonly number[] }[] = [];
    const local: WeightScope = {
      ref: (name, shape) => {
        let j = locals.findIndex((p) => p.name === name);
        if (j < 0) j = locals.push({ name, shape }) - 1;
        return { local: j };
      },
    };
    const bodySteps: Step[] = [];
    const input = l.value(width);
    const vals = l.graph(body, bodySteps, local, [input]);
    const bind = Array.from({ length: g.count }, (_, e) =>
      locals.map((p): [number, number] => {
        const t = expertTensor(p.name, p.shape, { global: base + e, local: e, count: g.count }, n.attrs["flatStacks"] === true);
        return [l.weight(t.name, t.shape), t.offset];
      }),
    );
    return { kind: g.kind, count: g.count, steps: bodySteps, input, output: vals[body.outputs[0]!.node]!, bind };
  });
  let shared: { steps: Step[]; input: number; output: number } | null = null;
  const sg = n.subgraphs["shared"];
  if (sg) {
    const sharedSteps: Step[] = [];
    const vals = l.graph(sg, sharedSteps, l.global, [ins[0]!]);
    shared = { steps: sharedSteps, input: ins[0]!, output: vals[sg.outputs[0]!.node]! };
  }
  const gate = n.attrs["sharedGateName"] as string | null;
  c.steps.push({
    op: "moe", x: ins[0]!, routerInput: ins[1] ?? ins[0]!, out, router,
    // Capacity factors and expert choice depend on every token of the pass: routed on the host.
    // Gemma-4's per-expert scale is applied by route() (the route_topk kernel has none): routed on the host too.
    routing: router.choice === "expert" || router.capacityFactor !== null || router.expertScale === true ? "host" : "kernel",
    routerWeight: c.param(`.${rname}.weight`), routerBias: router.bias ? c.param(`.${rname}.bias`) : null,
    selectionBias: router.selectionBias ? c.param(selectionBiasSuffix(n.attrs)) : null,
    ...(router.expertScale ? { expertScale: c.param(`.${n.attrs["expertScaleName"] as string}`) } : {}),
    experts: n.attrs["numExperts"] as number, groups, shared, sharedGate: gate ? c.param(`.${gate}.weight`) : null,
  });
  return out;
}
