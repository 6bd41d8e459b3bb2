// Rotary position embedding for the reference interpreter, matching Hugging Face transformers 5.17 on the CPU.
//
// HF builds inv_freq in float32 tensor arithmetic (modeling_rope_utils.ROPE_INIT_FUNCTIONS and the models'
// compute_default_rope_parameters), multiplies it by the positions in float32, takes cos/sin in float32 and scales
// them by the attention factor in float32. Every step below rounds where torch rounds (Math.fround), so inv_freq is
// bit-identical to torch's and the angles agree to the last float32 bit:
//
//   * A Python scalar meeting a float32 tensor is first rounded to float32 (x / factor, x * factor, x > wavelen).
//   * `c / t` for a Python scalar c is `t.reciprocal() * c` (torch.Tensor.__rtruediv__), two roundings.
//   * torch's float32 pow is a vectorised powf accurate to ~1 ulp; here it is correctly rounded, so an inv_freq
//     may differ from torch's in its last bit.
//   * cos/sin: torch uses SLEEF cosf/sinf_u35 (up to 3.5 ulp); here they are correctly rounded from double, so
//     cos/sin differ from HF by a few float32 ulps at most (< 3e-7 for |values| <= 1).
//

import type { RopeAttr } from "../plan/types.js";

const f = Math.fround;

// ---------------------------------------------------------------------------------------------------------------
// float32 power: torch uses a vectorised powf that is not always correctly rounded; a correctly rounded powf
// differs from it by at most one float32 ulp, which moves an angle by ~1e-7 relative — far below what the
// interpreter's float32 parity (1e-4 on logits) can see.

/** A float32 fused multiply-add: a·b is exact in double, so only the final rounding (and, rarely, a double one) differs. */
const fma32 = (a: number, b: number, c: number): number => f(a * b + c);

/** torch.pow(base, exps) on float32 exponents, correctly rounded to float32. */
function torchPow(base: number, exps: readonly number[]): number[] {
  return exps.map((e) => f(Math.pow(base, e)));
}

// ---------------------------------------------------------------------------------------------------------------
// inverse frequencies

/** torch.arange(0, dim, 2).float() / dim */
function exponents(dim: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < dim; i += 2) out.push(f(i / dim));
  return out;
}

/** 1.0 / (base ** (arange(0, dim, 2) / dim)) with base already a float32. */
function defaultInvFreq(base32: number, dim: number): number[] {
  return torchPow(base32, exponents(dim)).map((p) => f(1 / p));
}

function getMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1.0 : 0.1 * mscale * Math.log(scale) + 1.0;
}

/**
 * The inverse frequencies (dim/2 of them, each a float32 value) and the cos/sin multiplier that HF uses for a
 * forward call whose positions reach seqLen - 1 (seqLen = max(position_ids) + 1).
 *
 * Stateful HF behaviour is reduced to seqLen: dynamic NTK recomputes inv_freq when seqLen grows beyond the cached
 * length (initially originalMax) and resets below originalMax; the result equals this function's whenever the
 * lengths seen since the last reset never shrank (prefill then decode). Generic longrope (Phi-3) switches to the
 * long factors when seqLen > originalMax. PhiMoE's longrope (shortMscale/longMscale given) always uses the short
 * factors and switches the multiplier between short and long mscale.
 */
