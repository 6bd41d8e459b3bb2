// GGUF: the reader (header, metadata, validation), the ggml dequantisers (against blocks
// computed by hand), and the import of Mixtral / Qwen2-MoE / OLMoE GGUF files (converted from
// the Hugging Face fixtures the way llama.cpp's convert_hf_to_gguf.py does it) checked against
// the logits transformers computed.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/index.js";
import { GgufHfSource, ggufToHf, shortestF32, unpermuteRows } from "../../compiler/import/gguf.js";
import { importHfConfig } from "../../compiler/import/hf.js";
import type { Graph } from "../../compiler/ir/graph.js";
import { runPipeline } from "../../compiler/passes/pipeline.js";
import { promptLogits } from "../../compiler/run/generate.js";
import { loadGgufModel, openGgufWeights } from "../../compiler/run/gguf-load.js";
import { bindWeights } from "../../compiler/weights/bind.js";
import { GGML_TYPES, dequantize, ggmlTypeByName } from "../../runtime/weights/ggml-quants.js";
import { isGgufFile, openGguf } from "../../runtime/weights/gguf.js";
import { WeightFileError, openCheckpoint } from "../../runtime/weights/safetensors.js";
import { fixture } from "../helpers/compile.js";
import { relativeError } from "../helpers/fixtures.js";
import {
  type ConvertOptions, type KV, type WriterTensor, convertHfFixture, encode, llamaPermute,
  quantizeQ4_0, quantizeQ4_K, quantizeQ8_0, writeGguf,
} from "../helpers/gguf-writer.js";

let dir: string;
beforeAll(async () => { dir = await mkdtemp(path.join(tmpdir(), "moec-gguf-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

let counter = 0;
async function put(bytes: Uint8Array, name = `t${counter++}.gguf`): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, bytes);
  return p;
}

async function expectWeightError(p: Promise<unknown>, ...parts: string[]): Promise<WeightFileError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e, "expected a WeightFileError").toBeInstanceOf(WeightFileError);
  for (const part of parts) expect((e as Error).message).toContain(part);
  return e as WeightFileError;
}

const T = (name: string) => ggmlTypeByName(name);
const le16 = (...xs: number[]) => new Uint8Array(new Uint16Array(xs).buffer);
const cat = (...parts: (Uint8Array | number[])[]) => {
  const arrs = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrs.reduce((a, p) => a + p.length, 0));
  arrs.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
};
const F16_ONE = 0x3c00, F16_HALF = 0x3800, F16_TWO = 0x4000, F16_QUARTER = 0x3400;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// ---- dequantisation against hand-computed blocks ------------------------------------------

