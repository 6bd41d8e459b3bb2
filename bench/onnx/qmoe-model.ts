// One MoE layer with int4 weights in groups of 32, in two formats made from the same float
// weights: moec's `int4_g32` (runtime/plan/formats.ts: per row, blocks of an f16 scale d and 16
// bytes of nibbles, w = d·(q − 8), the low nibble the even element; quantised by
// compiler/quant/encode.ts as Q4_0 is: d = (the value of largest magnitude)/−8,
// q = min(15, ⌊w/d + 8.5⌋)) and onnxruntime's `com.microsoft::QMoE` op.
//
// QMoE's contract, as onnxruntime's CPU kernel reads it (contrib_ops/cpu/moe/
// moe_quantization_cpu.cc, DequantizeBlockWithMlas; the schema's docs in the op registry:
// fc1_experts_weights (E, fusion·inter, hidden / pack), scales rank 3 with a trailing
// blocks-per-row dim for block-wise quantisation):
//   - inputs: 0 input, 1 router_probs (router LOGITS, as for MoE), 2 fc1_experts_weights uint8,
//     3 fc1_scales (T = float here), 4 fc1 bias, 5 fc2_experts_weights uint8, 6 fc2_scales,
//     7 fc2 bias, 8–10 fc3 (not on CPU), 11/12 fc1/fc2 zero points (absent: symmetric).
//   - attributes: expert_weight_bits = 4, block_size = 32, plus MoE's (k, activation_type,
//     normalize_routing_weights, swiglu_fusion, activation_alpha/beta, swiglu_limit).
//   - weights are [out, in] rows (the same as MoE's float layout), two elements a byte, the
//     even column in the low nibble; scales [E, out, in/32]; with no zero points the kernel
//     dequantises w = scale·(q − 8).
// So the code of a moec int4_g32 block is QMoE's code: the same nibbles, and moec's f16 scale
// widened to float32. Both engines therefore run the SAME dequantised weights, and one float64
// reference over those weights checks both (bench/moe-layer-int4.ts).
import { encodeInto } from "../../dist/compiler/quant/encode.js";
import { f16Value } from "../../dist/compiler/quant/half.js";
import { rowBytes } from "../../dist/runtime/plan/formats.js";
import type { MoeLayerWeights, OnnxMoeModel } from "./moe-model.ts";
import * as pb from "./proto.ts";

export const GROUP = 32;
const BLOCK_BYTES = 2 + GROUP / 2;

/** A layer's expert weights as moec int4_g32 rows, and the same weights dequantised (float32). */
export interface Int4Layer {
  /** fc1 [E·2·inter rows of hidden] and fc2 [E·hidden rows of inter] as int4_g32 row bytes. */
  readonly fc1: Uint8Array;
  readonly fc2: Uint8Array;
  /** The layer with fc1/fc2 replaced by their dequantised values (the router stays float32). */
  readonly dequantised: MoeLayerWeights;
}

function dequantRows(bytes: Uint8Array, K: number, out: Float32Array): void {
  const rows = out.length / K;
  const rb = rowBytes("int4_g32", K);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < K / GROUP; b++) {
      const o = r * rb + b * BLOCK_BYTES;
      const d = f16Value(bytes[o]! | (bytes[o + 1]! << 8));
      const at = r * K + b * GROUP;
      for (let j = 0; j < GROUP / 2; j++) {
        const v = bytes[o + 2 + j]!;
        out[at + 2 * j] = d * ((v & 15) - 8);
        out[at + 2 * j + 1] = d * ((v >> 4) - 8);
      }
    }
  }
}

