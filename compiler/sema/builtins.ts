// The built-in calls of the language: tensor ops (which add IR nodes), configuration
// records (rope, routers), and scalar functions. Each entry is a signature plus a build
// function; dsl-spec/SPEC.md documents the same table.
import type { Attrs, RopeAttr, RopeScaling } from "../ir/graph.js";
import { lastDim } from "../ir/types.js";
import { anyError, arg, argSpan, bool, num, optNum, str, type Args, type BuildContext, type CallInfo } from "./context.js";
import { buildMoe, MOE_SIG, EXPERT_CHOICE_SIG, TOPK_SIG, SIGMOID_GATE_SIG } from "./moe.js";
import type { ParamSig } from "./signature.js";
import { ERROR, float, int, NONE, type RecordValue, type Value } from "./values.js";

export interface Builtin {
  readonly kind: "op" | "record" | "scalar";
  readonly sig: readonly ParamSig[];
  readonly summary: string;
  build(ctx: BuildContext, args: Args, call: CallInfo): Value;
}

const T = (name: string, doc?: string): ParamSig => ({ name, type: "tensor", positional: true, ...(doc ? { doc } : {}) });
const I = (name: string, extra: Partial<ParamSig> = {}): ParamSig => ({ name, type: "int", ...extra });
const N = (name: string, dflt?: number, extra: Partial<ParamSig> = {}): ParamSig => ({ name, type: "number", ...(dflt === undefined ? {} : { default: float(dflt) }), ...extra });
const B = (name: string, dflt: boolean): ParamSig => ({ name, type: "bool", default: { k: "bool", v: dflt } });
const S = (name: string, values: readonly string[], dflt: string): ParamSig => ({ name, type: { oneOf: values }, default: { k: "str", v: dflt } });
const OPT = { default: NONE, nullable: true } as const;

function tensorOf(args: Args, name: string) {
  const v = arg(args, name);
  return v.k === "tensor" ? v : null;
}

/** Checks a numeric argument's range; reports MOE3007 naming the argument. */
function check(ctx: BuildContext, args: Args, call: CallInfo, name: string, ok: (v: number) => boolean, what: string): boolean {
  const v = arg(args, name);
  if (v.k !== "int" && v.k !== "float") return true;
  if (ok(v.v)) return true;
  ctx.error("MOE3007", argSpan(args, name, call.span), `${call.callee}(${name})`, `${v.v} ${what}`, "");
  return false;
}
const positive = (v: number) => v > 0;

function unaryOp(op: "silu" | "relu" | "sigmoid" | "tanh", summary: string): Builtin {
  return {
    kind: "op",
    sig: [T("x")],
    summary,
    build: (ctx, args, call) => (anyError(args) ? ERROR : ctx.addNode({ op, inputs: [tensorOf(args, "x")!.id] }, call, ctx.weightName(call, op))),
  };
}

function rope(ctx: BuildContext, v: Value, headDim: number, span: CallInfo["span"]): RopeAttr | null | "error" {
  if (v.k === "none") return null;
  if (v.k !== "record") return "error";
  const f = v.fields;
  const dim = f.get("dim")?.k === "int" ? (f.get("dim") as { v: number }).v : headDim;
  if (dim > headDim || dim % 2 !== 0 || dim <= 0) {
    ctx.error("MOE4006", span, `dim ${dim} must be even and at most the head dim ${headDim}`, "Partial rotary rotates the first 'dim' dims of each head.");
    return "error";
  }
  const scaling = f.get("scaling");
  if (scaling?.k === "record" && scaling.ctor === "proportional") {
    const rotated = (scaling.fields.get("rotated") as { v: number }).v;
    if (rotated % 2 !== 0 || rotated < 0 || rotated > dim) {
      ctx.error("MOE4006", span, `proportional(rotated = ${rotated}) must be even, and at most the rotary dim ${dim}`, "Proportional RoPE rotates the pairs (j, j + dim/2) for j < rotated/2.");
      return "error";
    }
  }
  return {
    theta: (f.get("theta") as { v: number }).v,
    dim,
    style: (f.get("style") as { v: string }).v as RopeAttr["style"],
    scaling: scaling && scaling.k === "record" ? ropeScaling(scaling) : null,
  };
}

