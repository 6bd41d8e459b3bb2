// The plan verifier: the invariants every plan pass must keep, checked from the step table.
// It runs after every pass in tests and with `--verify`; a failure is a compiler bug (MOE5003).
import { diagnostic, type Diagnostic } from "../diagnostics/diagnostic.js";
import type { Plan, Step, WRef } from "../../runtime/plan/plan.js";
import { fitsFormat, isStorageFormat } from "../../runtime/plan/formats.js";
import { formattableWeights, stepSpec } from "../../runtime/plan/steps.js";

export function verifyPlan(plan: Plan, where = plan.model): Diagnostic[] {
  const problems: string[] = [];
  const fail = (msg: string) => problems.push(msg);
  const nv = plan.values.length;
  plan.weights.forEach((w, i) => {
    if (!isStorageFormat(w.format)) fail(`weight ${i} (${w.name}) has unknown format ${String(w.format)}`);
    if (!w.shape.every((d) => Number.isInteger(d) && d > 0)) fail(`weight ${i} (${w.name}) has shape [${w.shape.join(", ")}]`);
  });
  plan.values.forEach((v, i) => {
    const slot = plan.slots[v.slot];
    if (slot === undefined) fail(`value ${i} is in slot ${v.slot}, which does not exist`);
    else if (slot < v.width) fail(`value ${i} (width ${v.width}) is in slot ${v.slot}, which is only ${slot} wide`);
  });
  const checkValue = (op: string, v: number, at: string) => {
    if (!(Number.isInteger(v) && v >= 0 && v < nv)) fail(`${at}: ${op} uses value ${v}, which does not exist`);
  };
  const checkWeight = (s: Step, r: WRef, at: string, locals: number) => {
    if ("w" in r ? !(r.w >= 0 && r.w < plan.weights.length) : !(r.local >= 0 && r.local < locals)) fail(`${at}: ${s.op} uses weight ${JSON.stringify(r)}, which does not exist`);
  };
  const visit = (steps: readonly Step[], at: string, locals: number) => {
    steps.forEach((s, i) => {
      const here = `${at}step ${i}`;
      const spec = stepSpec(s);
      const { reads, writes } = spec.values(s);
      [...reads, ...writes].forEach((v) => checkValue(s.op, v, here));
      spec.weights(s).forEach((r) => r && checkWeight(s, r, here, locals));
      const cache = spec.cache?.(s);
      if (cache !== undefined && !(cache >= 0 && cache < plan.caches.length)) fail(`${here}: ${s.op} uses KV cache ${cache}, which does not exist`);
      if (s.op === "moe") {
        const total = s.groups.reduce((n, g) => n + g.count, 0);
        if (total !== s.experts) fail(`${here}: moe groups hold ${total} experts, the router ${s.experts}`);
        s.groups.forEach((g, gi) => {
          if (g.input < 0) return;
          if (g.bind.length !== g.count) fail(`${here}: group ${gi} binds ${g.bind.length} experts, not ${g.count}`);
          const n = g.bind[0]?.length ?? 0;
          g.bind.forEach((b) => b.forEach(([w]) => !(w >= 0 && w < plan.weights.length) && fail(`${here}: group ${gi} binds weight ${w}, which does not exist`)));
          visit(g.steps, `${here} group ${gi} `, n);
        });
        if (s.shared) visit(s.shared.steps, `${here} shared `, 0);
      }
    });
  };
  visit(plan.steps, "", 0);
  // A weight in a storage format other than f32 must be read only by kernels that take formats, in whole blocks.
  const formattable = formattableWeights(plan);
  plan.weights.forEach((w, i) => {
    if (w.format === "f32" || !isStorageFormat(w.format)) return;
    if (!formattable.has(i)) fail(`weight ${i} (${w.name}) is stored as ${w.format} but a kernel that reads only f32 uses it`);
    if (!fitsFormat(w.format, w.shape[w.shape.length - 1] ?? 1)) fail(`weight ${i} (${w.name}) [${w.shape.join(", ")}]: a row is not whole ${w.format} blocks`);
  });
  checkValue("the plan", plan.input.value, "input");
  checkValue("the plan", plan.output.value, "output");
  return problems.map((p) => diagnostic("MOE5003", null, where, p));
}
