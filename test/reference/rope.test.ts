import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { RopeAttr } from "../../compiler/ir/graph.js";
import { applyRope, ropeCosSin, ropeInvFreq } from "../../runtime/math/rope.js";

// Golden values written once by transformers 5.17 (torch CPU) through test/reference/make_rope_cases.py.
interface RopeCase {
  readonly name: string;
  readonly model: string;
  readonly rope: RopeAttr;
  readonly headDim: number;
  readonly layout: "half" | "pairs" | "complex" | "deinterleave";
  readonly positions: readonly number[];
  readonly seqLen: number;
  readonly invFreq: readonly number[];
  readonly attentionFactor: number;
  readonly cos: readonly number[];
  readonly sin: readonly number[];
  readonly x: readonly number[];
  readonly out: readonly number[];
}

const golden = JSON.parse(readFileSync(new URL("./rope-cases.json", import.meta.url), "utf8")) as {
  readonly transformers: string;
  readonly cases: readonly RopeCase[];
};

// One float32 ulp of inv_freq (see rope.ts on pow) moves an angle at position 20 by up to ~2e-6.
const TOL = 4e-6;

function maxAbsDiff(a: ArrayLike<number>, b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function rotateAll(c: RopeCase, cos: Float32Array, sin: Float32Array): Float32Array {
  const out = new Float32Array(c.positions.length * c.headDim);
  for (let p = 0; p < c.positions.length; p++) {
    out.set(c.x, p * c.headDim);
    applyRope(out, p * c.headDim, c.headDim, c.rope, cos, sin, p, c.layout === "half" ? "pairs" : c.layout);
  }
  return out;
}

describe(`rope matches transformers ${golden.transformers}`, () => {
  it("has the expected cases", () => {
    const names = golden.cases.map((c) => c.name);
    for (const want of ["default", "partial-8of16", "linear", "dynamic-below", "dynamic-above", "llama3", "yarn-truncate", "yarn-notruncate",
      "yarn-attention-factor", "yarn-mscale-v3", "yarn-mscale-v2", "yarn-gpt-oss", "interleaved-v2", "interleaved-v3",
      "longrope-phimoe-short", "longrope-phimoe-long", "longrope-phi3-short", "longrope-phi3-long"]) {
      expect(names).toContain(want);
    }
  });

  for (const c of golden.cases) {
    describe(`${c.name} (${c.model}, ${c.layout})`, () => {
      it("inv_freq and attention factor", () => {
        const { invFreq, attentionFactor } = ropeInvFreq(c.rope, c.seqLen);
        expect(invFreq.length).toBe(c.rope.dim / 2);
        let rel = 0;
        for (let j = 0; j < c.invFreq.length; j++) rel = Math.max(rel, Math.abs(invFreq[j]! - c.invFreq[j]!) / c.invFreq[j]!);
        expect(rel).toBeLessThanOrEqual(TOL);
        // every inv_freq is a float32 value, and the golden's too: they agree to within one float32 ulp
        // (torch's vectorised powf is not correctly rounded; ours is)
        for (let j = 0; j < c.invFreq.length; j++) expect(Math.abs(invFreq[j]! - c.invFreq[j]!), `inv_freq[${j}]`).toBeLessThanOrEqual(Math.abs(c.invFreq[j]!) * 2 ** -23);
        expect(Math.abs(attentionFactor - c.attentionFactor)).toBeLessThanOrEqual(1e-12);
      });

      it("cos, sin and the rotated head", () => {
        const { cos, sin } = ropeCosSin(c.rope, c.positions, c.seqLen);
        const errCos = maxAbsDiff(cos, c.cos);
        const errSin = maxAbsDiff(sin, c.sin);
        const errOut = maxAbsDiff(rotateAll(c, cos, sin), c.out);
        expect(errCos).toBeLessThanOrEqual(TOL);
        expect(errSin).toBeLessThanOrEqual(TOL);
        expect(errOut).toBeLessThanOrEqual(TOL);
      });
    });
  }

  it("rotating with HF's own cos/sin reproduces HF's output to the bit", () => {
    // isolates applyRope's arithmetic (f32 products, f32 sum) from cos/sin's last-ulp differences
    for (const c of golden.cases) {
      const got = rotateAll(c, Float32Array.from(c.cos), Float32Array.from(c.sin));
      for (let i = 0; i < c.out.length; i++) expect(got[i], `${c.name}[${i}]`).toBe(Math.fround(c.out[i]!));
    }
  });
});

describe("rope details", () => {
  const plain: RopeAttr = { theta: 10000, dim: 8, style: "half", scaling: null };

  it("position 0 is the identity and dims past rope.dim pass through", () => {
    const { cos, sin } = ropeCosSin(plain, [0, 3], 4);
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    applyRope(x, 0, 10, plain, cos, sin, 0);
    expect(Array.from(x)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    applyRope(x, 0, 10, plain, cos, sin, 1);
    expect(x[8]).toBe(9);
    expect(x[9]).toBe(10);
    // a rotation keeps each pair's norm
    for (let j = 0; j < 4; j++) expect(Math.hypot(x[j]!, x[j + 4]!)).toBeCloseTo(Math.hypot(j + 1, j + 5), 5);
  });

  it("interleaved layouts hold the same values, permuted", () => {
    const r: RopeAttr = { ...plain, style: "interleaved" };
    const { cos, sin } = ropeCosSin(r, [5], 6);
    const src = Float32Array.from([0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8]);
    const pairs = Float32Array.from(src);
    const de = Float32Array.from(src);
    applyRope(pairs, 0, 8, r, cos, sin, 0, "pairs");
    applyRope(de, 0, 8, r, cos, sin, 0, "deinterleave");
    for (let j = 0; j < 4; j++) {
      expect(de[j]).toBe(pairs[2 * j]);
      expect(de[j + 4]).toBe(pairs[2 * j + 1]);
    }
  });

  it("dynamic NTK keeps the original frequencies up to originalMax", () => {
    const dyn: RopeAttr = { ...plain, scaling: { type: "dynamic", factor: 4, originalMax: 32 } };
    expect(Array.from(ropeInvFreq(dyn, 32).invFreq)).toEqual(Array.from(ropeInvFreq(plain, 32).invFreq));
    expect(ropeInvFreq(dyn, 33).invFreq[3]!).toBeLessThan(ropeInvFreq(plain, 33).invFreq[3]!);
  });
});

describe("proportional RoPE (Gemma-4's full-attention layers)", () => {
  it("the whole head's frequencies for the first rotated/2 pairs, none for the rest; those dims pass unchanged", () => {
    // hand computation: D = 12, rotated = 4: inv_j = f32(1 / f32(θ^f32(2j/12))) for j < 2, then 0
    const rope: RopeAttr = { theta: 1e6, dim: 12, style: "half", scaling: { type: "proportional", rotated: 4, factor: 1 } };
    const { invFreq, attentionFactor } = ropeInvFreq(rope, 9);
    const f = Math.fround;
    expect(Array.from(invFreq)).toEqual([1, f(1 / f(Math.pow(f(1e6), f(2 / 12)))), 0, 0, 0, 0]);
    expect(attentionFactor).toBe(1);
    const halved = ropeInvFreq({ ...rope, scaling: { type: "proportional", rotated: 4, factor: 4 } }, 9).invFreq;
    expect(Array.from(halved)).toEqual([0.25, f(invFreq[1]! / 4), 0, 0, 0, 0]);
    // rotate a random head at position 7: the pairs (0, 6) and (1, 7) turn, the other 8 dims are unchanged
    const seed = Date.now() % 100000;
    console.log(`proportional rope seed ${seed}`);
    let s = seed;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const x = Float32Array.from({ length: 12 }, rnd);
    const y = Float32Array.from(x);
    const { cos, sin } = ropeCosSin(rope, [7], 8);
    applyRope(y, 0, 12, rope, cos, sin, 0);
    for (const j of [2, 3, 4, 5]) {
      expect(y[j]).toBe(x[j]);
      expect(y[j + 6]).toBe(x[j + 6]);
    }
    for (const j of [0, 1]) {
      const a = f(7 * invFreq[j]!);
      const [c, sn] = [f(Math.cos(a)), f(Math.sin(a))];
      expect(y[j]).toBe(f(f(x[j]! * c) - f(x[j + 6]! * sn)));
      expect(y[j + 6]).toBe(f(f(x[j + 6]! * c) + f(x[j]! * sn)));
    }
    expect(() => ropeInvFreq({ ...rope, scaling: { type: "proportional", rotated: 5, factor: 1 } }, 9)).toThrow(/must be even/);
  });
});
