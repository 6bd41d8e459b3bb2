// The fused expert kernels (runtime/kernels/fused.ts) in TypeScript: float64 accumulation
// like kernels.ts, each sum rounded to f32 where the unfused sequence stores it, so a fused
// plan on this device matches the unfused one to the last rounding of each sum.
import type { FusedKernels } from "../../runtime/kernels/fused.js";

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export function jsFusedKernels(memory: () => ArrayBuffer): FusedKernels {
  let buf: ArrayBuffer | null = null;
  let F = new Float32Array(0);
  let I = new Int32Array(0);
  const f = () => {
    const b = memory();
    if (b !== buf) {
      buf = b;
      F = new Float32Array(b);
      I = new Int32Array(b);
    }
    return F;
  };
  const at = (p: number) => p / 4;
  const dot = (m: Float32Array, xo: number, wo: number, K: number) => {
    let s = 0;
    for (let k = 0; k < K; k++) s += m[xo + k]! * m[wo + k]!;
    return s;
  };
  return {
    glu_matmul(x, wg, wu, wRow, bg, bu, bStep, y, T, K, N, n0, n1, alpha, limit, upOffset) {
      const m = f();
      for (let t = 0; t < T; t++) {
        const xo = at(x) + t * K;
        for (let n = n0; n < n1; n++) {
          // Each projection rounded to f32 as the matmul stores it, then the catalogue's swiglu.
          let g = Math.fround(dot(m, xo, at(wg) + n * wRow, K) + (bg ? m[at(bg) + n * bStep]! : 0));
          let u = Math.fround(dot(m, xo, at(wu) + n * wRow, K) + (bu ? m[at(bu) + n * bStep]! : 0));
          if (limit > 0) {
            g = Math.min(g, limit);
            u = Math.min(limit, Math.max(-limit, u));
          }
          m[at(y) + t * N + n] = Math.fround(g * sigmoid(alpha * g)) * (u + upOffset);
        }
      }
    },
    matmul_scatter_add(x, w, bias, idx, weights, dst, T, K, N, n0, n1) {
      const m = f();
      for (let t = 0; t < T; t++) {
        const xo = at(x) + t * K;
        const r = I[at(idx) + t]!;
        const wt = weights ? m[at(weights) + t]! : 1;
        for (let n = n0; n < n1; n++) {
          const v = Math.fround(dot(m, xo, at(w) + n * K, K) + (bias ? m[at(bias) + n]! : 0));
          m[at(dst) + r * N + n]! += Math.fround(wt * v);
        }
      }
    },
  };
}
