// GGUF import of the new families llama.cpp converts ("glm4moe", "dots1", "granitemoe", "minimax-m2"; "deepseek2" is
// in gguf-deepseek.test.ts): the Hugging Face
// fixtures converted the way llama.cpp's convert_hf_to_gguf.py does it import to the program of the fixture's
// own config.json, bind the fixture's weights bit for bit and reproduce transformers' logits.
//  - Glm4MoeModel, Dots1Model: experts stacked per projection, e_score_correction_bias → exp_probs_b.bias,
//    shared experts → ffn_*_shexp, GLM's post_attention_layernorm → post_attention_norm, its
//    multi-token-prediction layers appended after the main model, no q/k permutation;
//  - GraniteMoeModel (a LlamaModel): input_linear split into ffn_gate_exps / ffn_up_exps (shared_mlp's into
//    ffn_gate_shexp / ffn_up_shexp), q/k rows permuted, the multipliers as attention.scale, embedding_scale,
//    residual_scale and logit_scale.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSource, printGraph } from "../../compiler/index.js";
import { ggufToHf } from "../../compiler/import/gguf.js";
import { importHfConfig } from "../../compiler/import/hf.js";
import { runPipeline } from "../../compiler/passes/pipeline.js";
import { promptLogits } from "../../compiler/run/generate.js";
import { loadGgufModel } from "../../compiler/run/gguf-load.js";
import { bindWeights } from "../../compiler/weights/bind.js";
import { openGguf } from "../../runtime/weights/gguf.js";
import { WeightFileError, openCheckpoint } from "../../runtime/weights/safetensors.js";
import { fixture } from "../helpers/compile.js";
import { relativeError } from "../helpers/fixtures.js";
import { type KV, type WriterTensor, encode, llamaPermute, writeGguf } from "../helpers/gguf-writer.js";

