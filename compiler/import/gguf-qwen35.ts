// GGUF "qwen35moe" files (llama.cpp's Qwen3_5MoeTextModel converter: Qwen3.5 / Qwen3.6 MoE, the language model of
// Qwen3_5MoeForConditionalGeneration) read back into the Hugging Face qwen3_5_moe config and tensors.
//
// On top of what Qwen3NextModel does (gguf-qwen3next.ts: 1 + w norms, −exp(A_log), squeezed conv, renamed
// DeltaNet tensors), _LinearAttentionVReorderBase reorders the value heads from grouped by key head
// ([k0: v0 … v(r−1)], [k1: …]) to tiled ([v0 of every key head], [v1 of every key head], …) in every tensor with a
// value-head axis: the v rows of in_proj_qkv (attn_qkv), in_proj_z (attn_gate), in_proj_b / in_proj_a (ssm_beta /
// ssm_alpha), A_log and dt_bias, the v channels of the conv, and the columns of out_proj (ssm_out). The import
// puts each back. The four projections stay apart (no in_proj_qkvz). M-RoPE's sections are rope.dimension_sections
// (with text's equal positions it is plain RoPE over rope.dimension_count dims). Multi-token-prediction blocks
// (nextn_predict_layers) are left out.
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { Entry, GgufImport, Meta } from "./gguf.js";
import { agreed, commonDims, deltaNetDims, expertCounts, mainLayers, mapByRules, plainRope, requireGating, routedLayers, rowsOf, type LayerRule } from "./gguf-layout.js";
import { minusOne, offsetNorm } from "./gguf-qwen3next.js";

/**
 * Undoes the converter's _reorder_v_heads along rows: `x` is [nk·r·d rows of `cols`] in tiled order (index
 * (j, h, i) = (j·nk + h)·d + i); the result is grouped ((h, j, i) = (h·r + j)·d + i).
 */
export function untileRows(x: Float32Array, nk: number, r: number, d: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let h = 0; h < nk; h++) {
    for (let j = 0; j < r; j++) {
      const from = (j * nk + h) * d * cols, to = (h * r + j) * d * cols;
      out.set(x.subarray(from, from + d * cols), to);
    }
  }
  return out;
}

/** The same along columns of a [rows, nk·r·d] matrix. */
function untileCols(x: Float32Array, rows: number, nk: number, r: number, d: number): Float32Array {
  const n = nk * r * d;
  const out = new Float32Array(x.length);
  for (let row = 0; row < rows; row++) {
    const src = x.subarray(row * n, (row + 1) * n);
    out.set(untileRows(src, nk, r, d, 1), row * n);
  }
  return out;
}

