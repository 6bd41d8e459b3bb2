// GGUF "llama4" files (llama.cpp's Llama4Model converter: Llama-4 Scout / Maverick, text or the language model of
// the multimodal checkpoints) read back into the Hugging Face llama4_text config and tensors.
//
// What the converter does that must be undone:
//  - the stacked experts: gate_up_proj ([E, H, 2I], gate in the first I columns) is transposed to [E, 2I, H] and
//    split in halves into ffn_gate_exps / ffn_up_exps (ne [H, I, E]); down_proj ([E, I, H]) is transposed to
//    ffn_down_exps (ne [I, H, E]);
//  - names: feed_forward.router → ffn_gate_inp, feed_forward.shared_expert → ffn_*_shexp, the dense layers'
//    feed_forward.*_proj → ffn_*, post_attention_layernorm → ffn_norm; q/k are NOT permuted (undo_permute = False:
//    Llama-4's rotary already rotates adjacent pairs, llama.cpp's NORM rope);
//  - metadata: intermediate_size (the experts') as expert_feed_forward_length and intermediate_size_mlp as
//    feed_forward_length, interleave_moe_layer_step; Llama 3 style RoPE as a rope_freqs tensor (gguf-rope-freqs.ts).
// What llama.cpp fixes for the architecture instead of reading it (so the file cannot say otherwise, and the import
// gives these): chunked attention in chunks of 8192 in three layers of four, no RoPE (with attention temperature
// tuning, floor_scale 8192, attn_scale 0.1) in every fourth layer, and the q/k L2 norm unless the model has 128
// experts (Maverick). A file with attention.sliding_window = 0 (MobileLLM, dense) is refused.
import type { GgufFile } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import type { GgufImport, Meta } from "./gguf.js";
import { llama3FromRopeFreqs } from "./gguf-rope-freqs.js";
import { agreed, commonDims, expertCounts, LLAMA_BLOCK, mapByRules, plainRope, routedLayers, rowsOf, type LayerRule } from "./gguf-layout.js";

/** llama.cpp's LLM_ARCH_LLAMA4 constants (llama-model.cpp, load_hparams). */
export const LLAMA4_FIXED = { attention_chunk_size: 8192, no_rope_layer_interval: 4, attn_temperature_tuning: true, floor_scale: 8192, attn_scale: 0.1 } as const;

/** [batch, a, b] → [batch, b, a]. */
function transpose(x: Float32Array, batch: number, a: number, b: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let n = 0; n < batch; n++) {
    const o = n * a * b;
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[o + j * a + i] = x[o + i * b + j]!;
  }
  return out;
}

