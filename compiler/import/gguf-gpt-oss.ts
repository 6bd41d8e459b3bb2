// GGUF "gpt-oss" files (llama.cpp's GptOssModel converter) read back into the Hugging Face gpt_oss config and tensors.
//
// What the converter does that must be undone:
//  - gate_up_proj ([E, H, 2I], gate in the even columns, up in the odd ones: transformers' GptOssExperts takes
//    [..., ::2] and [..., 1::2]) is transposed to [E, 2I, H] and split by rows ::2 / 1::2 into ffn_gate_exps and
//    ffn_up_exps (ne [H, I, E]); with --fuse-gate-up-exps the two halves are concatenated instead, gate first, as
//    ffn_gate_up_exps (ne [H, 2I, E]). Their biases ([E, 2I]) are split (or concatenated) the same way.
//  - down_proj ([E, I, H]) is transposed to ffn_down_exps (ne [I, H, E]); its bias is kept ([E, H]).
//  - MXFP4 checkpoints are repacked as GGML MXFP4 blocks of those same tensors; the reader dequantises them.
//  - names: self_attn.sinks → attn_sinks.weight, mlp.router → ffn_gate_inp, post_attention_layernorm →
//    post_attention_norm.
//  - metadata: TextModel's keys, YaRN's factor / original context / beta_fast / beta_slow from rope_parameters,
//    attention.sliding_window, expert_feed_forward_length. Which layers slide is not written: llama.cpp's gpt-oss
//    makes every even layer a sliding one (set_swa_pattern(2)), as transformers' default layer_types does.
import type { GgufFile, GgufTensorInfo } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { Entry, GgufImport, Meta } from "./gguf.js";
import { agreed, commonDims, expertCounts, LLAMA_BLOCK, mapByRules, requireGating, routedLayers, type LayerRule } from "./gguf-layout.js";

/** [A, B] row-major (per leading `batch`) → [B, A]. */
export function transpose(x: Float32Array, batch: number, a: number, b: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let n = 0; n < batch; n++) {
    const o = n * a * b;
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[o + j * a + i] = x[o + i * b + j]!;
  }
  return out;
}

/** Per expert, gate [I, H] and up [I, H] → gate_up [H, 2I] with gate in the even columns. */
function interleaveWeights(gate: Float32Array, up: Float32Array, E: number, I: number, H: number): Float32Array {
  const out = new Float32Array(2 * gate.length);
  for (let e = 0; e < E; e++) {
    for (let i = 0; i < I; i++) {
      for (let h = 0; h < H; h++) {
        const from = (e * I + i) * H + h, to = (e * H + h) * 2 * I + 2 * i;
        out[to] = gate[from]!;
        out[to + 1] = up[from]!;
      }
    }
  }
  return out;
}

/** Per expert, gate bias [I] and up bias [I] → [2I] interleaved. */
function interleaveBiases(gate: Float32Array, up: Float32Array): Float32Array {
  const out = new Float32Array(2 * gate.length);
  for (let i = 0; i < gate.length; i++) {
    out[2 * i] = gate[i]!;
    out[2 * i + 1] = up[i]!;
  }
  return out;
}

/** Splits a fused [E, 2I, rest] (gate rows first) into its gate and up halves. */
function unfuse(x: Float32Array, E: number, I: number, rest: number): [Float32Array, Float32Array] {
  const gate = new Float32Array(x.length / 2), up = new Float32Array(x.length / 2);
  for (let e = 0; e < E; e++) {
    gate.set(x.subarray((2 * e) * I * rest, (2 * e + 1) * I * rest), e * I * rest);
    up.set(x.subarray((2 * e + 1) * I * rest, (2 * e + 2) * I * rest), e * I * rest);
  }
  return [gate, up];
}

