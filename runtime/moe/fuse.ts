// Recognising an expert body the grouped kernels fuse (runtime/kernels/grouped.ts): the
// SwiGLU expert of Mixtral, Qwen, OLMoE, DeepSeek… as lowering writes it — gate and up
// projections of the body's input, silu(gate)·up (two steps) or swiglu(gate, up), and the
// down projection to the body's output, no biases, W stored [N, K]. Anything else runs step
// by step (still on the device, with GPU-side bounds).
import type { MoeGroup, Step, StepOf } from "../plan/plan.js";

export interface SwiGluBody {
  /** Local parameter indices of the gate, up and down weights. */
  readonly gate: number;
  readonly up: number;
  readonly down: number;
  /** The value between the activation and the down projection (holds h). */
  readonly h: number;
  readonly F: number;
  readonly K: number;
  readonly N: number;
  /** 0: swiglu(alpha, limit, upOffset); 1: silu(g)·u. */
  readonly act: 0 | 1;
  readonly alpha: number;
  readonly limit: number;
  readonly upOffset: number;
}

const local = (s: StepOf<"matmul">) => ("local" in s.weight && s.bias === null && s.layout === "out_in" ? s.weight.local : -1);

export function swigluBody(g: MoeGroup): SwiGluBody | null {
  const st = g.steps;
  const mm = st.filter((s): s is StepOf<"matmul"> => s.op === "matmul");
  if (g.kind !== "ffn" || mm.length !== 3 || mm.some((m) => local(m) < 0)) return null;
  const [p, q, down] = [mm[0]!, mm[1]!, mm[2]!];
  if (p.x !== g.input || q.x !== g.input || down.out !== g.output || st[st.length - 1] !== down || p.N !== q.N || down.K !== p.N) return null;
  const mid = st.filter((s) => s.op !== "matmul");
  const common = { down: local(down), h: down.x, F: p.N, K: p.K, N: down.N };
  if (mid.length === 1 && mid[0]!.op === "swiglu") {
    const sw = mid[0] as StepOf<"swiglu">;
    if (sw.out !== down.x) return null;
    const gate = sw.gate === p.out && sw.up === q.out ? p : sw.gate === q.out && sw.up === p.out ? q : null;
    if (!gate) return null;
    return { ...common, gate: local(gate), up: local(gate === p ? q : p), act: 0, alpha: sw.alpha, limit: sw.limit ?? 0, upOffset: sw.upOffset };
  }
  if (mid.length === 2 && mid[0]!.op === "unary" && mid[1]!.op === "binary") {
    const u = mid[0] as StepOf<"unary">;
    const b = mid[1] as StepOf<"binary">;
    if (u.kind !== "silu" || b.kind !== "mul" || b.out !== down.x) return null;
    const gate = u.x === p.out ? p : u.x === q.out ? q : null;
    const up = gate === p ? q : p;
    if (!gate || !((b.a === u.out && b.b === up.out) || (b.b === u.out && b.a === up.out))) return null;
    return { ...common, gate: local(gate), up: local(up), act: 1, alpha: 1, limit: 0, upOffset: 0 };
  }
  return null;
}

/** Steps a body may contain for the step-by-step grouped path: matmuls on expert weights, and weightless elementwise steps. */
export function groupedBodyOk(steps: readonly Step[]): boolean {
  return steps.every((s) => (s.op === "matmul" ? "local" in s.weight && (s.bias === null || "local" in s.bias) : ["unary", "binary", "scale", "clamp", "swiglu", "split", "copy"].includes(s.op)));
}
