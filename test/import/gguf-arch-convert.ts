// llama.cpp's convert_hf_to_gguf.py, redone here for three Hugging Face fixtures (GptOssModel, Ernie4_5MoeModel,
// HunYuanMoEModel): their names, shapes, metadata and transforms, written independently of moec's importer so the
// tests can check it (gguf-arch.test.ts against transformers, gguf-arch-llama.test.ts against llama.cpp).
//  - GptOssModel: gate_up_proj transposed and split by rows ::2 / 1::2 into ffn_gate_exps / ffn_up_exps (or, with
//    --fuse-gate-up-exps, concatenated as ffn_gate_up_exps), down_proj transposed, sinks → attn_sinks.weight,
//    router → ffn_gate_inp (with bias), post_attention_layernorm → post_attention_norm; YaRN keys from rope_parameters.
//  - Ernie4_5MoeModel: experts stacked, moe_statics.e_score_correction_bias → exp_probs_b.bias ([1, E] as ne [E, 1]),
//    shared_experts → ffn_*_shexp (with biases: the fixture has use_bias), lm_head.bias → output.bias, and its
//    expert_shared_feed_forward_length = intermediate_size // num_key_value_heads (which the importer must not trust).
//  - HunYuanMoEModel: experts stacked, gate.wg → ffn_gate_inp, shared_mlp → ffn_*_shexp, query/key_layernorm →
//    attn_q_norm / attn_k_norm; NTK-alpha RoPE written as rope.freq_base = theta · alpha^(d/(d−2)) with scaling
//    "none", and context_length 256K. (The converter asserts head dim 128 for that branch, which the fixture's 16
//    fails; the formula is the same, so it is applied here without the assertion.)
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import * as path from "node:path";
import { openCheckpoint } from "../../runtime/weights/safetensors.js";
import { fixture } from "../helpers/compile.js";
import { type KV, type WriterTensor, encode, writeGguf } from "../helpers/gguf-writer.js";

export const HF = fixture("hf");
export type Cfg = Record<string, any>;
export type T = { shape: number[]; data: Float32Array };
export const configOf = (name: string): Cfg => JSON.parse(readFileSync(path.join(HF, name, "config.json"), "utf8")) as Cfg;

export async function tensorsOf(name: string): Promise<Map<string, T>> {
  const ck = await openCheckpoint(path.join(HF, name));
  const out = new Map<string, T>();
  try {
    for (const n of ck.names()) out.set(n, { shape: ck.info(n).shape, data: await ck.readF32(n) });
  } finally {
    await ck.close();
  }
  return out;
}

export interface Options {
  /** The folder the file is written to. */
  dir: string;
  /** A placeholder vocabulary (as bench/gguf_models.py writes one), which llama.cpp needs to load the file. */
  vocab?: boolean;
  drop?: readonly string[];
  extraKv?: readonly KV[];
  dropTensors?: RegExp;
  extraTensors?: [string, readonly number[], Float32Array][];
  /** Store the stacked experts (blk.N.ffn_*_exps.weight) in Q8_0, as llama-quantize would; the rest stays F32. */
  q8Experts?: boolean;
  /** gpt-oss: --fuse-gate-up-exps. */
  fuse?: boolean;
}

/** Writes the GGUF: metadata (with `drop` left out and `extraKv` added) and tensors given in HF shapes. */
export async function write(name: string, kv: KV[], tensors: [string, readonly number[], Float32Array][], o: Options): Promise<string> {
  kv = kv.filter((e) => !(o.drop ?? []).includes(e[0]));
  kv.push(...(o.extraKv ?? []));
  const ts: WriterTensor[] = [...tensors, ...(o.extraTensors ?? [])].filter(([n]) => !o.dropTensors?.test(n)).map(([n, shape, data]) => {
    const type = o.q8Experts && /_exps\.weight$/.test(n) && shape.at(-1)! % 32 === 0 ? "Q8_0" : "F32";
    return { name: n, ne: [...shape].reverse(), type, bytes: encode(type, data) };
  });
  if (o.vocab) {
    const n = (kv.find((e) => e[0].endsWith(".vocab_size"))?.[2] as number | undefined) ?? vocabOf(name);
    kv.push(["tokenizer.ggml.model", "string", "gpt2"], ["tokenizer.ggml.pre", "string", "default"]);
    kv.push(["tokenizer.ggml.tokens", "array", Array.from({ length: n }, (_, i) => `<t${i}>`), "string"]);
    kv.push(["tokenizer.ggml.token_type", "array", Array.from({ length: n }, () => 1), "i32"]);
    kv.push(["tokenizer.ggml.merges", "array", ["<t0> <t1>"], "string"]); // llama.cpp wants the key
  }
  const file = path.join(o.dir, `${name}-${Math.random().toString(36).slice(2)}.gguf`);
  await writeFile(file, writeGguf({ kv, tensors: ts }));
  return file;
}

