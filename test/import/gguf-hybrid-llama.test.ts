// GGUF parity with llama.cpp itself for "granitehybrid", "nemotron_h_moe" and "glm-dsa": the files gguf-hybrid-convert.ts
// writes from the Hugging Face fixtures (F32, with a placeholder vocabulary) load in llama.cpp (node-llama-cpp 3.21.1,
// its CPU build), the independent proof that their names, shapes and metadata are laid out as llama.cpp expects;
// teacher-forced on llama.cpp's greedy tokens after the fixture's prompt, moec's next-token log-probabilities (its
// planned model on wasm) match llama.cpp's at every step over llama.cpp's most likely tokens, and free-running greedy
// generation gives llama.cpp's tokens. Where the file cannot be the fixture as it is, the case says so.
import { mkdtemp, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { getLlama, type Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, it } from "vitest";
import { expectLlamaAgreement } from "../helpers/gguf-llama.js";
import { type Options, HF } from "./gguf-arch-convert.js";
import { convertGlmDsa, convertGraniteHybrid, convertNemotronH } from "./gguf-hybrid-convert.js";

const STEPS = 8;
const SEED = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
/** Largest |Δ log p| allowed (measured: 5.3e-7 to 1.1e-6 but for glm-dsa, whose case says why it allows more). */
const BOUND = 1e-5;
/** The tokens compared at each step: llama.cpp's most likely ones. */
const TOP = 16;

let llama: Llama;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "moec-gguf-hybrid-llama-"));
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
  /** Largest |Δ log p| allowed, where not BOUND. */
  bound?: number;
}
const CASES: Case[] = [
  { name: "granitemoehybrid", arch: "granitehybrid", convert: convertGraniteHybrid, why: "as converted (no RoPE)" },
  // llama.cpp sizes the MLP of a Granite-4.0-H without experts by feed_forward_length, which the converter writes from
  // intermediate_size (32 in the fixture; transformers and moec read the shared MLP's shared_intermediate_size, 80: in
  // the released dense models the two are equal), so this file gives 80 there
  {
    name: "granitemoehybrid_dense", arch: "granitehybrid", why: "no experts, feed_forward_length = the shared MLP's width",
    convert: (n, o) => convertGraniteHybrid(n, { ...o, drop: ["granitehybrid.feed_forward_length"], extraKv: [["granitehybrid.feed_forward_length", "u32", 80]] }),
  },
  { name: "granitemoehybrid_rope", arch: "granitehybrid", convert: (n, o) => convertGraniteHybrid(n, { ...o, rope: true }), why: "with rope.scaling.finetuned = true" },
  // llama.cpp's nemotron_h_moe has no MLP blocks (a block with neither attention nor a feed_forward_length is Mamba-2
  // to it); the fixture has one, so this file is the fixture with that block replaced by a copy of the MoE block
  { name: "nemotron_h", arch: "nemotron_h_moe", convert: (n, o) => convertNemotronH(n, { ...o, allMoe: true }), why: "the MLP block made a copy of the MoE block" },
  // llama.cpp's glm-dsa rotates the indexer's q and k by a Hadamard matrix that the fixture's index_head_dim of 16
  // does not fit (it aborts building the graph: GGML_ASSERT(ggml_can_mul_mat(a, b))); with the indexer's tensors
  // redrawn for 128 (seeded) it runs. The indexer chooses nothing here: 12 + 8 positions are fewer than index_topk
  // (24), so both keep every key, and moec leaves the indexer unbound. |Δ log p| is 3.1e-5 whatever the seed: the
  // same weights as a "deepseek2" file (no indexer) give 3.2e-5 in llama.cpp too, its absorbed MLA, hence the bound
  {
    name: "glm_moe_dsa", arch: "glm-dsa", why: `indexer redrawn for index_head_dim 128, seed ${SEED}`,
    convert: (n, o) => convertGlmDsa(n, { ...o, types: true, indexerDim: { dim: 128, seed: SEED } }), bound: 1e-4,
  },
];

describe("GGUF files of the hybrid architectures: moec gives llama.cpp's next-token distribution and tokens", () => {
  for (const c of CASES) {
    it(`${c.arch} (${c.name}, ${c.why})`, async () => {
      const file = await c.convert(c.name, { dir, vocab: true });
      const prompt = JSON.parse(readFileSync(path.join(HF, c.name, "input_ids.json"), "utf8")) as number[];
      const vocab = (JSON.parse(readFileSync(path.join(HF, c.name, "config.json"), "utf8")) as { vocab_size: number }).vocab_size;
      await expectLlamaAgreement(llama, { file, prompt, vocab, bound: c.bound ?? BOUND, label: `${c.arch} (${c.name}, ${c.why})`, steps: STEPS, top: TOP });
    });
  }
});