describe("ggml dequantisation", () => {
  it("knows the block sizes of ggml's types", () => {
    const sizes = Object.fromEntries([...GGML_TYPES.values()].map((t) => [t.name, [t.id, t.blockSize, t.typeSize]]));
    expect(sizes).toMatchObject({
      F32: [0, 1, 4], F16: [1, 1, 2], Q4_0: [2, 32, 18], Q4_1: [3, 32, 20], Q5_0: [6, 32, 22], Q5_1: [7, 32, 24], Q8_0: [8, 32, 34],
      Q2_K: [10, 256, 84], Q3_K: [11, 256, 110], Q4_K: [12, 256, 144], Q5_K: [13, 256, 176], Q6_K: [14, 256, 210], BF16: [30, 1, 2], MXFP4: [39, 32, 17],
    });
  });

  it("F32, F16, BF16", () => {
    expect([...dequantize(T("F32"), new Uint8Array(new Float32Array([1.5, -2]).buffer), 2)]).toEqual([1.5, -2]);
    // f16: 1, -2, 0.5, the largest subnormal 0x03ff = 1023·2^-24, 65504
    expect([...dequantize(T("F16"), le16(F16_ONE, 0xc000, F16_HALF, 0x03ff, 0x7bff), 5)]).toEqual([1, -2, 0.5, 1023 * 2 ** -24, 65504]);
    // bf16 is the top half of a float32: 0x3f80 = 1, 0xc040 = -3
    expect([...dequantize(T("BF16"), le16(0x3f80, 0xc040), 2)]).toEqual([1, -3]);
  });

  it("Q8_0: f16 d, then 32 int8; value = q·d", () => {
    const qs = range(32).map((j) => [0, 1, -1, 127, -128, 5][j % 6]!);
    const block = cat(le16(F16_HALF), Int8Array.from(qs).map((x) => x & 0xff) as unknown as number[]);
    expect([...dequantize(T("Q8_0"), block, 32)]).toEqual(qs.map((q) => q * 0.5));
    // two blocks with different scales
    const two = cat(block, le16(F16_TWO), new Uint8Array(32).fill(0xff));
    const y = dequantize(T("Q8_0"), two, 64);
    expect(y[32]).toBe(-2);
    expect(y[63]).toBe(-2);
  });

  it("Q4_0: f16 d, 16 bytes; value = (nibble - 8)·d, low nibbles are the first 16 values", () => {
    // byte j = j | (15 - j) << 4: values j (first half) and 15 - j (second half)
    const block = cat(le16(F16_TWO), range(16).map((j) => j | ((15 - j) << 4)));
    const y = [...dequantize(T("Q4_0"), block, 32)];
    expect(y.slice(0, 16)).toEqual(range(16).map((j) => (j - 8) * 2)); // -16, -14, ..., 14
    expect(y.slice(16)).toEqual(range(16).map((j) => (15 - j - 8) * 2)); // 14, 12, ..., -16
  });

  it("Q4_1: f16 d, f16 m, 16 bytes; value = nibble·d + m", () => {
    const block = cat(le16(F16_HALF, 0xbc00 /* -1 */), range(16).map((j) => j | (3 << 4)));
    const y = [...dequantize(T("Q4_1"), block, 32)];
    expect(y.slice(0, 16)).toEqual(range(16).map((j) => j * 0.5 - 1));
    expect(y.slice(16)).toEqual(range(16).map(() => 3 * 0.5 - 1));
  });

  it("Q5_0 and Q5_1: the fifth bit of value j is bit j of qh", () => {
    // qh bits: value j (j < 16) has its high bit set for odd j; value 16 + j for j ≥ 8
    let qh = 0;
    for (let j = 0; j < 16; j++) if (j % 2 === 1) qh |= 1 << j;
    for (let j = 8; j < 16; j++) qh |= 1 << (16 + j);
    const qhBytes = new Uint8Array(new Uint32Array([qh >>> 0]).buffer);
    const qs = range(16).map((j) => (j & 0xf) | ((15 - j) << 4));
    const lo = (j: number) => j + (j % 2 === 1 ? 16 : 0); // 5-bit value of element j < 16
    const hi = (j: number) => 15 - j + (j >= 8 ? 16 : 0); // of element 16 + j
    const y0 = [...dequantize(T("Q5_0"), cat(le16(F16_HALF), qhBytes, qs), 32)];
    expect(y0).toEqual([...range(16).map((j) => (lo(j) - 16) * 0.5), ...range(16).map((j) => (hi(j) - 16) * 0.5)]);
    const y1 = [...dequantize(T("Q5_1"), cat(le16(F16_HALF, F16_TWO), qhBytes, qs), 32)];
    expect(y1).toEqual([...range(16).map((j) => lo(j) * 0.5 + 2), ...range(16).map((j) => hi(j) * 0.5 + 2)]);
  });

  // Q4_K scales: 8 sub-blocks of 32 with 6-bit scale and min each, packed in 12 bytes.
  // Wanted scales [1, 2, 3, 63, 17, 33, 48, 5] and mins [0, 1, 10, 63, 20, 40, 0, 7]:
  //   bytes 0-3: scale j (j < 4) in the low 6 bits, the top 2 bits of scale j+4 above them:
  //     1 | (17>>4)<<6 = 65, 2 | (33>>4)<<6 = 130, 3 | (48>>4)<<6 = 195, 63 | (5>>4)<<6 = 63
  //   bytes 4-7: min j (j < 4), the top 2 bits of min j+4 above:
  //     0 | (20>>4)<<6 = 64, 1 | (40>>4)<<6 = 129, 10 | 0 = 10, 63 | (7>>4)<<6 = 63
  //   bytes 8-11: low 4 bits of scale j+4, low 4 bits of min j+4 above them:
  //     1 | 4<<4 = 65, 1 | 8<<4 = 129, 0 | 0 = 0, 5 | 7<<4 = 117
  const K_SCALE_BYTES = [65, 130, 195, 63, 64, 129, 10, 63, 65, 129, 0, 117];
  const K_SCALES = [1, 2, 3, 63, 17, 33, 48, 5], K_MINS = [0, 1, 10, 63, 20, 40, 0, 7];
  // 128 quant bytes in 4 chunks of 32: low nibbles are sub-block 2c, high nibbles sub-block 2c+1
  const kQs = (c: number, l: number) => (l % 16) | (((l + c) % 16) << 4);
  const kNibble = (sub: number, l: number) => (sub % 2 === 0 ? l % 16 : (l + (sub >> 1)) % 16);

  it("Q4_K: d, dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles", () => {
    const qs = range(128).map((i) => kQs(i >> 5, i % 32));
    const block = cat(le16(F16_ONE, F16_HALF), K_SCALE_BYTES, qs);
    expect(block.length).toBe(144);
    const y = [...dequantize(T("Q4_K"), block, 256)];
    const want = range(256).map((i) => {
      const sub = i >> 5, l = i % 32;
      return 1 * K_SCALES[sub]! * kNibble(sub, l) - 0.5 * K_MINS[sub]!;
    });
    expect(y).toEqual(want);
    // spot checks by hand: sub-block 3 (scale 63, min 63) element 5: 63·((5+1)%16) - 31.5 = 346.5
    expect(y[3 * 32 + 5]).toBe(346.5);
    // sub-block 4 (scale 17, min 20) element 0: 17·0 - 10 = -10
    expect(y[4 * 32]).toBe(-10);
  });

  it("Q5_K: as Q4_K with a fifth bit from qh (bit 2c for sub-block 2c, 2c+1 for 2c+1)", () => {
    const qs = range(128).map((i) => kQs(i >> 5, i % 32));
    // qh[l]: set bit s for sub-block s when l is odd
    const qh = range(32).map((l) => (l % 2 === 1 ? 0xff : 0));
    const block = cat(le16(F16_HALF, F16_ONE), K_SCALE_BYTES, qh, qs);
    expect(block.length).toBe(176);
    const y = [...dequantize(T("Q5_K"), block, 256)];
    const want = range(256).map((i) => {
      const sub = i >> 5, l = i % 32;
      return 0.5 * K_SCALES[sub]! * (kNibble(sub, l) + (l % 2 === 1 ? 16 : 0)) - 1 * K_MINS[sub]!;
    });
    expect(y).toEqual(want);
  });

  it("Q6_K: 4 low bits in ql, 2 high bits in qh, int8 scales per 16 values, minus 32", () => {
    // value i (in a 128-half n, position p = i % 128): group g = p >> 5 (0..3), l = p % 32
    //   low 4 bits: ql[64n + l + 32·(g & 1)], low nibble for g < 2, high nibble for g ≥ 2
    //   high 2 bits: qh[32n + l] >> 2g
    //   scale: scales[8n + 2g + (l >> 4)]
    const ql = range(128).map((i) => (i % 16) | (((i * 3) % 16) << 4));
    const qh = range(64).map((i) => (i * 37) & 0xff);
    const scales = range(16).map((i) => (i % 2 ? -(i + 1) : i + 1));
    const block = cat(ql, qh, Int8Array.from(scales).map((x) => x & 0xff) as unknown as number[], le16(F16_QUARTER));
    expect(block.length).toBe(210);
    const y = [...dequantize(T("Q6_K"), block, 256)];
    const want = range(256).map((i) => {
      const n = i >> 7, p = i % 128, g = p >> 5, l = p % 32;
      const b = ql[64 * n + l + 32 * (g & 1)]!;
      const low = g < 2 ? b & 0xf : b >> 4;
      const high = (qh[32 * n + l]! >> (2 * g)) & 3;
      return 0.25 * scales[8 * n + 2 * g + (l >> 4)]! * ((low | (high << 4)) - 32);
    });
    expect(y).toEqual(want);
  });

  it("Q2_K: 2-bit values, 4-bit scale and min per 16 values", () => {
    // value i: n = i >> 7, p = i % 128, shift group g = p >> 5, l = p % 32
    //   q = (qs[32n + l] >> 2g) & 3, scale byte scales[8n + 2g + (l >> 4)]
    const scales = range(16).map((i) => (i % 16) | (((15 - i) % 16) << 4));
    const qs = range(64).map((i) => (i * 53) & 0xff);
    const block = cat(scales, qs, le16(F16_HALF, F16_QUARTER));
    expect(block.length).toBe(84);
    const y = [...dequantize(T("Q2_K"), block, 256)];
    const want = range(256).map((i) => {
      const n = i >> 7, p = i % 128, g = p >> 5, l = p % 32;
      const sc = scales[8 * n + 2 * g + (l >> 4)]!;
      return 0.5 * (sc & 0xf) * ((qs[32 * n + l]! >> (2 * g)) & 3) - 0.25 * (sc >> 4);
    });
    expect(y).toEqual(want);
  });

  it("Q3_K: 2 low bits in qs, the third bit (inverted) in hmask, 6-bit signed scales", () => {
    // 16 scales of 6 bits, offset by 32: low 4 bits in bytes 0-7 (j < 8: low nibble of byte j,
    // j ≥ 8: high nibble of byte j - 8), top 2 bits in bytes 8-11 (bits 2·(j/4) of byte 8 + j%4).
    const want6 = range(16).map((j) => (j * 5 + 3) % 64); // stored values; scale = stored - 32
    const sb = new Array(12).fill(0);
    for (let j = 0; j < 16; j++) {
      const v = want6[j]!;
      if (j < 8) sb[j] |= v & 0xf; else sb[j - 8] |= (v & 0xf) << 4;
      sb[8 + (j % 4)] |= (v >> 4) << (2 * Math.floor(j / 4));
    }
    const hmask = range(32).map((i) => (i * 29) & 0xff);
    const qs = range(64).map((i) => (i * 71 + 5) & 0xff);
    const block = cat(hmask, qs, sb, le16(F16_TWO));
    expect(block.length).toBe(110);
    const y = [...dequantize(T("Q3_K"), block, 256)];
    const want = range(256).map((i) => {
      const n = i >> 7, p = i % 128, g = p >> 5, l = p % 32;
      const q = (qs[32 * n + l]! >> (2 * g)) & 3;
      const bit = (hmask[l]! >> (4 * n + g)) & 1;
      return 2 * (want6[8 * n + 2 * g + (l >> 4)]! - 32) * (q - (bit ? 0 : 4));
    });
    expect(y).toEqual(want);
  });

  it("MXFP4: E8M0 scale byte, 16 bytes of FP4 E2M1 codes, low nibbles first", () => {
    const e = 128; // 2^(128-127) = 2: values are E2M1 · 2 (code 8 is +0: ggml's table holds int8 0 there)
    const block = cat([e], range(16).map((j) => j | ((15 - j) << 4)));
    const e2m1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6];
    const y = [...dequantize(T("MXFP4"), block, 32)];
    expect(y).toEqual([...range(16).map((j) => e2m1[j]! * 2), ...range(16).map((j) => e2m1[15 - j]! * 2)]);
  });

  it("rejects byte counts that do not match and types it cannot convert", () => {
    expect(() => dequantize(T("Q8_0"), new Uint8Array(33), 32)).toThrow(RangeError);
    expect(() => dequantize(T("Q4_0"), new Uint8Array(18), 31)).toThrow(/whole 32-element blocks/);
    expect(() => dequantize(T("IQ2_XXS"), new Uint8Array(66), 256)).toThrow(/cannot convert ggml type IQ2_XXS/);
  });

  describe("the test quantisers (ggml's reference quantisers) round-trip within their step", () => {
    const data = Float32Array.from(range(1024), (i) => Math.sin(i * 0.7) * (1 + (i % 13) / 5) + (i % 97 === 0 ? 4 : 0));
    const rms = Math.sqrt(data.reduce((a, x) => a + x * x, 0) / data.length);
    const cases: [string, (x: Float32Array) => Uint8Array, number][] = [
      ["Q8_0", quantizeQ8_0, 32], ["Q4_0", quantizeQ4_0, 32], ["Q4_K", quantizeQ4_K, 256],
    ];
    for (const [name, q, block] of cases) {
      it(name, () => {
        const bytes = q(data);
        const t = T(name);
        expect(bytes.length).toBe((data.length / block) * t.typeSize);
        const y = dequantize(t, bytes, data.length);
        const err = relativeError(y, data);
        // per block, the error is at most half a step (plus f16 rounding of the scale)
        for (let b = 0; b < data.length / block; b++) {
          const xs = data.subarray(b * block, (b + 1) * block);
          const amax = Math.max(...xs.map(Math.abs));
          // Q4_0 maps the largest magnitude to -8 and clamps +8 to 7, so the other sign can be off by a whole step
          const bound = name === "Q8_0" ? amax / 127 / 2 : name === "Q4_0" ? amax / 8 : (Math.max(...xs) - Math.min(0, Math.min(...xs))) / 15;
          for (let i = 0; i < block; i++) expect(Math.abs(y[b * block + i]! - xs[i]!)).toBeLessThanOrEqual(bound + amax * 2 ** -10);
        }
        console.log(`quantiser round trip ${name}: relative error ${err.toExponential(2)} (rms ${rms.toFixed(2)})`);
        expect(err).toBeLessThan(name === "Q8_0" ? 0.01 : 0.1);
      });
    }
  });
});

