// The op table: for every op, how its result type follows from its inputs and attributes,
// and which parameters it owns. Sema builds nodes through this table and the verifier
// re-checks every node against it, so the two can never disagree.
import type { DiagnosticCode } from "../diagnostics/diagnostic.js";
import type { Attrs, ExpertGroupAttr, Op, RouterAttr } from "./graph.js";
import { broadcastShapes, formatShape, formatType, isFloat, isInteger, lastDim, type Dim, type TensorType } from "./types.js";

export interface OpError {
  readonly code: DiagnosticCode;
  readonly args: readonly (string | number)[];
}

/** A parameter an op owns: the suffix appended to the node's name, and its shape. */
export interface ParamSpec {
  readonly suffix: string;
  readonly shape: readonly number[];
}

interface OpRule {
  readonly arity: readonly [min: number, max: number];
  infer(inputs: readonly TensorType[], attrs: Attrs): TensorType | OpError;
  params(inputs: readonly TensorType[], attrs: Attrs): ParamSpec[];
}

const err = (code: DiagnosticCode, ...args: (string | number)[]): OpError => ({ code, args });
export const isOpError = (x: unknown): x is OpError => typeof x === "object" && x !== null && "code" in x && "args" in x;

function widthOf(t: TensorType, op: string): number | OpError {
  const d = lastDim(t);
  if (typeof d !== "number") return err("MOE3002", op, formatType(t), "a tensor whose last dim is a number", "The feature dimension must be known at compile time.");
  return d;
}

function requireFloat(op: string, t: TensorType): OpError | null {
  return isFloat(t.dtype) ? null : err("MOE3008", op, "a float tensor", t.dtype, "Embed token ids first with embed(...).");
}

function withLast(t: TensorType, d: Dim): TensorType {
  return { dtype: t.dtype, shape: [...t.shape.slice(0, -1), d] };
}

const n = (attrs: Attrs, key: string): number => attrs[key] as number;
const b = (attrs: Attrs, key: string): boolean => attrs[key] === true;

const elementwise: OpRule = {
  arity: [1, 1],
  infer: ([x]) => requireFloat("an activation", x!) ?? x!,
  params: () => [],
};

function binary(name: string): OpRule {
  return {
    arity: [2, 2],
    infer([a, c]) {
      const shape = broadcastShapes(a!.shape, c!.shape);
      if (!shape) return err("MOE3002", `'${name}'`, formatShape(a!.shape), formatShape(c!.shape), "Elementwise operands must have equal dims, or 1 where one broadcasts.");
      if (a!.dtype !== c!.dtype) return err("MOE3008", `'${name}'`, a!.dtype, c!.dtype, "Both operands must have the same dtype.");
      return { dtype: a!.dtype, shape };
    },
    params: () => [],
  };
}

function linearWeightShape(attrs: Attrs, inDim: number): number[] {
  return attrs["layout"] === "in_out" ? [inDim, n(attrs, "out")] : [n(attrs, "out"), inDim];
}

/**
 * The suffixes of an attention node's q/k norm weights (`.q_norm.weight` unless renamed), or null when the
 * norm has no learned weight (Llama-4's L2 norm) or there is no norm.
 */
export function attentionNormNames(a: Attrs): { q: string; k: string } | null {
  if (a["qkNorm"] === null || a["qkNorm"] === undefined || a["qkNormWeight"] === false) return null;
  return { q: `.${(a["qNormName"] as string | undefined) ?? "q_norm"}.weight`, k: `.${(a["kNormName"] as string | undefined) ?? "k_norm"}.weight` };
}

/** The v projection's module name: `v_proj` unless `v_name` says (Gemma-4's attention_k_eq_v: `k_proj`, v = the raw k projection). */
export function vProjName(a: Attrs): string {
  return (a["vName"] as string | undefined) ?? "v_proj";
}

