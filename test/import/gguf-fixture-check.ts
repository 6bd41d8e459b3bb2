// What the GGUF-against-fixture import tests share (gguf-hybrid, gguf-jamba-vl): a file converted from a Hugging
// Face fixture imports to the program of the fixture's own config, binds the fixture's weights (bit for bit, or
// within one float32 rounding where the converter stored −exp(A_log)) and reproduces transformers' logits.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { expect } from "vitest";
import { checkSource, printGraph } from "../../compiler/index.js";
import { ggufToHf } from "../../compiler/import/gguf.js";
import { importHfConfig } from "../../compiler/import/hf.js";
import { runPipeline } from "../../compiler/passes/pipeline.js";
import { promptLogits } from "../../compiler/run/generate.js";
import { loadGgufModel } from "../../compiler/run/gguf-load.js";
import { bindWeights } from "../../compiler/weights/bind.js";
import { openGguf } from "../../runtime/weights/gguf.js";
import { openCheckpoint } from "../../runtime/weights/safetensors.js";
import { relativeError } from "../helpers/fixtures.js";
import { type Cfg, HF } from "./gguf-arch-convert.js";

const ir = (text: string) => printGraph(checkSource("x.moe", text).graph!);

/** The GGUF's config against `own` (the fixture's config as the file can state it), then weights and logits. */
export async function checkGgufAgainstFixture(name: string, file: string, own: Cfg, unbound: RegExp | null = null, unboundInFile = true) {
  const g = await openGguf(file);
  const imp = ggufToHf(g);
  await g.close();
  const a = importHfConfig(own, "config.json"), b = importHfConfig(imp.config, "gguf");
  if ("error" in a || "error" in b) throw new Error(JSON.stringify([a, b]));
  expect(ir(b.text)).toBe(ir(a.text));
  const { text, source } = await loadGgufModel(file);
  try {
    const graph = runPipeline(checkSource("gguf.moe", text).graph!).graph;
    const weights = await bindWeights(graph, source, file);
    const ck = await openCheckpoint(path.join(HF, name));
    try {
      for (const [n, w] of weights) {
        const want = await ck.readF32(n);
        expect(w.length, n).toBe(want.length);
        // bit for bit, but A_log: log(−(−exp(A_log))) within one float32 rounding of the exp
        if (!n.endsWith(".A_log")) expect(w, n).toEqual(want);
        else for (let i = 0; i < w.length; i++) if (Math.abs(w[i]! - want[i]!) > 2.4e-7 * Math.max(1, Math.abs(want[i]!))) expect([n, i, w[i]], n).toEqual([n, i, want[i]]);
      }
      // every tensor of the checkpoint but those the program leaves unbound (GLM-5's indexer, a vision tower);
      // where the file holds them too (`unboundInFile`: the indexer), it maps them to their Hugging Face names all the same
      expect(weights.size).toBe(ck.names().filter((n) => !unbound?.test(n)).length);
      if (unbound && unboundInFile) expect(source.names().filter((n) => unbound.test(n)).sort()).toEqual(ck.names().filter((n) => unbound.test(n)).sort());
    } finally {
      await ck.close();
    }
    const ids = JSON.parse(readFileSync(path.join(HF, name, "input_ids.json"), "utf8")) as number[];
    const raw = readFileSync(path.join(HF, name, "logits.f32"));
    const want = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const err = relativeError(promptLogits({ graph, weights }, ids).data, want);
    console.log(`GGUF ${name}: relative error ${err.toExponential(2)} over ${ids.length} positions`);
    expect(err).toBeLessThan(1e-4);
  } finally {
    await source.close();
  }
}
