// Grouped kernels: an optional second table next to the catalogue (catalogue.ts), for devices
// that cannot afford reading back mid-pass (a GPU: a read costs a submit and a round trip).
// They take the routing where route_topk left it — the E+1 offsets, token indices and weights
// in device memory — and find each row's expert there (GPU-side bounds), so an MoE step runs
// with nothing read back between layers. A device that implements them sets `Device.grouped`,
// and runtime/launch.ts runs MoE steps through them (moe-device.ts); every other device keeps
// the catalogue path, unchanged. Parameters follow the catalogue's roles.
//
// Rows are the assignments permuted by expert (route_topk's order): global row g belongs to
// expert e when offsets[e] ≤ g < offsets[e+1]. A call covers rows [row0, row0 + rows) (row i
// of its x/y is global row row0 + i) and experts [e0, e1); `w` is expert e0's weight and
// expert e0 + j's is j·w_stride 4-byte words further (stacked tensors, and per-expert tensors
// laid out one expert after another, both qualify). Expert weights are stored as `wfmt`: f32,
// f16 or bf16 (the two-byte formats as 2·w_stride elements a word-aligned expert); other
// storage formats take the catalogue path.
import type { KernelSpec } from "./catalogue.js";

export const GROUPED_KERNELS = {
  moe_matmul: {
    params: [
      ["x", "f32 in"], ["w", "f32 in"], ["w_stride", "i32"], ["bias", "f32 in?"], ["bias_stride", "i32"], ["y", "f32 out"], ["offsets", "i32 in"],
      ["rows", "i32"], ["row0", "i32"], ["e0", "i32"], ["e1", "i32"], ["K", "i32"], ["N", "i32"], ["kn", "bool"], ["wfmt", "enum format"],
    ],
    doc: "for each row i < rows whose global row row0 + i belongs to an expert e in [e0, e1): `y[i·N + n] = Σ_k x[i·K + k]·W_e[n, k] (+ bias_e[n])`, W_e [N, K] (or [K, N] when kn) at w + (e − e0)·w_stride words (wfmt: f32, f16 or bf16). Rows of other experts are untouched.",
  },
  moe_gate_up: {
    params: [
      ["x", "f32 in"], ["tok", "i32 in"], ["wg", "f32 in"], ["wu", "f32 in"], ["w_stride", "i32"], ["h", "f32 out"], ["offsets", "i32 in"],
      ["rows", "i32"], ["row0", "i32"], ["e0", "i32"], ["e1", "i32"], ["K", "i32"], ["F", "i32"], ["act", "i32"], ["alpha", "f32"], ["limit", "f32"], ["up_offset", "f32"], ["wfmt", "enum format"],
    ],
    doc: "an expert's gate and up projections with its activation, the token rows gathered on the way: for rows i as in moe_matmul, with t = tok[row0 + i], g = x[t]·Wg_eᵀ, u = x[t]·Wu_eᵀ (Wg_e, Wu_e [F, K], j·w_stride words apart, in wfmt): `h[i·F + f] = act(g, u)`; act 0: swiglu(g, u; alpha, limit, up_offset) as the catalogue's swiglu, 1: f32(silu(g))·u.",
  },
  moe_down_combine: {
    params: [
      ["h", "f32 in"], ["wd", "f32 in"], ["w_stride", "i32"], ["tok", "i32 in"], ["weights", "f32 in"], ["offsets", "i32 in"], ["out", "f32 out"],
      ["T", "i32"], ["A", "i32"], ["E", "i32"], ["K", "i32"], ["N", "i32"], ["e0", "i32"], ["e1", "i32"], ["accumulate", "bool"], ["wfmt", "enum format"],
    ],
    doc: "the down projections and the weighted combine in one: for t < T and n < N, `out[t·N + n] = Σ_p f32(weights[p]·y_p[n])` over the rows p < A with tok[p] = t (A/T of them) in row order, starting from 0 (from out when accumulate), where y_p = h[p]·Wd_eᵀ for p's expert e (Wd_e [N, K], (e − e0)·w_stride words past wd, in wfmt), counting only experts in [e0, e1) — what fill(0) + moe_matmul + scatter_add_rows compute. Calls over consecutive expert ranges, the later ones accumulating, add in the same order.",
  },
  moe_route: {
    params: [
      ["x", "f32 in"], ["wr", "f32 in"], ["br", "f32 in?"], ["d", "i32"], ["logits", "f32 out"], ["T", "i32"], ["E", "i32"], ["k", "i32"], ["scoring", "enum scoring"], ["bias", "f32 in?"], ["groups", "i32"],
      ["topk_groups", "i32"], ["group_scoring", "enum group_scoring"], ["renormalize", "bool"], ["scale", "f64"], ["eps", "f64"],
      ["counts", "i32 out"], ["tok_out", "i32 out"], ["w_out", "f32 out"], ["work", "scratch"],
    ],
    doc: "the router and route_topk in one (a few tokens: decode): `logits[t·E + e] = x[t]·wr[e] (+ br[e])` for the T rows of x (width d), then route_topk on them with the same outputs.",
  },
} as const satisfies Record<string, KernelSpec>;

export type GroupedName = keyof typeof GROUPED_KERNELS;
export const GROUPED_NAMES = Object.keys(GROUPED_KERNELS) as GroupedName[];
type Numbers<P extends readonly unknown[]> = { readonly [I in keyof P]: number };
export type GroupedKernels = { readonly [K in GroupedName]: (...args: Numbers<(typeof GROUPED_KERNELS)[K]["params"]>) => void };

/** Tokens up to which moe_route (one workgroup) routes; more go through the matmul and route_topk. */
export const ROUTE_FUSED_MAX_T = 64;
/** Tokens up to which moe_down_combine runs (it scans the A rows per token). */
export const COMBINE_MAX_T = 64;
