// GGUF "qwen3vlmoe" files (llama.cpp's Qwen3VLMoeTextModel converter: the language model of Qwen3-VL-MoE; the vision
// tower goes to a separate mmproj file) read back into the Hugging Face qwen3_vl_moe config (its text_config) and
// tensors under model.language_model.*.
//
// What the converter does that must be undone:
//  - the experts as the checkpoints store them, stacked (in, out): gate_up_proj [E, H, 2I] split at I along its last
//    dim and each half transposed into ffn_gate_exps / ffn_up_exps (ne [H, I, E]); down_proj [E, I, H] transposed
//    into ffn_down_exps (ne [I, H, E]): rebuilt on read (float32);
//  - model.language_model. dropped from the names; the layers mlp_only_layers makes dense as ffn_gate / ffn_up /
//    ffn_down (llama.cpp's qwen3vlmoe itself expects a router in every layer);
//  - metadata: Qwen3MoeModel's (expert_feed_forward_length, expert counts, key_length = head_dim), M-RoPE's sections
//    as rope.dimension_sections [t, h, w, 0] (llama.cpp rotates them interleaved for this architecture: mrope_interleaved),
//    n_deepstack_layers (the vision features added to the first layers, which exist only for image inputs).
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { GgufImport, Meta } from "./gguf.js";
import { transpose } from "./gguf-gpt-oss.js";
import { agreed, commonDims, expertCounts, mapByRules, plainRope, requireGating, routedLayers, rowsOf, type LayerRule } from "./gguf-layout.js";

/** Per expert, gate [I, H] and up [I, H] (row-major) → gate_up [H, 2I], gate in the first I columns. */
function gateUp(gate: Float32Array, up: Float32Array, E: number, I: number, H: number): Float32Array {
  const g = transpose(gate, E, I, H), u = transpose(up, E, I, H); // [E, H, I] each
  const out = new Float32Array(2 * gate.length);
  for (let r = 0; r < E * H; r++) {
    out.set(g.subarray(r * I, (r + 1) * I), r * 2 * I);
    out.set(u.subarray(r * I, (r + 1) * I), r * 2 * I + I);
  }
  return out;
}

