// The int4 peer of bench/moe-layer-int4.ts: moec's int4_g32 codes handed to onnxruntime's
// com.microsoft::QMoE (bench/onnx/qmoe-model.ts) must make onnxruntime compute the layer over
// exactly the weights moec dequantises — checked against a float64 computation over those
// weights, on a shape that is not powers of two. If moec's int4_g32 layout (nibble order, scale
// position) or the QMoE packing changed, onnxruntime would read other weights and this fails.
// Needs `npm run build` (the bench modules read dist/).
import { describe, expect, it } from "vitest";
import { fillUniform, randomLayer, referenceMoe, relError } from "../../bench/onnx/moe-model.ts";
import { ortNode } from "../../bench/onnx/ort.ts";
import { buildQMoeOnnx, quantizeInt4 } from "../../bench/onnx/qmoe-model.ts";

describe("QMoE peer: moec int4_g32 codes as QMoE inputs", () => {
  it("onnxruntime-node's QMoE matches float64 over moec's dequantised weights", async () => {
    const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
    const [E, k, d, inter, T] = [6, 2, 96, 64, 5];
    const w = randomLayer(E, k, d, inter, seed);
    const x = fillUniform(new Float32Array(T * d), seed + 7, 1);
    const q = quantizeInt4(w);
    // The dequantised weights are int4: every group of 32 takes at most 16 distinct values.
    const group = new Set(q.dequantised.fc1.subarray(0, 32));
    expect(group.size).toBeLessThanOrEqual(16);
    const s = await ortNode(buildQMoeOnnx(w, q), 1);
    try {
      const y = await s.run(x, T, d);
      const ref = referenceMoe(q.dequantised, x, 0, T);
      expect(relError(y, ref), `seed ${seed}`).toBeLessThan(1e-5);
      // …and not the float layer's answer: int4 moved the output.
      expect(relError(y, referenceMoe(w, x, 0, T)), `seed ${seed}`).toBeGreaterThan(1e-3);
    } finally {
      await s.release();
    }
  });
});