// ---- the reader -----------------------------------------------------------------------------

function tinyTensors(): WriterTensor[] {
  const a = Float32Array.from(range(6), (i) => i - 2.5); // ne [3, 2]: 2 rows of 3
  const q = Float32Array.from(range(64), (i) => Math.cos(i));
  return [
    { name: "a", ne: [3, 2], type: "F32", bytes: encode("F32", a) },
    { name: "h", ne: [4], type: "F16", bytes: encode("F16", Float32Array.of(1, -0.5, 2, 0.25)) },
    { name: "q8", ne: [32, 2], type: "Q8_0", bytes: encode("Q8_0", q) },
    { name: "q4", ne: [32, 2], type: "Q4_0", bytes: encode("Q4_0", q) },
  ];
}

const ALL_KV: KV[] = [
  ["general.architecture", "string", "llama"],
  ["k.u8", "u8", 200], ["k.i8", "i8", -100], ["k.u16", "u16", 65000], ["k.i16", "i16", -30000],
  ["k.u32", "u32", 4_000_000_000], ["k.i32", "i32", -2_000_000_000], ["k.f32", "f32", 0.5], ["k.bool", "bool", true],
  ["k.string", "string", "héllo"], ["k.u64", "u64", 2n ** 60n], ["k.i64", "i64", -5n], ["k.f64", "f64", 1e-300],
  ["k.arr.f32", "array", [1, 2.5, -3], "f32"], ["k.arr.str", "array", ["a", "", "ünï"], "string"],
  ["k.arr.bool", "array", [true, false], "bool"], ["k.arr.u64", "array", [1n, 2n ** 63n], "u64"], ["k.arr.empty", "array", [], "i32"],
];

