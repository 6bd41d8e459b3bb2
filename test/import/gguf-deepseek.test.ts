// GGUF "deepseek2" import: the DeepSeek fixtures converted the way llama.cpp's convert_hf_to_gguf.py
// (DeepseekV2Model) writes them — MLA in its absorbed form (kv_b_proj split into attn_k_b, transposed, and
// attn_v_b; key_length / value_length of the MQA form, key_length_mla / value_length_mla of the heads), head_count_kv
// 1, YaRN's mscale_all_dim as yarn_log_multiplier, experts stacked, e_score_correction_bias as exp_probs_b.bias —
// import to the program of the fixture's own config.json, bind its weights bit for bit and reproduce transformers'
// logits. GLM-4.7-Flash (glm4_moe_lite) files are "deepseek2" too and come back as deepseek_v3.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSource, printGraph } from "../../compiler/index.js";
import { ggufToHf } from "../../compiler/import/gguf.js";
import { joinMlaKvB } from "../../compiler/import/gguf-deepseek.js";
import { importHfConfig } from "../../compiler/import/hf.js";
import { runPipeline } from "../../compiler/passes/pipeline.js";
import { promptLogits } from "../../compiler/run/generate.js";
import { loadGgufModel } from "../../compiler/run/gguf-load.js";
import { bindWeights } from "../../compiler/weights/bind.js";
import { openGguf } from "../../runtime/weights/gguf.js";
import { WeightFileError, openCheckpoint } from "../../runtime/weights/safetensors.js";
import { fixture } from "../helpers/compile.js";
import { relativeError } from "../helpers/fixtures.js";
import { type KV, type WriterTensor, encode, writeGguf } from "../helpers/gguf-writer.js";

