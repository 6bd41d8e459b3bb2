// The `moe` construct and its routers. Routing options are validated here, with messages
// that say which combination is wrong; the exact semantics are in dsl-spec/SPEC.md.
import type { Attrs, RouterAttr, Scoring } from "../ir/graph.js";
import { lastDim } from "../ir/types.js";
import { anyError, arg, argSpan, type Args, type BuildContext, type CallInfo } from "./context.js";
import type { ParamSig } from "./signature.js";
import { ERROR, float, NONE, type RecordValue, type Value } from "./values.js";

const OPT = { default: NONE, nullable: true } as const;
const SCORING = ["softmax", "sigmoid", "softmax_topk", "sparsemixer"] as const;

export const TOPK_SIG: readonly ParamSig[] = [
  { name: "k", type: "int", positional: true, doc: "The number of experts each token uses." },
  { name: "scoring", type: { oneOf: SCORING }, default: { k: "str", v: "softmax" } },
  { name: "renormalize", type: "bool", default: { k: "bool", v: false } },
  { name: "bias", type: "bool", default: { k: "bool", v: false } },
  { name: "selection_bias", type: "bool", default: { k: "bool", v: false } },
  { name: "groups", type: "int", default: { k: "int", v: 1 } },
  { name: "topk_groups", type: "int", ...OPT },
  { name: "group_scoring", type: { oneOf: ["max", "top2_sum"] }, default: { k: "str", v: "top2_sum" } },
  { name: "scale", type: "number", default: float(1) },
  { name: "capacity_factor", type: "number", ...OPT },
  { name: "jitter_eps", type: "number", default: float(0.01) },
  { name: "input", type: "tensor", ...OPT },
  { name: "weight_input", type: "bool", default: { k: "bool", v: false }, doc: "Multiply each expert's input, not its output, by the routing weight (Llama-4)." },
  { name: "selection_bias_name", type: "string", ...OPT, doc: "Where the selection bias is stored, relative to the moe block (default: '<router>.e_score_correction_bias')." },
  { name: "selection_bias_2d", type: "bool", default: { k: "bool", v: false }, doc: "The selection bias is stored [1, E] (ERNIE-4.5's moe_statics)." },
  { name: "expert_scale", type: "string", ...OPT, doc: "A learned [E] vector, stored under this name relative to the moe block, that multiplies each chosen expert's mixing weight (Gemma-4's router.per_expert_scale)." },
];

export const EXPERT_CHOICE_SIG: readonly ParamSig[] = [
  { name: "capacity_factor", type: "number", positional: true, doc: "Each expert takes capacity_factor × tokens / experts tokens." },
  { name: "scoring", type: { oneOf: ["softmax", "sigmoid"] }, default: { k: "str", v: "softmax" } },
  { name: "bias", type: "bool", default: { k: "bool", v: false } },
  { name: "input", type: "tensor", ...OPT },
];

export const SIGMOID_GATE_SIG: readonly ParamSig[] = [];

export const MOE_SIG: readonly ParamSig[] = [
  { name: "x", type: "tensor", positional: true },
  { name: "experts", type: "experts", doc: "Write the experts like 'experts = 8 of SwiGLU(ffn = 14336)'." },
  { name: "router", type: { record: ["topk", "expert_choice"] }, doc: "Write the router like 'router = topk(k = 2, renormalize = true)'." },
  { name: "shared", type: "expert", ...OPT },
  { name: "shared_gate", type: "any", ...OPT },
  { name: "flat_stacks", type: "bool", default: { k: "bool", v: false }, doc: "Stacked expert tensors are stored [experts·rows, ...] (DBRX), not [experts, rows, ...]." },
];

function routerAttr(ctx: BuildContext, r: RecordValue, total: number, span: CallInfo["span"]): RouterAttr | null {
  const f = (k: string) => r.fields.get(k)!;
  const n = (k: string) => (f(k) as { v: number }).v;
  const bad = (msg: string, hint = "") => {
    ctx.error("MOE4001", r.span ?? span, msg, hint);
    return null;
  };
  if (r.ctor === "expert_choice") {
    if (!(n("capacity_factor") > 0)) return bad(`capacity_factor must be positive, got ${n("capacity_factor")}`);
    return {
      choice: "expert", k: 0, scoring: (f("scoring") as { v: string }).v as Scoring, renormalize: false, bias: (f("bias") as { v: boolean }).v,
      selectionBias: false, groups: 1, topkGroups: 1, groupScoring: "max", scale: 1, capacityFactor: n("capacity_factor"), jitterEps: 0, pregated: f("input").k === "tensor",
    };
  }
  const k = n("k");
  const scoring = (f("scoring") as { v: string }).v as Scoring;
  const groups = n("groups");
  const topkGroups = f("topk_groups").k === "none" ? groups : n("topk_groups");
  const cf = f("capacity_factor").k === "none" ? null : n("capacity_factor");
  if (k < 1 || k > total) return bad(`k = ${k} must be between 1 and the number of experts (${total})`);
  if (groups < 1 || total % groups !== 0) return bad(`groups = ${groups} must divide the number of experts (${total})`, "DeepSeek-V3 uses 256 experts in 8 groups.");
  if (topkGroups < 1 || topkGroups > groups) return bad(`topk_groups = ${topkGroups} must be between 1 and groups (${groups})`);
  if (k > topkGroups * (total / groups)) return bad(`k = ${k} is more than the ${topkGroups * (total / groups)} experts in the ${topkGroups} kept groups`);
  if (cf !== null && !(cf > 0)) return bad(`capacity_factor must be positive, got ${cf}`, "Leave it out (none) for dropless routing.");
  if (scoring === "sparsemixer" && k !== 2) return bad(`sparsemixer routing picks exactly 2 experts, not ${k}`, "Use k = 2 as Phi-3.5-MoE does.");
  if (scoring === "softmax_topk" && (f("renormalize") as { v: boolean }).v) {
    return bad("softmax_topk already normalises over the chosen k experts; renormalize = true is redundant", "Drop renormalize, or use scoring = \"softmax\" with renormalize = true (the same result).");
  }
  return {
    choice: "token", k, scoring, renormalize: (f("renormalize") as { v: boolean }).v, bias: (f("bias") as { v: boolean }).v,
    selectionBias: (f("selection_bias") as { v: boolean }).v, groups, topkGroups, groupScoring: (f("group_scoring") as { v: string }).v as RouterAttr["groupScoring"],
    scale: n("scale"), capacityFactor: cf, jitterEps: n("jitter_eps"), pregated: f("input").k === "tensor",
    ...((f("weight_input") as { v: boolean }).v ? { weightInput: true } : {}),
    ...(f("expert_scale").k === "str" ? { expertScale: true } : {}),
  };
}

