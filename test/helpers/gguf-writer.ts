// A small GGUF writer for tests (tensors in F32, F16, Q8_0, Q4_0, Q4_K), and a converter from
// the Hugging Face fixtures to GGUF files laid out the way llama.cpp's convert_hf_to_gguf.py lays them out (its names, metadata, stacked experts, and for the
// "llama" architecture LlamaModel.permute on q_proj / k_proj). It is written independently of
// moec's GGUF reader and importer so that it can check them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openCheckpoint } from "../../runtime/weights/safetensors.js";
import * as ggml from "../../compiler/quant/ggml.js";
import { f16Bits, f16Value } from "../../compiler/quant/half.js";

// ---- float16 and the quantisers -----------------------------------------------------------
// moec's own ports of ggml's reference quantisers (compiler/quant/ggml.ts, half.ts); the tests that
// read these files check the reader's dequantisation and the importer, which do not use them, and
// test/weights/gguf.test.ts holds the quantisers to their step bounds.

export { f16Bits, f16Value };

const blocks = (q: (x: Float32Array, out: Uint8Array) => void, block: number, bytes: number) => (x: Float32Array): Uint8Array => {
  const out = new Uint8Array((x.length / block) * bytes);
  q(x, out);
  return out;
};
export const quantizeQ8_0 = blocks(ggml.quantizeQ8_0, 32, 34);
export const quantizeQ4_0 = blocks(ggml.quantizeQ4_0, 32, 18);
export const quantizeQ4_K = blocks(ggml.quantizeQ4_K, 256, 144);

export function toF16Bytes(x: Float32Array): Uint8Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f16Bits(x[i]!);
  return new Uint8Array(out.buffer);
}

// ---- the file format --------------------------------------------------------------------

export type ValueType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "bool" | "string" | "u64" | "i64" | "f64";
const TYPE_CODE: Record<ValueType | "array", number> = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 };

export type Scalar = number | bigint | boolean | string;
/** A metadata entry: [key, type, value] or [key, "array", items, itemType]. */
export type KV = readonly [string, ValueType, Scalar] | readonly [string, "array", readonly Scalar[], ValueType];

export const GGML_TYPE_IDS = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30, MXFP4: 39 } as const;
export type WriterType = keyof typeof GGML_TYPE_IDS;

export interface WriterTensor {
  name: string;
  /** ggml dims, fastest first. */
  ne: readonly number[];
  type: WriterType;
  /** Already encoded bytes. */
  bytes: Uint8Array;
}

/** Encodes float32 data (row-major, rows of ne[0]) as `type`. */
export function encode(type: "F32" | "F16" | "Q8_0" | "Q4_0" | "Q4_K", data: Float32Array): Uint8Array {
  switch (type) {
    case "F32": return new Uint8Array(data.slice().buffer);
    case "F16": return toF16Bytes(data);
    case "Q8_0": return quantizeQ8_0(data);
    case "Q4_0": return quantizeQ4_0(data);
    case "Q4_K": return quantizeQ4_K(data);
  }
}

class Bytes {
  private chunks: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array) { this.chunks.push(b); this.length += b.length; }
  num(type: ValueType, v: Scalar) {
    const size = { u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8, string: 0 }[type];
    if (type === "string") { this.str(v as string); return; }
    const b = new Uint8Array(size);
    const dv = new DataView(b.buffer);
    switch (type) {
      case "u8": dv.setUint8(0, v as number); break;
      case "i8": dv.setInt8(0, v as number); break;
      case "bool": dv.setUint8(0, v ? 1 : 0); break;
      case "u16": dv.setUint16(0, v as number, true); break;
      case "i16": dv.setInt16(0, v as number, true); break;
      case "u32": dv.setUint32(0, v as number, true); break;
      case "i32": dv.setInt32(0, v as number, true); break;
      case "f32": dv.setFloat32(0, v as number, true); break;
      case "u64": dv.setBigUint64(0, BigInt(v as number | bigint), true); break;
      case "i64": dv.setBigInt64(0, BigInt(v as number | bigint), true); break;
      case "f64": dv.setFloat64(0, v as number, true); break;
    }
    this.push(b);
  }
  u32(v: number) { this.num("u32", v); }
  u64(v: number | bigint) { this.num("u64", v); }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.push(b);
  }
  pad(alignment: number) {
    const n = (alignment - (this.length % alignment)) % alignment;
    if (n) this.push(new Uint8Array(n));
  }
  done(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}

export interface GgufSpec {
  kv: readonly KV[];
  tensors: readonly WriterTensor[];
  /** Written as general.alignment (u32) when given; 32 otherwise. */
  alignment?: number;
  version?: number;
}