describe("GGUF reader", () => {
  it("reads metadata of every type, tensor infos and data; shapes are ne reversed", async () => {
    const file = await put(writeGguf({ kv: ALL_KV, tensors: tinyTensors(), alignment: 64 }));
    expect(await isGgufFile(file)).toBe(true);
    const g = await openGguf(file);
    try {
      expect(g.version).toBe(3);
      expect(g.alignment).toBe(64);
      expect(g.dataOffset % 64).toBe(0);
      expect(g.get("k.u8")).toBe(200);
      expect(g.get("k.i8")).toBe(-100);
      expect(g.get("k.u16")).toBe(65000);
      expect(g.get("k.i16")).toBe(-30000);
      expect(g.get("k.u32")).toBe(4_000_000_000);
      expect(g.get("k.i32")).toBe(-2_000_000_000);
      expect(g.get("k.f32")).toBe(0.5);
      expect(g.get("k.bool")).toBe(true);
      expect(g.get("k.string")).toBe("héllo");
      expect(g.get("k.u64")).toBe(2n ** 60n); // beyond 2^53: a bigint
      expect(g.get("k.i64")).toBe(-5);
      expect(g.get("k.f64")).toBe(1e-300);
      expect(g.get("k.arr.f32")).toEqual([1, 2.5, -3]);
      expect(g.get("k.arr.str")).toEqual(["a", "", "ünï"]);
      expect(g.get("k.arr.bool")).toEqual([true, false]);
      expect(g.get("k.arr.u64")).toEqual([1, 2n ** 63n]);
      expect(g.get("k.arr.empty")).toEqual([]);
      expect(g.metadata.get("k.arr.f32")).toMatchObject({ type: "array", itemType: "f32" });
      expect(g.get("nope")).toBeUndefined();

      expect(g.names()).toEqual(["a", "h", "q8", "q4"]);
      const a = g.ggufTensor("a");
      expect(a).toMatchObject({ ne: [3, 2], shape: [2, 3], numel: 6, rows: 2, rowLength: 3, byteLength: 24 });
      expect(a.offset % 64).toBe(0);
      expect([...(await g.readF32("a"))]).toEqual([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]);
      expect([...(await g.readRowsF32("a", 1, 1))]).toEqual([0.5, 1.5, 2.5]);
      expect([...(await g.readF32("h"))]).toEqual([1, -0.5, 2, 0.25]);
      // plain types read raw; quantised types are presented as float32
      expect(g.info("h")).toMatchObject({ dtype: "F16", shape: [4], byteLength: 8 });
      expect((await g.readTensor("h")).bytes.length).toBe(8);
      expect(g.info("q8")).toMatchObject({ dtype: "F32", shape: [2, 32], numel: 64, byteLength: 256 });
      expect(g.ggufTensor("q8")).toMatchObject({ byteLength: 68 });
      const q = Float32Array.from(range(64), (i) => Math.cos(i));
      const q8 = await g.readF32("q8");
      expect(relativeError(q8, q)).toBeLessThan(0.01);
      expect(new Float32Array((await g.readTensor("q8")).bytes.slice().buffer)).toEqual(q8);
      expect([...(await g.readRowsF32("q8", 1, 1))]).toEqual([...q8.subarray(32)]);
      expect(relativeError(await g.readF32("q4"), q)).toBeLessThan(0.15);
      await expectWeightError(g.readF32("missing"), file, "no such tensor");
      await expectWeightError(g.readRowsF32("a", 1, 2), "outside the tensor's 2 rows");
    } finally {
      await g.close();
    }
    await expectWeightError(g.readF32("a"), "closed");
  });

  it("reads version 2 files and files with no tensors", async () => {
    const g = await openGguf(await put(writeGguf({ kv: [["general.architecture", "string", "x"]], tensors: [], version: 2 })));
    expect(g.version).toBe(2);
    expect(g.names()).toEqual([]);
    await g.close();
  });

  it("reports types it knows but cannot dequantise when read, not when opened", async () => {
    const t: WriterTensor = { name: "iq", ne: [256], type: "F32", bytes: new Uint8Array(66) };
    const bytes = writeGguf({ kv: [], tensors: [t] });
    // patch the type id (F32 = 0) to IQ2_XXS (16): it sits right before the u64 offset at the end of the tensor info
    const info = bytes.indexOf(0x69, 24); // "i" of the name
    const typeAt = info + 2 + 4 + 8;
    expect(new DataView(bytes.buffer).getUint32(typeAt, true)).toBe(0);
    new DataView(bytes.buffer).setUint32(typeAt, 16, true);
    const file = await put(bytes);
    const g = await openGguf(file);
    expect(g.ggufTensor("iq").type.name).toBe("IQ2_XXS");
    await expectWeightError(g.readF32("iq"), file, "IQ2_XXS cannot be dequantised", "llama-quantize");
    await g.close();
  });

  describe("malformed files: a WeightFileError naming the file, fast", () => {
    const valid = () => writeGguf({ kv: ALL_KV, tensors: tinyTensors() });
    const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    /** Byte offset where tensor infos start in `valid()` (after the metadata). */
    const tensorInfoStart = (b: Uint8Array) => {
      const at = b.indexOf(0x61, 24 + 1); // the "a" of tensor "a", after its u64 length 1
      let i = at;
      while (!(b[i] === 0x61 && dv(b).getBigUint64(i - 8, true) === 1n && dv(b).getUint32(i + 1, true) === 2)) i = b.indexOf(0x61, i + 1);
      return i - 8;
    };

    const cases: [string, () => Uint8Array, string[]][] = [
      ["empty file", () => new Uint8Array(0), ["fewer than the 24-byte GGUF header"]],
      ["bad magic", () => { const b = valid(); b.set([0x47, 0x47, 0x4d, 0x4c], 0); return b; }, ['starts with "GGML"', "not the GGUF magic"]],
      ["a safetensors file", () => cat(new Uint8Array(new BigUint64Array([2n]).buffer), [0x7b, 0x7d], new Uint8Array(30)), ["not the GGUF magic"]],
      ["version 1", () => { const b = valid(); dv(b).setUint32(4, 1, true); return b; }, ["GGUF version 1 is not supported"]],
      ["version 4", () => { const b = valid(); dv(b).setUint32(4, 4, true); return b; }, ["unsupported GGUF version 4"]],
      ["big-endian", () => { const b = valid(); dv(b).setUint32(4, 3, false); return b; }, ["big-endian"]],
      ["absurd tensor count", () => { const b = valid(); dv(b).setBigUint64(8, 2n ** 62n, true); return b; }, ["claims 4611686018427387904 tensors"]],
      ["absurd metadata count", () => { const b = valid(); dv(b).setBigUint64(16, 2n ** 64n - 1n, true); return b; }, ["metadata entries"]],
      ["more metadata than there is", () => { const b = valid(); dv(b).setBigUint64(16, 40n, true); return b; }, []],
      ["absurd key length", () => { const b = valid(); dv(b).setBigUint64(24, 2n ** 40n, true); return b; }, ["limit"]],
      ["key longer than the file", () => { const b = valid(); dv(b).setBigUint64(24, 60000n, true); return b.slice(0, 1000); }, ["header ends early"]],
      ["unknown value type", () => { const b = valid(); dv(b).setUint32(24 + 8 + 20, 13, true); return b; }, ["value type 13"]],
      ["absurd array count", () => {
        const b = valid();
        const key = new TextEncoder().encode("k.arr.f32");
        const at = b.indexOf(key[0]!, b.findIndex((_, i) => key.every((c, j) => b[i + j] === c)));
        dv(b).setBigUint64(at + key.length + 4 + 4, 2n ** 61n, true);
        return b;
      }, ['"k.arr.f32" claims 2305843009213693952 f32 items']],
      ["nested array", () => {
        const b = valid();
        const key = new TextEncoder().encode("k.arr.f32");
        const at = b.findIndex((_, i) => key.every((c, j) => b[i + j] === c));
        dv(b).setUint32(at + key.length + 4, 9, true);
        return b;
      }, ["array of arrays"]],
      ["duplicate key", () => writeGguf({ kv: [["a", "u8", 1], ["a", "u8", 2]], tensors: [] }), ['"a" appears twice']],
      ["bad alignment", () => writeGguf({ kv: [["general.alignment", "u32", 24]], tensors: [] }), ["power of two"]],
      ["alignment of the wrong type", () => writeGguf({ kv: [["general.alignment", "u64", 32]], tensors: [] }), ["must be a u32"]],
      ["too many dimensions", () => { const b = valid(); dv(b).setUint32(tensorInfoStart(b) + 9, 5, true); return b; }, ['tensor "a"', "5 dimensions"]],
      ["absurd dimension", () => { const b = valid(); dv(b).setBigUint64(tensorInfoStart(b) + 13, 2n ** 62n, true); return b; }, ['tensor "a"', "far too large"]],
      ["unknown ggml type", () => { const b = valid(); dv(b).setUint32(tensorInfoStart(b) + 13 + 16, 99, true); return b; }, ['tensor "a"', "unknown ggml type 99"]],
      ["rows not whole blocks", () => writeGguf({ kv: [], tensors: [{ name: "q", ne: [16, 2], type: "Q8_0", bytes: new Uint8Array(34) }] }), ['tensor "q"', "not whole Q8_0 blocks of 32"]],
      ["offset not aligned", () => { const b = valid(); dv(b).setBigUint64(tensorInfoStart(b) + 13 + 16 + 4, 4n, true); return b; }, ["not a multiple of the alignment 32"]],
      ["offset past the end", () => { const b = valid(); dv(b).setBigUint64(tensorInfoStart(b) + 13 + 16 + 4, 2n ** 50n, true); return b; }, ['tensor "a"', "past the end of the file"]],
      ["tensor past the end", () => valid().slice(0, -40), ['tensor "q4"', "past the end of the file"]],
      ["overlapping tensors", () => { const b = valid(); dv(b).setBigUint64(tensorInfoStart(b) + 13 + 16 + 4, 32n, true); return b; }, ["overlaps"]],
      ["duplicate tensor", () => writeGguf({ kv: [], tensors: [tinyTensors()[0]!, tinyTensors()[0]!] }), ['tensor "a"', "appears twice"]],
    ];
    for (const [what, make, parts] of cases) {
      it(what, async () => {
        const file = await put(make());
        const t0 = performance.now();
        await expectWeightError(openGguf(file), file, ...parts);
        expect(performance.now() - t0).toBeLessThan(500);
      });
    }

    it("every truncation of a valid file's header", async () => {
      const b = valid();
      const g = await openGguf(await put(b));
      const end = g.dataOffset;
      await g.close();
      let n = 0;
      const t0 = performance.now();
      for (let cut = 0; cut < end; cut += cut < 64 ? 1 : 13) {
        const file = await put(b.slice(0, cut), "cut.gguf");
        await expectWeightError(openGguf(file), file);
        n++;
      }
      console.log(`GGUF truncations: ${n} cut points, all rejected in ${(performance.now() - t0).toFixed(0)} ms`);
    });

    it("cannot open a missing file", async () => {
      await expectWeightError(openGguf(path.join(dir, "missing.gguf")), "missing.gguf", "cannot open");
      expect(await isGgufFile(path.join(dir, "missing.gguf"))).toBe(false);
    });
  });
});