function ropeScaling(r: RecordValue): RopeScaling {
  const n = (k: string) => (r.fields.get(k) as { v: number }).v;
  const opt = (k: string) => (r.fields.get(k)?.k === "none" ? null : n(k));
  switch (r.ctor) {
    case "linear_scaling":
      return { type: "linear", factor: n("factor") };
    case "dynamic_scaling":
      return { type: "dynamic", factor: n("factor"), originalMax: n("original_max") };
    case "llama3":
      return { type: "llama3", factor: n("factor"), lowFreqFactor: n("low_freq_factor"), highFreqFactor: n("high_freq_factor"), originalMax: n("original_max") };
    case "yarn":
      return {
        type: "yarn", factor: n("factor"), originalMax: n("original_max"), betaFast: n("beta_fast"), betaSlow: n("beta_slow"),
        mscale: n("mscale"), mscaleAllDim: n("mscale_all_dim"), attentionFactor: opt("attention_factor"), truncate: (r.fields.get("truncate") as { v: boolean }).v,
      };
    case "proportional":
      return { type: "proportional", rotated: n("rotated"), factor: n("factor") };
    default: {
      const list = (k: string) => (r.fields.get(k) as unknown as { items: { v: number }[] }).items.map((x) => x.v);
      return {
        type: "longrope", shortFactor: list("short_factor"), longFactor: list("long_factor"), originalMax: n("original_max"), maxPositions: opt("max_positions"),
        attentionFactor: opt("attention_factor"), shortMscale: opt("short_mscale"), longMscale: opt("long_mscale"),
      };
    }
  }
}

/** Llama-4's attention temperature tuning: { floorScale, scale }, or null. */
function temperatureAttr(v: Value): Attrs[string] {
  if (v.k !== "record") return null;
  return { floorScale: (v.fields.get("floor_scale") as { v: number }).v, scale: (v.fields.get("scale") as { v: number }).v };
}

/** YaRN's attention temperature for one mscale: 0.1 · mscale · ln(factor) + 1 (1 when factor ≤ 1). */
export function yarnMscale(factor: number, mscale: number): number {
  return factor <= 1 ? 1 : 0.1 * mscale * Math.log(factor) + 1;
}

/** DeepSeek's MLA softmax scale: qk_dim^-0.5, times mscale(factor, mscale_all_dim)² under YaRN. */
function mlaScale(qkDim: number, r: RopeAttr | null): number {
  const s = r?.scaling;
  const m = s && s.type === "yarn" && s.mscaleAllDim ? yarnMscale(s.factor, s.mscaleAllDim) : 1;
  return (m * m) / Math.sqrt(qkDim);
}

/** A record constructor: configuration checked by its signature, evaluated to a record value. */
function record(sig: readonly ParamSig[], summary: string, validate?: (ctx: BuildContext, args: Args, call: CallInfo) => boolean): Builtin {
  return {
    kind: "record",
    sig,
    summary,
    build(ctx, args, call) {
      if (anyError(args)) return ERROR;
      if (validate && !validate(ctx, args, call)) return ERROR;
      const fields = new Map<string, Value>();
      for (const [k, v] of args) fields.set(k, v.value);
      return { k: "record", ctor: call.callee, fields, name: call.name, span: call.span };
    },
  };
}

/** `result`: "int" always gives an int; "same" gives an int when every input is one. */
function scalarFn(names: readonly string[], summary: string, f: (...xs: number[]) => number, result: "int" | "float" | "same"): Builtin {
  return {
    kind: "scalar",
    sig: names.map((name) => ({ name, type: "number" as const, positional: true })),
    summary,
    build(ctx, args, call) {
      if (anyError(args)) return ERROR;
      const r = f(...names.map((n) => num(args, n)));
      if (!Number.isFinite(r)) return ctx.error("MOE3007", call.span, call.callee, `the result is ${r}`, "");
      const allInt = names.every((n) => arg(args, n).k === "int");
      return (result === "int" || (result === "same" && allInt)) && Number.isSafeInteger(r) ? int(r) : float(r);
    },
  };
}

const SCALING = ["linear_scaling", "dynamic_scaling", "llama3", "yarn", "longrope", "proportional"] as const;

