// Expert fusion (a plan pass): inside each MoE expert body and the shared expert, the gate and
// up projections and their SwiGLU become one `glu` step (one pass over the rows, the
// activation in the epilogue: the fused kernel glu_matmul), and the down projection takes the
// routing weights and the scatter-add into the layer output in its epilogue (the group's or
// shared expert's `fusedDown`: matmul_scatter_add). The shared expert so becomes one more
// expert that every token chose, with weight 1 or its sigmoid gate.
//
// It is opt-in (--enable-pass fuse-experts; not measured at least as fast on WASM here), and
// runs only for a target whose backend lists both fused kernels (Capabilities.fused: they are
// optional, runtime/kernels/fused.ts); otherwise the plan keeps the unfused steps. The fused kernels read f32
// weights only, so an expert whose weights a format or quantize pass kept in another format
// (bf16, int8, GGUF blocks: matmul_q) stays unfused, as do weights stored [K, N] (GPT-OSS,
// Llama-4, DBRX stacked experts: matmul_kn) — the kernels take nn.Linear rows.
import type { GluOperand, MoeGroup, MoeStep, Plan, Step, StepOf, WRef } from "../../runtime/plan/plan.js";
import { FUSED_NAMES } from "../../runtime/kernels/fused.js";
import { stepSpec } from "../../runtime/plan/steps.js";
import type { PlanPass } from "./pass.js";

/** Which weights of a body are f32 (a group's locals for every expert it binds). */
type IsF32 = (r: WRef) => boolean;

/** What the pass did, for reports. */
export interface FusionNote {
  readonly glu: number;
  readonly fusedDown: number;
  readonly sharedFolded: number;
  readonly unfused: number;
}

export const fuseExperts: PlanPass = {
  level: "plan",
  name: "fuse-experts",
  // Opt-in: on this project's shared 2-core machine the fused kernels did not measure at least
  // as fast as the unfused ones on WASM (BENCHMARKS.md, "Expert fusion"); --enable-pass fuse-experts.
  optIn: true,
  summary: "Fuse each expert's gate/up projections with SwiGLU into one matmul, and its down projection with the weighted scatter-add; fold a shared expert in as an always-chosen expert (targets with the fused kernels, f32 [N, K] weights).",
  run(plan, ctx) {
    if (!FUSED_NAMES.every((k) => ctx.fused?.includes(k))) return plan;
    const note = { glu: 0, fusedDown: 0, sharedFolded: 0, unfused: 0 };
    const steps = plan.steps.map((s) => (s.op === "moe" ? fuseMoe(plan, s, note) : s));
    ctx.note?.("fuse-experts", note satisfies FusionNote);
    return note.glu + note.fusedDown + note.sharedFolded === 0 ? plan : { ...plan, steps };
  },
};

function fuseMoe(plan: Plan, s: MoeStep, note: { glu: number; fusedDown: number; sharedFolded: number; unfused: number }): MoeStep {
  const groups = s.groups.map((g): MoeGroup => {
    if (g.kind !== "ffn" || g.input < 0) return g;
    const isF32: IsF32 = (r) => ("w" in r ? plan.weights[r.w]!.format === "f32" : g.bind.every((b) => plan.weights[b[r.local]![0]]!.format === "f32"));
    const body = fuseBody(g.steps, g.output, isF32);
    if (!body) {
      note.unfused++;
      return g;
    }
    note.glu += body.glu;
    if (body.fusedDown) note.fusedDown++;
    return { ...g, steps: body.steps, ...(body.fusedDown ? { fusedDown: true } : {}) };
  });
  let shared = s.shared;
  if (shared) {
    const body = fuseBody(shared.steps, shared.output, (r) => "w" in r && plan.weights[r.w]!.format === "f32");
    if (body) {
      note.glu += body.glu;
      if (body.fusedDown) note.sharedFolded++;
      shared = { ...shared, steps: body.steps, ...(body.fusedDown ? { fusedDown: true } : {}) };
    } else note.unfused++;
  }
  return { ...s, groups, shared };
}

