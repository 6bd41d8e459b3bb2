// Every CUDA source a bundle can hold compiled by nvcc for sm_80 and sm_90a (the bundle's default
// architectures), so a kernel that does not build never lands: the runtime, every storage
// format's kernels, the kernels printed from the C-style base (cstyle.cu), the tuner, the host program and the kernel
// test program; then model.cu of HF fixture plans (f32, bf16 as shipped, and quantized) linked
// into moec_run. There is no GPU here: this compiles and links, the CPU emulation
// (fixtures.test.ts, kernels.test.ts) checks what the same sources compute. Objects are cached
// by a hash of the sources in the OS temp folder, so a second run compiles only model.cu files.
import { join } from "node:path";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { loadGraph, openWeights } from "../../../compiler/run/load.js";
import { planFor } from "../../../compiler/run/engines.js";
import { quantizeFor, quantizeFlag } from "../../../compiler/quant/run.js";
import type { Plan } from "../../../runtime/plan/plan.js";
import { nvccKernelTest, nvccLibrary, nvccModel, which } from "../../helpers/cuda-build.js";
import { HF } from "../../helpers/fixtures.js";

const NVCC = which("nvcc");
if (!NVCC) console.warn("nvcc is not on PATH: the CUDA sources are NOT compiled for sm_80/sm_90a on this machine (CI's machines have it at /usr/local/bin/nvcc)");

const work = await mkdtemp(join(tmpdir(), "moec-cuda-nvcc-models-"));
afterAll(() => rm(work, { recursive: true, force: true }));

/** Fixtures whose plans cover the emitter's cases: bf16 weights, MLA and grouped routing, sinks and [K, N] experts, Llama-4's steps, LongRoPE and sparsemixer, gated DeltaNet, Mamba-2, Mamba-1. */
const FIXTURES = ["mixtral_bf16", "deepseek_v3", "gpt_oss", "llama4", "phimoe_longrope", "qwen3_next", "nemotron_h", "jamba"];

async function plan(name: string, quantize?: string): Promise<Plan> {
  const g = await loadGraph(join(HF, name));
  if (!("hfDir" in g)) throw new Error(`${name}: no graph`);
  const w = await openWeights(g.graph, g.hfDir, {});
  try {
    return quantize ? (await quantizeFor(g.graph, w, "cuda", quantizeFlag(quantize)!, { threads: 1 })).plan : planFor(g.graph, w, "cuda");
  } finally {
    await w.close();
  }
}

describe.skipIf(!NVCC)(`nvcc for sm_80 and sm_90a (${NVCC ?? "nvcc not on PATH: skipped"})`, () => {
  it("compiles every library source and links kernel_test", { timeout: 1_800_000 }, async () => {
    await nvccLibrary();
    expect(await nvccKernelTest()).toMatch(/kernel_test$/);
  });
  it.each(FIXTURES)("compiles and links %s's model.cu", { timeout: 1_800_000 }, async (name) => {
    expect(await nvccModel(await plan(name), join(work, name))).toMatch(/moec_run$/);
  });
  it("compiles and links a quantized plan's model.cu (q4_k experts)", { timeout: 1_800_000 }, async () => {
    expect(await nvccModel(await plan("qwen3_moe", "q4_k"), join(work, "qwen3_moe_q4_k"))).toMatch(/moec_run$/);
  });
});
