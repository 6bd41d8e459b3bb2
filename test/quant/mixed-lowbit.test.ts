// Mixed precision under 4 bits per weight: with q3_k (3.44) and q2_k (2.63) in the ladder,
// `--quantize budget=3.5` is solvable, and it beats storing every expert in q3_k (the uniform
// scheme of the same size, the other weights in q8_0 as the budget keeps them) on the logits'
// error against float32. The model is the tiny OLMoE GGUF of the llama.cpp parity test (F32, random
// weights, rows of 256: the Hugging Face fixtures' rows are shorter than one K-quant super-block,
// so there q3_k and q2_k fall back to q4_0 and no budget under 4.5 can be met). Calibration ids
// are fresh per run (the seed is printed); the errors are measured on them by compiler/quant's
// error report against the float32 plan on the same backend.
import { describe, expect, it } from "vitest";
import { loadGraph, openWeights } from "../../compiler/run/load.js";
import { measureError, quantizeFor, type QuantOutcome } from "../../compiler/quant/run.js";
import { parseQuantize, type QuantizeSpec } from "../../compiler/quant/scheme.js";
import { expertsSpec, LADDER } from "../../compiler/quant/mixed.js";
import { fixture } from "../helpers/compile.js";
import { namedRandom, runSeed } from "../helpers/seed.js";

const SEED = runSeed("mixed precision under 4 bits");
const FILE = `${fixture("gguf-llama")}/olmoe-tiny-F32.gguf`;

describe("budget=3.5 with the low-bit formats", () => {
  it("is met, mixes formats, and has lower logit error than every expert in q3_k", { timeout: 240_000 }, async () => {
    const g = await loadGraph(FILE);
    if (!("hfDir" in g)) throw new Error(`${FILE}: does not import`);
    const w = await openWeights(g.graph, g.hfDir, {}, g.gguf);
    try {
      const r = namedRandom(SEED, "calibration");
      const ids = Array.from({ length: 48 }, () => Math.floor(r() * 512));
      const run = async (spec: QuantizeSpec): Promise<[QuantOutcome, number, number]> => {
        const q = await quantizeFor(g.graph, w, "wasm", spec, { calibration: ids.join(","), threads: 1 });
        const e = await measureError(g.graph, w, "wasm", q, 1);
        if ("skipped" in e) throw new Error(e.skipped);
        return [q, e.logits.relativeError, e.logits.top1Agreement];
      };
      expect(LADDER).toContain("q3_k");
      expect(LADDER).toContain("q2_k");
      const [mixed, eMixed, tMixed] = await run(parseQuantize("budget=3.5"));
      const [, eQ3, tQ3] = await run(expertsSpec(g.graph, "q3_k"));
      const [, eInt4, tInt4] = await run(expertsSpec(g.graph, "int4_g32"));
      const report = mixed.mixed!.report;
      const used = new Set(report.experts.map((e) => e.format));
      console.log(
        `seed ${SEED}: experts at ${report.expertBitsPerWeight.toFixed(3)} bits (${report.experts.map((e) => `${e.label} ${e.tokens} tokens → ${e.format}`).join(", ")})\n` +
          `  logits relative error / top-1: budget=3.5 ${eMixed.toFixed(4)} / ${(100 * tMixed).toFixed(1)}%, experts q3_k (3.44 bits) ${eQ3.toFixed(4)} / ${(100 * tQ3).toFixed(1)}%, experts int4_g32 (4.5 bits) ${eInt4.toFixed(4)} / ${(100 * tInt4).toFixed(1)}%`,
      );
      expect(report.expertBitsPerWeight).toBeLessThanOrEqual(3.5);
      expect(used.size).toBeGreaterThan(1);
      expect([...used].some((f) => f === "q3_k" || f === "q2_k")).toBe(true);
      // the plan stores each expert in its chosen format
      for (const c of mixed.choices.filter((c) => /\.experts\.\d+\./.test(c.name))) expect(["q8_0", "q6_k", "q5_k", "q4_k", "q3_k", "q2_k"]).toContain(c.to);
      expect(eMixed).toBeLessThan(eQ3);
    } finally {
      await w.close();
    }
  });

  it("a budget under q2_k's 2.625 bits is refused naming the fewest bits the ladder gives", async () => {
    const g = await loadGraph(FILE);
    if (!("hfDir" in g)) throw new Error(`${FILE}: does not import`);
    const w = await openWeights(g.graph, g.hfDir, {}, g.gguf);
    try {
      await expect(quantizeFor(g.graph, w, "wasm", parseQuantize("budget=2.5"), { calibration: "1,2,3,4", threads: 1 })).rejects.toThrow(/cannot be stored in 2.5 bits per weight; the fewest bits .* is 2.625/);
    } finally {
      await w.close();
    }
  });
});
