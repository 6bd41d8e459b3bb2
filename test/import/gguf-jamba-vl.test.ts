// GGUF import of "jamba" (Mamba-1 and attention layers) and "qwen3vlmoe" (Qwen3-VL-MoE's language model): each
// Hugging Face fixture converted the way llama.cpp's convert_hf_to_gguf.py converts it (gguf-jamba-vl-convert.ts)
// imports to the program of the fixture's own config.json, binds the fixture's weights (bit for bit, or within one
// float32 rounding where the converter stored −exp(A_log)) and reproduces transformers' logits.
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
import { type Cfg, type Options, HF, configOf } from "./gguf-arch-convert.js";
import { checkGgufAgainstFixture } from "./gguf-fixture-check.js";
import { convertJamba, convertQwen3VlMoe } from "./gguf-jamba-vl-convert.js";

let dir: string;
beforeAll(async () => { dir = await mkdtemp(path.join(tmpdir(), "moec-gguf-jamba-vl-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });
const opts = <X extends object>(o: X = {} as X): Options & X => ({ dir, ...o });

const check = checkGgufAgainstFixture;

async function fail(file: string, ...parts: string[]) {
  const g = await openGguf(file);
  try {
    const e = (() => { try { ggufToHf(g); return null; } catch (x) { return x; } })();
    expect(e).toBeInstanceOf(WeightFileError);
    for (const p of [path.basename(file), ...parts]) expect((e as Error).message).toContain(p);
  } finally {
    await g.close();
  }
}

describe("GGUF import: jamba", () => {
  it("jamba: the \"jamba\" GGUF (Mamba-1 and attention, MoE and MLP layers, A as −exp(A_log), conv1d squeezed) imports to the fixture's program and reproduces transformers' logits", async () => {
    // the file has no periods: attention in layer 2 of 4 is stated as the shortest pattern, period 3 offset 2
    await check("jamba", await convertJamba("jamba", opts()), { ...configOf("jamba"), attn_layer_period: 3 });
  });

  // measured 4.3e-3 against transformers: the quantisation's own error
  it("jamba: with Q8_0 experts, the experts keep their GGUF blocks and the logits stay within Q8_0's error of transformers'", async () => {
    const file = await convertJamba("jamba", opts({ q8Experts: true }));
    const { text, source } = await loadGgufModel(file);
    try {
      expect(source.storedFormat!("model.layers.1.feed_forward.experts.0.gate_proj.weight")).toBe("q8_0");
      const graph = runPipeline(checkSource("gguf.moe", text).graph!).graph;
      const weights = await bindWeights(graph, source, file);
      const ids = JSON.parse(readFileSync(path.join(HF, "jamba", "input_ids.json"), "utf8")) as number[];
      const raw = readFileSync(path.join(HF, "jamba", "logits.f32"));
      const err = relativeError(promptLogits({ graph, weights }, ids).data, new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
      console.log(`GGUF jamba, Q8_0 experts: relative error ${err.toExponential(2)}`);
      expect(err).toBeLessThan(2e-2);
      expect(err).toBeGreaterThan(1e-5); // the experts really were quantised
    } finally {
      await source.close();
    }
  });

  it("what the GGUF cannot describe faithfully is an error naming the file and the key or tensor", async () => {
    await fail(await convertJamba("jamba", opts({ drop: ["jamba.ssm.inner_size"] })), '"jamba.ssm.inner_size" is missing');
    await fail(await convertJamba("jamba", opts({ dropTensors: /blk\.1\.ssm_in/ })), "layers 1 have neither");
    await fail(await convertJamba("jamba", opts({ extraKv: [["jamba.rope.freq_base", "f32", 10000]] })), '"jamba.rope.freq_base"', "no positional encoding");
    await fail(await convertJamba("jamba", opts({ drop: ["jamba.attention.head_count_kv"], extraKv: [["jamba.attention.head_count_kv", "array", [0, 2, 2, 0], "u32"]] })), "head_count_kv", "layers 1");
    await fail(await convertJamba("jamba", opts({ dropTensors: /blk\.1\.ffn_gate_inp/ })), "layer 1 has neither a router (blk.1.ffn_gate_inp.weight) nor an MLP");
    await fail(await convertJamba("jamba", opts({ extraTensors: [["blk.0.ffn_gate_inp.weight", [6, 64], new Float32Array(6 * 64)]] })), "routers (blk.N.ffn_gate_inp.weight) in layers 0, 1, 3, which no period");
    await fail(await convertJamba("jamba", opts({ extraTensors: [["blk.0.ssm_norm.weight", [128], new Float32Array(128)]] })), "blk.0.ssm_norm.weight", 'not a tensor of llama.cpp\'s "jamba"');
  });
});

describe("GGUF import: qwen3vlmoe", () => {
  it("qwen3_vl_moe: the \"qwen3vlmoe\" GGUF (the language model; experts split from gate_up_proj and transposed, a dense layer, M-RoPE sections) imports to the fixture's program and reproduces transformers' logits", async () => {
    // the file has the language model only: the fixture's config without its vision_config
    const { vision_config: _v, ...own } = configOf("qwen3_vl_moe");
    await check("qwen3_vl_moe", await convertQwen3VlMoe("qwen3_vl_moe", opts()), own, /^model\.visual\./, false);
  });

  it("what the GGUF cannot describe faithfully is an error naming the file and the key or tensor", async () => {
    await fail(await convertQwen3VlMoe("qwen3_vl_moe", opts({ drop: ["qwen3vlmoe.rope.dimension_sections"] })), '"qwen3vlmoe.rope.dimension_sections" is missing');
    await fail(await convertQwen3VlMoe("qwen3_vl_moe", opts({ drop: ["qwen3vlmoe.rope.dimension_sections"], extraKv: [["qwen3vlmoe.rope.dimension_sections", "array", [4, 2, 1, 0], "i32"]] })), "sum to 7, not half the head dim (8)");
    await fail(await convertQwen3VlMoe("qwen3_vl_moe", opts({ extraKv: [["qwen3vlmoe.expert_weights_norm", "bool", false]] })), '"qwen3vlmoe.expert_weights_norm" is false');
    await fail(await convertQwen3VlMoe("qwen3_vl_moe", opts({ dropTensors: /blk\.2\.ffn_up_exps/ })), "blk.2.ffn_gate_exps.weight", "ffn_up_exps");
    await fail(await convertQwen3VlMoe("qwen3_vl_moe", opts({ dropTensors: /blk\.1\.ffn_gate\.weight/ })), "layer 1 has neither a router");
    await fail(await convertQwen3VlMoe("qwen3_vl_moe", opts({ extraTensors: [["blk.0.ffn_gate_shexp.weight", [40, 64], new Float32Array(40 * 64)]] })), "blk.0.ffn_gate_shexp.weight", 'not a tensor of llama.cpp\'s "qwen3vlmoe"');
  });
});
