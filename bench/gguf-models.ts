// Writes the benchmark's GGUF files: OLMoE-1B-7B and Qwen3-30B-A3B shapes (whole, or cut to a few
// layers) with random weights, in F32, Q8_0, Q4_0 or Q4_K. The layout is llama.cpp's
// convert_hf_to_gguf.py's, as test/helpers/gguf-writer.ts writes it for the fixtures (tensor
// names, metadata keys, stacked experts), streamed tensor by tensor so a 7 GB file never sits in
// memory. The Python `gguf` package (llama.cpp's own writer) is not installable here (PyPI is
// unreachable), so this is the project's writer. Random weights are random blocks: each block's
// codes uniform, its scales set for a weight spread of about 0.02 (as a model's initialisation);
// F32 weights uniform in ±0.035. The vocabulary is a placeholder (`<tN>` tokens, no merges) that
// llama.cpp and moec both accept; the benchmarks feed token ids.
//
//   node --experimental-strip-types bench/gguf-models.ts olmoe|qwen3 LAYERS F32|Q8_0|Q4_0|Q4_K OUT.gguf
import { open } from "node:fs/promises";

type Kind = "F32" | "Q8_0" | "Q4_0" | "Q4_K";
const TYPE_ID: Record<Kind, number> = { F32: 0, Q4_0: 2, Q8_0: 8, Q4_K: 12 };
const BLOCK: Record<Kind, [number, number]> = { F32: [1, 4], Q8_0: [32, 34], Q4_0: [32, 18], Q4_K: [256, 144] };

export interface Shape {
  readonly arch: "olmoe" | "qwen3moe";
  readonly layers: number;
  readonly d: number;
  readonly ffn: number;
  readonly experts: number;
  readonly used: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocab: number;
  readonly context: number;
  readonly theta: number;
  readonly eps: number;
}

/** OLMoE-1B-7B-0924 and Qwen3-30B-A3B as their config.json describe them. */
export const SHAPES: Record<string, Shape> = {
  olmoe: { arch: "olmoe", layers: 16, d: 2048, ffn: 1024, experts: 64, used: 8, heads: 16, kvHeads: 16, headDim: 128, vocab: 50304, context: 4096, theta: 10000, eps: 1e-5 },
  qwen3: { arch: "qwen3moe", layers: 48, d: 2048, ffn: 768, experts: 128, used: 8, heads: 32, kvHeads: 4, headDim: 128, vocab: 151936, context: 40960, theta: 1e6, eps: 1e-6 },
};

/** xorshift32: fast random bytes and floats. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const f16 = (x: number): number => {
  const f = new Float32Array([x]);
  const b = new Uint32Array(f.buffer)[0]!;
  const e = ((b >>> 23) & 0xff) - 127 + 15;
  return ((b >>> 16) & 0x8000) | (e << 10) | ((b >>> 13) & 0x3ff);
};

/** `rows` rows of `K` random weights in `kind`. */
function randomTensor(kind: Kind, rows: number, K: number, next: () => number): Uint8Array {
  const [block, bytes] = BLOCK[kind];
  const nb = (rows * K) / block;
  const out = new Uint8Array(nb * bytes);
  const u32 = new Uint32Array(out.buffer, 0, Math.floor(out.length / 4));
  for (let i = 0; i < u32.length; i++) u32[i] = next();
  if (kind === "F32") {
    const f = new Float32Array(out.buffer);
    for (let i = 0; i < f.length; i++) f[i] = ((u32[i]! / 2 ** 32) * 2 - 1) * 0.035;
    return out;
  }
  const dv = new DataView(out.buffer);
  for (let b = 0, o = 0; b < nb; b++, o += bytes) {
    if (kind === "Q8_0") {
      dv.setUint16(o, f16(0.02 / 73), true); // uniform int8 codes: σ ≈ 73
      for (let j = 0; j < 32; j++) if (out[o + 2 + j] === 0x80) out[o + 2 + j] = 0x81;
    } else if (kind === "Q4_0") dv.setUint16(o, f16(0.02 / 4.6), true); // (q − 8), σ ≈ 4.6
    else {
      // d · sc · q − dmin · m with sc = m: w = d·sc·(q − 7.5) when dmin = 7.5·d.
      dv.setUint16(o, f16(0.02 / (48 * 4.6)), true);
      dv.setUint16(o + 2, f16((7.5 * 0.02) / (48 * 4.6)), true);
      const s = Array.from({ length: 8 }, (_, j) => 32 + (out[o + 4 + j]! & 31));
      for (let j = 0; j < 4; j++) {
        out[o + 4 + j] = (s[j]! & 63) | ((s[j + 4]! >> 4) << 6);
        out[o + 8 + j] = (s[j]! & 63) | ((s[j + 4]! >> 4) << 6);
        out[o + 12 + j] = (s[j + 4]! & 0xf) | ((s[j + 4]! & 0xf) << 4);
      }
    }
  }
  return out;
}