/** TextModel.set_gguf_parameters' keys for this config. */
export function textModelKv(arch: string, cfg: Cfg, over: Cfg = {}): KV[] {
  const c = { ...cfg, ...over };
  const kv: KV[] = [
    ["general.architecture", "string", arch], ["general.file_type", "u32", 0],
    [`${arch}.block_count`, "u32", c.num_hidden_layers], [`${arch}.context_length`, "u32", c.max_position_embeddings],
    [`${arch}.embedding_length`, "u32", c.hidden_size], [`${arch}.feed_forward_length`, "u32", c.intermediate_size],
    [`${arch}.attention.head_count`, "u32", c.num_attention_heads], [`${arch}.attention.head_count_kv`, "u32", c.num_key_value_heads],
  ];
  const rp = c.rope_parameters as Cfg;
  if (rp.rope_type === "yarn") {
    kv.push([`${arch}.rope.scaling.type`, "string", "yarn"], [`${arch}.rope.scaling.factor`, "f32", rp.factor], [`${arch}.rope.scaling.original_context_length`, "u32", rp.original_max_position_embeddings]);
    if (rp.beta_fast !== undefined) kv.push([`${arch}.rope.scaling.yarn_beta_fast`, "f32", rp.beta_fast]);
    if (rp.beta_slow !== undefined) kv.push([`${arch}.rope.scaling.yarn_beta_slow`, "f32", rp.beta_slow]);
  }
  kv.push([`${arch}.rope.freq_base`, "f32", rp.rope_theta], [`${arch}.attention.layer_norm_rms_epsilon`, "f32", c.rms_norm_eps]);
  const experts = c.num_local_experts ?? c.num_experts ?? c.n_routed_experts;
  if (experts !== undefined) kv.push([`${arch}.expert_count`, "u32", experts]);
  const used = c.num_experts_per_tok;
  if (used !== undefined) kv.push([`${arch}.expert_used_count`, "u32", used]);
  if (c.head_dim !== undefined) kv.push([`${arch}.attention.key_length`, "u32", c.head_dim], [`${arch}.attention.value_length`, "u32", c.head_dim]);
  return kv;
}

/** [.., A, B] → [.., B, A] per leading matrix. */
function transpose(x: Float32Array, batch: number, a: number, b: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let n = 0; n < batch; n++) for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[n * a * b + j * a + i] = x[n * a * b + i * b + j]!;
  return out;
}
/** Rows (second-to-last dim, `rows` of `cols`) start, start+2, ... of each of `batch` matrices. */
function everyOtherRow(x: Float32Array, batch: number, rows: number, cols: number, start: 0 | 1): Float32Array {
  const out = new Float32Array(x.length / 2);
  for (let n = 0; n < batch; n++) for (let r = start, o = 0; r < rows; r += 2, o++) out.set(x.subarray((n * rows + r) * cols, (n * rows + r + 1) * cols), (n * rows / 2 + o) * cols);
  return out;
}
/** Per leading matrix, `a` rows then `b` rows. */
function catRows(a: Float32Array, b: Float32Array, batch: number): Float32Array {
  const out = new Float32Array(a.length + b.length);
  const sa = a.length / batch, sb = b.length / batch;
  for (let n = 0; n < batch; n++) { out.set(a.subarray(n * sa, (n + 1) * sa), n * (sa + sb)); out.set(b.subarray(n * sb, (n + 1) * sb), n * (sa + sb) + sa); }
  return out;
}

/** test/fixtures/hf/gpt_oss as GptOssModel writes it (unquantised experts: the transposing path), F32. */
export async function convertGptOss(name: string, o: Options): Promise<string> {
  const cfg = configOf(name);
  const a = "gpt-oss";
  const kv = textModelKv(a, cfg);
  kv.push([`${a}.attention.sliding_window`, "u32", cfg.sliding_window], [`${a}.expert_feed_forward_length`, "u32", cfg.intermediate_size]);
  const hf = await tensorsOf(name);
  const E = cfg.num_local_experts as number, I = cfg.intermediate_size as number, H = cfg.hidden_size as number;
  const out: [string, readonly number[], Float32Array][] = [];
  const LAYER: Record<string, string> = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "post_attention_norm.weight",
    "self_attn.sinks": "attn_sinks.weight", "mlp.router.weight": "ffn_gate_inp.weight", "mlp.router.bias": "ffn_gate_inp.bias",
    "mlp.experts.down_proj_bias": "ffn_down_exps.bias",
    ...Object.fromEntries(["q", "k", "v", "o"].flatMap((p) => ["weight", "bias"].map((w) => [`self_attn.${p}_proj.${w}`, `attn_${p === "o" ? "output" : p}.${w}`]))),
  };
  for (const [n, t] of hf) {
    const G: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
    if (G[n]) { out.push([G[n]!, t.shape, t.data]); continue; }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n)!;
    const b = `blk.${m[1]}`, rest = m[2]!;
    if (rest === "mlp.experts.down_proj") out.push([`${b}.ffn_down_exps.weight`, [E, H, I], transpose(t.data, E, I, H)]);
    else if (rest === "mlp.experts.gate_up_proj") {
      const tt = transpose(t.data, E, H, 2 * I); // [E, 2I, H]
      const gate = everyOtherRow(tt, E, 2 * I, H, 0), up = everyOtherRow(tt, E, 2 * I, H, 1);
      if (o.fuse) out.push([`${b}.ffn_gate_up_exps.weight`, [E, 2 * I, H], catRows(gate, up, E)]);
      else out.push([`${b}.ffn_gate_exps.weight`, [E, I, H], gate], [`${b}.ffn_up_exps.weight`, [E, I, H], up]);
    } else if (rest === "mlp.experts.gate_up_proj_bias") {
      const gate = everyOtherRow(t.data, E, 2 * I, 1, 0), up = everyOtherRow(t.data, E, 2 * I, 1, 1);
      if (o.fuse) out.push([`${b}.ffn_gate_up_exps.bias`, [E, 2 * I], catRows(gate, up, E)]);
      else out.push([`${b}.ffn_gate_exps.bias`, [E, I], gate], [`${b}.ffn_up_exps.bias`, [E, I], up]);
    } else out.push([`${b}.${LAYER[rest] ?? (() => { throw new Error(`no GGUF name for ${n}`); })()}`, t.shape, t.data]);
  }
  return write(name, kv, out, o);
}

