// Every fixture family end to end on the WASM backend: the plan run on the WASM SIMD kernels
// (plain and relaxed builds) must match transformers' logits and greedy continuation.
import { describe, expect, it } from "vitest";
import { buildKernelModule } from "../../../backends/wasm/build.js";
import { planGraph as lowerGraph } from "../../../compiler/passes/pipeline.js";
import { Model } from "../../../runtime/model.js";
import { hasRelaxedSimd, wasmDevice } from "../../../backends/wasm/device.js";
import { hasMemory64 } from "../../../runtime/memory.js";
import { hfFolders, loadFixture, relativeError, rowwiseRelativeError } from "../../helpers/fixtures.js";

const variants = [false, ...(hasRelaxedSimd() ? [true] : [])];
const modules = new Map(variants.map((relaxed) => [relaxed, buildKernelModule({ relaxedSimd: relaxed, sharedMemory: false }).binary]));

describe("WASM backend matches transformers on every fixture", () => {
  for (const name of hfFolders) {
    for (const relaxed of variants) {
      it(`${name}${relaxed ? " (relaxed SIMD)" : ""}`, async () => {
        const fx = await loadFixture(name);
        const plan = lowerGraph(fx.graph);
        const model = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: 16, device: wasmDevice(modules.get(relaxed)!) });
        expect(model.kernels).toBe("wasm");
        const err = relativeError((await model.forward(fx.prompt)), fx.logits);
        expect(err, `relative error ${err}`).toBeLessThan(1e-4);
        const out: number[] = [];
        for await (const t of model.generate(fx.prompt, { maxNewTokens: fx.meta.greedy_continuation.length })) out.push(t);
        expect(out).toEqual(fx.meta.greedy_continuation);
        if (fx.generateLogits) {
          // each greedy step's logits as model.generate saw them (prompt in one pass, then the KV cache)
          const vocab = fx.meta.logits_shape[1];
          const steps = fx.meta.greedy_continuation.length;
          const got = new Float32Array(steps * vocab);
          model.reset();
          got.set((await model.forward(fx.prompt)).subarray((fx.prompt.length - 1) * vocab), 0);
          for (let i = 1; i < steps; i++) got.set((await model.forward([fx.meta.greedy_continuation[i - 1]!])), i * vocab);
          const genErr = rowwiseRelativeError(got, fx.generateLogits, vocab);
          expect(genErr, `generate-step relative error ${genErr}`).toBeLessThan(1e-4);
        }
      });
    }
  }
});

describe("WASM backend on worker threads (shared memory)", () => {
  // Workers run compiled JavaScript: the worker built into dist/ by `npm test`'s tsc step.
  const workerUrl = new URL("../../../dist/backends/wasm/threads/worker.js", import.meta.url);
  const shared = buildKernelModule({ relaxedSimd: false, sharedMemory: true }).binary;
  for (const name of ["mixtral_swa", "qwen2_moe", "gpt_oss", "deepseek_v3", "glm4_moe", "granitemoeshared"]) {
    it(`${name}, 3 threads, every matmul and attention split`, async () => {
      const fx = await loadFixture(name);
      const plan = lowerGraph(fx.graph);
      const model = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: 16, device: wasmDevice(shared, { threads: 3, splitThreshold: 1, workerUrl }) });
      try {
        expect(model.kernels).toBe("wasm ×3 threads");
        const err = relativeError((await model.forward(fx.prompt)), fx.logits);
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

describe("WASM backend on a 64-bit memory (Memory64)", () => {
  // The model sits above 4 GiB (memoryBase), so every pointer the kernels see needs 64 bits;
  // the 4 GiB below are reserved but never touched.
  const base = 2 ** 32 + 4096;
  const m64 = buildKernelModule({ relaxedSimd: false, sharedMemory: false, memory64: true }).binary;
  it("the engine has 64-bit memories (Node ≥ 24)", () => {
    expect(hasMemory64()).toBe(true);
  });
  for (const name of hfFolders) {
    it(`${name} at addresses above 4 GiB`, async () => {
      const fx = await loadFixture(name);
      const plan = lowerGraph(fx.graph);
      const model = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: 16, memoryBase: base, device: wasmDevice(m64, { memory64: true }) });
      const err = relativeError((await model.forward(fx.prompt)), fx.logits);
      expect(err, `relative error ${err}`).toBeLessThan(1e-4);
      const out: number[] = [];
      for await (const t of model.generate(fx.prompt, { maxNewTokens: fx.meta.greedy_continuation.length })) out.push(t);
      expect(out).toEqual(fx.meta.greedy_continuation);
    });
  }
  it("olmoe on 3 threads at addresses above 4 GiB (shared 64-bit memory)", async () => {
    const workerUrl = new URL("../../../dist/backends/wasm/threads/worker.js", import.meta.url);
    const shared = buildKernelModule({ relaxedSimd: false, sharedMemory: true, memory64: true }).binary;
    const fx = await loadFixture("olmoe");
    const plan = lowerGraph(fx.graph);
    const model = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: 16, memoryBase: base, device: wasmDevice(shared, { threads: 3, splitThreshold: 1, workerUrl, memory64: true }) });
    try {
      const err = relativeError((await model.forward(fx.prompt)), fx.logits);
      expect(err, `relative error ${err}`).toBeLessThan(1e-4);
    } finally {
      await model.dispose();
    }
  });
  it("the TypeScript kernels at addresses above 4 GiB (they pick a 64-bit memory themselves)", async () => {
    const fx = await loadFixture("deepseek_v3");
    const plan = lowerGraph(fx.graph);
    const model = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: 16, memoryBase: base });
    const err = relativeError((await model.forward(fx.prompt)), fx.logits);
    expect(err, `relative error ${err}`).toBeLessThan(1e-4);
  });
  it("a 32-bit build refuses a model over 4 GiB with the limit and the fix", async () => {
    const fx = await loadFixture("olmoe");
    const plan = lowerGraph(fx.graph);
    const plain = buildKernelModule({ relaxedSimd: false, sharedMemory: false }).binary;
    await expect(Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, memoryBase: base, device: wasmDevice(plain) })).rejects.toThrow(/needs 4\.\d\d GiB .*more than the 4 GiB a 32-bit WebAssembly memory holds, and the kernels given are a 32-bit build; use a 64-bit build/);
  });
  it("past the engines' 16 GiB, a clear error before anything is allocated", async () => {
    const fx = await loadFixture("olmoe");
    const plan = lowerGraph(fx.graph);
    await expect(Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, memoryBase: 17 * 2 ** 30, device: wasmDevice(m64, { memory64: true }) })).rejects.toThrow(/needs 17\.\d\d GiB .*more than the 16 GiB a 64-bit WebAssembly memory may hold/);
  });
});
