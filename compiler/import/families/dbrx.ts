// DBRX (dbrx: DbrxForCausalLM). Semantics: transformers 5.17's modeling_dbrx.py — LayerNorms without a bias
// (norm_attn_norm.norm_1 before attention, norm_2 before the experts, transformer.norm_f); one fused
// projection Wqkv (rows [q; k; v]) clamped to ±clip_qkv, then split; out_proj; router ffn.router.layer,
// softmax over the experts, top-k divided by their p-norm (moe_normalize_expert_weights; p = 1 is moec's
// renormalisation); experts stored flat, [E·ffn, d] each: w1 (gate) and v1 (up) used as [ffn, d] (out, in),
// w2 as [ffn, d] (in, out).
import { ConfigReader } from "../config.js";
import { MAX_IMPORT_LAYERS, router, type Family, type FamilySpec } from "./common.js";

const ATTN_KEYS = ["attn_pdrop", "clip_qkv", "kv_n_heads", "rope_theta", "model_type", "dtype", "torch_dtype", "transformers_version"];
const FFN_KEYS = [
  "ffn_act_fn", "ffn_hidden_size", "moe_num_experts", "moe_top_k", "moe_jitter_eps", "moe_loss_weight", "moe_normalize_expert_weights",
  "hidden_size", "uniform_expert_assignment", "model_type", "dtype", "torch_dtype", "transformers_version",
];