/** The suffix of a moe node's selection bias: `.<router>.e_score_correction_bias` unless `selection_bias_name` says where. */
export function selectionBiasSuffix(a: Attrs): string {
  const name = a["selectionBiasName"] as string | undefined;
  return name !== undefined ? `.${name}` : `.${a["routerName"] as string}.e_score_correction_bias`;
}

function attentionParams(x: TensorType, a: Attrs): ParamSpec[] {
  const d = lastDim(x) as number;
  const hd = n(a, "headDim");
  const qDim = n(a, "heads") * hd;
  const kvDim = n(a, "kvHeads") * hd;
  const o = `.${(a["oName"] as string | undefined) ?? "o_proj"}.weight`;
  const fused = a["qkvName"] as string | undefined;
  const ps: ParamSpec[] = fused
    ? [{ suffix: `.${fused}.weight`, shape: [qDim + 2 * kvDim, d] }, { suffix: o, shape: [d, qDim] }]
    : [
        { suffix: ".q_proj.weight", shape: [qDim, d] },
        { suffix: ".k_proj.weight", shape: [kvDim, d] },
        { suffix: `.${vProjName(a)}.weight`, shape: [kvDim, d] },
        { suffix: o, shape: [d, qDim] },
      ];
  if (b(a, "bias")) ps.push({ suffix: ".q_proj.bias", shape: [qDim] }, { suffix: ".k_proj.bias", shape: [kvDim] }, { suffix: `.${vProjName(a)}.bias`, shape: [kvDim] });
  if (b(a, "outBias")) ps.push({ suffix: o.replace(/\.weight$/, ".bias"), shape: [d] });
  const qn = attentionNormNames(a);
  if (a["qkNorm"] === "head" && qn) ps.push({ suffix: qn.q, shape: [hd] }, { suffix: qn.k, shape: [hd] });
  if (a["qkNorm"] === "full" && qn) ps.push({ suffix: qn.q, shape: [qDim] }, { suffix: qn.k, shape: [kvDim] });
  if (b(a, "sinks")) ps.push({ suffix: ".sinks", shape: [n(a, "heads")] });
  // with an output gate, q_proj also produces each head's gate: rows [q_h | gate_h] per head
  if (b(a, "outputGate")) ps[0] = { ...ps[0]!, shape: [2 * qDim, d] };
  // v_name = "k_proj" (Gemma-4's attention_k_eq_v) names k's projection twice: one tensor, listed once
  return ps.filter((p, i) => ps.findIndex((q) => q.suffix === p.suffix) === i);
}

function mlaParams(x: TensorType, a: Attrs): ParamSpec[] {
  const d = lastDim(x) as number;
  const h = n(a, "heads");
  const qk = n(a, "qkNopeDim") + n(a, "qkRopeDim");
  const qLora = a["qLoraRank"] as number | null;
  const kvLora = n(a, "kvLoraRank");
  const ps: ParamSpec[] =
    qLora === null
      ? [{ suffix: ".q_proj.weight", shape: [h * qk, d] }]
      : [
          { suffix: ".q_a_proj.weight", shape: [qLora, d] },
          { suffix: ".q_a_layernorm.weight", shape: [qLora] },
          { suffix: ".q_b_proj.weight", shape: [h * qk, qLora] },
        ];
  ps.push(
    { suffix: ".kv_a_proj_with_mqa.weight", shape: [kvLora + n(a, "qkRopeDim"), d] },
    { suffix: ".kv_a_layernorm.weight", shape: [kvLora] },
    { suffix: ".kv_b_proj.weight", shape: [h * (n(a, "qkNopeDim") + n(a, "vDim")), kvLora] },
    { suffix: ".o_proj.weight", shape: [d, h * n(a, "vDim")] },
  );
  return ps;
}

