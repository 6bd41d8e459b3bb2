// GGUF "deepseek2" files (llama.cpp's DeepseekV2Model converter: DeepSeek-V2/V3/R1, Kimi-K2, GLM-4.7-Flash) read
// back into the Hugging Face config they came from: deepseek_v2 when the experts are gated by a softmax,
// deepseek_v3 when by a sigmoid (GLM-4.7-Flash's and Kimi-K2's programs are DeepSeek-V3's under another name).
//
// What the converter does that must be undone or checked:
//  - MLA is written in its "absorbed" form: kv_b_proj is split into attn_k_b (per head the key rows, transposed to
//    [kv_lora, nope]) and attn_v_b (per head [v, kv_lora]); key_length / value_length describe the absorbed MQA
//    (kv_lora + rope, kv_lora) and key_length_mla / value_length_mla the heads (nope + rope, v). Older files keep
//    attn_kv_b whole and give the head dims in key_length / value_length.
//  - RoPE rotates adjacent pairs (llama.cpp's NORM type), which is transformers' interleaved MLA rotation: nothing
//    is permuted.
//  - YaRN's softmax correction is rope.scaling.yarn_log_multiplier = 0.1 · mscale_all_dim, and llama.cpp applies it
//    to the softmax scale only, which is transformers' deepseek YaRN with mscale = mscale_all_dim.
import type { GgufFile, GgufTensorInfo } from "../../runtime/weights/gguf.js";
import { WeightFileError } from "../../runtime/weights/safetensors.js";
import type { JsonObject } from "./config.js";
import { GATING_SIGMOID, GATING_SOFTMAX, listed, type Entry, type GgufImport, type Meta } from "./gguf.js";

const GLOBAL: Record<string, string> = { "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight" };
const ATTN: Record<string, string> = {
  "attn_q.weight": "q_proj.weight", "attn_q_a.weight": "q_a_proj.weight", "attn_q_a_norm.weight": "q_a_layernorm.weight", "attn_q_b.weight": "q_b_proj.weight",
  "attn_kv_a_mqa.weight": "kv_a_proj_with_mqa.weight", "attn_kv_a_norm.weight": "kv_a_layernorm.weight", "attn_kv_b.weight": "kv_b_proj.weight",
  "attn_output.weight": "o_proj.weight",
};
const PROJ = { gate: "gate_proj", up: "up_proj", down: "down_proj" } as const;

/**
 * `o.mainLayers`: the blocks before the appended multi-token-prediction ones (glm-dsa), which are left out;
 * `o.gating`: the router when expert_gating_func is absent (deepseek2: softmax, the key postdates DeepSeek-V2's files).
 */