// ---- import --------------------------------------------------------------------------------

const HF = fixture("hf");

interface Fixture { ids: number[]; logits: Float32Array; shape: [number, number] }
function fixtureData(name: string): Fixture {
  const d = path.join(HF, name);
  const meta = JSON.parse(readFileSync(path.join(d, "meta.json"), "utf8")) as { logits_shape: [number, number] };
  const ids = JSON.parse(readFileSync(path.join(d, "input_ids.json"), "utf8")) as number[] | number[][];
  const raw = readFileSync(path.join(d, "logits.f32"));
  return {
    ids: (Array.isArray(ids[0]) ? ids[0] : ids) as number[],
    logits: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)),
    shape: meta.logits_shape,
  };
}

async function ggufOf(name: string, opts: ConvertOptions = {}): Promise<string> {
  return put(await convertHfFixture(path.join(HF, name), opts), `${name}-${counter++}.gguf`);
}

/** Imports a GGUF file, binds it and runs the prompt; returns the logits and the bound weights. */
async function runGguf(file: string, ids: readonly number[]): Promise<{ logits: Float32Array; weights: Map<string, Float32Array>; graph: Graph; text: string }> {
  const { text, source } = await loadGgufModel(file);
  try {
    const checked = checkSource(`${file} (imported)`, text);
    if (!checked.graph) throw new Error(`${file}: the imported program does not check: ${checked.diagnostics.map((d) => d.message).join("; ")}\n${text}`);
    const graph = runPipeline(checked.graph).graph;
    const weights = await bindWeights(graph, source, file);
    return { logits: promptLogits({ graph, weights }, ids).data, weights, graph, text };
  } finally {
    await source.close();
  }
}

