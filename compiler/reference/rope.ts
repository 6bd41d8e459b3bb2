// Rotary position embedding for the reference interpreter, matching Hugging Face transformers 5.17 on the CPU.
//
// HF builds inv_freq in float32 tensor arithmetic (modeling_rope_utils.ROPE_INIT_FUNCTIONS and the models'
// compute_default_rope_parameters), multiplies it by the positions in float32, takes cos/sin in float32 and scales
// them by the attention factor in float32. Every step below rounds where torch rounds (Math.fround), so inv_freq is
// bit-identical to torch's and the angles agree to the last float32 bit:
//
//   * A Python scalar meeting a float32 tensor is first rounded to float32 (x / factor, x * factor, x > wavelen).
//   * `c / t` for a Python scalar c is `t.reciprocal() * c` (torch.Tensor.__rtruediv__), two roundings.
//   * torch's float32 pow is SLEEF's powf_u10 (FMA variant) over blocks of 2 x vector width elements and libm's
//     powf on the remainder (aten cpu vectorized_loop). `torchPow` reproduces both; the block is 32 (AVX512; on
//     AVX2 it is 16, which gives the same split for every length that is a multiple of 32 or below 16).
//   * cos/sin: torch uses SLEEF cosf/sinf_u35 (up to 3.5 ulp); here they are correctly rounded from double, so
//     cos/sin differ from HF by a few float32 ulps at most (< 3e-7 for |values| <= 1).
//
// The SLEEF routines (xpowf, logkf, expkf and the double-float helpers of df.h) are transcribed from
// SLEEF 3.8, https://github.com/shibatch/sleef, Copyright Naoki Shibata and contributors 2010 - 2024,
// distributed under the Boost Software License, Version 1.0 (http://www.boost.org/LICENSE_1_0.txt).

import type { RopeAttr } from "../ir/graph.js";

const f = Math.fround;

// ---------------------------------------------------------------------------------------------------------------
// float32 fused multiply-add, correctly rounded (a, b, c float32 values)

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1; // index of the low word of a double

function fma32(a: number, b: number, c: number): number {
  const p = a * b; // exact: 24 + 24 significant bits
  const s = p + c;
  const r = f(s);
  if (r === s || !Number.isFinite(s) || Math.abs(s) < 2 ** -126) return r;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv); // p + c === s + err exactly (TwoSum)
  if (err === 0) return r;
  f64[0] = s;
  // Double rounding can only go wrong when s sits exactly on a float32 midpoint: low 29 fraction bits 100…0.
  if ((u32[LOW]! & 0x1fffffff) !== 0x10000000) return r;
  return f(s + (err > 0 ? 1 : -1) * Math.abs(s) * 2 ** -40);
}

const f32 = new Float32Array(1);
const f32bits = new Uint32Array(f32.buffer);

/** SLEEF vilogb2k: the unbiased exponent field of a normal float32. */
function ilogb2k(v: number): number {
  f32[0] = v;
  return ((f32bits[0]! >>> 23) & 0xff) - 0x7f;
}

