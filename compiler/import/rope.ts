// Rotary embedding settings from a Hugging Face config, in both spellings:
//  - transformers 5: `rope_parameters: {rope_type, rope_theta, factor, ...}`;
//  - transformers 4: top-level `rope_theta` plus `rope_scaling: {type | rope_type, factor, ...}`
//    (or `rope_scaling: null`).
// The rules follow transformers 5.17 `RotaryEmbeddingConfigMixin.convert_rope_params_to_dict`
// / `standardize_rope_params` and `modeling_rope_utils.ROPE_INIT_FUNCTIONS`.
import { ConfigReader, show } from "./config.js";
import type { RopeSpec, Scaling } from "./spec.js";

/** The top-level keys this module reads; every family lists them as understood. */
export const ROPE_KEYS = ["rope_parameters", "rope_scaling", "rope_theta", "partial_rotary_factor", "original_max_position_embeddings", "max_position_embeddings"] as const;

const BASE_KEYS = ["rope_type", "type", "rope_theta", "partial_rotary_factor"];
const TYPE_KEYS: Record<string, readonly string[]> = {
  default: [],
  linear: ["factor"],
  dynamic: ["factor"],
  llama3: ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"],
  yarn: ["factor", "original_max_position_embeddings", "attention_factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim", "truncate"],
  longrope: ["short_factor", "long_factor", "original_max_position_embeddings", "attention_factor", "factor", "short_mscale", "long_mscale"],
};

export interface RopeOptions {
  /** The family's `default_theta` (used when no rope_theta is given anywhere). */
  readonly defaultTheta: number;
  /** The per-head dims rotary applies to (head_dim, or qk_rope_head_dim for MLA). */
  readonly rotaryDim: number;
  readonly style: "half" | "interleaved";
  /** Whether partial_rotary_factor < 1 can be expressed (not for MLA). */
  readonly allowPartial: boolean;
  /** PhiMoE: cos/sin are scaled by short_mscale / long_mscale, and only default/longrope exist. */
  readonly phimoe: boolean;
  /** Rope types the family's HF code supports (by default all of TYPE_KEYS). */
  readonly types?: readonly string[];
  /** partial_rotary_factor when the config gives none (GLM-4.5: 0.5, set in Glm4MoeConfig.__post_init__). */
  readonly defaultPartial?: number;
  /**
   * Hunyuan's NTK-alpha: rope_type "dynamic" with an `alpha` uses the fixed base theta·alpha^(d/(d−2)) (d the
   * head dim) within max_position_embeddings (HunYuanMoEV1RotaryEmbedding).
   */
  readonly ntkAlpha?: boolean;
}

