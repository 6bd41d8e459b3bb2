// Shipped formats (a plan pass): each weight keeps the storage format its checkpoint ships it
// in — a bf16 checkpoint stays bf16, a Q4_K GGUF stays Q4_K — where the kernels that read it
// take formats (matmul weights [N, K], embedding tables) and the target reads that format.
// Every other weight is float32 (norms, biases, routers: small, and read by float kernels).
// Switched off (--disable-pass weight-formats), every weight is converted to float32 on load.
import { STORAGE_FORMATS, fitsFormat } from "../../runtime/plan/formats.js";
import { formattableWeights } from "../../runtime/plan/steps.js";
import type { PlanPass } from "./pass.js";

export const weightFormats: PlanPass = {
  level: "plan",
  name: "weight-formats",
  summary: "Keep each matmul and embedding weight in the format its checkpoint ships (bf16, f16, GGUF blocks), not float32.",
  run(plan, ctx) {
    if (!ctx.shipped) return plan;
    const formats = ctx.formats ?? STORAGE_FORMATS;
    const ok = formattableWeights(plan);
    let changed = false;
    const weights = plan.weights.map((w, i) => {
      const f = ctx.shipped!(w.name);
      if (f === null || f === "f32" || !ok.has(i) || !formats.includes(f) || !fitsFormat(f, w.shape[w.shape.length - 1] ?? 1)) return w.format === "f32" ? w : { ...w, format: "f32" as const };
      changed = true;
      return { ...w, format: f };
    });
    return changed ? { ...plan, weights } : plan;
  },
};
