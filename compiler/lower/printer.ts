// The readable text form of a plan (`moec ir --dump-after PLAN_PASS`, `moec ir --plan`): its
// weights, values, slots and caches, then one line per step from the step table's
// description, expert bodies indented under their step.
import type { Plan, Step, WRef } from "../../runtime/plan/plan.js";
import { stepSpec } from "../../runtime/plan/steps.js";

export function printPlan(plan: Plan): string {
  const lines: string[] = [`plan ${plan.model} (format ${plan.format} v${plan.version}): ${plan.steps.length} steps, ${plan.values.length} values in ${plan.slots.length} slots, ${plan.caches.length} KV caches, ${plan.weights.length} weights`];
  const val = (v: number) => `v${v}`;
  const w = (r: WRef) => ("w" in r ? plan.weights[r.w]?.name ?? `w${r.w}` : `local${r.local}`);
  lines.push("weights:");
  plan.weights.forEach((x, i) => lines.push(`  w${i} ${x.name} [${x.shape.join(", ")}] ${x.format}`));
  lines.push(`values (width→slot): ${plan.values.map((v, i) => `v${i}:${v.width}→s${v.slot}`).join(" ")}`);
  lines.push(`input ${plan.input.name} = v${plan.input.value}; output ${plan.output.name} = v${plan.output.value} [T, ${plan.output.width}]`);
  const visit = (steps: readonly Step[], indent: string) => {
    steps.forEach((s, i) => {
      const spec = stepSpec(s);
      const d = spec.describe(s, val, w);
      const reads = spec.hostReads?.(s) ?? [];
      lines.push(`${indent}${i}: ${d.op.padEnd(10)} ${d.io}   ${d.detail}${reads.length ? `   [reads back: ${reads.join("; ")}]` : ""}`);
      if (s.op === "moe") {
        s.groups.forEach((g, gi) => {
          if (g.input < 0) return lines.push(`${indent}  group ${gi}: ${g.count} × ${g.kind}`);
          lines.push(`${indent}  group ${gi}: ${g.count} × ${g.kind} (v${g.input} → v${g.output}), weights per expert: ${g.bind[0]?.map(([wi]) => plan.weights[wi]!.name).join(", ") ?? ""} …${g.fusedDown ? "; down projection fused with the weighted scatter-add" : ""}`);
          visit(g.steps, indent + "    ");
        });
        if (s.shared) {
          lines.push(`${indent}  shared (v${s.shared.input} → v${s.shared.output})${s.sharedGate ? `, gate ${w(s.sharedGate)}` : ""}${s.shared.fusedDown ? "; folded in as an always-chosen expert (down projection fused with the scatter-add)" : ""}`);
          visit(s.shared.steps, indent + "    ");
        }
      }
    });
  };
  lines.push("steps:");
  visit(plan.steps, "  ");
  return lines.join("\n");
}
