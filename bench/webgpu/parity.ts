// The fixture parity run for the GPU machine: every Hugging Face fixture (test/fixtures/hf, the
// tree that travels) imported, planned and run on WebGPU in Deno (navigator.gpu: the NVIDIA
// Vulkan driver there), against transformers' logits and greedy continuation — what
// test/backends/wgsl/e2e.test.ts checks on lavapipe. bench/webgpu/prepare-gpu.sh bundles it
// with esbuild. Prints one JSON line per fixture and a summary line.
import { planGraph } from "../../compiler/passes/pipeline.js";
import { Model } from "../../runtime/model.js";
import { openWebGpu } from "../../backends/wgsl/open.js";
import { hfFolders, loadFixture, relativeError } from "../../test/helpers/fixtures.js";

const out = (o: object) => console.log(JSON.stringify(o));
let pass = 0;
for (const name of hfFolders) {
  try {
    const fx = await loadFixture(name);
    const plan = planGraph(fx.graph);
    const device = Object.assign((req: Parameters<typeof openWebGpu>[0]) => openWebGpu(req, {}), { addressLimit: { bytes: 2 ** 50, text: "GPU" }, offHost: true });
    const model = await Model.create(plan, (n, into) => into.set(fx.weights.get(n)!), { maxContext: 64, maxTokens: 16, device });
    const err = relativeError(await model.forward(fx.prompt), fx.logits);
    model.reset();
    const tokens: number[] = [];
    for await (const t of model.generate(fx.prompt, { maxNewTokens: fx.meta.greedy_continuation.length })) tokens.push(t);
    await model.dispose();
    const same = JSON.stringify(tokens) === JSON.stringify(fx.meta.greedy_continuation);
    const ok = err < 1e-4 && same;
    if (ok) pass++;
    out({ kind: "parity", fixture: name, relativeError: err, greedySame: same, ok });
  } catch (e) {
    out({ kind: "parity", fixture: name, error: String((e as Error).message ?? e), ok: false });
  }
}
out({ kind: "parity-summary", pass, total: hfFolders.length });
