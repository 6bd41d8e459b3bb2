// Gated DeltaNet linear attention for the reference interpreter (Qwen3-Next's linear_attn layers):
// the projections, the split of Qwen3-Next's grouped in_proj_qkvz / in_proj_ba rows, the gated delta
// rule (runtime/math/deltanet.ts, with the conv and recurrent state carried across calls), the gated
// RMSNorm and the output projection. dsl-spec/SPEC.md §6.12 gives the semantics.
import type { Attrs } from "../ir/graph.js";
import { gatedDeltaRule, type DeltaNetShape } from "../../runtime/math/deltanet.js";
import { linear, rmsnormRows, rows, type Tensor } from "./tensor.js";

/** One layer's state: the conv window [K−1, C] and the recurrent state [Hv, dk, dv]. */
export interface DeltaNetState {
  readonly conv: Float32Array;
  readonly recurrent: Float32Array;
}

export function deltaNetShape(a: Attrs): DeltaNetShape {
  return { kHeads: a["kHeads"] as number, vHeads: a["vHeads"] as number, kDim: a["kDim"] as number, vDim: a["vDim"] as number, kernel: a["kernel"] as number };
}

export function newDeltaNetState(a: Attrs): DeltaNetState {
  const s = deltaNetShape(a);
  const C = 2 * s.kHeads * s.kDim + s.vHeads * s.vDim;
  return { conv: new Float32Array((s.kernel - 1) * C), recurrent: new Float32Array(s.vHeads * s.kDim * s.vDim) };
}

/**
 * Splits Qwen3-Next's grouped projections into the conv input [T, C] = [q | k | v] (all heads), z [T, Hv·dv],
 * b and a [T, Hv]. Per key head h, in_proj_qkvz holds [q (dk), k (dk), v (r·dv), z (r·dv)] and in_proj_ba
 * holds [b (r), a (r)], r = Hv / Hk.
 */
export function splitQkvzBa(s: DeltaNetShape, T: number, qkvz: Float32Array, ba: Float32Array) {
  const { kHeads: Hk, vHeads: Hv, kDim: dk, vDim: dv } = s;
  const r = Hv / Hk;
  const Kd = Hk * dk;
  const C = 2 * Kd + Hv * dv;
  const G = 2 * dk + 2 * r * dv;
  const x = new Float32Array(T * C);
  const z = new Float32Array(T * Hv * dv);
  const b = new Float32Array(T * Hv);
  const a = new Float32Array(T * Hv);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < Hk; h++) {
      const g = t * Hk * G + h * G;
      x.set(qkvz.subarray(g, g + dk), t * C + h * dk);
      x.set(qkvz.subarray(g + dk, g + 2 * dk), t * C + Kd + h * dk);
      x.set(qkvz.subarray(g + 2 * dk, g + 2 * dk + r * dv), t * C + 2 * Kd + h * r * dv);
      z.set(qkvz.subarray(g + 2 * dk + r * dv, g + G), t * Hv * dv + h * r * dv);
      const gb = t * 2 * Hv + h * 2 * r;
      b.set(ba.subarray(gb, gb + r), t * Hv + h * r);
      a.set(ba.subarray(gb + r, gb + 2 * r), t * Hv + h * r);
    }
  }
  return { x, z, b, a };
}

export function gatedDeltaNet(x: Tensor, at: Attrs, w: (suffix: string) => Float32Array, state: DeltaNetState, position: number): Tensor {
  const s = deltaNetShape(at);
  const T = rows(x);
  const [Hk, Hv, dk, dv] = [s.kHeads, s.vHeads, s.kDim, s.vDim];
  const C = 2 * Hk * dk + Hv * dv;
  const p =
    at["projections"] === "separate"
      ? {
          x: linear(x, w(".in_proj_qkv.weight"), C, null, "out_in").data,
          z: linear(x, w(".in_proj_z.weight"), Hv * dv, null, "out_in").data,
          b: linear(x, w(".in_proj_b.weight"), Hv, null, "out_in").data,
          a: linear(x, w(".in_proj_a.weight"), Hv, null, "out_in").data,
        }
      : splitQkvzBa(s, T, linear(x, w(".in_proj_qkvz.weight"), 2 * Hk * dk + 2 * Hv * dv, null, "out_in").data, linear(x, w(".in_proj_ba.weight"), 2 * Hv, null, "out_in").data);
  const core = new Float32Array(T * Hv * dv);
  gatedDeltaRule(s, T, position === 0, p.x, p.b, p.a, w(".conv1d.weight"), w(".A_log"), w(".dt_bias"), state.conv, state.recurrent, core);
  // Gated RMSNorm per value head: w · f32(y·r) · silu(z), each product rounded to f32.
  rmsnormRows(core, dv, w(".norm.weight"), at["normEps"] as number, core);
  for (let i = 0; i < core.length; i++) core[i] = Math.fround(core[i]! * Math.fround(p.z[i]! / (1 + Math.exp(-p.z[i]!))));
  return linear({ shape: [...x.shape.slice(0, -1), Hv * dv], data: core }, w(".out_proj.weight"), x.shape[x.shape.length - 1]!, null, "out_in");
}
