// The families of issue 13 and the keys real configs carry: the published configs under examples/<name>/
// import to the committed examples/<name>.moe with the parameter counts transformers 5.17 builds from them;
// keys whose value is the family's behaviour are accepted and other values are errors naming key, value and
// file; a model_type moec does not know imports through its architectures[0] class.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { importHfConfig } from "../../compiler/import/hf.js";
import { checkSource, formatDiagnostics, modelStats, printGraph, type Graph, type Node, type RouterAttr } from "../../compiler/index.js";
import { formatSource } from "../../compiler/format/index.js";
import { expectedTensors, fixture, ROOT } from "../helpers/compile.js";

type Config = Record<string, unknown>;
const EXAMPLES = join(ROOT, "examples");
const HF = fixture("hf");
const json = (path: string): Config => JSON.parse(readFileSync(path, "utf8")) as Config;

function imported(config: unknown, source = "config.json"): string {
  const r = importHfConfig(config, source);
  if ("error" in r) throw new Error(r.error);
  return r.text;
}

function errorOf(config: unknown, source = "models/x/config.json"): string {
  const r = importHfConfig(config, source);
  if (!("error" in r)) throw new Error(`expected an error, got a program:\n${r.text}`);
  return r.error;
}

function graphOf(text: string): Graph {
  const c = checkSource("imported.moe", text);
  if (!c.graph || c.diagnostics.length > 0) throw new Error(formatDiagnostics(c.diagnostics, { sources: new Map([["imported.moe", text]]) }));
  return c.graph;
}

const nodes = (g: Graph, op: string): Node[] => g.nodes.filter((n) => n.op === op);

/** Parameters as transformers counts them: without the e_score_correction_bias and layer_scalar (Gemma-4) buffers. */
function hfParams(g: Graph): number {
  let buffers = 0;
  for (const [n, t] of expectedTensors(g)) if (n.endsWith(".e_score_correction_bias") || n.endsWith(".layer_scalar")) buffers += t.reduce((a, b) => a * b, 1);
  return modelStats(g).totalParams - buffers;
}

// ---- the published configs -------------------------------------------------------------------

/**
 * For each examples/<name>/config.json: the parameter count transformers 5.17 builds from it
 * (AutoModelForCausalLM.from_config on the meta device, kimi_k2 read as deepseek_v3), and the published
 * figures with the counting convention the source uses (see examples/README.md).
 */
const PUBLISHED: Record<string, { hf: number; total: number; active: number; activeCounts: "all" | "no-input-embedding" | "no-embeddings" | null; unbound?: "dsa-indexer" }> = {
  "glm-4.5": { hf: 352797814784, total: 355e9, active: 32e9, activeCounts: "no-embeddings" },
  "glm-4.5-air": { hf: 106852245504, total: 106e9, active: 12e9, activeCounts: "no-embeddings" },
  "glm-4.7-flash": { hf: 29943390976, total: 30e9, active: 3e9, activeCounts: null },
  "solar-open-100b": { hf: 102651793408, total: 102.6e9, active: 12e9, activeCounts: "all" },
  "dots.llm1": { hf: 142774373888, total: 142e9, active: 14e9, activeCounts: "all" },
  "granite-3.0-3b-a800m": { hf: 3298793472, total: 3.3e9, active: 0.8e9, activeCounts: "no-input-embedding" },
  "kimi-k2": { hf: 1026408209408, total: 1.04e12, active: 32e9, activeCounts: "no-input-embedding" },
  "qwen3-coder-480b-a35b": { hf: 480154875392, total: 480e9, active: 35e9, activeCounts: "all" },
  "flexolmo-7x7b": { hf: 33270665216, total: 33e9, active: 33e9, activeCounts: "all" },
  // the language model only (Llama4ForCausalLM of text_config); the published 109 B include the 0.87 B vision tower
  "llama-4-scout-17b-16e": { hf: 107769861120, total: 109e9, active: 17e9, activeCounts: "all" },
  // transformers' count includes the DSA indexers, which the program leaves unbound (exact up to index_topk positions)
  "deepseek-v3.2": { hf: 671877929216, total: 671e9, active: 37e9, activeCounts: "no-input-embedding", unbound: "dsa-indexer" },
  "glm-5": { hf: 743911199232, total: 744e9, active: 40e9, activeCounts: "no-input-embedding", unbound: "dsa-indexer" },
  "nemotron-3-nano-30b-a3b": { hf: 31577937344, total: 31.6e9, active: 3.2e9, activeCounts: "no-input-embedding" },
  // hf: counted by hand from modeling_granitemoehybrid.py's modules (embedding 154.1 M tied; 40 × (64 experts 151.0 M
  // with router, shared MLP 4.7 M, two norms); 36 Mamba-2 mixers of 14.64 M; 4 attentions of 6.29 M; final norm).
  // "1B active" is a size class: 1.31 B without the embedding table
  "granite-4.0-h-tiny": { hf: 6939037248, total: 7e9, active: 1e9, activeCounts: null },
  // hf: counted by hand from modeling_gemma4.py's modules (embedding 738.2 M tied; 25 sliding layers of 814.09 M and 5
  // full ones of 828.51 M: attention, dense MLP, 128 experts, router proj/scale/per_expert_scale, seven norms; final norm)
  "gemma-4-26b-a4b": { hf: 25233141760, total: 25.2e9, active: 3.8e9, activeCounts: "all" },
  // hf: counted by hand from modeling_jamba.py's modules (embedding and lm_head 268.4 M each; 28 Mamba-1 mixers of
  // 105.31 M, 4 attentions of 41.94 M, 16 MLPs of 176.16 M, 16 × (16 experts + router) of 2818.64 M, 65 norms). The
  // published 12 B active says nothing of the embedding tables; counting both gives 12.11 B (+0.9%)
  "jamba-v0.1": { hf: 51570323328, total: 52e9, active: 12e9, activeCounts: "all" },
};