/** Stacks `${prefix}.${e}.${w}.weight` of every layer that has them as blk.N.ffn_<gguf>_exps.weight. */
export function stackExperts(hf: Map<string, T>, layers: number, experts: number, prefix: string, out: [string, readonly number[], Float32Array][]) {
  for (let l = 0; l < layers; l++) {
    for (const w of ["gate", "up", "down"]) {
      const parts = Array.from({ length: experts }, (_, e) => hf.get(`model.layers.${l}.${prefix}.${e}.${w}_proj.weight`));
      if (!parts[0]) continue;
      const stacked = new Float32Array(parts.reduce((s, p) => s + p!.data.length, 0));
      parts.reduce((off, p) => (stacked.set(p!.data, off), off + p!.data.length), 0);
      out.push([`blk.${l}.ffn_${w}_exps.weight`, [experts, ...parts[0].shape], stacked]);
    }
  }
}

/** Renames every non-expert tensor through `layer` (the name after model.layers.N.). */
function renamed(hf: Map<string, T>, layer: Record<string, string>): [string, readonly number[], Float32Array][] {
  const G: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight", "lm_head.bias": "output.bias" };
  const out: [string, readonly number[], Float32Array][] = [];
  for (const [n, t] of hf) {
    if (G[n]) { out.push([G[n]!, t.shape, t.data]); continue; }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n)!;
    if (/\.experts\.\d+\./.test(m[2]!)) continue;
    out.push([`blk.${m[1]}.${layer[m[2]!] ?? (() => { throw new Error(`no GGUF name for ${n}`); })()}`, t.shape, t.data]);
  }
  return out;
}
const ATTN_NAMES = Object.fromEntries(["q", "k", "v", "o"].flatMap((p) => ["weight", "bias"].map((w) => [`self_attn.${p}_proj.${w}`, `attn_${p === "o" ? "output" : p}.${w}`])));
const SWIGLU_NAMES = (from: string, to: string) => Object.fromEntries(["gate", "up", "down"].flatMap((p) => ["weight", "bias"].map((w) => [`${from}.${p}_proj.${w}`, `ffn_${p}${to}.${w}`])));

/** test/fixtures/hf/ernie4_5_moe as Ernie4_5MoeModel writes it, F32. */
export async function convertErnie(name: string, o: Options): Promise<string> {
  const cfg = configOf(name);
  const a = "ernie4_5-moe";
  const kv = textModelKv(a, cfg);
  kv.push(
    [`${a}.expert_count`, "u32", cfg.moe_num_experts], [`${a}.expert_used_count`, "u32", cfg.moe_k],
    [`${a}.interleave_moe_layer_step`, "u32", cfg.moe_layer_interval], [`${a}.leading_dense_block_count`, "u32", cfg.moe_layer_start_index],
    [`${a}.expert_feed_forward_length`, "u32", cfg.moe_intermediate_size], [`${a}.expert_shared_count`, "u32", cfg.moe_num_shared_experts],
    [`${a}.expert_shared_feed_forward_length`, "u32", Math.floor(cfg.intermediate_size / cfg.num_key_value_heads)],
  );
  const hf = await tensorsOf(name);
  const out = renamed(hf, {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight", ...ATTN_NAMES,
    "mlp.gate.weight": "ffn_gate_inp.weight", "mlp.moe_statics.e_score_correction_bias": "exp_probs_b.bias",
    ...SWIGLU_NAMES("mlp.shared_experts", "_shexp"), ...SWIGLU_NAMES("mlp", ""),
  });
  stackExperts(hf, cfg.num_hidden_layers, cfg.moe_num_experts, "mlp.experts", out);
  return write(name, kv, out, o);
}

/** NTK-alpha RoPE as HunYuanMoEModel writes it: the scaled base (float32 in the file). */
export const hunyuanBase = (cfg: Cfg) => {
  const rp = cfg.rope_parameters as Cfg, dim = cfg.hidden_size / cfg.num_attention_heads;
  return rp.rope_theta * rp.alpha ** (dim / (dim - 2));
};

