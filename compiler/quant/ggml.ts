// ggml's reference quantisers (ggml-quants.c: quantize_row_q8_0_ref, q4_0, q2_K, q3_K, q4_K,
// q5_K, q6_K, mxfp4), in TypeScript, producing ggml's blocks byte for byte in layout (runtime/plan/formats.ts).
// Arithmetic is float32 where ggml's is (Math.fround); values match ggml's up to the rounding of
// its intermediate sums. Used by the quantize pass and to convert checkpoints to a GGUF format.
import { f16Bits, f16Value } from "./half.js";

const fr = Math.fround;
const GROUP_MAX_EPS = 1e-15;

/** ggml's nearest_int: round half to even. */
export function nearestInt(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function quantizeQ8_0(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 32;
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i * 32 + j]!));
    const d = fr(amax / 127), id = d ? fr(1 / d) : 0;
    dv.setUint16(i * 34, f16Bits(d), true);
    for (let j = 0; j < 32; j++) dv.setInt8(i * 34 + 2 + j, Math.round(fr(x[i * 32 + j]! * id)));
  }
}

export function quantizeQ4_0(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 32;
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < nb; i++) {
    let amax = 0, max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[i * 32 + j]!;
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    const d = fr(max / -8), id = d ? fr(1 / d) : 0;
    dv.setUint16(i * 18, f16Bits(d), true);
    for (let j = 0; j < 16; j++) {
      const x0 = fr(x[i * 32 + j]! * id), x1 = fr(x[i * 32 + 16 + j]! * id);
      const q0 = Math.min(15, Math.trunc(fr(x0 + 8.5))), q1 = Math.min(15, Math.trunc(fr(x1 + 8.5)));
      out[i * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
}

/**
 * make_qkx2_quants: an asymmetric (scale, min) fit of n values to 0..nmax, weighted; returns
 * [scale, −min]. The error a candidate is judged by is Σ w·diff² or, with `mad`, Σ w·|diff|
 * (Q2_K's choice: with 4 levels, squared errors let one outlier pull the scale).
 */
function makeQkx2(x: Float32Array, w: Float32Array, nmax: number, L: Uint8Array, rmin: number, rdelta: number, nstep: number, mad = false): [number, number] {
  const loss = mad ? Math.abs : (v: number) => v * v;
  const n = x.length;
  let min = x[0]!, max = x[0]!, sumW = w[0]!, sumX = sumW * x[0]!;
  for (let i = 1; i < n; i++) {
    min = Math.min(min, x[i]!);
    max = Math.max(max, x[i]!);
    sumW += w[i]!;
    sumX += w[i]! * x[i]!;
  }
  if (min > 0) min = 0;
  if (max === min) { L.fill(0); return [0, -min]; }
  let iscale = nmax / (max - min), scale = 1 / iscale, best = 0;
  for (let i = 0; i < n; i++) {
    L[i] = Math.max(0, Math.min(nmax, nearestInt(iscale * (x[i]! - min))));
    best += w[i]! * loss(scale * L[i]! + min - x[i]!);
  }
  const aux = new Uint8Array(n);
  for (let is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(iscale * (x[i]! - min))));
      aux[i] = l;
      sumL += w[i]! * l;
      sumL2 += w[i]! * l * l;
      sumXL += w[i]! * l * x[i]!;
    }
    const D = sumW * sumL2 - sumL * sumL;
    if (D > 0) {
      let thisScale = (sumW * sumXL - sumX * sumL) / D, thisMin = (sumL2 * sumX - sumL * sumXL) / D;
      if (thisMin > 0) { thisMin = 0; thisScale = sumXL / sumL2; }
      let err = 0;
      for (let i = 0; i < n; i++) err += w[i]! * loss(thisScale * aux[i]! + thisMin - x[i]!);
      if (err < best) { L.set(aux); best = err; scale = thisScale; min = thisMin; }
    }
  }
  return [scale, -min];
}

/** The 6-bit scales and mins of a K-quant super-block into its 12 scale bytes; returns (d, dmin) as stored. */
function packScalesK4(scales: readonly number[], mins: readonly number[], out: Uint8Array, o: number): [number, number] {
  const maxScale = Math.max(0, ...scales), maxMin = Math.max(0, ...mins);
  const invScale = maxScale > 0 ? 63 / maxScale : 0, invMin = maxMin > 0 ? 63 / maxMin : 0;
  const sc = out.subarray(o + 4, o + 16);
  sc.fill(0);
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(invScale * scales[j]!)), lm = Math.min(63, nearestInt(invMin * mins[j]!));
    if (j < 4) { sc[j] = ls; sc[j + 4] = lm; } else {
      sc[j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      sc[j - 4]! |= (ls >> 4) << 6;
      sc[j]! |= (lm >> 4) << 6;
    }
  }
  const dBits = f16Bits(maxScale / 63), mBits = f16Bits(maxMin / 63);
  out[o] = dBits & 0xff;
  out[o + 1] = dBits >> 8;
  out[o + 2] = mBits & 0xff;
  out[o + 3] = mBits >> 8;
  return [f16Value(dBits), f16Value(mBits)];
}

