// llama.cpp's convert_hf_to_gguf.py, redone here for the hybrid Hugging Face fixtures (GraniteHybridModel and
// NemotronHModel, both built on Mamba2Model and LlamaModel) and for GLM-5's (GlmMoeDsaModel, below), written
// independently of moec's importer so the tests can check it:
//  - Mamba2Model.modify_tensors: conv1d.weight squeezed ([C, 1, K] → [C, K]), A_log → −exp(A_log) reshaped to
//    [H, 1] (ssm_a), D reshaped to [H, 1] (ssm_d), the gated norm reshaped to [n_groups, inner / n_groups], dt_bias
//    → ssm_dt.bias, in_proj → ssm_in, out_proj → ssm_out;
//  - LlamaModel.modify_tensors with undo_permute = True (GraniteHybridModel sets it, NemotronHModel inherits it):
//    q_proj / k_proj rows permuted per head for llama.cpp's rotary;
//  - GraniteMoeModel: input_linear split at intermediate_size into ffn_gate_exps / ffn_up_exps, shared_mlp's into
//    ffn_gate_shexp / ffn_up_shexp (ffn_gate / ffn_up / ffn_down without experts); the muP multipliers as
//    attention.scale, embedding_scale, residual_scale, logit_scale;
//  - NemotronHModel: experts stacked (up and down), e_score_correction_bias → exp_probs_b.bias, feed_forward_length
//    per block (the expert width on MoE blocks, 0 elsewhere), the router keys, key_length = head_dim;
//  - GraniteHybridModel.set_gguf_parameters: ssm.* keys, head_count_kv per block (0 but on attention blocks),
//    rope.scaling.finetuned = "use rope" (false whenever a block is Mamba-2) and then context_length 2^20.
// The converters read layer kinds as "mamba" / "attention" (Granite's layer_types, Nemotron's layers_block_type);
// the fixtures were written by transformers 5.17, which names them "linear_attention" / "full_attention": they are
// read here as what they mean.
import type { KV } from "../helpers/gguf-writer.js";
import { llamaPermute } from "../helpers/gguf-writer.js";
import { type Cfg, type Options, type T, configOf, tensorsOf, textModelKv, uniform, write } from "./gguf-arch-convert.js";

type Out = [string, readonly number[], Float32Array][];
const MAMBA_KIND = new Set(["mamba", "linear_attention"]);
const ATTN_KIND = new Set(["attention", "full_attention"]);

/** Replaces (or adds) one key. */
function set(kv: KV[], entry: KV) {
  const i = kv.findIndex((e) => e[0] === entry[0]);
  if (i >= 0) kv.splice(i, 1);
  kv.push(entry);
}

/** Mamba2Model.modify_tensors for one mixer tensor (`rest` the name after the mixer's prefix), or null. */
function mambaTensor(b: string, rest: string, t: T, groups: number): Out[number] | null {
  switch (rest) {
    case "in_proj.weight": return [`${b}.ssm_in.weight`, t.shape, t.data];
    case "out_proj.weight": return [`${b}.ssm_out.weight`, t.shape, t.data];
    case "conv1d.weight": return [`${b}.ssm_conv1d.weight`, [t.shape[0]!, t.shape[2]!], t.data];
    case "conv1d.bias": return [`${b}.ssm_conv1d.bias`, t.shape, t.data];
    case "dt_bias": return [`${b}.ssm_dt.bias`, t.shape, t.data];
    case "A_log": return [`${b}.ssm_a`, [t.data.length, 1], t.data.map((v) => -Math.exp(v))];
    case "D": return [`${b}.ssm_d`, [t.data.length, 1], t.data];
    case "norm.weight": return [`${b}.ssm_norm.weight`, [groups, t.data.length / groups], t.data];
    default: return null;
  }
}