/** Quantises fc1 and fc2 with moec's own int4_g32 encoder (rows of `hidden` and of `inter`). */
export function quantizeInt4(w: MoeLayerWeights): Int4Layer {
  const { experts: E, hidden: d, inter } = w;
  if (d % GROUP || inter % GROUP) throw new Error(`int4 groups of ${GROUP} need hidden (${d}) and inter (${inter}) to be multiples of ${GROUP}`);
  const fc1 = new Uint8Array(E * 2 * inter * rowBytes("int4_g32", d));
  const fc2 = new Uint8Array(E * d * rowBytes("int4_g32", inter));
  encodeInto("int4_g32", w.fc1, [E * 2 * inter, d], fc1);
  encodeInto("int4_g32", w.fc2, [E * d, inter], fc2);
  const dq1 = new Float32Array(w.fc1.length);
  const dq2 = new Float32Array(w.fc2.length);
  dequantRows(fc1, d, dq1);
  dequantRows(fc2, inter, dq2);
  return { fc1, fc2, dequantised: { ...w, fc1: dq1, fc2: dq2 } };
}

/** int4_g32 rows → QMoE's packed nibbles [rows, K/2] and float32 scales [rows, K/32]. */
function toQMoe(bytes: Uint8Array, K: number): { packed: Uint8Array; scales: Float32Array } {
  const rb = rowBytes("int4_g32", K);
  const rows = bytes.length / rb;
  const packed = new Uint8Array((rows * K) / 2);
  const scales = new Float32Array((rows * K) / GROUP);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < K / GROUP; b++) {
      const o = r * rb + b * BLOCK_BYTES;
      scales[r * (K / GROUP) + b] = f16Value(bytes[o]! | (bytes[o + 1]! << 8));
      packed.set(bytes.subarray(o + 2, o + BLOCK_BYTES), (r * K + b * GROUP) / 2);
    }
  }
  return { packed, scales };
}

/** The QMoE model: router MatMul → QMoE, expert weights and scales in external data files. */
export function buildQMoeOnnx(w: MoeLayerWeights, q: Int4Layer): OnnxMoeModel {
  const { experts: E, hidden: d, inter } = w;
  const routerT = new Float32Array(d * E);
  for (let e = 0; e < E; e++) for (let i = 0; i < d; i++) routerT[i * E + e] = w.router[e * d + i]!;
  const files: { path: string; data: Uint8Array }[] = [];
  const ext = (name: string, dims: number[], type: number, data: Uint8Array): Uint8Array => {
    files.push({ path: `${name}.bin`, data });
    return pb.tensor(name, dims, type, { external: { location: `${name}.bin`, offset: 0, length: data.byteLength } });
  };
  const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const f1 = toQMoe(q.fc1, d);
  const f2 = toQMoe(q.fc2, inter);
  const initializers = [
    pb.tensor("router_weight", [d, E], pb.DataType.FLOAT, { raw: bytesOf(routerT) }),
    ext("fc1_experts_weights", [E, 2 * inter, d / 2], pb.DataType.UINT8, f1.packed),
    ext("fc1_scales", [E, 2 * inter, d / GROUP], pb.DataType.FLOAT, bytesOf(f1.scales)),
    ext("fc2_experts_weights", [E, d, inter / 2], pb.DataType.UINT8, f2.packed),
    ext("fc2_scales", [E, d, inter / GROUP], pb.DataType.FLOAT, bytesOf(f2.scales)),
  ];
  const nodes = [
    pb.node("MatMul", ["input", "router_weight"], ["router_logits"], { name: "router" }),
    pb.node("QMoE", ["input", "router_logits", "fc1_experts_weights", "fc1_scales", "", "fc2_experts_weights", "fc2_scales"], ["output"], {
      name: "qmoe",
      domain: "com.microsoft",
      attrs: {
        k: { i: w.k },
        expert_weight_bits: { i: 4 },
        block_size: { i: GROUP },
        activation_type: { s: "swiglu" },
        normalize_routing_weights: { i: 1 },
        use_sparse_mixer: { i: 0 },
        swiglu_fusion: { i: 1 },
        activation_alpha: { f: 1 },
        activation_beta: { f: 0 },
        swiglu_limit: { f: Infinity },
      },
    }),
  ];
  const g = pb.graph("qmoe_layer", nodes, initializers, [pb.valueInfo("input", pb.DataType.FLOAT, ["T", d])], [pb.valueInfo("output", pb.DataType.FLOAT, ["T", d])]);
  return {
    model: pb.model(g, [
      { domain: "", version: 17 },
      { domain: "com.microsoft", version: 1 },
    ]),
    files,
  };
}