function scaleMin(sc: Uint8Array, j: number): [number, number] {
  return j < 4 ? [sc[j]! & 63, sc[j + 4]! & 63] : [(sc[j + 4]! & 0xf) | ((sc[j - 4]! >> 6) << 4), (sc[j + 4]! >> 4) | ((sc[j]! >> 6) << 4)];
}

/** Q4_K (nmax 15) and Q5_K (nmax 31): 8 sub-blocks of 32 with 6-bit scales and mins. */
function quantizeK(x: Float32Array, out: Uint8Array, nmax: 15 | 31): void {
  const [bytes, rmin, nstep] = nmax === 15 ? [144, -1, 20] : [176, -0.5, 15];
  const nb = x.length / 256;
  const L = new Uint8Array(256), w = new Float32Array(32);
  for (let i = 0; i < nb; i++) {
    const o = i * bytes, xb = x.subarray(i * 256, (i + 1) * 256);
    const scales: number[] = [], mins: number[] = [];
    for (let j = 0; j < 8; j++) {
      const sub = xb.subarray(32 * j, 32 * j + 32);
      let sumX2 = 0;
      for (const v of sub) sumX2 += v * v;
      const avX = Math.sqrt(sumX2 / 32);
      for (let l = 0; l < 32; l++) w[l] = avX + Math.abs(sub[l]!);
      const [s, m] = makeQkx2(sub, w, nmax, L.subarray(32 * j, 32 * j + 32), rmin, 0.1, nstep);
      scales.push(s);
      mins.push(m);
    }
    const [d, dmin] = packScalesK4(scales, mins, out, o);
    const sc = out.subarray(o + 4, o + 16);
    for (let j = 0; j < 8; j++) {
      const [s, m] = scaleMin(sc, j);
      const dd = fr(d * s);
      if (!dd) continue;
      const dm = fr(dmin * m);
      for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = Math.max(0, Math.min(nmax, nearestInt((xb[32 * j + ii]! + dm) / dd)));
    }
    if (nmax === 15) {
      for (let j = 0, q = o + 16; j < 256; j += 64, q += 32) for (let l = 0; l < 32; l++) out[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
    } else {
      const qh = o + 16;
      out.fill(0, qh, qh + 32);
      let m1 = 1, m2 = 2;
      for (let n = 0, ql = o + 48; n < 256; n += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
        for (let j = 0; j < 32; j++) {
          let l1 = L[n + j]!, l2 = L[n + j + 32]!;
          if (l1 > 15) { l1 -= 16; out[qh + j]! |= m1; }
          if (l2 > 15) { l2 -= 16; out[qh + j]! |= m2; }
          out[ql + j] = l1 | (l2 << 4);
        }
      }
    }
  }
}

export const quantizeQ4_K = (x: Float32Array, out: Uint8Array) => quantizeK(x, out, 15);
export const quantizeQ5_K = (x: Float32Array, out: Uint8Array) => quantizeK(x, out, 31);

/**
 * The 2-bit codes L (0..3) of one super-block into its 64 qs bytes: byte l of the n-th 32-byte
 * run holds elements l, l + 32, l + 64 and l + 96 of the n-th 128, two bits each from the low end
 * (the order Q2_K and Q3_K both use).
 */
function pack2Bits(L: Uint8Array, out: Uint8Array, at: number): void {
  for (let j = 0, q = at; j < 256; j += 128, q += 32) {
    for (let l = 0; l < 32; l++) out[q + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
  }
}

const setU16 = (out: Uint8Array, o: number, bits: number) => {
  out[o] = bits & 0xff;
  out[o + 1] = bits >> 8;
};

/**
 * Q2_K (84 bytes per 256): 16 sub-blocks of 16, each fitted to 0..3 with its own scale and
 * min (weighted by |x|, judged by absolute error); the scales and mins are then stored as
 * 4-bit multiples of the block's largest (d, dmin as f16), and the codes re-fitted to the
 * stored values: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin.
 */
export function quantizeQ2_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 256;
  const L = new Uint8Array(256), w = new Float32Array(16);
  const scales = new Array<number>(16), mins = new Array<number>(16);
  for (let i = 0; i < nb; i++) {
    const o = i * 84, xb = x.subarray(i * 256, (i + 1) * 256);
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 16; j++) {
      const sub = xb.subarray(16 * j, 16 * j + 16);
      for (let l = 0; l < 16; l++) w[l] = Math.abs(sub[l]!);
      [scales[j], mins[j]] = makeQkx2(sub, w, 3, L.subarray(16 * j, 16 * j + 16), -0.5, 0.1, 15, true);
      maxScale = Math.max(maxScale, scales[j]!);
      maxMin = Math.max(maxMin, mins[j]!);
    }
    out.fill(0, o, o + 84);
    // Both are ≥ 0 (the fit subtracts the min), so the largest takes code 15.
    if (maxScale > 0) {
      const inv = fr(15 / maxScale);
      for (let j = 0; j < 16; j++) out[o + j] = nearestInt(inv * scales[j]!);
      setU16(out, o + 80, f16Bits(maxScale / 15));
    }
    if (maxMin > 0) {
      const inv = fr(15 / maxMin);
      for (let j = 0; j < 16; j++) out[o + j]! |= nearestInt(inv * mins[j]!) << 4;
      setU16(out, o + 82, f16Bits(maxMin / 15));
    }
    const d = f16Value(out[o + 80]! | (out[o + 81]! << 8)), dmin = f16Value(out[o + 82]! | (out[o + 83]! << 8));
    for (let j = 0; j < 16; j++) {
      const dd = fr(d * (out[o + j]! & 0xf));
      if (!dd) continue;
      const dm = fr(dmin * (out[o + j]! >> 4));
      for (let l = 0; l < 16; l++) L[16 * j + l] = Math.max(0, Math.min(3, nearestInt((xb[16 * j + l]! + dm) / dd)));
    }
    pack2Bits(L, out, o + 16);
  }
}