/** [.., 2n, cols] → the first n rows and the last n rows of each leading matrix. */
function splitRows(t: T): [number[], Float32Array, Float32Array] {
  const rows = t.shape.at(-2)!, cols = t.shape.at(-1)!, batch = t.data.length / (rows * cols), half = rows / 2;
  const a = new Float32Array(t.data.length / 2), b = new Float32Array(t.data.length / 2);
  for (let n = 0; n < batch; n++) {
    a.set(t.data.subarray(n * rows * cols, (n * rows + half) * cols), n * half * cols);
    b.set(t.data.subarray((n * rows + half) * cols, (n + 1) * rows * cols), n * half * cols);
  }
  return [[...t.shape.slice(0, -2), half, cols], a, b];
}

const noName = (n: string): never => { throw new Error(`no GGUF name for ${n}`); };

/**
 * test/fixtures/hf/granitemoehybrid* as GraniteHybridModel writes it, F32. `rope` overrides the converter's
 * rope.scaling.finetuned (false whenever a block is Mamba-2, whatever position_embedding_type says).
 */
export async function convertGraniteHybrid(name: string, o: Options & { rope?: boolean }): Promise<string> {
  const cfg = configOf(name);
  const a = "granitehybrid";
  const H = cfg.hidden_size as number, heads = cfg.num_attention_heads as number, kvHeads = cfg.num_key_value_heads as number;
  const types = cfg.layer_types as string[];
  const attn = types.map((t) => ATTN_KIND.has(t));
  const useRope = o.rope ?? !types.some((t) => MAMBA_KIND.has(t));
  const kv = textModelKv(a, { ...cfg, num_local_experts: cfg.num_local_experts ?? 0 });
  const experts = cfg.num_local_experts as number;
  kv.push([`${a}.vocab_size`, "u32", cfg.vocab_size], [`${a}.rope.dimension_count`, "u32", H / heads]);
  for (const [k, key] of [["attention_multiplier", "attention.scale"], ["embedding_multiplier", "embedding_scale"], ["residual_multiplier", "residual_scale"], ["logits_scaling", "logit_scale"]] as const) {
    if (cfg[k]) kv.push([`${a}.${key}`, "f32", cfg[k]]);
  }
  if (cfg.shared_intermediate_size) kv.push([`${a}.expert_shared_feed_forward_length`, "u32", cfg.shared_intermediate_size]);
  const inner = (cfg.mamba_expand as number) * H;
  kv.push(
    [`${a}.ssm.conv_kernel`, "u32", cfg.mamba_d_conv], [`${a}.ssm.state_size`, "u32", cfg.mamba_d_state], [`${a}.ssm.group_count`, "u32", cfg.mamba_n_groups],
    [`${a}.ssm.inner_size`, "u32", inner], [`${a}.ssm.time_step_rank`, "u32", cfg.mamba_n_heads], [`${a}.rope.scaling.finetuned`, "bool", useRope],
  );
  set(kv, [`${a}.attention.head_count_kv`, "array", attn.map((x) => (x ? kvHeads : 0)), "u32"]);
  if (!useRope) set(kv, [`${a}.context_length`, "u32", 2 ** 20]);
  const hf = await tensorsOf(name);
  const out: Out = [];
  const G: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  for (const [n, t] of hf) {
    if (G[n]) { out.push([G[n]!, t.shape, t.data]); continue; }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n) ?? noName(n);
    const b = `blk.${m[1]}`, rest = m[2]!;
    let r: RegExpExecArray | null;
    if (rest === "input_layernorm.weight") out.push([`${b}.attn_norm.weight`, t.shape, t.data]);
    else if (rest === "post_attention_layernorm.weight") out.push([`${b}.ffn_norm.weight`, t.shape, t.data]);
    else if ((r = /^self_attn\.(q|k|v|o)_proj\.weight$/.exec(rest))) {
      const data = r[1] === "q" ? llamaPermute(t.data, t.shape[0]!, heads) : r[1] === "k" ? llamaPermute(t.data, t.shape[0]!, kvHeads) : t.data;
      out.push([`${b}.attn_${r[1] === "o" ? "output" : r[1]}.weight`, t.shape, data]);
    } else if (rest.startsWith("mamba.")) out.push(mambaTensor(b, rest.slice(6), t, cfg.mamba_n_groups) ?? noName(n));
    else if (rest === "block_sparse_moe.router.layer.weight") out.push([`${b}.ffn_gate_inp.weight`, t.shape, t.data]);
    else if (rest === "block_sparse_moe.input_linear.weight") {
      const [shape, gate, up] = splitRows(t);
      out.push([`${b}.ffn_gate_exps.weight`, shape, gate], [`${b}.ffn_up_exps.weight`, shape, up]);
    } else if (rest === "block_sparse_moe.output_linear.weight") out.push([`${b}.ffn_down_exps.weight`, t.shape, t.data]);
    else if (rest === "shared_mlp.input_linear.weight") {
      const [shape, gate, up] = splitRows(t);
      out.push([`${b}.ffn_gate${experts ? "_shexp" : ""}.weight`, shape, gate], [`${b}.ffn_up${experts ? "_shexp" : ""}.weight`, shape, up]);
    } else if (rest === "shared_mlp.output_linear.weight") out.push([`${b}.ffn_down${experts ? "_shexp" : ""}.weight`, t.shape, t.data]);
    else noName(n);
  }
  return write(name, kv, out, o);
}

