// Fused expert kernels: an optional second table next to the catalogue (catalogue.ts). The
// catalogue is what every device must implement — the `Kernels` type is mapped over it, so a
// kernel added there breaks every backend that lacks it. These are optimisations, not
// semantics: each computes what a short sequence of catalogue kernels computes, so a device
// may leave them out. One that has them sets `Device.fused` and lists them in its backend's
// `Capabilities.fused`; the fuse-experts plan pass (compiler/passes/fuse-experts.ts) rewrites
// a plan to use them only for a target that lists them, and with the pass off (or for any other
// target) the plan runs the unfused catalogue steps. Parameters follow the catalogue's roles.
import type { KernelSpec, Split } from "./catalogue.js";

const COLUMNS: Split = { range: ["n0", "n1"], extent: "N", align: 8, work: (a) => a("T") * a("K") * (a("n1") - a("n0")) };

export const FUSED_KERNELS = {
  glu_matmul: {
    params: [
      ["x", "f32 in"], ["wg", "f32 in"], ["wu", "f32 in"], ["w_row", "i32"], ["bg", "f32 in?"], ["bu", "f32 in?"], ["b_step", "i32"], ["y", "f32 out"],
      ["T", "i32"], ["K", "i32"], ["N", "i32"], ["n0", "i32"], ["n1", "i32"], ["alpha", "f32"], ["limit", "f32"], ["up_offset", "f32"],
    ],
    split: { ...COLUMNS, work: (a) => 2 * a("T") * a("K") * (a("n1") - a("n0")) },
    doc: "gate and up projections in one pass over x with the activation in the epilogue: for t < T and n0 ≤ n < n1, `g = Σ_k x[t·K + k]·wg[n·w_row + k] (+ bg[n·b_step])`, `u` the same over wu and bu, each summed to f32, then `y[t·N + n] = swiglu(g, u)` exactly as the catalogue's swiglu with alpha, limit, up_offset (SwiGLU: 1, 0, 0; GPT-OSS: 1.702, 7, 1). w_row = K for two [N, K] tensors or the halves of one [2N, K]; 2K for interleaved rows (wu = wg + K floats). Columns outside [n0, n1) are untouched.",
  },
  matmul_scatter_add: {
    params: [
      ["x", "f32 in"], ["w", "f32 in"], ["bias", "f32 in?"], ["idx", "i32 in"], ["weights", "f32 in?"], ["dst", "f32 inout"],
      ["T", "i32"], ["K", "i32"], ["N", "i32"], ["n0", "i32"], ["n1", "i32"],
    ],
    split: COLUMNS,
    doc: "the down projection with the weighted scatter-add in its epilogue: for t < T and n0 ≤ n < n1, `y = Σ_k x[t·K + k]·w[n·K + k] (+ bias[n])` summed to f32, then `dst[idx[t]·N + n] += f32(weights[t]·y)` (weights 0: weight 1) — what matmul then scatter_add_rows compute. The idx rows must be distinct (one expert's tokens are). Columns outside [n0, n1) are untouched.",
  },
} as const satisfies Record<string, KernelSpec>;

export type FusedName = keyof typeof FUSED_KERNELS;
export const FUSED_NAMES = Object.keys(FUSED_KERNELS) as FusedName[];

type Numbers<P extends readonly unknown[]> = { readonly [I in keyof P]: number };
export type FusedArgs<K extends FusedName> = Numbers<(typeof FUSED_KERNELS)[K]["params"]>;
/** Every fused kernel: what a device that sets `Device.fused` launches. */
export type FusedKernels = { readonly [K in FusedName]: (...args: FusedArgs<K>) => void };