export function llama4ToHf(g: GgufFile, m: Meta): GgufImport {
  const arch = "llama4";
  const notes: string[] = [];
  const d = commonDims(g, m);
  const { experts, k } = expertCounts(m, arch, g);
  const window = m.optInt(m.key("attention.sliding_window"));
  if (window === 0) m.fail(m.key("attention.sliding_window"), "is 0, which llama.cpp reads as a MobileLLM-style model (no chunked attention, RoPE in every layer); moec imports Llama-4's MoE layout only");
  const ropeDims = m.optInt(m.key("rope.dimension_count"));
  if (ropeDims !== null && ropeDims !== d.headDim) m.fail(m.key("rope.dimension_count"), `is ${ropeDims}, not the head dim ${d.headDim}; Llama-4 rotates whole heads`);
  const step = m.positiveInt(m.key("interleave_moe_layer_step"), 1);
  const sparse = routedLayers(g, d.layers);
  const off = sparse.flatMap((s, i) => (s !== ((i + 1) % step === 0) ? [i] : []));
  if (off.length) throw new WeightFileError(g.file, `the layers with a router (blk.N.ffn_gate_inp.weight) are not every ${step}-th (${m.key("interleave_moe_layer_step")}), as llama.cpp's llama4 makes them: layers ${off.join(", ")} differ`);
  const first = sparse.indexOf(true);
  const moeFfn = agreed(m, m.key("expert_feed_forward_length"), m.optInt(m.key("expert_feed_forward_length")), rowsOf(g, `blk.${first}.ffn_gate_exps.weight`), "expert");
  const shared = rowsOf(g, `blk.${first}.ffn_gate_shexp.weight`);
  if (shared !== moeFfn) throw new WeightFileError(g.file, `the shared expert of layer ${first} is ${shared === null ? "missing" : `${shared} rows`}; Llama-4's shared expert is as wide as the experts (${moeFfn})`, `blk.${first}.ffn_gate_shexp.weight`);
  const denseAt = sparse.indexOf(false);
  const mlpFfn = denseAt >= 0 ? agreed(m, m.key("feed_forward_length"), m.optInt(m.key("feed_forward_length")), rowsOf(g, `blk.${denseAt}.ffn_gate.weight`), "dense MLP") : m.optInt(m.key("feed_forward_length"));
  if (g.has("blk.0.attn_q.bias")) throw new WeightFileError(g.file, "has attention biases; Llama-4 has none", "blk.0.attn_q.bias");
  const config: JsonObject = {
    model_type: "llama4_text", architectures: ["Llama4ForCausalLM"], ...d.base, head_dim: d.headDim,
    intermediate_size: moeFfn, ...(mlpFfn !== null ? { intermediate_size_mlp: mlpFfn } : {}),
    num_local_experts: experts, num_experts_per_tok: k, interleave_moe_layer_step: step,
    use_qk_norm: experts !== 128, ...LLAMA4_FIXED,
    // Llama 3 style RoPE (both released models) is a rope_freqs tensor, read back into its parameters
    rope_parameters: g.has("rope_freqs.weight") ? llama3FromRopeFreqs(g, plainRope(m, 500000, arch).rope_theta as number, d.headDim) : plainRope(m, 500000, arch),
  };
  notes.push(`llama.cpp fixes Llama-4's attention for the architecture (the file cannot say otherwise): chunks of ${LLAMA4_FIXED.attention_chunk_size}, no RoPE in every ${LLAMA4_FIXED.no_rope_layer_interval}th layer with temperature tuning (floor_scale ${LLAMA4_FIXED.floor_scale}, attn_scale ${LLAMA4_FIXED.attn_scale}), q/k L2 norm ${experts !== 128 ? "on" : "off (128 experts: Maverick)"}`);

  const E = experts, I = moeFfn, H = d.hidden;
  const layer = (name: string) => /^blk\.(\d+)\./.exec(name)![1]!;
  const rules: Record<string, LayerRule> = {
    ...LLAMA_BLOCK,
    "ffn_gate_inp.weight": { hf: "feed_forward.router.weight" },
    ...Object.fromEntries((["gate", "up", "down"] as const).flatMap((p) => [
      [`ffn_${p}_shexp.weight`, { hf: `feed_forward.shared_expert.${p}_proj.weight` }],
      [`ffn_${p}.weight`, { hf: `feed_forward.${p}_proj.weight` }],
    ])),
    // gate_up_proj [E, H, 2I] from gate and up ([E, I, H] each): transposed back, gate first
    "ffn_gate_exps.weight": {
      custom: (t, P, add) => {
        const up = `blk.${layer(t.name)}.ffn_up_exps.weight`;
        if (!g.has(up)) throw new WeightFileError(g.file, `has no matching ${up} (the converter splits gate_up_proj into a gate and an up tensor)`, t.name);
        add(`${P}.feed_forward.experts.gate_up_proj`, {
          gguf: t.name, rows: null, unpermuteHeads: null, shape: [E, H, 2 * I],
          derive: {
            from: [t.name, up],
            make: ([gate, upW]) => {
              const both = new Float32Array(2 * gate!.length);
              for (let e = 0; e < E; e++) {
                both.set(gate!.subarray(e * I * H, (e + 1) * I * H), 2 * e * I * H);
                both.set(upW!.subarray(e * I * H, (e + 1) * I * H), (2 * e + 1) * I * H);
              }
              return transpose(both, E, 2 * I, H);
            },
          },
        });
      },
    },
    "ffn_up_exps.weight": { custom: () => {} }, // read with its gate
    "ffn_down_exps.weight": {
      custom: (t, P, add) => add(`${P}.feed_forward.experts.down_proj`, { gguf: t.name, rows: null, unpermuteHeads: null, shape: [E, I, H], derive: { from: [t.name], make: ([x]) => transpose(x!, E, H, I) } }),
    },
  };
  if (g.has("rope_freqs.weight")) notes.push(`rope_freqs.weight read back as Llama 3 RoPE: ${JSON.stringify(config.rope_parameters)}`);
  return { config, family: "llama4_text", arch, notes, entries: mapByRules(g, arch, rules, { consumed: ["rope_freqs.weight"] }) };
}