const HF = fixture("hf");
let dir: string;
beforeAll(async () => { dir = await mkdtemp(path.join(tmpdir(), "moec-gguf-fam-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

type Cfg = Record<string, any>;
const configOf = (name: string): Cfg => JSON.parse(readFileSync(path.join(HF, name, "config.json"), "utf8")) as Cfg;

interface Options {
  /** Extra blocks appended after the main model, as --mtp GLM GGUFs carry (glm4moe.nextn_predict_layers). */
  mtpLayers?: number;
  /** Metadata to leave out or override. */
  drop?: readonly string[];
  extraKv?: readonly KV[];
  /** Tensors to leave out. */
  dropTensors?: RegExp;
}

/** test/fixtures/hf/<name> (glm4_moe*, dots1) as convert_hf_to_gguf.py writes it, F32. */
async function convert(name: string, o: Options = {}): Promise<string> {
  const cfg = configOf(name);
  const arch = ({ glm4_moe: "glm4moe", dots1: "dots1" } as Record<string, string>)[cfg.model_type as string]!;
  const layers = cfg.num_hidden_layers as number;
  const heads = cfg.num_attention_heads as number;
  const headDim = (cfg.head_dim ?? cfg.hidden_size / heads) as number;
  const rp = cfg.rope_parameters as Cfg;
  const mtp = o.mtpLayers ?? 0;
  let kv: KV[] = [
    ["general.architecture", "string", arch],
    ["general.file_type", "u32", 0],
    [`${arch}.block_count`, "u32", layers + mtp],
    [`${arch}.context_length`, "u32", cfg.max_position_embeddings],
    [`${arch}.embedding_length`, "u32", cfg.hidden_size],
    [`${arch}.feed_forward_length`, "u32", cfg.intermediate_size],
    [`${arch}.attention.head_count`, "u32", heads],
    [`${arch}.attention.head_count_kv`, "u32", cfg.num_key_value_heads],
    [`${arch}.rope.freq_base`, "f32", rp.rope_theta],
    [`${arch}.attention.layer_norm_rms_epsilon`, "f32", cfg.rms_norm_eps],
    [`${arch}.expert_count`, "u32", cfg.n_routed_experts],
    [`${arch}.expert_used_count`, "u32", cfg.num_experts_per_tok],
    [`${arch}.expert_group_count`, "u32", cfg.n_group],
    [`${arch}.expert_group_used_count`, "u32", cfg.topk_group],
    [`${arch}.expert_feed_forward_length`, "u32", cfg.moe_intermediate_size],
    [`${arch}.expert_shared_count`, "u32", cfg.n_shared_experts],
    [`${arch}.leading_dense_block_count`, "u32", arch === "glm4moe" ? cfg.first_k_dense_replace : cfg.first_k_dense_replace],
    [`${arch}.expert_gating_func`, "u32", 2],
    [`${arch}.expert_weights_scale`, "f32", cfg.routed_scaling_factor],
    [`${arch}.expert_weights_norm`, "bool", cfg.norm_topk_prob],
  ];
  if (cfg.head_dim) kv.push([`${arch}.attention.key_length`, "u32", headDim], [`${arch}.attention.value_length`, "u32", headDim]);
  if (arch === "glm4moe") {
    kv.push([`${arch}.rope.dimension_count`, "u32", Math.trunc(headDim * (rp.partial_rotary_factor ?? 0.5))]);
    if (mtp) kv.push([`${arch}.nextn_predict_layers`, "u32", mtp]);
  }
  if (rp.rope_type === "yarn") {
    kv.push([`${arch}.rope.scaling.type`, "string", "yarn"], [`${arch}.rope.scaling.factor`, "f32", rp.factor], [`${arch}.rope.scaling.original_context_length`, "u32", rp.original_max_position_embeddings]);
  }
  kv = kv.filter((e) => !(o.drop ?? []).includes(e[0]));
  kv.push(...(o.extraKv ?? []));

  const ck = await openCheckpoint(path.join(HF, name));
  const hf = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const n of ck.names()) hf.set(n, { shape: ck.info(n).shape, data: await ck.readF32(n) });
  await ck.close();
  const tensors: WriterTensor[] = [];
  const emit = (n: string, shape: readonly number[], data: Float32Array) => {
    if (!o.dropTensors?.test(n)) tensors.push({ name: n, ne: [...shape].reverse(), type: "F32", bytes: encode("F32", data) });
  };
  const GLOBAL: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  const LAYER: Record<string, string> = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": arch === "glm4moe" ? "post_attention_norm.weight" : "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight", "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias", "self_attn.o_proj.bias": "attn_output.bias",
    "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
    "mlp.gate.weight": "ffn_gate_inp.weight", "mlp.gate.e_score_correction_bias": "exp_probs_b.bias",
    "mlp.shared_experts.gate_proj.weight": "ffn_gate_shexp.weight", "mlp.shared_experts.up_proj.weight": "ffn_up_shexp.weight",
    "mlp.shared_experts.down_proj.weight": "ffn_down_shexp.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
  };
  for (const [n, t] of hf) {
    if (GLOBAL[n]) {
      emit(GLOBAL[n]!, t.shape, t.data);
      continue;
    }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n)!;
    if (/\.experts\.\d+\./.test(m[2]!)) continue;
    emit(`blk.${m[1]}.${LAYER[m[2]!] ?? (() => { throw new Error(`no GGUF name for ${n}`); })()}`, t.shape, t.data);
  }
  const experts = cfg.n_routed_experts as number;
  for (let l = 0; l < layers; l++) {
    for (const [w, gw] of [["gate_proj", "gate"], ["up_proj", "up"], ["down_proj", "down"]] as const) {
      const parts = Array.from({ length: experts }, (_, e) => hf.get(`model.layers.${l}.mlp.experts.${e}.${w}.weight`));
      if (!parts[0]) continue;
      const stacked = new Float32Array(parts.reduce((a, p) => a + p!.data.length, 0));
      parts.reduce((off, p) => (stacked.set(p!.data, off), off + p!.data.length), 0);
      emit(`blk.${l}.ffn_${gw}_exps.weight`, [experts, ...parts[0].shape], stacked);
    }
  }
  // multi-token-prediction blocks: a norm and a projection stand in for the rest (the importer must leave them out)
  for (let l = layers; l < layers + mtp; l++) {
    emit(`blk.${l}.attn_norm.weight`, [cfg.hidden_size], new Float32Array(cfg.hidden_size).fill(1));
    emit(`blk.${l}.nextn.eh_proj.weight`, [cfg.hidden_size, 2 * cfg.hidden_size], new Float32Array(2 * cfg.hidden_size * cfg.hidden_size));
  }
  const file = path.join(dir, `${name}-${Math.random().toString(36).slice(2)}.gguf`);
  await writeFile(file, writeGguf({ kv, tensors }));
  return file;
}

/** A granitemoe / granitemoeshared fixture as GraniteMoeModel writes it, F32. */
async function convertGranite(name: string, o: Options = {}): Promise<string> {
  const cfg = configOf(name);
  const heads = cfg.num_attention_heads as number, kvHeads = cfg.num_key_value_heads as number;
  const I = cfg.intermediate_size as number, S = (cfg.shared_intermediate_size ?? 0) as number;
  let kv: KV[] = [
    ["general.architecture", "string", "granitemoe"],
    ["general.file_type", "u32", 0],
    ["granitemoe.vocab_size", "u32", cfg.vocab_size],
    ["granitemoe.block_count", "u32", cfg.num_hidden_layers],
    ["granitemoe.context_length", "u32", cfg.max_position_embeddings],
    ["granitemoe.embedding_length", "u32", cfg.hidden_size],
    ["granitemoe.feed_forward_length", "u32", I],
    ["granitemoe.attention.head_count", "u32", heads],
    ["granitemoe.attention.head_count_kv", "u32", kvHeads],
    ["granitemoe.rope.freq_base", "f32", (cfg.rope_parameters as Cfg).rope_theta],
    ["granitemoe.attention.layer_norm_rms_epsilon", "f32", cfg.rms_norm_eps],
    ["granitemoe.expert_count", "u32", cfg.num_local_experts],
    ["granitemoe.expert_used_count", "u32", cfg.num_experts_per_tok],
    ["granitemoe.rope.dimension_count", "u32", cfg.hidden_size / heads],
    ["granitemoe.attention.scale", "f32", cfg.attention_multiplier],
    ["granitemoe.embedding_scale", "f32", cfg.embedding_multiplier],
    ["granitemoe.residual_scale", "f32", cfg.residual_multiplier],
    ["granitemoe.logit_scale", "f32", cfg.logits_scaling],
  ];
  if (S) kv.push(["granitemoe.expert_shared_feed_forward_length", "u32", S]);
  kv = kv.filter((e) => !(o.drop ?? []).includes(e[0]));
  const ck = await openCheckpoint(path.join(HF, name));
  const tensors: WriterTensor[] = [];
  const emit = (n: string, shape: readonly number[], data: Float32Array) => tensors.push({ name: n, ne: [...shape].reverse(), type: "F32", bytes: encode("F32", data) });
  const ATTN: Record<string, string> = { q_proj: "attn_q", k_proj: "attn_k", v_proj: "attn_v", o_proj: "attn_output" };
  try {
    for (const n of ck.names()) {
      const shape = ck.info(n).shape, data = await ck.readF32(n);
      if (n === "model.embed_tokens.weight") emit("token_embd.weight", shape, data);
      else if (n === "model.norm.weight") emit("output_norm.weight", shape, data);
      else if (n === "lm_head.weight") emit("output.weight", shape, data);
      else {
        const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n)!;
        const b = `blk.${m[1]}`, rest = m[2]!;
        let r: RegExpExecArray | null;
        if (rest === "input_layernorm.weight") emit(`${b}.attn_norm.weight`, shape, data);
        else if (rest === "post_attention_layernorm.weight") emit(`${b}.ffn_norm.weight`, shape, data);
        else if ((r = /^self_attn\.(q_proj|k_proj|v_proj|o_proj)\.(weight|bias)$/.exec(rest))) {
          const permuted = r[1] === "q_proj" ? llamaPermute(data, shape[0]!, heads) : r[1] === "k_proj" ? llamaPermute(data, shape[0]!, kvHeads) : data;
          emit(`${b}.${ATTN[r[1]!]}.${r[2]}`, shape, permuted);
        } else if (rest === "block_sparse_moe.router.layer.weight") emit(`${b}.ffn_gate_inp.weight`, shape, data);
        else if (rest === "block_sparse_moe.output_linear.weight") emit(`${b}.ffn_down_exps.weight`, shape, data);
        else if (rest === "shared_mlp.output_linear.weight") emit(`${b}.ffn_down_shexp.weight`, shape, data);
        else if (rest === "block_sparse_moe.input_linear.weight" || rest === "shared_mlp.input_linear.weight") {
          // data_torch.split(ffn_dim, dim=-2): per expert, the first half of the rows is the gate
          const experts = shape.length === 3 ? shape[0]! : 1, rows = shape.length === 3 ? shape[1]! / 2 : shape[0]! / 2, cols = shape.at(-1)!;
          const gate = new Float32Array(data.length / 2), up = new Float32Array(data.length / 2);
          for (let e = 0; e < experts; e++) {
            gate.set(data.subarray(2 * e * rows * cols, (2 * e + 1) * rows * cols), e * rows * cols);
            up.set(data.subarray((2 * e + 1) * rows * cols, (2 * e + 2) * rows * cols), e * rows * cols);
          }
          const half = shape.length === 3 ? [experts, rows, cols] : [rows, cols];
          const kind = shape.length === 3 ? "exps" : "shexp";
          emit(`${b}.ffn_gate_${kind}.weight`, half, gate);
          emit(`${b}.ffn_up_${kind}.weight`, half, up);
        } else throw new Error(`no GGUF name for ${n}`);
      }
    }
  } finally {
    await ck.close();
  }
  const file = path.join(dir, `${name}-${Math.random().toString(36).slice(2)}.gguf`);
  await writeFile(file, writeGguf({ kv, tensors }));
  return file;
}

