// GGUF import of "gpt-oss", "ernie4_5-moe", "hunyuan-moe", "llama4", "dbrx", "exaone-moe" and "qwen3next": each Hugging Face fixture converted
// the way llama.cpp's convert_hf_to_gguf.py converts it (gguf-arch-convert.ts) imports to the program of the
// fixture's own config.json (with what the file cannot say as llama.cpp fixes it), binds the fixture's weights bit
// for bit and, where the file describes the model transformers ran, reproduces transformers' logits.
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
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
import { relativeError } from "../helpers/fixtures.js";
import type { KV } from "../helpers/gguf-writer.js";
import { LLAMA4_FIXED } from "../../compiler/import/gguf-llama4.js";
import { type Cfg, type Options, HF, configOf, convertDbrx, convertErnie, convertExaoneMoe, convertGptOss, convertHunyuan, convertLlama4, convertQwen35Moe, convertQwen3Next, hunyuanBase } from "./gguf-arch-convert.js";

let dir: string;
beforeAll(async () => { dir = await mkdtemp(path.join(tmpdir(), "moec-gguf-arch-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });
const opts = (o: Omit<Options, "dir"> = {}): Options => ({ dir, ...o });

function fixtureLogits(name: string): { ids: number[]; logits: Float32Array } {
  const raw = readFileSync(path.join(HF, name, "logits.f32"));
  return {
    ids: JSON.parse(readFileSync(path.join(HF, name, "input_ids.json"), "utf8")) as number[],
    logits: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)),
  };
}

const ir = (text: string) => printGraph(checkSource("x.moe", text).graph!);

/** The GGUF's config against `own` (the fixture's config, adjusted for what GGUF cannot say), then weights and logits. */
async function check(name: string, file: string, own: Cfg | null, logits = true, exact = true) {
  const g = await openGguf(file);
  const imp = ggufToHf(g);
  await g.close();
  if (own) {
    const a = importHfConfig(own, "config.json"), b = importHfConfig(imp.config, "gguf");
    if ("error" in a || "error" in b) throw new Error(JSON.stringify([a, b]));
    expect(ir(b.text)).toBe(ir(a.text));
  }
  const { text, source } = await loadGgufModel(file);
  try {
    const graph = runPipeline(checkSource("gguf.moe", text).graph!).graph;
    const weights = await bindWeights(graph, source, file);
    const ck = await openCheckpoint(path.join(HF, name));
    try {
      for (const [n, w] of weights) {
        const want = await ck.readF32(n);
        if (exact) expect(w, n).toEqual(want);
        else {
          // within one float32 rounding of the converter's transform (1 + w, −exp) of each element
          expect(w.length, n).toBe(want.length);
          for (let i = 0; i < w.length; i++) if (Math.abs(w[i]! - want[i]!) > 2.4e-7 * Math.max(1, Math.abs(want[i]!))) expect([n, i, w[i]], n).toEqual([n, i, want[i]]);
        }
      }
      // every language-model tensor (the vision tower of a multimodal fixture is not in the file)
      expect(weights.size).toBe(ck.names().filter((n) => !n.startsWith("model.visual.")).length);
    } finally {
      await ck.close();
    }
    if (!logits) return;
    const fx = fixtureLogits(name);
    const got = promptLogits({ graph, weights }, fx.ids).data;
    const err = relativeError(got, fx.logits);
    console.log(`GGUF ${name}: relative error ${err.toExponential(2)} over ${fx.ids.length} positions`);
    expect(err).toBeLessThan(1e-4);
  } finally {
    await source.close();
  }
}

describe("GGUF import: gpt-oss, ernie4_5-moe, hunyuan-moe, llama4, dbrx, exaone-moe, qwen3next", () => {
  it("gpt_oss: the \"gpt-oss\" GGUF (gate and up split) imports to the fixture's program, binds its weights bit for bit and reproduces transformers' logits", async () => {
    await check("gpt_oss", await convertGptOss("gpt_oss", opts()), configOf("gpt_oss"));
  });
  it("gpt_oss: with --fuse-gate-up-exps (ffn_gate_up_exps) too", async () => {
    await check("gpt_oss", await convertGptOss("gpt_oss", opts({ fuse: true })), configOf("gpt_oss"));
  });
  it("ernie4_5_moe: the \"ernie4_5-moe\" GGUF imports to the fixture's program (its wrong shared-expert width ignored), binds bit for bit and reproduces transformers' logits", async () => {
    await check("ernie4_5_moe", await convertErnie("ernie4_5_moe", opts()), configOf("ernie4_5_moe"));
  });
  it("hunyuan_v1_moe: the \"hunyuan-moe\" GGUF (NTK-alpha applied to the base) binds bit for bit and reproduces transformers' logits", async () => {
    const cfg = configOf("hunyuan_v1_moe");
    // what the GGUF says: plain RoPE with the scaled base (a float32), 256K context
    const own = { ...cfg, max_position_embeddings: 256 * 1024, rope_parameters: { rope_type: "default", rope_theta: Math.fround(hunyuanBase(cfg)) } };
    await check("hunyuan_v1_moe", await convertHunyuan("hunyuan_v1_moe", opts()), own);
  });
  it("llama4: the \"llama4\" GGUF imports to the fixture's program with llama.cpp's fixed attention settings and binds its weights bit for bit", async () => {
    // llama.cpp fixes chunk size, the NoPE layers and temperature tuning for the architecture, and the fixture's
    // values (chunks of 5, NoPE every 2nd layer, floor_scale 4, attn_scale 0.5) differ, so the GGUF describes the
    // fixture with llama.cpp's values: the same weights in another model, whose logits are not transformers' (the
    // file is held to llama.cpp's in gguf-arch-llama.test.ts). moe_layers and layer_types follow from those.
    const cfg = configOf("llama4");
    const { moe_layers: _m, no_rope_layers: _n, layer_types: _l, ...rest } = cfg;
    await check("llama4", await convertLlama4("llama4", opts()), { ...rest, ...LLAMA4_FIXED }, false);
  });
  // Scout's and Maverick's rope settings (Maverick's blends two of the fixture's twelve frequency pairs)
  for (const llama3 of [{ factor: 16, low_freq_factor: 1, high_freq_factor: 1, original_max_position_embeddings: 8192 }, { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 }]) {
    it(`llama4: rope_freqs (Llama 3 RoPE, factor ${llama3.factor}, high_freq_factor ${llama3.high_freq_factor}) is read back into rope_parameters`, async () => {
      const cfg = configOf("llama4");
      const { moe_layers: _m, no_rope_layers: _n, layer_types: _l, ...rest } = cfg;
      const own = { ...rest, ...LLAMA4_FIXED, rope_parameters: { rope_type: "llama3", rope_theta: cfg.rope_parameters.rope_theta, ...llama3 } };
      await check("llama4", await convertLlama4("llama4", { ...opts(), llama3 }), own, false);
    });
  }
  it("dbrx: the \"dbrx\" GGUF imports with the converter's RoPE base (attn_config.rope_theta) and binds the fixture's weights bit for bit", async () => {
    // DbrxModel writes attn_config.rope_theta (500000 here); transformers 5.17 reads the top-level rope_parameters
    // (10000 in the fixture) instead, so this file is the fixture with llama.cpp's base (held to llama.cpp's logits
    // in gguf-arch-llama.test.ts)
    const cfg = configOf("dbrx");
    await check("dbrx", await convertDbrx("dbrx", opts()), { ...cfg, rope_parameters: { rope_type: "default", rope_theta: cfg.attn_config.rope_theta } }, false);
  });
  it("dbrx: with the base transformers ran the fixture with, it reproduces transformers' logits", async () => {
    const cfg = configOf("dbrx");
    const file = await convertDbrx("dbrx", opts({ drop: ["dbrx.rope.freq_base"], extraKv: [["dbrx.rope.freq_base", "f32", cfg.rope_parameters.rope_theta]] }));
    await check("dbrx", file, { ...cfg, attn_config: { ...cfg.attn_config, rope_theta: cfg.rope_parameters.rope_theta } });
  });
  it("exaone_moe: the \"exaone-moe\" GGUF (with a multi-token-prediction block appended) imports to the fixture's program, binds bit for bit and reproduces transformers' logits", async () => {
    await check("exaone_moe", await convertExaoneMoe("exaone_moe", { ...opts(), mtp: 1 }), configOf("exaone_moe"));
  });
  it("qwen3_next: the \"qwen3next\" GGUF (1 + w norms, −exp(A_log), in_proj_qkvz regrouped) imports to the fixture's program, binds within float32 rounding and reproduces transformers' logits", async () => {
    // The converter takes the rotated dims from the top-level partial_rotary_factor (0.25 here: 4 dims); the
    // fixture's rope_parameters say 0.5, which transformers 5.17 used (8 dims), so the file states 8
    const dims8 = { drop: ["qwen3next.rope.dimension_count"], extraKv: [["qwen3next.rope.dimension_count", "u32", 8]] as KV[] };
    await check("qwen3_next", await convertQwen3Next("qwen3_next", opts(dims8)), configOf("qwen3_next"), true, false);
  });
  it("qwen3_5_moe: the \"qwen35moe\" GGUF (value heads tiled, 1 + w norms, −exp(A_log)) imports to the fixture's program, binds within float32 rounding and reproduces transformers' logits", async () => {
    // the fixture's layer_types make every 2nd layer full attention; it has no full_attention_interval key, for which
    // the converter would write 4
    await check("qwen3_5_moe", await convertQwen35Moe("qwen3_5_moe", { ...opts(), interval: 2 }), configOf("qwen3_5_moe"), true, false);
  });
  // the archs whose experts are row slices of the stacked tensors keep their blocks (matmul_q); measured against
  // transformers with the experts quantised: 1.4e-3 to 3.6e-3 relative
  for (const [name, convert] of [["ernie4_5_moe", convertErnie], ["hunyuan_v1_moe", convertHunyuan], ["exaone_moe", convertExaoneMoe]] as const) {
    it(`${name}: with Q8_0 experts, the experts keep their GGUF blocks and the logits stay within Q8_0's error of transformers'`, async () => {
      const file = await convert(name, opts({ q8Experts: true }));
      const { text, source } = await loadGgufModel(file);
      try {
        const expert = source.names().find((n) => /experts\.0\.gate_proj\.weight$/.test(n))!;
        expect(source.storedFormat!(expert)).toBe("q8_0");
        const graph = runPipeline(checkSource("gguf.moe", text).graph!).graph;
        const weights = await bindWeights(graph, source, file);
        const fx = fixtureLogits(name);
        const err = relativeError(promptLogits({ graph, weights }, fx.ids).data, fx.logits);
        console.log(`GGUF ${name}, Q8_0 experts: relative error ${err.toExponential(2)}`);
        expect(err).toBeLessThan(2e-2);
        expect(err).toBeGreaterThan(1e-5); // the experts really were quantised
      } finally {
        await source.close();
      }
    });
  }

  it("what the GGUF cannot describe faithfully is an error naming the file and the key or tensor", async () => {
    const fail = async (file: string, ...parts: string[]) => {
      const g = await openGguf(file);
      try {
        const e = (() => { try { ggufToHf(g); return null; } catch (x) { return x; } })();
        expect(e).toBeInstanceOf(WeightFileError);
        for (const p of [path.basename(file), ...parts]) expect((e as Error).message).toContain(p);
      } finally {
        await g.close();
      }
    };
    await fail(await convertGptOss("gpt_oss", opts({ extraKv: [["gpt-oss.expert_gating_func", "u32", 2]] })), '"gpt-oss.expert_gating_func" is 2');
    await fail(await convertGptOss("gpt_oss", opts({ dropTensors: /ffn_up_exps\.weight/ })), "ffn_up_exps.weight");
    await fail(await convertGptOss("gpt_oss", opts({ dropTensors: /attn_sinks/ })), "attn_sinks.weight");
    await fail(await convertGptOss("gpt_oss", opts({ extraKv: [["gpt-oss.rope.scaling.yarn_log_multiplier", "f32", 0.1]] })), "yarn_log_multiplier");
    await fail(await convertErnie("ernie4_5_moe", opts({ dropTensors: /exp_probs_b/ })), "exp_probs_b.bias");
    await fail(await convertErnie("ernie4_5_moe", opts({ drop: ["ernie4_5-moe.leading_dense_block_count"], extraKv: [["ernie4_5-moe.leading_dense_block_count", "u32", 0]] })), "leading_dense_block_count");
    await fail(await convertErnie("ernie4_5_moe", opts({ drop: ["ernie4_5-moe.expert_shared_count"], extraKv: [["ernie4_5-moe.expert_shared_count", "u32", 1]] })), "expert_shared_count");
    await fail(await convertErnie("ernie4_5_moe", opts({ dropTensors: /^output\.bias$/ })), "output.bias");
    await fail(await convertHunyuan("hunyuan_v1_moe", opts({ extraKv: [["hunyuan-moe.expert_shared_count", "u32", 2]], drop: ["hunyuan-moe.expert_shared_count"] })), "expert_shared_count");
    await fail(await convertHunyuan("hunyuan_v1_moe", opts({ drop: ["hunyuan-moe.rope.scaling.type"], extraKv: [["hunyuan-moe.rope.scaling.type", "string", "yarn"]] })), '"hunyuan-moe.rope.scaling.type" is "yarn"');
    await fail(await convertHunyuan("hunyuan_v1_moe", opts({ dropTensors: /attn_q_norm/ })), "attn_q_norm");
    await fail(await convertLlama4("llama4", opts({ extraKv: [["llama4.attention.sliding_window", "u32", 0]] })), '"llama4.attention.sliding_window" is 0');
    await fail(await convertLlama4("llama4", opts({ drop: ["llama4.interleave_moe_layer_step"], extraKv: [["llama4.interleave_moe_layer_step", "u32", 1]] })), "interleave_moe_layer_step", "layers 0, 2 differ");
    await fail(await convertLlama4("llama4", opts({ extraTensors: [["rope_freqs.weight", [12], Float32Array.from({ length: 12 }, (_, i) => 1 + i / 7)]] })), "rope_freqs.weight", "no Llama 3 setting");
    await fail(await convertDbrx("dbrx", opts({ drop: ["dbrx.attention.layer_norm_epsilon"], extraKv: [["dbrx.attention.layer_norm_epsilon", "f32", 1e-6]] })), "layer_norm_epsilon");
    await fail(await convertDbrx("dbrx", opts({ dropTensors: /^output\.weight$/ })), "output.weight");
    await fail(await convertExaoneMoe("exaone_moe", opts({ drop: ["exaone-moe.attention.sliding_window_pattern"] })), '"exaone-moe.attention.sliding_window_pattern" is missing');
    await fail(await convertExaoneMoe("exaone_moe", opts({ extraKv: [["exaone-moe.expert_gating_func", "u32", 1]] })), '"exaone-moe.expert_gating_func" is 1');
    await fail(await convertExaoneMoe("exaone_moe", opts({ dropTensors: /exp_probs_b/ })), "exp_probs_b.bias");
    await fail(await convertQwen3Next("qwen3_next", opts({ dropTensors: /blk\.0\.attn_gate/ })), "blk.0.attn_gate.weight");
    await fail(await convertQwen3Next("qwen3_next", opts({ drop: ["qwen3next.full_attention_interval"], extraKv: [["qwen3next.full_attention_interval", "u32", 2]] })), "full_attention_interval", "layers 1 differ");
    // an architecture the import does not read names itself and what is supported
    await fail(await convertQwen3Next("qwen3_next", opts({ drop: ["general.architecture"], extraKv: [["general.architecture", "string", "falcon-h1"]] })), 'GGUF architecture "falcon-h1" is not supported', '"gpt-oss" → gpt_oss', '"qwen3next" → qwen3_next', '"llama4" → llama4_text');
    // a block tensor the architecture does not have is named, not dropped
    await fail(await convertHunyuan("hunyuan_v1_moe", opts({ extraTensors: [["blk.1.ffn_gate_shexp.bias", [40], new Float32Array(40)]] })), "blk.1.ffn_gate_shexp.bias", 'not a tensor of llama.cpp\'s "hunyuan-moe"');
  });
});
