// What the GGUF parity tests against llama.cpp share (gguf-arch-llama, gguf-hybrid-llama,
// gguf-jamba-vl-llama): moec's planned model of a GGUF file, and the comparison itself —
// teacher-forced on llama.cpp's greedy tokens after the prompt, moec's next-token log-probabilities
// over llama.cpp's most likely tokens at every step, then free-running greedy generation.
import type { Llama } from "node-llama-cpp";
import { expect } from "vitest";
import { checkSource } from "../../compiler/index.js";
import type { JsonObject } from "../../compiler/import/config.js";
import { GgufHfSource, ggufToHf } from "../../compiler/import/gguf.js";
import { importHfConfig } from "../../compiler/import/hf.js";
import { runPipeline } from "../../compiler/passes/pipeline.js";
import { planModel } from "../../compiler/run/engines.js";
import { openWeights } from "../../compiler/run/load.js";
import { openGguf } from "../../runtime/weights/gguf.js";
import { argmax, llamaSteps, logSoftmax } from "./llama-cpp.js";

/** moec's planned model of the file on wasm, its imported config changed by `patch` first. */
export async function moecModelOfGguf(file: string, patch?: (c: JsonObject) => void) {
  const g = await openGguf(file);
  let source: GgufHfSource;
  let graph;
  try {
    const imp = ggufToHf(g);
    patch?.(imp.config);
    const r = importHfConfig(imp.config, file);
    if ("error" in r) throw new Error(r.error);
    graph = runPipeline(checkSource("gguf.moe", r.text).graph!).graph;
    source = new GgufHfSource(g, imp.entries);
  } catch (e) {
    await g.close();
    throw e;
  }
  const w = await openWeights(graph, null, {}, source);
  const model = await planModel({ graph, weights: w }, "wasm", 128, 1);
  await w.close();
  return model;
}

export interface LlamaComparison {
  file: string;
  prompt: number[];
  vocab: number;
  /** Largest |Δ log p| allowed over llama.cpp's `top` most likely tokens at each step. */
  bound: number;
  /** What the log line calls the case. */
  label: string;
  patch?: (c: JsonObject) => void;
  steps?: number;
  top?: number;
}

/** moec agrees with llama.cpp on the file: log-probabilities within the bound, llama.cpp's greedy tokens. */
export async function expectLlamaAgreement(llama: Llama, c: LlamaComparison): Promise<void> {
  const steps = c.steps ?? 8, top = c.top ?? 16, V = c.vocab;
  const model = await moecModelOfGguf(c.file, c.patch);
  try {
    const ll = await llamaSteps(llama, c.file, c.prompt, V, steps, 128);
    expect(ll.tokens).toHaveLength(steps);
    const ids = [...c.prompt, ...ll.tokens.slice(0, -1)];
    const [all] = await model.forwardBatch([{ seq: 0, ids }], { logits: "all" });
    expect(all!.length).toBe(ids.length * V);
    let worst = 0;
    let tie = false;
    for (let s = 0; s < steps; s++) {
      const at = c.prompt.length - 1 + s;
      const mine = logSoftmax(all!.subarray(at * V, (at + 1) * V));
      const theirs = ll.logp[s]!;
      const best = [...theirs.keys()].sort((a, b) => theirs[b]! - theirs[a]!).slice(0, top);
      for (const t of best) worst = Math.max(worst, Math.abs(mine[t]! - theirs[t]!));
      // the same token unless llama.cpp's own top two are within the bound of each other
      if (theirs[best[0]!]! - theirs[best[1]!]! > c.bound) expect(argmax(mine), `step ${s}`).toBe(ll.tokens[s]);
      else tie = true;
    }
    console.log(`${c.label}: max |Δ log p| ${worst.toExponential(2)} over ${steps} steps, llama.cpp's tokens ${ll.tokens.join(" ")}`);
    expect(worst).toBeLessThan(c.bound);
    if (tie) return; // free-running generation may take the other of two tied tokens
    model.reset();
    const free: number[] = [];
    for await (const t of model.generate(c.prompt, { maxNewTokens: steps })) free.push(t);
    expect(free).toEqual(ll.tokens);
  } finally {
    await model.dispose();
  }
}