/** test/fixtures/hf/minimax_m2 as MiniMaxM2Model writes it (TextModel's keys, expert_feed_forward_length, rope.dimension_count = rotary_dim), F32. */
async function convertMinimax(name: string, o: Options = {}): Promise<string> {
  const cfg = configOf(name);
  const a = "minimax-m2";
  const rp = cfg.rope_parameters as Cfg;
  let kv: KV[] = [
    ["general.architecture", "string", a],
    ["general.file_type", "u32", 0],
    [`${a}.block_count`, "u32", cfg.num_hidden_layers],
    [`${a}.context_length`, "u32", cfg.max_position_embeddings],
    [`${a}.embedding_length`, "u32", cfg.hidden_size],
    [`${a}.feed_forward_length`, "u32", cfg.intermediate_size],
    [`${a}.attention.head_count`, "u32", cfg.num_attention_heads],
    [`${a}.attention.head_count_kv`, "u32", cfg.num_key_value_heads],
    [`${a}.rope.freq_base`, "f32", rp.rope_theta],
    [`${a}.attention.layer_norm_rms_epsilon`, "f32", cfg.rms_norm_eps],
    [`${a}.expert_count`, "u32", cfg.num_local_experts],
    [`${a}.expert_used_count`, "u32", cfg.num_experts_per_tok],
    [`${a}.attention.key_length`, "u32", cfg.head_dim],
    [`${a}.attention.value_length`, "u32", cfg.head_dim],
    [`${a}.expert_feed_forward_length`, "u32", cfg.intermediate_size],
    [`${a}.rope.dimension_count`, "u32", cfg.head_dim * (rp.partial_rotary_factor ?? 1)],
  ];
  kv = kv.filter((e) => !(o.drop ?? []).includes(e[0]));
  kv.push(...(o.extraKv ?? []));
  const ck = await openCheckpoint(path.join(HF, name));
  const hf = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const n of ck.names()) hf.set(n, { shape: ck.info(n).shape, data: await ck.readF32(n) });
  await ck.close();
  const tensors: WriterTensor[] = [];
  const emit = (n: string, shape: readonly number[], data: Float32Array) => {
    if (!o.dropTensors?.test(n)) tensors.push({ name: n, ne: [...shape].reverse(), type: "F32", bytes: encode("F32", data) });
  };
  const GLOBAL: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  const LAYER: Record<string, string> = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight", "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
    "block_sparse_moe.gate.weight": "ffn_gate_inp.weight", "block_sparse_moe.e_score_correction_bias": "exp_probs_b.bias",
  };
  for (const [n, t] of hf) {
    if (GLOBAL[n]) {
      emit(GLOBAL[n]!, t.shape, t.data);
      continue;
    }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n)!;
    if (/\.experts\.\d+\./.test(m[2]!)) continue;
    emit(`blk.${m[1]}.${LAYER[m[2]!] ?? (() => { throw new Error(`no GGUF name for ${n}`); })()}`, t.shape, t.data);
  }
  const experts = cfg.num_local_experts as number;
  for (let l = 0; l < (cfg.num_hidden_layers as number); l++) {
    for (const [w, gw] of [["w1", "gate"], ["w3", "up"], ["w2", "down"]] as const) {
      const parts = Array.from({ length: experts }, (_, e) => hf.get(`model.layers.${l}.block_sparse_moe.experts.${e}.${w}.weight`)!);
      const stacked = new Float32Array(parts.reduce((s, p) => s + p.data.length, 0));
      parts.reduce((off, p) => (stacked.set(p.data, off), off + p.data.length), 0);
      emit(`blk.${l}.ffn_${gw}_exps.weight`, [experts, ...parts[0]!.shape], stacked);
    }
  }
  const file = path.join(dir, `${name}-${Math.random().toString(36).slice(2)}.gguf`);
  await writeFile(file, writeGguf({ kv, tensors }));
  return file;
}

