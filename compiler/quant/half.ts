// float32 → binary16 / bfloat16 / FP8 E4M3 bits, rounding to nearest even (as ggml's
// GGML_FP32_TO_FP16, PyTorch's .to(bfloat16) and .to(float8_e4m3fn) round).
const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** float32 → IEEE binary16 bits, round to nearest even. */
export function f16Bits(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let man = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    man |= 0x800000;
    const shift = 14 - e;
    let h = man >>> shift;
    const rem = man & ((1 << shift) - 1), halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** binary16 bits → number. */
export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

/** float32 → bfloat16 bits, round to nearest even (NaN stays NaN). */
export function bf16Bits(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The positive E4M3 values by code 0..126 (0x7f is NaN), ascending. */
const E4M3: number[] = Array.from({ length: 127 }, (_, c) => {
  const exp = c >> 3, man = c & 7;
  return exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7);
});

/** number → OCP FP8 E4M3 ("fn") code, round to nearest even, saturating at ±448. */
export function e4m3Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  if (a >= 448) return sign | 126;
  let lo = 0, hi = 126;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (E4M3[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - E4M3[lo]!, dh = E4M3[hi]! - a;
  const c = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
  return sign | c;
}
