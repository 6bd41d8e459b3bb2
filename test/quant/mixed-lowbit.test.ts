// Mixed precision under 4 bits per weight: with q3_k (3.44) and q2_k (2.63) in the ladder,
// `--quantize budget=3.5` and budget=3 are solvable. Compared with every expert in one format (the
// other weights in q8_0, as a budget keeps them): budget=3.5 is no worse than q3_k for all (which
// it may pick), and budget=3, which must mix q3_k and q2_k, beats q2_k for all on the logits' error
// against float32. The model is the tiny OLMoE GGUF of the llama.cpp parity test (F32, random
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

describe("budgets under 4 bits with the low-bit formats", () => {
  it("budget=3.5 is met and no worse than every expert in q3_k; budget=3 mixes q3_k and q2_k and beats every expert in q2_k", { timeout: 300_000 }, async () => {
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
      const [m35, e35, t35] = await run(parseQuantize("budget=3.5"));
      const [m3, e3, t3] = await run(parseQuantize("budget=3"));
      const [, eQ3, tQ3] = await run(expertsSpec(g.graph, "q3_k"));
      const [, eQ2, tQ2] = await run(expertsSpec(g.graph, "q2_k"));
      const [, eInt4, tInt4] = await run(expertsSpec(g.graph, "int4_g32"));
      const line = (m: QuantOutcome) => `${m.mixed!.report.expertBitsPerWeight.toFixed(3)} bits: ${m.mixed!.report.experts.map((e) => `${e.label} ${e.tokens} → ${e.format}`).join(", ")}`;
      const pct = (t: number) => `${(100 * t).toFixed(1)}%`;
      console.log(
        `seed ${SEED}
  budget=3.5 at ${line(m35)}
  budget=3 at ${line(m3)}
` +
          `  logits relative error / top-1 (experts only in the format; the rest q8_0 as a budget keeps it): budget=3.5 ${e35.toFixed(4)} / ${pct(t35)}, budget=3 ${e3.toFixed(4)} / ${pct(t3)}, ` +
          `q3_k (3.44 bits) ${eQ3.toFixed(4)} / ${pct(tQ3)}, q2_k (2.63) ${eQ2.toFixed(4)} / ${pct(tQ2)}, int4_g32 (4.5) ${eInt4.toFixed(4)} / ${pct(tInt4)}`,
      );
      expect(m35.mixed!.report.expertBitsPerWeight).toBeLessThanOrEqual(3.5);
      expect(m3.mixed!.report.expertBitsPerWeight).toBeLessThanOrEqual(3);
      // budget=3 can only be met by mixing the two low-bit rungs (q3_k alone is 3.44 bits)
      const used3 = new Set(m3.mixed!.report.experts.map((e) => e.format));
      expect(used3.has("q2_k") && used3.size > 1).toBe(true);
      for (const c of m3.choices.filter((c) => /\.experts\.\d+\./.test(c.name))) expect(["q8_0", "q6_k", "q5_k", "q4_k", "q3_k", "q2_k"]).toContain(c.to);
      expect(e3).toBeLessThan(eQ2);
      // on these tokens the knapsack's choice is never costlier than q3_k for all (q3_k for all fits
      // 3.5 bits); the logits' error follows its per-expert estimate up to the layers' interplay
      expect(e35).toBeLessThanOrEqual(eQ3 * 1.02);
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