function rintEven(u: number): number {
  let r = Math.round(u);
  if (Math.abs(u - Math.trunc(u)) === 0.5 && r % 2 !== 0) r -= 1;
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// SLEEF powf_u10 (vector, FMA): double-float (hi, lo) arithmetic in float32

type DF = readonly [number, number];

function dfadd2FF(x: number, y: number): DF {
  const s = f(x + y);
  const v = f(s - x);
  return [s, f(f(x - f(s - v)) + f(y - v))];
}

function dfadd2DFF(x: DF, y: number): DF {
  const s = f(x[0] + y);
  const v = f(s - x[0]);
  const t = f(f(x[0] - f(s - v)) + f(y - v));
  return [s, f(t + x[1])];
}

function dfadd2DFDF(x: DF, y: DF): DF {
  const s = f(x[0] + y[0]);
  const v = f(s - x[0]);
  const t = f(f(x[0] - f(s - v)) + f(y[0] - v));
  return [s, f(t + f(x[1] + y[1]))];
}

/** |x| >= |y| */
function dfaddDFDF(x: DF, y: DF): DF {
  const s = f(x[0] + y[0]);
  return [s, f(f(f(f(x[0] - s) + y[0]) + x[1]) + y[1])];
}

function dfaddFDF(x: number, y: DF): DF {
  const s = f(x + y[0]);
  return [s, f(f(f(x - s) + y[0]) + y[1])];
}

function dfnormalize(t: DF): DF {
  const s = f(t[0] + t[1]);
  return [s, f(f(t[0] - s) + t[1])];
}

function dfscale(d: DF, s: number): DF {
  return [f(d[0] * s), f(d[1] * s)];
}

function dfmulDFF(x: DF, y: number): DF {
  const s = f(x[0] * y);
  return [s, fma32(x[1], y, fma32(x[0], y, -s))];
}

function dfmulDFDF(x: DF, y: DF): DF {
  const s = f(x[0] * y[0]);
  return [s, fma32(x[0], y[1], fma32(x[1], y[0], fma32(x[0], y[0], -s)))];
}

function dfsqu(x: DF): DF {
  const s = f(x[0] * x[0]);
  return [s, fma32(f(x[0] + x[0]), x[1], fma32(x[0], x[0], -s))];
}

function dfdiv(n: DF, d: DF): DF {
  const t = f(1 / d[0]);
  const s = f(n[0] * t);
  const u = fma32(t, n[0], -s);
  const v = fma32(-d[1], t, fma32(-d[0], t, 1));
  return [s, fma32(s, v, fma32(n[1], t, u))];
}

const R_4_3 = f(1 / 0.75);
const LN2_DF: DF = [f(0.69314718246459960938), f(-1.904654323148236017e-9)];
const LOG_C: DF = [f(0.66666662693023681640625), f(3.69183861259614332084311e-9)];

/** SLEEF logkf: ln(d) as a double-float, d a positive normal float32. */
function logkf(d: number): DF {
  const e = ilogb2k(f(d * R_4_3));
  const m = d * 2 ** -e; // vldexp3: exact, m in [0.75, 1.5)
  const x = dfdiv(dfadd2FF(-1, m), dfadd2FF(1, m));
  const x2 = dfsqu(x);
  let t = f(0.240320354700088500976562);
  t = fma32(t, x2[0], f(0.285112679004669189453125));
  t = fma32(t, x2[0], f(0.400007992982864379882812));
  let s = dfmulDFF(LN2_DF, e);
  s = dfaddDFDF(s, dfscale(x, 2));
  s = dfaddDFDF(s, dfmulDFDF(dfmulDFDF(x2, x), dfadd2DFDF(dfmulDFF(x2, t), LOG_C)));
  return s;
}

const R_LN2F = f(1.442695040888963407359924681001892137426645954152985934135449406931);
const L2UF = f(0.693145751953125);
const L2LF = f(1.428606765330187045e-6);

/** SLEEF expkf: exp of a double-float, as float32. */
function expkf(d: DF): number {
  let u = f(f(d[0] + d[1]) * R_LN2F);
  const q = rintEven(u);
  let s = dfadd2DFF(d, f(q * -L2UF));
  s = dfadd2DFF(s, f(q * -L2LF));
  s = dfnormalize(s);
  u = f(0.00136324646882712841033936);
  u = fma32(u, s[0], f(0.00836596917361021041870117));
  u = fma32(u, s[0], f(0.0416710823774337768554688));
  u = fma32(u, s[0], f(0.166665524244308471679688));
  u = fma32(u, s[0], f(0.499999850988388061523438));
  let t = dfaddDFDF(s, dfmulDFF(dfsqu(s), u));
  t = dfaddFDF(1, t);
  u = f(f(t[0] + t[1]) * 2 ** q);
  return d[0] < -104 ? 0 : u;
}

/** SLEEF powf_u10 for float32 x, y (torch's vectorized float pow). */
export function sleefPowf(x: number, y: number): number {
  if (y === 0 || x === 1) return 1;
  if (!(x > 0) || !Number.isFinite(x) || !Number.isFinite(y) || x < 2 ** -126) return f(Math.pow(x, y)); // not needed by RoPE
  const r = expkf(dfmulDFF(logkf(x), y));
  return Number.isNaN(r) ? Infinity : r;
}

/** libm powf (torch's scalar remainder loop): correctly rounded from double (glibc's powf agrees but for rare ties). */
function libmPowf(x: number, y: number): number {
  return f(Math.pow(x, y));
}

/** Elements per vectorized block of torch's CPU loops: 2 x 16 float32 lanes (AVX512). */
export const TORCH_CPU_VEC_BLOCK = 32;

/** torch.pow(base, exps) on a contiguous float32 tensor of exponents (base a float32 scalar). */
function torchPow(base: number, exps: readonly number[]): number[] {
  const n = exps.length;
  const body = n - (n % TORCH_CPU_VEC_BLOCK);
  return exps.map((e, i) => (i < body ? sleefPowf(base, e) : libmPowf(base, e)));
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