/** The parameters of the DeepSeek Sparse Attention indexers (wq_b, wk, k_norm with bias, weights_proj), from the config. */
function indexerParams(c: Config): number {
  const n = c["num_hidden_layers"] as number, d = c["hidden_size"] as number, q = c["q_lora_rank"] as number;
  const heads = c["index_n_heads"] as number, hd = c["index_head_dim"] as number;
  return n * (q * heads * hd + d * hd + 2 * hd + d * heads);
}

describe("published configs (examples/<name>/config.json)", () => {
  const names = readdirSync(EXAMPLES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(EXAMPLES, d.name, "config.json")) && d.name !== "tiny-mixtral")
    .map((d) => d.name)
    .sort();

  it("every one is listed with its published counts", () => {
    expect(names).toEqual(Object.keys(PUBLISHED).sort());
  });

  for (const name of names) {
    describe(name, () => {
      const source = `examples/${name}/config.json`;
      const text = imported(json(join(EXAMPLES, name, "config.json")), source);
      const graph = graphOf(text);
      const p = PUBLISHED[name]!;

      it("has transformers' parameter count, and the published total within 2.5%", () => {
        const unbound = p.unbound === "dsa-indexer" ? indexerParams(json(join(EXAMPLES, name, "config.json"))) : 0;
        expect(hfParams(graph) + unbound).toBe(p.hf);
        expect(Math.abs(modelStats(graph).totalParams - p.total) / p.total).toBeLessThan(0.025);
      });

      it("has the published active count under the source's convention, within 2.5%", () => {
        if (p.activeCounts === null) return; // "A3B" names a class, not a count
        const s = modelStats(graph);
        const tables = p.activeCounts === "all" ? 0 : p.activeCounts === "no-input-embedding" ? s.embeddingParams : 2 * s.embeddingParams;
        expect(Math.abs(s.activeParams - tables - p.active) / p.active).toBeLessThan(0.025);
      });

      it("is examples/<name>.moe: the import, under the file's header comment, in moec's format", async () => {
        const committed = readFileSync(join(EXAMPLES, `${name}.moe`), "utf8");
        const at = committed.indexOf("// Imported by `moec import`");
        expect(at).toBeGreaterThan(0);
        expect(await formatSource(committed.slice(0, at) + text, `${name}.moe`)).toBe(committed);
      });
    });
  }
});

// ---- keys whose value changes nothing ----------------------------------------------------------

