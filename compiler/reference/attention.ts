// Attention for the reference interpreter: standard (MHA/GQA/MQA, sliding window, q/k norm,
// clipping, sinks, soft-capping) and DeepSeek's multi-head latent attention, both over a KV
// cache so that incremental decoding computes exactly what a full forward pass does.
import type { Attrs, RopeAttr } from "../ir/graph.js";
import { applyRope, ropeCosSin } from "../../runtime/math/rope.js";
import { linear, rmsnormRows, rows, type Tensor } from "./tensor.js";
import { attentionNormNames, vProjName } from "../ir/ops.js";
import { temperatureFactor } from "../../runtime/math/temperature.js";

/** Keys and values of one attention node, one row per cached position: [pos, kvHeads · dim]. */
export interface KvEntry {
  keys: Float32Array;
  values: Float32Array;
  length: number;
}

export type Weights = (suffix: string) => Float32Array;
export type OptWeights = (suffix: string) => Float32Array | null;

function append(entry: KvEntry, k: Float32Array, v: Float32Array, kWidth: number, vWidth: number, count: number): void {
  const need = entry.length + count;
  if (need * kWidth > entry.keys.length) {
    const cap = Math.max(need, entry.length * 2, 16);
    const nk = new Float32Array(cap * kWidth);
    nk.set(entry.keys.subarray(0, entry.length * kWidth));
    const nv = new Float32Array(cap * vWidth);
    nv.set(entry.values.subarray(0, entry.length * vWidth));
    entry.keys = nk;
    entry.values = nv;
  }
  entry.keys.set(k, entry.length * kWidth);
  entry.values.set(v, entry.length * vWidth);
  entry.length = need;
}

export function newKvEntry(): KvEntry {
  return { keys: new Float32Array(0), values: new Float32Array(0), length: 0 };
}

function rotate(data: Float32Array, tokens: number, heads: number, headDim: number, rope: RopeAttr, start: number, seqLen: number): void {
  const positions = Array.from({ length: tokens }, (_, t) => start + t);
  const { cos, sin } = ropeCosSin(rope, positions, seqLen);
  for (let t = 0; t < tokens; t++) for (let h = 0; h < heads; h++) applyRope(data, (t * heads + h) * headDim, headDim, rope, cos, sin, t);
}

interface Scores {
  /** The last visible key position: the query's own (causal) or the newest cached one. */
  readonly last: number | null;
  readonly scale: number;
  readonly window: number | null;
  readonly softcap: number | null;
  readonly sink: number | null;
  /** Chunked local attention: keys from the start of the query's chunk of this many positions. */
  readonly chunk?: number | null;
}

/** softmax(q·k · scale) · v over the visible cached positions of one query row and head. */
function attendOne(q: Float32Array, qOff: number, qkDim: number, cache: KvEntry, kWidth: number, kOff: number, vWidth: number, vOff: number, vDim: number, pos: number, s: Scores, out: Float32Array, outOff: number): void {
  let first = s.window === null ? 0 : Math.max(0, pos - s.window + 1);
  if (s.chunk) first = Math.max(first, Math.floor(pos / s.chunk) * s.chunk);
  if (s.last !== null) pos = s.last;
  const logits = new Float64Array(pos + 1 - first);
  let max = s.sink ?? -Infinity;
  for (let j = first; j <= pos; j++) {
    let dot = 0;
    const kb = j * kWidth + kOff;
    for (let d = 0; d < qkDim; d++) dot += q[qOff + d]! * cache.keys[kb + d]!;
    let l = Math.fround(dot) * s.scale;
    if (s.softcap !== null) l = s.softcap * Math.tanh(l / s.softcap);
    logits[j - first] = l;
    if (l > max) max = l;
  }
  let denom = s.sink === null ? 0 : Math.exp(s.sink - max);
  for (let i = 0; i < logits.length; i++) {
    logits[i] = Math.exp(logits[i]! - max);
    denom += logits[i]!;
  }
  for (let d = 0; d < vDim; d++) {
    let acc = 0;
    for (let j = first; j <= pos; j++) acc += logits[j - first]! * cache.values[j * vWidth + vOff + d]!;
    out[outOff + d] = acc / denom;
  }
}