interface TensorSpec {
  readonly name: string;
  /** ggml ne: row length first. */
  readonly ne: readonly number[];
  readonly kind: Kind;
  readonly fill: "random" | "ones";
}

function tensors(s: Shape, kind: Kind): TensorSpec[] {
  const t: TensorSpec[] = [];
  const q = (rows: number, K: number) => (K % BLOCK[kind][0] === 0 ? kind : "F32");
  const mat = (name: string, K: number, N: number, extra: number[] = []): TensorSpec => ({ name, ne: [K, N, ...extra], kind: q(N, K), fill: "random" });
  const vec = (name: string, n: number): TensorSpec => ({ name, ne: [n], kind: "F32", fill: "ones" });
  t.push(mat("token_embd.weight", s.d, s.vocab));
  for (let l = 0; l < s.layers; l++) {
    const b = `blk.${l}`;
    t.push(vec(`${b}.attn_norm.weight`, s.d));
    t.push(mat(`${b}.attn_q.weight`, s.d, s.heads * s.headDim), mat(`${b}.attn_k.weight`, s.d, s.kvHeads * s.headDim), mat(`${b}.attn_v.weight`, s.d, s.kvHeads * s.headDim));
    t.push(mat(`${b}.attn_output.weight`, s.heads * s.headDim, s.d));
    if (s.arch === "olmoe") t.push(vec(`${b}.attn_q_norm.weight`, s.heads * s.headDim), vec(`${b}.attn_k_norm.weight`, s.kvHeads * s.headDim));
    else t.push(vec(`${b}.attn_q_norm.weight`, s.headDim), vec(`${b}.attn_k_norm.weight`, s.headDim));
    t.push(vec(`${b}.ffn_norm.weight`, s.d));
    t.push({ name: `${b}.ffn_gate_inp.weight`, ne: [s.d, s.experts], kind: "F32", fill: "random" });
    t.push(mat(`${b}.ffn_gate_exps.weight`, s.d, s.ffn, [s.experts]), mat(`${b}.ffn_up_exps.weight`, s.d, s.ffn, [s.experts]), mat(`${b}.ffn_down_exps.weight`, s.ffn, s.d, [s.experts]));
  }
  t.push(vec("output_norm.weight", s.d), mat("output.weight", s.d, s.vocab));
  return t;
}

type KV = [string, "u32" | "f32" | "string", number | string] | [string, "array", (string | number)[], "string" | "i32"];

