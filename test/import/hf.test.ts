// `moec import`: every Hugging Face fixture imports to a program that checks cleanly, binds
// exactly the tensors of its model.safetensors (names and shapes), has transformers'
// parameter count, and round-trips; unsupported configs are clear errors naming the key
// and the file.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { importCommand } from "../../compiler/cli/import-command.js";
import type { Io } from "../../compiler/cli/io.js";
import { importHfConfig, importHfDir, NO_EFFECT_KEYS } from "../../compiler/import/hf.js";
import { FAMILIES } from "../../compiler/import/families.js";
import { layerCondition } from "../../compiler/import/emit.js";
import { checkFile, checkSource, formatDiagnostics, modelStats, printGraph, type Graph, type Node, type RouterAttr } from "../../compiler/index.js";
import { openCheckpoint } from "../../runtime/weights/safetensors.js";
import { prefixMatcher, unusedWeightPrefixes } from "../../compiler/weights/bind.js";
import { expectedTensors, fixture } from "../helpers/compile.js";

const HF = fixture("hf");
const folders = readdirSync(HF, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
const tmp = mkdtempSync(join(tmpdir(), "moec-import-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Config = Record<string, unknown>;
const configOf = (name: string): Config => JSON.parse(readFileSync(join(HF, name, "config.json"), "utf8")) as Config;

function imported(config: unknown, source = "config.json"): string {
  const r = importHfConfig(config, source);
  if ("error" in r) throw new Error(r.error);
  return r.text;
}

function errorOf(config: unknown, source = "some/dir/config.json"): string {
  const r = importHfConfig(config, source);
  if (!("error" in r)) throw new Error(`expected an error, got a program:\n${r.text}`);
  return r.error;
}

function graphOfText(text: string, file = "imported.moe"): Graph {
  const c = checkSource(file, text);
  if (!c.graph || c.diagnostics.length > 0) throw new Error(formatDiagnostics(c.diagnostics, { sources: new Map([[file, text]]) }));
  return c.graph;
}

/**
 * The same config as transformers 4 wrote it: top-level rope_theta and rope_scaling with "type". Default RoPE is
 * `rope_scaling: null`, except for GPT-OSS: transformers 5.17 reads a null rope_scaling as absent, and
 * GptOssConfig then substitutes YaRN (factor 32), so there default RoPE must be spelled {type: "default"}.
 */
function legacy(config: Config): Config {
  const { rope_parameters, ...rest } = config as { rope_parameters?: Record<string, unknown> };
  // Gemma-4 came with transformers 5: there is no older spelling of its per-layer-type RoPE settings
  if (!rope_parameters || config["model_type"] === "gemma4_text") return config;
  const { rope_theta, rope_type, partial_rotary_factor, ...scaling } = rope_parameters;
  const defaultRope = config["model_type"] === "gpt_oss" ? { type: "default" } : null;
  // transformers 4 kept partial_rotary_factor at the top level
  const partial = partial_rotary_factor !== undefined ? { partial_rotary_factor } : {};
  return { ...rest, ...partial, rope_theta, rope_scaling: rope_type === "default" ? defaultRope : { type: rope_type, ...scaling } };
}

function memoryIo(): Io & { outText: string; errText: string } {
  const io = { outText: "", errText: "", color: false, out: (t: string) => void (io.outText += t + "\n"), err: (t: string) => void (io.errText += t + "\n") };
  return io;
}

const nodes = (g: Graph, op: string): Node[] => g.nodes.filter((n) => n.op === op);

describe("moec import on every Hugging Face fixture", () => {
  it("covers every supported family", () => {
    const families = new Set(folders.map((f) => configOf(f)["model_type"] as string));
    expect([...families].sort()).toEqual([...FAMILIES.keys()].sort());
  });

  for (const name of folders) {
    describe(name, () => {
      const dir = join(HF, name);
      let text = "";
      let graph: Graph;

      it("imports to a program that checks without any diagnostic", async () => {
        const r = await importHfDir(dir);
        if ("error" in r) throw new Error(r.error);
        text = r.text;
        expect(text.startsWith(`// Imported by \`moec import\` from ${join(dir, "config.json")}`)).toBe(true);
        expect(text).toContain(`Family ${configOf(name)["model_type"]}`);
        graph = graphOfText(text);
      });

      it("binds exactly the tensors of model.safetensors (names and shapes)", async () => {
        const want = expectedTensors(graph);
        const ck = await openCheckpoint(join(dir, "model.safetensors"));
        try {
          const have = new Map(ck.names().map((n) => [n, ck.info(n).shape]));
          expect([...want.keys()].filter((n) => !have.has(n)), "declared but not in the checkpoint").toEqual([]);
          // a multimodal checkpoint's other towers are left unbound by the program's unused_weights
          const unused = unusedWeightPrefixes(graph).map(prefixMatcher);
          expect([...have.keys()].filter((n) => !want.has(n) && !unused.some((m) => m(n))), "in the checkpoint but not declared").toEqual([]);
          for (const [n, shape] of want) expect([n, [...shape]]).toEqual([n, have.get(n)]);
        } finally {
          await ck.close();
        }
      });

      it("has transformers' parameter count", async () => {
        const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { params: number };
        // transformers counts DeepSeek-V3's e_score_correction_bias as a buffer, not a parameter (ERNIE-4.5's is a
        // parameter: the fixture script lists the buffers it initialised).
        const meta2 = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { init?: { buffers_initialised?: string[] } };
        const hasBuffers = (meta2.init?.buffers_initialised ?? []).length > 0 || !existsSync(join(dir, "generate_logits.f32"));
        let buffers = 0;
        for (const [n, shape] of expectedTensors(graph)) if (hasBuffers && (n.endsWith(".e_score_correction_bias") || n.endsWith(".expert_bias") || n.endsWith(".layer_scalar"))) buffers += shape.reduce((a, b) => a * b, 1);
        // transformers also counts the tensors the program leaves unbound (Llama-4's vision model, DSA indexers)
        const unused = unusedWeightPrefixes(graph).map(prefixMatcher);
        const ck = await openCheckpoint(join(dir, "model.safetensors"));
        let other = 0;
        try {
          for (const n of ck.names()) if (unused.some((m) => m(n))) other += ck.info(n).shape.reduce((a, b) => a * b, 1);
        } finally {
          await ck.close();
        }
        expect(modelStats(graph).totalParams - buffers + other).toBe(meta.params);
      });

      it("round-trips: importing again, and writing and re-reading the program, give the same IR", async () => {
        const again = await importHfDir(dir);
        expect(again).toEqual({ text });
        expect(printGraph(graphOfText((again as { text: string }).text))).toBe(printGraph(graph));
        const out = join(tmp, `${name}.moe`);
        const io = memoryIo();
        expect(await importCommand.run(io, [dir], { out })).toBe(0);
        expect(readFileSync(out, "utf8")).toBe(text);
        const reread = await checkFile(out);
        expect(reread.diagnostics).toEqual([]);
        expect(printGraph(reread.graph!)).toBe(printGraph(graph));
      });

      it("reads the transformers 4 spelling (rope_theta + rope_scaling) to the same IR", () => {
        const old = legacy(configOf(name));
        expect(printGraph(graphOfText(imported(old)))).toBe(printGraph(graph));
      });
    });
  }
});

// ---- the semantics each fixture exercises (from test/fixtures/hf/README.md and meta.json notes)

interface Expect {
  router: Partial<RouterAttr>;
  sparse?: boolean[];
  windows?: (number | null)[];
  attention?: Record<string, unknown>;
  /** The rope scaling every attention node has (null: plain RoPE). */
  rope?: Record<string, unknown> | null;
  /** Layers with a sequence mixer (attention, MLA, DeltaNet, Mamba-2), when not every layer has one (Nemotron-H). */
  mixers?: number;
}

const EXPECT: Record<string, Expect> = {
  mixtral: { router: { k: 2, scoring: "softmax", renormalize: true, groups: 1 }, windows: [null, null] },
  mixtral_swa: { router: { k: 2, scoring: "softmax", renormalize: true }, windows: [5, 5, 5] },
  qwen2_moe: { router: { k: 2, scoring: "softmax", renormalize: false }, attention: { bias: true, outBias: false } },
  qwen2_moe_dense_layers: { router: { k: 3, renormalize: true }, sparse: [false, true, false, true] },
  qwen3_moe: { router: { k: 4, renormalize: true }, sparse: [true, false, true], attention: { qkNorm: "head", headDim: 24, kvHeads: 2 } },
  qwen3_moe_yarn: { router: { k: 4, renormalize: true }, rope: { type: "yarn", factor: 4, originalMax: 32, truncate: true, attentionFactor: null } },
  olmoe: { router: { k: 8, renormalize: false }, attention: { qkNorm: "full", clipQkv: null } },
  olmoe_clip_qkv: { router: { k: 2, renormalize: false }, attention: { qkNorm: "full", clipQkv: 1, kvHeads: 2 } },
  deepseek_v2: {
    router: { k: 3, scoring: "softmax", renormalize: false, groups: 3, topkGroups: 2, groupScoring: "max", scale: 1.5, selectionBias: false },
    sparse: [false, true, true], rope: { type: "yarn", factor: 4, mscale: 0.707, mscaleAllDim: 1 },
  },
  deepseek_v2_qlora: { router: { k: 3, scoring: "softmax", renormalize: false, groups: 1, scale: 2 }, sparse: [true, true] },
  deepseek_v3: { router: { k: 4, scoring: "sigmoid", selectionBias: true, renormalize: true, groups: 4, topkGroups: 2, groupScoring: "top2_sum", scale: 2.5 }, sparse: [false, true, true] },
  deepseek_v3_yarn: { router: { k: 3, scoring: "sigmoid", selectionBias: true, renormalize: false, groups: 2, topkGroups: 1, scale: 1.8 }, sparse: [false, true, true], rope: { type: "yarn", factor: 8, mscale: 1, mscaleAllDim: 1 } },
  deepseek_v32: { router: { k: 3, scoring: "sigmoid", selectionBias: true, renormalize: true, groups: 2, topkGroups: 1, scale: 2 }, sparse: [false, true, true], rope: { type: "yarn", factor: 4, mscale: 1, mscaleAllDim: 1 } },
  glm_moe_dsa: { router: { k: 2, scoring: "sigmoid", selectionBias: true, renormalize: true, groups: 1, scale: 2.5 }, sparse: [false, true, true], attention: { normEps: 1e-6, rope: { style: "interleaved", dim: 8, theta: 1e6, scaling: null } } },
  // layers [mamba, moe, attention, mamba, mlp]: one mixer each; attention without RoPE
  nemotron_h: { router: { k: 2, scoring: "sigmoid", selectionBias: true, renormalize: true, groups: 2, topkGroups: 1, scale: 1.5 }, sparse: [false, true, false, false, false], mixers: 3, attention: { rope: null, kvHeads: 2, headDim: 16 } },
  // layers [mamba, mamba, attention, mamba], feed-forward [MLP, MoE, MLP, MoE]; attention without RoPE
  jamba: { router: { k: 2, scoring: "softmax", renormalize: false }, sparse: [false, true, false, true], attention: { rope: null, kvHeads: 2, headDim: 16 } },
  gpt_oss: { router: { k: 3, scoring: "softmax_topk", bias: true }, windows: [4, null, 4, null], attention: { sinks: true, bias: true, outBias: true, headDim: 24 }, rope: { type: "yarn", factor: 4, truncate: false } },
  phimoe: { router: { k: 2, scoring: "sparsemixer", jitterEps: 0.01 }, attention: { bias: true, outBias: true } },
  phimoe_longrope: { router: { k: 2, scoring: "sparsemixer", jitterEps: 0.25 }, rope: { type: "longrope", originalMax: 32, shortMscale: 1.1, longMscale: 1.25 } },
  mixtral_tied: { router: { k: 3, scoring: "softmax", renormalize: true }, windows: [null, null], attention: { headDim: 24, kvHeads: 2, rope: { theta: 1e6, dim: 24, scaling: null } } },
  qwen3_moe_sparse_step: { router: { k: 2, scoring: "softmax", renormalize: false }, sparse: [false, true, false, true], attention: { qkNorm: "head" }, rope: { type: "linear", factor: 2 } },
  deepseek_v3_nogroup: { router: { k: 3, scoring: "sigmoid", selectionBias: true, renormalize: true, groups: 1, scale: 2.5 }, sparse: [false, false, true], rope: null },
  olmoe_dynamic_rope: { router: { k: 2, renormalize: false }, attention: { qkNorm: "full" }, rope: { type: "dynamic", factor: 2, originalMax: 8 } },
  qwen2_moe_llama3_rope: { router: { k: 2, scoring: "softmax", renormalize: false }, attention: { bias: true, outBias: false }, rope: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMax: 32 } },
  gpt_oss_plain: { router: { k: 2, scoring: "softmax_topk", bias: true }, windows: [6, null, 6, null], attention: { sinks: true, bias: true, outBias: true, rope: { theta: 150000, dim: 16, scaling: null } } },
  mixtral_bf16: { router: { k: 2, scoring: "softmax", renormalize: true }, windows: [null, null], rope: null },
  // round 3: the families of issue 13
  glm4_moe: {
    router: { k: 3, scoring: "sigmoid", selectionBias: true, renormalize: true, groups: 3, topkGroups: 2, groupScoring: "top2_sum", scale: 2 },
    sparse: [false, true, true], attention: { qkNorm: "head", headDim: 24, kvHeads: 2, bias: true, outBias: false, rope: { dim: 12, style: "half", scaling: null } },
  },
  glm4_moe_plain: {
    router: { k: 2, scoring: "sigmoid", selectionBias: true, renormalize: false, groups: 1, scale: 1 },
    attention: { qkNorm: null, bias: false, kvHeads: 4, rope: { dim: 4, style: "half" } }, rope: { type: "yarn", factor: 4, originalMax: 32 },
  },
  glm4_moe_lite: { router: { k: 2, scoring: "sigmoid", selectionBias: true, renormalize: true, groups: 2, topkGroups: 1, scale: 1.8 }, sparse: [false, true, true], attention: { normEps: 1e-6, rope: { style: "interleaved", dim: 8, scaling: null } } },
  solar_open: {
    router: { k: 3, scoring: "sigmoid", selectionBias: true, renormalize: true, groups: 2, topkGroups: 1, scale: 1.5 },
    attention: { qkNorm: null, bias: true, outBias: false, kvHeads: 2, rope: { theta: 1e6, dim: 16, scaling: null } },
  },
  dots1: {
    router: { k: 3, scoring: "sigmoid", selectionBias: true, renormalize: false, groups: 2, topkGroups: 1, scale: 2.5 },
    sparse: [false, true, true], windows: [null, 5, null], attention: { qkNorm: "head", bias: true, outBias: true, kvHeads: 2 },
  },
  granitemoe: { router: { k: 2, scoring: "softmax_topk", bias: false }, attention: { scale: 0.03125, kvHeads: 2, bias: false } },
  granitemoeshared: { router: { k: 2, scoring: "softmax_topk" }, attention: { scale: 0.125, kvHeads: 4, bias: true, outBias: true } },
  flex_olmo: { router: { k: 2, scoring: "softmax", renormalize: false }, attention: { qkNorm: "full", kvHeads: 2, rope: { theta: 500000, scaling: null } } },
  llama4: { router: { k: 1, scoring: "sigmoid", renormalize: false, weightInput: true }, sparse: [false, true, false, true], attention: { kvHeads: 2, headDim: 24 } },
  llama4_topk: { router: { k: 2, scoring: "sigmoid", renormalize: false, weightInput: true }, sparse: [true, false, true], attention: { kvHeads: 4, qkNorm: null } },
  ernie4_5_moe: {
    router: { k: 3, scoring: "softmax", selectionBias: true, renormalize: true }, sparse: [false, true, true],
    attention: { bias: true, outBias: true, kvHeads: 2, rope: { style: "interleaved", theta: 500000 } },
  },
  minimax_m2: { router: { k: 2, scoring: "sigmoid", selectionBias: true, renormalize: true }, attention: { qkNorm: "full", kvHeads: 2, rope: { dim: 8, style: "half" } } },
  hunyuan_v1_moe: { router: { k: 2, scoring: "softmax", renormalize: true }, attention: { qkNorm: "head", qkNormAfterRope: true, qNormName: "query_layernorm", kNormName: "key_layernorm", rope: { scaling: null } } },
  qwen3_vl_moe: { router: { k: 2, scoring: "softmax", renormalize: true }, sparse: [true, false, true], attention: { qkNorm: "head", kvHeads: 2, rope: { theta: 5000000, scaling: null } } },
  hy_v3: { router: { k: 3, scoring: "sigmoid", selectionBias: true, renormalize: true, scale: 2 }, sparse: [false, true, true], attention: { qkNorm: "head", kvHeads: 2 } },
  exaone_moe: {
    router: { k: 3, scoring: "sigmoid", selectionBias: true, renormalize: true, groups: 2, topkGroups: 1, scale: 2 }, sparse: [false, true, true, true],
    windows: [5, null, 5, null], attention: { qkNorm: "head", kvHeads: 2 },
  },
  dbrx: { router: { k: 2, scoring: "softmax", renormalize: true }, attention: { qkvName: "Wqkv", oName: "out_proj", clipQkv: 0.5, kvHeads: 2, rope: { theta: 10000, scaling: null } } },
  qwen3_next: { router: { k: 2, scoring: "softmax", renormalize: true }, sparse: [true, false, true, true], attention: {} },
  qwen3_5_moe: { router: { k: 2, scoring: "softmax", renormalize: true }, attention: {} },
  llama4_multimodal: { router: { k: 1, scoring: "sigmoid", weightInput: true }, sparse: [true, true], attention: { kvHeads: 2 } },
  // Granite-4.0-H: a Mamba-2 or attention mixer per layer, then experts + shared MLP; attention without RoPE ("nope")
  granitemoehybrid: { router: { k: 2, scoring: "softmax_topk" }, attention: { rope: null, scale: 0.0625, kvHeads: 2, bias: false } },
  granitemoehybrid_rope: { router: { k: 2, scoring: "softmax_topk" }, attention: { scale: 0.1, kvHeads: 2, rope: { theta: 10000, dim: 8, scaling: null } } },
  // num_local_experts 0: no moe, the shared MLP alone
  granitemoehybrid_dense: { router: {}, sparse: [false, false, false], attention: { rope: null, scale: 0.125, kvHeads: 4 } },
  // the router on the residual stream (pre-gated input) with the per-expert scale; v norm, softmax scale 1, q/k norms
  gemma4_moe: { router: { k: 2, scoring: "softmax", renormalize: true, pregated: true, expertScale: true }, windows: [5, 5, null], attention: { vNorm: true, scale: 1, qkNorm: "head" } },
  // the multimodal wrapper: its text_config's language model (top-3 of 6, sliding(3) / full alternating, 3 KV heads)
  gemma4_multimodal: { router: { k: 3, scoring: "softmax", renormalize: true, pregated: true, expertScale: true }, windows: [3, null, 3, null], attention: { vNorm: true, scale: 1, qkNorm: "head", kvHeads: 3 } },
};

describe("imported semantics match each fixture's description", () => {
  for (const name of folders) {
    it(name, () => {
      const e = EXPECT[name];
      expect(e, `add ${name} to EXPECT`).toBeDefined();
      const g = graphOfText(imported(configOf(name)));
      const c = configOf(name);
      const tc = (c["text_config"] as Record<string, unknown> | undefined) ?? c;
      const layers = (tc["num_hidden_layers"] ?? tc["n_layers"] ?? (tc["layers_block_type"] as unknown[] | undefined)?.length) as number;
      const moes = nodes(g, "moe");
      const sparse = Array.from({ length: layers }, (_, i) => moes.some((n) => n.layer === i));
      expect(sparse).toEqual(e.sparse ?? Array(layers).fill(true));
      for (const n of moes) expect(n.attrs["router"]).toMatchObject(e.router);
      const att = [...nodes(g, "attention"), ...nodes(g, "mla")];
      expect(att.length + nodes(g, "gated_deltanet").length + nodes(g, "mamba2").length + nodes(g, "mamba").length).toBe(e.mixers ?? layers);
      if (e.windows) expect(att.map((n) => n.attrs["window"])).toEqual(e.windows);
      for (const n of att) {
        if (e.attention) expect(n.attrs).toMatchObject(e.attention);
        if (e.rope === null) expect((n.attrs["rope"] as { scaling: unknown }).scaling).toBeNull();
        else if (e.rope) expect((n.attrs["rope"] as { scaling: unknown }).scaling).toMatchObject(e.rope);
      }
    });
  }

  it("DeepSeek attention is MLA with interleaved RoPE on the rope dims and the latent norms at eps 1e-6", () => {
    for (const name of folders.filter((f) => f.startsWith("deepseek"))) {
      const g = graphOfText(imported(configOf(name)));
      for (const n of nodes(g, "mla")) expect(n.attrs).toMatchObject({ normEps: 1e-6, rope: { style: "interleaved", dim: 8 } });
    }
  });
});

// ---- options the fixtures do not exercise --------------------------------------------------

describe("options beyond the fixtures", () => {
  const mixtral = configOf("mixtral");
  const graph = (c: Config) => graphOfText(imported(c));
  const rope = (c: Config) => nodes(graph(c), "attention")[0]!.attrs["rope"] as { theta: number; dim: number; scaling: Record<string, unknown> | null };

  it("tie_word_embeddings binds the output head to the embedding matrix", () => {
    const g = graph({ ...mixtral, tie_word_embeddings: true });
    const names = [...expectedTensors(g).keys()];
    expect(names).not.toContain("lm_head.weight");
    const head = g.nodes.find((n) => n.op === "linear" && n.layer === null)!;
    expect(head.params.map((p) => p.name)).toEqual(["model.embed_tokens.weight"]);
    expect(modelStats(g).totalParams).toBe(353600 - 256 * 64);
  });

  it("every rope type, in both spellings", () => {
    const cases: [Record<string, unknown>, Record<string, unknown>][] = [
      [{ rope_type: "linear", factor: 2 }, { type: "linear", factor: 2 }],
      [{ rope_type: "dynamic", factor: 2 }, { type: "dynamic", factor: 2, originalMax: 128 }],
      [{ rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 }, { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMax: 64 }],
      [{ rope_type: "yarn", factor: 4, original_max_position_embeddings: 32, attention_factor: 0.5, beta_fast: 16 }, { type: "yarn", factor: 4, attentionFactor: 0.5, betaFast: 16, betaSlow: 1 }],
      // HF: factor defaults to max_position_embeddings / original_max_position_embeddings
      [{ rope_type: "yarn", original_max_position_embeddings: 32 }, { type: "yarn", factor: 4 }],
      [{ rope_type: "longrope", short_factor: [1, 1, 1, 1, 1, 1, 1, 1], long_factor: [2, 2, 2, 2, 2, 2, 2, 2], original_max_position_embeddings: 32 }, { type: "longrope", maxPositions: 128, attentionFactor: null }],
      [{ rope_type: "longrope", short_factor: [1, 1, 1, 1, 1, 1, 1, 1], long_factor: [2, 2, 2, 2, 2, 2, 2, 2], original_max_position_embeddings: 32, factor: 4 }, { type: "longrope", maxPositions: null, attentionFactor: Math.sqrt(1 + Math.log(4) / Math.log(32)) }],
    ];
    for (const [params, want] of cases) {
      const modern = rope({ ...mixtral, rope_parameters: { rope_theta: 500000, ...params } });
      expect(modern.theta).toBe(500000);
      expect(modern.scaling).toMatchObject(want);
      const { rope_type, ...rest } = params;
      const old = rope({ ...legacy(mixtral), rope_theta: 500000, rope_scaling: { type: rope_type, ...rest } });
      expect(old).toEqual(modern);
    }
  });

  it("YaRN with mscale_all_dim but no mscale keeps HF's attention factor (0.1·ln(factor)+1)", () => {
    const r = rope({ ...mixtral, rope_parameters: { rope_type: "yarn", rope_theta: 10000, factor: 4, original_max_position_embeddings: 32, mscale_all_dim: 1 } });
    expect(r.scaling).toMatchObject({ mscale: 0, mscaleAllDim: 1 });
  });

  it("family default theta applies when no rope_theta is given", () => {
    const { rope_parameters: _, ...bare } = mixtral;
    expect(rope(bare).theta).toBe(1e6);
  });

  it("partial_rotary_factor rotates a prefix of each head", () => {
    expect(rope({ ...mixtral, rope_parameters: { rope_type: "default", rope_theta: 10000, partial_rotary_factor: 0.5 } }).dim).toBe(8);
    expect(rope({ ...legacy(mixtral), partial_rotary_factor: 0.25 }).dim).toBe(4);
  });

  it("Qwen2-MoE without layer_types: even layers below max_window_layers slide when use_sliding_window", () => {
    const { layer_types: _, ...c } = configOf("qwen2_moe_dense_layers");
    const g = graph({ ...c, use_sliding_window: true, sliding_window: 3, max_window_layers: 3 });
    expect(nodes(g, "attention").map((n) => n.attrs["window"])).toEqual([3, null, 3, null]);
    expect(nodes(graph({ ...c, use_sliding_window: false, sliding_window: 3 }), "attention").every((n) => n.attrs["window"] === null)).toBe(true);
  });

  it("Qwen3-MoE use_sliding_window windows every layer; mlp_only_layers and decoder_sparse_step combine", () => {
    const c = configOf("qwen3_moe");
    const g = graph({ ...c, use_sliding_window: true, sliding_window: 7, num_hidden_layers: 6, mlp_only_layers: [3], decoder_sparse_step: 2 });
    expect(nodes(g, "attention").map((n) => n.attrs["window"])).toEqual([7, 7, 7, 7, 7, 7]);
    expect(nodes(g, "moe").map((n) => n.layer)).toEqual([1, 5]);
  });

  it("DeepSeek-V2 mlp_bias puts biases on the dense and shared MLPs only; greedy ignores groups", () => {
    const g = graph({ ...configOf("deepseek_v2"), mlp_bias: true, topk_method: "greedy" });
    const names = [...expectedTensors(g).keys()];
    expect(names).toContain("model.layers.0.mlp.gate_proj.bias");
    expect(names).toContain("model.layers.1.mlp.shared_experts.down_proj.bias");
    expect(names).not.toContain("model.layers.1.mlp.experts.0.gate_proj.bias");
    expect(nodes(g, "moe")[0]!.attrs["router"]).toMatchObject({ groups: 1 });
  });

  it("hidden_act variants", () => {
    const linearsAfter = (act: string) => graph({ ...mixtral, hidden_act: act }).nodes.find((n) => n.op === "moe")!.subgraphs["expert0"]!.nodes.map((n) => [n.op, n.attrs["approximate"] ?? null]);
    expect(linearsAfter("gelu_pytorch_tanh")).toContainEqual(["gelu", "tanh"]);
    expect(linearsAfter("gelu")).toContainEqual(["gelu", "none"]);
    expect(linearsAfter("relu")).toContainEqual(["relu", null]);
  });

  it("real-checkpoint keys: GPT-OSS experts_per_token and MXFP4 storage, DeepSeek-V3 fp8 and MTP", () => {
    const oss = imported({ ...configOf("gpt_oss"), experts_per_token: 3, initial_context_length: 64, quantization_config: { quant_method: "mxfp4", modules_to_not_convert: [] } });
    expect(oss).toContain("MXFP4");
    const v3 = imported({ ...configOf("deepseek_v3"), quantization_config: { quant_method: "fp8", fmt: "e4m3", weight_block_size: [128, 128] }, scoring_func: "sigmoid", topk_method: "noaux_tc", moe_layer_freq: 1, ep_size: 1, aux_loss_alpha: 0.001, seq_aux: true });
    expect(v3).toContain("multi-token-prediction");
    expect(v3).toContain("fp8");
  });

  it("GPT-OSS: a null rope_scaling means GptOssConfig's YaRN default in transformers 5.17, not plain RoPE", () => {
    const { rope_parameters: _, ...base } = configOf("gpt_oss_plain");
    const ropeOf = (c: Config) => (nodes(graphOfText(imported(c)), "attention")[0]!.attrs["rope"] as { scaling: unknown }).scaling;
    const nullScaling = { ...base, rope_theta: 150000, rope_scaling: null };
    expect(ropeOf(nullScaling)).toMatchObject({ type: "yarn", factor: 32, originalMax: 4096, truncate: false });
    expect(imported(nullScaling)).toContain("rope_scaling is null, which transformers 5.17 reads as absent");
    expect(ropeOf({ ...base, rope_theta: 150000, rope_scaling: { type: "default" } })).toBeNull();
    expect(ropeOf(configOf("gpt_oss_plain"))).toBeNull();
  });

  it("layer conditions: periods, prefixes and lists", () => {
    expect(layerCondition([true, false, true, false])).toBe("i % 2 == 0");
    expect(layerCondition([false, true, true, true])).toBe("i >= 1");
    expect(layerCondition([true, true, false])).toBe("i < 2");
    expect(layerCondition([false, false, true, false, true])).toBe("i == 2 or i == 4");
    expect(layerCondition([true, true, false, true, true, true, false])).toBe("i % 4 != 2");
    expect(layerCondition([true, true, true, false, true, true, false, true, true])).toBe("i != 3 and i != 6");
  });
});

// ---- real checkpoint configs ----------------------------------------------------------------

// The config.json of released checkpoints, as transformers 4 (or the model's own code) wrote
// them: legacy rope_theta / rope_scaling, remote-code keys, quantization_config. The PhiMoE
// LongRoPE lists are stand-ins of the right length. Each count is what transformers 5.17
// builds from the config (AutoModelForCausalLM.from_config on the meta device), so it checks
// the whole layer structure at full size, not only the tiny fixtures.
const REAL: Record<string, Config> = {
  "mixtral-8x7b": {"architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 32,
    "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8,
    "output_router_logits": false, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02,
    "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "transformers_version": "4.36.0.dev0", "use_cache": true, "vocab_size": 32000},
  "qwen1.5-moe-a2.7b": {"architectures": ["Qwen2MoeForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
    "intermediate_size": 5632, "max_position_embeddings": 8192, "max_window_layers": 21, "model_type": "qwen2_moe",
    "num_attention_heads": 16, "num_hidden_layers": 24, "num_key_value_heads": 16, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "transformers_version": "4.39.0.dev0", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936,
    "decoder_sparse_step": 1, "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
    "num_experts_per_tok": 4, "num_experts": 60, "norm_topk_prob": false, "output_router_logits": false,
    "router_aux_loss_coef": 0.001},
  "qwen3-30b-a3b": {"architectures": ["Qwen3MoeForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "bos_token_id": 151643, "decoder_sparse_step": 1, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 6144, "max_position_embeddings": 40960,
    "max_window_layers": 48, "mlp_only_layers": [], "model_type": "qwen3_moe", "moe_intermediate_size": 768,
    "norm_topk_prob": true, "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
    "num_hidden_layers": 48, "num_key_value_heads": 4, "output_router_logits": false, "rms_norm_eps": 1e-06,
    "rope_scaling": null, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001, "sliding_window": null,
    "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": true,
    "use_sliding_window": false, "vocab_size": 151936},
  "olmoe-1b-7b": {"architectures": ["OlmoeForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "clip_qkv": null, "eos_token_id": 50279, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
    "intermediate_size": 1024, "max_position_embeddings": 4096, "model_type": "olmoe", "norm_topk_prob": false,
    "num_attention_heads": 16, "num_experts": 64, "num_experts_per_tok": 8, "num_hidden_layers": 16,
    "num_key_value_heads": 16, "output_router_logits": false, "pad_token_id": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": null, "rope_theta": 10000.0, "router_aux_loss_coef": 0.01, "tie_word_embeddings": false,
    "torch_dtype": "bfloat16", "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 50304},
  "deepseek-v2-lite": {"architectures": ["DeepseekV2ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV2Config"}, "aux_loss_alpha": 0.001,
    "bos_token_id": 100000, "eos_token_id": 100001, "first_k_dense_replace": 1, "hidden_act": "silu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 10944, "kv_lora_rank": 512,
    "max_position_embeddings": 163840, "model_type": "deepseek_v2", "moe_intermediate_size": 1408, "moe_layer_freq": 1,
    "n_group": 1, "n_routed_experts": 64, "n_shared_experts": 2, "norm_topk_prob": false, "num_attention_heads": 16,
    "num_experts_per_tok": 6, "num_hidden_layers": 27, "num_key_value_heads": 16, "pretraining_tp": 1,
    "q_lora_rank": null, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06,
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707,
    "original_max_position_embeddings": 4096, "type": "yarn"}, "rope_theta": 10000, "routed_scaling_factor": 1.0,
    "scoring_func": "softmax", "seq_aux": true, "tie_word_embeddings": false, "topk_group": 1, "topk_method": "greedy",
    "torch_dtype": "bfloat16", "transformers_version": "4.33.1", "use_cache": true, "v_head_dim": 128,
    "vocab_size": 102400},
  "deepseek-v3": {"architectures": ["DeepseekV3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config"}, "aux_loss_alpha": 0.001, "bos_token_id": 0,
    "eos_token_id": 1, "ep_size": 1, "first_k_dense_replace": 3, "hidden_act": "silu", "hidden_size": 7168,
    "initializer_range": 0.02, "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 163840,
    "model_type": "deepseek_v3", "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8,
    "n_routed_experts": 256, "n_shared_experts": 1, "norm_topk_prob": true, "num_attention_heads": 128,
    "num_experts_per_tok": 8, "num_hidden_layers": 61, "num_key_value_heads": 128, "num_nextn_predict_layers": 1,
    "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
    "weight_block_size": [128, 128]}, "rms_norm_eps": 1e-06, "rope_scaling": {"beta_fast": 32, "beta_slow": 1,
    "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096, "type": "yarn"},
    "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "seq_aux": true,
    "tie_word_embeddings": false, "topk_group": 4, "topk_method": "noaux_tc", "torch_dtype": "bfloat16",
    "transformers_version": "4.46.3", "use_cache": true, "v_head_dim": 128, "vocab_size": 129280},
  "gpt-oss-20b": {"architectures": ["GptOssForCausalLM"], "attention_bias": true, "attention_dropout": 0.0,
    "eos_token_id": 200002, "experts_per_token": 4, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2880,
    "initial_context_length": 4096, "initializer_range": 0.02, "intermediate_size": 2880,
    "layer_types": Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? "sliding_attention" : "full_attention")),
    "max_position_embeddings": 131072, "model_type": "gpt_oss", "num_attention_heads": 64, "num_experts_per_tok": 4,
    "num_hidden_layers": 24, "num_key_value_heads": 8, "num_local_experts": 32, "output_router_logits": false,
    "pad_token_id": 199999, "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn",
    "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"}, "rms_norm_eps": 1e-05,
    "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0, "original_max_position_embeddings": 4096,
    "rope_type": "yarn", "truncate": false}, "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": 128,
    "swiglu_limit": 7.0, "tie_word_embeddings": false, "transformers_version": "4.55.0.dev0", "use_cache": true,
    "vocab_size": 201088},
  "phi-3.5-moe": {"architectures": ["PhiMoEForCausalLM"], "attention_bias": true, "attention_dropout": 0.0,
    "auto_map": {"AutoConfig": "configuration_phimoe.PhiMoEConfig"}, "bos_token_id": 1, "eos_token_id": 32000,
    "hidden_act": "silu", "hidden_dropout": 0.0, "hidden_size": 4096, "initializer_range": 0.02,
    "input_jitter_noise": 0.01, "intermediate_size": 6400, "lm_head_bias": true, "max_position_embeddings": 131072,
    "model_type": "phimoe", "num_attention_heads": 32, "num_experts_per_tok": 2, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "num_local_experts": 16, "original_max_position_embeddings": 4096,
    "output_router_logits": false, "rms_norm_eps": 1e-05,
    "rope_scaling": {"long_factor": Array.from({ length: 64 }, (_, i) => 1 + i / 10), "long_mscale": 1.243163121016122,
    "original_max_position_embeddings": 4096, "short_factor": Array.from({ length: 64 }, (_, i) => 1 + i / 100),
    "short_mscale": 1.243163121016122, "type": "longrope"}, "rope_theta": 10000.0, "router_aux_loss_coef": 0.0,
    "router_jitter_noise": 0.01, "sliding_window": 131072, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
    "transformers_version": "4.43.3", "use_cache": true, "vocab_size": 32064},
};

const REAL_PARAMS: Record<string, number> = {
  "mixtral-8x7b": 46702792704,
  "qwen1.5-moe-a2.7b": 14315784192,
  "qwen3-30b-a3b": 30532122624,
  "olmoe-1b-7b": 6919161856,
  "deepseek-v2-lite": 15706484224,
  "deepseek-v3": 671026404352,
  "gpt-oss-20b": 20914757184,
  "phi-3.5-moe": 41873153344,
};

describe("released checkpoints' configs (transformers 4 spelling) import with transformers' parameter counts", () => {
  for (const [name, config] of Object.entries(REAL)) {
    it(name, () => {
      const g = graphOfText(imported(config, `${name}/config.json`));
      let buffers = 0;
      for (const [n, shape] of expectedTensors(g)) if (n.endsWith(".e_score_correction_bias")) buffers += shape.reduce((a, b) => a * b, 1);
      expect(modelStats(g).totalParams - buffers).toBe(REAL_PARAMS[name]);
    });
  }
});

// ---- errors -------------------------------------------------------------------------------

describe("unsupported configs are clear errors naming the key and the file", () => {
  const src = "models/x/config.json";

  it("an unknown model_type", () => {
    const msg = errorOf({ model_type: "llama", hidden_size: 64 }, src);
    expect(msg).toContain(src);
    expect(msg).toContain('"model_type"');
    expect(msg).toContain('"llama"');
    expect(msg).toContain("mixtral");
  });

  it("a missing model_type, and a config that is not an object", () => {
    expect(errorOf({ hidden_size: 64 }, src)).toMatch(/models\/x\/config\.json: "model_type" is missing/);
    expect(errorOf([1, 2], src)).toContain(src);
  });

  it("an unknown key", () => {
    const msg = errorOf({ ...configOf("mixtral"), moe_magic: 3 }, src);
    expect(msg).toContain(src);
    expect(msg).toContain('"moe_magic"');
    expect(msg).toContain('model_type "mixtral"');
  });

  it("a key of another family", () => {
    expect(errorOf({ ...configOf("mixtral"), norm_topk_prob: true }, src)).toContain('"norm_topk_prob"');
  });

  it("a known key with an unsupported value", () => {
    const msg = errorOf({ ...configOf("deepseek_v3"), scoring_func: "foo" }, src);
    expect(msg).toContain(src);
    expect(msg).toContain('"scoring_func"');
    expect(msg).toContain('"foo"');
    expect(errorOf({ ...configOf("deepseek_v2"), topk_method: "noaux_tc" }, src)).toContain('"topk_method"');
    expect(errorOf({ ...configOf("mixtral"), hidden_act: "relu2" }, src)).toContain('"hidden_act"');
    expect(errorOf({ ...configOf("mixtral"), num_hidden_layers: "2" }, src)).toContain('"num_hidden_layers" must be an integer');
  });

  it("the legacy rope_scaling form: an unknown type or key is named with its path", () => {
    const old = legacy(configOf("mixtral"));
    const bad = errorOf({ ...old, rope_scaling: { type: "su", factor: 2 } }, src);
    expect(bad).toContain(src);
    expect(bad).toContain('"rope_scaling.type"');
    expect(bad).toContain('"su"');
    const extra = errorOf({ ...old, rope_scaling: { type: "linear", factor: 2, beta_fast: 3 } }, src);
    expect(extra).toContain('"rope_scaling.beta_fast"');
    expect(errorOf({ ...old, rope_scaling: { type: "linear" } }, src)).toContain('"rope_scaling.factor" is required');
    expect(errorOf({ ...configOf("mixtral"), rope_parameters: { rope_type: "proportional", rope_theta: 1 } }, src)).toContain('"rope_parameters.rope_type"');
  });

  it("values the language cannot express", () => {
    expect(errorOf({ ...configOf("deepseek_v3"), attention_bias: true }, src)).toMatch(/"attention_bias" is true: MLA projection biases/);
    expect(errorOf({ ...configOf("phimoe"), num_experts_per_tok: 3 }, src)).toContain('"num_experts_per_tok"');
    expect(errorOf({ ...configOf("phimoe"), tie_word_embeddings: true }, src)).toContain('"lm_head_bias"');
    expect(errorOf({ ...configOf("gpt_oss"), swiglu_limit: 10 }, src)).toContain('"swiglu_limit"');
    expect(errorOf({ ...configOf("deepseek_v2"), moe_layer_freq: 2 }, src)).toContain('"moe_layer_freq"');
    expect(errorOf({ ...configOf("deepseek_v3"), partial_rotary_factor: 0.5 }, src)).toContain('"partial_rotary_factor"');
    expect(errorOf({ ...configOf("qwen2_moe"), layer_types: ["sliding_attention", "full_attention"] }, src)).toContain('"use_sliding_window"');
    expect(errorOf({ ...configOf("gpt_oss"), layer_types: ["chunked_attention", "full_attention", "full_attention", "full_attention"] }, src)).toContain('"layer_types"');
    expect(errorOf({ ...configOf("gpt_oss"), quantization_config: { quant_method: "gptq" } }, src)).toContain('"quantization_config.quant_method"');
    expect(errorOf({ ...configOf("phimoe"), rope_parameters: { rope_type: "yarn", factor: 2, rope_theta: 1e4 } }, src)).toContain('"rope_parameters.rope_type"');
  });

  it("aliases that disagree", () => {
    expect(errorOf({ ...configOf("qwen3_moe"), num_experts: 8 }, src)).toContain('"num_local_experts"');
  });

  it("the shared no-effect list and each family's list do not overlap, and every fixture key is known", () => {
    for (const f of FAMILIES.values()) for (const k of f.keys) expect(NO_EFFECT_KEYS, `${f.modelType}: ${k}`).not.toContain(k);
    for (const name of folders) {
      const c = configOf(name);
      const known = new Set([...NO_EFFECT_KEYS, ...FAMILIES.get(c["model_type"] as string)!.keys]);
      expect(Object.keys(c).filter((k) => !known.has(k)), name).toEqual([]);
    }
  });
});

describe("moec import (command line)", () => {
  it("prints the program to stdout", async () => {
    const io = memoryIo();
    expect(await importCommand.run(io, [join(HF, "olmoe")], {})).toBe(0);
    expect(io.outText).toContain("model Olmoe {");
    expect(io.errText).toBe("");
  });

  it("exits 1 with the message on an unsupported config and writes nothing", async () => {
    const dir = join(tmp, "bad");
    rmSync(dir, { recursive: true, force: true });
    const { mkdirSync } = await import("node:fs");
    mkdirSync(dir);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...configOf("mixtral"), moe_magic: 1 }));
    const out = join(tmp, "bad.moe");
    const io = memoryIo();
    expect(await importCommand.run(io, [dir], { out })).toBe(1);
    expect(io.errText).toContain('"moe_magic"');
    expect(io.errText).toContain(join(dir, "config.json"));
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("reports a missing folder or config.json", async () => {
    const io = memoryIo();
    expect(await importCommand.run(io, [join(tmp, "nope")], {})).toBe(1);
    expect(io.errText).toContain("no such file");
  });

  it("takes exactly one folder", async () => {
    await expect(importCommand.run(memoryIo(), [], {})).rejects.toThrow(/exactly one/);
  });
});
