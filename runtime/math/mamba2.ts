// The Mamba-2 selective scan of Nemotron-H's mixer layers (transformers 5.17, NemotronHMamba2Mixer on its
// PyTorch path), for T tokens of one sequence, with the causal conv1d and the SSM state carried from the
// previous call. The reference interpreter and the TypeScript kernel both run this function; the WASM kernel
// repeats it operation for operation.
//
// Shapes (row-major, float32): xbc [T, C] the conv input, C = H·P + 2·G·N holding [x (H·P) | B (G·N) | C (G·N)];
// dt [T, H] the raw time steps; convW [C, K]; convB [C] (empty: no bias); aLog, dtBias, D [H];
// z [T, H·P] the gate; normW [H·P]; convState [K−1, C] the previous K−1 inputs, oldest first; state [H, P, N];
// y [T, H·P] the output.
// With `fresh`, convState and state are read as zeros (a new sequence). Per token t:
//   c = silu(Σ_j convW[:, j] · in_{t−K+1+j} + convB) over the window of the last K inputs;
//   for head h (group g = ⌊h / (H/G)⌋): δ = max(softplus(dt_t,h + dtBias_h), dtMin), a = −exp(aLog_h),
//   S_h ← S_h · exp(δ·a) + (δ·B_g) ⊗ x_h, i.e. S[p, n] ← S[p, n]·exp(δ·a) + (δ·B[n])·x[p];
//   y_t,h[p] = Σ_n S[p, n]·C_g[n] + D_h·x_h[p];
// then the gated RMSNorm of Nemotron-H (norm_before_gate false), per token and per group of I/G = H·P/G values:
//   g = y·silu(z), out = normW · g / sqrt(mean(g²) + eps), with f32(g·inv) rounded before the weight multiplies it.
// Sums accumulate in float64; every stored value (conv output, δ, the decay, S, y) is rounded to float32.
// transformers computes the prompt with the chunked form of the same recurrence (equal up to rounding) and
// clamps δ at dtMin (its time_step_min) there only, not in its one-token decode; this function always clamps.
import { softplus } from "./deltanet.js";

export interface Mamba2Shape {
  readonly heads: number;
  readonly headDim: number;
  readonly stateDim: number;
  readonly groups: number;
  readonly kernel: number;
}

const f = Math.fround;

/** Conv channels: x, B and C. */
export function mamba2Channels(s: Mamba2Shape): number {
  return s.heads * s.headDim + 2 * s.groups * s.stateDim;
}

/** Floats of scratch `mamba2Scan` needs: one token's conv output. */
export function mamba2ScratchFloats(s: Mamba2Shape): number {
  return mamba2Channels(s) + 16;
}

export function mamba2Scan(
  s: Mamba2Shape, T: number, fresh: boolean, dtMin: number, eps: number,
  xbc: Float32Array, dt: Float32Array, z: Float32Array, convW: Float32Array, convB: Float32Array | null, aLog: Float32Array, dtBias: Float32Array, D: Float32Array,
  normW: Float32Array, convState: Float32Array, state: Float32Array, y: Float32Array,
): void {
  const { heads: H, headDim: P, stateDim: N, groups: G, kernel: K } = s;
  const C = mamba2Channels(s);
  const XP = H * P;
  const r = H / G;
  const lo = f(dtMin); // an f32 kernel parameter
  if (fresh) {
    convState.fill(0, 0, (K - 1) * C);
    state.fill(0, 0, H * P * N);
  }
  const c = new Float32Array(C);
  const input = (t: number, ch: number) => (t >= 0 ? xbc[t * C + ch]! : convState[(K - 1 + t) * C + ch]!);
  for (let t = 0; t < T; t++) {
    for (let ch = 0; ch < C; ch++) {
      let acc = 0;
      for (let j = 0; j < K; j++) acc += convW[ch * K + j]! * input(t - K + 1 + j, ch);
      const v = f(acc + (convB ? convB[ch]! : 0));
      c[ch] = f(v / (1 + Math.exp(-v)));
    }
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / r);
      const bOff = XP + g * N;
      const cOff = XP + G * N + g * N;
      let delta = f(softplus(f(dt[t * H + h]! + dtBias[h]!)));
      if (delta < lo) delta = lo;
      const decay = f(Math.exp(f(delta * -f(Math.exp(aLog[h]!)))));
      const d = D[h]!;
      for (let p = 0; p < P; p++) {
        const x = c[h * P + p]!;
        const S = (h * P + p) * N;
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const v = f(f(state[S + n]! * decay) + f(f(delta * c[bOff + n]!) * x));
          state[S + n] = v;
          acc += v * c[cOff + n]!;
        }
        y[t * XP + h * P + p] = f(f(acc) + f(x * d));
      }
    }
    const size = XP / G;
    for (let i = t * XP; i < (t + 1) * XP; i++) y[i] = f(y[i]! * f(z[i]! / (1 + Math.exp(-z[i]!))));
    for (let base = t * XP; base < (t + 1) * XP; base += size) {
      let ss = 0;
      for (let k = 0; k < size; k++) ss += y[base + k]! * y[base + k]!;
      const inv = 1 / Math.sqrt(ss / size + f(eps));
      for (let k = 0; k < size; k++) y[base + k] = f(normW[base - t * XP + k]! * f(y[base + k]! * inv));
    }
  }
  // The last K−1 inputs become the conv state (older state rows when T < K−1).
  const next = new Float32Array((K - 1) * C);
  for (let row = 0; row < K - 1; row++) {
    const t = T - (K - 1) + row;
    for (let ch = 0; ch < C; ch++) next[row * C + ch] = input(t, ch);
  }
  convState.set(next);
}