/** test/fixtures/hf/hunyuan_v1_moe as HunYuanMoEModel writes it, F32. */
export async function convertHunyuan(name: string, o: Options): Promise<string> {
  const cfg = configOf(name);
  const a = "hunyuan-moe";
  const kv = textModelKv(a, cfg, { max_position_embeddings: 256 * 1024 });
  const set = (key: string, type: "u32" | "f32", v: number) => {
    const i = kv.findIndex((e) => e[0] === key);
    if (i >= 0) kv.splice(i, 1);
    kv.push([key, type, v]);
  };
  set(`${a}.expert_used_count`, "u32", cfg.moe_topk);
  set(`${a}.expert_shared_feed_forward_length`, "u32", cfg.intermediate_size);
  set(`${a}.expert_feed_forward_length`, "u32", cfg.moe_intermediate_size ?? cfg.intermediate_size); // transformers: the experts are intermediate_size wide
  set(`${a}.expert_shared_count`, "u32", cfg.num_shared_expert ?? 1);
  set(`${a}.rope.freq_base`, "f32", hunyuanBase(cfg));
  kv.push([`${a}.rope.scaling.type`, "string", "none"], [`${a}.rope.scaling.factor`, "f32", 1], [`${a}.rope.scaling.original_context_length`, "u32", 256 * 1024]);
  const hf = await tensorsOf(name);
  const out = renamed(hf, {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight", ...ATTN_NAMES,
    "self_attn.query_layernorm.weight": "attn_q_norm.weight", "self_attn.key_layernorm.weight": "attn_k_norm.weight",
    "mlp.gate.wg.weight": "ffn_gate_inp.weight", ...SWIGLU_NAMES("mlp.shared_mlp", "_shexp"),
  });
  stackExperts(hf, cfg.num_hidden_layers, cfg.num_experts, "mlp.experts", out);
  return write(name, kv, out, o);
}

const vocabOf = (name: string): number => configOf(name).vocab_size as number;

/** test/fixtures/hf/llama4 as Llama4Model (a LlamaModel with undo_permute = False) writes it, F32. */
export async function convertLlama4(name: string, o: Options & { llama3?: Cfg }): Promise<string> {
  const cfg = configOf(name);
  const a = "llama4";
  // Llama4Model.__init__: intermediate_size (the experts') becomes intermediate_size_moe, intermediate_size_mlp the
  // feed_forward_length
  const kv = textModelKv(a, cfg, { intermediate_size: cfg.intermediate_size_mlp });
  kv.push(
    ["llama4.vocab_size", "u32", cfg.vocab_size], ["llama4.rope.dimension_count", "u32", cfg.head_dim],
    [`${a}.interleave_moe_layer_step`, "u32", cfg.interleave_moe_layer_step], [`${a}.expert_feed_forward_length`, "u32", cfg.intermediate_size],
  );
  const hf = await tensorsOf(name);
  const E = cfg.num_local_experts as number, I = cfg.intermediate_size as number, H = cfg.hidden_size as number;
  const out = renamed(new Map([...hf].filter(([n]) => !/\.experts\.(gate_up|down)_proj$/.test(n))), {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight", ...ATTN_NAMES,
    "feed_forward.router.weight": "ffn_gate_inp.weight", ...SWIGLU_NAMES("feed_forward.shared_expert", "_shexp"), ...SWIGLU_NAMES("feed_forward", ""),
  });
  for (const [n, t] of hf) {
    const m = /^model\.layers\.(\d+)\.feed_forward\.experts\.(gate_up|down)_proj$/.exec(n);
    if (!m) continue;
    if (m[2] === "down") out.push([`blk.${m[1]}.ffn_down_exps.weight`, [E, H, I], transpose(t.data, E, I, H)]);
    else {
      // data_torch.transpose(-1, -2).split(dim_half, dim=-2): the first I rows are the gate
      const tt = transpose(t.data, E, H, 2 * I);
      const gate = new Float32Array(tt.length / 2), up = new Float32Array(tt.length / 2);
      for (let e = 0; e < E; e++) {
        gate.set(tt.subarray(2 * e * I * H, (2 * e + 1) * I * H), e * I * H);
        up.set(tt.subarray((2 * e + 1) * I * H, (2 * e + 2) * I * H), e * I * H);
      }
      out.push([`blk.${m[1]}.ffn_gate_exps.weight`, [E, I, H], gate], [`blk.${m[1]}.ffn_up_exps.weight`, [E, I, H], up]);
    }
  }
  if (o.llama3) out.push(["rope_freqs.weight", [cfg.head_dim / 2], ropeFactors(o.llama3, (cfg.rope_parameters as Cfg).rope_theta, cfg.head_dim)]);
  return write(name, kv, out, o);
}

/** LlamaModel.generate_extra_tensors: rope_freqs for rope_type "llama3" (torch float32 freqs, as it computes them). */
function ropeFactors(p: Cfg, base: number, dim: number): Float32Array {
  const f = Math.fround;
  const lowWavelen = p.original_max_position_embeddings / p.low_freq_factor, highWavelen = p.original_max_position_embeddings / p.high_freq_factor;
  return Float32Array.from({ length: dim / 2 }, (_, i) => {
    const freq = f(1 / f(f(base) ** f((2 * i) / dim)));
    const wavelen = f((2 * Math.PI) / freq);
    if (wavelen < highWavelen) return 1;
    if (wavelen > lowWavelen) return p.factor;
    const smooth = (p.original_max_position_embeddings / wavelen - p.low_freq_factor) / (p.high_freq_factor - p.low_freq_factor);
    return 1 / ((1 - smooth) / p.factor + smooth);
  });
}

