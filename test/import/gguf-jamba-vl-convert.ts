// llama.cpp's convert_hf_to_gguf.py, redone here for the jamba and qwen3_vl_moe Hugging Face fixtures, written
// independently of moec's importer so the tests can check it:
//  - JambaModel: its own set_gguf_parameters (no TextModel keys, so no rope keys): block_count, context_length,
//    embedding_length, feed_forward_length, head_count, head_count_kv per block (num_key_value_heads on the blocks
//    attn_layer_period / _offset give, else 0), ssm.conv_kernel / inner_size (mamba_expand × hidden) / state_size /
//    time_step_rank (mamba_dt_rank), layer_norm_rms_epsilon, expert_count, expert_used_count. modify_tensors: experts
//    stacked (ffn_*_exps), the lone experts.0 of a dense block renamed to the plain MLP, conv1d squeezed ([C, 1, K] →
//    [C, K]), A_log → −exp(A_log) keeping its [inner, state] shape, the rest renamed through gguf's tensor map.
//  - Qwen3VLMoeTextModel (Qwen3MoeModel with the text_config merged in): TextModel's and Qwen2MoeModel's keys,
//    rope.dimension_sections = mrope_section padded to four, n_deepstack_layers = len(deepstack_visual_indexes);
//    model.visual.* skipped, "language_model." dropped from the names, gate_up_proj [E, H, 2I] split at I along its
//    last dim and each half permuted to [E, I, H] (ffn_gate_exps, ffn_up_exps), down_proj [E, I, H] permuted to
//    [E, H, I] (ffn_down_exps); a dense layer's (mlp_only_layers) MLP as ffn_gate / ffn_up / ffn_down.
import { type Cfg, type Options, configOf, stackExperts, tensorsOf, textModelKv, write } from "./gguf-arch-convert.js";
import type { KV } from "../helpers/gguf-writer.js";

type Out = [string, readonly number[], Float32Array][];
const noName = (n: string): never => { throw new Error(`no GGUF name for ${n}`); };

const JAMBA_LAYER: Record<string, string> = {
  "input_layernorm.weight": "attn_norm.weight", "pre_ff_layernorm.weight": "ffn_norm.weight",
  ...Object.fromEntries(["q", "k", "v", "o"].map((p) => [`self_attn.${p}_proj.weight`, `attn_${p === "o" ? "output" : p}.weight`])),
  "mamba.in_proj.weight": "ssm_in.weight", "mamba.conv1d.weight": "ssm_conv1d.weight", "mamba.conv1d.bias": "ssm_conv1d.bias",
  "mamba.x_proj.weight": "ssm_x.weight", "mamba.dt_proj.weight": "ssm_dt.weight", "mamba.dt_proj.bias": "ssm_dt.bias",
  "mamba.dt_layernorm.weight": "ssm_dt_norm.weight", "mamba.b_layernorm.weight": "ssm_b_norm.weight", "mamba.c_layernorm.weight": "ssm_c_norm.weight",
  "mamba.A_log": "ssm_a", "mamba.D": "ssm_d", "mamba.out_proj.weight": "ssm_out.weight",
  "feed_forward.router.weight": "ffn_gate_inp.weight",
  ...Object.fromEntries(["gate", "up", "down"].map((p) => [`feed_forward.${p}_proj.weight`, `ffn_${p}.weight`])),
};

/** test/fixtures/hf/jamba as JambaModel writes it, F32. */
export async function convertJamba(name: string, o: Options & { cfg?: Cfg }): Promise<string> {
  const cfg = { ...configOf(name), ...o.cfg };
  const a = "jamba";
  const L = cfg.num_hidden_layers as number, H = cfg.hidden_size as number;
  const attnAt = (i: number) => i >= cfg.attn_layer_offset && (i - cfg.attn_layer_offset) % cfg.attn_layer_period === 0;
  const kv: KV[] = [
    ["general.architecture", "string", a], ["general.file_type", "u32", 0],
    [`${a}.block_count`, "u32", L], [`${a}.context_length`, "u32", cfg.max_position_embeddings], [`${a}.embedding_length`, "u32", H],
    [`${a}.feed_forward_length`, "u32", cfg.intermediate_size], [`${a}.attention.head_count`, "u32", cfg.num_attention_heads],
    [`${a}.attention.head_count_kv`, "array", Array.from({ length: L }, (_, i) => (attnAt(i) ? cfg.num_key_value_heads : 0)), "u32"],
    [`${a}.ssm.conv_kernel`, "u32", cfg.mamba_d_conv ?? 4], [`${a}.ssm.inner_size`, "u32", cfg.mamba_expand * H],
    [`${a}.ssm.state_size`, "u32", cfg.mamba_d_state ?? 16], [`${a}.ssm.time_step_rank`, "u32", cfg.mamba_dt_rank ?? Math.ceil(H / 16)],
    [`${a}.attention.layer_norm_rms_epsilon`, "f32", cfg.rms_norm_eps ?? 1e-6],
    [`${a}.expert_count`, "u32", cfg.num_experts], [`${a}.expert_used_count`, "u32", cfg.num_experts_per_tok],
  ];
  const sparseAt = (i: number) => i >= cfg.expert_layer_offset && (i - cfg.expert_layer_offset) % cfg.expert_layer_period === 0;
  const hf = new Map([...(await tensorsOf(name))].map(([n, t]) => {
    const m = /^model\.layers\.(\d+)\./.exec(n);
    return [m && !sparseAt(Number(m[1])) ? n.replace(".experts.0.", ".") : n, t] as const;
  }));
  const out: Out = [];
  const G: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.final_layernorm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  for (const [n, t] of hf) {
    if (G[n]) { out.push([G[n]!, t.shape, t.data]); continue; }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n) ?? noName(n);
    const rest = m[2]!;
    if (/\.experts\.\d+\./.test(rest)) continue;
    const gg = `blk.${m[1]}.${JAMBA_LAYER[rest] ?? noName(n)}`;
    if (rest === "mamba.conv1d.weight") out.push([gg, [t.shape[0]!, t.shape[2]!], t.data]);
    else if (rest === "mamba.A_log") out.push([gg, t.shape, t.data.map((v) => -Math.exp(v))]);
    else out.push([gg, t.shape, t.data]);
  }
  stackExperts(hf, L, cfg.num_experts, "feed_forward.experts", out);
  return write(name, kv, out, o);
}

