// Sampling against hand computations: which tokens temperature, top-k and top-p can return,
// and with what frequencies.
import { describe, expect, it } from "vitest";
import { argmax, makeSampler } from "../../runtime/sampling.js";

const logits = Float32Array.of(2, 1, 0, 3, -1); // probabilities ∝ e^2, e^1, e^0, e^3, e^-1

function frequencies(sample: (l: Float32Array) => number, n: number): number[] {
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[sample(logits)]!++;
  return counts.map((c) => c / n);
}

describe("sampling", () => {
  it("greedy is argmax, lowest id on ties", () => {
    expect(argmax(logits)).toBe(3);
    expect(argmax(Float32Array.of(1, 5, 5))).toBe(1);
    expect(makeSampler({})(logits)).toBe(3);
  });

  it("temperature 1 samples the softmax", () => {
    const z = [2, 1, 0, 3, -1].map(Math.exp);
    const sum = z.reduce((a, b) => a + b, 0);
    const f = frequencies(makeSampler({ temperature: 1, seed: 11 }), 40000);
    z.forEach((p, i) => expect(Math.abs(f[i]! - p / sum)).toBeLessThan(0.01));
  });

  it("top-k 2 only returns the two best tokens, in proportion e^3 : e^2", () => {
    const f = frequencies(makeSampler({ temperature: 1, topK: 2, seed: 5 }), 20000);
    expect(f[1]! + f[2]! + f[4]!).toBe(0);
    expect(Math.abs(f[3]! - Math.exp(3) / (Math.exp(3) + Math.exp(2)))).toBeLessThan(0.015);
  });

  it("top-p keeps the smallest prefix whose mass reaches p", () => {
    // sorted probabilities: 0.636 (id 3), 0.234 (id 0), 0.086 (id 1), ...: p = 0.8 keeps ids 3 and 0.
    const f = frequencies(makeSampler({ temperature: 1, topP: 0.8, seed: 9 }), 20000);
    expect(f[1]! + f[2]! + f[4]!).toBe(0);
    expect(f[3]! + f[0]!).toBe(1);
  });

  it("low temperature approaches greedy; the same seed repeats", () => {
    expect(frequencies(makeSampler({ temperature: 0.01, seed: 1 }), 1000)[3]).toBe(1);
    const a = makeSampler({ temperature: 1, seed: 42 });
    const b = makeSampler({ temperature: 1, seed: 42 });
    expect(Array.from({ length: 50 }, () => a(logits))).toEqual(Array.from({ length: 50 }, () => b(logits)));
  });
});
