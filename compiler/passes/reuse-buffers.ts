// Buffer reuse (a plan pass): values whose live ranges do not overlap share an activation slot
// (compiler/lower/slots.ts). Without it every value keeps a slot of its own: the same results
// in more memory.
import { assignSlots } from "../lower/slots.js";
import type { PlanPass } from "./pass.js";

export const reuseBuffers: PlanPass = {
  level: "plan",
  name: "reuse-buffers",
  summary: "Share activation buffers between values whose lifetimes do not overlap.",
  run(plan) {
    const widths = plan.values.map((v) => v.width);
    const { slots, valueSlots } = assignSlots(plan.steps, widths, [plan.input.value], [plan.output.value]);
    return { ...plan, slots, values: widths.map((width, i) => ({ width, slot: valueSlots[i]! })) };
  },
};