export function qwen3vlmoeToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "qwen3vlmoe";
  const notes: string[] = [];
  const d = commonDims(g, m);
  const { experts, k } = expertCounts(m, arch, g);
  requireGating(m, 1, arch);
  if (m.optBool(m.key("expert_weights_norm")) === false) m.fail(m.key("expert_weights_norm"), "is false, but Qwen3-VL-MoE always renormalises the top-k weights");
  const ropeDims = m.optInt(m.key("rope.dimension_count"));
  if (ropeDims !== null && ropeDims !== d.headDim) m.fail(m.key("rope.dimension_count"), `is ${ropeDims}, not the head dim ${d.headDim}; Qwen3-VL rotates whole heads`);
  const sectionsKey = m.key("rope.dimension_sections");
  const sections = g.get(sectionsKey);
  if (!Array.isArray(sections) || sections.length < 3 || sections.some((x) => typeof x !== "number" || x < 0)) m.fail(sectionsKey, `is ${sections === undefined ? "missing" : JSON.stringify(sections)}; llama.cpp's qwen3vlmoe needs M-RoPE's [t, h, w, 0] sections`);
  const mrope = (sections as number[]).slice(0, 3);
  if ((sections as number[]).slice(3).some((x) => x !== 0)) m.fail(sectionsKey, `is ${JSON.stringify(sections)}; Qwen3-VL has three sections (t, h, w), the fourth is 0`);
  if (mrope.reduce((a, b) => a + b, 0) !== d.headDim / 2) m.fail(sectionsKey, `is ${JSON.stringify(sections)}, whose t, h, w sum to ${mrope.reduce((a, b) => a + b, 0)}, not half the head dim (${d.headDim / 2})`);
  const deepstack = m.int(m.key("n_deepstack_layers"), 0);
  if (deepstack > 0) notes.push(`${m.key("n_deepstack_layers")} is ${deepstack}: the vision features added to the first layers, which exist only for image inputs (not imported)`);

  const sparse = routedLayers(g, d.layers);
  const dense = sparse.flatMap((s, i) => (s ? [] : [i]));
  const firstSparse = sparse.indexOf(true);
  if (firstSparse < 0) throw new WeightFileError(g.file, `has no router (blk.N.ffn_gate_inp.weight) in any layer, although ${m.key("expert_count")} is ${experts}`);
  const ffnKey = m.key("feed_forward_length");
  const text: JsonObject = {
    model_type: "qwen3_vl_moe_text", ...d.base, head_dim: d.headDim,
    num_experts: experts, num_experts_per_tok: k, decoder_sparse_step: 1, mlp_only_layers: dense,
    moe_intermediate_size: agreed(m, m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), rowsOf(g, `blk.${firstSparse}.ffn_gate_exps.weight`), "expert"),
    attention_bias: g.has("blk.0.attn_q.bias"),
    rope_parameters: { ...plainRope(m, 5000000, arch), mrope_section: mrope, mrope_interleaved: true },
  };
  if (dense.length) text.intermediate_size = agreed(m, ffnKey, m.optInt(ffnKey), rowsOf(g, `blk.${dense[0]}.ffn_gate.weight`), "dense MLP");
  else if (m.has(ffnKey)) text.intermediate_size = m.positiveInt(ffnKey);
  for (const i of dense) if (!g.has(`blk.${i}.ffn_gate.weight`)) throw new WeightFileError(g.file, `layer ${i} has neither a router (blk.${i}.ffn_gate_inp.weight) nor a dense MLP (blk.${i}.ffn_gate.weight)`);
  const config: JsonObject = { model_type: "qwen3_vl_moe", architectures: ["Qwen3VLMoeForConditionalGeneration"], text_config: text, tie_word_embeddings: d.base.tie_word_embeddings! };

  const expertsRule = (proj: "gate_up_proj" | "down_proj"): LayerRule => ({
    custom: (t, P, add) => {
      if (t.ne.length !== 3) throw new WeightFileError(g.file, `has ne [${t.ne}]; stacked experts have three dims [in, out, experts]`, t.name);
      const [inDim, outDim, E] = t.ne as [number, number, number];
      if (proj === "down_proj") {
        add(`${P}.mlp.experts.down_proj`, { gguf: t.name, rows: null, unpermuteHeads: null, shape: [E, inDim, outDim], derive: { from: [t.name], make: ([x]) => transpose(x!, E, outDim, inDim) } });
        return;
      }
      const up = t.name.replace("ffn_gate_exps", "ffn_up_exps");
      const u = g.has(up) ? g.ggufTensor(up) : undefined;
      if (!u || u.ne.join() !== t.ne.join()) throw new WeightFileError(g.file, `has no matching ${up} (the converter splits gate_up_proj into a gate and an up tensor of one shape)`, t.name);
      add(`${P}.mlp.experts.gate_up_proj`, { gguf: t.name, rows: null, unpermuteHeads: null, shape: [E, inDim, 2 * outDim], derive: { from: [t.name, up], make: ([a, b]) => gateUp(a!, b!, E, outDim, inDim) } });
    },
  });
  const rules: Record<string, LayerRule> = {
    "attn_norm.weight": { hf: "input_layernorm.weight" },
    "ffn_norm.weight": { hf: "post_attention_layernorm.weight" },
    "attn_q_norm.weight": { hf: "self_attn.q_norm.weight" },
    "attn_k_norm.weight": { hf: "self_attn.k_norm.weight" },
    ...Object.fromEntries(["q", "k", "v", "output"].flatMap((p) => ["weight", "bias"].map((w) => [`attn_${p}.${w}`, { hf: `self_attn.${p === "output" ? "o" : p}_proj.${w}` }]))),
    "ffn_gate_inp.weight": { hf: "mlp.gate.weight" },
    "ffn_gate_exps.weight": expertsRule("gate_up_proj"),
    "ffn_up_exps.weight": { custom: () => {} }, // read with its gate
    "ffn_down_exps.weight": expertsRule("down_proj"),
    ...Object.fromEntries(["gate", "up", "down"].map((p) => [`ffn_${p}.weight`, { hf: `mlp.${p}_proj.weight` }])),
  };
  const entries = mapByRules(g, arch, rules, {
    layer: (n) => `model.language_model.layers.${n}`,
    global: { "token_embd.weight": "model.language_model.embed_tokens.weight", "output_norm.weight": "model.language_model.norm.weight", "output.weight": "lm_head.weight" },
  });
  return { config, family: "qwen3_vl_moe", arch, notes, entries };
}