/**
 * make_q3_quants with do_rmse: n values fitted to −nmax..nmax−1 by a symmetric scale, weighted
 * by x²; starting from the nearest codes at scale max/−nmax, single codes move while that raises
 * (Σ w·x·l)² / Σ w·l² (up to 5 sweeps). Codes are stored + nmax; returns the scale Σwxl / Σwl².
 */
function makeQ3(x: Float32Array, nmax: number, L: Int8Array): number {
  const n = x.length;
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    if (Math.abs(x[i]!) > amax) { amax = Math.abs(x[i]!); max = x[i]!; }
  }
  if (amax < GROUP_MAX_EPS) { L.fill(0); return 0; }
  const iscale = fr(-nmax / max);
  const clampQ = (v: number) => Math.max(-nmax, Math.min(nmax - 1, v));
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = clampQ(nearestInt(iscale * x[i]!));
    L[i] = l;
    const w = x[i]! * x[i]!;
    sumlx += w * x[i]! * l;
    suml2 += w * l * l;
  }
  for (let sweep = 0; sweep < 5; sweep++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const w = x[i]! * x[i]!;
      let slx = sumlx - w * x[i]! * L[i]!;
      if (!(slx > 0)) continue;
      let sl2 = suml2 - w * L[i]! * L[i]!;
      const nl = clampQ(nearestInt((x[i]! * sl2) / slx));
      if (nl === L[i]) continue;
      slx += w * x[i]! * nl;
      sl2 += w * nl * nl;
      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
        L[i] = nl;
        sumlx = slx;
        suml2 = sl2;
        changed++;
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[i] = L[i]! + nmax;
  return sumlx / suml2;
}

/**
 * Q3_K (110 bytes per 256): 16 sub-blocks of 16 fitted to −4..3 with a signed scale each
 * (makeQ3); the scales are stored as 6-bit multiples (offset 32) of d = largest / −32, and the
 * codes re-fitted to them. Layout: hmask[32] (bit b of byte m: the code's third bit for element
 * 32b + m), qs[64] (the low two bits, pack2Bits' order), scales[12] (low nibbles of the 16
 * scales in bytes 0–7, scale j in byte j % 8, high nibble for j ≥ 8; their top two bits in bytes
 * 8–11, scale j at bits 2·⌊j/4⌋ of byte 8 + j % 4), d (f16).
 */
export function quantizeQ3_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 256;
  const L = new Int8Array(256), codes = new Uint8Array(256);
  const scales = new Float32Array(16);
  for (let i = 0; i < nb; i++) {
    const o = i * 110, xb = x.subarray(i * 256, (i + 1) * 256);
    let maxScale = 0, amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3(xb.subarray(16 * j, 16 * j + 16), 4, L.subarray(16 * j, 16 * j + 16));
      if (Math.abs(scales[j]!) > amax) { amax = Math.abs(scales[j]!); maxScale = scales[j]!; }
    }
    out.fill(0, o, o + 110);
    const sc = o + 96;
    if (maxScale) {
      const iscale = fr(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l = Math.max(-32, Math.min(31, nearestInt(iscale * scales[j]!))) + 32;
        out[sc + (j % 8)]! |= (l & 0xf) << (j < 8 ? 0 : 4);
        out[sc + 8 + (j % 4)]! |= (l >> 4) << (2 * Math.floor(j / 4));
      }
      setU16(out, o + 108, f16Bits(1 / iscale));
    }
    const d = f16Value(out[o + 108]! | (out[o + 109]! << 8));
    for (let j = 0; j < 16; j++) {
      const low = j < 8 ? out[sc + j]! & 0xf : out[sc + j - 8]! >> 4;
      const s = (low | (((out[sc + 8 + (j % 4)]! >> (2 * Math.floor(j / 4))) & 3) << 4)) - 32;
      const dd = fr(d * s);
      if (!dd) continue;
      for (let l = 0; l < 16; l++) L[16 * j + l] = Math.max(-4, Math.min(3, nearestInt(xb[16 * j + l]! / dd))) + 4;
    }
    for (let j = 0; j < 256; j++) {
      if (L[j]! > 3) out[o + (j % 32)]! |= 1 << Math.floor(j / 32);
      codes[j] = L[j]! & 3;
    }
    pack2Bits(codes, out, o + 32);
  }
}

