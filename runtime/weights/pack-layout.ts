// How the weight pack (compiler/weights/pack.ts writes it) holds each plan weight: the
// safetensors tensors, in file order, whose bytes together are the weight in its storage format.
// The runtime's readers (runtime/load.ts, stream.ts) check a pack against it and read each
// weight's bytes in one piece.
import type { PlanWeight } from "../plan/plan.js";
import { FORMATS, rowBytes, weightBytes } from "../plan/formats.js";

/** The pack's tensors for one plan weight: [name, dtype, shape, bytes], in file order. */
export function packTensors(w: PlanWeight): [string, string, number[], number][] {
  const K = w.shape[w.shape.length - 1] ?? 1;
  const rows = w.shape.slice(0, -1);
  const rowCount = rows.reduce((a, b) => a * b, 1);
  switch (FORMATS[w.format].kind) {
    case "float":
      return [[w.name, w.format === "f32" ? "F32" : w.format === "f16" ? "F16" : "BF16", [...w.shape], weightBytes(w.format, w.shape)]];
    case "channel":
      return [
        [w.name, "I8", [...w.shape], rowCount * K],
        [`${w.name}_scale`, "F32", rows.length ? rows : [1], 4 * rowCount],
      ];
    case "block":
      return [[w.name, "U8", [...rows, rowBytes(w.format, K)], weightBytes(w.format, w.shape)]];
  }
}

