// GGUF parity with llama.cpp itself for "jamba" and "qwen3vlmoe": the files gguf-jamba-vl-convert.ts writes from the
// Hugging Face fixtures (F32, with a placeholder vocabulary) load in llama.cpp (node-llama-cpp 3.21.1, its CPU build),
// the independent proof that their names, shapes and metadata are laid out as llama.cpp expects; teacher-forced on
// llama.cpp's greedy tokens after the fixture's prompt, moec's next-token log-probabilities (its planned model on
// wasm) match llama.cpp's at every step over llama.cpp's most likely tokens, and free-running greedy generation gives
// llama.cpp's tokens. Where the file cannot be the fixture as it is, the case says so.
import { mkdtemp, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { getLlama, type Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { argmax, llamaSteps, logSoftmax } from "../helpers/llama-cpp.js";
import { checkSource } from "../../compiler/index.js";
import { GgufHfSource, ggufToHf } from "../../compiler/import/gguf.js";
import { importHfConfig } from "../../compiler/import/hf.js";
import { runPipeline } from "../../compiler/passes/pipeline.js";
import { planModel } from "../../compiler/run/engines.js";
import { openWeights } from "../../compiler/run/load.js";
import { openGguf } from "../../runtime/weights/gguf.js";
import { type Options, HF } from "./gguf-arch-convert.js";
import { convertJamba, convertQwen3VlMoe } from "./gguf-jamba-vl-convert.js";

const STEPS = 8;
/** Largest |Δ log p| allowed. */
const BOUND = 1e-5;
/** The tokens compared at each step: llama.cpp's most likely ones. */
const TOP = 16;

let llama: Llama;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "moec-gguf-jamba-vl-llama-"));
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
});
afterAll(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

interface Case {
  name: string;
  arch: string;
  convert: (name: string, o: Options) => Promise<string>;
  why: string;
  bound?: number;
}
const CASES: Case[] = [
  { name: "jamba", arch: "jamba", convert: convertJamba, why: "as converted" },
  // llama.cpp's qwen3vlmoe has a router in every layer; the fixture's layer 1 is dense (mlp_only_layers), so this file
  // is the fixture with that layer's MLP replaced by a copy of layer 0's router and experts
  { name: "qwen3_vl_moe", arch: "qwen3vlmoe", convert: (n, o) => convertQwen3VlMoe(n, { ...o, allMoe: true }), why: "the dense layer made a copy of the MoE layer" },
];

/** moec's planned model of the file on wasm. */
async function moecModel(file: string) {
  const g = await openGguf(file);
  let source: GgufHfSource;
  let graph;
  try {
    const imp = ggufToHf(g);
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

describe("GGUF files of jamba and qwen3vlmoe: moec gives llama.cpp's next-token distribution and tokens", () => {
  for (const c of CASES) {
    it(`${c.arch} (${c.name}, ${c.why})`, async () => {
      const file = await c.convert(c.name, { dir, vocab: true });
      const prompt = JSON.parse(readFileSync(path.join(HF, c.name, "input_ids.json"), "utf8")) as number[];
      const cfg = JSON.parse(readFileSync(path.join(HF, c.name, "config.json"), "utf8")) as { vocab_size?: number; text_config?: { vocab_size: number } };
      const V = cfg.vocab_size ?? cfg.text_config!.vocab_size;
      const model = await moecModel(file);
      const bound = c.bound ?? BOUND;
      try {
        const ll = await llamaSteps(llama, file, prompt, V, STEPS, 128);
        expect(ll.tokens).toHaveLength(STEPS);
        const ids = [...prompt, ...ll.tokens.slice(0, -1)];
        const [all] = await model.forwardBatch([{ seq: 0, ids }], { logits: "all" });
        expect(all!.length).toBe(ids.length * V);
        let worst = 0;
        let tie = false;
        for (let s = 0; s < STEPS; s++) {
          const at = prompt.length - 1 + s;
          const mine = logSoftmax(all!.subarray(at * V, (at + 1) * V));
          const theirs = ll.logp[s]!;
          const top = [...theirs.keys()].sort((a, b) => theirs[b]! - theirs[a]!).slice(0, TOP);
          for (const t of top) worst = Math.max(worst, Math.abs(mine[t]! - theirs[t]!));
          if (theirs[top[0]!]! - theirs[top[1]!]! > bound) expect(argmax(mine), `step ${s}`).toBe(ll.tokens[s]);
          else tie = true;
        }
        console.log(`${c.arch} (${c.name}, ${c.why}): max |Δ log p| ${worst.toExponential(2)} over ${STEPS} steps, llama.cpp's tokens ${ll.tokens.join(" ")}`);
        expect(worst).toBeLessThan(bound);
        if (tie) return;
        model.reset();
        const free: number[] = [];
        for await (const t of model.generate(prompt, { maxNewTokens: STEPS })) free.push(t);
        expect(free).toEqual(ll.tokens);
      } finally {
        await model.dispose();
      }
    });
  }
});
