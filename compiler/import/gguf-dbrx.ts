// GGUF "dbrx" files (llama.cpp's DbrxModel converter) read back into the Hugging Face dbrx config and tensors.
//
// What the converter does that must be undone:
//  - the flat expert stacks ([E·ffn, d] each) are viewed as [E, ffn, d]: w1 → ffn_gate_exps and v1 → ffn_up_exps as
//    they are (ne [d, ffn, E], the same bytes), w2 permuted (0, 2, 1) → ffn_down_exps (ne [ffn, d, E]), which is
//    transposed back per expert;
//  - names: transformer.wte → token_embd, blocks.N.norm_attn_norm.{norm_1, attn.Wqkv, attn.out_proj, norm_2} →
//    blk.N.{attn_norm, attn_qkv, attn_output, attn_output_norm}, ffn.router.layer → ffn_gate_inp, norm_f →
//    output_norm; nothing is permuted (both rotate halves, NEOX);
//  - metadata: attn_config.rope_theta as rope.freq_base (transformers 5.17 reads the top-level rope settings
//    instead, default 10000: the import gives the file's base at the top level, the model llama.cpp runs),
//    clip_qkv as attention.clamp_kqv, LayerNorm epsilon 1e-5 (DBRX's, fixed).
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { GgufImport, Meta } from "./gguf.js";
import { expertCounts, mapByRules, plainRope, requireGating, routedLayers } from "./gguf-layout.js";

export function dbrxToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "dbrx";
  const notes: string[] = [];
  const layers = m.positiveInt(m.key("block_count"));
  const withTensors = new Set(g.tensors.flatMap((t) => /^blk\.(\d+)\./.exec(t.name)?.[1] ?? []));
  if (layers > withTensors.size) m.fail(m.key("block_count"), `is ${layers}, but the file has tensors (blk.N.*) for ${withTensors.size} layers; the metadata and the tensors disagree`);
  const hidden = m.positiveInt(m.key("embedding_length"));
  const heads = m.layerInt(m.key("attention.head_count"), layers);
  const kvHeads = m.has(m.key("attention.head_count_kv")) ? m.layerInt(m.key("attention.head_count_kv"), layers) : heads;
  const embd = g.has("token_embd.weight") ? g.ggufTensor("token_embd.weight") : undefined;
  if (!embd || embd.ne.length !== 2 || embd.ne[0] !== hidden) throw new WeightFileError(g.file, `tensor "token_embd.weight" is ${embd ? `[${embd.ne}] (ne)` : "missing"}; a model needs the token embedding with ne [${hidden}, vocab]`);
  const { experts, k } = expertCounts(m, arch, g);
  requireGating(m, 1, arch);
  if (m.optBool(m.key("expert_weights_norm")) === false) m.fail(m.key("expert_weights_norm"), "is false, but llama.cpp's dbrx renormalises the top-k weights (moe_normalize_expert_weights 1)");
  const eps = m.num(m.key("attention.layer_norm_epsilon"), 1e-5);
  if (eps !== 1e-5) m.fail(m.key("attention.layer_norm_epsilon"), `is ${eps}; transformers' DBRX LayerNorms use 1e-5`);
  const dense = routedLayers(g, layers).flatMap((s, i) => (s ? [] : [i]));
  if (dense.length) throw new WeightFileError(g.file, `layers ${dense.join(", ")} have no router (blk.N.ffn_gate_inp.weight); DBRX has experts in every layer`);
  const gate = g.has("blk.0.ffn_gate_exps.weight") ? g.ggufTensor("blk.0.ffn_gate_exps.weight") : undefined;
  if (!gate || gate.ne.length !== 3 || gate.ne[2] !== experts) throw new WeightFileError(g.file, `layer 0's stacked expert gate is ${gate ? `ne [${gate.ne}]` : "missing"}; DBRX's is [${hidden}, ffn, ${experts}]`, "blk.0.ffn_gate_exps.weight");
  const ffn = m.optInt(m.key("feed_forward_length")) ?? gate.ne[1]!;
  if (ffn !== gate.ne[1]) m.fail(m.key("feed_forward_length"), `is ${ffn} but the experts have ${gate.ne[1]} rows`);
  if (hidden % heads !== 0) m.fail(m.key("attention.head_count"), `is ${heads}, which does not divide embedding_length ${hidden}; DBRX's head dim is d_model / n_heads`);
  const clamp = m.optNum(m.key("attention.clamp_kqv"));
  const rope = plainRope(m, 10000, arch);
  const config: JsonObject = {
    model_type: "dbrx", architectures: ["DbrxForCausalLM"],
    d_model: hidden, n_heads: heads, n_layers: layers, max_seq_len: m.positiveInt(m.key("context_length")), vocab_size: embd.ne[1]!,
    attn_config: { kv_n_heads: kvHeads, clip_qkv: clamp !== null && clamp > 0 ? clamp : null, rope_theta: rope.rope_theta! },
    ffn_config: { ffn_hidden_size: ffn, moe_num_experts: experts, moe_top_k: k, moe_normalize_expert_weights: 1 },
    rope_parameters: rope, tie_word_embeddings: false,
  };
  if (!g.has("output.weight")) throw new WeightFileError(g.file, "has no output.weight; DBRX's lm_head is never tied to the embedding", "output.weight");
  const E = experts, F = ffn, H = hidden;
  const flat = (t: { ne: readonly number[] }) => [t.ne[2]! * t.ne[1]!, t.ne[0]!];
  const entries = mapByRules(g, arch, {
    "attn_norm.weight": { hf: "norm_attn_norm.norm_1.weight" },
    "attn_qkv.weight": { hf: "norm_attn_norm.attn.Wqkv.weight" },
    "attn_output.weight": { hf: "norm_attn_norm.attn.out_proj.weight" },
    "attn_output_norm.weight": { hf: "norm_attn_norm.norm_2.weight" },
    "ffn_gate_inp.weight": { hf: "ffn.router.layer.weight" },
    "ffn_gate_exps.weight": { hf: "ffn.experts.mlp.w1", shape: flat },
    "ffn_up_exps.weight": { hf: "ffn.experts.mlp.v1", shape: flat },
    "ffn_down_exps.weight": {
      custom: (t, P, add) => add(`${P}.ffn.experts.mlp.w2`, {
        gguf: t.name, rows: null, unpermuteHeads: null, shape: [E * F, H],
        derive: {
          from: [t.name],
          make: ([x]) => {
            const out = new Float32Array(x!.length);
            for (let e = 0; e < E; e++) for (let h = 0; h < H; h++) for (let f = 0; f < F; f++) out[(e * F + f) * H + h] = x![(e * H + h) * F + f]!;
            return out;
          },
        },
      }),
    },
  }, {
    layer: (n) => `transformer.blocks.${n}`,
    global: { "token_embd.weight": "transformer.wte.weight", "output_norm.weight": "transformer.norm_f.weight", "output.weight": "lm_head.weight" },
  });
  return { config, family: "dbrx", arch, notes, entries };
}
