// DeepSeek Sparse Attention families (deepseek_v32, glm_moe_dsa): the program is dense MLA with the indexers left
// unbound, exact up to index_topk positions (exact_context), which bounds a run's context. Parity with
// transformers is in test/reference/parity.test.ts (fixtures with index_topk above the positions they use).
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { importHfConfig } from "../../compiler/import/hf.js";
import { loadGraph } from "../../compiler/run/load.js";
import { prefixMatcher } from "../../compiler/weights/bind.js";
import { fixture } from "../helpers/compile.js";

type Config = Record<string, unknown>;
const HF = fixture("hf");
const cfg = (name: string): Config => JSON.parse(readFileSync(join(HF, name, "config.json"), "utf8")) as Config;
const src = "models/x/config.json";

/** The program, with the header's comment lines joined (the notes are wrapped). */
function text(config: unknown): string {
  const r = importHfConfig(config, src);
  if ("error" in r) throw new Error(r.error);
  return r.text.replace(/\n\/\/ /g, " ");
}

function errorOf(config: unknown): string {
  const r = importHfConfig(config, src);
  if (!("error" in r)) throw new Error(`expected an error, got a program:\n${r.text}`);
  return r.error;
}

describe("DeepSeek Sparse Attention import", () => {
  it("states exact_context = index_topk and leaves every layer's indexer unbound", () => {
    for (const [name, topk] of [["deepseek_v32", 32], ["glm_moe_dsa", 24]] as const) {
      const t = text(cfg(name));
      expect(t).toContain(`const exact_context = ${topk}`);
      expect(t).toContain('const unused_weights = "model.layers.*.self_attn.indexer."');
      expect(t).toContain(`the index_topk = ${topk} keys its indexer`);
    }
    expect(text({ ...cfg("deepseek_v32"), index_topk: 4096 })).toContain("const exact_context = 4096");
  });

  it("a run's context is exact_context unless the trained context is smaller", async () => {
    const g = await loadGraph(join(HF, "deepseek_v32"));
    if (!("hfDir" in g)) throw new Error("does not import");
    expect(g.context?.positions).toBe(32);
    expect(g.context?.source).toMatch(/^exact_context in the program imported from .*deepseek_v32\/config\.json/);
    const glm = await loadGraph(join(HF, "glm_moe_dsa"));
    if (!("hfDir" in glm)) throw new Error("does not import");
    expect(glm.context?.positions).toBe(24);
  });

  it("refuses what transformers' classes cannot build or the program cannot express, naming key, value and file", () => {
    const c = cfg("deepseek_v32");
    const e1 = errorOf({ ...c, q_lora_rank: null });
    expect(e1).toContain("q_lora_rank");
    expect(e1).toContain(src);
    expect(errorOf({ ...c, layer_types: ["deepseek_sparse_attention", "full_attention", "deepseek_sparse_attention"] })).toContain('"full_attention"');
    expect(errorOf({ ...c, index_topk: 0 })).toContain("index_topk");
    expect(errorOf({ ...c, rope_interleave: false })).toContain("rope_interleave");
    expect(errorOf({ ...c, scoring_func: "softmax" })).toContain("scoring_func");
    expect(errorOf({ ...c, some_new_key: 1 })).toContain("some_new_key");
  });

  it("mlp_layer_types decides the dense layers; a first_k_dense_replace that disagrees is a note (transformers reads mlp_layer_types)", () => {
    const c = cfg("glm_moe_dsa"); // saved with first_k_dense_replace 3 and mlp_layer_types [dense, sparse, sparse]
    const t = text(c);
    expect(t).toContain("first_k_dense_replace = 3 disagrees with mlp_layer_types");
    const { mlp_layer_types: _m, ...rest } = c;
    const t1 = text({ ...rest, first_k_dense_replace: 1 });
    expect(t1).toContain("first_dense = 1");
    expect(t1).toContain("sparse = i >= first_dense");
    expect(t1).not.toContain("disagrees");
  });

  it("GLM-5's indexer schedule keys are accepted as notes", () => {
    const t = text({ ...cfg("glm_moe_dsa"), index_topk_freq: 4, index_skip_topk_offset: 3, indexer_rope_interleave: true });
    expect(t).toContain("index_topk_freq = 4: an indexer setting");
    expect(t).toContain("indexer_rope_interleave = true: an indexer setting");
  });
});

describe("unused_weights prefixes", () => {
  it("a * stands for one dot-free name segment", () => {
    const m = prefixMatcher("model.layers.*.self_attn.indexer.");
    expect(m("model.layers.0.self_attn.indexer.wk.weight")).toBe(true);
    expect(m("model.layers.60.self_attn.indexer.k_norm.bias")).toBe(true);
    expect(m("model.layers.0.self_attn.q_a_proj.weight")).toBe(false);
    expect(m("model.layers..self_attn.indexer.wk.weight")).toBe(false);
    expect(m("model.layers.0.1.self_attn.indexer.wk.weight")).toBe(false);
    expect(prefixMatcher("model.visual.")("model.visual.blocks.0.attn.qkv.weight")).toBe(true);
    expect(prefixMatcher("a+b.")("aab.x")).toBe(false);
  });
});
