// Conformance of the quantized kernels (matmul_q, gather_rows_q) on every registered device, for
// every storage format, against float64 products with the weights as the TypeScript dequantisers
// decode them (runtime/weights/decode.ts: ggml's reference dequantisers for the GGUF formats).
// Random weights (quantized by compiler/quant), shapes that are not powers of two, outputs
// poisoned, scratch poisoned, guard words after every buffer, column sub-ranges untouched.
// Tolerance: 1e-5·(|y| + ‖x∘w‖) for the float32 arithmetic, plus — for T ≤ QUANT_DECODE_ROWS on
// integer formats, where a device may quantize activations to int8 blocks — Σ_k |w_k|·max|x_blk|/254.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QUANT_DECODE_ROWS, matmulQScratchFloats, enumCode, type Kernels } from "../../runtime/kernels/catalogue.js";
import { FORMATS, STORAGE_FORMATS, rowBytes, type StorageFormat } from "../../runtime/plan/formats.js";
import { decodeWeight } from "../../runtime/weights/decode.js";
import { encodeWeight } from "../../compiler/quant/encode.js";
import type { Device } from "../../runtime/device.js";
import { TEST_DEVICES } from "../helpers/devices.js";
import { Arena } from "../helpers/arena.js";
import { namedRandom, runSeed } from "../helpers/seed.js";

const SEED = runSeed("quantized kernel conformance");
const rng = (name: string) => namedRandom(SEED, name);
const randn = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
const normal = (r: () => number, n: number, sd = 1) => Float32Array.from({ length: n }, () => sd * randn(r));

/** Row lengths to test per format: whole blocks, not powers of two where the block allows. */
function rowLengths(f: StorageFormat): number[] {
  const b = FORMATS[f].block;
  if (b === 1) return f === "int8" ? [37, 96 + 5] : [5, 130];
  return b >= 128 ? [b, 3 * b] : [3 * b, 5 * b];
}
const isFloatCode = (f: StorageFormat) => f === "f32" || f === "f16" || f === "bf16" || f === "fp8_e4m3";

