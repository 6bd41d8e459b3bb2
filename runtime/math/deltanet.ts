// The gated delta rule of Qwen3-Next's linear-attention layers (transformers 5.17,
// Qwen3NextGatedDeltaNet with torch_recurrent_gated_delta_rule), for T tokens of one sequence, with the
// causal conv1d and the recurrent state carried from the previous call. The reference interpreter and
// the TypeScript kernel both run this function; the WASM kernel repeats it operation for operation.
//
// Shapes (row-major, float32): x [T, C] the conv input, C = 2·Hk·dk + Hv·dv holding [q | k | v] per token;
// b, a [T, Hv]; convW [C, K]; aLog, dtBias [Hv]; convState [K−1, C] the previous K−1 inputs, oldest first;
// state [Hv, dk, dv]; y [T, Hv·dv]. With `fresh`, convState and state are read as zeros (a new sequence).
// Per token t:
//   c = silu(Σ_j convW[:, j] · in_{t−K+1+j}) over the window of the last K inputs;
//   q_h, k_h (key head h) = l2norm(c[h·dk…], eps 1e-6), and q_h / sqrt(dk);
//   for value head v (key head h = ⌊v / (Hv/Hk)⌋): decay = exp(−exp(aLog_v) · softplus(a_t,v + dtBias_v)),
//   β = sigmoid(b_t,v); S_v ← decay·S_v; m = S_vᵀ k_h; S_v ← S_v + k_h (β (v_t − m))ᵀ; y_t,v = S_vᵀ q_h.
// Sums accumulate in float64; every stored value (conv output, normalised q/k, S, y) is rounded to float32.
// softplus(x) = x when x > 20 (torch's threshold), else log1p(exp(x)).

export interface DeltaNetShape {
  readonly kHeads: number;
  readonly vHeads: number;
  readonly kDim: number;
  readonly vDim: number;
  readonly kernel: number;
}

const f = Math.fround;

export function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

/** Floats of scratch `gatedDeltaRule` needs: one token's conv output and its normalised q and k. */
export function deltaNetScratchFloats(s: DeltaNetShape): number {
  return 4 * s.kHeads * s.kDim + s.vHeads * s.vDim + s.vDim + 16;
}

export function gatedDeltaRule(
  s: DeltaNetShape, T: number, fresh: boolean,
  x: Float32Array, b: Float32Array, a: Float32Array, convW: Float32Array, aLog: Float32Array, dtBias: Float32Array,
  convState: Float32Array, state: Float32Array, y: Float32Array,
): void {
  const { kHeads: Hk, vHeads: Hv, kDim: dk, vDim: dv, kernel: K } = s;
  const Kd = Hk * dk;
  const C = 2 * Kd + Hv * dv;
  const r = Hv / Hk;
  if (fresh) {
    convState.fill(0, 0, (K - 1) * C);
    state.fill(0, 0, Hv * dk * dv);
  }
  const c = new Float32Array(C);
  const qn = new Float32Array(Kd);
  const kn = new Float32Array(Kd);
  const m = new Float64Array(dv);
  const input = (t: number, ch: number) => (t >= 0 ? x[t * C + ch]! : convState[(K - 1 + t) * C + ch]!);
  const qScale = 1 / Math.sqrt(dk);
  for (let t = 0; t < T; t++) {
    for (let ch = 0; ch < C; ch++) {
      let acc = 0;
      for (let j = 0; j < K; j++) acc += convW[ch * K + j]! * input(t - K + 1 + j, ch);
      const v = f(acc);
      c[ch] = f(v / (1 + Math.exp(-v)));
    }
    for (let h = 0; h < Hk; h++) {
      for (const [src, dst, scale] of [[0, qn, qScale], [Kd, kn, 1]] as const) {
        let ss = 0;
        for (let i = 0; i < dk; i++) ss += c[src + h * dk + i]! ** 2;
        const inv = 1 / Math.sqrt(f(ss) + 1e-6);
        for (let i = 0; i < dk; i++) dst[h * dk + i] = scale === 1 ? f(c[src + h * dk + i]! * inv) : f(f(c[src + h * dk + i]! * inv) * scale);
      }
    }
    for (let v = 0; v < Hv; v++) {
      const h = Math.floor(v / r);
      const decay = f(Math.exp(f(-f(Math.exp(aLog[v]!)) * f(softplus(f(a[t * Hv + v]! + dtBias[v]!))))));
      const beta = f(1 / (1 + Math.exp(-b[t * Hv + v]!)));
      const S = v * dk * dv;
      for (let i = 0; i < dk * dv; i++) state[S + i] = f(state[S + i]! * decay);
      m.fill(0);
      for (let i = 0; i < dk; i++) {
        const ki = kn[h * dk + i]!;
        for (let j = 0; j < dv; j++) m[j]! += state[S + i * dv + j]! * ki;
      }
      const vOff = 2 * Kd + v * dv;
      for (let j = 0; j < dv; j++) m[j] = f(f(c[vOff + j]! - f(m[j]!)) * beta);
      for (let i = 0; i < dk; i++) {
        const ki = kn[h * dk + i]!;
        for (let j = 0; j < dv; j++) state[S + i * dv + j] = f(state[S + i * dv + j]! + f(ki * m[j]!));
      }
      for (let j = 0; j < dv; j++) {
        let acc = 0;
        for (let i = 0; i < dk; i++) acc += state[S + i * dv + j]! * qn[h * dk + i]!;
        y[t * Hv * dv + v * dv + j] = f(acc);
      }
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