/** test/fixtures/hf/dbrx as DbrxModel writes it (its own set_gguf_parameters, not TextModel's), F32. */
export async function convertDbrx(name: string, o: Options): Promise<string> {
  const cfg = configOf(name);
  const a = "dbrx", ac = cfg.attn_config as Cfg, fc = cfg.ffn_config as Cfg;
  const kv: KV[] = [
    ["general.architecture", "string", a], ["general.file_type", "u32", 0],
    [`${a}.block_count`, "u32", cfg.n_layers], [`${a}.context_length`, "u32", cfg.max_seq_len], [`${a}.embedding_length`, "u32", cfg.d_model],
    [`${a}.feed_forward_length`, "u32", fc.ffn_hidden_size], [`${a}.attention.head_count`, "u32", cfg.n_heads], [`${a}.attention.head_count_kv`, "u32", ac.kv_n_heads],
    [`${a}.rope.freq_base`, "f32", ac.rope_theta], [`${a}.attention.clamp_kqv`, "f32", ac.clip_qkv],
    [`${a}.expert_count`, "u32", fc.moe_num_experts], [`${a}.expert_used_count`, "u32", fc.moe_top_k], [`${a}.attention.layer_norm_epsilon`, "f32", 1e-5],
  ];
  const hf = await tensorsOf(name);
  const E = fc.moe_num_experts as number, F = fc.ffn_hidden_size as number, H = cfg.d_model as number;
  const G: Record<string, string> = { "transformer.wte.weight": "token_embd.weight", "transformer.norm_f.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  const L: Record<string, string> = {
    "norm_attn_norm.norm_1.weight": "attn_norm.weight", "norm_attn_norm.attn.Wqkv.weight": "attn_qkv.weight", "norm_attn_norm.attn.out_proj.weight": "attn_output.weight",
    "norm_attn_norm.norm_2.weight": "attn_output_norm.weight", "ffn.router.layer.weight": "ffn_gate_inp.weight",
  };
  const out: [string, readonly number[], Float32Array][] = [];
  for (const [n, t] of hf) {
    if (G[n]) { out.push([G[n]!, t.shape, t.data]); continue; }
    const m = /^transformer\.blocks\.(\d+)\.(.+)$/.exec(n)!;
    const b = `blk.${m[1]}`;
    // data_torch.view(n_expert, n_ff, n_embd), w2 then .permute(0, 2, 1)
    if (m[2] === "ffn.experts.mlp.w1") out.push([`${b}.ffn_gate_exps.weight`, [E, F, H], t.data]);
    else if (m[2] === "ffn.experts.mlp.v1") out.push([`${b}.ffn_up_exps.weight`, [E, F, H], t.data]);
    else if (m[2] === "ffn.experts.mlp.w2") out.push([`${b}.ffn_down_exps.weight`, [E, H, F], transpose(t.data, E, F, H)]);
    else out.push([`${b}.${L[m[2]!] ?? (() => { throw new Error(`no GGUF name for ${n}`); })()}`, t.shape, t.data]);
  }
  return write(name, kv, out, o);
}

/** test/fixtures/hf/exaone_moe as ExaoneMoEModel (an Exaone4Model) writes it, F32; `mtp` appends that many
 * multi-token-prediction blocks (a norm and eh_proj stand in for the rest: the importer must leave them out). */
export async function convertExaoneMoe(name: string, o: Options & { mtp?: number }): Promise<string> {
  const cfg = configOf(name);
  const a = "exaone-moe";
  const mtp = o.mtp ?? 0;
  const kv = textModelKv(a, cfg, { num_hidden_layers: cfg.num_hidden_layers + mtp });
  kv.push(
    [`${a}.expert_group_count`, "u32", cfg.n_group], [`${a}.expert_group_used_count`, "u32", cfg.topk_group],
    [`${a}.vocab_size`, "u32", cfg.vocab_size], [`${a}.attention.sliding_window`, "u32", cfg.sliding_window],
    [`${a}.attention.sliding_window_pattern`, "array", (cfg.layer_types as string[]).map((t) => t === "sliding_attention"), "bool"],
    [`${a}.expert_feed_forward_length`, "u32", cfg.moe_intermediate_size], [`${a}.expert_shared_count`, "u32", cfg.num_shared_experts],
    [`${a}.expert_shared_feed_forward_length`, "u32", cfg.moe_intermediate_size * cfg.num_shared_experts],
    [`${a}.expert_weights_scale`, "f32", cfg.routed_scaling_factor], [`${a}.expert_weights_norm`, "bool", cfg.norm_topk_prob],
    [`${a}.leading_dense_block_count`, "u32", cfg.first_k_dense_replace], [`${a}.nextn_predict_layers`, "u32", mtp],
    [`${a}.rope.scaling.type`, "string", "none"],
  );
  const hf = await tensorsOf(name);
  const out = renamed(hf, {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight", ...ATTN_NAMES,
    "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
    "mlp.gate.weight": "ffn_gate_inp.weight", "mlp.e_score_correction_bias": "exp_probs_b.bias",
    ...SWIGLU_NAMES("mlp.shared_experts", "_shexp"), ...SWIGLU_NAMES("mlp", ""),
  });
  stackExperts(hf, cfg.num_hidden_layers, cfg.num_experts, "mlp.experts", out);
  const H = cfg.hidden_size as number;
  for (let l = cfg.num_hidden_layers as number; l < cfg.num_hidden_layers + mtp; l++) {
    out.push([`blk.${l}.attn_norm.weight`, [H], new Float32Array(H).fill(1)], [`blk.${l}.nextn.eh_proj.weight`, [H, 2 * H], new Float32Array(2 * H * H)]);
  }
  return write(name, kv, out, o);
}