describe("GGUF import (fixtures converted as llama.cpp's convert_hf_to_gguf.py does)", () => {
  it("gives float32 metadata as the decimal the converter was given", () => {
    expect(shortestF32(Math.fround(1e-5))).toBe(1e-5);
    expect(shortestF32(Math.fround(1e-6))).toBe(1e-6);
    expect(shortestF32(Math.fround(0.1))).toBe(0.1);
    expect(shortestF32(1000000)).toBe(1000000);
    expect(shortestF32(Math.fround(Math.PI))).toBe(3.1415927);
  });

  it("undoes LlamaModel.permute exactly", () => {
    // 2 heads of dim 6, rows of 2 columns: 24 values
    const data = Float32Array.from(range(24), (i) => i);
    const permuted = llamaPermute(data, 12, 2);
    // head 0 rows 0..5 = [r0, r1, r2 | r3, r4, r5] become [r0, r3, r1, r4, r2, r5]
    expect([...permuted.subarray(0, 12)]).toEqual([0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11]);
    expect([...unpermuteRows(permuted, 2, 2)]).toEqual([...data]);
  });

  const FAMILIES: [string, string][] = [["mixtral", "llama"], ["qwen2_moe", "qwen2moe"], ["olmoe", "olmoe"]];

  for (const [name, arch] of FAMILIES) {
    it(`${name}: F32 GGUF ("${arch}") reproduces the safetensors weights bit for bit and transformers' logits`, async () => {
      const fx = fixtureData(name);
      const file = await ggufOf(name);
      const g = await openGguf(file);
      const imp = ggufToHf(g);
      await g.close();
      // the synthesised config imports to the same tensors as the fixture's own config.json
      const own = importHfConfig(JSON.parse(readFileSync(path.join(HF, name, "config.json"), "utf8")), "config.json");
      const fromGguf = importHfConfig(imp.config, "gguf");
      if ("error" in own || "error" in fromGguf) throw new Error(JSON.stringify([own, fromGguf]));
      const body = (t: string) => t.split("\n").filter((l) => !l.startsWith("//")).join("\n");
      expect(body(fromGguf.text)).toBe(body(own.text));

      const { logits, weights, graph, text } = await runGguf(file, fx.ids);
      expect(text).toContain(`general.architecture "${arch}"`);
      const ck = await openCheckpoint(path.join(HF, name));
      try {
        for (const [n, w] of weights) expect(w, n).toEqual(await ck.readF32(n));
        expect(weights.size).toBe(ck.names().length);
      } finally {
        await ck.close();
      }
      expect(graph.name).toBeTruthy();
      const err = relativeError(logits, fx.logits);
      console.log(`GGUF ${name} F32: relative error ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-4);
    });
  }

  it("mixtral: without the llama permutation undone, the logits are wrong (the permutation matters)", async () => {
    const fx = fixtureData("mixtral");
    const { logits } = await runGguf(await ggufOf("mixtral", { noPermute: true }), fx.ids);
    const err = relativeError(logits, fx.logits);
    console.log(`GGUF mixtral with q/k rows left permuted: relative error ${err.toExponential(2)}`);
    expect(err).toBeGreaterThan(1e-2);
  });

  it("mixtral: old per-expert tensors (blk.N.ffn_gate.E.weight) and a non-default alignment", async () => {
    const fx = fixtureData("mixtral");
    const { logits } = await runGguf(await ggufOf("mixtral", { perExpert: true, alignment: 64 }), fx.ids);
    expect(relativeError(logits, fx.logits)).toBeLessThan(1e-4);
  });

  it("qwen2_moe_dense_layers: layers without a router import as dense MLP layers", async () => {
    // This fixture has norm_topk_prob true, which convert_hf_to_gguf.py does not record for
    // qwen2moe (llama.cpp's qwen2moe never renormalises); the key says it here.
    const fx = fixtureData("qwen2_moe_dense_layers");
    const { logits } = await runGguf(await ggufOf("qwen2_moe_dense_layers", { extraKv: [["qwen2moe.expert_weights_norm", "bool", true]] }), fx.ids);
    const err = relativeError(logits, fx.logits);
    console.log(`GGUF qwen2_moe_dense_layers F32: relative error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it("qwen3_moe (\"qwen3moe\"): per-head q/k norms, head_dim 24 ≠ hidden/heads, a dense layer, renormalised top-k", async () => {
    const fx = fixtureData("qwen3_moe");
    const { logits } = await runGguf(await ggufOf("qwen3_moe"), fx.ids);
    const err = relativeError(logits, fx.logits);
    console.log(`GGUF qwen3_moe F32: relative error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it("qwen3_moe_yarn: rope.scaling.type yarn with its factor and original context length", async () => {
    const fx = fixtureData("qwen3_moe_yarn");
    const file = await ggufOf("qwen3_moe_yarn");
    const g = await openGguf(file);
    expect(ggufToHf(g).config.rope_parameters).toEqual({ rope_type: "yarn", rope_theta: 10000, factor: 4, original_max_position_embeddings: 32 });
    await g.close();
    const { logits } = await runGguf(file, fx.ids);
    const err = relativeError(logits, fx.logits);
    console.log(`GGUF qwen3_moe_yarn F32: relative error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it("olmoe_clip_qkv: olmoe.attention.clamp_kqv becomes clip_qkv", async () => {
    const fx = fixtureData("olmoe_clip_qkv");
    const { logits } = await runGguf(await ggufOf("olmoe_clip_qkv", { extraKv: [["olmoe.attention.clamp_kqv", "f32", 1]] }), fx.ids);
    const err = relativeError(logits, fx.logits);
    console.log(`GGUF olmoe_clip_qkv F32: relative error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it("a GGUF without output.weight is a tied-embedding model", async () => {
    const file = await ggufOf("mixtral", { dropOutput: true });
    const g = await openGguf(file);
    expect(ggufToHf(g).config.tie_word_embeddings).toBe(true);
    await g.close();
    const fx = fixtureData("mixtral");
    const { logits } = await runGguf(file, fx.ids);
    expect(logits.length).toBe(fx.logits.length);
    expect(logits.every(Number.isFinite)).toBe(true);
  });

  // Quantised weights: reported, with loose bounds.
  const QUANT: [string, ConvertOptions, number][] = [
    ["experts F16", { experts: "F16" }, 2e-3],
    ["experts Q8_0", { experts: "Q8_0" }, 2e-2],
    ["experts Q4_0", { experts: "Q4_0" }, 0.25],
    ["all 2-D weights Q8_0", { experts: "Q8_0", others: "Q8_0" }, 3e-2],
    ["all 2-D weights Q4_0", { experts: "Q4_0", others: "Q4_0" }, 0.5],
  ];
  for (const [name] of FAMILIES) {
    for (const [what, opts, bound] of QUANT) {
      it(`${name}: ${what}`, async () => {
        const fx = fixtureData(name);
        const file = await ggufOf(name, opts);
        const g = await openGguf(file);
        const types = new Map<string, number>();
        for (const t of g.tensors) types.set(t.type.name, (types.get(t.type.name) ?? 0) + 1);
        await g.close();
        const { logits } = await runGguf(file, fx.ids);
        const err = relativeError(logits, fx.logits);
        let agree = 0;
        const V = fx.shape[1];
        for (let r = 0; r < fx.shape[0]; r++) {
          const row = (a: Float32Array) => a.subarray(r * V, (r + 1) * V);
          const argmax = (a: Float32Array) => a.reduce((bi, x, i, arr) => (x > arr[bi]! ? i : bi), 0);
          if (argmax(row(logits)) === argmax(row(fx.logits))) agree++;
        }
        console.log(`GGUF ${name} ${what} (${[...types].map(([n, c]) => `${c} ${n}`).join(", ")}): relative error ${err.toExponential(2)}, top-1 agrees on ${agree}/${fx.shape[0]} positions`);
        expect(err).toBeLessThan(bound);
      });
    }
  }
});

describe("GGUF import errors", () => {
  const base = (arch: string, extra: KV[] = []): KV[] => [
    ["general.architecture", "string", arch], [`${arch}.block_count`, "u32", 1], [`${arch}.embedding_length`, "u32", 32],
    [`${arch}.context_length`, "u32", 64], [`${arch}.attention.head_count`, "u32", 4], [`${arch}.attention.layer_norm_rms_epsilon`, "f32", 1e-5],
    ...extra,
  ];
  const embd: WriterTensor = { name: "token_embd.weight", ne: [32, 10], type: "F32", bytes: new Uint8Array(32 * 10 * 4) };
  const open = async (kv: KV[], tensors: WriterTensor[] = [embd]) => {
    const file = await put(writeGguf({ kv, tensors }));
    return { file, g: await openGguf(file) };
  };

  it("an unsupported architecture", async () => {
    const { file, g } = await open(base("falcon-h1"));
    expect(() => ggufToHf(g)).toThrow(WeightFileError);
    expect(() => ggufToHf(g)).toThrow(new RegExp(`${file}.*GGUF architecture "falcon-h1" is not supported`));
    await g.close();
  });

  it("a dense llama model", async () => {
    const { g } = await open(base("llama"));
    expect(() => ggufToHf(g)).toThrow(/dense llama model, and moec imports MoE models/);
    await g.close();
  });

  it("missing metadata", async () => {
    const { g } = await open(base("llama").filter(([k]) => k !== "llama.context_length"));
    expect(() => ggufToHf(g)).toThrow(/metadata "llama.context_length" is missing/);
    await g.close();
  });

  it("per-layer head counts that vary", async () => {
    const kv = base("olmoe", [["olmoe.expert_count", "u32", 4], ["olmoe.expert_used_count", "u32", 2]]).map((e): KV => (e[0] === "olmoe.block_count" ? ["olmoe.block_count", "u32", 2] : e));
    kv.push(["olmoe.attention.head_count_kv", "array", [4, 2], "u32"]);
    const { g } = await open(kv);
    expect(() => ggufToHf(g)).toThrow(/head_count_kv" varies per layer/);
    await g.close();
  });

  it("loadGgufModel reports a file that is not GGUF", async () => {
    const file = await put(new TextEncoder().encode("not a gguf file at all, just text"));
    await expectWeightError(loadGgufModel(file), file, "not the GGUF magic");
  });

  it("openGgufWeights gives the weights alone, for a program given separately", async () => {
    const src = await openGgufWeights(await ggufOf("mixtral"));
    try {
      expect(src.info("model.layers.1.block_sparse_moe.experts.7.w2.weight").shape).toEqual([64, 96]);
      const ck = await openCheckpoint(path.join(HF, "mixtral"));
      for (const n of ["model.layers.1.self_attn.k_proj.weight", "model.layers.1.block_sparse_moe.experts.7.w2.weight"]) {
        expect(await src.readF32(n), n).toEqual(await ck.readF32(n));
      }
      await ck.close();
    } finally {
      await src.close();
    }
  });

  it("GgufHfSource names what it cannot find", async () => {
    const file = await ggufOf("olmoe");
    const g = await openGguf(file);
    const src = new GgufHfSource(g, ggufToHf(g).entries);
    expect(src.has("model.layers.0.mlp.experts.15.down_proj.weight")).toBe(true);
    expect(src.info("model.layers.0.mlp.experts.15.down_proj.weight").shape).toEqual([64, 40]);
    expect(src.origin("model.layers.0.mlp.experts.15.down_proj.weight")).toMatchObject({ rows: { first: 15 * 64, count: 64 } });
    await expectWeightError(src.readF32("model.layers.9.nope.weight"), file, "no tensor maps");
    await src.close();
  });
});