/** A GGUF file: header, metadata, tensor infos, padding, then each tensor's data padded to the alignment. */
export function writeGguf(spec: GgufSpec): Uint8Array {
  const alignment = spec.alignment ?? 32;
  const kv: KV[] = [...spec.kv];
  if (spec.alignment !== undefined) kv.push(["general.alignment", "u32", alignment]);
  const b = new Bytes();
  b.push(new TextEncoder().encode("GGUF"));
  b.u32(spec.version ?? 3);
  b.u64(spec.tensors.length);
  b.u64(kv.length);
  for (const e of kv) {
    b.str(e[0]);
    b.u32(TYPE_CODE[e[1]]);
    if (e[1] === "array") {
      const [, , items, itemType] = e as readonly [string, "array", readonly Scalar[], ValueType];
      b.u32(TYPE_CODE[itemType]);
      b.u64(items.length);
      for (const it of items) b.num(itemType, it);
    } else b.num(e[1], e[2] as Scalar);
  }
  let off = 0;
  for (const t of spec.tensors) {
    b.str(t.name);
    b.u32(t.ne.length);
    for (const n of t.ne) b.u64(n);
    b.u32(GGML_TYPE_IDS[t.type]);
    b.u64(off);
    off += Math.ceil(t.bytes.length / alignment) * alignment;
  }
  b.pad(alignment);
  for (const t of spec.tensors) {
    b.push(t.bytes);
    b.pad(alignment);
  }
  return b.done();
}

// ---- Hugging Face fixture → GGUF, as convert_hf_to_gguf.py does it ------------------------

export interface ConvertOptions {
  /** Type of the stacked expert tensors (rows not divisible by the block size stay F32). */
  experts?: "F32" | "F16" | "Q8_0" | "Q4_0" | "Q4_K";
  /** Type of every other 2-D tensor except the routers (same fallback). */
  others?: "F32" | "F16" | "Q8_0" | "Q4_0" | "Q4_K";
  /** Write experts one tensor per expert (blk.N.ffn_gate.E.weight), as old Mixtral GGUFs did. */
  perExpert?: boolean;
  /** Skip LlamaModel.permute (to show that it matters). */
  noPermute?: boolean;
  /** Leave out output.weight (a tied-embedding model). */
  dropOutput?: boolean;
  /** Extra metadata. */
  extraKv?: readonly KV[];
  alignment?: number;
}

