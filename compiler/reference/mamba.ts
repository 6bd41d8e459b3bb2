// The Mamba-1 mixer for the reference interpreter (Jamba's mixer layers): the input projection and its split into
// x and z, the causal conv1d + SiLU, x_proj to dt, B and C with their RMSNorms, dt_proj, the selective scan with
// its D skip and silu(z) gate (runtime/math/mamba.ts, with the conv and SSM state carried across calls), and the
// output projection. dsl-spec/SPEC.md §6.14 gives the semantics.
import type { Attrs } from "../ir/graph.js";
import { causalConv1d, mambaScan } from "../../runtime/math/mamba.js";
import type { DeltaNetState } from "./deltanet.js";
import { linear, rmsnormRows, rows, type Tensor } from "./tensor.js";

/** One layer's state: the conv window [K−1, I] and the SSM state [I, N]. */
export function newMambaState(a: Attrs): DeltaNetState {
  const [I, N, K] = [a["inner"] as number, a["stateDim"] as number, a["kernel"] as number];
  return { conv: new Float32Array((K - 1) * I), recurrent: new Float32Array(I * N) };
}

/** Columns [from, from + len) of each row of a [T, width] matrix. */
function columns(m: Float32Array, T: number, width: number, from: number, len: number): Float32Array {
  const out = new Float32Array(T * len);
  for (let t = 0; t < T; t++) out.set(m.subarray(t * width + from, t * width + from + len), t * len);
  return out;
}

export function mambaMixer(x: Tensor, at: Attrs, w: (suffix: string) => Float32Array, state: DeltaNetState, position: number): Tensor {
  const [I, N, R, K] = [at["inner"] as number, at["stateDim"] as number, at["dtRank"] as number, at["kernel"] as number];
  const eps = at["normEps"] as number;
  const projBias = at["projBias"] === true;
  const T = rows(x);
  const d = x.shape[x.shape.length - 1]!;
  const fresh = position === 0;
  const proj = linear(x, w(".in_proj.weight"), 2 * I, projBias ? w(".in_proj.bias") : null, "out_in").data;
  const xs = columns(proj, T, 2 * I, 0, I);
  const z = columns(proj, T, 2 * I, I, I);
  const conv = new Float32Array(T * I);
  causalConv1d(I, K, T, fresh, xs, w(".conv1d.weight"), at["convBias"] === true ? w(".conv1d.bias") : null, state.conv, conv);
  const ssm = linear({ shape: [T, I], data: conv }, w(".x_proj.weight"), R + 2 * N, null, "out_in").data;
  const dtIn = rmsnormRows(columns(ssm, T, R + 2 * N, 0, R), R, w(".dt_layernorm.weight"), eps);
  const B = rmsnormRows(columns(ssm, T, R + 2 * N, R, N), N, w(".b_layernorm.weight"), eps);
  const C = rmsnormRows(columns(ssm, T, R + 2 * N, R + N, N), N, w(".c_layernorm.weight"), eps);
  const dt = linear({ shape: [T, R], data: dtIn }, w(".dt_proj.weight"), I, w(".dt_proj.bias"), "out_in").data;
  const y = new Float32Array(T * I);
  mambaScan(I, N, T, fresh, conv, dt, B, C, z, w(".A_log"), w(".D"), state.recurrent, y);
  return linear({ shape: [...x.shape.slice(0, -1), I], data: y }, w(".out_proj.weight"), d, projBias ? w(".out_proj.bias") : null, "out_in");
}