/** Standard attention; `start` is the position of the first new token (the cache length). */
export function attention(x: Tensor, a: Attrs, w: Weights, opt: OptWeights, cache: KvEntry): Tensor {
  const T = rows(x);
  const start = cache.length;
  const heads = a["heads"] as number;
  const kvHeads = a["kvHeads"] as number;
  const hd = a["headDim"] as number;
  const bias = a["bias"] === true;
  let q: Float32Array, k: Float32Array, v: Float32Array;
  const fused = a["qkvName"] as string | undefined;
  if (fused) {
    // One projection with rows [q; k; v] (DBRX's Wqkv), split per token.
    const [qd, kd] = [heads * hd, kvHeads * hd];
    const qkv = linear(x, w(`.${fused}.weight`), qd + 2 * kd, null, "out_in").data;
    [q, k, v] = [new Float32Array(T * qd), new Float32Array(T * kd), new Float32Array(T * kd)];
    for (let t = 0; t < T; t++) {
      const row = t * (qd + 2 * kd);
      q.set(qkv.subarray(row, row + qd), t * qd);
      k.set(qkv.subarray(row + qd, row + qd + kd), t * kd);
      v.set(qkv.subarray(row + qd + kd, row + qd + 2 * kd), t * kd);
    }
  } else {
    q = linear(x, w(".q_proj.weight"), heads * hd * (a["outputGate"] === true ? 2 : 1), bias ? w(".q_proj.bias") : null, "out_in").data;
    k = linear(x, w(".k_proj.weight"), kvHeads * hd, bias ? w(".k_proj.bias") : null, "out_in").data;
    // v_name "k_proj" (Gemma-4's attention_k_eq_v): v is the raw k projection, before the k norm
    const vn = vProjName(a);
    v = linear(x, w(`.${vn}.weight`), kvHeads * hd, bias ? w(`.${vn}.bias`) : null, "out_in").data;
  }
  // Gemma-4: v gets a weightless RMSNorm per head (v_norm), eps norm_eps
  if (a["vNorm"] === true) rmsnormRows(v, hd, null, a["normEps"] as number, v, 0);
  // Output gate (Qwen3-Next): q_proj gives [q_h | gate_h] per head; the gate multiplies the output by its sigmoid.
  let gate: Float32Array | null = null;
  if (a["outputGate"] === true) {
    const both = q;
    q = new Float32Array(T * heads * hd);
    gate = new Float32Array(T * heads * hd);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < heads; h++) {
        const src = (t * heads + h) * 2 * hd;
        q.set(both.subarray(src, src + hd), (t * heads + h) * hd);
        gate.set(both.subarray(src + hd, src + 2 * hd), (t * heads + h) * hd);
      }
    }
  }
  const eps = a["normEps"] as number;
  const names = attentionNormNames(a);
  const offset = (a["qkNormOffset"] as number | undefined) ?? 0;
  const qkNorm = () => {
    if (a["qkNorm"] === null) return;
    const per = a["qkNorm"] === "head";
    rmsnormRows(q, per ? hd : heads * hd, names ? w(names.q) : null, eps, q, offset);
    rmsnormRows(k, per ? hd : kvHeads * hd, names ? w(names.k) : null, eps, k, offset);
  };
  const after = a["qkNormAfterRope"] === true;
  if (!after) qkNorm();
  const clip = a["clipQkv"] as number | null;
  if (clip !== null) for (const arr of [q, k, v]) for (let i = 0; i < arr.length; i++) arr[i] = Math.min(clip, Math.max(-clip, arr[i]!));
  const rope = a["rope"] as unknown as RopeAttr | null;
  if (rope) {
    rotate(q, T, heads, hd, rope, start, start + T);
    rotate(k, T, kvHeads, hd, rope, start, start + T);
  }
  if (after) qkNorm();
  const temp = (a["temperature"] ?? null) as { floorScale: number; scale: number } | null;
  if (temp) {
    for (let t = 0; t < T; t++) {
      const f = temperatureFactor(start + t, temp.floorScale, temp.scale);
      for (let i = t * heads * hd; i < (t + 1) * heads * hd; i++) q[i] = Math.fround(q[i]! * f);
    }
  }
  append(cache, k, v, kvHeads * hd, kvHeads * hd, T);
  const sinks = a["sinks"] === true ? w(".sinks") : null;
  const group = heads / kvHeads;
  const out = new Float32Array(T * heads * hd);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      const s: Scores = {
        last: a["causal"] === false ? start + T - 1 : null, scale: a["scale"] as number, window: a["window"] as number | null, softcap: a["softcap"] as number | null,
        sink: sinks ? sinks[h]! : null, chunk: (a["chunk"] as number | undefined) ?? null,
      };
      attendOne(q, (t * heads + h) * hd, hd, cache, kvHeads * hd, kvh * hd, kvHeads * hd, kvh * hd, hd, start + t, s, out, (t * heads + h) * hd);
    }
  }
  if (gate) for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i]! * Math.fround(1 / (1 + Math.exp(-gate[i]!))));
  const o = { shape: [...x.shape.slice(0, -1), heads * hd], data: out };
  const oName = (a["oName"] as string | undefined) ?? "o_proj";
  return linear(o, w(`.${oName}.weight`), x.shape[x.shape.length - 1]!, a["outBias"] === true ? opt(`.${oName}.bias`) : null, "out_in");
}

