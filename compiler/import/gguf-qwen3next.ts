// GGUF "qwen3next" files (llama.cpp's Qwen3NextModel converter, a Qwen2MoeModel) read back into the Hugging Face
// qwen3_next config and tensors.
//
// What the converter does that must be undone:
//  - every RMSNorm weight but the gated DeltaNet's own (linear_attn.norm) is written as 1 + w (Qwen3-Next's norms
//    are zero-centred): the import subtracts 1 (in float32, so a weight comes back within one rounding of 1 + w, not
//    bit for bit);
//  - linear_attn.A_log is written as −exp(A_log) (ssm_a): the import takes log(−x) (again within rounding);
//  - in_proj_qkvz ([q, k, v, z] per key head) is regrouped into attn_qkv ([all q, all k, all v]) and attn_gate (z):
//    the import puts each key head's rows back together;
//  - conv1d.weight [C, 1, K] is squeezed to ssm_conv1d (ne [K, C]: the same bytes); dt_bias → ssm_dt.bias,
//    in_proj_ba → ssm_ba, linear_attn.norm → ssm_norm, out_proj → ssm_out; post_attention_layernorm →
//    post_attention_norm; the MoE as Qwen2-MoE's (stacked experts, shared expert and its gate);
//  - metadata: ssm.conv_kernel, ssm.state_size (the key head dim), ssm.group_count (key heads), ssm.time_step_rank
//    (value heads), ssm.inner_size (value heads × value head dim), full_attention_interval, rope.dimension_count
//    (the rotated dims, head_dim × partial_rotary_factor).
// Which layers use full attention is read from the tensors (attn_q), and must be every full_attention_interval-th.
// llama.cpp's qwen3next has no dense MLP layers (its converter cannot map mlp.gate_proj); a file that has them as
// ffn_gate / ffn_up / ffn_down (what the converter's names would give) is read as transformers' mlp_only_layers.
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { Entry, GgufImport, Meta } from "./gguf.js";
import { agreed, commonDims, deltaNetDims, expertCounts, mapByRules, plainRope, requireGating, routedLayers, rowsOf, type LayerRule } from "./gguf-layout.js";

export const minusOne = (x: Float32Array) => x.map((v) => v - 1);

/** The HF tensor of a norm the converter wrote as 1 + w. */
export const offsetNorm = (hf: string): LayerRule => ({
  custom: (t, P, add) => add(`${P}.${hf}`, { gguf: t.name, shape: [...t.ne].reverse(), rows: null, unpermuteHeads: null, derive: { from: [t.name], make: ([x]) => minusOne(x!) } }),
});