/** The body with its gate/up/SwiGLU runs as `glu` steps and whether its down projection fuses; null if nothing fuses. */
function fuseBody(steps: readonly Step[], output: number, isF32: IsF32): { steps: Step[]; glu: number; fusedDown: boolean } | null {
  const out: Step[] = [];
  let glu = 0;
  for (let i = 0; i < steps.length; ) {
    const m = matchGlu(steps, i, isF32);
    if (m && m.internal.every((v) => readsOutside(steps, i, m.length, v) === 0 && v !== output)) {
      out.push(m.step);
      glu++;
      i += m.length;
    } else out.push(steps[i++]!);
  }
  const last = out[out.length - 1];
  const fusedDown = last !== undefined && plainMatmul(last, isF32) && last.out === output && readsOutside(out, out.length - 1, 1, output) === 0;
  return glu === 0 && !fusedDown ? null : { steps: out, glu, fusedDown };
}

/** An f32 nn.Linear matmul (the fused kernels' weights). */
function plainMatmul(s: Step, isF32: IsF32): s is StepOf<"matmul"> {
  return s.op === "matmul" && s.layout === "out_in" && isF32(s.weight) && (s.bias === null || isF32(s.bias));
}

const operand = (mm: StepOf<"matmul">, offset: number, biasOffset: number): GluOperand => ({ weight: mm.weight, offset, bias: mm.bias, biasOffset });

interface GluMatch {
  readonly step: StepOf<"glu">;
  readonly length: number;
  /** Values the matched steps pass among themselves (no other step may read them). */
  readonly internal: readonly number[];
}

/**
 * The three forms lowering writes, at steps[i]: matmul g, matmul u, silu, mul (separate gate
 * and up tensors); matmul g, matmul u, swiglu; one matmul to [2N], split (halves or even/odd
 * columns), swiglu (a fused gate_up tensor).
 */
function matchGlu(steps: readonly Step[], i: number, isF32: IsF32): GluMatch | null {
  const [a, b, c, d] = [steps[i], steps[i + 1], steps[i + 2], steps[i + 3]];
  if (!a || !plainMatmul(a, isF32)) return null;
  const swiglu = { alpha: 1, limit: null, upOffset: 0 };
  if (b && plainMatmul(b, isF32) && b.x === a.x && b.K === a.K && b.N === a.N) {
    const [g, u] = [a.out, b.out];
    if (c?.op === "unary" && c.kind === "silu" && c.x === g && d?.op === "binary" && d.kind === "mul" && ((d.a === c.out && d.b === u) || (d.b === c.out && d.a === u))) {
      return { step: { op: "glu", x: a.x, out: d.out, K: a.K, N: a.N, gate: operand(a, 0, 0), up: operand(b, 0, 0), rowStride: a.K, biasStride: 1, ...swiglu, unfused: { gate: g, up: u } }, length: 4, internal: [g, u, c.out] };
    }
    if (c?.op === "swiglu" && ((c.gate === g && c.up === u) || (c.gate === u && c.up === g))) {
      const [gm, um] = c.gate === g ? [a, b] : [b, a];
      return { step: { op: "glu", x: a.x, out: c.out, K: a.K, N: a.N, gate: operand(gm, 0, 0), up: operand(um, 0, 0), rowStride: a.K, biasStride: 1, alpha: c.alpha, limit: c.limit, upOffset: c.upOffset, unfused: { gate: gm.out, up: um.out } }, length: 3, internal: [g, u] };
    }
    return null;
  }
  if (b?.op === "split" && b.x === a.out && a.N % 2 === 0 && c?.op === "swiglu" && c.gate === b.a && c.up === b.b) {
    const [N, K] = [a.N / 2, a.K];
    const [gate, up, rowStride, biasStride] = b.interleaved ? [operand(a, 0, 0), operand(a, K, 1), 2 * K, 2] : [operand(a, 0, 0), operand(a, N * K, N), K, 1];
    return { step: { op: "glu", x: a.x, out: c.out, K, N, gate, up, rowStride, biasStride, alpha: c.alpha, limit: c.limit, upOffset: c.upOffset, unfused: b.interleaved ? null : { gate: b.a, up: b.b } }, length: 3, internal: [a.out, b.a, b.b] };
  }
  return null;
}

/** How many steps outside steps[i, i + n) read value v. */
function readsOutside(steps: readonly Step[], i: number, n: number, v: number): number {
  let count = 0;
  steps.forEach((s, j) => {
    if (j >= i && j < i + n) return;
    if (stepSpec(s).values(s).reads.includes(v)) count++;
  });
  return count;
}