/**
 * test/fixtures/hf/qwen3_next as Qwen3NextModel (a Qwen2MoeModel) writes it, F32. The fixture's dense layer
 * (mlp_only_layers) has names llama.cpp's qwen3next lacks (its converter cannot map mlp.gate_proj); they are written
 * as ffn_gate / ffn_up / ffn_down, what the tensor map gives other architectures. With `allMoe`, the dense layer is
 * replaced by a copy of the next MoE layer's mixture, a file llama.cpp can load (a model transformers did not run).
 */
export async function convertQwen3Next(name: string, o: Options & { allMoe?: boolean; vDim?: { dim: number; seed: number } }): Promise<string> {
  const cfg = o.vDim ? { ...configOf(name), linear_value_head_dim: o.vDim.dim } : configOf(name);
  const a = "qwen3next";
  const kv = textModelKv(a, cfg);
  kv.push(
    [`${a}.expert_feed_forward_length`, "u32", cfg.moe_intermediate_size], [`${a}.expert_shared_feed_forward_length`, "u32", cfg.shared_expert_intermediate_size],
    [`${a}.ssm.conv_kernel`, "u32", cfg.linear_conv_kernel_dim], [`${a}.ssm.state_size`, "u32", cfg.linear_key_head_dim],
    [`${a}.ssm.group_count`, "u32", cfg.linear_num_key_heads], [`${a}.ssm.time_step_rank`, "u32", cfg.linear_num_value_heads],
    [`${a}.ssm.inner_size`, "u32", cfg.linear_value_head_dim * cfg.linear_num_value_heads],
    [`${a}.full_attention_interval`, "u32", cfg.full_attention_interval ?? 4],
    [`${a}.rope.dimension_count`, "u32", Math.trunc((cfg.head_dim ?? cfg.hidden_size / cfg.num_attention_heads) * (cfg.partial_rotary_factor ?? 0.25))],
  );
  let hf = await tensorsOf(name);
  // another value head dim: the gated DeltaNet tensors whose shapes depend on it are drawn afresh (seeded)
  if (o.vDim) hf = redrawLinearAttention(hf, cfg, o.vDim.seed);
  if (o.allMoe) {
    const L = cfg.num_hidden_layers as number;
    const dense = (cfg.mlp_only_layers as number[]);
    const copy = new Map(hf);
    for (const l of dense) {
      const from = Array.from({ length: L }, (_, i) => i).find((i) => i > l && !dense.includes(i)) ?? Array.from({ length: L }, (_, i) => i).find((i) => !dense.includes(i))!;
      for (const n of [...copy.keys()]) if (n.startsWith(`model.layers.${l}.mlp.`)) copy.delete(n);
      for (const [n, t] of hf) if (n.startsWith(`model.layers.${from}.mlp.`)) copy.set(n.replace(`model.layers.${from}.`, `model.layers.${l}.`), t);
    }
    hf = copy;
  }
  const nk = cfg.linear_num_key_heads as number, nv = cfg.linear_num_value_heads as number, dk = cfg.linear_key_head_dim as number, dv = cfg.linear_value_head_dim as number;
  const H = cfg.hidden_size as number, r = nv / nk;
  const out: [string, readonly number[], Float32Array][] = [];
  const plusOne = (x: Float32Array) => x.map((v) => v + 1);
  const G: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  const L: Record<string, string> = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "post_attention_norm.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
    ...Object.fromEntries(["q", "k", "v", "o"].map((p) => [`self_attn.${p}_proj.weight`, `attn_${p === "o" ? "output" : p}.weight`])),
    "linear_attn.A_log": "ssm_a", "linear_attn.conv1d.weight": "ssm_conv1d.weight", "linear_attn.dt_bias": "ssm_dt.bias",
    "linear_attn.in_proj_ba.weight": "ssm_ba.weight", "linear_attn.norm.weight": "ssm_norm.weight", "linear_attn.out_proj.weight": "ssm_out.weight",
    "mlp.gate.weight": "ffn_gate_inp.weight", "mlp.shared_expert_gate.weight": "ffn_gate_inp_shexp.weight",
    ...Object.fromEntries(["gate", "up", "down"].flatMap((p) => [[`mlp.shared_expert.${p}_proj.weight`, `ffn_${p}_shexp.weight`], [`mlp.${p}_proj.weight`, `ffn_${p}.weight`]])),
  };
  for (const [n, t] of hf) {
    // every norm.weight but linear_attn.norm's is written as 1 + w
    const data = n.endsWith("norm.weight") && !n.endsWith("linear_attn.norm.weight") ? plusOne(t.data) : t.data;
    if (G[n]) { out.push([G[n]!, t.shape, data]); continue; }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n)!;
    const b = `blk.${m[1]}`, rest = m[2]!;
    if (/\.experts\.\d+\./.test(rest)) continue;
    if (rest === "linear_attn.A_log") out.push([`${b}.ssm_a`, t.shape, t.data.map((v) => -Math.exp(v))]);
    else if (rest === "linear_attn.conv1d.weight") out.push([`${b}.ssm_conv1d.weight`, [t.shape[0]!, t.shape[2]!], t.data]);
    else if (rest === "linear_attn.in_proj_qkvz.weight") {
      // view (H, nk, [q k v z]) of the transpose, split, flattened per part, stacked [q; k; v] and z
      const per = 2 * dk + 2 * r * dv;
      const part = (off: number, len: number) => {
        const o2 = new Float32Array(nk * len * H);
        for (let h = 0; h < nk; h++) o2.set(t.data.subarray((h * per + off) * H, (h * per + off + len) * H), h * len * H);
        return o2;
      };
      const q = part(0, dk), k = part(dk, dk), v = part(2 * dk, r * dv), z = part(2 * dk + r * dv, r * dv);
      const qkv = new Float32Array(q.length + k.length + v.length);
      qkv.set(q, 0); qkv.set(k, q.length); qkv.set(v, q.length + k.length);
      out.push([`${b}.attn_qkv.weight`, [qkv.length / H, H], qkv], [`${b}.attn_gate.weight`, [z.length / H, H], z]);
    } else out.push([`${b}.${L[rest] ?? (() => { throw new Error(`no GGUF name for ${n}`); })()}`, t.shape, data]);
  }
  stackExperts(hf, cfg.num_hidden_layers, cfg.num_experts, "mlp.experts", out);
  return write(name, kv, out, o);
}