export function qwen35moeToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "qwen35moe";
  const notes: string[] = [];
  const d = commonDims(g, m);
  const layers = mainLayers(m, d.layers, notes);
  const { experts, k } = expertCounts(m, arch, g);
  requireGating(m, 1, arch);
  const { nk, nv, dk, dv, r } = deltaNetDims(m);
  const full = Array.from({ length: layers }, (_, i) => g.has(`blk.${i}.attn_q.weight`));
  const interval = m.positiveInt(m.key("full_attention_interval"), 4);
  const off = full.flatMap((f, i) => (f !== ((i + 1) % interval === 0) ? [i] : []));
  if (off.length) throw new WeightFileError(g.file, `the layers with full attention (blk.N.attn_q.weight) are not every ${interval}-th (${m.key("full_attention_interval")}): layers ${off.join(", ")} differ`);
  const dense = routedLayers(g, layers).flatMap((s, i) => (s ? [] : [i]));
  if (dense.length) throw new WeightFileError(g.file, `layers ${dense.join(", ")} have no router (blk.N.ffn_gate_inp.weight); Qwen3.5-MoE has experts in every layer`);
  const ropeDims = m.positiveInt(m.key("rope.dimension_count"));
  if (ropeDims > d.headDim || ropeDims % 2 !== 0) m.fail(m.key("rope.dimension_count"), `is ${ropeDims}, not an even number of dims up to the head dim ${d.headDim}`);
  const sections = g.get(m.key("rope.dimension_sections"));
  if (sections !== undefined && (!Array.isArray(sections) || sections.some((x) => typeof x !== "number"))) m.fail(m.key("rope.dimension_sections"), "must be a list of integers");
  const moeFfn = agreed(m, m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), rowsOf(g, "blk.0.ffn_gate_exps.weight"), "expert");
  const sharedFfn = agreed(m, m.key("expert_shared_feed_forward_length"), m.optInt(m.key("expert_shared_feed_forward_length")), rowsOf(g, "blk.0.ffn_gate_shexp.weight") ?? 0, "shared expert");
  const { head_dim: _h, ...base } = d.base;
  const text: JsonObject = {
    model_type: "qwen3_5_moe_text", ...base, num_hidden_layers: layers, head_dim: d.headDim,
    layer_types: full.map((f) => (f ? "full_attention" : "linear_attention")),
    linear_conv_kernel_dim: m.positiveInt(m.key("ssm.conv_kernel")), linear_key_head_dim: dk, linear_num_key_heads: nk, linear_num_value_heads: nv, linear_value_head_dim: dv,
    num_experts: experts, num_experts_per_tok: k, moe_intermediate_size: moeFfn, shared_expert_intermediate_size: sharedFfn,
    rope_parameters: {
      ...plainRope(m, 10000000, arch), partial_rotary_factor: ropeDims / d.headDim,
      ...(Array.isArray(sections) ? { mrope_section: (sections as number[]).slice(0, 3), mrope_interleaved: true } : {}),
    },
  };
  const config: JsonObject = { model_type: "qwen3_5_moe", architectures: ["Qwen3_5MoeForConditionalGeneration"], text_config: text, tie_word_embeddings: d.base.tie_word_embeddings! };

  const derived = (hf: string, shape: (ne: readonly number[]) => number[], make: (x: Float32Array, ne: readonly number[]) => Float32Array): LayerRule => ({
    custom: (t, P, add) => add(`${P}.${hf}`, { gguf: t.name, shape: shape(t.ne), rows: null, unpermuteHeads: null, derive: { from: [t.name], make: ([x]) => make(x!, t.ne) } }),
  });
  const rev = (ne: readonly number[]) => [...ne].reverse();
  const qk = 2 * nk * dk;
  const rules: Record<string, LayerRule> = {
    "attn_norm.weight": offsetNorm("input_layernorm.weight"),
    "post_attention_norm.weight": offsetNorm("post_attention_layernorm.weight"),
    "attn_q_norm.weight": offsetNorm("self_attn.q_norm.weight"),
    "attn_k_norm.weight": offsetNorm("self_attn.k_norm.weight"),
    ...Object.fromEntries(["q", "k", "v", "output"].map((p) => [`attn_${p}.weight`, { hf: `self_attn.${p === "output" ? "o" : p}_proj.weight` }])),
    // q and k rows as they are; the v rows untiled
    "attn_qkv.weight": derived("linear_attn.in_proj_qkv.weight", rev, (x, ne) => {
      const H = ne[0]!, out = x.slice();
      out.set(untileRows(x.subarray(qk * H), nk, r, dv, H), qk * H);
      return out;
    }),
    "attn_gate.weight": derived("linear_attn.in_proj_z.weight", rev, (x, ne) => untileRows(x, nk, r, dv, ne[0]!)),
    "ssm_beta.weight": derived("linear_attn.in_proj_b.weight", rev, (x, ne) => untileRows(x, nk, r, 1, ne[0]!)),
    "ssm_alpha.weight": derived("linear_attn.in_proj_a.weight", rev, (x, ne) => untileRows(x, nk, r, 1, ne[0]!)),
    "ssm_a": derived("linear_attn.A_log", (ne) => [ne[0]!], (x) => untileRows(x, nk, r, 1, 1).map((v) => Math.log(-v))),
    "ssm_dt.bias": derived("linear_attn.dt_bias", (ne) => [ne[0]!], (x) => untileRows(x, nk, r, 1, 1)),
    "ssm_conv1d.weight": derived("linear_attn.conv1d.weight", (ne) => [ne[1]!, 1, ne[0]!], (x, ne) => {
      const K = ne[0]!, out = x.slice();
      out.set(untileRows(x.subarray(qk * K), nk, r, dv, K), qk * K);
      return out;
    }),
    "ssm_norm.weight": { hf: "linear_attn.norm.weight" },
    "ssm_out.weight": derived("linear_attn.out_proj.weight", rev, (x, ne) => untileCols(x, ne[1]!, nk, r, dv)),
    "ffn_gate_inp.weight": { hf: "mlp.gate.weight" },
    "ffn_gate_inp_shexp.weight": { hf: "mlp.shared_expert_gate.weight", shape: (t) => [1, t.ne[0]!] },
    ...Object.fromEntries((["gate", "up", "down"] as const).flatMap((p) => [
      [`ffn_${p}_exps.weight`, { experts: "mlp.experts", proj: `${p}_proj` }],
      [`ffn_${p}_shexp.weight`, { hf: `mlp.shared_expert.${p}_proj.weight` }],
    ])),
  };
  const entries = mapByRules(g, arch, rules, {
    layer: (n) => `model.language_model.layers.${n}`, mainLayers: layers,
    global: { "token_embd.weight": "model.language_model.embed_tokens.weight", "output_norm.weight": "model.language_model.norm.weight", "output.weight": "lm_head.weight" },
  });
  const norm = entries.get("model.language_model.norm.weight");
  if (norm) entries.set("model.language_model.norm.weight", { ...norm, derive: { from: [norm.gguf], make: ([x]) => minusOne(x!) } } satisfies Entry);
  return { config, family: "qwen3_5_moe", arch, notes, entries };
}