function metadata(s: Shape, layers: number): KV[] {
  const a = s.arch;
  const kv: KV[] = [
    ["general.architecture", "string", a],
    ["general.name", "string", `moec benchmark ${a} (${layers} layers, random weights)`],
    [`${a}.block_count`, "u32", layers],
    [`${a}.context_length`, "u32", s.context],
    [`${a}.embedding_length`, "u32", s.d],
    [`${a}.feed_forward_length`, "u32", a === "olmoe" ? s.ffn : 6144],
    [`${a}.attention.head_count`, "u32", s.heads],
    [`${a}.attention.head_count_kv`, "u32", s.kvHeads],
    [`${a}.rope.freq_base`, "f32", s.theta],
    [`${a}.attention.layer_norm_rms_epsilon`, "f32", s.eps],
    [`${a}.expert_count`, "u32", s.experts],
    [`${a}.expert_used_count`, "u32", s.used],
  ];
  if (a === "qwen3moe") kv.push([`${a}.attention.key_length`, "u32", s.headDim], [`${a}.attention.value_length`, "u32", s.headDim], [`${a}.expert_feed_forward_length`, "u32", s.ffn]);
  kv.push(["tokenizer.ggml.model", "string", "gpt2"], ["tokenizer.ggml.pre", "string", "default"]);
  kv.push(["tokenizer.ggml.tokens", "array", Array.from({ length: s.vocab }, (_, i) => `<t${i}>`), "string"]);
  kv.push(["tokenizer.ggml.token_type", "array", Array.from({ length: s.vocab }, () => 1), "i32"]);
  kv.push(["tokenizer.ggml.merges", "array", [], "string"]);
  kv.push(["tokenizer.ggml.bos_token_id", "u32", 0], ["tokenizer.ggml.eos_token_id", "u32", 1]);
  return kv;
}

class Buf {
  parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  u64(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.push(b);
  }
  f32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.push(b);
  }
}

export async function writeModel(shapeName: string, layers: number, kind: Kind, path: string): Promise<void> {
  const s = { ...SHAPES[shapeName]!, layers };
  const list = tensors(s, kind);
  const kv = metadata(s, layers);
  const h = new Buf();
  h.push(new TextEncoder().encode("GGUF"));
  h.u32(3);
  h.u64(list.length);
  h.u64(kv.length);
  const CODE = { u32: 4, f32: 6, string: 8, array: 9, i32: 5 } as const;
  for (const e of kv) {
    h.str(e[0]);
    h.u32(CODE[e[1]]);
    if (e[1] === "array") {
      h.u32(CODE[e[3]]);
      h.u64(e[2].length);
      for (const it of e[2]) e[3] === "string" ? h.str(it as string) : h.u32(it as number);
    } else if (e[1] === "string") h.str(e[2] as string);
    else if (e[1] === "u32") h.u32(e[2] as number);
    else h.f32(e[2] as number);
  }
  const size = (t: TensorSpec) => (t.ne.reduce((a, b) => a * b, 1) / BLOCK[t.kind][0]) * BLOCK[t.kind][1];
  let off = 0;
  for (const t of list) {
    h.str(t.name);
    h.u32(t.ne.length);
    for (const n of t.ne) h.u64(n);
    h.u32(TYPE_ID[t.kind]);
    h.u64(off);
    off += Math.ceil(size(t) / 32) * 32;
  }
  h.push(new Uint8Array((32 - (h.length % 32)) % 32));
  const fh = await open(path, "w");
  try {
    for (const p of h.parts) await fh.write(p);
    const next = rng(0x9e3779b9 ^ layers);
    for (const t of list) {
      const rows = t.ne.slice(1).reduce((a, b) => a * b, 1);
      // Expert tensors a slice of experts at a time (a 400 MB tensor never sits whole in memory).
      const slices = t.ne.length > 2 ? t.ne[2]! : 1;
      for (let e = 0; e < slices; e++) {
        const r = rows / slices;
        const bytes = t.fill === "ones" ? new Uint8Array(new Float32Array(t.ne[0]!).fill(1).buffer) : randomTensor(t.kind, r, t.ne[0]!, next);
        await fh.write(bytes);
      }
      const pad = (32 - (size(t) % 32)) % 32;
      if (pad) await fh.write(new Uint8Array(pad));
    }
  } finally {
    await fh.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [shape, layers, kind, out] = process.argv.slice(2);
  if (!shape || !SHAPES[shape] || !layers || !kind || !(kind in TYPE_ID) || !out) {
    console.error("usage: node --experimental-strip-types bench/gguf-models.ts olmoe|qwen3 LAYERS F32|Q8_0|Q4_0|Q4_K OUT.gguf");
    process.exit(2);
  }
  const t0 = performance.now();
  await writeModel(shape, Number(layers), kind as Kind, out);
  console.log(`wrote ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