/** make_qx_quants with rmse_type 1 (ggml's choice for Q6_K): a symmetric scale fit of n values to −nmax..nmax−1. */
function makeQx(x: Float32Array, nmax: number, L: Int8Array): number {
  const n = x.length;
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[i]!);
    if (ax > amax) { amax = ax; max = x[i]!; }
  }
  if (amax < GROUP_MAX_EPS) { L.fill(0); return 0; }
  let iscale = -nmax / max;
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[i]!)));
    L[i] = l + nmax;
    const w = x[i]! * x[i]!;
    sumlx += w * x[i]! * l;
    suml2 += w * l * l;
  }
  let scale = suml2 ? sumlx / suml2 : 0;
  let best = scale * sumlx;
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = -(nmax + 0.1 * is) / max;
    sumlx = suml2 = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[i]!)));
      const w = x[i]! * x[i]!;
      sumlx += w * x[i]! * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (let i = 0; i < n; i++) L[i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[i]!)));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

export function quantizeQ6_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 256;
  const L = new Int8Array(256);
  const scales = new Float32Array(16);
  for (let i = 0; i < nb; i++) {
    const o = i * 210, xb = x.subarray(i * 256, (i + 1) * 256);
    let maxScale = 0, maxAbs = 0;
    for (let ib = 0; ib < 16; ib++) {
      const s = makeQx(xb.subarray(16 * ib, 16 * ib + 16), 32, L.subarray(16 * ib, 16 * ib + 16));
      scales[ib] = s;
      if (Math.abs(s) > maxAbs) { maxAbs = Math.abs(s); maxScale = s; }
    }
    out.fill(0, o, o + 210);
    if (maxAbs < GROUP_MAX_EPS) continue;
    const iscale = -128 / maxScale;
    const dBits = f16Bits(1 / iscale);
    out[o + 208] = dBits & 0xff;
    out[o + 209] = dBits >> 8;
    const d = f16Value(dBits);
    const sc = new Int8Array(out.buffer, out.byteOffset + o + 192, 16);
    for (let ib = 0; ib < 16; ib++) sc[ib] = Math.min(127, nearestInt(iscale * scales[ib]!));
    for (let j = 0; j < 16; j++) {
      const dd = fr(d * sc[j]!);
      if (!dd) continue;
      for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(xb[16 * j + ii]! / dd))) + 32;
    }
    for (let j = 0, ql = o, qh = o + 128; j < 256; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const q1 = L[j + l]! & 0xf, q2 = L[j + l + 32]! & 0xf, q3 = L[j + l + 64]! & 0xf, q4 = L[j + l + 96]! & 0xf;
        out[ql + l] = q1 | (q3 << 4);
        out[ql + l + 32] = q2 | (q4 << 4);
        out[qh + l] = (L[j + l]! >> 4) | ((L[j + l + 32]! >> 4) << 2) | ((L[j + l + 64]! >> 4) << 4) | ((L[j + l + 96]! >> 4) << 6);
      }
    }
  }
}

const MXFP4_VALUES = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

export function quantizeMxfp4(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 32;
  const best = (v: number, d: number) => {
    let bi = 0, be = Math.abs(MXFP4_VALUES[0]! * d - v);
    for (let i = 1; i < 16; i++) {
      const e = Math.abs(MXFP4_VALUES[i]! * d - v);
      if (e < be) { bi = i; be = e; }
    }
    return bi;
  };
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i * 32 + j]!));
    const e = amax > 0 ? Math.max(0, Math.min(254, Math.floor(Math.log2(amax)) - 2 + 127)) : 0;
    const d = 2 ** (e - 128);
    out[i * 17] = e;
    for (let j = 0; j < 16; j++) out[i * 17 + 1 + j] = best(x[i * 32 + j]!, d) | (best(x[i * 32 + 16 + j]!, d) << 4);
  }
}