export const OP_RULES: { readonly [op in Op]: OpRule } = {
  input: { arity: [0, 0], infer: () => err("MOE5001", "input", "inputs carry their declared type"), params: () => [] },
  embed: {
    arity: [1, 1],
    infer([ids], a) {
      if (!isInteger(ids!.dtype)) return err("MOE3008", "'embed'", "integer token ids", ids!.dtype, "Declare the input as i32, like 'input tokens: i32[seq]'.");
      return { dtype: "f32", shape: [...ids!.shape, n(a, "dim")] };
    },
    params: (_i, a) => [{ suffix: ".weight", shape: [n(a, "vocab"), n(a, "dim")] }],
  },
  linear: {
    arity: [1, 1],
    infer([x], a) {
      const w = widthOf(x!, "'linear'");
      if (typeof w !== "number") return w;
      return requireFloat("'linear'", x!) ?? withLast(x!, n(a, "out"));
    },
    params([x], a) {
      const inDim = lastDim(x!) as number;
      const bare = a["layout"] === "in_out" || a["bare"] === true;
      const ps: ParamSpec[] = [{ suffix: bare ? "" : ".weight", shape: linearWeightShape(a, inDim) }];
      if (b(a, "bias")) ps.push({ suffix: bare ? "_bias" : ".bias", shape: [n(a, "out")] });
      return ps;
    },
  },
  rmsnorm: {
    arity: [1, 1],
    infer([x]) {
      const w = widthOf(x!, "'rmsnorm'");
      return typeof w === "number" ? (requireFloat("'rmsnorm'", x!) ?? x!) : w;
    },
    // bare: the weight is the node name itself (Gemma-4's router.scale)
    params: ([x], a) => [{ suffix: b(a, "bare") ? "" : ".weight", shape: [lastDim(x!) as number] }],
  },
  learned_scale: {
    arity: [1, 1],
    infer: ([x]) => requireFloat("'learned_scale'", x!) ?? x!,
    // one value, named by the node name itself (Gemma-4's layer_scalar buffer)
    params: () => [{ suffix: "", shape: [1] }],
  },
  layernorm: {
    arity: [1, 1],
    infer([x]) {
      const w = widthOf(x!, "'layernorm'");
      return typeof w === "number" ? (requireFloat("'layernorm'", x!) ?? x!) : w;
    },
    params: ([x], a) => {
      const d = lastDim(x!) as number;
      return b(a, "bias") ? [{ suffix: ".weight", shape: [d] }, { suffix: ".bias", shape: [d] }] : [{ suffix: ".weight", shape: [d] }];
    },
  },
  silu: elementwise,
  gelu: elementwise,
  relu: elementwise,
  sigmoid: elementwise,
  tanh: elementwise,
  swiglu: {
    arity: [1, 2],
    infer(inputs, a) {
      const [g, u] = inputs;
      const bad = requireFloat("'swiglu'", g!);
      if (bad) return bad;
      if (u === undefined) {
        const w = widthOf(g!, "'swiglu'");
        if (typeof w !== "number") return w;
        if (w % 2 !== 0) return err("MOE3002", "'swiglu'", formatType(g!), "an even last dim", "The single-input form splits the last dim into gate and up halves.");
        if (a["layout"] !== "halves" && a["layout"] !== "interleaved") return err("MOE5001", "swiglu", "layout must be 'halves' or 'interleaved'");
        return withLast(g!, w / 2);
      }
      const shape = broadcastShapes(g!.shape, u.shape);
      if (!shape) return err("MOE3002", "'swiglu'", formatShape(g!.shape), formatShape(u.shape), "Gate and up must have the same shape.");
      return { dtype: g!.dtype, shape };
    },
    params: () => [],
  },
  add: binary("+"),
  sub: binary("-"),
  mul: binary("*"),
  div: binary("/"),
  scale: { arity: [1, 1], infer: ([x]) => requireFloat("a scalar product", x!) ?? x!, params: () => [] },
  attention: {
    arity: [1, 1],
    infer([x], a) {
      const w = widthOf(x!, "'attention'");
      if (typeof w !== "number") return w;
      if (x!.shape.length < 2) return err("MOE3002", "'attention'", formatType(x!), "[seq, d] or [batch, seq, d]", "Attention needs a sequence dimension.");
      if (n(a, "heads") % n(a, "kvHeads") !== 0) return err("MOE4005", `heads (${n(a, "heads")}) must be a multiple of kv_heads (${n(a, "kvHeads")})`, "");
      return requireFloat("'attention'", x!) ?? x!;
    },
    params: ([x], a) => attentionParams(x!, a),
  },
  mla: {
    arity: [1, 1],
    infer([x]) {
      const w = widthOf(x!, "'mla'");
      if (typeof w !== "number") return w;
      if (x!.shape.length < 2) return err("MOE3002", "'mla'", formatType(x!), "[seq, d] or [batch, seq, d]", "Attention needs a sequence dimension.");
      return requireFloat("'mla'", x!) ?? x!;
    },
    params: ([x], a) => mlaParams(x!, a),
  },
  gated_deltanet: {
    arity: [1, 1],
    infer([x], a) {
      const w = widthOf(x!, "'gated_deltanet'");
      if (typeof w !== "number") return w;
      if (x!.shape.length < 2) return err("MOE3002", "'gated_deltanet'", formatType(x!), "[seq, d] or [batch, seq, d]", "Linear attention needs a sequence dimension.");
      if (n(a, "vHeads") % n(a, "kHeads") !== 0) return err("MOE4005", `v_heads (${n(a, "vHeads")}) must be a multiple of k_heads (${n(a, "kHeads")})`, "");
      return requireFloat("'gated_deltanet'", x!) ?? x!;
    },
    params([x], a) {
      const d = lastDim(x!) as number;
      const [Hk, Hv, dk, dv, K] = [n(a, "kHeads"), n(a, "vHeads"), n(a, "kDim"), n(a, "vDim"), n(a, "kernel")];
      const C = 2 * Hk * dk + Hv * dv;
      // Qwen3-Next groups q, k, v, z (and b, a) per key head in two projections; Qwen3.5 has four
      const inputs: ParamSpec[] =
        a["projections"] === "separate"
          ? [
              { suffix: ".in_proj_qkv.weight", shape: [C, d] },
              { suffix: ".in_proj_z.weight", shape: [Hv * dv, d] },
              { suffix: ".in_proj_b.weight", shape: [Hv, d] },
              { suffix: ".in_proj_a.weight", shape: [Hv, d] },
            ]
          : [{ suffix: ".in_proj_qkvz.weight", shape: [2 * Hk * dk + 2 * Hv * dv, d] }, { suffix: ".in_proj_ba.weight", shape: [2 * Hv, d] }];
      return [
        ...inputs,
        { suffix: ".conv1d.weight", shape: [C, 1, K] },
        { suffix: ".dt_bias", shape: [Hv] },
        { suffix: ".A_log", shape: [Hv] },
        { suffix: ".norm.weight", shape: [dv] },
        { suffix: ".out_proj.weight", shape: [d, Hv * dv] },
      ];
    },
  },
  mamba2: {
    arity: [1, 1],
    infer([x], _a) {
      const w = widthOf(x!, "'mamba2'");
      if (typeof w !== "number") return w;
      if (x!.shape.length < 2) return err("MOE3002", "'mamba2'", formatType(x!), "[seq, d] or [batch, seq, d]", "A state-space mixer needs a sequence dimension.");
      return requireFloat("'mamba2'", x!) ?? x!;
    },
    params([x], a) {
      const d = lastDim(x!) as number;
      const [H, P, N, G, K] = [n(a, "heads"), n(a, "headDim"), n(a, "stateDim"), n(a, "groups"), n(a, "kernel")];
      const I = H * P;
      const C = I + 2 * G * N;
      return [
        // rows [z (I) | x·B·C (C) | dt (H)]
        { suffix: ".in_proj.weight", shape: [I + C + H, d] },
        { suffix: ".conv1d.weight", shape: [C, 1, K] },
        ...(b(a, "convBias") ? [{ suffix: ".conv1d.bias", shape: [C] }] : []),
        { suffix: ".dt_bias", shape: [H] },
        { suffix: ".A_log", shape: [H] },
        { suffix: ".D", shape: [H] },
        { suffix: ".norm.weight", shape: [I] },
        { suffix: ".out_proj.weight", shape: [d, I] },
      ];
    },
  },
  mamba: {
    arity: [1, 1],
    infer([x], _a) {
      const w = widthOf(x!, "'mamba'");
      if (typeof w !== "number") return w;
      if (x!.shape.length < 2) return err("MOE3002", "'mamba'", formatType(x!), "[seq, d] or [batch, seq, d]", "A state-space mixer needs a sequence dimension.");
      return requireFloat("'mamba'", x!) ?? x!;
    },
    params([x], a) {
      const d = lastDim(x!) as number;
      const [I, N, R, K] = [n(a, "inner"), n(a, "stateDim"), n(a, "dtRank"), n(a, "kernel")];
      const pb = b(a, "projBias");
      return [
        // rows [x (I) | z (I)]
        { suffix: ".in_proj.weight", shape: [2 * I, d] },
        ...(pb ? [{ suffix: ".in_proj.bias", shape: [2 * I] }] : []),
        { suffix: ".conv1d.weight", shape: [I, 1, K] },
        ...(b(a, "convBias") ? [{ suffix: ".conv1d.bias", shape: [I] }] : []),
        // rows [dt (R) | B (N) | C (N)]
        { suffix: ".x_proj.weight", shape: [R + 2 * N, I] },
        { suffix: ".dt_layernorm.weight", shape: [R] },
        { suffix: ".b_layernorm.weight", shape: [N] },
        { suffix: ".c_layernorm.weight", shape: [N] },
        { suffix: ".dt_proj.weight", shape: [I, R] },
        { suffix: ".dt_proj.bias", shape: [I] },
        { suffix: ".A_log", shape: [I, N] },
        { suffix: ".D", shape: [I] },
        { suffix: ".out_proj.weight", shape: [d, I] },
        ...(pb ? [{ suffix: ".out_proj.bias", shape: [d] }] : []),
      ];
    },
  },
  moe: {
    arity: [1, 2],
    infer(inputs, a) {
      const [x, r] = inputs;
      const w = widthOf(x!, "'moe'");
      if (typeof w !== "number") return w;
      const router = a["router"] as unknown as RouterAttr;
      if (router.pregated !== (r !== undefined)) return err("MOE5001", "moe", "pregated router needs exactly one router input");
      if (r !== undefined) {
        const tokens = x!.shape.slice(0, -1);
        const rt = r.shape.slice(0, -1);
        if (tokens.length !== rt.length || tokens.some((d, i) => d !== rt[i])) return err("MOE4004", formatType(r), formatType(x!));
      }
      return requireFloat("'moe'", x!) ?? x!;
    },
    params(inputs, a) {
      const [x, r] = inputs;
      const router = a["router"] as unknown as RouterAttr;
      const groups = a["experts"] as unknown as ExpertGroupAttr[];
      const total = groups.reduce((s, g) => s + g.count, 0);
      const rIn = lastDim(r ?? x!) as number;
      const prefix = a["routerName"] as string;
      const ps: ParamSpec[] = [{ suffix: `.${prefix}.weight`, shape: [total, rIn] }];
      if (router.bias) ps.push({ suffix: `.${prefix}.bias`, shape: [total] });
      if (router.selectionBias) ps.push({ suffix: selectionBiasSuffix(a), shape: a["selectionBias2d"] === true ? [1, total] : [total] });
      if (router.expertScale) ps.push({ suffix: `.${a["expertScaleName"] as string}`, shape: [total] });
      const gate = a["sharedGateName"] as string | null;
      if (gate !== null) ps.push({ suffix: `.${gate}.weight`, shape: [1, lastDim(x!) as number] });
      return ps;
    },
  },
};
