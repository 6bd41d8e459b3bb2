// GGUF import of the hybrid architectures "granitehybrid" (Granite-4.0-H) and "nemotron_h_moe" (Nemotron-H with
// experts): each Hugging Face fixture converted the way llama.cpp's convert_hf_to_gguf.py converts it
// (gguf-hybrid-convert.ts) imports to the program of the fixture's own config.json, binds the fixture's weights (bit
// for bit, or within one float32 rounding where the converter stored −exp(A_log)) and reproduces transformers' logits.
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
import { convertGlmDsa, convertGraniteHybrid, convertNemotronH } from "./gguf-hybrid-convert.js";

let dir: string;
beforeAll(async () => { dir = await mkdtemp(path.join(tmpdir(), "moec-gguf-hybrid-")); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });
const opts = <X extends object>(o: X = {} as X): Options & X => ({ dir, ...o });

const check = checkGgufAgainstFixture;

describe("GGUF import: granitehybrid, nemotron_h_moe, glm-dsa", () => {
  it("granitemoehybrid: the \"granitehybrid\" GGUF (Mamba-2 and attention, experts and shared MLP, q/k permuted, input_linear split) imports to the fixture's program and reproduces transformers' logits", async () => {
    // the file says what it can: layer_types as "mamba" / "attention", the 2^20 context the converter writes without RoPE
    const cfg = configOf("granitemoehybrid");
    await check("granitemoehybrid", await convertGraniteHybrid("granitemoehybrid", opts()), { ...cfg, max_position_embeddings: 2 ** 20 });
  });
  it("granitemoehybrid_dense: without experts (the shared MLP as ffn_gate / ffn_up / ffn_down)", async () => {
    const cfg = configOf("granitemoehybrid_dense");
    await check("granitemoehybrid_dense", await convertGraniteHybrid("granitemoehybrid_dense", opts()), { ...cfg, max_position_embeddings: 2 ** 20 });
  });
  it("granitemoehybrid_rope: with RoPE, stated as rope.scaling.finetuned = true (the converter writes false for any hybrid)", async () => {
    await check("granitemoehybrid_rope", await convertGraniteHybrid("granitemoehybrid_rope", opts({ rope: true })), configOf("granitemoehybrid_rope"));
  });
  it("nemotron_h: the \"nemotron_h_moe\" GGUF (Mamba-2 with groups, attention, MoE and MLP blocks) imports to the fixture's program and reproduces transformers' logits", async () => {
    const cfg = configOf("nemotron_h");
    await check("nemotron_h", await convertNemotronH("nemotron_h", opts()), { ...cfg, max_position_embeddings: 2 ** 20 });
  });

  it("glm_moe_dsa: the \"glm-dsa\" GGUF (MLA absorbed, indexer keys and tensors, a multi-token-prediction block appended) imports to the fixture's program and reproduces transformers' logits", async () => {
    // the file's leading_dense_block_count is the fixture's mlp_layer_types (one dense layer), not its
    // first_k_dense_replace (3), which transformers does not read when mlp_layer_types is given
    const { mlp_layer_types: _m, ...cfg } = configOf("glm_moe_dsa");
    const own = { ...cfg, first_k_dense_replace: 1 };
    await check("glm_moe_dsa", await convertGlmDsa("glm_moe_dsa", opts({ types: true, mtp: 1 })), own, /\.indexer\./);
    // without attention.indexer.types (gguf 0.19.0's converter has no such key): the same program
    await check("glm_moe_dsa", await convertGlmDsa("glm_moe_dsa", opts()), own, /\.indexer\./);
  });

  // measured against transformers with the experts quantised: 2.0e-2 for Granite (the same whether the blocks are kept
  // or dequantised on load, so the quantisation's own error, which its muP scales amplify), 4.9e-3 for Nemotron-H; a
  // wrong layout of the fused or stacked blocks gives errors of order 1
  for (const [name, convert, expert, bound] of [["granitemoehybrid", convertGraniteHybrid, "block_sparse_moe.input_linear.weight", 4e-2], ["nemotron_h", convertNemotronH, "mixer.experts.0.up_proj.weight", 2e-2]] as const) {
    it(`${name}: with Q8_0 experts, the experts keep their GGUF blocks and the logits stay within Q8_0's error of transformers'`, async () => {
      const file = await convert(name, opts({ q8Experts: true }));
      const { text, source } = await loadGgufModel(file);
      try {
        const n = source.names().find((x) => x.endsWith(expert))!;
        expect(source.storedFormat!(n)).toBe("q8_0");
        const graph = runPipeline(checkSource("gguf.moe", text).graph!).graph;
        const weights = await bindWeights(graph, source, file);
        const ids = JSON.parse(readFileSync(path.join(HF, name, "input_ids.json"), "utf8")) as number[];
        const raw = readFileSync(path.join(HF, name, "logits.f32"));
        const err = relativeError(promptLogits({ graph, weights }, ids).data, new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
        console.log(`GGUF ${name}, Q8_0 experts: relative error ${err.toExponential(2)}`);
        expect(err).toBeLessThan(bound);
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
    await fail(await convertGraniteHybrid("granitemoehybrid", opts({ drop: ["granitehybrid.attention.scale"] })), '"granitehybrid.attention.scale" is missing');
    await fail(await convertGraniteHybrid("granitemoehybrid", opts({ dropTensors: /blk\.0\.ffn_up_exps/ })), "blk.0.ffn_gate_exps.weight", "ffn_up_exps");
    await fail(await convertGraniteHybrid("granitemoehybrid", opts({ dropTensors: /blk\.2\.ssm_in/ })), "layers 2 have neither");
    await fail(await convertGraniteHybrid("granitemoehybrid", opts({ drop: ["granitehybrid.attention.head_count_kv"], extraKv: [["granitehybrid.attention.head_count_kv", "array", [0, 2, 2, 0], "u32"]] })), "head_count_kv", "layers 2");
    await fail(await convertNemotronH("nemotron_h", opts({ dropTensors: /exp_probs_b/ })), "exp_probs_b.bias");
    await fail(await convertNemotronH("nemotron_h", opts({ extraKv: [["nemotron_h_moe.expert_gating_func", "u32", 1]] })), '"nemotron_h_moe.expert_gating_func" is 1');
    await fail(await convertNemotronH("nemotron_h", opts({ drop: ["nemotron_h_moe.expert_weights_norm"] })), "expert_weights_norm");
    await fail(await convertNemotronH("nemotron_h", opts({ extraTensors: [["blk.0.attn_q.weight", [64, 64], new Float32Array(64 * 64)]] })), "block 0 has the tensors of mamba and attention blocks");
    await fail(await convertGlmDsa("glm_moe_dsa", opts({ extraKv: [["glm-dsa.expert_gating_func", "u32", 1]] })), '"glm-dsa.expert_gating_func" is 1');
    await fail(await convertGlmDsa("glm_moe_dsa", opts({ drop: ["glm-dsa.attention.indexer.top_k"] })), '"glm-dsa.attention.indexer.top_k" is missing');
    await fail(await convertGlmDsa("glm_moe_dsa", opts({ extraTensors: [["blk.1.indexer.attn_q_a.weight", [8, 8], new Float32Array(64)]] })), "blk.1.indexer.attn_q_a.weight", "indexer.attn_q_b.weight");
    // a block tensor the architecture does not have is named, not dropped
    await fail(await convertNemotronH("nemotron_h", opts({ extraTensors: [["blk.1.ffn_gate_exps.weight", [8, 32, 64], new Float32Array(8 * 32 * 64)]] })), "blk.1.ffn_gate_exps.weight", 'not a tensor of llama.cpp\'s "nemotron_h_moe"');
  });
});
