// The low-bit GGUF formats q3_k and q2_k (ggml's Q3_K and Q2_K blocks):
// - the dequantiser against gguf-py's (golden blocks made once by make-lowbit-golden.py: random
//   bytes with finite scales, and the float32 values gguf.quants.dequantize gives them);
// - the quantisers on blocks built by hand so that every value is on the grid the block can
//   store: they must come back exactly, which pins the layout (where each code, scale and min
//   goes) independently of the dequantiser's own tests;
// - the quantisers' error on random weights: a fresh seed each run, ordered q2_k > q3_k > q4_k,
//   each under a bound about 1.5× what it measured here (0.30 and 0.15 on Gaussian rows).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { dequantize, ggmlTypeByName } from "../../runtime/weights/ggml-quants.js";
import { decodeWeight, firstNonFiniteStored } from "../../runtime/weights/decode.js";
import { FORMATS, bitsPerWeight } from "../../runtime/plan/formats.js";
import { encodeWeight } from "../../compiler/quant/encode.js";
import { fitFormat, parseQuantize } from "../../compiler/quant/scheme.js";
import { f16Bits } from "../../compiler/quant/half.js";
import { relativeError } from "../helpers/fixtures.js";
import { namedRandom, runSeed } from "../helpers/seed.js";

const SEED = runSeed("low-bit formats");
const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
const randn = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

describe("q3_k and q2_k: the table", () => {
  it("are ggml's Q3_K (110 bytes) and Q2_K (84 bytes) per 256, at 3.4375 and 2.625 bits per weight", () => {
    expect(FORMATS.q3_k).toMatchObject({ block: 256, blockBytes: 110, ggml: "Q3_K" });
    expect(FORMATS.q2_k).toMatchObject({ block: 256, blockBytes: 84, ggml: "Q2_K" });
    expect(ggmlTypeByName("Q3_K").typeSize).toBe(110);
    expect(ggmlTypeByName("Q2_K").typeSize).toBe(84);
    expect(bitsPerWeight("q3_k")).toBe(3.4375);
    expect(bitsPerWeight("q2_k")).toBe(2.625);
    expect(parseQuantize("Q3_K")).toMatchObject({ kind: "uniform", format: "q3_k" });
    expect(parseQuantize("q2_k")).toMatchObject({ kind: "uniform", format: "q2_k" });
    // rows that are not whole super-blocks fall back as llama.cpp's do (to a 4.5-bit 32-block format)
    expect(fitFormat("q3_k", 96)).toBe("q4_0");
    expect(fitFormat("q2_k", 100)).toBe("int8");
  });
});