export const BUILTINS: ReadonlyMap<string, Builtin> = new Map<string, Builtin>([
  ["embed", {
    kind: "op", summary: "Token embedding: looks up rows of a [vocab, dim] table.",
    sig: [T("ids"), I("vocab", { positional: true }), I("dim", { positional: true })],
    build(ctx, args, call) {
      if (anyError(args) || !check(ctx, args, call, "vocab", positive, "must be positive") || !check(ctx, args, call, "dim", positive, "must be positive")) return ERROR;
      return ctx.addNode({ op: "embed", inputs: [tensorOf(args, "ids")!.id], attrs: { vocab: num(args, "vocab"), dim: num(args, "dim") } }, call, ctx.weightName(call, "embed"));
    },
  }],
  ["linear", {
    kind: "op", summary: "y = x W^T (+ b): a dense projection of the last dim to 'out'.",
    sig: [T("x"), I("out", { positional: true }), B("bias", false), S("layout", ["out_in", "in_out"], "out_in"), B("bare", false)],
    build(ctx, args, call) {
      if (anyError(args) || !check(ctx, args, call, "out", positive, "must be positive")) return ERROR;
      // bare: the weight is named by the @ name alone, without ".weight" (stacked expert parameters such as DBRX's w1)
      const attrs: Attrs = { out: num(args, "out"), bias: bool(args, "bias"), layout: str(args, "layout"), ...(bool(args, "bare") ? { bare: true } : {}) };
      return ctx.addNode({ op: "linear", inputs: [tensorOf(args, "x")!.id], attrs }, call, ctx.weightName(call, "linear"));
    },
  }],
  ["rmsnorm", {
    kind: "op", summary: "RMS normalisation over the last dim, times a learned weight.",
    sig: [T("x"), N("eps", 1e-6, { positional: true }), N("offset", 0), B("bare", false)],
    build(ctx, args, call) {
      if (anyError(args) || !check(ctx, args, call, "eps", (v) => v >= 0, "must not be negative")) return ERROR;
      // offset: y = (w + offset)·x·r, Qwen3-Next's (1 + w) norms (offset 1); bare: the weight is the @ name itself
      const attrs: Attrs = { eps: num(args, "eps"), ...(num(args, "offset") !== 0 ? { offset: num(args, "offset") } : {}), ...(bool(args, "bare") ? { bare: true } : {}) };
      return ctx.addNode({ op: "rmsnorm", inputs: [tensorOf(args, "x")!.id], attrs }, call, ctx.weightName(call, "rmsnorm"));
    },
  }],
  ["layernorm", {
    kind: "op", summary: "Layer normalisation over the last dim, with learned weight and (optionally) bias.",
    sig: [T("x"), N("eps", 1e-5, { positional: true }), B("bias", true)],
    build(ctx, args, call) {
      if (anyError(args) || !check(ctx, args, call, "eps", (v) => v >= 0, "must not be negative")) return ERROR;
      return ctx.addNode({ op: "layernorm", inputs: [tensorOf(args, "x")!.id], attrs: { eps: num(args, "eps"), bias: bool(args, "bias") } }, call, ctx.weightName(call, "layernorm"));
    },
  }],
  ["learned_scale", {
    kind: "op", summary: "x times one learned value, the parameter named by the @ name itself (Gemma-4's layer_scalar).",
    sig: [T("x")],
    build: (ctx, args, call) => (anyError(args) ? ERROR : ctx.addNode({ op: "learned_scale", inputs: [tensorOf(args, "x")!.id] }, call, ctx.weightName(call, "learned_scale"))),
  }],
  ["silu", unaryOp("silu", "x · sigmoid(x).")],
  ["relu", unaryOp("relu", "max(x, 0).")],
  ["sigmoid", unaryOp("sigmoid", "1 / (1 + exp(-x)).")],
  ["tanh", unaryOp("tanh", "Hyperbolic tangent.")],
  ["gelu", {
    kind: "op", summary: "Gaussian error linear unit, exact (erf) or the tanh approximation.",
    sig: [T("x"), S("approximate", ["none", "tanh"], "none")],
    build: (ctx, args, call) => (anyError(args) ? ERROR : ctx.addNode({ op: "gelu", inputs: [tensorOf(args, "x")!.id], attrs: { approximate: str(args, "approximate") } }, call, ctx.weightName(call, "gelu"))),
  }],
  ["swiglu", {
    kind: "op", summary: "Gated linear unit: gate·sigmoid(alpha·gate)·(up + up_offset), with optional clamping (GPT-OSS).",
    sig: [T("gate"), { name: "up", type: "tensor", positional: true, ...OPT }, N("alpha", 1), N("limit", undefined, OPT), N("up_offset", 0), S("layout", ["halves", "interleaved"], "halves"), S("activation", ["silu", "gelu_tanh"], "silu")],
    build(ctx, args, call) {
      if (anyError(args) || !check(ctx, args, call, "limit", positive, "must be positive")) return ERROR;
      const up = tensorOf(args, "up");
      const inputs = up ? [tensorOf(args, "gate")!.id, up.id] : [tensorOf(args, "gate")!.id];
      // activation "gelu_tanh": GeGLU (Gemma-4's fused experts); alpha, limit and up_offset are SwiGLU's only
      const gelu = str(args, "activation") === "gelu_tanh";
      if (gelu && (num(args, "alpha") !== 1 || optNum(args, "limit") !== null || num(args, "up_offset") !== 0)) {
        return ctx.error("MOE3007", argSpan(args, "activation", call.span), "swiglu(activation)", "\"gelu_tanh\" takes no alpha, limit or up_offset", "");
      }
      const attrs: Attrs = { alpha: num(args, "alpha"), limit: optNum(args, "limit"), upOffset: num(args, "up_offset"), layout: up ? null : str(args, "layout"), ...(gelu ? { activation: "gelu_tanh" } : {}) };
      return ctx.addNode({ op: "swiglu", inputs, attrs }, call, ctx.weightName(call, "swiglu"));
    },
  }],
  ["attention", {
    kind: "op", summary: "Causal self-attention with Q/K/V/O projections: MHA, GQA, MQA, sliding window, q/k norm, sinks.",
    sig: [
      T("x"), I("heads", { positional: true }), I("kv_heads", { positional: true, ...OPT }), I("head_dim", OPT),
      { name: "rope", type: { record: ["rope"] }, ...OPT }, I("window", OPT), { name: "qk_norm", type: { oneOf: ["head", "full"] }, ...OPT },
      N("norm_eps", 1e-6), B("bias", false), B("out_bias", false), B("sinks", false), N("scale", undefined, OPT), N("softcap", undefined, OPT), B("causal", true),
      N("clip_qkv", undefined, OPT), I("chunk", OPT), B("qk_norm_weight", true), B("qk_norm_after_rope", false),
      { name: "q_norm_name", type: "string", default: { k: "str", v: "q_norm" } }, { name: "k_norm_name", type: "string", default: { k: "str", v: "k_norm" } },
      { name: "temperature", type: { record: ["temperature_tuning"] }, ...OPT },
      { name: "qkv_name", type: "string", ...OPT }, { name: "o_name", type: "string", default: { k: "str", v: "o_proj" } },
      B("output_gate", false), N("qk_norm_offset", 0), B("v_norm", false), { name: "v_name", type: "string", default: { k: "str", v: "v_proj" } },
    ],
    build(ctx, args, call) {
      if (anyError(args)) return ERROR;
      const x = tensorOf(args, "x")!;
      const d = lastDim(x.type);
      const heads = num(args, "heads");
      const kvHeads = optNum(args, "kv_heads") ?? heads;
      for (const k of ["heads", "kv_heads", "head_dim", "window", "clip_qkv", "softcap", "scale", "chunk"]) if (!check(ctx, args, call, k, positive, "must be positive")) return ERROR;
      let headDim = optNum(args, "head_dim");
      if (headDim === null) {
        if (typeof d !== "number" || d % heads !== 0) return ctx.error("MOE4005", call.span, `the model width ${d} is not divisible by heads = ${heads}`, "Give head_dim explicitly.");
        headDim = d / heads;
      }
      const r = rope(ctx, arg(args, "rope"), headDim, argSpan(args, "rope", call.span));
      if (r === "error") return ERROR;
      const attrs: Attrs = {
        heads, kvHeads, headDim, rope: r as unknown as Attrs[string], window: optNum(args, "window"), qkNorm: arg(args, "qk_norm").k === "none" ? null : str(args, "qk_norm"),
        normEps: num(args, "norm_eps"), bias: bool(args, "bias"), outBias: bool(args, "out_bias"), sinks: bool(args, "sinks"),
        scale: optNum(args, "scale") ?? 1 / Math.sqrt(headDim), softcap: optNum(args, "softcap"), causal: bool(args, "causal"),
        clipQkv: optNum(args, "clip_qkv"),
        // The options below are left out of the attributes at their defaults (IR dumps stay as they were).
        ...(optNum(args, "chunk") !== null ? { chunk: optNum(args, "chunk") } : {}),
        ...(!bool(args, "qk_norm_weight") ? { qkNormWeight: false } : {}),
        ...(bool(args, "qk_norm_after_rope") ? { qkNormAfterRope: true } : {}),
        ...(str(args, "q_norm_name") !== "q_norm" ? { qNormName: str(args, "q_norm_name") } : {}),
        ...(str(args, "k_norm_name") !== "k_norm" ? { kNormName: str(args, "k_norm_name") } : {}),
        ...(arg(args, "temperature").k === "record" ? { temperature: temperatureAttr(arg(args, "temperature")) } : {}),
        ...(arg(args, "qkv_name").k === "str" ? { qkvName: str(args, "qkv_name") } : {}),
        ...(str(args, "o_name") !== "o_proj" ? { oName: str(args, "o_name") } : {}),
        ...(bool(args, "output_gate") ? { outputGate: true } : {}),
        ...(num(args, "qk_norm_offset") !== 0 ? { qkNormOffset: num(args, "qk_norm_offset") } : {}),
        ...(bool(args, "v_norm") ? { vNorm: true } : {}),
        ...(str(args, "v_name") !== "v_proj" ? { vName: str(args, "v_name") } : {}),
      };
      if (attrs["vName"] !== undefined && attrs["qkvName"] !== undefined) return ctx.error("MOE4005", argSpan(args, "v_name", call.span), "v_name with a fused q/k/v projection (qkv_name) is not supported", "");
      if (attrs["outputGate"] !== undefined && attrs["qkvName"] !== undefined) return ctx.error("MOE4005", argSpan(args, "output_gate", call.span), "output_gate with a fused q/k/v projection (qkv_name) is not supported", "");
      if (attrs["qkvName"] !== undefined && bool(args, "bias")) return ctx.error("MOE4005", argSpan(args, "qkv_name", call.span), "a fused q/k/v projection (qkv_name) with biases is not supported", "");
      if (attrs["chunk"] !== undefined && !bool(args, "causal")) return ctx.error("MOE4005", argSpan(args, "chunk", call.span), "chunked attention (chunk) needs causal = true", "");
      for (const k of ["q_norm_name", "k_norm_name", "o_name", "v_name", ...(arg(args, "qkv_name").k === "str" ? ["qkv_name"] : [])]) {
        if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(str(args, k))) return ctx.error("MOE3007", argSpan(args, k, call.span), `attention(${k})`, `"${str(args, k)}" is not a weight name (letters, digits, '_' and '.')`, "");
      }
      return ctx.addNode({ op: "attention", inputs: [x.id], attrs }, call, ctx.weightName(call, "attention"));
    },
  }],
  ["mla", {
    kind: "op", summary: "DeepSeek multi-head latent attention: low-rank compressed KV with a decoupled rotary key.",
    sig: [
      T("x"), I("heads", { positional: true }), I("kv_lora_rank"), I("qk_nope_dim"), I("qk_rope_dim"), I("v_dim"), I("q_lora_rank", OPT),
      { name: "rope", type: { record: ["rope"] }, ...OPT }, N("norm_eps", 1e-6), N("scale", undefined, OPT),
    ],
    build(ctx, args, call) {
      if (anyError(args)) return ERROR;
      for (const k of ["heads", "kv_lora_rank", "qk_nope_dim", "qk_rope_dim", "v_dim", "q_lora_rank"]) if (!check(ctx, args, call, k, positive, "must be positive")) return ERROR;
      const ropeDim = num(args, "qk_rope_dim");
      const r = rope(ctx, arg(args, "rope"), ropeDim, argSpan(args, "rope", call.span));
      if (r === "error") return ERROR;
      const qkDim = num(args, "qk_nope_dim") + ropeDim;
      const attrs: Attrs = {
        heads: num(args, "heads"), kvLoraRank: num(args, "kv_lora_rank"), qkNopeDim: num(args, "qk_nope_dim"), qkRopeDim: ropeDim,
        vDim: num(args, "v_dim"), qLoraRank: optNum(args, "q_lora_rank"), rope: r as unknown as Attrs[string], normEps: num(args, "norm_eps"),
        scale: optNum(args, "scale") ?? mlaScale(qkDim, r),
      };
      return ctx.addNode({ op: "mla", inputs: [tensorOf(args, "x")!.id], attrs }, call, ctx.weightName(call, "mla"));
    },
  }],
  ["gated_deltanet", {
    kind: "op", summary: "Gated DeltaNet linear attention (Qwen3-Next): causal conv1d, the gated delta rule over a recurrent state, gated RMSNorm.",
    sig: [T("x"), I("k_heads"), I("v_heads"), I("k_dim"), I("v_dim"), I("conv_kernel", { default: int(4) }), N("norm_eps", 1e-6), S("projections", ["grouped", "separate"], "grouped")],
    build(ctx, args, call) {
      if (anyError(args)) return ERROR;
      for (const k of ["k_heads", "v_heads", "k_dim", "v_dim", "conv_kernel"]) if (!check(ctx, args, call, k, positive, "must be positive")) return ERROR;
      const attrs: Attrs = {
        kHeads: num(args, "k_heads"), vHeads: num(args, "v_heads"), kDim: num(args, "k_dim"), vDim: num(args, "v_dim"), kernel: num(args, "conv_kernel"), normEps: num(args, "norm_eps"),
        ...(str(args, "projections") === "separate" ? { projections: "separate" } : {}),
      };
      return ctx.addNode({ op: "gated_deltanet", inputs: [tensorOf(args, "x")!.id], attrs }, call, ctx.weightName(call, "gated_deltanet"));
    },
  }],
  ["mamba2", {
    kind: "op", summary: "Mamba-2 mixer (Nemotron-H): in_proj to z, x·B·C and dt, causal conv1d + SiLU, the selective scan over an SSM state, RMSNorm in groups of silu(z)-gated output, out_proj.",
    sig: [T("x"), I("heads"), I("head_dim"), I("state_dim"), I("groups", { default: int(1) }), I("conv_kernel", { default: int(4) }), B("conv_bias", true), N("dt_min", 0), N("norm_eps", 1e-5)],
    build(ctx, args, call) {
      if (anyError(args)) return ERROR;
      for (const k of ["heads", "head_dim", "state_dim", "groups", "conv_kernel"]) if (!check(ctx, args, call, k, positive, "must be positive")) return ERROR;
      if (!check(ctx, args, call, "groups", (g) => num(args, "heads") % g === 0, "must divide heads")) return ERROR;
      if (!check(ctx, args, call, "dt_min", (v) => v >= 0, "must not be negative")) return ERROR;
      const attrs: Attrs = {
        heads: num(args, "heads"), headDim: num(args, "head_dim"), stateDim: num(args, "state_dim"), groups: num(args, "groups"), kernel: num(args, "conv_kernel"),
        convBias: bool(args, "conv_bias"), dtMin: num(args, "dt_min"), normEps: num(args, "norm_eps"),
      };
      return ctx.addNode({ op: "mamba2", inputs: [tensorOf(args, "x")!.id], attrs }, call, ctx.weightName(call, "mamba2"));
    },
  }],
  ["mamba", {
    kind: "op", summary: "Mamba-1 mixer (Jamba): in_proj to x and z, causal conv1d + SiLU, x_proj to dt, B and C (each RMSNorm-ed), dt_proj, the selective scan over an SSM state, D skip, y·silu(z), out_proj.",
    sig: [T("x"), I("inner"), I("state_dim"), I("dt_rank"), I("conv_kernel", { default: int(4) }), B("conv_bias", true), B("proj_bias", false), N("norm_eps", 1e-6)],
    build(ctx, args, call) {
      if (anyError(args)) return ERROR;
      for (const k of ["inner", "state_dim", "dt_rank", "conv_kernel"]) if (!check(ctx, args, call, k, positive, "must be positive")) return ERROR;
      const attrs: Attrs = {
        inner: num(args, "inner"), stateDim: num(args, "state_dim"), dtRank: num(args, "dt_rank"), kernel: num(args, "conv_kernel"),
        convBias: bool(args, "conv_bias"), projBias: bool(args, "proj_bias"), normEps: num(args, "norm_eps"),
      };
      return ctx.addNode({ op: "mamba", inputs: [tensorOf(args, "x")!.id], attrs }, call, ctx.weightName(call, "mamba"));
    },
  }],
  ["moe", { kind: "op", sig: MOE_SIG, summary: "A mixture-of-experts layer: router, routed experts, optional shared expert.", build: buildMoe }],
  ["topk", record(TOPK_SIG, "Token-choice routing: each token picks its top-k experts.")],
  ["expert_choice", record(EXPERT_CHOICE_SIG, "Expert-choice routing: each expert picks its top tokens.")],
  ["sigmoid_gate", record(SIGMOID_GATE_SIG, "A learned sigmoid gate on the shared expert's output (Qwen2-MoE).")],
  ["rope", record(
    [N("theta", 10000), I("dim", OPT), S("style", ["half", "interleaved"], "half"), { name: "scaling", type: { record: SCALING }, ...OPT }],
    "Rotary position embedding: base theta, rotated dims, half-split or interleaved pairs, optional scaling.",
    (ctx, args, call) => check(ctx, args, call, "theta", positive, "must be positive"),
  )],
  ["temperature_tuning", record(
    [I("floor_scale", { default: int(8192) }), N("scale", 0.1)],
    "Llama-4 attention temperature tuning: queries at position p scaled by 1 + scale·ln(1 + floor((p + 1) / floor_scale)).",
    (c, a, k) => check(c, a, k, "floor_scale", positive, "must be positive"),
  )],
  ["linear_scaling", record([N("factor")], "RoPE position interpolation: positions divided by 'factor'.", (c, a, k) => check(c, a, k, "factor", positive, "must be positive"))],
  ["dynamic_scaling", record([N("factor"), I("original_max")], "Dynamic NTK RoPE scaling beyond original_max positions.", (c, a, k) => check(c, a, k, "factor", positive, "must be positive"))],
  ["llama3", record([N("factor"), N("low_freq_factor", 1), N("high_freq_factor", 4), I("original_max", { default: int(8192) })], "Llama 3 frequency-dependent RoPE scaling.", (c, a, k) => check(c, a, k, "factor", positive, "must be positive"))],
  ["yarn", record(
    [N("factor"), I("original_max"), N("beta_fast", 32), N("beta_slow", 1), N("mscale", 1), N("mscale_all_dim", 0), N("attention_factor", undefined, OPT), B("truncate", true)],
    "YaRN RoPE scaling (NTK-by-parts interpolation with attention temperature).",
    (c, a, k) => check(c, a, k, "factor", positive, "must be positive"),
  )],
  ["longrope", record(
    [{ name: "short_factor", type: { listOf: "number" } }, { name: "long_factor", type: { listOf: "number" } }, I("original_max"), I("max_positions", OPT),
      N("attention_factor", undefined, OPT), N("short_mscale", undefined, OPT), N("long_mscale", undefined, OPT)],
    "LongRoPE per-frequency rescaling (Phi-3 / Phi-3.5-MoE).",
  )],
  ["proportional", record([I("rotated"), N("factor", 1)], "Gemma-4's proportional RoPE: the frequencies of the whole dim for the first rotated/2 pairs, none for the rest.", (c, a, k) => check(c, a, k, "factor", positive, "must be positive"))],
  ["floor", scalarFn(["x"], "Largest integer ≤ x.", Math.floor, "int")],
  ["ceil", scalarFn(["x"], "Smallest integer ≥ x.", Math.ceil, "int")],
  ["min", scalarFn(["a", "b"], "The smaller of two numbers.", Math.min, "same")],
  ["max", scalarFn(["a", "b"], "The larger of two numbers.", Math.max, "same")],
  ["sqrt", scalarFn(["x"], "Square root.", Math.sqrt, "float")],
  ["log", scalarFn(["x"], "Natural logarithm.", Math.log, "float")],
]);

/** Names that may be used as experts without being defined: MoE++'s zero and copy experts. */
export const BUILTIN_EXPERTS = ["zero", "identity"] as const;