export function ropeInvFreq(rope: RopeAttr, seqLen: number): { invFreq: Float64Array; attentionFactor: number } {
  const dim = rope.dim;
  if (dim <= 0 || dim % 2 !== 0) throw new Error(`rope: dim ${dim} must be positive and even`);
  const theta32 = f(rope.theta);
  const s = rope.scaling;
  let inv: number[];
  let attentionFactor = 1.0;
  if (s === null) {
    inv = defaultInvFreq(theta32, dim);
  } else {
    switch (s.type) {
      case "linear": {
        const factor = f(s.factor);
        inv = defaultInvFreq(theta32, dim).map((v) => f(v / factor));
        break;
      }
      case "dynamic": {
        // HF: base * ((factor * seq_len / max_pos) - (factor - 1)) ** (dim / (dim - 2)), max_pos = originalMax.
        if (dim === 2) throw new Error("rope: dynamic NTK scaling needs dim > 2 (HF divides by dim - 2)");
        const maxPos = s.originalMax;
        const power = dim / (dim - 2);
        if (seqLen > maxPos) {
          // Recomputed in the forward pass from a tensor seq_len: float32 tensor arithmetic.
          let t = f(f(s.factor) * f(seqLen));
          t = f(t / f(maxPos));
          t = f(t - f(s.factor - 1));
          // float32 tensor ** Python float: x * x for 2 (dim 4); otherwise the scalar loop (a 0-dim tensor) calls
          // std::pow(float, double), i.e. pow in double with the exponent unrounded.
          const p = power === 2 ? f(t * t) : f(Math.pow(t, power));
          inv = defaultInvFreq(f(theta32 * p), dim);
        } else {
          // The init-time inv_freq (seq_len = max_position_embeddings), base computed in Python doubles.
          const base = rope.theta * Math.pow((s.factor * maxPos) / maxPos - (s.factor - 1), power);
          inv = defaultInvFreq(f(base), dim);
        }
        break;
      }
      case "llama3": {
        const base = defaultInvFreq(theta32, dim);
        const factor = f(s.factor);
        const lowWavelen = f(s.originalMax / s.lowFreqFactor);
        const highWavelen = f(s.originalMax / s.highFreqFactor);
        const twoPi = f(2 * Math.PI);
        const oldContext = f(s.originalMax);
        const lowFF = f(s.lowFreqFactor);
        const span = f(s.highFreqFactor - s.lowFreqFactor);
        inv = base.map((v) => {
          const wavelen = f(f(1 / v) * twoPi); // 2 * math.pi / inv_freq
          const llama = wavelen > lowWavelen ? f(v / factor) : v;
          const smooth = f(f(f(f(1 / wavelen) * oldContext) - lowFF) / span);
          const smoothed = f(f(f(f(1 - smooth) * llama) / factor) + f(smooth * llama));
          const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
          return medium ? smoothed : llama;
        });
        break;
      }
      case "yarn": {
        const factor = s.factor;
        if (s.attentionFactor !== null) attentionFactor = s.attentionFactor;
        else if (s.mscale && s.mscaleAllDim) attentionFactor = getMscale(factor, s.mscale) / getMscale(factor, s.mscaleAllDim);
        else attentionFactor = getMscale(factor);
        const betaFast = s.betaFast || 32;
        const betaSlow = s.betaSlow || 1;
        const correctionDim = (rotations: number) =>
          (dim * Math.log(s.originalMax / (rotations * 2 * Math.PI))) / (2 * Math.log(rope.theta));
        let low = correctionDim(betaFast);
        let high = correctionDim(betaSlow);
        if (s.truncate) {
          low = Math.floor(low);
          high = Math.ceil(high);
        }
        low = Math.max(low, 0);
        high = Math.min(high, dim - 1);
        if (low === high) high += 0.001;
        const low32 = f(low);
        const range32 = f(high - low);
        const factor32 = f(factor);
        const posFreqs = torchPow(theta32, exponents(dim));
        inv = posFreqs.map((p, j) => {
          const extrapolation = f(1 / p);
          const interpolation = f(1 / f(factor32 * p));
          const ramp = Math.min(Math.max(f(f(j - low32) / range32), 0), 1);
          const extrapolationFactor = f(1 - ramp);
          return f(f(interpolation * f(1 - extrapolationFactor)) + f(extrapolation * extrapolationFactor));
        });
        break;
      }
      case "longrope": {
        const factor = s.maxPositions !== null ? s.maxPositions / s.originalMax : 1;
        attentionFactor = s.attentionFactor ?? (factor <= 1.0 ? 1.0 : Math.sqrt(1 + Math.log(factor) / Math.log(s.originalMax)));
        const phimoe = s.shortMscale !== null || s.longMscale !== null;
        const long = seqLen > s.originalMax;
        const ext = phimoe || !long ? s.shortFactor : s.longFactor;
        if (ext.length !== dim / 2) throw new Error(`rope: longrope factors have ${ext.length} entries, expected ${dim / 2}`);
        if (phimoe) attentionFactor = (long ? s.longMscale : s.shortMscale) ?? attentionFactor;
        inv = torchPow(theta32, exponents(dim)).map((p, j) => f(1 / f(f(ext[j]!) * p)));
        break;
      }
      case "proportional": {
        // HF _compute_proportional_rope_parameters: 1 / base^(arange(0, 2·angles, 2) / head_dim), zeros for the
        // other head_dim/2 − angles pairs (cos 1, sin 0: they pass unchanged), then inv_freq /= factor.
        if (s.rotated % 2 !== 0 || s.rotated < 0 || s.rotated > dim) throw new Error(`rope: proportional rotates ${s.rotated} dims, which must be even and at most ${dim}`);
        const factor = f(s.factor);
        inv = defaultInvFreq(theta32, dim).map((v, j) => (j < s.rotated / 2 ? f(v / factor) : 0));
        break;
      }
    }
  }
  return { invFreq: Float64Array.from(inv), attentionFactor };
}

