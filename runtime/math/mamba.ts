// Mamba-1's mixer pieces (Jamba's JambaMambaMixer, transformers 5.17, on its PyTorch slow path), for T tokens of
// one sequence, each carrying its state from the previous call. The reference interpreter and the TypeScript
// kernels run these functions; the WASM kernels repeat them operation for operation. Unlike Mamba-2, the x_proj
// projection (to dt, B and C) sits between the conv and the scan, so they are two functions (two kernels).
//
// causalConv1d — x [T, C]; convW [C, K]; convB [C] (null: no bias); convState [K−1, C] the previous K−1 inputs,
// oldest first; y [T, C]. y_t[ch] = f32(silu(f32(Σ_j convW[ch, j] · in_{t−K+1+j}[ch] + convB[ch]))), the sum in
// float64 over the window of the last K inputs; afterwards convState holds the last K−1 inputs.
//
// mambaScan — x [T, I] the conv output; dt [T, I] dt_proj's output (its bias included); b, c [T, N]; z [T, I] the
// gate; aLog [I, N]; d [I]; state [I, N]; y [T, I]. Per token t and channel i:
//   δ = f32(softplus(dt_t,i)); for n < N: decay = f32(exp(f32(−f32(exp(aLog[i, n])) · δ))),
//   S[i, n] ← f32(f32(decay · S[i, n]) + f32(f32(δ · b_t[n]) · x_t,i));
//   y_t,i = f32(f32(f32(Σ_n S[i, n] · c_t[n]) + f32(x_t,i · d_i)) · f32(silu(z_t,i))), the sum in float64.
// With `fresh`, convState and state are read as zeros (a new sequence).
// transformers computes every product and sum in float32 (its matmul of the state against C with float32
// accumulation), so the two agree up to the rounding of those sums.
import { softplus } from "./deltanet.js";

const f = Math.fround;

export function causalConv1d(
  C: number, K: number, T: number, fresh: boolean, x: Float32Array, convW: Float32Array, convB: Float32Array | null, convState: Float32Array, y: Float32Array,
): void {
  if (fresh) convState.fill(0, 0, (K - 1) * C);
  const input = (t: number, ch: number) => (t >= 0 ? x[t * C + ch]! : convState[(K - 1 + t) * C + ch]!);
  for (let t = 0; t < T; t++) {
    for (let ch = 0; ch < C; ch++) {
      let acc = 0;
      for (let j = 0; j < K; j++) acc += convW[ch * K + j]! * input(t - K + 1 + j, ch);
      const v = f(acc + (convB ? convB[ch]! : 0));
      y[t * C + ch] = f(v / (1 + Math.exp(-v)));
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

export function mambaScan(
  I: number, N: number, T: number, fresh: boolean, x: Float32Array, dt: Float32Array, b: Float32Array, c: Float32Array, z: Float32Array,
  aLog: Float32Array, d: Float32Array, state: Float32Array, y: Float32Array,
): void {
  if (fresh) state.fill(0, 0, I * N);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < I; i++) {
      const delta = f(softplus(dt[t * I + i]!));
      const xv = x[t * I + i]!;
      let acc = 0;
      for (let n = 0; n < N; n++) {
        const decay = f(Math.exp(f(-f(Math.exp(aLog[i * N + n]!)) * delta)));
        const s = f(f(decay * state[i * N + n]!) + f(f(delta * b[t * N + n]!) * xv));
        state[i * N + n] = s;
        acc += s * c[t * N + n]!;
      }
      const zv = z[t * I + i]!;
      y[t * I + i] = f(f(f(acc) + f(xv * d[i]!)) * f(zv / (1 + Math.exp(-zv))));
    }
  }
}
