// Llama-4: the multimodal config (model_type "llama4") imports its text_config with the checkpoint's
// language_model.* names and leaves the vision tower unbound; bound to the llama4 fixture's weights under those
// names (plus vision tensors, which the binder leaves and says so), it computes transformers' logits. Keys
// the language cannot express are errors naming key, value and file.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { importHfConfig } from "../../compiler/import/hf.js";
import { checkSource, formatDiagnostics } from "../../compiler/index.js";
import { promptLogits } from "../../compiler/run/generate.js";
import { bindWeights } from "../../compiler/weights/bind.js";
import { openCheckpoint, type WeightSource } from "../../runtime/weights/safetensors.js";
import { fixture } from "../helpers/compile.js";
import { relativeError } from "../helpers/fixtures.js";

type Config = Record<string, unknown>;
const DIR = join(fixture("hf"), "llama4");
const text = JSON.parse(readFileSync(join(DIR, "config.json"), "utf8")) as Config;
function multimodal(t: Config): Config {
  const { architectures: _a, transformers_version: _v, ...rest } = t;
  return { model_type: "llama4", architectures: ["Llama4ForConditionalGeneration"], text_config: { ...rest, model_type: "llama4_text" }, vision_config: { hidden_size: 8 } };
}

function program(config: Config): string {
  const r = importHfConfig(config, "llama4/config.json");
  if ("error" in r) throw new Error(r.error);
  return r.text;
}
const errorOf = (config: Config): string => {
  const r = importHfConfig(config, "models/x/config.json");
  if (!("error" in r)) throw new Error("expected an error");
  return r.error;
};

/** The fixture's tensors renamed as Llama4ForConditionalGeneration saves them, plus a vision tensor. */
function renamed(src: WeightSource): WeightSource {
  const to = (n: string) => (n.startsWith("model.") ? `language_model.${n}` : n === "lm_head.weight" ? "language_model.lm_head.weight" : n);
  const from = new Map(src.names().map((n) => [to(n), n]));
  const vision = "vision_model.patch_embedding.linear.weight";
  const of = (n: string) => from.get(n) ?? n;
  return {
    names: () => [...from.keys(), vision],
    has: (n) => from.has(n) || n === vision,
    info: (n) => (n === vision ? { ...src.info(src.names()[0]!), shape: [4, 4] } : src.info(of(n))),
    readTensor: (n) => src.readTensor(of(n)),
    readF32: (n) => (n === vision ? Promise.resolve(new Float32Array(16)) : src.readF32(of(n))),
    readMxfp4: (n) => src.readMxfp4(of(n)),
    close: () => src.close(),
  };
}

describe("llama4 (Llama4ForConditionalGeneration)", () => {
  it("binds language_model.* and leaves vision_model.* unbound, saying so, with transformers' logits", async () => {
    const t = program(multimodal(text));
    expect(t).toContain('const unused_weights = "vision_model. multi_modal_projector."');
    expect(t).toContain('@ "language_model.model.layers.{i}"');
    const checked = checkSource("llama4.moe", t);
    if (!checked.graph) throw new Error(formatDiagnostics(checked.diagnostics));
    const notes: string[] = [];
    const ck = renamed(await openCheckpoint(DIR));
    try {
      const weights = await bindWeights(checked.graph, ck, "llama4 (renamed)", { onNote: (m) => notes.push(m) });
      expect(notes.join("\n")).toMatch(/1 tensor under "vision_model\.", "multi_modal_projector\." left unbound.*vision_model\.patch_embedding/);
      const ids = JSON.parse(readFileSync(join(DIR, "input_ids.json"), "utf8")) as number[];
      const raw = readFileSync(join(DIR, "logits.f32"));
      const want = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      expect(relativeError(promptLogits({ graph: checked.graph, weights }, ids).data, want)).toBeLessThan(1e-4);
    } finally {
      await ck.close();
    }
  });

  it("the text-only program reports a vision tensor as unused", async () => {
    const checked = checkSource("llama4.moe", program(text).replaceAll('"model.', '"language_model.model.').replace('@ "lm_head"', '@ "language_model.lm_head"'));
    const ck = renamed(await openCheckpoint(DIR));
    try {
      await expect(bindWeights(checked.graph!, ck, "llama4 (renamed)")).rejects.toThrow(/1 tensor in the checkpoint is not used by the model:\n {4}vision_model\.patch_embedding\.linear\.weight/);
    } finally {
      await ck.close();
    }
  });

  it("refuses what it cannot express, naming key, value and file", () => {
    expect(errorOf({ ...text, hidden_act: "gelu" })).toMatch(/models\/x\/config\.json: "hidden_act" .*gelu/);
    expect(errorOf({ ...text, attention_bias: true })).toContain('models/x/config.json: "attention_bias" is true');
    expect(errorOf({ ...text, attention_chunk_size: null })).toContain('"attention_chunk_size" is null, but some layers are "chunked_attention"');
    expect(errorOf({ ...text, no_rope_layers: [1, 2, 1, 1] })).toContain('"no_rope_layers" must hold 0 (no RoPE) or 1 (RoPE) per layer');
    expect(errorOf(multimodal({ ...text, for_llm_compressor: true }))).toContain('"text_config.for_llm_compressor" is true');
    expect(errorOf(multimodal({ ...text, mystery: 1 }))).toContain('unknown key "text_config.mystery"');
    expect(errorOf({ ...multimodal(text), tie_word_embeddings: true })).toContain('"tie_word_embeddings" is true but text_config.tie_word_embeddings is false');
  });

  it("defaults as Llama4TextConfig: no_rope_layers empty → every 4th layer without RoPE; layer_types from it", () => {
    const { no_rope_layers: _a, layer_types: _b, ...rest } = text;
    const t = program({ ...rest, num_hidden_layers: 8, no_rope_layers: [], no_rope_layer_interval: 4, interleave_moe_layer_step: 1, moe_layers: null });
    expect(t).toContain("use_rope = i % 4 != 3");
    expect(t).not.toContain("chunked");
    expect(t).toContain("chunk = if use_rope then chunk else none");
    expect(t).toContain("temperature = if use_rope then none else temp");
  });
});