export function deepseek2ToHf(g: GgufFile, m: Meta, o: { mainLayers?: number; gating?: number } = {}): GgufImport {
  const notes: string[] = [];
  const tensor = (name: string): GgufTensorInfo | undefined => (g.has(name) ? g.ggufTensor(name) : undefined);
  const layers = o.mainLayers ?? m.positiveInt(m.key("block_count"));
  const layersWithTensors = new Set(g.tensors.flatMap((t) => /^blk\.(\d+)\./.exec(t.name)?.[1] ?? []));
  if (layers > layersWithTensors.size) m.fail(m.key("block_count"), `is ${layers}, but the file has tensors (blk.N.*) for ${layersWithTensors.size} layers; the metadata and the tensors disagree`);
  const hidden = m.positiveInt(m.key("embedding_length"));
  const heads = m.layerInt(m.key("attention.head_count"), m.positiveInt(m.key("block_count")));
  const embd = tensor("token_embd.weight");
  if (!embd || embd.ne.length !== 2 || embd.ne[0] !== hidden) throw new WeightFileError(g.file, `tensor "token_embd.weight" is ${embd ? `[${embd.ne}] (ne)` : "missing"}; a model needs the token embedding with ne [${hidden}, vocab]`);
  const vocab = embd.ne[1]!;

  // MLA dims
  const kvLora = m.positiveInt(m.key("attention.kv_lora_rank"));
  const qLoraMeta = m.optInt(m.key("attention.q_lora_rank"));
  const qLora = qLoraMeta === null || qLoraMeta === 0 ? null : qLoraMeta;
  if ((qLora === null) !== g.has("blk.0.attn_q.weight")) throw new WeightFileError(g.file, `${m.key("attention.q_lora_rank")} is ${qLoraMeta ?? "absent"} but layer 0 ${g.has("blk.0.attn_q.weight") ? "has" : "has no"} direct query projection (attn_q); the file is inconsistent`, "blk.0.attn_q.weight");
  const rope = m.positiveInt(m.key("rope.dimension_count"));
  const absorbed = m.has(m.key("attention.key_length_mla"));
  const qkHead = absorbed ? m.positiveInt(m.key("attention.key_length_mla")) : m.positiveInt(m.key("attention.key_length"));
  const vDim = absorbed ? m.positiveInt(m.key("attention.value_length_mla")) : m.positiveInt(m.key("attention.value_length"));
  if (qkHead <= rope) m.fail(m.key(absorbed ? "attention.key_length_mla" : "attention.key_length"), `is ${qkHead}, not more than the ${rope} rotary dims (rope.dimension_count)`);
  const nope = qkHead - rope;

  // RoPE
  const ropeParams: JsonObject = { rope_type: "default", rope_theta: m.num(m.key("rope.freq_base"), 10000) };
  const scaling = m.optStr(m.key("rope.scaling.type"));
  if (scaling === "yarn") {
    const logMul = m.optNum(m.key("rope.scaling.yarn_log_multiplier"));
    if (logMul === null) m.fail(m.key("rope.scaling.yarn_log_multiplier"), "is missing: DeepSeek's YaRN softmax correction (0.1 · mscale_all_dim) cannot be recovered without it");
    for (const k of ["rope.scaling.yarn_ext_factor", "rope.scaling.yarn_attn_factor", "rope.scaling.yarn_beta_fast", "rope.scaling.yarn_beta_slow"]) {
      if (m.has(m.key(k))) m.fail(m.key(k), "is set; the GGUF import maps only YaRN's factor, original context length and log multiplier");
    }
    const mscale = Math.round((logMul / 0.1) * 1e6) / 1e6;
    Object.assign(ropeParams, { rope_type: "yarn", factor: m.num(m.key("rope.scaling.factor")), original_max_position_embeddings: m.positiveInt(m.key("rope.scaling.original_context_length")), mscale, mscale_all_dim: mscale });
  } else if (scaling !== null && scaling !== "none") m.fail(m.key("rope.scaling.type"), `is "${scaling}"; the GGUF import of "deepseek2" supports none and yarn`);

  // Mixture
  const experts = m.positiveInt(m.key("expert_count"));
  const k = m.positiveInt(m.key("expert_used_count"));
  if (k > experts) m.fail(m.key("expert_used_count"), `is ${k}, more than the ${experts} experts`);
  const gating = m.int(m.key("expert_gating_func"), o.gating ?? GATING_SOFTMAX); // llama.cpp: DeepSeek-V2 files predate the key
  if (gating !== GATING_SOFTMAX && gating !== GATING_SIGMOID) m.fail(m.key("expert_gating_func"), `is ${gating}; DeepSeek routes with a softmax (${GATING_SOFTMAX}) or a sigmoid (${GATING_SIGMOID})`);
  const v3 = gating === GATING_SIGMOID;
  const sparse = Array.from({ length: layers }, (_, i) => g.has(`blk.${i}.ffn_gate_inp.weight`));
  const first = m.int(m.key("leading_dense_block_count"), sparse.indexOf(true));
  if (!sparse.every((s, i) => s === i >= first)) throw new WeightFileError(g.file, `the layers with a router (blk.N.ffn_gate_inp.weight) are not exactly those from ${m.key("leading_dense_block_count")} (${first}) on; DeepSeek makes the first layers dense and every later one MoE (dense: ${listed(sparse.flatMap((s, i) => (s ? [] : [i])))})`);
  const gate = tensor(`blk.${first}.ffn_gate_exps.weight`);
  const moeFfn = m.int(m.key("expert_feed_forward_length"), gate?.ne[1]);
  const nShared = m.positiveInt(m.key("expert_shared_count"), 1);
  const shexp = tensor(`blk.${first}.ffn_gate_shexp.weight`);
  if (!shexp || shexp.ne[1] !== nShared * moeFfn) throw new WeightFileError(g.file, `the shared experts of layer ${first} are ${shexp ? `${shexp.ne[1]} rows` : "missing"}, but ${m.key("expert_shared_count")} (${nShared}) × ${moeFfn} is ${nShared * moeFfn}`, `blk.${first}.ffn_gate_shexp.weight`);
  const scale = m.optNum(m.key("expert_weights_scale"));
  const renorm = m.optBool(m.key("expert_weights_norm"));
  const nGroup = m.optInt(m.key("expert_group_count"));
  const topkGroup = m.optInt(m.key("expert_group_used_count"));
  const denseFfn = first > 0 ? m.int(m.key("feed_forward_length"), tensor("blk.0.ffn_gate.weight")?.ne[1]) : m.optInt(m.key("feed_forward_length"));
  const router: JsonObject = v3
    ? { scoring_func: "sigmoid", topk_method: "noaux_tc", norm_topk_prob: renorm ?? false, n_group: nGroup ?? 1, topk_group: topkGroup ?? nGroup ?? 1 }
    : { scoring_func: "softmax", topk_method: "greedy" };
  if (v3 && !g.has(`blk.${first}.exp_probs_b.bias`)) throw new WeightFileError(g.file, `layer ${first} has no selection bias (blk.${first}.exp_probs_b.bias), which sigmoid gating (${m.key("expert_gating_func")} ${GATING_SIGMOID}) chooses with in DeepSeek-V3`, `blk.${first}.exp_probs_b.bias`);
  if (!v3) {
    // transformers' DeepSeek-V2 never renormalises; llama.cpp groups experts only for the sigmoid router's files
    if (renorm === true) m.fail(m.key("expert_weights_norm"), "is true, but DeepSeek-V2's softmax weights are not renormalised (transformers' deepseek_v2 does not read norm_topk_prob)");
    if (nGroup !== null && nGroup > 1) m.fail(m.key("expert_group_count"), `is ${nGroup}: group-limited softmax routing (DeepSeek-V2's group_limited_greedy, group score = max) is not mapped from GGUF`);
  }

  const config: JsonObject = {
    model_type: v3 ? "deepseek_v3" : "deepseek_v2", architectures: [v3 ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM"],
    vocab_size: vocab, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: heads,
    hidden_act: "silu", rms_norm_eps: m.num(m.key("attention.layer_norm_rms_epsilon")), max_position_embeddings: m.positiveInt(m.key("context_length")),
    rope_parameters: ropeParams, tie_word_embeddings: !g.has("output.weight"),
    q_lora_rank: qLora, kv_lora_rank: kvLora, qk_nope_head_dim: nope, qk_rope_head_dim: rope, v_head_dim: vDim,
    n_routed_experts: experts, num_experts_per_tok: k, moe_intermediate_size: moeFfn, n_shared_experts: nShared,
    first_k_dense_replace: first, routed_scaling_factor: scale === null || scale === 0 ? 1 : scale, ...router,
    ...(denseFfn !== null ? { intermediate_size: denseFfn } : {}),
  };
  if (v3) config.rope_interleave = true;
  for (const [hf, key] of [["bos_token_id", "tokenizer.ggml.bos_token_id"], ["eos_token_id", "tokenizer.ggml.eos_token_id"]] as const) {
    const v = m.optInt(key);
    if (v !== null) config[hf] = v;
  }
  if (v3 && renorm === null) notes.push(`${m.key("expert_weights_norm")} is absent: the top-k weights are not renormalised, as llama.cpp does without it`);
  return { config, family: v3 ? "deepseek_v3" : "deepseek_v2", arch: "deepseek2", notes, entries: mapTensors(g, layers, { heads, nope, v: vDim, kvLora }) };
}

function mapTensors(g: GgufFile, layers: number, mla: { heads: number; nope: number; v: number; kvLora: number }): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const add = (hf: string, e: Entry) => {
    const prev = out.get(hf);
    if (prev) throw new WeightFileError(g.file, `tensors "${prev.gguf}" and "${e.gguf}" both map to the Hugging Face tensor "${hf}"; the file holds the same weights twice`, e.gguf);
    out.set(hf, e);
  };
  const whole = (t: GgufTensorInfo, hf: string) => add(hf, { gguf: t.name, shape: t.shape, rows: null, unpermuteHeads: null });
  for (const t of g.tensors) {
    if (Object.hasOwn(GLOBAL, t.name)) {
      whole(t, GLOBAL[t.name]!);
      continue;
    }
    const mm = /^blk\.(\d+)\.(.+)$/.exec(t.name);
    if (!mm) {
      whole(t, t.name); // not a model tensor: bindWeights reports it as unused
      continue;
    }
    if (Number(mm[1]) >= layers) continue; // multi-token-prediction blocks after the main model
    const P = `model.layers.${mm[1]}`;
    const rest = mm[2]!;
    let r: RegExpExecArray | null;
    if (rest === "attn_norm.weight") whole(t, `${P}.input_layernorm.weight`);
    else if (rest === "ffn_norm.weight") whole(t, `${P}.post_attention_layernorm.weight`);
    else if (Object.hasOwn(ATTN, rest)) whole(t, `${P}.self_attn.${ATTN[rest]!}`);
    else if (rest === "attn_k_b.weight") {
      const vb = `blk.${mm[1]}.attn_v_b.weight`;
      const v = g.has(vb) ? g.ggufTensor(vb) : undefined;
      // attn_k_b ne [nope, kv_lora, heads], attn_v_b ne [kv_lora, v, heads]
      if (t.ne.join() !== [mla.nope, mla.kvLora, mla.heads].join() || !v || v.ne.join() !== [mla.kvLora, mla.v, mla.heads].join()) {
        throw new WeightFileError(g.file, `is ne [${t.ne}] with ${vb} ${v ? `ne [${v.ne}]` : "missing"}; MLA's split kv_b_proj needs ne [${mla.nope}, ${mla.kvLora}, ${mla.heads}] and [${mla.kvLora}, ${mla.v}, ${mla.heads}]`, t.name);
      }
      add(`${P}.self_attn.kv_b_proj.weight`, { gguf: t.name, shape: [mla.heads * (mla.nope + mla.v), mla.kvLora], rows: null, unpermuteHeads: null, mlaKvB: { vb, ...mla } });
    } else if (rest === "attn_v_b.weight") continue; // read with its attn_k_b
    else if (rest === "ffn_gate_inp.weight") whole(t, `${P}.mlp.gate.weight`);
    else if (rest === "exp_probs_b.bias") whole(t, `${P}.mlp.gate.e_score_correction_bias`);
    else if ((r = /^ffn_(gate|up|down)_exps\.weight$/.exec(rest))) {
      if (t.ne.length !== 3) throw new WeightFileError(g.file, `has ne [${t.ne}]; stacked experts have three dims [in, out, experts]`, t.name);
      const [inDim, outDim, n] = t.ne as [number, number, number];
      for (let e = 0; e < n; e++) add(`${P}.mlp.experts.${e}.${PROJ[r[1] as keyof typeof PROJ]}.weight`, { gguf: t.name, shape: [outDim, inDim], rows: { first: e * outDim, count: outDim }, unpermuteHeads: null });
    } else if ((r = /^ffn_(gate|up|down)_shexp\.weight$/.exec(rest))) whole(t, `${P}.mlp.shared_experts.${PROJ[r[1] as keyof typeof PROJ]}.weight`);
    else if ((r = /^ffn_(gate|up|down)\.weight$/.exec(rest))) whole(t, `${P}.mlp.${PROJ[r[1] as keyof typeof PROJ]}.weight`);
    else whole(t, t.name);
  }
  return out;
}

/**
 * kv_b_proj [heads·(nope + v), kv_lora] from attn_k_b (row-major [heads, kv_lora, nope]) and attn_v_b
 * ([heads, v, kv_lora]): per head, the transposed key block, then the value block.
 */
export function joinMlaKvB(kb: Float32Array, vb: Float32Array, d: { heads: number; nope: number; v: number; kvLora: number }): Float32Array {
  const { heads, nope, v, kvLora } = d;
  const out = new Float32Array(heads * (nope + v) * kvLora);
  for (let h = 0; h < heads; h++) {
    const base = h * (nope + v) * kvLora;
    for (let i = 0; i < nope; i++) for (let c = 0; c < kvLora; c++) out[base + i * kvLora + c] = kb[(h * kvLora + c) * nope + i]!;
    out.set(vb.subarray(h * v * kvLora, (h + 1) * v * kvLora), base + nope * kvLora);
  }
  return out;
}
