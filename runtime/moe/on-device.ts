// MoE steps on a device with grouped kernels (runtime/kernels/grouped.ts): nothing is read
// back. The router and route_topk leave offsets, token indices and weights in device memory,
// and every later kernel finds each row's expert there. A SwiGLU expert body (fuse.ts) at
// decode is three dispatches — moe_route, moe_gate_up (gather, gate, up, activation),
// moe_down_combine (down projection and weighted combine) — plus the shared expert, if any;
// otherwise the body runs step by step over all assignments (in passes of at most maxTokens
// rows), its matmuls as moe_matmul, then scatter_add_rows. Host routing (capacity factors,
// expert choice: cross-token) and expert groups other than one ffn group keep the catalogue
// path, which reads the offsets back (launch.ts).
import { enumCode } from "../kernels/catalogue.js";
import { COMBINE_MAX_T, ROUTE_FUSED_MAX_T, type GroupedKernels } from "../kernels/grouped.js";
import type { Bind, LaunchContext } from "../launch.js";
import type { MoeStep, Step, WRef } from "../plan/plan.js";
import type { StorageFormat } from "../plan/formats.js";
import { groupedBodyOk, swigluBody } from "./fuse.js";
import { moeScratch } from "./scratch.js";

/** The storage formats the grouped kernels read expert weights in. */
const GROUPED_WEIGHT_FORMATS: readonly StorageFormat[] = ["f32", "f16", "bf16"];

/**
 * Expert e's address of local parameter j is base + e·stride 4-byte words, and its format;
 * null when the experts are not laid out regularly, or are stored in a format the grouped
 * kernels do not read.
 */
function strided(x: LaunchContext, binds: readonly Bind[], j: number): { base: number; stride: number; format: number } | null {
  const first = x.wq({ local: j }, binds[0]!);
  if (!GROUPED_WEIGHT_FORMATS.includes(first.format)) return null;
  const base = first.at;
  const stride = binds.length > 1 ? (x.wq({ local: j }, binds[1]!).at - base) / 4 : 0;
  for (let e = 0; e < binds.length; e++) {
    const w = x.wq({ local: j }, binds[e]!);
    if (w.at !== base + 4 * e * stride || w.format !== first.format) return null;
  }
  return Number.isInteger(stride) && stride >= 0 && base % 4 === 0 ? { base, stride, format: enumCode("format", first.format) } : null;
}

const plans = new WeakMap<MoeStep, boolean>();

/** Whether this step can run on the device's grouped kernels. */
export function runsOnDevice(x: LaunchContext, s: MoeStep): boolean {
  let ok = plans.get(s);
  if (ok === undefined) {
    const g = s.groups[0];
    // Llama-4's weights on the expert input (router.weightInput) take the catalogue path, which scales the gathered rows.
    ok = s.routing === "kernel" && !s.router.weightInput && s.groups.length === 1 && g !== undefined && g.kind === "ffn" && g.count === s.experts && groupedBodyOk(g.steps);
    if (ok) {
      const locals = new Set<number>();
      for (const st of g!.steps) if (st.op === "matmul") for (const r of [st.weight, st.bias]) if (r && "local" in r) locals.add(r.local);
      // (experts stored in a format other than f32, f16 or bf16 take the catalogue path: matmul_q)
      for (const j of locals) if (!strided(x, g!.bind, j)) ok = false;
    }
    plans.set(s, ok);
  }
  return ok;
}

/** Runs the step; `shared` adds the shared expert (launch.ts's, with its gate). */
export function moeOnDevice(x: LaunchContext, s: MoeStep, T: number, gk: GroupedKernels, shared: () => void): void {
  const { k } = x;
  const g = s.groups[0]!;
  const d = x.width(s.x);
  const E = s.experts;
  const ro = s.router;
  const A = T * ro.k;
  const at = moeScratch(T, E, ro);
  const [logitsAt, offsetsAt, tokAt, wAt, workAt] = [at.logits, at.offsets, at.tokens, at.weights, at.work].map((o) => x.layout.scratch + o) as [number, number, number, number, number];
  const opt = (r: WRef | null) => (r ? x.w(r, null) : 0);
  const routeArgs = [T, E, ro.k, enumCode("scoring", ro.scoring), opt(s.selectionBias), ro.groups, ro.topkGroups, enumCode("group_scoring", ro.groupScoring), ro.renormalize ? 1 : 0, ro.scale, ro.jitterEps, offsetsAt, tokAt, wAt, workAt] as const;
  if (T <= ROUTE_FUSED_MAX_T) gk.moe_route(x.v(s.routerInput), x.w(s.routerWeight, null), opt(s.routerBias), x.width(s.routerInput), logitsAt, ...routeArgs);
  else {
    k.matmul(x.v(s.routerInput), x.w(s.routerWeight, null), opt(s.routerBias), logitsAt, T, x.width(s.routerInput), E, 0, E);
    k.route_topk(logitsAt, ...routeArgs);
  }
  const out = x.v(s.out);
  const sw = swigluBody(g);
  const maxRows = x.layout.maxTokens;
  if (sw && A <= maxRows && T <= COMBINE_MAX_T) {
    const gate = strided(x, g.bind, sw.gate)!;
    const up = strided(x, g.bind, sw.up)!;
    const down = strided(x, g.bind, sw.down)!;
    if (gate.stride === up.stride && gate.format === up.format) {
      gk.moe_gate_up(x.v(s.x), tokAt, gate.base, up.base, gate.stride, x.v(sw.h), offsetsAt, A, 0, 0, E, sw.K, sw.F, sw.act, sw.alpha, sw.limit, sw.upOffset, gate.format);
      gk.moe_down_combine(x.v(sw.h), down.base, down.stride, tokAt, wAt, offsetsAt, out, T, A, E, sw.F, sw.N, 0, E, 0, down.format);
      if (s.shared) shared();
      return;
    }
  }
  k.fill(out, T * d, 0);
  for (let row0 = 0; row0 < A; row0 += maxRows) {
    const n = Math.min(maxRows, A - row0);
    k.gather_rows(x.v(s.x), tokAt + 4 * row0, x.v(g.input), n, d);
    for (const st of g.steps) bodyStep(x, st, n, row0, E, offsetsAt, g.bind, gk);
    k.scatter_add_rows(x.v(g.output), tokAt + 4 * row0, wAt + 4 * row0, out, n, d);
  }
  if (s.shared) shared();
}

function bodyStep(x: LaunchContext, st: Step, n: number, row0: number, E: number, offsetsAt: number, binds: readonly Bind[], gk: GroupedKernels): void {
  if (st.op !== "matmul") return void x.runBody([st], n, null);
  const w = strided(x, binds, (st.weight as { local: number }).local)!;
  const b = st.bias ? strided(x, binds, (st.bias as { local: number }).local)! : { base: 0, stride: 0 };
  gk.moe_matmul(x.v(st.x), w.base, w.stride, b.base, b.stride, x.v(st.out), offsetsAt, n, row0, 0, E, st.K, st.N, st.layout === "in_out" ? 1 : 0, w.format);
}
