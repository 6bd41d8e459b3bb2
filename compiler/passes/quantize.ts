// Weight-only quantization (a plan pass): `--quantize SCHEME` gives every quantizable weight —
// the matmul weights [N, K] and embedding tables, whose kernels take any storage format — the
// scheme's format (compiler/quant/scheme.ts), or its fallback where rows are not whole blocks;
// a mixed-precision assignment (compiler/quant/mixed.ts) names each weight's format. Routers,
// norms, biases and GPT-OSS's [K, N] expert weights stay as they are. The weights are converted
// when they are read into the model (compiler/weights/bound.ts); the pass only decides.
import type { StorageFormat } from "../../runtime/plan/formats.js";
import { formattableWeights } from "../../runtime/plan/steps.js";
import { fitFormat } from "../quant/scheme.js";
import type { PlanPass } from "./pass.js";

/** One weight's decision, for reports. */
export interface QuantChoice {
  readonly name: string;
  readonly shape: readonly number[];
  readonly from: StorageFormat;
  readonly to: StorageFormat;
  /** Why `to` differs from what the scheme asked for, if it does. */
  readonly fallback?: string;
}

export const quantize: PlanPass = {
  level: "plan",
  name: "quantize",
  summary: "Weight-only quantization (--quantize int8 | int4:gG | q4_k | q8_0 | … | budget=BITS): matmul and embedding weights to a storage format.",
  options: [{ name: "quantize", summary: "the scheme (none: weights keep their formats)", default: "none" }],
  run(plan, ctx) {
    const q = ctx.quantize;
    if (!q) return plan;
    if (q.kind === "budget") throw new Error("quantize: a budget scheme must be solved into per-weight formats (compiler/quant/mixed.ts) before the pass runs");
    const ok = formattableWeights(plan);
    const choices: QuantChoice[] = [];
    const weights = plan.weights.map((w, i) => {
      if (!ok.has(i)) return w;
      const want = q.kind === "uniform" ? q.format : (q.formats.get(w.name) ?? q.others);
      const K = w.shape[w.shape.length - 1] ?? 1;
      const to = fitFormat(want, K);
      choices.push({ name: w.name, shape: w.shape, from: w.format, to, ...(to !== want ? { fallback: `rows of ${K} are not whole ${want} blocks` } : {}) });
      return to === w.format ? w : { ...w, format: to };
    });
    ctx.note?.("quantize", choices);
    return { ...plan, weights };
  },
};