export function buildMoe(ctx: BuildContext, args: Args, call: CallInfo): Value {
  if (anyError(args)) return ERROR;
  const x = arg(args, "x") as Extract<Value, { k: "tensor" }>;
  const width = lastDim(x.type);
  if (typeof width !== "number") return ctx.error("MOE3002", call.span, "'moe'", `[..., ${String(width)}]`, "a tensor whose last dim is a number", "");
  const experts = arg(args, "experts") as Extract<Value, { k: "experts" }>;
  const total = experts.groups.reduce((s, g) => s + g.count, 0);
  if (total < 1 || total > 1 << 16) return ctx.error("MOE4002", argSpan(args, "experts", call.span), `a moe layer needs 1 to 65536 experts, not ${total}`, "");
  const routerRec = arg(args, "router") as RecordValue;
  const router = routerAttr(ctx, routerRec, total, argSpan(args, "router", call.span));
  if (!router) return ERROR;
  const name = ctx.weightName(call, "moe");
  const groups = ctx.expertGroups(experts.groups, width, name, argSpan(args, "experts", call.span));
  if (!groups) return ERROR;
  const subgraphs = { ...groups.subgraphs };
  const shared = arg(args, "shared");
  if (shared.k === "expert") {
    const g = ctx.sharedExpert(shared, width, name, argSpan(args, "shared", call.span));
    if (!g) return ERROR;
    subgraphs["shared"] = g;
  }
  let sharedGateName: string | null = null;
  const gate = arg(args, "shared_gate");
  if (gate.k === "bool" && gate.v) sharedGateName = "shared_expert_gate";
  else if (gate.k === "record" && gate.ctor === "sigmoid_gate") sharedGateName = gate.name ?? "shared_expert_gate";
  else if (!(gate.k === "none" || (gate.k === "bool" && !gate.v))) {
    return ctx.error("MOE3001", argSpan(args, "shared_gate", call.span), "moe(shared_gate)", "sigmoid_gate(), true or none", gate.k, "");
  }
  if (sharedGateName !== null && shared.k !== "expert") {
    return ctx.error("MOE4002", argSpan(args, "shared_gate", call.span), "shared_gate needs a shared expert", "Add 'shared = SwiGLU(ffn = ...)'.");
  }
  const routerInput = routerRec.fields.get("input");
  const inputs = routerInput?.k === "tensor" ? [x.id, routerInput.id] : [x.id];
  // Where the selection bias is stored, when not beside the router weight (MiniMax-M2, ERNIE-4.5, Hunyuan-V3).
  const biasName = routerRec.fields.get("selection_bias_name");
  const bias2d = (routerRec.fields.get("selection_bias_2d") as { v: boolean } | undefined)?.v === true;
  if ((biasName?.k === "str" || bias2d) && !router.selectionBias) {
    return ctx.error("MOE4001", argSpan(args, "router", call.span), "selection_bias_name and selection_bias_2d need selection_bias = true", "");
  }
  if (biasName?.k === "str" && !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(biasName.v)) {
    return ctx.error("MOE3007", argSpan(args, "router", call.span), "topk(selection_bias_name)", `"${biasName.v}" is not a weight name (letters, digits, '_' and '.')`, "");
  }
  const scaleName = routerRec.fields.get("expert_scale");
  if (scaleName?.k === "str" && !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(scaleName.v)) {
    return ctx.error("MOE3007", argSpan(args, "router", call.span), "topk(expert_scale)", `"${scaleName.v}" is not a weight name (letters, digits, '_' and '.')`, "");
  }
  const attrs: Attrs = {
    router: router as unknown as Attrs[string],
    ...(scaleName?.k === "str" ? { expertScaleName: scaleName.v } : {}),
    routerName: routerRec.name ?? "gate",
    ...(biasName?.k === "str" ? { selectionBiasName: biasName.v } : {}),
    ...(bias2d ? { selectionBias2d: true } : {}),
    experts: groups.attrs as unknown as Attrs[string],
    numExperts: total,
    sharedGateName,
    ...((arg(args, "flat_stacks") as { v?: boolean }).v === true ? { flatStacks: true } : {}),
  };
  return ctx.addNode({ op: "moe", inputs, attrs, subgraphs }, call, name);
}