for (const variant of TEST_DEVICES) {
  describe.skipIf(Boolean(variant.skip))(`quantized kernels on ${variant.label}`, () => {
    let device: Device;
    let e: Kernels;
    const BYTES = 32 * 2 ** 20;
    beforeAll(async () => {
      device = await variant.make(BYTES);
      e = device.launch;
    });
    afterAll(async () => {
      await device.dispose();
    });

    it("matmul_q: every format × T ∈ {1,3,6,17} × N ∈ {1,7,33}, column ranges, bias or not", async () => {
      const lines: string[] = [];
      for (const f of STORAGE_FORMATS) {
        const r = rng(`${variant.label}/matmul_q/${f}`);
        const A = new Arena(device, BYTES, r);
        let worstRatio = 0;
        let worstQ = 0;
        for (const K of rowLengths(f))
          for (const N of [1, 7, 33]) {
            const w = normal(r, N * K, 0.5);
            const bytes = encodeWeight(f, w, [N, K]);
            const wd = decodeWeight(f, bytes, [N, K]);
            for (const T of [1, 3, 6, 17]) {
              A.reset();
              const x = normal(r, T * K);
              const b = r() < 0.5 ? normal(r, N) : null;
              const wp = A.putBytes(bytes);
              const sp = FORMATS[f].kind === "channel" ? wp + N * rowBytes(f, K) : 0;
              const xp = A.put(x);
              const bp = b ? A.put(b) : 0;
              const yp = A.poisoned(T * N);
              const scratch = A.poisoned(3 * matmulQScratchFloats(T, K));
              const n0 = r() < 0.4 ? 0 : Math.floor(r() * N);
              const n1 = r() < 0.4 ? N : n0 + 1 + Math.floor(r() * (N - n0));
              e.matmul_q(xp, wp, sp, bp, yp, T, K, N, n0, n1, enumCode("format", f), scratch);
              await A.checkGuards();
              const got = await A.read(yp, T * N);
              const quantX = T <= QUANT_DECODE_ROWS && !isFloatCode(f);
              for (let t = 0; t < T; t++)
                for (let n = 0; n < N; n++) {
                  const g = got[t * N + n]!;
                  const label = `matmul_q ${f} T=${T} K=${K} N=${N} [${n0},${n1}) column ${n} row ${t}`;
                  if (n < n0 || n >= n1) {
                    if (!Number.isNaN(g)) throw new Error(`${label}: outside the range, but written`);
                    continue;
                  }
                  let s = 0, q = 0, qb = 0;
                  for (let k = 0; k < K; k++) {
                    const p = x[t * K + k]! * wd[n * K + k]!;
                    s += p;
                    q += p * p;
                  }
                  if (quantX)
                    for (let k0 = 0; k0 < K; k0 += 32) {
                      let amax = 0;
                      for (let k = k0; k < Math.min(K, k0 + 32); k++) amax = Math.max(amax, Math.abs(x[t * K + k]!));
                      for (let k = k0; k < Math.min(K, k0 + 32); k++) qb += (Math.abs(wd[n * K + k]!) * amax) / 254;
                    }
                  const want = s + (b ? b[n]! : 0);
                  const tol = 1e-5 * (Math.abs(want) + Math.sqrt(q) + (b ? Math.abs(b[n]!) : 0)) + 1.001 * qb + 1e-30;
                  const err = Math.abs(g - want);
                  if (!(err <= tol)) throw new Error(`${label}: got ${g}, want ${want} (error ${err}, tolerance ${tol}${quantX ? `, of which ${qb} for int8 activations` : ""})`);
                  worstRatio = Math.max(worstRatio, err / tol);
                  if (qb > 0) worstQ = Math.max(worstQ, err / qb);
                }
            }
          }
        lines.push(`${f}: worst ${worstRatio.toFixed(3)}× tolerance${worstQ > 0 ? `, ${worstQ.toFixed(3)}× the int8-activation bound at T ≤ ${QUANT_DECODE_ROWS}` : ""}`);
      }
      console.log(`${variant.label} matmul_q:\n  ${lines.join("\n  ")}`);
    }, 300_000); // 408 cases, each read back: a minute on lavapipe, more on a loaded machine

    // Raw random blocks (every bit pattern of K-quant 6-bit scales and mins, of nibbles and high
    // bits; f16 scales of assorted exponents) at row lengths of 1–7 blocks, so that the decode
    // path's per-block SIMD scale decoding and its four-blocks-at-a-time loop (and its remainder)
    // meet values an encoder would not write. q8_0 codes avoid −128 (kernels may read it as −127).
    it("matmul_q decode path: random raw blocks of q4_k, q5_k, q8_0, q4_0, int4_g32, T ∈ {1,2,4}", async () => {
      const scaleAt: Partial<Record<StorageFormat, number[]>> = { q4_k: [0, 2], q5_k: [0, 2], q8_0: [0], q4_0: [0], int4_g32: [0] };
      for (const f of Object.keys(scaleAt) as StorageFormat[]) {
        const r = rng(`${variant.label}/matmul_q raw/${f}`);
        const A = new Arena(device, BYTES, r);
        const { block, blockBytes } = FORMATS[f];
        for (const blocks of block === 256 ? [1, 3] : [1, 3, 4, 5, 7, 9]) {
          const K = blocks * block, N = 5 + Math.floor(r() * 7);
          const bytes = Uint8Array.from({ length: N * blocks * blockBytes }, () => Math.floor(r() * 256));
          for (let b = 0; b < N * blocks; b++) {
            for (const at of scaleAt[f]!) {
              const h = ((5 + Math.floor(r() * 8)) << 10) | Math.floor(r() * 1024) | (r() < 0.3 ? 0x8000 : 0);
              bytes[b * blockBytes + at] = h & 0xff;
              bytes[b * blockBytes + at + 1] = h >> 8;
            }
            if (f === "q8_0") for (let i = 2; i < 34; i++) if (bytes[b * blockBytes + i] === 0x80) bytes[b * blockBytes + i] = 0x81;
          }
          const wd = decodeWeight(f, bytes, [N, K]);
          for (const T of [1, 2, 4]) {
            A.reset();
            const x = normal(r, T * K);
            const wp = A.putBytes(bytes), xp = A.put(x), yp = A.poisoned(T * N);
            const scratch = A.poisoned(3 * matmulQScratchFloats(T, K));
            e.matmul_q(xp, wp, 0, 0, yp, T, K, N, 0, N, enumCode("format", f), scratch);
            await A.checkGuards();
            const got = await A.read(yp, T * N);
            for (let t = 0; t < T; t++)
              for (let n = 0; n < N; n++) {
                let s = 0, q = 0, qb = 0;
                for (let k0 = 0; k0 < K; k0 += 32) {
                  let amax = 0;
                  for (let k = k0; k < k0 + 32; k++) amax = Math.max(amax, Math.abs(x[t * K + k]!));
                  for (let k = k0; k < k0 + 32; k++) {
                    const p = x[t * K + k]! * wd[n * K + k]!;
                    s += p;
                    q += p * p;
                    qb += (Math.abs(wd[n * K + k]!) * amax) / 254;
                  }
                }
                const err = Math.abs(got[t * N + n]! - s);
                const tol = 1e-5 * (Math.abs(s) + Math.sqrt(q)) + 1.001 * qb + 1e-30;
                if (!(err <= tol)) throw new Error(`matmul_q ${f} raw blocks T=${T} K=${K} N=${N} column ${n} row ${t}: got ${got[t * N + n]}, want ${s} (error ${err}, tolerance ${tol})`);
              }
          }
        }
      }
    });

    it("gather_rows_q: every format, repeated and out-of-order rows, equal to the TypeScript dequantiser", async () => {
      for (const f of STORAGE_FORMATS) {
        const r = rng(`${variant.label}/gather_rows_q/${f}`);
        const A = new Arena(device, BYTES, r);
        for (const d of rowLengths(f)) {
          A.reset();
          const V = 13;
          const table = normal(r, V * d);
          const bytes = encodeWeight(f, table, [V, d]);
          const want = decodeWeight(f, bytes, [V, d]);
          const idx = Array.from({ length: 9 }, () => Math.floor(r() * V));
          const tp = A.putBytes(bytes);
          const sp = FORMATS[f].kind === "channel" ? tp + V * rowBytes(f, d) : 0;
          const ip = A.putI32(idx);
          const dp = A.poisoned(idx.length * d);
          e.gather_rows_q(tp, sp, ip, dp, idx.length, d, enumCode("format", f));
          await A.checkGuards();
          const got = await A.read(dp, idx.length * d);
          const rows = new Float32Array(idx.length * d);
          idx.forEach((v, i) => rows.set(want.subarray(v * d, (v + 1) * d), i * d));
          expect(Array.from(got), `gather_rows_q ${f} d=${d}`).toEqual(Array.from(rows));
        }
      }
    });
  });
}