describe("Qwen3-Coder's Qwen2-MoE keys", () => {
  const coder = json(join(EXAMPLES, "qwen3-coder-480b-a35b", "config.json"));
  const src = "Qwen3-Coder/config.json";

  it("import when each has the value that is Qwen3-MoE's behaviour, to the same IR as without them", () => {
    const { qkv_bias: _a, shared_expert_intermediate_size: _b, use_qk_norm: _c, ...plain } = coder;
    expect(printGraph(graphOf(imported(coder)))).toBe(printGraph(graphOf(imported(plain))));
  });

  it("are errors naming key, value and file when the value would change the model", () => {
    const cases: [string, unknown, RegExp][] = [
      ["use_qk_norm", false, /"use_qk_norm" is false; transformers' qwen3_moe always applies the per-head q\/k RMSNorm/],
      ["shared_expert_intermediate_size", 2560, /"shared_expert_intermediate_size" is 2560; transformers' qwen3_moe has no shared expert/],
      ["qkv_bias", true, /"qkv_bias" is true; transformers' qwen3_moe takes the q\/k\/v biases from attention_bias \(false\)/],
    ];
    for (const [key, value, re] of cases) {
      const msg = errorOf({ ...coder, [key]: value }, src);
      expect(msg.startsWith(`${src}: "${key}"`), msg).toBe(true);
      expect(msg).toMatch(re);
    }
  });

  it("qkv_bias follows attention_bias", () => {
    const g = graphOf(imported({ ...coder, attention_bias: true, qkv_bias: true }));
    for (const n of nodes(g, "attention")) expect(n.attrs).toMatchObject({ bias: true, outBias: true });
  });

  it("fp8 storage (the -FP8 checkpoints) is a note; other quantization is an error", () => {
    const fp8 = { quant_method: "fp8", fmt: "e4m3", activation_scheme: "dynamic", weight_block_size: [128, 128] };
    expect(imported({ ...coder, quantization_config: fp8 })).toContain("quantization_config (fp8)");
    expect(errorOf({ ...coder, quantization_config: { quant_method: "gptq" } }, src)).toContain('"quantization_config.quant_method" is "gptq"');
  });
});

describe("a model_type moec does not know, for a class it does", () => {
  const kimi = json(join(EXAMPLES, "kimi-k2", "config.json"));

  it("Kimi-K2 (kimi_k2, DeepseekV3ForCausalLM) imports as deepseek_v3, with a note", () => {
    const text = imported(kimi, "kimi/config.json");
    expect(text).toContain('model_type "kimi_k2" is not one moec knows; architectures[0] is DeepseekV3ForCausalLM');
    expect(text).toContain("Family deepseek_v3 (DeepseekV3ForCausalLM)");
    const asV3 = imported({ ...kimi, model_type: "deepseek_v3" }, "kimi/config.json");
    expect(printGraph(graphOf(text))).toBe(printGraph(graphOf(asV3)));
  });

  it("the config is read with that family's keys: an unknown key is still an error", () => {
    const msg = errorOf({ ...kimi, moe_magic: 1 });
    expect(msg).toContain('"moe_magic"');
    expect(msg).toContain('model_type "deepseek_v3" (read for model_type "kimi_k2")');
  });

  it("an unknown class is an error naming model_type and architectures", () => {
    const msg = errorOf({ model_type: "kimi_k3", architectures: ["KimiK3ForCausalLM"], hidden_size: 8 });
    expect(msg).toContain('unsupported "model_type" "kimi_k3" with "architectures" ["KimiK3ForCausalLM", ...]');
    expect(msg).toContain("DeepseekV3ForCausalLM");
    expect(errorOf({ model_type: "llama", hidden_size: 8 })).toContain('unsupported "model_type" "llama";');
  });
});

// ---- the new families' options and refusals ----------------------------------------------------

describe("new families: defaults, options and refusals", () => {
  const cfg = (name: string): Config => json(join(HF, name, "config.json"));
  const src = "models/x/config.json";
  const router = (g: Graph): RouterAttr => nodes(g, "moe")[0]!.attrs["router"] as RouterAttr;

  it("glm4_moe: without partial_rotary_factor, Glm4MoeConfig's 0.5 rotates half of each head", () => {
    const { rope_parameters, ...rest } = cfg("glm4_moe") as { rope_parameters: Config };
    const { partial_rotary_factor: _p, ...rope } = rope_parameters;
    for (const c of [{ ...rest, rope_parameters: rope }, { ...rest, rope_parameters: rope, partial_rotary_factor: 0.5 }]) {
      for (const n of nodes(graphOf(imported(c)), "attention")) expect(n.attrs["rope"]).toMatchObject({ dim: 12 });
    }
    for (const n of nodes(graphOf(imported({ ...rest, rope_parameters: { ...rope, partial_rotary_factor: 1.0 } })), "attention")) {
      expect(n.attrs["rope"]).toMatchObject({ dim: 24 });
    }
  });

  it("glm4_moe: the DeepSeek-V3 router's fixed settings are checked", () => {
    const c = cfg("glm4_moe");
    expect(imported({ ...c, scoring_func: "sigmoid", topk_method: "noaux_tc", moe_layer_freq: 1 })).toContain("model Glm4Moe");
    expect(errorOf({ ...c, scoring_func: "softmax" }, src)).toMatch(/"scoring_func" is "softmax", which moec import does not support for model_type "glm4_moe"/);
    expect(errorOf({ ...c, moe_layer_freq: 2 }, src)).toContain('"moe_layer_freq" is 2');
    expect(errorOf({ ...c, n_shared_experts: 0 }, src)).toContain('"n_shared_experts" is 0');
    expect(errorOf({ ...c, n_group: 5 }, src)).toContain('"n_group" is 5, which does not divide the 12 routed experts');
  });

  it("glm4_moe: multi-token-prediction layers are a note", () => {
    expect(imported(cfg("glm4_moe"))).toContain("num_nextn_predict_layers = 1: the multi-token-prediction layers (model.layers.3 on)");
  });

  it("glm4_moe_lite: mlp_layer_types decides the dense layers; first_k_dense_replace must agree", () => {
    const c = cfg("glm4_moe_lite");
    expect(imported({ ...c, first_k_dense_replace: 1 })).toContain("model Glm4MoeLite");
    expect(errorOf({ ...c, first_k_dense_replace: 2 }, src)).toContain('"first_k_dense_replace" is 2, but mlp_layer_types');
    const { mlp_layer_types: _t, ...noTypes } = c;
    const sparse = (g: Graph) => Array.from({ length: 3 }, (_, i) => nodes(g, "moe").some((n) => n.layer === i));
    expect(sparse(graphOf(imported(noTypes)))).toEqual([false, true, true]);
    expect(errorOf({ ...noTypes, first_k_dense_replace: 2 }, src)).toContain("does not read it: without mlp_layer_types only layer 0 is dense");
    expect(sparse(graphOf(imported({ ...c, mlp_layer_types: ["sparse", "dense", "sparse"] })))).toEqual([true, false, true]);
    expect(errorOf({ ...c, mlp_layer_types: ["dense", "moe", "sparse"] }, src)).toContain('"mlp_layer_types" contains "moe"');
  });

  it("solar_open: keys of GLM-4.5 it does not use are accepted only at values that change nothing", () => {
    const c = cfg("solar_open");
    expect(imported({ ...c, first_k_dense_replace: 0, intermediate_size: 10240, use_qk_norm: false })).toContain("intermediate_size = 10240");
    expect(errorOf({ ...c, first_k_dense_replace: 1 }, src)).toContain('"first_k_dense_replace" is 1; transformers\' solar_open makes every layer MoE');
    expect(errorOf({ ...c, use_qk_norm: true }, src)).toContain('"use_qk_norm" is true');
  });

  it("dots1: published configs' null n_group / topk_group mean one group, with a note", () => {
    const text = imported({ ...cfg("dots1"), n_group: null, topk_group: null });
    expect(text).toContain("n_group / topk_group are null");
    expect(router(graphOf(text))).toMatchObject({ groups: 1 });
  });

  it("dots1: without layer_types, layers from max_window_layers on slide when sliding_window is set", () => {
    const { layer_types: _l, ...c } = cfg("dots1");
    const windows = (x: Config) => nodes(graphOf(imported(x)), "attention").map((n) => n.attrs["window"]);
    expect(windows({ ...c, max_window_layers: 1 })).toEqual([null, 5, 5]);
    expect(windows({ ...c, sliding_window: null })).toEqual([null, null, null]);
  });

  it("granitemoe: the multipliers are scale ops; attention_multiplier is the softmax scale even at its default", () => {
    const g = graphOf(imported(cfg("granitemoe")));
    const factors = nodes(g, "scale").map((n) => n.attrs["factor"]);
    expect(factors).toEqual([0.5, 0.22, 0.22, 0.22, 0.22, 0.25]); // embedding, 2 layers × 2 branches, 1 / logits_scaling
    const { attention_multiplier: _m, ...noMult } = cfg("granitemoe");
    const text = imported(noMult);
    expect(text).toContain("attention_multiplier is absent: transformers' default 1.0 is the softmax scale");
    for (const n of nodes(graphOf(text), "attention")) expect(n.attrs["scale"]).toBe(1);
  });

  it("granitemoe: the fused experts need SiLU; a zero multiplier is an error", () => {
    expect(errorOf({ ...cfg("granitemoe"), hidden_act: "gelu" }, src)).toContain('"hidden_act" is "gelu"');
    expect(errorOf({ ...cfg("granitemoe"), residual_multiplier: 0 }, src)).toContain('"residual_multiplier" is 0');
  });

  it("granitemoeshared: shared_intermediate_size 0 is no shared MLP", () => {
    const c = { ...cfg("granitemoeshared"), shared_intermediate_size: 0 };
    const text = imported(c);
    expect(text).toContain("shared_intermediate_size is 0: no shared MLP");
    expect([...expectedTensors(graphOf(text)).keys()].some((n) => n.includes("shared_mlp"))).toBe(false);
  });

  it("minimax_m2: the keys of MiniMax's published config import at the values transformers' class has, to the same IR", () => {
    const c = cfg("minimax_m2");
    const published = {
      use_qk_norm: true, qk_norm_type: "per_layer", scoring_func: "sigmoid", use_routing_bias: true, shared_intermediate_size: 0,
      attn_type_list: [1, 1], use_mtp: true, num_mtp_modules: 3, mtp_transformer_layers: 1, rotary_dim: 8,
      quantization_config: { quant_method: "fp8", activation_scheme: "dynamic", fmt: "float8_e4m3fn", weight_block_size: [128, 128] },
    };
    expect(printGraph(graphOf(imported({ ...c, ...published })))).toBe(printGraph(graphOf(imported(c))));
    expect(errorOf({ ...c, rotary_dim: 16 }, src)).toContain('"rotary_dim" is 16, but transformers\' minimax_m2 ignores it and rotates 8');
    expect(errorOf({ ...c, attn_type_list: [0, 1] }, src)).toContain('"attn_type_list" is [0,1]');
    expect(errorOf({ ...c, qk_norm_type: "per_head" }, src)).toContain('"qk_norm_type" is "per_head"');
    expect(errorOf({ ...c, shared_intermediate_size: 512 }, src)).toContain('"shared_intermediate_size" is 512');
    expect(errorOf({ ...c, use_routing_bias: false }, src)).toContain(src);
  });

  it("flex_olmo: clip_qkv null (published configs) is accepted, a value is an error", () => {
    expect(imported({ ...cfg("flex_olmo"), clip_qkv: null })).toContain("model FlexOlmo");
    expect(errorOf({ ...cfg("flex_olmo"), clip_qkv: 8 }, src)).toContain('"clip_qkv" is 8, but transformers\' flex_olmo does not clip');
  });
});

// ---- jamba (Jamba) --------------------------------------------------------------------------------

describe("jamba: layer kinds, options and refusals (the published Jamba-v0.1 config)", () => {
  const v01 = json(join(EXAMPLES, "jamba-v0.1", "config.json"));
  const src = "models/x/config.json";
  const small = (over: Config): Config => ({
    ...v01, vocab_size: 96, hidden_size: 48, num_hidden_layers: 5, num_attention_heads: 6, num_key_value_heads: 2, intermediate_size: 40,
    num_experts: 4, mamba_dt_rank: 5, mamba_d_state: 6, attn_layer_period: 3, attn_layer_offset: 1, expert_layer_period: 2, expert_layer_offset: 0, ...over,
  });

  it("the mixer and feed-forward of each layer follow the periods and offsets; the mamba op takes the config's sizes", () => {
    const g = graphOf(imported(small({})));
    expect(nodes(g, "mamba").map((n) => n.layer)).toEqual([0, 2, 3]);
    expect(nodes(g, "attention").map((n) => n.layer)).toEqual([1, 4]);
    expect(nodes(g, "moe").map((n) => n.layer)).toEqual([0, 2, 4]);
    expect(nodes(g, "mamba")[0]!.attrs).toMatchObject({ inner: 96, stateDim: 6, dtRank: 5, kernel: 4, convBias: true, projBias: false, normEps: 1e-6 });
    expect(nodes(g, "moe")[0]!.attrs["router"]).toMatchObject({ k: 2, scoring: "softmax", renormalize: false });
    // mamba_dt_rank "auto" is ⌈hidden_size / 16⌉; the projection and conv biases follow their keys
    const auto = graphOf(imported(small({ mamba_dt_rank: "auto", mamba_conv_bias: false, mamba_proj_bias: true })));
    expect(nodes(auto, "mamba")[0]!.attrs).toMatchObject({ dtRank: 3, convBias: false, projBias: true });
    const names = [...expectedTensors(auto).keys()];
    expect(names).toContain("model.layers.0.mamba.in_proj.bias");
    expect(names.some((n) => n.endsWith("conv1d.bias"))).toBe(false);
  });

  it("num_experts 1: every feed-forward is the MLP; a period with its offset past the layers leaves one kind", () => {
    const dense = imported(small({ num_experts: 1 }));
    expect(dense).toContain("num_experts is 1: every feed-forward is a plain MLP");
    expect(nodes(graphOf(dense), "moe")).toHaveLength(0);
    const allMamba = graphOf(imported(small({ attn_layer_period: 8, attn_layer_offset: 6 })));
    expect([nodes(allMamba, "mamba").length, nodes(allMamba, "attention").length]).toEqual([5, 0]);
  });

  it("refuses what it cannot express, naming the key and value", () => {
    expect(errorOf(small({ sliding_window: 4 }), src)).toContain('"sliding_window" is 4; sliding-window attention is not supported for jamba');
    expect(errorOf(small({ hidden_act: "gelu" }), src)).toContain('"hidden_act" is "gelu"');
    expect(errorOf(small({ attn_layer_offset: 3 }), src)).toContain('"attn_layer_offset" is 3; it must be between 0 and attn_layer_period − 1 (2)');
    expect(errorOf(small({ num_experts_per_tok: 5 }), src)).toContain('"num_experts_per_tok" is 5, more than the 4 experts');
    expect(errorOf(small({ mamba_inner_layernorms: false }), src)).toContain('unknown key "mamba_inner_layernorms"');
  });
});

// ---- granitemoehybrid (Granite-4.0-H) ------------------------------------------------------------

describe("granitemoehybrid: layer kinds, options and refusals (the published Granite-4.0-H-Tiny config)", () => {
  const tiny = json(join(EXAMPLES, "granite-4.0-h-tiny", "config.json"));
  const src = "models/x/config.json";
  const small = (over: Config): Config => ({
    ...tiny, vocab_size: 96, hidden_size: 48, num_hidden_layers: 3, layer_types: ["mamba", "attention", "mamba"], num_attention_heads: 6,
    num_key_value_heads: 2, num_local_experts: 5, num_experts_per_tok: 2, mamba_n_heads: 6, mamba_d_head: 16, mamba_d_state: 12, ...over,
  });

  it("one mamba2 per Mamba layer, one attention per other layer, both scaled by residual_multiplier", () => {
    const g = graphOf(imported(small({})));
    expect(nodes(g, "mamba2").map((n) => n.layer)).toEqual([0, 2]);
    expect(nodes(g, "attention").map((n) => n.layer)).toEqual([1]);
    const m = nodes(g, "mamba2")[0]!.attrs;
    expect(m).toMatchObject({ heads: 6, headDim: 16, stateDim: 12, groups: 1, kernel: 4, dtMin: 0, normEps: 1e-5 });
    // attention: NoPE, softmax scale attention_multiplier; embedding, 3 layers × 2 branches, 1 / logits_scaling
    const a = nodes(g, "attention")[0]!.attrs;
    expect(a["rope"] ?? null).toBeNull();
    expect(a["scale"]).toBe(0.0078125);
    expect(nodes(g, "scale").map((n) => n.attrs["factor"])).toEqual([12, 0.22, 0.22, 0.22, 0.22, 0.22, 0.22, 1 / 6]);
    // layer_types absent: every layer is Mamba-2 (the class's layers_block_type default)
    const { layer_types: _l, ...noTypes } = small({});
    const all = graphOf(imported(noTypes));
    expect([nodes(all, "mamba2").length, nodes(all, "attention").length]).toEqual([3, 0]);
    // layers_block_type is the other spelling
    expect(printGraph(graphOf(imported({ ...noTypes, layers_block_type: ["mamba", "attention", "mamba"] })))).toBe(printGraph(g));
  });

  it("position_embedding_type \"rope\" rotates the attention with rope_theta; \"nope\" notes the unused RoPE keys", () => {
    const roped = graphOf(imported(small({ position_embedding_type: "rope", rope_theta: 5e5 })));
    expect(nodes(roped, "attention")[0]!.attrs["rope"]).toMatchObject({ theta: 5e5, dim: 8, style: "half" });
    expect(imported(small({}))).toContain('rope_theta = 10000: position_embedding_type is "nope"');
    expect(errorOf(small({ position_embedding_type: "absolute" }), src)).toContain('"position_embedding_type" is "absolute"');
  });

  it("num_local_experts 0: the feed-forward is the shared MLP alone (Granite-4.0-H-Micro's shape)", () => {
    const text = imported(small({ num_local_experts: 0, num_experts_per_tok: 0 }));
    expect(text).toContain("num_local_experts is 0: every layer's feed-forward is the shared MLP alone");
    const g = graphOf(text);
    expect(nodes(g, "moe")).toHaveLength(0);
    const names = [...expectedTensors(g).keys()];
    expect(names.filter((n) => n.includes("shared_mlp")).length).toBe(6);
    expect(names.some((n) => n.includes("block_sparse_moe"))).toBe(false);
  });

  it("refuses what transformers computes differently: grouped Mamba-2 norm, projection biases, other activations", () => {
    expect(errorOf(small({ mamba_n_groups: 2 }), src)).toMatch(/"mamba_n_groups" is 2; .*normalises the whole 96-wide Mamba-2 output in one RMSNorm/);
    expect(errorOf(small({ mamba_proj_bias: true }), src)).toContain('"mamba_proj_bias" is true');
    expect(errorOf(small({ hidden_act: "gelu" }), src)).toContain('"hidden_act" is "gelu"');
    expect(errorOf(small({ mlp_bias: true }), src)).toContain('"mlp_bias" is true');
    expect(errorOf(small({ mamba_d_head: 8 }), src)).toContain('"mamba_d_head" is 8: 6 heads of 8 are not mamba_expand × hidden_size (96)');
    expect(errorOf(small({ layer_types: ["mamba", "attention", "mlp"] }), src)).toContain('"layer_types" contains "mlp"');
    expect(errorOf(small({ layer_types: ["mamba"] }), src)).toContain('"layer_types" has 1 entries for 3 layers');
    expect(errorOf(small({ residual_multiplier: 0 }), src)).toContain('"residual_multiplier" is 0');
    expect(errorOf(small({ mamba_chunk_sizes: 8 }), src)).toContain('unknown key "mamba_chunk_sizes"');
  });

  it("time_step_limit: its lower bound is mamba2's dt_min (0 and no clamp by default); a finite upper bound is refused", () => {
    const inf = { __float__: "Infinity" }; // how transformers 5.17 writes infinity into config.json
    expect(nodes(graphOf(imported(small({ time_step_limit: [0, inf] }))), "mamba2")[0]!.attrs["dtMin"]).toBe(0);
    expect(nodes(graphOf(imported(small({ time_step_limit: [0.01, inf] }))), "mamba2")[0]!.attrs["dtMin"]).toBe(0.01);
    expect(errorOf(small({ time_step_limit: [0, 10] }), src)).toContain("the upper bound must be infinity");
    expect(errorOf(small({ time_step_limit: [0.5] }), src)).toContain('"time_step_limit" must be [low, high]');
  });

  it("transformers 5.17's layer_types spelling (linear_attention / full_attention) is the released one's", () => {
    const g = graphOf(imported(small({})));
    expect(printGraph(graphOf(imported(small({ layer_types: ["linear_attention", "full_attention", "linear_attention"] }))))).toBe(printGraph(g));
  });

  it("mamba_d_head \"auto\" is mamba_expand × hidden_size / mamba_n_heads; no conv bias without mamba_conv_bias", () => {
    const g = graphOf(imported(small({ mamba_d_head: "auto", mamba_conv_bias: false })));
    expect(nodes(g, "mamba2")[0]!.attrs).toMatchObject({ headDim: 16, convBias: false });
    expect([...expectedTensors(g).keys()].some((n) => n.endsWith("conv1d.bias"))).toBe(false);
  });
});

describe("families transformers has that moec does not import yet are refused with the reason", () => {
  it("minimax: the error names what the language lacks and where the full list is", () => {
    const minimax = errorOf({ model_type: "minimax", architectures: ["MiniMaxForCausalLM"], hidden_size: 64 });
    expect(minimax).toContain('models/x/config.json: "model_type" "minimax" is not imported by moec yet: its lightning (linear) attention layers');
    expect(minimax).toContain('dsl-spec/IMPORT.md, "Families not imported yet"');
    // an unknown model_type still lists the supported ones
    expect(errorOf({ model_type: "jamba2" })).toContain('unsupported "model_type" "jamba2"; moec import supports');
  });
});

// ---- gemma4_text / gemma4 (Gemma-4) -----------------------------------------------------------------

describe("gemma4_text: the fixture's config, the pre-5.15 spelling and the refusals", () => {
  const fx = json(join(HF, "gemma4_moe", "config.json"));
  const src = "models/x/config.json";

  it("sliding and full attention, the router on the residual stream with its per-expert scale, layer_scalar, softcap", () => {
    const g = graphOf(imported(fx));
    const att = nodes(g, "attention");
    expect(att.map((n) => n.layer)).toEqual([0, 1, 2]);
    for (const n of att.slice(0, 2)) {
      expect(n.attrs).toMatchObject({ heads: 4, kvHeads: 2, headDim: 16, window: 5, qkNorm: "head", vNorm: true, scale: 1, normEps: 1e-6 });
      expect(n.attrs["vName"]).toBeUndefined();
      expect(n.attrs["rope"]).toEqual({ theta: 10000, dim: 16, style: "half", scaling: null });
    }
    // the full layer: per_layer_config's head dim 32 and one KV head, k = v, proportional RoPE rotating 2·⌊0.25·32/2⌋ = 8 dims
    expect(att[2]!.attrs).toMatchObject({ heads: 4, kvHeads: 1, headDim: 32, window: null, vNorm: true, vName: "k_proj", scale: 1 });
    expect(att[2]!.attrs["rope"]).toEqual({ theta: 1e6, dim: 32, style: "half", scaling: { type: "proportional", rotated: 8, factor: 1 } });
    const moe = nodes(g, "moe");
    expect(moe.map((n) => n.name)).toEqual(["model.layers.0", "model.layers.1", "model.layers.2"]);
    expect(moe[0]!.attrs["router"]).toMatchObject({ k: 2, scoring: "softmax", renormalize: true, pregated: true, expertScale: true });
    expect(moe[0]!.attrs["expertScaleName"]).toBe("router.per_expert_scale");
    expect(nodes(g, "learned_scale").map((n) => n.name)).toEqual(["model.layers.0.layer_scalar", "model.layers.1.layer_scalar", "model.layers.2.layer_scalar"]);
    // embedding × 8, router input × 64^-1/2 in each layer, the logits / 30 then × 30
    expect(nodes(g, "scale").map((n) => n.attrs["factor"])).toEqual([8, 0.125, 0.125, 0.125, 1 / 30, 30]);
    expect(nodes(g, "tanh")).toHaveLength(1);
    // every tensor of the checkpoint, with its shape (meta.json lists them), and nothing else
    const meta = json(join(HF, "gemma4_moe", "meta.json")) as { tensor_names: string[] };
    const want = new Map(meta.tensor_names.map((t) => { const [n, sh] = t.split(" [") as [string, string]; return [n, sh.slice(0, -1).split(", ").map(Number)]; }));
    expect(new Map([...expectedTensors(g)].map(([n, t]) => [n, [...t]]))).toEqual(want);
  });

  it("the flat global_head_dim / num_global_key_value_heads of configs before transformers 5.15 give the same program", () => {
    const { per_layer_config: _p, ...flat } = fx;
    expect(imported({ ...flat, global_head_dim: 32, num_global_key_value_heads: 1 })).toBe(imported(fx));
    // global_head_dim defaults to 512; num_global_key_value_heads only applies with attention_k_eq_v
    const g = graphOf(imported({ ...flat, attention_k_eq_v: false, num_global_key_value_heads: 1 }));
    expect(nodes(g, "attention")[2]!.attrs).toMatchObject({ headDim: 512, kvHeads: 2 });
    expect(nodes(g, "attention")[2]!.attrs["vName"]).toBeUndefined();
    expect(errorOf({ ...fx, global_head_dim: 32 }, src)).toContain('"global_head_dim" is given with per_layer_config');
  });

  it("layer_types absent: five sliding layers then a full one, the last forced full as transformers does", () => {
    const { layer_types: _l, per_layer_config: _p, ...rest } = fx;
    const g = graphOf(imported({ ...rest, num_hidden_layers: 8, global_head_dim: 32, num_global_key_value_heads: 1 }));
    expect(nodes(g, "attention").map((n) => n.attrs["window"])).toEqual([5, 5, 5, 5, 5, null, 5, null]);
    const forced = imported({ ...rest, layer_types: ["sliding_attention", "full_attention", "sliding_attention"], global_head_dim: 32, num_global_key_value_heads: 1 });
    expect(forced.replace(/\n\/\/ /g, " ")).toContain("Gemma4TextConfig forces it to full attention");
    expect(nodes(graphOf(forced), "attention").map((n) => n.attrs["window"])).toEqual([5, null, null]);
    // per_layer_config that gives the full layers different shapes is refused (one attention per layer type)
    expect(errorOf({ ...fx, layer_types: ["sliding_attention", "full_attention", "full_attention"] }, src)).toContain("different head dims or KV heads");
  });

  it("without the MoE block each layer is the dense MLP alone", () => {
    const g = graphOf(imported({ ...fx, enable_moe_block: false }));
    expect(nodes(g, "moe")).toHaveLength(0);
    expect(nodes(g, "learned_scale")).toHaveLength(3);
  });

  it("gemma4 (Gemma4ForConditionalGeneration): its text_config's program under model.language_model.*, the towers unbound", () => {
    const { architectures: _a, model_type: _m, ...text } = fx;
    const wrapped = { architectures: ["Gemma4ForConditionalGeneration"], model_type: "gemma4", text_config: { model_type: "gemma4_text", ...text }, vision_config: { hidden_size: 32 }, audio_config: null, tie_word_embeddings: fx.tie_word_embeddings ?? true };
    const g = graphOf(imported(wrapped));
    const own = graphOf(imported(fx));
    // the same computation, every tensor renamed from model.* to model.language_model.*
    const rename = (n: string) => n.replace(/^model\./, "model.language_model.");
    expect(new Map([...expectedTensors(g)].map(([n, t]) => [n, [...t]]))).toEqual(new Map([...expectedTensors(own)].map(([n, t]) => [rename(n), [...t]])));
    expect(g.nodes.map((n) => n.op)).toEqual(own.nodes.map((n) => n.op));
    expect(g.constants["unused_weights"]).toBe("model.vision_tower. model.embed_vision. model.audio_tower. model.embed_audio.");
    expect(errorOf({ ...wrapped, tie_word_embeddings: !(fx.tie_word_embeddings ?? true) }, src)).toContain('"tie_word_embeddings" is');
    expect(errorOf({ ...wrapped, text_config: { ...wrapped.text_config, model_type: "gemma3_text" } }, src)).toContain('a gemma4 text_config is "gemma4_text"');
    expect(errorOf({ ...wrapped, text_config: { ...wrapped.text_config, vision_soft_tokens: 3 } }, src)).toContain('"text_config.vision_soft_tokens"');
    expect(errorOf({ architectures: ["Gemma4ForConditionalGeneration"], model_type: "gemma4" }, src)).toContain('"text_config" is missing');
  });

  it("refuses what the language does not have, naming the key", () => {
    const { hidden_size_per_layer_input: _h, ...ple } = fx;
    expect(errorOf(ple, src)).toContain('"hidden_size_per_layer_input" is 256: per-layer input embeddings');
    expect(errorOf({ ...fx, num_kv_shared_layers: 2 }, src)).toContain('"num_kv_shared_layers" is 2');
    expect(errorOf({ ...fx, use_bidirectional_attention: "all" }, src)).toContain('"use_bidirectional_attention" is "all"');
    expect(errorOf({ ...fx, hidden_activation: "silu" }, src)).toContain('"hidden_activation" is "silu"');
    const rope = fx["rope_parameters"] as Config;
    expect(errorOf({ ...fx, rope_parameters: { ...rope, full_attention: { rope_type: "yarn", rope_theta: 1e6, factor: 8 } } }, src)).toContain('"rope_parameters.full_attention.rope_type" is "yarn"');
    expect(errorOf({ ...fx, rope_parameters: { ...rope, sliding_attention: { rope_type: "default", rope_theta: 1e4, partial_rotary_factor: 0.5 } } }, src)).toContain("is not read by Gemma-4's default RoPE");
    expect(errorOf({ ...fx, per_layer_config: { "2": { head_dim: 32, num_key_value_heads: 3 } } }, src)).toContain("3 KV heads, which does not divide num_attention_heads (4)");
    expect(errorOf({ ...fx, attn_logit_softcapping: 50 }, src)).toContain('unknown key "attn_logit_softcapping"');
  });
});