export const dbrx: Family = {
  modelType: "dbrx",
  architectures: ["DbrxForCausalLM"],
  keys: [
    "d_model", "n_heads", "n_layers", "max_seq_len", "vocab_size", "resid_pdrop", "emb_pdrop", "attn_config", "ffn_config", "tie_word_embeddings",
    "num_key_value_heads", "rope_parameters", "rope_theta", "rope_scaling",
  ],
  build(r, notes): FamilySpec {
    const hidden = r.positiveInt("d_model", 2048);
    const heads = r.positiveInt("n_heads", 16);
    const layers = r.positiveInt("n_layers", 24);
    if (layers > MAX_IMPORT_LAYERS) r.fail("n_layers", `is ${layers}, more than the ${MAX_IMPORT_LAYERS} layers moec elaborates`);
    const vocab = r.positiveInt("vocab_size", 32000);
    if (hidden % heads !== 0) r.fail("d_model", `(${hidden}) must be a multiple of n_heads (${heads})`);
    if (r.bool("tie_word_embeddings", false)) r.fail("tie_word_embeddings", "is true, which transformers refuses for DBRX");
    const attn = r.object("attn_config") ?? new ConfigReader(r.source, r.family, {}, "attn_config.");
    attn.rejectUnknown(new Set(ATTN_KEYS), 'the attn_config of model_type "dbrx"');
    const ffn = r.object("ffn_config") ?? new ConfigReader(r.source, r.family, {}, "ffn_config.");
    ffn.rejectUnknown(new Set(FFN_KEYS), 'the ffn_config of model_type "dbrx"');
    const kv = attn.positiveInt("kv_n_heads", 1);
    if (heads % kv !== 0) attn.fail("kv_n_heads", `is ${kv}, which does not divide n_heads (${heads})`);
    if (r.given("num_key_value_heads") && r.int("num_key_value_heads") !== kv) r.fail("num_key_value_heads", `is ${r.int("num_key_value_heads")} but attn_config.kv_n_heads is ${kv} (DbrxConfig sets one from the other)`);
    const clip = attn.optNum("clip_qkv");
    if (clip !== null && !(clip > 0)) attn.fail("clip_qkv", `must be positive or null, got ${clip}`);
    const act = ffn.object("ffn_act_fn");
    if (act) {
      act.rejectUnknown(new Set(["name"]), "ffn_act_fn");
      act.oneOf("name", ["silu", "swish"], "silu", "moec imports DBRX experts with SiLU");
    }
    if (ffn.given("uniform_expert_assignment") && ffn.bool("uniform_expert_assignment")) ffn.fail("uniform_expert_assignment", "is true; it is a training-time load-balancing setting that transformers does not implement");
    if (ffn.given("hidden_size") && ffn.int("hidden_size") !== hidden) notes.push(`ffn_config.hidden_size = ${ffn.int("hidden_size")}: DbrxConfig overwrites it with d_model (${hidden})`);
    const experts = ffn.positiveInt("moe_num_experts", 4);
    const k = ffn.positiveInt("moe_top_k", 1);
    if (k > experts) ffn.fail("moe_top_k", `is ${k}, more than the ${experts} experts`);
    const p = ffn.has("moe_normalize_expert_weights") ? ffn.optNum("moe_normalize_expert_weights") : 1;
    if (p !== null && p !== 1) ffn.fail("moe_normalize_expert_weights", `is ${p}; moec renormalises the chosen weights by their sum, which is the 1-norm only (1 or null)`);
    const jitter = ffn.optNum("moe_jitter_eps");
    if (jitter) notes.push(`ffn_config.moe_jitter_eps = ${jitter} only perturbs the router while training`);

    // RoPE: transformers 5.17 reads the top-level rope settings (default theta 10000); the original DBRX code read
    // attn_config.rope_theta, which 5.17 ignores. A top-level setting wins; otherwise attn_config.rope_theta is used.
    const rs = r.object("rope_scaling");
    if (rs) rs.oneOf(rs.given("rope_type") ? "rope_type" : "type", ["default"], "default", "DbrxRotaryEmbedding is plain RoPE here");
    const rp = r.object("rope_parameters");
    if (rp) {
      rp.rejectUnknown(new Set(["rope_type", "rope_theta"]), 'the rope_parameters of model_type "dbrx"');
      rp.oneOf("rope_type", ["default"], "default", "DbrxRotaryEmbedding is plain RoPE here");
    }
    const topTheta = rp?.optNum("rope_theta") ?? r.optNum("rope_theta");
    const attnTheta = attn.optNum("rope_theta");
    const theta = topTheta ?? attnTheta ?? 10000;
    if (!(theta > 0)) r.fail("rope_theta", `must be positive, got ${theta}`);
    if (topTheta === null && attnTheta !== null && attnTheta !== 10000) {
      notes.push(`attn_config.rope_theta = ${attnTheta} is DBRX's RoPE base; transformers 5.17 ignores it and uses 10000 unless the config gives rope_parameters, so its logits differ from this program's`);
    } else if (topTheta !== null && attnTheta !== null && attnTheta !== topTheta) {
      notes.push(`attn_config.rope_theta = ${attnTheta} is not read by transformers 5.17; rope_theta ${topTheta} (the top-level setting) is used`);
    }
    return {
      vocab, hidden, layers, eps: 1e-5,
      norm: "layernorm",
      normNoBias: true,
      attention: { kind: "attention", heads, kvHeads: kv, headDim: null, bias: false, outBias: false, qkNorm: null, sinks: false, clipQkv: clip, window: null, qkvName: "Wqkv", oName: "out_proj" },
      rope: { theta, dim: null, style: "half", scaling: null, origin: null },
      mlp: { kind: "swiglu", names: ["w1", "v1", "w2"], act: "silu", denseBias: false, downInOut: true, bareNames: true },
      moe: {
        experts, ffn: ffn.positiveInt("ffn_hidden_size", 3584), expertsName: "experts.mlp", flatStacks: true,
        router: router({ name: "router.layer", k, scoring: "softmax", renormalize: p !== null, comment: `softmax over all experts, top-k${p !== null ? ", divided by their sum (the 1-norm)" : ""}` }),
        shared: null,
      },
      ffnName: "ffn",
      names: { embed: "transformer.wte", layers: "transformer.blocks.{i}", norm: "transformer.norm_f", inputNorm: "norm_attn_norm.norm_1", postNorm: "norm_attn_norm.norm_2", attention: "norm_attn_norm.attn" },
      sparse: Array(layers).fill(true),
      sparseRule: null,
      denseFfn: null,
      tied: false,
      lmHeadBias: false,
    };
  },
};