/** A small seeded generator (mulberry32), uniform in [−1, 1). */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/**
 * The fixture's gated DeltaNet tensors redrawn for `cfg`'s head dims (conv, in_proj_qkvz, norm, out_proj).
 * in_proj_qkvz is drawn large enough that q and k have norms well above the L2 norm's epsilon: llama.cpp's and
 * transformers' (moec's: rsqrt(‖x‖² + 1e-6)) L2 norms differ there, and the difference grows as q and k shrink
 * (measured |Δ log p| against llama.cpp: up to 7.8e-4 with entries of ±0.02, 3e-5 to 1.9e-4 with ±0.15, 6e-6 to
 * 8e-5 with ±0.6; ggml_l2_norm divides by max(‖x‖, eps), we believe, which would explain it).
 */
function redrawLinearAttention(hf: Map<string, T>, cfg: Cfg, seed: number): Map<string, T> {
  const rand = uniform(seed);
  const nk = cfg.linear_num_key_heads as number, nv = cfg.linear_num_value_heads as number, dk = cfg.linear_key_head_dim as number, dv = cfg.linear_value_head_dim as number;
  const H = cfg.hidden_size as number, K = cfg.linear_conv_kernel_dim as number;
  const draw = (shape: number[], scale: number, centre = 0): T => ({ shape, data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => centre + scale * rand()) });
  const SHAPES: Record<string, [number[], number, number?]> = {
    "linear_attn.in_proj_qkvz.weight": [[nk * (2 * dk + 2 * (nv / nk) * dv), H], 0.6],
    "linear_attn.conv1d.weight": [[2 * nk * dk + nv * dv, 1, K], 0.3],
    "linear_attn.norm.weight": [[dv], 0.1, 1],
    "linear_attn.out_proj.weight": [[H, nv * dv], 0.15],
  };
  const out = new Map(hf);
  for (const n of hf.keys()) {
    const m = /^model\.layers\.\d+\.(.+)$/.exec(n);
    const s = m && SHAPES[m[1]!];
    if (s) out.set(n, draw(s[0], s[1], s[2]));
  }
  return out;
}

/** _LinearAttentionVReorderBase._reorder_v_heads along rows: grouped (h, j, i) → tiled (j, h, i), `cols` per row. */
function tileRows(x: Float32Array, nk: number, r: number, d: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let h = 0; h < nk; h++) for (let j = 0; j < r; j++) out.set(x.subarray((h * r + j) * d * cols, (h * r + j + 1) * d * cols), (j * nk + h) * d * cols);
  return out;
}

/**
 * test/fixtures/hf/qwen3_5_moe as Qwen3_5MoeTextModel writes it (its text_config merged into the hparams, the
 * vision tower skipped), F32. The fixture gives layer_types but no full_attention_interval, for which the converter
 * writes its default, 4, a file whose layers llama.cpp would misread; `interval` says what to write instead.
 */