export function readRope(top: ConfigReader, o: RopeOptions, notes: string[]): RopeSpec {
  const legacy = top.object("rope_scaling");
  const modern = top.object("rope_parameters");
  if (legacy && modern) notes.push("both rope_scaling and rope_parameters are given; transformers uses rope_scaling, and so does this program");
  const p = legacy ?? modern;
  const typeKey = p ? (p.given("rope_type") ? "rope_type" : p.given("type") ? "type" : null) : null;
  const types = o.types ?? Object.keys(TYPE_KEYS);
  const type = p && typeKey ? p.oneOf(typeKey, types, undefined, "see modeling_rope_utils.ROPE_INIT_FUNCTIONS in transformers") : "default";
  const alpha = o.ntkAlpha && type === "dynamic" && p?.given("alpha") ? p.num("alpha") : null;
  if (p) p.rejectUnknown(new Set([...BASE_KEYS, ...TYPE_KEYS[type]!, ...(alpha !== null ? ["alpha", "beta_fast", "beta_slow", "mscale", "mscale_all_dim"] : [])]), `rope_type "${type}"`);

  const theta = p?.optNum("rope_theta") ?? top.optNum("rope_theta") ?? o.defaultTheta;
  if (alpha !== null) {
    if (!(alpha > 0)) p!.fail("alpha", `must be positive, got ${alpha}`);
    const d = o.rotaryDim;
    const base = theta * alpha ** (d / (d - 2));
    notes.push(
      `rope_type "dynamic" with alpha ${alpha} (NTK-alpha): the base is theta·alpha^(${d}/${d - 2}) = ${base}; ` +
        `transformers switches to the plain dynamic NTK frequencies for sequences longer than max_position_embeddings (${top.positiveInt("max_position_embeddings")}), which this program does not`,
    );
    for (const k of ["factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim"]) if (p!.given(k)) notes.push(`${p!.path}${k} is not used by the NTK-alpha rotary embedding`);
    return { theta: base, dim: null, style: o.style, scaling: null, origin: `${p!.path.slice(0, -1)}: {${Object.entries(p!.obj).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ")}}` };
  }
  if (!(theta > 0)) (p?.given("rope_theta") ? p : top).fail("rope_theta", `must be positive, got ${theta}`);
  const prfFrom = p?.given("partial_rotary_factor") ? p : top;
  const prf = prfFrom.optNum("partial_rotary_factor") ?? o.defaultPartial ?? 1;
  let dim: number | null = null;
  if (prf !== 1) {
    if (!o.allowPartial) prfFrom.fail("partial_rotary_factor", `is ${prf}; model_type "${top.family}" applies rotary to all of its rope dims in transformers (only 1.0 is supported)`);
    dim = Math.trunc(o.rotaryDim * prf);
    if (!(prf > 0 && prf < 1) || dim <= 0 || dim % 2 !== 0) prfFrom.fail("partial_rotary_factor", `is ${prf}, which rotates ${dim} of ${o.rotaryDim} dims; it must give a positive even number of dims`);
  }

  const maxPos = top.positiveInt("max_position_embeddings");
  /** HF: a top-level original_max_position_embeddings overrides the rope dict's (Phi-3). */
  const originalMax = (): number => {
    const inner = p!.optInt("original_max_position_embeddings");
    const outer = top.optInt("original_max_position_embeddings");
    if (inner !== null && outer !== null && inner !== outer) notes.push(`original_max_position_embeddings is ${outer} at the top level and ${inner} in ${p!.path.slice(0, -1)}; transformers uses the top-level value`);
    const v = outer ?? inner ?? maxPos;
    if (v <= 0) (outer !== null ? top : p!).fail("original_max_position_embeddings", `must be positive, got ${v}`);
    return v;
  };
  const factor = (required: boolean): number | null => {
    const f = required ? p!.num("factor") : p!.optNum("factor");
    if (f !== null && !(f > 0)) p!.fail("factor", `must be positive, got ${f}`);
    return f;
  };

  let scaling: Scaling | null = null;
  switch (type) {
    case "default":
      break;
    case "linear":
      scaling = { type: "linear", factor: factor(true)! };
      break;
    case "dynamic":
      // HF's dynamic NTK compares the sequence with max_position_embeddings.
      scaling = { type: "dynamic", factor: factor(true)!, originalMax: maxPos };
      break;
    case "llama3":
      scaling = { type: "llama3", factor: factor(true)!, lowFreqFactor: p!.num("low_freq_factor"), highFreqFactor: p!.num("high_freq_factor"), originalMax: originalMax() };
      break;
    case "yarn": {
      const orig = originalMax();
      const f = factor(false) ?? maxPos / orig;
      const mscale = p!.optNum("mscale");
      const mscaleAllDim = p!.optNum("mscale_all_dim");
      const betaFast = p!.optNum("beta_fast");
      const betaSlow = p!.optNum("beta_slow");
      // HF: `truncate = rope_parameters.get("truncate", True)`, and a null is falsy.
      const truncate = p!.has("truncate") ? (p!.raw("truncate") === null ? false : p!.bool("truncate")) : null;
      let ms = mscale;
      if (!mscale && mscaleAllDim && !p!.given("attention_factor")) {
        // HF uses get_mscale(factor) unless BOTH mscale and mscale_all_dim are set; the
        // language's mscale defaults to 1, so say 0 to get HF's rule.
        ms = 0;
        notes.push("rope mscale is not set while mscale_all_dim is, so HF's YaRN attention factor is 0.1·ln(factor)+1; the program passes mscale = 0 for that");
      }
      scaling = {
        type: "yarn", factor: f, originalMax: orig,
        betaFast: betaFast ? betaFast : null, betaSlow: betaSlow ? betaSlow : null,
        mscale: ms, mscaleAllDim, attentionFactor: p!.optNum("attention_factor"), truncate: truncate === true ? null : truncate,
      };
      break;
    }
    case "longrope": {
      const orig = originalMax();
      const shortFactor = p!.numList("short_factor");
      const longFactor = p!.numList("long_factor");
      const half = Math.floor((dim ?? o.rotaryDim) / 2);
      for (const [k, l] of [["short_factor", shortFactor], ["long_factor", longFactor]] as const) {
        if (l.length !== half) p!.fail(k, `has ${l.length} entries; the rotary embedding has ${half} frequencies`);
      }
      if (o.phimoe) {
        // HF PhimoeRotaryEmbedding: cos/sin times short_mscale (sequence within
        // original_max_position_embeddings) or long_mscale; attention_factor and factor unused.
        const shortMscale = p!.num("short_mscale");
        const longMscale = p!.num("long_mscale");
        for (const k of ["attention_factor", "factor"]) if (p!.given(k)) notes.push(`${p!.path}${k} (${show(p!.raw(k))}) is not used by transformers' phimoe, whose cos/sin multiplier is short_mscale / long_mscale`);
        notes.push("with short/long mscale (Phi-3.5-MoE), moec follows transformers 5.17: inv_freq always comes from short_factor, and the cos/sin multiplier switches to long_mscale beyond original_max_position_embeddings");
        scaling = { type: "longrope", shortFactor, longFactor, originalMax: orig, maxPositions: null, attentionFactor: null, shortMscale, longMscale };
      } else {
        for (const k of ["short_mscale", "long_mscale"]) if (p!.given(k)) notes.push(`${p!.path}${k} is not used by transformers' ${top.family} (only phimoe reads it)`);
        const af = p!.optNum("attention_factor");
        const f = factor(false);
        // HF: attention_factor, else sqrt(1 + ln(factor) / ln(original_max)) with factor
        // defaulting to max_position_embeddings / original_max.
        const attentionFactor = af ?? (f === null ? null : f <= 1 ? 1 : Math.sqrt(1 + Math.log(f) / Math.log(orig)));
        scaling = { type: "longrope", shortFactor, longFactor, originalMax: orig, maxPositions: attentionFactor === null ? maxPos : null, attentionFactor, shortMscale: null, longMscale: null };
      }
      break;
    }
  }
  if (o.phimoe && scaling === null && p) {
    for (const k of ["short_mscale", "long_mscale"]) if (p.given(k)) notes.push(`${p.path}${k} has no effect with rope_type "default"`);
  }
  const origin = p && type !== "default" ? `${p.path.slice(0, -1)}: {${Object.entries(p.obj).map(([k, v]) => `${k}: ${Array.isArray(v) && v.length > 4 ? `[${v.length} numbers]` : JSON.stringify(v)}`).join(", ")}}` : null;
  return { theta, dim, style: o.style, scaling, origin };
}
