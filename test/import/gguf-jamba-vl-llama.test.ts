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
import { afterAll, beforeAll, describe, it } from "vitest";
import { expectLlamaAgreement } from "../helpers/gguf-llama.js";
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

describe("GGUF files of jamba and qwen3vlmoe: moec gives llama.cpp's next-token distribution and tokens", () => {
  for (const c of CASES) {
    it(`${c.arch} (${c.name}, ${c.why})`, async () => {
      const file = await c.convert(c.name, { dir, vocab: true });
      const prompt = JSON.parse(readFileSync(path.join(HF, c.name, "input_ids.json"), "utf8")) as number[];
      const cfg = JSON.parse(readFileSync(path.join(HF, c.name, "config.json"), "utf8")) as { vocab_size?: number; text_config?: { vocab_size: number } };
      const vocab = cfg.vocab_size ?? cfg.text_config!.vocab_size;
      await expectLlamaAgreement(llama, { file, prompt, vocab, bound: c.bound ?? BOUND, label: `${c.arch} (${c.name}, ${c.why})`, steps: STEPS, top: TOP });
    });
  }
});