export async function convertQwen35Moe(name: string, o: Options & { interval?: number }): Promise<string> {
  const top = configOf(name);
  const cfg = { ...top, ...(top.text_config as Cfg) };
  const a = "qwen35moe";
  const kv = textModelKv(a, cfg);
  const rp = cfg.rope_parameters as Cfg;
  kv.push(
    [`${a}.rope.dimension_sections`, "array", [...(rp.mrope_section as number[]), 0, 0, 0, 0].slice(0, 4), "i32"],
    [`${a}.expert_feed_forward_length`, "u32", cfg.moe_intermediate_size], [`${a}.expert_shared_feed_forward_length`, "u32", cfg.shared_expert_intermediate_size],
    [`${a}.ssm.conv_kernel`, "u32", cfg.linear_conv_kernel_dim], [`${a}.ssm.state_size`, "u32", cfg.linear_key_head_dim],
    [`${a}.ssm.group_count`, "u32", cfg.linear_num_key_heads], [`${a}.ssm.time_step_rank`, "u32", cfg.linear_num_value_heads],
    [`${a}.ssm.inner_size`, "u32", cfg.linear_value_head_dim * cfg.linear_num_value_heads],
    [`${a}.full_attention_interval`, "u32", o.interval ?? cfg.full_attention_interval ?? 4],
    [`${a}.rope.dimension_count`, "u32", Math.trunc(cfg.head_dim * (cfg.partial_rotary_factor ?? 0.25))],
  );
  const hf = new Map([...(await tensorsOf(name))].filter(([n]) => !n.startsWith("model.visual.")).map(([n, t]) => [n.replace("model.language_model.", "model."), t]));
  const nk = cfg.linear_num_key_heads as number, nv = cfg.linear_num_value_heads as number, dk = cfg.linear_key_head_dim as number, dv = cfg.linear_value_head_dim as number;
  const r = nv / nk, qk = 2 * nk * dk;
  const out: [string, readonly number[], Float32Array][] = [];
  const G: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  const L: Record<string, string> = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "post_attention_norm.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
    ...Object.fromEntries(["q", "k", "v", "o"].map((p) => [`self_attn.${p}_proj.weight`, `attn_${p === "o" ? "output" : p}.weight`])),
    "linear_attn.in_proj_qkv.weight": "attn_qkv.weight", "linear_attn.in_proj_z.weight": "attn_gate.weight", "linear_attn.in_proj_b.weight": "ssm_beta.weight",
    "linear_attn.in_proj_a.weight": "ssm_alpha.weight", "linear_attn.A_log": "ssm_a", "linear_attn.dt_bias": "ssm_dt.bias", "linear_attn.conv1d.weight": "ssm_conv1d.weight",
    "linear_attn.norm.weight": "ssm_norm.weight", "linear_attn.out_proj.weight": "ssm_out.weight",
    "mlp.gate.weight": "ffn_gate_inp.weight", "mlp.shared_expert_gate.weight": "ffn_gate_inp_shexp.weight",
    ...Object.fromEntries(["gate", "up", "down"].map((p) => [`mlp.shared_expert.${p}_proj.weight`, `ffn_${p}_shexp.weight`])),
  };
  for (const [n, t] of hf) {
    if (G[n]) { out.push([G[n]!, t.shape, n.endsWith("norm.weight") ? t.data.map((v) => v + 1) : t.data]); continue; }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n)!;
    const rest = m[2]!;
    if (/\.experts\.\d+\./.test(rest)) continue;
    let data = t.data, shape = t.shape;
    // _LinearAttentionVReorderBase.modify_tensors, then Qwen3NextModel.modify_tensors
    if (rest === "linear_attn.in_proj_qkv.weight" || rest === "linear_attn.conv1d.weight") {
      const cols = t.data.length / t.shape[0]!;
      data = t.data.slice();
      data.set(tileRows(t.data.subarray(qk * cols), nk, r, dv, cols), qk * cols);
    } else if (rest === "linear_attn.in_proj_z.weight") data = tileRows(t.data, nk, r, dv, t.shape[1]!);
    else if (rest === "linear_attn.in_proj_b.weight" || rest === "linear_attn.in_proj_a.weight") data = tileRows(t.data, nk, r, 1, t.shape[1]!);
    else if (rest === "linear_attn.A_log" || rest === "linear_attn.dt_bias") data = tileRows(t.data, nk, r, 1, 1);
    else if (rest === "linear_attn.out_proj.weight") {
      const rows = t.shape[0]!, n2 = t.shape[1]!;
      data = new Float32Array(t.data.length);
      for (let row = 0; row < rows; row++) data.set(tileRows(t.data.subarray(row * n2, (row + 1) * n2), nk, r, dv, 1), row * n2);
    }
    if (rest === "linear_attn.A_log") data = data.map((v) => -Math.exp(v));
    else if (rest === "linear_attn.conv1d.weight") shape = [t.shape[0]!, t.shape[2]!];
    else if (rest.endsWith("norm.weight") && rest !== "linear_attn.norm.weight") data = data.map((v) => v + 1);
    out.push([`blk.${m[1]}.${L[rest] ?? (() => { throw new Error(`no GGUF name for ${n}`); })()}`, shape, data]);
  }
  stackExperts(hf, cfg.num_hidden_layers, cfg.num_experts, "mlp.experts", out);
  return write(name, kv, out, o);
}
