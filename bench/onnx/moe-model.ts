// One MoE layer as an ONNX model for onnxruntime's `com.microsoft::MoE` contrib op (float32),
// plus the random weights all engines share and a float64 reference of the same layer.
//
// The graph: router logits = MatMul(input, Wrᵀ) → MoE(input, router logits, fc1, -, fc2).
// The router matmul is in the graph (and in moec's moe step), so every engine does the same
// work from the same hidden states. The MoE op contract, from onnxruntime's CPU kernel
// (contrib_ops/cpu/moe/moe_cpu.cc, moe_base_cpu.h, moe_utils.cc) and checked against the
// float64 reference below before anything is timed (bench/moe-layer.ts):
//   - input 1 `router_probs` takes router LOGITS: the kernel applies a softmax over all
//     experts, takes the top k, and with normalize_routing_weights=1 divides by their sum.
//   - activation_type="swiglu" needs swiglu_fusion=1 on CPU: fc1_experts_weights is
//     [E, 2·inter, hidden] with gate and up rows interleaved (row 2i = gate_i, 2i+1 = up_i),
//     act = gate·σ(α·gate)·(up + β), gate ≤ limit, |up| ≤ limit; we set α=1, β=0, limit=∞
//     (the Llama/Qwen SwiGLU, not GPT-OSS's). fc3 is not implemented on CPU.
//   - fc2_experts_weights is [E, hidden, inter]; both fcs are used as Wᵀ (W is [out, in]).
import * as pb from "./proto.ts";

export interface MoeLayerWeights {
  readonly experts: number;
  readonly k: number;
  readonly hidden: number;
  readonly inter: number;
  /** [E, hidden] (a linear's [out, in] layout). */
  readonly router: Float32Array;
  /** [E, 2·inter, hidden], gate and up rows interleaved: ORT's swiglu_fusion=1 layout. */
  readonly fc1: Float32Array;
  /** [E, hidden, inter]: the down projection. */
  readonly fc2: Float32Array;
}

/** xorshift32 uniforms in [-a, a) with std `std` (a = std·√3): fast enough for gigabytes. */
export function fillUniform(out: Float32Array, seed: number, std: number): Float32Array {
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const a = std * Math.sqrt(3);
  const scale = (2 * a) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) * scale - a;
  }
  return out;
}

export function randomLayer(experts: number, k: number, hidden: number, inter: number, seed: number): MoeLayerWeights {
  return {
    experts,
    k,
    hidden,
    inter,
    router: fillUniform(new Float32Array(experts * hidden), seed + 1, 0.02),
    fc1: fillUniform(new Float32Array(experts * 2 * inter * hidden), seed + 2, 0.02),
    fc2: fillUniform(new Float32Array(experts * hidden * inter), seed + 3, 0.02),
  };
}

/** Expert e's gate (which = 0) or up (which = 1) projection [inter, hidden], de-interleaved from fc1. */
export function expertProj(w: MoeLayerWeights, e: number, which: 0 | 1, into: Float32Array): void {
  const { inter, hidden } = w;
  const base = e * 2 * inter * hidden;
  for (let i = 0; i < inter; i++) {
    const from = base + (2 * i + which) * hidden;
    into.set(w.fc1.subarray(from, from + hidden), i * hidden);
  }
}

function f32bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export interface OnnxMoeModel {
  /** The ModelProto bytes. */
  readonly model: Uint8Array;
  /** External data files the model refers to by `path` (relative to the model file). */
  readonly files: readonly {
    readonly path: string;
    readonly data: Uint8Array;
  }[];
}

/**
 * Builds the ONNX model. Protobuf messages are capped at 2 GiB, so with `external` the expert
 * weights go to external data files (one per tensor, each under 2 GiB for the shapes here).
 */
export function buildMoeOnnx(w: MoeLayerWeights, opts: { external: boolean }): OnnxMoeModel {
  const { experts: E, hidden: d, inter } = w;
  const routerT = new Float32Array(d * E); // MatMul wants [hidden, E]
  for (let e = 0; e < E; e++) for (let i = 0; i < d; i++) routerT[i * E + e] = w.router[e * d + i]!;
  const files: { path: string; data: Uint8Array }[] = [];
  const init = (name: string, dims: number[], data: Float32Array, external: boolean): Uint8Array => {
    if (!external) return pb.tensor(name, dims, pb.DataType.FLOAT, { raw: f32bytes(data) });
    const path = `${name}.bin`;
    files.push({ path, data: f32bytes(data) });
    return pb.tensor(name, dims, pb.DataType.FLOAT, {
      external: { location: path, offset: 0, length: data.byteLength },
    });
  };
  const initializers = [
    init("router_weight", [d, E], routerT, false),
    init("fc1_experts_weights", [E, 2 * inter, d], w.fc1, opts.external),
    init("fc2_experts_weights", [E, d, inter], w.fc2, opts.external),
  ];
  const nodes = [
    pb.node("MatMul", ["input", "router_weight"], ["router_logits"], {
      name: "router",
    }),
    pb.node("MoE", ["input", "router_logits", "fc1_experts_weights", "", "fc2_experts_weights"], ["output"], {
      name: "moe",
      domain: "com.microsoft",
      attrs: {
        k: { i: w.k },
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
  const g = pb.graph(
    "moe_layer",
    nodes,
    initializers,
    [pb.valueInfo("input", pb.DataType.FLOAT, ["T", d])],
    [pb.valueInfo("output", pb.DataType.FLOAT, ["T", d])],
  );
  const model = pb.model(g, [
    { domain: "", version: 17 },
    { domain: "com.microsoft", version: 1 },
  ]);
  return { model, files };
}

/**
 * The layer in float64 for tokens [t0, t1) of x [T, hidden]: softmax over all router logits,
 * top-k, renormalise over the k, then Σ p·down(silu(gate·x) ⊙ (up·x)). Returns [(t1-t0), hidden].
 */
export function referenceMoe(w: MoeLayerWeights, x: Float32Array, t0: number, t1: number): Float64Array {
  const { experts: E, hidden: d, inter, k } = w;
  const out = new Float64Array((t1 - t0) * d);
  const act = new Float64Array(inter);
  for (let t = t0; t < t1; t++) {
    const xt = x.subarray(t * d, (t + 1) * d);
    const logits = new Float64Array(E);
    for (let e = 0; e < E; e++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += w.router[e * d + i]! * xt[i]!;
      logits[e] = s;
    }
    const max = Math.max(...logits);
    const p = logits.map((l) => Math.exp(l - max));
    const order = Array.from({ length: E }, (_, e) => e)
      .sort((a, b) => p[b]! - p[a]!)
      .slice(0, k);
    const sum = order.reduce((s, e) => s + p[e]!, 0);
    for (const e of order) {
      const weight = p[e]! / sum;
      const base = e * 2 * inter * d;
      for (let j = 0; j < inter; j++) {
        let g = 0;
        let u = 0;
        const gr = base + 2 * j * d;
        const ur = gr + d;
        for (let i = 0; i < d; i++) {
          g += w.fc1[gr + i]! * xt[i]!;
          u += w.fc1[ur + i]! * xt[i]!;
        }
        act[j] = (g / (1 + Math.exp(-g))) * u;
      }
      const o = (t - t0) * d;
      for (let r = 0; r < d; r++) {
        let s = 0;
        const row = e * d * inter + r * inter;
        for (let j = 0; j < inter; j++) s += w.fc2[row + j]! * act[j]!;
        out[o + r] += weight * s;
      }
    }
  }
  return out;
}

/** max |a − b| / max |b|: the error measure every check in the benchmark uses. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return den === 0 ? num : num / den;
}