/** [E, A, B] → [E, B, A], taking columns from..from+B of each row of width `width` (≥ B). */
function permute021(x: Float32Array, E: number, A: number, width: number, from: number, B: number): Float32Array {
  const out = new Float32Array(E * A * B);
  for (let e = 0; e < E; e++) for (let a = 0; a < A; a++) for (let b = 0; b < B; b++) out[(e * B + b) * A + a] = x[(e * A + a) * width + from + b]!;
  return out;
}

const QWEN_LAYER: Record<string, string> = {
  "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
  "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
  ...Object.fromEntries(["q", "k", "v", "o"].map((p) => [`self_attn.${p}_proj.weight`, `attn_${p === "o" ? "output" : p}.weight`])),
  "mlp.gate.weight": "ffn_gate_inp.weight",
  ...Object.fromEntries(["gate", "up", "down"].map((p) => [`mlp.${p}_proj.weight`, `ffn_${p}.weight`])),
};

/**
 * test/fixtures/hf/qwen3_vl_moe as Qwen3VLMoeTextModel writes it, F32. With `allMoe`, each dense layer's MLP becomes a
 * copy of the first MoE layer's router and experts (llama.cpp's qwen3vlmoe has a router in every layer), a model
 * transformers did not run.
 */
export async function convertQwen3VlMoe(name: string, o: Options & { allMoe?: boolean }): Promise<string> {
  const top = configOf(name);
  const cfg: Cfg = { ...top, ...(top.text_config as Cfg) };
  const a = "qwen3vlmoe";
  const kv = textModelKv(a, cfg);
  kv.push(
    [`${a}.expert_feed_forward_length`, "u32", cfg.moe_intermediate_size], [`${a}.vocab_size`, "u32", cfg.vocab_size],
    [`${a}.rope.dimension_sections`, "array", [...(cfg.rope_parameters.mrope_section as number[]), 0, 0, 0, 0].slice(0, 4), "i32"],
    [`${a}.n_deepstack_layers`, "u32", ((top.vision_config as Cfg | undefined)?.deepstack_visual_indexes ?? []).length],
  );
  const out: Out = [];
  const G: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  const hf = await tensorsOf(name);
  if (o.allMoe) {
    const first = Array.from({ length: cfg.num_hidden_layers as number }, (_, l) => l).find((l) => !(cfg.mlp_only_layers as number[]).includes(l))!;
    const P = (l: number) => `model.language_model.layers.${l}.mlp.`;
    for (const l of cfg.mlp_only_layers as number[]) {
      for (const n of [...hf.keys()]) if (n.startsWith(P(l))) hf.delete(n);
      for (const [n, t] of [...hf]) if (n.startsWith(P(first))) hf.set(n.replace(P(first), P(l)), t);
    }
  }
  for (const [n0, t] of hf) {
    if (n0.startsWith("model.visual.")) continue;
    const n = n0.replace("language_model.", "");
    if (G[n]) { out.push([G[n]!, t.shape, t.data]); continue; }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n) ?? noName(n);
    const b = `blk.${m[1]}`, rest = m[2]!;
    if (rest === "mlp.experts.gate_up_proj") {
      const [E, H, I2] = t.shape as [number, number, number];
      const I = I2 / 2;
      out.push([`${b}.ffn_gate_exps.weight`, [E, I, H], permute021(t.data, E, H, I2, 0, I)], [`${b}.ffn_up_exps.weight`, [E, I, H], permute021(t.data, E, H, I2, I, I)]);
    } else if (rest === "mlp.experts.down_proj") {
      const [E, I, H] = t.shape as [number, number, number];
      out.push([`${b}.ffn_down_exps.weight`, [E, H, I], permute021(t.data, E, I, H, 0, H)]);
    } else out.push([`${b}.${QWEN_LAYER[rest] ?? noName(n)}`, t.shape, t.data]);
  }
  return write(name, kv, out, o);
}
