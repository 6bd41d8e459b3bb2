// The fuse-experts pass on CUDA (`--enable-pass fuse-experts --target cuda`): its glu steps print
// as the gate/up pair kernels, from offsets into fused gate_up tensors where a model has them
// (expert parameters get extra bind entries, top-level weights moved pointers). Each fixture's
// fused plan must hold glu steps (so the test cannot pass on an unfused plan) and, on the CPU
// emulation, match transformers' prompt logits within the unfused bound and its greedy tokens.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { writeWeightPack } from "../../../compiler/weights/pack.js";
import { loadGraph, openWeights } from "../../../compiler/run/load.js";
import { planFor } from "../../../compiler/run/engines.js";
import { allSteps } from "../../../runtime/plan/steps.js";
import { emuModel, which } from "../../helpers/cuda-build.js";
import { HF, loadFixture, relativeError } from "../../helpers/fixtures.js";

const run = promisify(execFile);
const work = await mkdtemp(join(tmpdir(), "moec-cuda-fused-"));
afterAll(() => rm(work, { recursive: true, force: true }));
const f32 = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

/**
 * Separate gate and up tensors (mixtral); a fused gate_up tensor read in halves from offsets into
 * each expert's parameters (granitemoe); glu steps with biases (ernie4_5_moe); a shared expert's
 * glu at top level, on global weights (qwen2_moe).
 */
const FIXTURES = ["mixtral", "granitemoe", "ernie4_5_moe", "qwen2_moe"];

describe.skipIf(!which("g++"))("CUDA with the fuse-experts pass (CPU emulation)", () => {
  it.each(FIXTURES)("%s: glu steps match transformers", async (name) => {
    const fx = await loadFixture(name);
    const g = await loadGraph(join(HF, name));
    if (!("hfDir" in g)) throw new Error(`${name}: no graph`);
    const weights = await openWeights(g.graph, g.hfDir, {});
    const plan = planFor(g.graph, weights, "cuda", { enabled: ["fuse-experts"] });
    expect([...allSteps(plan.steps)].filter((s) => s.op === "glu").length, "glu steps in the plan").toBeGreaterThan(0);
    const dir = join(work, name);
    const exe = await emuModel(plan, dir);
    try {
      await writeWeightPack(join(dir, "weights.safetensors"), plan, (n, f, sh, into) => weights.read(n, f, sh, into));
    } finally {
      await weights.close();
    }
    const n = fx.meta.greedy_continuation.length;
    const { stdout } = await run(exe, ["--ids", fx.prompt.join(","), "-n", String(n), "-w", join(dir, "weights.safetensors"), "--json", "--logits", join(dir, "prompt.f32")], { cwd: dir });
    const bound = plan.weights.some((w) => w.format !== "f32") ? 1e-2 : 1e-4;
    expect(relativeError(f32(await readFile(join(dir, "prompt.f32"))), fx.logits)).toBeLessThan(bound);
    expect((JSON.parse(stdout) as { ids: number[] }).ids).toEqual(fx.meta.greedy_continuation);
  }, 900_000);
});
