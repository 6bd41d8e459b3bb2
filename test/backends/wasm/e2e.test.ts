// Every fixture family end to end on the WASM backend: the plan run on the WASM SIMD kernels
// (plain and relaxed builds) must match transformers' logits and greedy continuation.
import { describe, expect, it } from "vitest";
import { buildKernelModule } from "../../../backends/wasm/build.js";
import { lowerGraph } from "../../../compiler/lower/lower.js";
import { Model } from "../../../runtime/model.js";
import { hasRelaxedSimd, wasmKernels } from "../../../runtime/kernels/wasm.js";
import { hfFolders, loadFixture, relativeError } from "../../helpers/fixtures.js";

const variants = [false, ...(hasRelaxedSimd() ? [true] : [])];
const modules = new Map(variants.map((relaxed) => [relaxed, buildKernelModule({ relaxedSimd: relaxed, sharedMemory: false }).binary]));

describe("WASM backend matches transformers on every fixture", () => {
  for (const name of hfFolders) {
    for (const relaxed of variants) {
      it(`${name}${relaxed ? " (relaxed SIMD)" : ""}`, async () => {
        const fx = await loadFixture(name);
        const plan = lowerGraph(fx.graph);
        const model = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: 16, kernels: wasmKernels(modules.get(relaxed)!) });
        expect(model.kernels).toBe("wasm");
        const err = relativeError(model.forward(fx.prompt), fx.logits);
        expect(err, `relative error ${err}`).toBeLessThan(1e-4);
        const out: number[] = [];
        for await (const t of model.generate(fx.prompt, { maxNewTokens: fx.meta.greedy_continuation.length })) out.push(t);
        expect(out).toEqual(fx.meta.greedy_continuation);
      });
    }
  }
});

describe("WASM backend on worker threads (shared memory)", () => {
  // Workers run compiled JavaScript: the worker built into dist/ by `npm test`'s tsc step.
  const workerUrl = new URL("../../../dist/runtime/threads/worker.js", import.meta.url);
  const shared = buildKernelModule({ relaxedSimd: false, sharedMemory: true }).binary;
  for (const name of ["mixtral_swa", "qwen2_moe", "gpt_oss", "deepseek_v3"]) {
    it(`${name}, 3 threads, every matmul and attention split`, async () => {
      const fx = await loadFixture(name);
      const plan = lowerGraph(fx.graph);
      const model = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: 16, kernels: wasmKernels(shared, { threads: 3, splitThreshold: 1, workerUrl }) });
      try {
        expect(model.kernels).toBe("wasm ×3 threads");
        const err = relativeError(model.forward(fx.prompt), fx.logits);
        expect(err, `relative error ${err}`).toBeLessThan(1e-4);
        const out: number[] = [];
        for await (const t of model.generate(fx.prompt, { maxNewTokens: fx.meta.greedy_continuation.length })) out.push(t);
        expect(out).toEqual(fx.meta.greedy_continuation);
      } finally {
        await model.dispose();
      }
    });
  }
});