describe("the dequantiser matches gguf-py's", () => {
  const golden = JSON.parse(readFileSync(new URL("./lowbit-golden.json", import.meta.url), "utf8")) as { cases: { type: string; blocks: string; values: string }[] };
  for (const c of golden.cases) {
    it(`${c.type}: ${hex(c.blocks).length} bytes of random blocks, bit for bit`, () => {
      const bytes = hex(c.blocks);
      const want = new Float32Array(hex(c.values).buffer);
      const got = dequantize(ggmlTypeByName(c.type), bytes, want.length);
      const format = c.type.toLowerCase() as "q3_k" | "q2_k";
      const viaFormat = decodeWeight(format, bytes, [want.length / 512, 512]);
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
      expect(Buffer.from(viaFormat.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    });
  }
});

describe("the quantisers put values on the storable grid back exactly (the layout, by hand)", () => {
  it("Q3_K: sub-block j holds m_j/32 · (−4..3), the largest m = 32 — d = −1/32, scale −m_j", () => {
    const r = namedRandom(SEED, "q3 grid");
    const blocks = 3;
    const x = new Float32Array(256 * blocks);
    const m: number[] = [];
    for (let b = 0; b < blocks; b++) {
      const big = Math.floor(r() * 16);
      for (let j = 0; j < 16; j++) {
        const mj = j === big ? 32 : 1 + Math.floor(r() * 31);
        m.push(mj);
        // every sub-block holds −4 (its largest magnitude, so its scale comes out positive) and 3
        const codes = Array.from({ length: 16 }, (_, l) => (l === 0 ? -4 : l === 1 ? 3 : Math.floor(r() * 8) - 4));
        for (let l = 0; l < 16; l++) x[256 * b + 16 * j + l] = (mj / 32) * codes[l]!;
      }
    }
    const bytes = encodeWeight("q3_k", x, [blocks, 256]);
    // by hand: d = −1/32 in f16, stored scales 32 − m_j (6 bits), codes + 4 split into 2 + 1 bits
    for (let b = 0; b < blocks; b++) {
      const o = 110 * b;
      expect(bytes[o + 108]! | (bytes[o + 109]! << 8)).toBe(f16Bits(-1 / 32));
      for (let j = 0; j < 16; j++) {
        const stored = -m[16 * b + j]! + 32;
        const low = j < 8 ? bytes[o + 96 + j]! & 0xf : bytes[o + 96 + j - 8]! >> 4;
        const top = (bytes[o + 104 + (j % 4)]! >> (2 * Math.floor(j / 4))) & 3;
        expect(low | (top << 4)).toBe(stored);
        for (let l = 0; l < 16; l++) {
          const e = 16 * j + l;
          const code = Math.round(x[256 * b + e]! / (m[16 * b + j]! / 32)) + 4; // 0..7
          const two = (bytes[o + 32 + 32 * (e >> 7) + (e % 32)]! >> (2 * ((e % 128) >> 5))) & 3;
          const bit = (bytes[o + (e % 32)]! >> (e >> 5)) & 1;
          expect(two | (bit << 2)).toBe(code);
        }
      }
    }
    expect(decodeWeight("q3_k", bytes, [blocks, 256])).toEqual(x);
  });

  it("Q2_K: sub-block j holds s_j·D·(0..3) − t_j·E, the largest s and t = 15 — d = D, dmin = E", () => {
    const r = namedRandom(SEED, "q2 grid");
    const blocks = 3;
    const D = 2 ** -6, E = 2 ** -5;
    const x = new Float32Array(256 * blocks);
    const st: [number, number][] = [];
    for (let b = 0; b < blocks; b++) {
      const bigS = Math.floor(r() * 16), bigT = Math.floor(r() * 16);
      for (let j = 0; j < 16; j++) {
        const s = j === bigS ? 15 : 1 + Math.floor(r() * 14), t = j === bigT ? 15 : 1 + Math.floor(r() * 14);
        st.push([s, t]);
        const codes = Array.from({ length: 16 }, (_, l) => (l === 0 ? 0 : l === 1 ? 3 : Math.floor(r() * 4)));
        for (let l = 0; l < 16; l++) x[256 * b + 16 * j + l] = s * D * codes[l]! - t * E;
      }
    }
    const bytes = encodeWeight("q2_k", x, [blocks, 256]);
    for (let b = 0; b < blocks; b++) {
      const o = 84 * b;
      expect(bytes[o + 80]! | (bytes[o + 81]! << 8)).toBe(f16Bits(D));
      expect(bytes[o + 82]! | (bytes[o + 83]! << 8)).toBe(f16Bits(E));
      for (let j = 0; j < 16; j++) {
        const [s, t] = st[16 * b + j]!;
        expect(bytes[o + j]).toBe(s | (t << 4));
        for (let l = 0; l < 16; l++) {
          const e = 16 * j + l;
          const code = Math.round((x[256 * b + e]! + t * E) / (s * D));
          expect((bytes[o + 16 + 32 * (e >> 7) + (e % 32)]! >> (2 * ((e % 128) >> 5))) & 3).toBe(code);
        }
      }
    }
    expect(decodeWeight("q2_k", bytes, [blocks, 256])).toEqual(x);
  });

  it("all-zero blocks store zero scales and decode to zeros", () => {
    for (const f of ["q3_k", "q2_k"] as const) {
      const bytes = encodeWeight(f, new Float32Array(512), [2, 256]);
      expect(bytes.every((b) => b === 0)).toBe(true);
      expect(decodeWeight(f, bytes, [2, 256]).every((v) => v === 0)).toBe(true);
    }
  });
});

describe("the quantisers' error on random weights", () => {
  it("Gaussian rows (fresh seed): q2_k > q3_k > q4_k in error, each within its bound", () => {
    const r = namedRandom(SEED, "gaussian");
    const rows = 7, K = 768;
    const x = Float32Array.from({ length: rows * K }, () => randn(r) * 0.05);
    const err = Object.fromEntries((["q2_k", "q3_k", "q4_k"] as const).map((f) => [f, relativeError(decodeWeight(f, encodeWeight(f, x, [rows, K]), [rows, K]), x)]));
    console.log(`relative error on N(0, 0.05²) weights [${rows}, ${K}], seed ${SEED}: q2_k ${err["q2_k"]!.toFixed(4)}, q3_k ${err["q3_k"]!.toFixed(4)}, q4_k ${err["q4_k"]!.toFixed(4)}`);
    expect(err["q2_k"]!).toBeGreaterThan(err["q3_k"]!);
    expect(err["q3_k"]!).toBeGreaterThan(err["q4_k"]!);
    // 2 bits with a min per 16: about a third of the signal; 3 bits symmetric: about a sixth
    expect(err["q2_k"]!).toBeLessThan(0.45);
    expect(err["q3_k"]!).toBeLessThan(0.25);
  });

  it("a non-finite scale is named at load (firstNonFiniteStored reads d and dmin)", () => {
    const x = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i));
    for (const [f, at] of [["q3_k", 110 + 108], ["q2_k", 84 + 80], ["q2_k", 84 + 82]] as const) {
      const bytes = encodeWeight(f, x, [2, 256]);
      expect(firstNonFiniteStored(f, bytes, [2, 256])).toBe(-1);
      bytes[at] = 0x00;
      bytes[at + 1] = 0x7c; // +inf
      expect(firstNonFiniteStored(f, bytes, [2, 256])).toBe(256);
    }
  });
});
