// The memory layout's limits: which kernel build a model needs, and tensors the kernels cannot address.
import { describe, expect, it } from "vitest";
import { lowerGraph } from "../../compiler/lower/lower.js";
import { layoutFor, MAX_MEMORY32, MemoryLimitError } from "../../runtime/memory.js";
import { wantsMemory64 } from "../../runtime/model.js";
import { PLAN_FORMAT, PLAN_VERSION, type Plan } from "../../runtime/plan/plan.js";
import { loadFixture } from "../helpers/fixtures.js";

describe("memory layout limits", () => {
  it("sequence slots count toward the 4 GiB that picks the 64-bit build", async () => {
    const plan = lowerGraph((await loadFixture("olmoe")).graph);
    const sizes = { maxContext: 512, maxTokens: 16 };
    const one = layoutFor(plan, { ...sizes, sequences: 1 }).totalBytes;
    const four = layoutFor(plan, { ...sizes, sequences: 4 }).totalBytes;
    expect(four).toBeGreaterThan(one);
    // Just under 4 GiB with one slot; over it with four.
    const memoryBase = MAX_MEMORY32 - one + 64 - 4096;
    expect(wantsMemory64(plan, { ...sizes, memoryBase }, 1)).toBe(false);
    expect(wantsMemory64(plan, { ...sizes, memoryBase, sequences: 4 }, 1)).toBe(true);
  });

  it("a weight of 4 GiB or more is refused by name (the kernels index a tensor with 32-bit offsets)", () => {
    const plan = {
      format: PLAN_FORMAT,
      version: PLAN_VERSION,
      model: "huge",
      vocab: 2,
      input: { name: "ids", value: 0 },
      output: { name: "y", value: 0, width: 1 },
      weights: [{ name: "lm_head.weight", shape: [262144, 4097], format: "f32" }],
      values: [{ width: 1, slot: 0 }],
      slots: [1],
      caches: [],
      steps: [],
    } as unknown as Plan;
    expect(() => layoutFor(plan, { maxTokens: 1, maxContext: 1 })).toThrow(MemoryLimitError);
    expect(() => layoutFor(plan, { maxTokens: 1, maxContext: 1 })).toThrow(/weight lm_head\.weight \[262144, 4097\] takes 4\.00 GiB as f32; .*under 4 GiB/);
  });
});