export function gptOssToHf(g: GgufFile, m: Meta): GgufImport {
  const notes: string[] = [];
  const d = commonDims(g, m);
  const { experts, k } = expertCounts(m, "gpt-oss", g);
  requireGating(m, 1, "gpt-oss");
  const sparse = routedLayers(g, d.layers);
  const dense = sparse.flatMap((s, i) => (s ? [] : [i]));
  if (dense.length) throw new WeightFileError(g.file, `layers ${dense.join(", ")} have no router (blk.N.ffn_gate_inp.weight); GPT-OSS has experts in every layer`);
  const fused = g.has("blk.0.ffn_gate_up_exps.weight");
  const gateT = g.has("blk.0.ffn_gate_exps.weight") ? g.ggufTensor("blk.0.ffn_gate_exps.weight") : fused ? g.ggufTensor("blk.0.ffn_gate_up_exps.weight") : undefined;
  if (!gateT || gateT.ne.length !== 3) throw new WeightFileError(g.file, "layer 0 has no stacked expert gate (blk.0.ffn_gate_exps.weight, or ffn_gate_up_exps with --fuse-gate-up-exps)", "blk.0.ffn_gate_exps.weight");
  const ffn = agreed(m, m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), fused ? gateT.ne[1]! / 2 : gateT.ne[1]!, "expert");
  for (const t of ["attn_sinks.weight", "attn_q.bias"]) if (!g.has(`blk.0.${t}`)) throw new WeightFileError(g.file, `layer 0 has no ${t}; GPT-OSS attention always has sinks and biases`, `blk.0.${t}`);

  const window = m.optInt(m.key("attention.sliding_window"));
  const slides = window !== null && window > 0;
  if (!slides) notes.push(`${m.key("attention.sliding_window")} is ${window ?? "absent"}: every layer attends to every key`);
  const config: JsonObject = {
    model_type: "gpt_oss", architectures: ["GptOssForCausalLM"], ...d.base, head_dim: d.headDim,
    intermediate_size: ffn, num_local_experts: experts, num_experts_per_tok: k, attention_bias: true, swiglu_limit: 7,
    sliding_window: slides ? window : null,
    layer_types: Array.from({ length: d.layers }, (_, i) => (slides && i % 2 === 0 ? "sliding_attention" : "full_attention")),
    rope_parameters: yarnOrPlain(m, notes),
  };

  const I = ffn, H = d.hidden, E = experts;
  const layer = (t: GgufTensorInfo) => /^blk\.(\d+)\./.exec(t.name)![1]!;
  // gate_up_proj from the gate and up halves (split or fused); each half is read when its gate tensor is met.
  const gateUp = (kind: "weight" | "bias"): LayerRule => ({
    custom: (t, P, add) => {
      const b = `blk.${layer(t)}`;
      const from = fused ? [t.name] : [t.name, `${b}.ffn_up_exps.${kind}`];
      if (!fused && !g.has(from[1]!)) throw new WeightFileError(g.file, `has no matching ${from[1]} (the converter splits gate_up_proj into a gate and an up tensor)`, t.name);
      const halves = (parts: readonly Float32Array[]): [Float32Array, Float32Array] => (fused ? unfuse(parts[0]!, E, I, kind === "weight" ? H : 1) : [parts[0]!, parts[1]!]);
      add(`${P}.mlp.experts.gate_up_proj${kind === "weight" ? "" : "_bias"}`, {
        gguf: t.name, rows: null, unpermuteHeads: null,
        shape: kind === "weight" ? [E, H, 2 * I] : [E, 2 * I],
        derive: { from, make: (parts) => (kind === "weight" ? interleaveWeights(...halves(parts), E, I, H) : interleaveBiases(...halves(parts))) },
      });
    },
  });
  const readWithGate: LayerRule = { custom: () => {} };
  const rules: Record<string, LayerRule> = {
    ...LLAMA_BLOCK,
    "post_attention_norm.weight": { hf: "post_attention_layernorm.weight" },
    "attn_sinks.weight": { hf: "self_attn.sinks" },
    "ffn_gate_inp.weight": { hf: "mlp.router.weight" },
    "ffn_gate_inp.bias": { hf: "mlp.router.bias" },
    "ffn_down_exps.bias": { hf: "mlp.experts.down_proj_bias" },
    "ffn_down_exps.weight": {
      custom: (t, P, add) => add(`${P}.mlp.experts.down_proj`, { gguf: t.name, rows: null, unpermuteHeads: null, shape: [E, I, H], derive: { from: [t.name], make: ([x]) => transpose(x!, E, H, I) } }),
    },
    ...(fused
      ? { "ffn_gate_up_exps.weight": gateUp("weight"), "ffn_gate_up_exps.bias": gateUp("bias") }
      : { "ffn_gate_exps.weight": gateUp("weight"), "ffn_gate_exps.bias": gateUp("bias"), "ffn_up_exps.weight": readWithGate, "ffn_up_exps.bias": readWithGate }),
  };
  delete rules["ffn_norm.weight"]; // GPT-OSS names its second norm post_attention_norm
  const entries: Map<string, Entry> = mapByRules(g, "gpt-oss", rules);
  return { config, family: "gpt_oss", arch: "gpt-oss", notes, entries };
}

/** YaRN as GptOssConfig has it (truncate false: GPT-OSS's rotary does not round the correction range), or plain RoPE. */
function yarnOrPlain(m: Meta, notes: string[]): JsonObject {
  const theta = m.num(m.key("rope.freq_base"), 150000);
  const scaling = m.optStr(m.key("rope.scaling.type"));
  if (scaling === null || scaling === "none") return { rope_type: "default", rope_theta: theta };
  if (scaling !== "yarn") m.fail(m.key("rope.scaling.type"), `is "${scaling}"; GPT-OSS uses YaRN (or none)`);
  for (const key of ["rope.scaling.yarn_ext_factor", "rope.scaling.yarn_log_multiplier"]) if (m.has(m.key(key))) m.fail(m.key(key), "is set; GPT-OSS's YaRN (transformers' gpt_oss) has no such setting");
  const rope: JsonObject = {
    rope_type: "yarn", rope_theta: theta, factor: m.num(m.key("rope.scaling.factor")),
    original_max_position_embeddings: m.positiveInt(m.key("rope.scaling.original_context_length")),
    beta_fast: m.num(m.key("rope.scaling.yarn_beta_fast"), 32), beta_slow: m.num(m.key("rope.scaling.yarn_beta_slow"), 1), truncate: false,
  };
  const attn = m.optNum(m.key("rope.scaling.yarn_attn_factor"));
  if (attn !== null) rope.attention_factor = attn;
  notes.push("YaRN with truncate = false, as GPT-OSS's config has it (GGUF does not record it)");
  return rope;
}
