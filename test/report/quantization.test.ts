// `moec report --quantize SCHEME`: the quantization section shows what a quantized run or compile
// reports (the same plan and the same measurement as compiler/quant/run.ts, on the same
// calibration ids): formats, bits per weight, the error against float32 overall and per MoE layer,
// and for a budget the format chosen per expert — held to the int8 bound of test/quant.
import { describe, expect, it } from "vitest";
import { buildReport, NO_QUANTIZATION, type Report } from "../../compiler/report/index.js";
import { loadGraph, openWeights, RunError } from "../../compiler/run/load.js";
import { measureError, quantizeFor, quantJson } from "../../compiler/quant/run.js";
import { parseQuantize } from "../../compiler/quant/scheme.js";
import { fixture, ROOT } from "../helpers/compile.js";
import { join } from "node:path";

const QWEN = fixture("hf", "qwen2_moe");
const IDS = "3,14,15,92,65,35,89,79,32,38,46,26,43,38,32,79";

async function report(scheme: string): Promise<Report> {
  const r = await buildReport({ model: QWEN, calibration: IDS, quantize: parseQuantize(scheme) });
  if (!("html" in r)) throw new Error("does not check");
  return r;
}

type Err = { logitsRelativeError: number; top1Agreement: number; routingChanged: number; layers: { label: string; relativeError: number }[] };

describe("moec report --quantize", () => {
  it("int8: the run's own error report, within the int8 bound, overall and per MoE layer", async () => {
    const r = await report("int8");
    const q = r.data.quantized!;
    expect(q).toBeDefined();
    const e = q.json["error"] as Err;
    expect(e.logitsRelativeError).toBeGreaterThan(0); // quantized: not the float32 plan
    expect(e.logitsRelativeError).toBeLessThanOrEqual(0.2);
    expect(e.top1Agreement).toBeGreaterThanOrEqual(0.75);
    expect(e.layers.length).toBe(r.data.params.moeLayers.length);
    // The same numbers as `moec run --quantize int8 --calibration IDS --json` computes.
    const g = await loadGraph(QWEN);
    if (!("hfDir" in g)) throw new Error("does not check");
    const w = await openWeights(g.graph, g.hfDir, {});
    try {
      const own = await quantizeFor(g.graph, w, q.target, parseQuantize("int8"), { calibration: IDS, threads: 1 });
      expect(quantJson(own, await measureError(g.graph, w, q.target, own, 1))).toEqual(q.json);
    } finally {
      await w.close();
    }
    expect(r.html).not.toContain(NO_QUANTIZATION);
    expect(r.html).toContain(`logits relative error <b>${e.logitsRelativeError.toExponential(2)}</b>`);
    for (const l of e.layers) expect(r.html).toContain(l.label);
  });

  it("a budget: the format of each expert, at most the budget on average", async () => {
    const r = await report("budget=5");
    const m = r.data.quantized!.json["mixed"] as { expertBitsPerWeight: number; experts: { label: string; format: string }[] };
    expect(m.expertBitsPerWeight).toBeLessThanOrEqual(5);
    expect(m.experts.length).toBeGreaterThan(0);
    expect(r.html).toContain("Mixed precision under a budget of 5 bits per weight");
  });

  it("without --quantize the section says nothing was quantized; a model without weights cannot be", async () => {
    const r = await buildReport({ model: QWEN });
    if (!("html" in r)) throw new Error("does not check");
    expect(r.data.quantized).toBeUndefined();
    expect(r.html).toContain(NO_QUANTIZATION);
    await expect(buildReport({ model: join(ROOT, "examples", "mixtral-8x7b.moe"), quantize: parseQuantize("int8") })).rejects.toThrow(RunError);
  });
});