function fixtureLogits(name: string): { ids: number[]; logits: Float32Array } {
  const raw = readFileSync(path.join(HF, name, "logits.f32"));
  return {
    ids: JSON.parse(readFileSync(path.join(HF, name, "input_ids.json"), "utf8")) as number[],
    logits: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)),
  };
}

const ir = (text: string) => printGraph(checkSource("x.moe", text).graph!);

describe("GGUF import: glm4moe, dots1, granitemoe, minimax-m2", () => {
  // dots1's GGUF cannot say which layers slide (llama.cpp's dots1 has no sliding window), and the fixture's layer 1
  // does: that GGUF is the fixture without the window, so its logits are not transformers'.
  const CASES: [string, Options, Cfg | null][] = [
    ["glm4_moe", { mtpLayers: 1 }, null],
    ["glm4_moe_plain", {}, null],
    ["dots1", {}, { layer_types: ["full_attention", "full_attention", "full_attention"] }],
  ];
  for (const [name, opts, without] of CASES) {
    it(`${name}: the GGUF's config imports to the fixture's program, binds its weights bit for bit${without ? "" : " and reproduces transformers' logits"}`, async () => {
      const file = await convert(name, opts);
      const g = await openGguf(file);
      const imp = ggufToHf(g);
      await g.close();
      const own = importHfConfig({ ...configOf(name), ...(without ?? {}) }, "config.json");
      const fromGguf = importHfConfig(imp.config, "gguf");
      if ("error" in own || "error" in fromGguf) throw new Error(JSON.stringify([own, fromGguf]));
      expect(ir(fromGguf.text)).toBe(ir(own.text));
      if (opts.mtpLayers) expect(imp.notes.join(" ")).toContain("multi-token-prediction layers");

      const { text, source } = await loadGgufModel(file);
      try {
        const checked = checkSource("gguf.moe", text);
        const graph = runPipeline(checked.graph!).graph;
        const weights = await bindWeights(graph, source, file);
        const ck = await openCheckpoint(path.join(HF, name));
        try {
          for (const [n, w] of weights) expect(w, n).toEqual(await ck.readF32(n));
          expect(weights.size).toBe(ck.names().length);
        } finally {
          await ck.close();
        }
        if (without) return;
        const fx = fixtureLogits(name);
        const err = relativeError(promptLogits({ graph, weights }, fx.ids).data, fx.logits);
        console.log(`GGUF ${name}: relative error ${err.toExponential(2)}`);
        expect(err).toBeLessThan(1e-4);
      } finally {
        await source.close();
      }
    });
  }

  for (const name of ["granitemoe", "granitemoeshared"]) {
    it(`${name}: the "granitemoe" GGUF's config imports to the fixture's program, binds its weights bit for bit and reproduces transformers' logits`, async () => {
      const file = await convertGranite(name);
      const g = await openGguf(file);
      const imp = ggufToHf(g);
      await g.close();
      const own = importHfConfig(configOf(name), "config.json");
      const fromGguf = importHfConfig(imp.config, "gguf");
      if ("error" in own || "error" in fromGguf) throw new Error(JSON.stringify([own, fromGguf]));
      expect(ir(fromGguf.text)).toBe(ir(own.text));
      const { text, source } = await loadGgufModel(file);
      try {
        const graph = runPipeline(checkSource("gguf.moe", text).graph!).graph;
        const weights = await bindWeights(graph, source, file);
        const ck = await openCheckpoint(path.join(HF, name));
        try {
          for (const [n, w] of weights) expect(w, n).toEqual(await ck.readF32(n));
          expect(weights.size).toBe(ck.names().length);
        } finally {
          await ck.close();
        }
        const fx = fixtureLogits(name);
        const err = relativeError(promptLogits({ graph, weights }, fx.ids).data, fx.logits);
        console.log(`GGUF ${name}: relative error ${err.toExponential(2)}`);
        expect(err).toBeLessThan(1e-4);
      } finally {
        await source.close();
      }
    });
  }

  it(`minimax_m2: the "minimax-m2" GGUF's config imports to the fixture's program, binds its weights bit for bit and reproduces transformers' logits`, async () => {
    const name = "minimax_m2";
    const file = await convertMinimax(name);
    const g = await openGguf(file);
    const imp = ggufToHf(g);
    await g.close();
    const own = importHfConfig(configOf(name), "config.json");
    const fromGguf = importHfConfig(imp.config, "gguf");
    if ("error" in own || "error" in fromGguf) throw new Error(JSON.stringify([own, fromGguf]));
    expect(ir(fromGguf.text)).toBe(ir(own.text));
    const { text, source } = await loadGgufModel(file);
    try {
      const graph = runPipeline(checkSource("gguf.moe", text).graph!).graph;
      const weights = await bindWeights(graph, source, file);
      const ck = await openCheckpoint(path.join(HF, name));
      try {
        for (const [n, w] of weights) expect(w, n).toEqual(await ck.readF32(n));
        expect(weights.size).toBe(ck.names().length);
      } finally {
        await ck.close();
      }
      const fx = fixtureLogits(name);
      const err = relativeError(promptLogits({ graph, weights }, fx.ids).data, fx.logits);
      console.log(`GGUF ${name}: relative error ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-4);
    } finally {
      await source.close();
    }
  });

  it("what the GGUF cannot describe faithfully is an error naming the file and the key or tensor", async () => {
    const fail = async (file: string, ...parts: string[]) => {
      const g = await openGguf(file);
      try {
        const e = (() => { try { ggufToHf(g); return null; } catch (x) { return x; } })();
        expect(e).toBeInstanceOf(WeightFileError);
        for (const p of parts) expect((e as Error).message).toContain(p);
      } finally {
        await g.close();
      }
    };
    await fail(await convert("glm4_moe", { extraKv: [["glm4moe.expert_gating_func", "u32", 1]], drop: ["glm4moe.expert_gating_func"] }), '"glm4moe.expert_gating_func" is 1');
    await fail(await convert("dots1", { drop: ["dots1.leading_dense_block_count"], extraKv: [["dots1.leading_dense_block_count", "u32", 2]] }), "dots1.leading_dense_block_count");
    await fail(await convert("dots1", { dropTensors: /exp_probs_b/ }), "exp_probs_b.bias");
    await fail(await convert("dots1", { dropTensors: /attn_q_norm/ }), "blk.0.attn_q_norm.weight");
    await fail(await convertGranite("granitemoe", { drop: ["granitemoe.attention.scale"] }), '"granitemoe.attention.scale" is missing', "ambiguous");
    await fail(await convertMinimax("minimax_m2", { extraKv: [["minimax-m2.expert_gating_func", "u32", 1]] }), '"minimax-m2.expert_gating_func" is 1');
    await fail(await convertMinimax("minimax_m2", { dropTensors: /exp_probs_b/ }), "exp_probs_b.bias");
    await fail(await convertMinimax("minimax_m2", { extraKv: [["minimax-m2.expert_weights_norm", "bool", false]] }), '"minimax-m2.expert_weights_norm" is false');
  });
});