/** LlamaModel.permute: reshape(n_head, 2, D/2, ...).swapaxes(1, 2) on the rows of a [rows, cols] tensor. */
export function llamaPermute(data: Float32Array, rows: number, nHead: number): Float32Array {
  const cols = data.length / rows, D = rows / nHead, half = D / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let s = 0; s < 2; s++) {
        const to = (h * D + i * 2 + s) * cols, from = (h * D + s * half + i) * cols;
        out.set(data.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

const BLOCK: Record<string, number> = { F32: 1, F16: 1, Q8_0: 32, Q4_0: 32, Q4_K: 256 };

/** Converts test/fixtures/hf/<name> (mixtral, qwen2_moe, qwen3_moe or olmoe) to a GGUF file's bytes. */
export async function convertHfFixture(dir: string, opts: ConvertOptions = {}): Promise<Uint8Array> {
  const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, any>;
  const modelType = cfg.model_type as string;
  const arch = ({ mixtral: "llama", qwen2_moe: "qwen2moe", qwen3_moe: "qwen3moe", olmoe: "olmoe" } as Record<string, string>)[modelType];
  if (!arch) throw new Error(`convertHfFixture: no GGUF architecture for ${modelType}`);
  const nHead = cfg.num_attention_heads as number, nKv = (cfg.num_key_value_heads ?? nHead) as number;
  const nExperts = (cfg.num_local_experts ?? cfg.num_experts) as number;
  const theta = (cfg.rope_parameters?.rope_theta ?? cfg.rope_theta) as number;
  const kv: KV[] = [
    ["general.architecture", "string", arch],
    ["general.name", "string", `moec fixture ${modelType}`],
    ["general.file_type", "u32", 0],
    [`${arch}.block_count`, "u32", cfg.num_hidden_layers],
    [`${arch}.context_length`, "u32", cfg.max_position_embeddings],
    [`${arch}.embedding_length`, "u32", cfg.hidden_size],
    [`${arch}.feed_forward_length`, "u32", cfg.intermediate_size],
    [`${arch}.attention.head_count`, "u32", nHead],
    [`${arch}.attention.head_count_kv`, "u32", nKv],
    [`${arch}.rope.freq_base`, "f32", theta],
    [`${arch}.attention.layer_norm_rms_epsilon`, "f32", arch === "olmoe" ? 1e-5 : cfg.rms_norm_eps],
    [`${arch}.expert_count`, "u32", nExperts],
    [`${arch}.expert_used_count`, "u32", cfg.num_experts_per_tok],
  ];
  if (arch === "llama") kv.push(["llama.vocab_size", "u32", cfg.vocab_size], ["llama.rope.dimension_count", "u32", cfg.hidden_size / nHead]);
  const rp = cfg.rope_parameters as Record<string, any> | undefined;
  if (rp?.rope_type === "yarn") {
    // TextModel.set_gguf_parameters also writes yarn_attn_factor / beta_fast / beta_slow when the
    // config gives them; the fixture gives none.
    kv.push([`${arch}.rope.scaling.type`, "string", "yarn"], [`${arch}.rope.scaling.factor`, "f32", rp.factor], [`${arch}.rope.scaling.original_context_length`, "u32", rp.original_max_position_embeddings]);
  }
  if (cfg.head_dim) kv.push([`${arch}.attention.key_length`, "u32", cfg.head_dim], [`${arch}.attention.value_length`, "u32", cfg.head_dim]);
  if (arch === "qwen3moe") kv.push(["qwen3moe.expert_feed_forward_length", "u32", cfg.moe_intermediate_size]);
  if (arch === "qwen2moe") {
    kv.push(["qwen2moe.expert_feed_forward_length", "u32", cfg.moe_intermediate_size]);
    kv.push(["qwen2moe.expert_shared_feed_forward_length", "u32", cfg.shared_expert_intermediate_size]);
  }
  // A placeholder vocabulary, unless extraKv brings a real one (test/helpers/gguf-vocab.ts).
  if (!opts.extraKv?.some((e) => e[0] === "tokenizer.ggml.tokens")) {
    kv.push(["tokenizer.ggml.model", "string", "gpt2"]);
    kv.push(["tokenizer.ggml.tokens", "array", Array.from({ length: cfg.vocab_size as number }, (_, i) => `<t${i}>`), "string"]);
    kv.push(["tokenizer.ggml.token_type", "array", Array.from({ length: cfg.vocab_size as number }, () => 1), "i32"]);
  }
  kv.push(...(opts.extraKv ?? []));

  const ck = await openCheckpoint(dir);
  const hf = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const n of ck.names()) hf.set(n, { shape: ck.info(n).shape, data: await ck.readF32(n) });
  await ck.close();

  const tensors: WriterTensor[] = [];
  const emit = (name: string, shape: readonly number[], data: Float32Array, role: "router" | "expert" | "other") => {
    const ne = [...shape].reverse();
    let type: "F32" | "F16" | "Q8_0" | "Q4_0" | "Q4_K" = "F32";
    if (ne.length >= 2 && role !== "router") type = (role === "expert" ? opts.experts : opts.others) ?? "F32";
    if (ne[0]! % BLOCK[type]! !== 0) type = "F32";
    tensors.push({ name, ne, type, bytes: encode(type, data) });
  };
  const GLOBAL: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  const LAYER: Record<string, string> = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight", "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias", "self_attn.o_proj.bias": "attn_output.bias",
    "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
    "block_sparse_moe.gate.weight": "ffn_gate_inp.weight", "mlp.gate.weight": "ffn_gate_inp.weight",
    "mlp.shared_expert.gate_proj.weight": "ffn_gate_shexp.weight", "mlp.shared_expert.up_proj.weight": "ffn_up_shexp.weight",
    "mlp.shared_expert.down_proj.weight": "ffn_down_shexp.weight", "mlp.shared_expert_gate.weight": "ffn_gate_inp_shexp.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
  };
  const EXPERT: Record<string, string> = { w1: "gate", w3: "up", w2: "down", gate_proj: "gate", up_proj: "up", down_proj: "down" };
  const layers = cfg.num_hidden_layers as number;
  for (const [name, t] of hf) {
    if (GLOBAL[name]) {
      if (!(opts.dropOutput && name === "lm_head.weight")) emit(GLOBAL[name]!, t.shape, t.data, "other");
      continue;
    }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
    if (!m) throw new Error(`convertHfFixture: unexpected tensor ${name}`);
    const rest = m[2]!;
    if (/\.experts\.\d+\./.test(rest)) continue; // stacked below
    const g = LAYER[rest];
    if (!g) throw new Error(`convertHfFixture: no GGUF name for ${name}`);
    let data = t.data;
    if (arch === "llama" && !opts.noPermute && /^self_attn\.(q|k)_proj\./.test(rest)) {
      data = llamaPermute(data, t.shape[0]!, rest.startsWith("self_attn.q") ? nHead : nKv);
    }
    emit(`blk.${m[1]}.${g}`, t.shape, data, g === "ffn_gate_inp.weight" || g === "ffn_gate_inp_shexp.weight" ? "router" : "other");
  }
  for (let l = 0; l < layers; l++) {
    const prefix = arch === "llama" ? `model.layers.${l}.block_sparse_moe.experts` : `model.layers.${l}.mlp.experts`;
    const names = arch === "llama" ? ["w1", "w3", "w2"] : ["gate_proj", "up_proj", "down_proj"];
    if (!hf.has(`${prefix}.0.${names[0]}.weight`)) continue; // a dense layer
    for (const w of names) {
      const parts = Array.from({ length: nExperts }, (_, e) => hf.get(`${prefix}.${e}.${w}.weight`)!);
      if (opts.perExpert) {
        parts.forEach((p, e) => emit(`blk.${l}.ffn_${EXPERT[w]}.${e}.weight`, p.shape, p.data, "expert"));
        continue;
      }
      const stacked = new Float32Array(parts.reduce((a, p) => a + p.data.length, 0));
      parts.reduce((o, p) => (stacked.set(p.data, o), o + p.data.length), 0);
      emit(`blk.${l}.ffn_${EXPERT[w]}_exps.weight`, [nExperts, ...parts[0]!.shape], stacked, "expert");
    }
  }
  return writeGguf({ kv, tensors, alignment: opts.alignment });
}