/** DeepSeek-V2/V3 multi-head latent attention; the cache holds per-head keys and values. */
export function mla(x: Tensor, a: Attrs, w: Weights, cache: KvEntry): Tensor {
  const T = rows(x);
  const start = cache.length;
  const H = a["heads"] as number;
  const nope = a["qkNopeDim"] as number;
  const ropeDim = a["qkRopeDim"] as number;
  const vDim = a["vDim"] as number;
  const kvLora = a["kvLoraRank"] as number;
  const eps = a["normEps"] as number;
  const qk = nope + ropeDim;
  const qLora = a["qLoraRank"] as number | null;
  let q: Float32Array;
  if (qLora === null) q = linear(x, w(".q_proj.weight"), H * qk, null, "out_in").data;
  else {
    const qa = linear(x, w(".q_a_proj.weight"), qLora, null, "out_in");
    rmsnormRows(qa.data, qLora, w(".q_a_layernorm.weight"), eps, qa.data);
    q = linear(qa, w(".q_b_proj.weight"), H * qk, null, "out_in").data;
  }
  const kvA = linear(x, w(".kv_a_proj_with_mqa.weight"), kvLora + ropeDim, null, "out_in").data;
  const compressed = new Float32Array(T * kvLora);
  const kPe = new Float32Array(T * ropeDim);
  for (let t = 0; t < T; t++) {
    compressed.set(kvA.subarray(t * (kvLora + ropeDim), t * (kvLora + ropeDim) + kvLora), t * kvLora);
    kPe.set(kvA.subarray(t * (kvLora + ropeDim) + kvLora, (t + 1) * (kvLora + ropeDim)), t * ropeDim);
  }
  rmsnormRows(compressed, kvLora, w(".kv_a_layernorm.weight"), eps, compressed);
  const kv = linear({ shape: [T, kvLora], data: compressed }, w(".kv_b_proj.weight"), H * (nope + vDim), null, "out_in").data;
  const rope = a["rope"] as unknown as RopeAttr | null;
  // Rotate the rope part of each query head and the shared rope key.
  const qPe = new Float32Array(T * H * ropeDim);
  for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) qPe.set(q.subarray((t * H + h) * qk + nope, (t * H + h + 1) * qk), (t * H + h) * ropeDim);
  if (rope) {
    rotate(qPe, T, H, ropeDim, rope, start, start + T);
    rotate(kPe, T, 1, ropeDim, rope, start, start + T);
  }
  const keys = new Float32Array(T * H * qk);
  const values = new Float32Array(T * H * vDim);
  const query = new Float32Array(T * H * qk);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const src = (t * H + h) * (nope + vDim);
      const dst = (t * H + h) * qk;
      keys.set(kv.subarray(src, src + nope), dst);
      keys.set(kPe.subarray(t * ropeDim, (t + 1) * ropeDim), dst + nope);
      values.set(kv.subarray(src + nope, src + nope + vDim), (t * H + h) * vDim);
      query.set(q.subarray(dst, dst + nope), dst);
      query.set(qPe.subarray((t * H + h) * ropeDim, (t * H + h + 1) * ropeDim), dst + nope);
    }
  }
  append(cache, keys, values, H * qk, H * vDim, T);
  const out = new Float32Array(T * H * vDim);
  const s: Scores = { last: null, scale: a["scale"] as number, window: null, softcap: null, sink: null };
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) attendOne(query, (t * H + h) * qk, qk, cache, H * qk, h * qk, H * vDim, h * vDim, vDim, start + t, s, out, (t * H + h) * vDim);
  }
  return linear({ shape: [...x.shape.slice(0, -1), H * vDim], data: out }, w(".o_proj.weight"), x.shape[x.shape.length - 1]!, null, "out_in");
}