/**
 * cos and sin, [positions.length, dim/2] row-major, as HF's rotary forward returns them (first half of its
 * cat(freqs, freqs)): freqs = float32(position * inv_freq), cos/sin in float32, times the attention factor in float32.
 */
export function ropeCosSin(rope: RopeAttr, positions: readonly number[], seqLen: number): { cos: Float32Array; sin: Float32Array } {
  const { invFreq, attentionFactor } = ropeInvFreq(rope, seqLen);
  const half = invFreq.length;
  const scale = f(attentionFactor);
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  for (let p = 0; p < positions.length; p++) {
    const pos = f(positions[p]!);
    for (let j = 0; j < half; j++) {
      const angle = f(pos * invFreq[j]!);
      cos[p * half + j] = f(f(Math.cos(angle)) * scale);
      sin[p * half + j] = f(f(Math.sin(angle)) * scale);
    }
  }
  return { cos, sin };
}

/**
 * Rotates one head x[offset, offset + headDim) in place with row `row` of cos/sin. Only the first rope.dim dims
 * rotate (partial rotary); the rest pass through.
 *
 * style "half" (rotate_half): (x[j], x[j + dim/2]) for j < dim/2, each output f32(f32(a·c) ∓ f32(b·s)) as HF's
 * x * cos + rotate_half(x) * sin (GPT-OSS's chunked form is the same arithmetic).
 * style "interleaved": pairs (a, b) = (x[2j], x[2j + 1]) → (a·c − b·s, b·c + a·s). HF has three variants:
 *   layout "pairs" (default): the pair stays in place, f32(f32(a·c) ∓ f32(b·s)) — the brief's form;
 *   layout "complex": the pair stays in place, computed as torch's complex64 multiply does in DeepSeek-V2's
 *     view_as_complex form: its cos/sin tensor is transposed, so torch takes the scalar c10::complex loop, which
 *     x86 builds compile with FMA contraction: re = fma(a, c, −f32(b·s)), im = fma(a, s, f32(b·c));
 *   layout "deinterleave": DeepSeek-V3's apply_rotary_pos_emb_interleave (rope_interleave=True): rotated x[2j] go
 *     to [0, dim/2) and rotated x[2j + 1] to [dim/2, dim), arithmetic as "pairs". All three give the same attention
 *     scores up to rounding (q and k share the permutation); they differ in layout or in the last bit.
 */
export function applyRope(
  x: Float32Array,
  offset: number,
  headDim: number,
  rope: RopeAttr,
  cos: Float32Array,
  sin: Float32Array,
  row: number,
  layout: "pairs" | "complex" | "deinterleave" = "pairs",
): void {
  const dim = rope.dim;
  if (dim > headDim) throw new Error(`rope: dim ${dim} exceeds the head dim ${headDim}`);
  const half = dim / 2;
  const base = row * half;
  if (rope.style === "half") {
    for (let j = 0; j < half; j++) {
      const c = cos[base + j]!;
      const s = sin[base + j]!;
      const a = x[offset + j]!;
      const b = x[offset + j + half]!;
      x[offset + j] = f(f(a * c) - f(b * s));
      x[offset + j + half] = f(f(b * c) + f(a * s));
    }
    return;
  }
  if (layout === "deinterleave") {
    const rotated = new Float32Array(dim);
    for (let j = 0; j < half; j++) {
      const c = cos[base + j]!;
      const s = sin[base + j]!;
      const a = x[offset + 2 * j]!;
      const b = x[offset + 2 * j + 1]!;
      rotated[j] = f(f(a * c) - f(b * s));
      rotated[j + half] = f(f(b * c) + f(a * s));
    }
    x.set(rotated, offset);
    return;
  }
  const fused = layout === "complex";
  for (let j = 0; j < half; j++) {
    const c = cos[base + j]!;
    const s = sin[base + j]!;
    const a = x[offset + 2 * j]!;
    const b = x[offset + 2 * j + 1]!;
    x[offset + 2 * j] = fused ? fma32(a, c, -f(b * s)) : f(f(a * c) - f(b * s));
    x[offset + 2 * j + 1] = fused ? fma32(a, s, f(b * c)) : f(f(b * c) + f(a * s));
  }
}
