// Quantized plans end to end on the WebGPU backend: weights kept in their storage formats
// (matmul_q and gather_rows_q in WGSL, experts through the catalogue path), against the same
// plan on the TypeScript kernels (an independent implementation: float64 sums over
// runtime/weights/decode.ts's dequantisation). Only f32 summation order differs, so the logits
// agree to 1e-4 relative and the greedy continuations are the same.
import { describe, expect, it } from "vitest";
import { loadFixture, relativeError } from "../../helpers/fixtures.js";
import { memoryWeights } from "../../../compiler/weights/bound.js";
import { quantizeFor } from "../../../compiler/quant/run.js";
import { parseQuantize } from "../../../compiler/quant/scheme.js";
import { Model } from "../../../runtime/model.js";
import { jsDevice } from "../../../backends/js/device.js";
import { webgpuDevice } from "../../../backends/wgsl/runtime.js";
import { WEBGPU_SKIP, wgslDriverUrl } from "../../helpers/devices.js";
import type { DeviceFactory } from "../../../runtime/device.js";

const CASES = [
  ["qwen3_moe", "q4_k"],
  ["mixtral", "int4a:g32"],
  ["olmoe", "q8_0"],
  ["deepseek_v3", "bf16"],
  ["qwen3_moe", "f16"],
  ["gpt_oss", "mxfp4"],
] as const;

describe.skipIf(WEBGPU_SKIP !== null)("quantized plans on WebGPU equal the TypeScript kernels", () => {
  for (const [name, scheme] of CASES) {
    it(`${name} ${scheme}`, async () => {
      const fx = await loadFixture(name);
      const w = memoryWeights(fx.weights, name);
      const q = await quantizeFor(fx.graph, w, "webgpu", parseQuantize(scheme), { threads: 1 });
      const kept = q.plan.weights.filter((p) => p.format !== "f32");
      expect(kept.length, "weights in a storage format").toBeGreaterThan(0);
      const shapes = new Map(q.plan.weights.map((p) => [p.name, p.shape]));
      let reads = 0;
      const counted = (inner: DeviceFactory): DeviceFactory =>
        Object.assign(async (req: Parameters<DeviceFactory>[0]) => {
          const d = await inner(req);
          return Object.assign(Object.create(d) as typeof d, { read: (at: number, n: number) => (reads++, d.read(at, n)) });
        }, inner);
      const run = async (device: DeviceFactory) => {
        const model = await Model.create(q.plan, { raw: (n, format, into) => w.read(n, format, shapes.get(n)!, into) }, { maxContext: 64, maxTokens: 16, device });
        try {
          reads = 0;
          const logits = await model.forward(fx.prompt);
          const forwardReads = reads;
          model.reset();
          const tokens: number[] = [];
          for await (const t of model.generate(fx.prompt, { maxNewTokens: 6 })) tokens.push(t);
          return { logits, tokens, kernels: model.kernels, forwardReads };
        } finally {
          await model.dispose();
        }
      };
      const want = await run(jsDevice());
      const got = await run(counted(webgpuDevice({ driverUrl: wgslDriverUrl })));
      expect(got.kernels).toMatch(/^webgpu/);
      const err = relativeError(got.logits, want.logits);
      console.log(`${name} ${scheme}: ${kept.length} weights in ${[...new Set(kept.map((p) => p.format))].join(", ")}, relative logit error ${err.toExponential(2)} against the TypeScript kernels`);
      expect(err).toBeLessThan(1e-4);
      expect(got.tokens).toEqual(want.tokens);
      // f16 / bf16 experts run on the grouped kernels: routing stays on the GPU, a forward reads back its logits only
      if (scheme === "bf16" || scheme === "f16") expect(got.forwardReads, "reads in one forward").toBe(1);
    }, 120_000);
  }
});
