// The weight names and shapes a program declares must be exactly the tensors of the real
// Hugging Face checkpoint: no missing, no extra, no shape disagreement.
import { describe, expect, it } from "vitest";
import { openCheckpoint } from "../../runtime/weights/safetensors.js";
import { expectedTensors, fixture, graphOf } from "../helpers/compile.js";

const cases: [string, string][] = [
  ["tiny-mixtral.moe", "mixtral"],
  ["tiny-qwen2-moe.moe", "qwen2_moe"],
  ["tiny-deepseek-v3.moe", "deepseek_v3"],
];

describe("weight names bind to Hugging Face checkpoints", () => {
  for (const [program, hf] of cases) {
    it(`${program} ↔ ${hf}/model.safetensors`, async () => {
      const want = expectedTensors(graphOf(fixture("moe", program)));
      const ck = await openCheckpoint(fixture("hf", hf, "model.safetensors"));
      try {
        const have = new Map(ck.names().map((n) => [n, ck.info(n).shape]));
        expect([...want.keys()].filter((n) => !have.has(n))).toEqual([]);
        expect([...have.keys()].filter((n) => !want.has(n))).toEqual([]);
        for (const [n, shape] of want) expect([n, have.get(n)]).toEqual([n, shape]);
      } finally {
        await ck.close();
      }
    });
  }
});