/**
 * test/fixtures/hf/nemotron_h as NemotronHModel writes it ("nemotron_h_moe": the config has num_experts_per_tok), F32.
 * With `allMoe`, each MLP block becomes a copy of the first MoE block's mixture (llama.cpp's nemotron_h_moe has no
 * MLP blocks: a block without attention or feed_forward_length is Mamba-2 to it), a model transformers did not run.
 */
export async function convertNemotronH(name: string, o: Options & { allMoe?: boolean }): Promise<string> {
  const base = configOf(name);
  const firstMoe = (base.layers_block_type as string[]).indexOf("moe");
  const cfg: Cfg = { ...base, ...(o.allMoe ? { layers_block_type: (base.layers_block_type as string[]).map((k) => (k === "mlp" ? "moe" : k)) } : {}) };
  let hf = await tensorsOf(name);
  if (o.allMoe) {
    const copy = new Map(hf);
    (base.layers_block_type as string[]).forEach((k, l) => {
      if (k !== "mlp") return;
      for (const n of [...copy.keys()]) if (n.startsWith(`backbone.layers.${l}.mixer.`)) copy.delete(n);
      for (const [n, t] of hf) if (n.startsWith(`backbone.layers.${firstMoe}.mixer.`)) copy.set(n.replace(`backbone.layers.${firstMoe}.`, `backbone.layers.${l}.`), t);
    });
    hf = copy;
  }
  const moe = cfg.num_experts_per_tok !== undefined;
  const a = moe ? "nemotron_h_moe" : "nemotron_h";
  const kinds = (cfg.layers_block_type as string[]).map((t) => (MAMBA_KIND.has(t) ? "mamba" : ATTN_KIND.has(t) ? "attention" : t));
  const heads = cfg.num_attention_heads as number, kvHeads = cfg.num_key_value_heads as number;
  // TextModel's keys: layer_norm_epsilon as attention.layer_norm_epsilon, and the rms key from norm_eps, which the
  // released configs have beside it (llama.cpp reads only the rms key); the fixture lacks norm_eps, so its value is used
  const kv = textModelKv(a, { ...cfg, num_hidden_layers: kinds.length, rope_parameters: { rope_type: "default", rope_theta: 10000 }, rms_norm_eps: cfg.norm_eps ?? cfg.layer_norm_epsilon })
    .filter((e) => !e[0].endsWith(".rope.freq_base"));
  kv.push(
    [`${a}.attention.layer_norm_epsilon`, "f32", cfg.layer_norm_epsilon], [`${a}.vocab_size`, "u32", cfg.vocab_size],
    [`${a}.rope.dimension_count`, "u32", cfg.hidden_size / heads], [`${a}.rope.scaling.finetuned`, "bool", false],
    [`${a}.ssm.conv_kernel`, "u32", cfg.conv_kernel], [`${a}.ssm.state_size`, "u32", cfg.ssm_state_size], [`${a}.ssm.group_count`, "u32", cfg.n_groups],
    [`${a}.ssm.inner_size`, "u32", cfg.mamba_num_heads * cfg.mamba_head_dim], [`${a}.ssm.time_step_rank`, "u32", cfg.mamba_num_heads],
  );
  set(kv, [`${a}.context_length`, "u32", 2 ** 20]);
  set(kv, [`${a}.attention.head_count_kv`, "array", kinds.map((k) => (k === "attention" ? kvHeads : 0)), "u32"]);
  set(kv, [`${a}.attention.key_length`, "u32", cfg.head_dim]);
  set(kv, [`${a}.attention.value_length`, "u32", cfg.head_dim]);
  if (moe) {
    set(kv, [`${a}.feed_forward_length`, "array", kinds.map((k) => (k === "moe" ? cfg.moe_intermediate_size : 0)), "u32"]);
    set(kv, [`${a}.expert_count`, "u32", cfg.n_routed_experts]);
    kv.push(
      [`${a}.expert_feed_forward_length`, "u32", cfg.moe_intermediate_size], [`${a}.expert_shared_feed_forward_length`, "u32", cfg.moe_shared_expert_intermediate_size],
      [`${a}.expert_shared_count`, "u32", cfg.n_shared_experts], [`${a}.expert_weights_norm`, "bool", cfg.norm_topk_prob],
      [`${a}.expert_weights_scale`, "f32", cfg.routed_scaling_factor], [`${a}.expert_group_count`, "u32", cfg.n_group],
      [`${a}.expert_group_used_count`, "u32", cfg.topk_group],
    );
  } else set(kv, [`${a}.feed_forward_length`, "array", kinds.map((k) => (k === "mlp" ? cfg.intermediate_size : 0)), "u32"]);
  const out: Out = [];
  const G: Record<string, string> = { "backbone.embeddings.weight": "token_embd.weight", "backbone.norm_f.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  const E = cfg.n_routed_experts as number;
  for (const [n, t] of hf) {
    if (G[n]) { out.push([G[n]!, t.shape, t.data]); continue; }
    const m = /^backbone\.layers\.(\d+)\.(.+)$/.exec(n) ?? noName(n);
    const b = `blk.${m[1]}`, rest = m[2]!;
    if (rest === "norm.weight") { out.push([`${b}.attn_norm.weight`, t.shape, t.data]); continue; }
    if (!rest.startsWith("mixer.")) noName(n);
    const r = rest.slice(6);
    const kind = kinds[Number(m[1])];
    let x: RegExpExecArray | null;
    if (kind === "mamba") out.push(mambaTensor(b, r, t, cfg.n_groups) ?? noName(n));
    else if ((x = /^(q|k|v|o)_proj\.weight$/.exec(r))) {
      const data = x[1] === "q" ? llamaPermute(t.data, t.shape[0]!, heads) : x[1] === "k" ? llamaPermute(t.data, t.shape[0]!, kvHeads) : t.data;
      out.push([`${b}.attn_${x[1] === "o" ? "output" : x[1]}.weight`, t.shape, data]);
    } else if ((x = /^(up|down)_proj\.weight$/.exec(r))) out.push([`${b}.ffn_${x[1]}.weight`, t.shape, t.data]);
    else if (r === "gate.weight") out.push([`${b}.ffn_gate_inp.weight`, t.shape, t.data]);
    else if (r === "gate.e_score_correction_bias") out.push([`${b}.exp_probs_b.bias`, t.shape, t.data]);
    else if ((x = /^shared_experts\.(up|down)_proj\.weight$/.exec(r))) out.push([`${b}.ffn_${x[1]}_shexp.weight`, t.shape, t.data]);
    else if ((x = /^experts\.0\.(up|down)_proj\.weight$/.exec(r))) {
      const parts = Array.from({ length: E }, (_, e) => hf.get(`backbone.layers.${m[1]}.mixer.experts.${e}.${x![1]}_proj.weight`)!.data);
      const stacked = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
      parts.reduce((off, p) => (stacked.set(p, off), off + p.length), 0);
      out.push([`${b}.ffn_${x[1]}_exps.weight`, [E, ...t.shape], stacked]);
    } else if (!/^experts\.\d+\./.test(r)) noName(n);
  }
  return write(name, kv, out, o);
}

/**
 * test/fixtures/hf/glm_moe_dsa as GlmMoeDsaModel (a DeepseekV2Model) writes it, F32: MLA absorbed (kv_b_proj split
 * into attn_k_b, transposed per head, and attn_v_b; head_count_kv 1; key/value_length of the MQA form, *_mla of the
 * heads), experts stacked, the indexer's keys and tensors. The converter writes leading_dense_block_count from
 * first_k_dense_replace (3 in the fixture), while transformers reads mlp_layer_types (dense, sparse, sparse): the file
 * gives the first sparse layer (1), the model transformers ran. `types` writes attention.indexer.types (newer
 * converters; gguf 0.19.0 has no such key); `mtp` appends that many multi-token-prediction blocks. `indexerDim`
 * redraws the indexer's tensors (seeded) for that index_head_dim: a model whose outputs are the fixture's up to
 * index_topk positions, where every key is kept whatever the indexer scores.
 */
export async function convertGlmDsa(name: string, o: Options & { types?: boolean; mtp?: number; indexerDim?: { dim: number; seed: number } }): Promise<string> {
  const cfg = { ...configOf(name), ...(o.indexerDim ? { index_head_dim: o.indexerDim.dim } : {}) };
  const a = "glm-dsa";
  const heads = cfg.num_attention_heads as number, nope = cfg.qk_nope_head_dim as number, rope = cfg.qk_rope_head_dim as number;
  const v = cfg.v_head_dim as number, kvLora = cfg.kv_lora_rank as number, L = cfg.num_hidden_layers as number, mtp = o.mtp ?? 0;
  const kv = textModelKv(a, { ...cfg, num_hidden_layers: L + mtp, num_key_value_heads: 1 });
  const firstSparse = (cfg.mlp_layer_types as string[]).indexOf("sparse");
  for (const e of [
    [`${a}.leading_dense_block_count`, "u32", firstSparse], [`${a}.vocab_size`, "u32", cfg.vocab_size], [`${a}.attention.q_lora_rank`, "u32", cfg.q_lora_rank],
    [`${a}.attention.kv_lora_rank`, "u32", kvLora], [`${a}.attention.key_length`, "u32", kvLora + rope], [`${a}.attention.value_length`, "u32", kvLora],
    [`${a}.attention.key_length_mla`, "u32", nope + rope], [`${a}.attention.value_length_mla`, "u32", v],
    [`${a}.expert_feed_forward_length`, "u32", cfg.moe_intermediate_size], [`${a}.expert_shared_count`, "u32", cfg.n_shared_experts],
    [`${a}.expert_weights_scale`, "f32", cfg.routed_scaling_factor], [`${a}.expert_group_count`, "u32", cfg.n_group], [`${a}.expert_group_used_count`, "u32", cfg.topk_group],
    [`${a}.rope.dimension_count`, "u32", rope * (cfg.rope_parameters.partial_rotary_factor ?? 1)],
    [`${a}.attention.indexer.head_count`, "u32", cfg.index_n_heads], [`${a}.attention.indexer.key_length`, "u32", cfg.index_head_dim], [`${a}.attention.indexer.top_k`, "u32", cfg.index_topk],
  ] as KV[]) set(kv, e);
  if (cfg.norm_topk_prob) kv.push([`${a}.expert_weights_norm`, "bool", true]);
  if (mtp) kv.push([`${a}.nextn_predict_layers`, "u32", mtp]);
  if (o.types) kv.push([`${a}.attention.indexer.types`, "array", [...(cfg.indexer_types as string[]).map((t) => t === "full"), ...Array(mtp).fill(true)], "bool"]);
  const hf = await tensorsOf(name);
  if (o.indexerDim) {
    const rand = uniform(o.indexerDim.seed), D = o.indexerDim.dim;
    const draw = (shape: number[], scale: number, centre = 0): T => ({ shape, data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => centre + scale * rand()) });
    for (const n of [...hf.keys()]) {
      const r = /\.indexer\.(wq_b|wk|k_norm)\.(weight|bias)$/.exec(n);
      if (!r) continue;
      hf.set(n, r[1] === "wq_b" ? draw([cfg.index_n_heads * D, cfg.q_lora_rank], 0.2) : r[1] === "wk" ? draw([D, cfg.hidden_size], 0.2) : draw([D], 0.1, r[2] === "weight" ? 1 : 0));
    }
  }
  const out: Out = [];
  const G: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  const LAYER: Record<string, string> = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_a_proj.weight": "attn_q_a.weight", "self_attn.q_a_layernorm.weight": "attn_q_a_norm.weight", "self_attn.q_b_proj.weight": "attn_q_b.weight",
    "self_attn.kv_a_proj_with_mqa.weight": "attn_kv_a_mqa.weight", "self_attn.kv_a_layernorm.weight": "attn_kv_a_norm.weight", "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.indexer.wq_b.weight": "indexer.attn_q_b.weight", "self_attn.indexer.wk.weight": "indexer.attn_k.weight",
    "self_attn.indexer.k_norm.weight": "indexer.k_norm.weight", "self_attn.indexer.k_norm.bias": "indexer.k_norm.bias", "self_attn.indexer.weights_proj.weight": "indexer.proj.weight",
    "mlp.gate.weight": "ffn_gate_inp.weight", "mlp.gate.e_score_correction_bias": "exp_probs_b.bias",
    ...Object.fromEntries(["gate", "up", "down"].flatMap((p) => [[`mlp.shared_experts.${p}_proj.weight`, `ffn_${p}_shexp.weight`], [`mlp.${p}_proj.weight`, `ffn_${p}.weight`]])),
  };
  for (const [n, t] of hf) {
    if (G[n]) { out.push([G[n]!, t.shape, t.data]); continue; }
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(n) ?? noName(n);
    const b = `blk.${m[1]}`, rest = m[2]!;
    if (/\.experts\.\d+\./.test(rest)) continue;
    if (rest === "self_attn.kv_b_proj.weight") {
      // kv_b.view(heads, nope + v, kv_lora) split into k_b (then transposed to [heads, kv_lora, nope]) and v_b
      const kb = new Float32Array(heads * kvLora * nope), vb = new Float32Array(heads * v * kvLora);
      for (let h = 0; h < heads; h++) {
        const base = h * (nope + v) * kvLora;
        for (let i = 0; i < nope; i++) for (let c = 0; c < kvLora; c++) kb[(h * kvLora + c) * nope + i] = t.data[base + i * kvLora + c]!;
        vb.set(t.data.subarray(base + nope * kvLora, base + (nope + v) * kvLora), h * v * kvLora);
      }
      out.push([`${b}.attn_k_b.weight`, [heads, kvLora, nope], kb], [`${b}.attn_v_b.weight`, [heads, v, kvLora], vb]);
    } else out.push([`${b}.${LAYER[rest] ?? noName(n)}`, t.shape, t.data]);
  }
  const E = cfg.n_routed_experts as number;
  for (let l = 0; l < L; l++) {
    for (const w of ["gate", "up", "down"]) {
      const parts = Array.from({ length: E }, (_, e) => hf.get(`model.layers.${l}.mlp.experts.${e}.${w}_proj.weight`));
      if (!parts[0]) continue;
      const stacked = new Float32Array(parts.reduce((s, p) => s + p!.data.length, 0));
      parts.reduce((off, p) => (stacked.set(p!.data, off), off + p!.data.length), 0);
      out.push([`blk.${l}.ffn_${w}_exps.weight`, [E, ...parts[0].shape], stacked]);
    }
  }
  // a NextN block: its own norms and projection (left out by the import), copies of layer 0's attention tensors
  const H = cfg.hidden_size as number;
  for (let l = L; l < L + mtp; l++) {
    out.push([`blk.${l}.nextn.eh_proj.weight`, [H, 2 * H], new Float32Array(2 * H * H)], [`blk.${l}.nextn.enorm.weight`, [H], new Float32Array(H).fill(1)]);
    for (const [n, s, d] of out.filter(([n]) => n.startsWith("blk.0.attn_"))) out.push([n.replace("blk.0.", `blk.${l}.`), s, d]);
  }
  return write(name, kv, out, o);
}
