// The Mamba-2 mixer for the reference interpreter (Nemotron-H's mixer layers): the input projection, its split
// into z, the conv input x·B·C and dt, the selective scan and the RMSNorm in groups of its silu(z)-gated output
// (runtime/math/mamba2.ts, with the conv and SSM state carried across calls), and the output projection.
// dsl-spec/SPEC.md §6.13 gives the semantics.
import type { Attrs } from "../ir/graph.js";
import { mamba2Channels, mamba2Scan, type Mamba2Shape } from "../../runtime/math/mamba2.js";
import type { DeltaNetState } from "./deltanet.js";
import { linear, rows, type Tensor } from "./tensor.js";

export function mamba2Shape(a: Attrs): Mamba2Shape {
  return { heads: a["heads"] as number, headDim: a["headDim"] as number, stateDim: a["stateDim"] as number, groups: a["groups"] as number, kernel: a["kernel"] as number };
}

/** One layer's state: the conv window [K−1, C] and the SSM state [H, P, N]. */
export function newMamba2State(a: Attrs): DeltaNetState {
  const s = mamba2Shape(a);
  return { conv: new Float32Array((s.kernel - 1) * mamba2Channels(s)), recurrent: new Float32Array(s.heads * s.headDim * s.stateDim) };
}

export function mamba2Mixer(x: Tensor, at: Attrs, w: (suffix: string) => Float32Array, state: DeltaNetState, position: number): Tensor {
  const s = mamba2Shape(at);
  const T = rows(x);
  const I = s.heads * s.headDim;
  const C = mamba2Channels(s);
  const W = I + C + s.heads;
  const proj = linear(x, w(".in_proj.weight"), W, null, "out_in").data;
  const z = new Float32Array(T * I);
  const xbc = new Float32Array(T * C);
  const dt = new Float32Array(T * s.heads);
  for (let t = 0; t < T; t++) {
    z.set(proj.subarray(t * W, t * W + I), t * I);
    xbc.set(proj.subarray(t * W + I, t * W + I + C), t * C);
    dt.set(proj.subarray(t * W + I + C, (t + 1) * W), t * s.heads);
  }
  const y = new Float32Array(T * I);
  const convB = at["convBias"] === true ? w(".conv1d.bias") : null;
  // the scan, then the gated RMSNorm (gate first: norm_before_gate false) in groups of I/G
  mamba2Scan(s, T, position === 0, at["dtMin"] as number, at["normEps"] as number, xbc, dt, z, w(".conv1d.weight"), convB, w(".A_log"), w(".dt_bias"), w(".D"), w(".norm.weight"), state.conv, state.recurrent, y);
  return linear({ shape: [...x.shape.slice(0, -1), I], data: y }, w(".out_proj.weight"), x.shape[x.shape.length - 1]!, null, "out_in");
}