export function qwen3nextToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "qwen3next";
  const notes: string[] = [];
  const d = commonDims(g, m);
  const { experts, k } = expertCounts(m, arch, g);
  requireGating(m, 1, arch);
  const { nk, nv, dk, dv, r } = deltaNetDims(m);
  const kernel = m.positiveInt(m.key("ssm.conv_kernel"));

  const full = Array.from({ length: d.layers }, (_, i) => g.has(`blk.${i}.attn_q.weight`));
  const interval = m.positiveInt(m.key("full_attention_interval"), 4);
  const off = full.flatMap((f, i) => (f !== ((i + 1) % interval === 0) ? [i] : []));
  if (off.length) throw new WeightFileError(g.file, `the layers with full attention (blk.N.attn_q.weight) are not every ${interval}-th (${m.key("full_attention_interval")}): layers ${off.join(", ")} differ`);
  const linearAt = full.indexOf(false);
  if (linearAt >= 0 && !g.has(`blk.${linearAt}.ssm_a`)) throw new WeightFileError(g.file, `layer ${linearAt} has neither attention (attn_q) nor the gated DeltaNet's ssm_a`, `blk.${linearAt}.ssm_a`);
  const ropeDims = m.positiveInt(m.key("rope.dimension_count"));
  if (ropeDims > d.headDim || ropeDims % 2 !== 0) m.fail(m.key("rope.dimension_count"), `is ${ropeDims}, not an even number of dims up to the head dim ${d.headDim}`);

  const sparse = routedLayers(g, d.layers);
  const dense = sparse.flatMap((s, i) => (s ? [] : [i]));
  const first = sparse.indexOf(true);
  if (first < 0) throw new WeightFileError(g.file, `no layer has a router (blk.N.ffn_gate_inp.weight), although ${m.key("expert_count")} is ${experts}; the file is incomplete`);
  if (dense.length) notes.push(`layers ${dense.join(", ")} are dense MLPs (ffn_gate / ffn_up / ffn_down), which llama.cpp's qwen3next cannot load`);
  const moeFfn = agreed(m, m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), rowsOf(g, `blk.${first}.ffn_gate_exps.weight`), "expert");
  const sharedFfn = agreed(m, m.key("expert_shared_feed_forward_length"), m.optInt(m.key("expert_shared_feed_forward_length")), rowsOf(g, `blk.${first}.ffn_gate_shexp.weight`) ?? 0, "shared expert");
  const denseFfn = dense.length ? agreed(m, m.key("feed_forward_length"), m.optInt(m.key("feed_forward_length")), rowsOf(g, `blk.${dense[0]}.ffn_gate.weight`), "dense MLP") : m.optInt(m.key("feed_forward_length"));
  if (g.has("blk.0.attn_q.bias") || g.has(`blk.${full.indexOf(true)}.attn_q.bias`)) throw new WeightFileError(g.file, "has attention biases; Qwen3-Next has none", "attn_q.bias");
  const renorm = m.optBool(m.key("expert_weights_norm"));
  const config: JsonObject = {
    model_type: "qwen3_next", architectures: ["Qwen3NextForCausalLM"], ...d.base, head_dim: d.headDim,
    layer_types: full.map((f) => (f ? "full_attention" : "linear_attention")),
    linear_conv_kernel_dim: kernel, linear_key_head_dim: dk, linear_num_key_heads: nk, linear_num_value_heads: nv, linear_value_head_dim: dv,
    num_experts: experts, num_experts_per_tok: k, moe_intermediate_size: moeFfn, shared_expert_intermediate_size: sharedFfn,
    // Qwen3-Next checkpoints renormalise; the converter writes no key for it
    norm_topk_prob: renorm ?? true, decoder_sparse_step: 1, mlp_only_layers: dense,
    rope_parameters: { ...plainRope(m, 10000, arch), partial_rotary_factor: ropeDims / d.headDim },
    ...(denseFfn !== null ? { intermediate_size: denseFfn } : {}),
  };

  const qkv = nk * dk * 2 + nv * dv;
  const perHead = 2 * dk + 2 * r * dv;
  const layer = (name: string) => /^blk\.(\d+)\./.exec(name)![1]!;
  const rules: Record<string, LayerRule> = {
    "attn_norm.weight": offsetNorm("input_layernorm.weight"),
    "post_attention_norm.weight": offsetNorm("post_attention_layernorm.weight"),
    "attn_q_norm.weight": offsetNorm("self_attn.q_norm.weight"),
    "attn_k_norm.weight": offsetNorm("self_attn.k_norm.weight"),
    ...Object.fromEntries(["q", "k", "v", "output"].map((p) => [`attn_${p}.weight`, { hf: `self_attn.${p === "output" ? "o" : p}_proj.weight` }])),
    "ssm_a": {
      custom: (t, P, add) => add(`${P}.linear_attn.A_log`, { gguf: t.name, shape: [t.numel], rows: null, unpermuteHeads: null, derive: { from: [t.name], make: ([x]) => x!.map((v) => Math.log(-v)) } }),
    },
    "ssm_conv1d.weight": { hf: "linear_attn.conv1d.weight", shape: (t) => [t.ne[1]!, 1, t.ne[0]!] },
    "ssm_dt.bias": { hf: "linear_attn.dt_bias" },
    "ssm_ba.weight": { hf: "linear_attn.in_proj_ba.weight" },
    "ssm_norm.weight": { hf: "linear_attn.norm.weight" },
    "ssm_out.weight": { hf: "linear_attn.out_proj.weight" },
    // in_proj_qkvz: per key head h, its q rows, k rows, then its r value heads' v rows and z rows
    "attn_qkv.weight": {
      custom: (t, P, add) => {
        const gate = `blk.${layer(t.name)}.attn_gate.weight`;
        if (!g.has(gate)) throw new WeightFileError(g.file, `has no matching ${gate} (the converter splits in_proj_qkvz into attn_qkv and attn_gate)`, t.name);
        if (t.ne[1] !== qkv) throw new WeightFileError(g.file, `has ${t.ne[1]} rows, but the key and value heads (ssm.*) make ${qkv}`, t.name);
        const H = t.ne[0]!;
        add(`${P}.linear_attn.in_proj_qkvz.weight`, {
          gguf: t.name, rows: null, unpermuteHeads: null, shape: [nk * perHead, H],
          derive: {
            from: [t.name, gate],
            make: ([x, z]) => {
              const out = new Float32Array(nk * perHead * H);
              const rows = (src: Float32Array, from: number, count: number, to: number) => out.set(src.subarray(from * H, (from + count) * H), to * H);
              for (let h = 0; h < nk; h++) {
                const o = h * perHead;
                rows(x!, h * dk, dk, o);
                rows(x!, nk * dk + h * dk, dk, o + dk);
                rows(x!, 2 * nk * dk + h * r * dv, r * dv, o + 2 * dk);
                rows(z!, h * r * dv, r * dv, o + 2 * dk + r * dv);
              }
              return out;
            },
          },
        });
      },
    },
    "attn_gate.weight": { custom: () => {} }, // read with attn_qkv
    "ffn_gate_inp.weight": { hf: "mlp.gate.weight" },
    "ffn_gate_inp_shexp.weight": { hf: "mlp.shared_expert_gate.weight", shape: (t) => [1, t.ne[0]!] },
    ...Object.fromEntries((["gate", "up", "down"] as const).flatMap((p) => [
      [`ffn_${p}_exps.weight`, { experts: "mlp.experts", proj: `${p}_proj` }],
      [`ffn_${p}_shexp.weight`, { hf: `mlp.shared_expert.${p}_proj.weight` }],
      [`ffn_${p}.weight`, { hf: `mlp.${p}_proj.weight` }],
    ])),
  };
  const entries = mapByRules(g, arch, rules);
  const norm = entries.get("model.norm.weight");
  if (norm) entries.set("model.norm.weight", { ...norm, derive: { from: [norm.gguf], make: ([x]) => minusOne(x!) } } satisfies Entry);
  return { config, family: "qwen3_next", arch, notes, entries };
}