const HF = fixture("hf");
let dir: string;
beforeAll(async () => { dir = await mkdtemp(path.join(tmpdir(), "moec-gguf-ds-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

type Cfg = Record<string, any>;
const configOf = (name: string): Cfg => JSON.parse(readFileSync(path.join(HF, name, "config.json"), "utf8")) as Cfg;

interface Options { drop?: readonly string[]; extraKv?: readonly KV[]; keepKvB?: boolean }

/** test/fixtures/hf/<name> as DeepseekV2Model writes it, F32. */
async function convert(name: string, o: Options = {}): Promise<string> {
  const cfg = configOf(name);
  const a = "deepseek2";
  const v3 = cfg.model_type !== "deepseek_v2";
  const heads = cfg.num_attention_heads as number, nope = cfg.qk_nope_head_dim as number, rope = cfg.qk_rope_head_dim as number;
  const v = cfg.v_head_dim as number, kvLora = cfg.kv_lora_rank as number;
  const rp = (cfg.rope_parameters ?? cfg.rope_scaling ?? {}) as Cfg;
  const firstDense = (cfg.mlp_layer_types as string[] | undefined)?.indexOf("sparse") ?? cfg.first_k_dense_replace;
  let kv: KV[] = [
    ["general.architecture", "string", a],
    ["general.file_type", "u32", 0],
    [`${a}.block_count`, "u32", cfg.num_hidden_layers],
    [`${a}.context_length`, "u32", cfg.max_position_embeddings],
    [`${a}.embedding_length`, "u32", cfg.hidden_size],
    [`${a}.feed_forward_length`, "u32", cfg.intermediate_size],
    [`${a}.attention.head_count`, "u32", heads],
    [`${a}.attention.head_count_kv`, "u32", 1],
    [`${a}.rope.freq_base`, "f32", rp.rope_theta ?? 10000],
    [`${a}.attention.layer_norm_rms_epsilon`, "f32", cfg.rms_norm_eps],
    [`${a}.expert_count`, "u32", cfg.n_routed_experts],
    [`${a}.expert_used_count`, "u32", cfg.num_experts_per_tok],
    [`${a}.attention.kv_lora_rank`, "u32", kvLora],
    [`${a}.attention.key_length`, "u32", kvLora + rope],
    [`${a}.attention.value_length`, "u32", kvLora],
    [`${a}.attention.key_length_mla`, "u32", nope + rope],
    [`${a}.attention.value_length_mla`, "u32", v],
    [`${a}.leading_dense_block_count`, "u32", firstDense],
    [`${a}.expert_feed_forward_length`, "u32", cfg.moe_intermediate_size],
    [`${a}.expert_shared_count`, "u32", cfg.n_shared_experts],
    [`${a}.expert_weights_scale`, "f32", cfg.routed_scaling_factor],
    [`${a}.rope.dimension_count`, "u32", rope],
  ];
  if (cfg.q_lora_rank) kv.push([`${a}.attention.q_lora_rank`, "u32", cfg.q_lora_rank]);
  if (v3) {
    kv.push([`${a}.expert_weights_norm`, "bool", cfg.norm_topk_prob], [`${a}.expert_gating_func`, "u32", 2]);
    kv.push([`${a}.expert_group_count`, "u32", cfg.n_group], [`${a}.expert_group_used_count`, "u32", cfg.topk_group]);
  } else kv.push([`${a}.expert_gating_func`, "u32", 1]);
  if ((rp.rope_type ?? rp.type) === "yarn") {
    kv.push([`${a}.rope.scaling.type`, "string", "yarn"], [`${a}.rope.scaling.factor`, "f32", rp.factor], [`${a}.rope.scaling.original_context_length`, "u32", rp.original_max_position_embeddings]);
    kv.push([`${a}.rope.scaling.yarn_log_multiplier`, "f32", 0.1 * rp.mscale_all_dim]);
  }
  kv = kv.filter((e) => !(o.drop ?? []).includes(e[0]));
  kv.push(...(o.extraKv ?? []));

  const ck = await openCheckpoint(path.join(HF, name));
  const hf = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const n of ck.names()) hf.set(n, { shape: ck.info(n).shape, data: await ck.readF32(n) });
  await ck.close();
  const tensors: WriterTensor[] = [];
  const emit = (n: string, shape: readonly number[], data: Float32Array) => tensors.push({ name: n, ne: [...shape].reverse(), type: "F32", bytes: encode("F32", data) });
  const GLOBAL: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  const LAYER: Record<string, string> = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_a_proj.weight": "attn_q_a.weight", "self_attn.q_a_layernorm.weight": "attn_q_a_norm.weight",
    "self_attn.q_b_proj.weight": "attn_q_b.weight", "self_attn.kv_a_proj_with_mqa.weight": "attn_kv_a_mqa.weight",
    "self_attn.kv_a_layernorm.weight": "attn_kv_a_norm.weight", "self_attn.o_proj.weight": "attn_output.weight",
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
    if (m[2] === "self_attn.kv_b_proj.weight" && !o.keepKvB) {
      // kv_b.view(heads, nope + v, kv_lora) split into k_b [heads, nope, kv_lora] (then transposed) and v_b
      const kb = new Float32Array(heads * kvLora * nope), vb = new Float32Array(heads * v * kvLora);
      for (let h = 0; h < heads; h++) {
        const base = h * (nope + v) * kvLora;
        for (let i = 0; i < nope; i++) for (let c = 0; c < kvLora; c++) kb[(h * kvLora + c) * nope + i] = t.data[base + i * kvLora + c]!;
        vb.set(t.data.subarray(base + nope * kvLora, base + (nope + v) * kvLora), h * v * kvLora);
      }
      emit(`blk.${m[1]}.attn_k_b.weight`, [heads, kvLora, nope], kb);
      emit(`blk.${m[1]}.attn_v_b.weight`, [heads, v, kvLora], vb);
      continue;
    }
    if (m[2] === "self_attn.kv_b_proj.weight") {
      emit(`blk.${m[1]}.attn_kv_b.weight`, t.shape, t.data);
      continue;
    }
    emit(`blk.${m[1]}.${LAYER[m[2]!] ?? (() => { throw new Error(`no GGUF name for ${n}`); })()}`, t.shape, t.data);
  }
  const experts = cfg.n_routed_experts as number;
  for (let l = 0; l < (cfg.num_hidden_layers as number); l++) {
    for (const [w, gw] of [["gate_proj", "gate"], ["up_proj", "up"], ["down_proj", "down"]] as const) {
      const parts = Array.from({ length: experts }, (_, e) => hf.get(`model.layers.${l}.mlp.experts.${e}.${w}.weight`));
      if (!parts[0]) continue;
      const stacked = new Float32Array(parts.reduce((s, p) => s + p!.data.length, 0));
      parts.reduce((off, p) => (stacked.set(p!.data, off), off + p!.data.length), 0);
      emit(`blk.${l}.ffn_${gw}_exps.weight`, [experts, ...parts[0].shape], stacked);
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

describe('GGUF import: "deepseek2"', () => {
  // [fixture, same program as the fixture's own import (false: another family name, compared by logits)]
  const CASES: [string, boolean, Options][] = [
    ["deepseek_v3", true, {}],
    ["deepseek_v3_yarn", true, {}],
    ["deepseek_v3_nogroup", true, {}],
    ["deepseek_v2_qlora", true, {}],
    ["deepseek_v2_qlora", true, { keepKvB: true }],
    ["glm4_moe_lite", false, {}],
  ];
  for (const [name, sameProgram, opts] of CASES) {
    it(`${name}${opts.keepKvB ? " (an older file with attn_kv_b whole)" : ""}: binds the fixture's weights bit for bit and reproduces transformers' logits`, async () => {
      const file = await convert(name, opts);
      const g = await openGguf(file);
      const imp = ggufToHf(g);
      await g.close();
      const fromGguf = importHfConfig(imp.config, "gguf");
      if ("error" in fromGguf) throw new Error(fromGguf.error);
      if (sameProgram) {
        const own = importHfConfig(configOf(name), "config.json");
        if ("error" in own) throw new Error(own.error);
        expect(ir(fromGguf.text)).toBe(ir(own.text));
      } else expect(imp.config.model_type).toBe("deepseek_v3");

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

  it("joinMlaKvB undoes the converter's split and transpose", () => {
    const d = { heads: 2, nope: 3, v: 2, kvLora: 4 };
    const kb = Float32Array.from({ length: 2 * 4 * 3 }, (_, i) => i); // [h, c, i]
    const vb = Float32Array.from({ length: 2 * 2 * 4 }, (_, i) => 100 + i);
    const out = joinMlaKvB(kb, vb, d);
    // row h·5 + i (i < 3), column c is kb[h][c][i]; rows h·5 + 3.. are vb[h]
    expect(out[(0 * 5 + 1) * 4 + 2]).toBe(kb[(0 * 4 + 2) * 3 + 1]);
    expect(out[(1 * 5 + 2) * 4 + 3]).toBe(kb[(1 * 4 + 3) * 3 + 2]);
    expect(Array.from(out.subarray((1 * 5 + 3) * 4, (1 * 5 + 5) * 4))).toEqual(Array.from(vb.subarray(8, 16)));
  });

  it("what the file cannot describe faithfully is an error naming the file and the key or tensor", async () => {
    const fail = async (file: string, ...parts: string[]) => {
      const g = await openGguf(file);
      try {
        const e = (() => { try { ggufToHf(g); return null; } catch (x) { return x; } })();
        expect(e).toBeInstanceOf(WeightFileError);
        for (const p of [file, ...parts]) expect((e as Error).message).toContain(p);
      } finally {
        await g.close();
      }
    };
    await fail(await convert("deepseek_v3_yarn", { drop: ["deepseek2.rope.scaling.yarn_log_multiplier"] }), '"deepseek2.rope.scaling.yarn_log_multiplier" is missing');
    await fail(await convert("deepseek_v2_qlora", { extraKv: [["deepseek2.expert_weights_norm", "bool", true]] }), '"deepseek2.expert_weights_norm" is true');
    await fail(await convert("deepseek_v2_qlora", { extraKv: [["deepseek2.expert_group_count", "u32", 2]] }), '"deepseek2.expert_group_count" is 2');
    await fail(await convert("deepseek_v3", { drop: ["deepseek2.expert_gating_func"], extraKv: [["deepseek2.expert_gating_func", "u32", 3]] }), '"deepseek2.expert_gating_func" is 3');
    await fail(await convert("deepseek_v3", { drop: ["deepseek2.attention.q_lora_rank"] }), "attn_q");
  });
});
