// ModelSpec → .moe source: named constants from the config, one expert definition, a
// Decoder block, and a layer loop with per-layer conditions where layers differ. The
// weight names are the Hugging Face checkpoint's.
import type { ModelSpec, RopeSpec, RouterSpec, Scaling } from "./spec.js";

const WIDTH = 100;

/** A number as a .moe literal that reads back to the same double (a leading '-' is unary minus). */
export function fmtNum(x: number): string {
  if (Object.is(x, -0)) return "0";
  if (x < 0) return `-${fmtNum(-x)}`;
  if (Number.isInteger(x) && x < 1e21) return String(x);
  if (x !== 0 && x < 1e-3) return x.toExponential();
  return String(x);
}

/** `f(a, b, ...)` on one line, or wrapped with continuation lines aligned after the parenthesis. */
function call(fn: string, args: readonly string[], column: number, onePerLine = false, tail = 0): string {
  const flat = `${fn}(${args.join(", ")})`;
  if (column + flat.length + tail <= WIDTH || args.length < 2) return flat;
  const pad = " ".repeat(column + fn.length + 1);
  if (onePerLine) return `${fn}(${args.map((a, i) => (i === 0 ? a : pad + a)).join(",\n")})`;
  const lines: string[] = [];
  let line = "";
  for (const a of args) {
    const start = lines.length === 0 ? column + fn.length + 1 : pad.length;
    if (line && start + line.length + 2 + a.length + 2 > WIDTH) {
      lines.push(line + ",");
      line = a;
    } else line = line ? `${line}, ${a}` : a;
  }
  lines.push(line);
  return `${fn}(${lines.map((l, i) => (i === 0 ? l : pad + l)).join("\n")})`;
}

/** Wraps comment text into `//` lines. */
function comment(text: string, indent: string): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && indent.length + 3 + line.length + 1 + word.length > WIDTH) {
      out.push(`${indent}// ${line}`);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(`${indent}// ${line}`);
  return out;
}

/** `const a = 1, b = 2`, split into several declarations when the line would be too long. */
function constLine(items: readonly (readonly [string, string])[]): string | null {
  const lines: string[] = [];
  let line = "";
  for (const [k, v] of items) {
    const item = `${k} = ${v}`;
    if (line && line.length + 2 + item.length > WIDTH) {
      lines.push(line);
      line = "";
    }
    line = line ? `${line}, ${item}` : `  const ${item}`;
  }
  if (line) lines.push(line);
  return lines.length ? lines.join("\n") : null;
}

/**
 * A condition on the loop variable `i` that is true exactly for the layers marked true
 * (some, not all): a period (`i % 2 == 0`), a prefix or suffix (`i < 3`), or a list.
 */
export function layerCondition(flags: readonly boolean[]): string {
  const n = flags.length;
  for (let p = 2; p <= Math.min(8, n - 1); p++) {
    if (!flags.every((f, i) => f === flags[i % p])) continue;
    const on = [...Array(p).keys()].filter((r) => flags[r]);
    if (on.length === 1) return `i % ${p} == ${on[0]}`;
    if (on.length === p - 1) return `i % ${p} != ${[...Array(p).keys()].find((r) => !flags[r])}`;
  }
  const first = flags.indexOf(!flags[0]);
  if (flags.slice(first).every((f) => f === flags[first])) return flags[0] ? `i < ${first}` : `i >= ${first}`;
  const on = flags.flatMap((f, i) => (f ? [i] : []));
  const off = flags.flatMap((f, i) => (f ? [] : [i]));
  return on.length <= off.length ? on.map((i) => `i == ${i}`).join(" or ") : off.map((i) => `i != ${i}`).join(" and ");
}

function modelName(s: ModelSpec): string {
  const base = s.architecture?.replace(/For(CausalLM|ConditionalGeneration)$/, "") || s.family.split(/[_-]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join("");
  const id = base.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[A-Za-z_]/.test(id) ? id : `M${id}`;
}

function listLines(name: string, xs: readonly number[]): string[] {
  const items = xs.map(fmtNum);
  const head = `  const ${name} = [`;
  const flat = `${head}${items.join(", ")}]`;
  if (flat.length <= WIDTH) return [flat];
  const lines: string[] = [];
  let line = "";
  for (const it of items) {
    if (line && 4 + line.length + it.length + 2 > WIDTH) {
      lines.push(`    ${line},`);
      line = it;
    } else line = line ? `${line}, ${it}` : it;
  }
  lines.push(`    ${line}`);
  return [head, ...lines, "  ]"];
}

function scalingCall(sc: Scaling, column: number): string {
  const kw = (pairs: [string, number | boolean | string | null | undefined][]) =>
    pairs.filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `${k} = ${typeof v === "number" ? fmtNum(v) : String(v)}`);
  switch (sc.type) {
    case "linear":
      return call("linear_scaling", kw([["factor", sc.factor]]), column);
    case "dynamic":
      return call("dynamic_scaling", kw([["factor", sc.factor], ["original_max", sc.originalMax]]), column);
    case "llama3":
      return call("llama3", kw([["factor", sc.factor], ["low_freq_factor", sc.lowFreqFactor], ["high_freq_factor", sc.highFreqFactor], ["original_max", sc.originalMax]]), column);
    case "yarn":
      return call("yarn", kw([
        ["factor", sc.factor], ["original_max", sc.originalMax], ["beta_fast", sc.betaFast], ["beta_slow", sc.betaSlow], ["mscale", sc.mscale],
        ["mscale_all_dim", sc.mscaleAllDim], ["attention_factor", sc.attentionFactor], ["truncate", sc.truncate],
      ]), column);
    case "longrope":
      return call("longrope", [
        "short_factor = short_factor", "long_factor = long_factor",
        ...kw([["original_max", sc.originalMax], ["max_positions", sc.maxPositions], ["attention_factor", sc.attentionFactor], ["short_mscale", sc.shortMscale], ["long_mscale", sc.longMscale]]),
      ], column);
  }
}

export function ropeLines(r: RopeSpec): string[] {
  const lines: string[] = [];
  if (r.origin) lines.push(...comment(r.origin, "  "));
  if (r.scaling?.type === "longrope") lines.push(...listLines("short_factor", r.scaling.shortFactor), ...listLines("long_factor", r.scaling.longFactor));
  if (r.scaling) lines.push(`  const scaling = ${scalingCall(r.scaling, 18)}`);
  const args = [`theta = ${fmtNum(r.theta)}`];
  if (r.dim !== null) args.push(`dim = ${r.dim}`);
  if (r.style !== "half") args.push(`style = "${r.style}"`);
  if (r.scaling) args.push("scaling = scaling");
  lines.push(`  const pos = ${call("rope", args, 14)}`);
  return lines;
}

function routerExpr(r: RouterSpec): string {
  const args = ["k = top_k"];
  if (r.scoring !== "softmax") args.push(`scoring = "${r.scoring}"`);
  if (r.scoring === "softmax" || r.scoring === "sigmoid") args.push(`renormalize = ${r.renormalize}`);
  if (r.bias) args.push("bias = true");
  if (r.selectionBias) args.push("selection_bias = true");
  if (r.selectionBiasName) args.push(`selection_bias_name = "${r.selectionBiasName}"`);
  if (r.selectionBias2d) args.push("selection_bias_2d = true");
  if (r.groups) args.push("groups = groups", "topk_groups = topk_groups", `group_scoring = "${r.groups.scoring}"`);
  if (r.scale !== 1) args.push("scale = routed_scale");
  if (r.jitterEps !== null) args.push("jitter_eps = jitter_eps");
  if (r.weightInput) args.push("weight_input = true");
  return `${call("topk", args, 18, false, r.name.length + 5)} @ "${r.name}"`;
}

const ACT_EXPR = { silu: "silu(gate)", gelu: "gelu(gate)", gelu_tanh: 'gelu(gate, approximate = "tanh")', relu: "relu(gate)" } as const;
const EXPERT_NAME = { silu: "SwiGLU", gelu: "GeGLU", gelu_tanh: "GeGLU", relu: "ReGLU" } as const;

/** The program's header comment: where it was imported from, the family, the notes. */
/** `modeling`: the name in transformers' modeling_<name>.py when it is not the family's (gemma4_text: gemma4). */
export function headerLines(s: Pick<ModelSpec, "source" | "family" | "architecture" | "transformersVersion" | "notes"> & { readonly modeling?: string }): string[] {
  const L: string[] = [];
  L.push(`// Imported by \`moec import\` from ${s.source}.`);
  L.push(
    ...comment(
      `Family ${s.family}${s.architecture ? ` (${s.architecture})` : ""}${s.transformersVersion ? `, config written by transformers ${s.transformersVersion}` : ""}. ` +
        `The semantics follow transformers 5.17's modeling_${s.modeling ?? s.family}.py, and every weight name is the checkpoint tensor it binds to.`,
      "",
    ),
  );
  for (const n of s.notes) L.push(...comment(`Note: ${n}.`, ""));
  return L;
}

export function emitProgram(s: ModelSpec): string {
  const anySparse = s.sparse.some(Boolean);
  const anyDense = s.sparse.some((x) => !x);
  const mixedSparse = anySparse && anyDense;
  const att = s.attention;
  const window = att.kind === "attention" ? att.window : null;
  const mixedWindow = window !== null && !window.layers.every(Boolean);
  const moe = s.moe;
  const router = moe.router;
  const gptOss = s.mlp.kind === "gpt_oss";
  const fused = s.mlp.kind === "fused";
  const routedInOut = s.mlp.routedInOut === true;
  const expertName = gptOss ? "ClampedSwiGLU" : fused ? "FusedSwiGLU" : EXPERT_NAME[s.mlp.act];
  /** The routed experts' definition (Llama-4's stacked in_out experts have one of their own). */
  const routedName = routedInOut ? "FusedSwiGLU" : expertName;
  const ropeLayers = att.kind === "attention" && att.ropeLayers && !att.ropeLayers.every(Boolean) ? att.ropeLayers : null;
  const noRope = att.kind === "attention" && att.ropeLayers !== undefined && att.ropeLayers.every((x) => !x);
  const chunk = att.kind === "attention" ? (att.chunk ?? null) : null;
  const mixedChunk = chunk !== null && !chunk.layers.every(Boolean);
  /** Chunked exactly on the layers with RoPE (Llama-4's default): the use_rope flag says both. */
  const chunkByRope = mixedChunk && ropeLayers !== null && chunk!.layers.every((c, i) => c === ropeLayers[i]);
  const temperature = att.kind === "attention" ? (att.temperature ?? null) : null;
  const prefix = s.prefix ?? { model: "model", head: "lm_head" };
  const names = s.names ?? { embed: `${prefix.model}.embed_tokens`, layers: `${prefix.model}.layers.{i}`, norm: `${prefix.model}.norm`, inputNorm: "input_layernorm", postNorm: "post_attention_layernorm", attention: "self_attn" };
  /** A norm call's arguments after its input. */
  const normArgs = s.normNoBias ? "eps, bias = false" : s.normOffset ? `eps, offset = ${fmtNum(s.normOffset)}` : "eps";
  const lin = s.linearAttention ?? null;
  const mixedLinear = lin !== null && !lin.layers.every(Boolean);
  const sc = s.scales ?? { embedding: 1, residual: 1, logits: 1 };
  /** `expr` times the residual multiplier, when there is one. */
  const residual = (expr: string) => (sc.residual !== 1 ? `${expr} * residual_scale` : expr);
  const biasArg = s.mlp.denseBias ? ", bias = true" : "";

  const L: string[] = headerLines(s);
  L.push(`model ${modelName(s)} {`);

  // ---- constants ----
  const lines: (string | null)[] = [];
  lines.push(constLine([["vocab", fmtNum(s.vocab)], ["d", fmtNum(s.hidden)], ["layers", fmtNum(s.layers)]]));
  if (att.kind === "attention") {
    const items: [string, string][] = [["heads", fmtNum(att.heads)], ["kv_heads", fmtNum(att.kvHeads)]];
    if (att.headDim !== null) items.push(["head_dim", fmtNum(att.headDim)]);
    if (window) items.push(["window", fmtNum(window.size)]);
    if (chunk) items.push(["chunk", fmtNum(chunk.size)]);
    lines.push(constLine(items));
  } else {
    const items: [string, string][] = [["heads", fmtNum(att.heads)]];
    if (att.qLoraRank !== null) items.push(["q_lora", fmtNum(att.qLoraRank)]);
    items.push(["kv_lora", fmtNum(att.kvLoraRank)], ["qk_nope", fmtNum(att.qkNope)], ["qk_rope", fmtNum(att.qkRope)], ["v_dim", fmtNum(att.vDim)]);
    lines.push(constLine(items));
  }
  if (anySparse) {
    const items: [string, string][] = [["experts", fmtNum(moe.experts)], ["top_k", fmtNum(router.k)], ["expert_ffn", fmtNum(moe.ffn)]];
    if (moe.shared) {
      if (moe.shared.count !== null) items.push(["shared_experts", fmtNum(moe.shared.count)], ["shared_ffn", "shared_experts * expert_ffn"]);
      else items.push(["shared_ffn", fmtNum(moe.shared.ffn)]);
    }
    lines.push(constLine(items));
    const r: [string, string][] = [];
    if (router.groups) r.push(["groups", fmtNum(router.groups.count)], ["topk_groups", fmtNum(router.groups.keep)]);
    if (router.scale !== 1) r.push(["routed_scale", fmtNum(router.scale)]);
    if (router.jitterEps !== null) r.push(["jitter_eps", fmtNum(router.jitterEps)]);
    lines.push(constLine(r));
  }
  if (anyDense) lines.push(constLine([["dense_ffn", fmtNum(s.denseFfn!)], ...(mixedSparse ? (s.sparseRule?.consts ?? []).map(([k, v]) => [k, fmtNum(v)] as [string, string]) : [])]));
  const epsItems: [string, string][] = [["eps", fmtNum(s.eps)]];
  if (att.kind === "attention" && att.clipQkv !== null) epsItems.push(["clip_qkv", fmtNum(att.clipQkv)]);
  lines.push(constLine(epsItems));
  if (s.linearAttention) {
    const la = s.linearAttention;
    lines.push(constLine([["lin_k_heads", fmtNum(la.kHeads)], ["lin_v_heads", fmtNum(la.vHeads)], ["lin_k_dim", fmtNum(la.kDim)], ["lin_v_dim", fmtNum(la.vDim)], ["lin_conv", fmtNum(la.kernel)]]));
  }
  const scaleItems: [string, string][] = [];
  if (att.kind === "attention" && att.scale !== undefined) scaleItems.push(["attention_scale", fmtNum(att.scale)]);
  if (sc.embedding !== 1) scaleItems.push(["embedding_scale", fmtNum(sc.embedding)]);
  if (sc.residual !== 1) scaleItems.push(["residual_scale", fmtNum(sc.residual)]);
  if (sc.logits !== 1) scaleItems.push(["logits_scale", fmtNum(sc.logits)]);
  lines.push(constLine(scaleItems));
  if (att.kind === "mla") {
    lines.push("  // q_a_layernorm and kv_a_layernorm use RMSNorm's default eps in transformers, not rms_norm_eps");
    lines.push(constLine([["latent_eps", fmtNum(att.normEps)]]));
  }
  L.push(...(lines.filter((x) => x !== null) as string[]));
  L.push("", ...ropeLines(s.rope));
  if (temperature) {
    L.push("  // attention temperature tuning on the layers without RoPE: queries × 1 + scale·ln(1 + floor((p + 1) / floor_scale))");
    L.push(`  const temp = temperature_tuning(floor_scale = ${fmtNum(temperature.floorScale)}, scale = ${fmtNum(temperature.scale)})`);
  }
  if (s.unusedWeights?.length) {
    L.push("", "  // checkpoint tensors this program does not read, left unbound (the binder says how many)");
    L.push(`  const unused_weights = "${s.unusedWeights.join(" ")}"`);
  }
  if (s.exactContext !== undefined) {
    L.push("", "  // the source model attends differently past this many positions (see the notes above); moec run holds the context to it");
    L.push(`  const exact_context = ${fmtNum(s.exactContext)}`);
  }
  if (anySparse) L.push("", ...comment(`router: ${router.comment}`, "  "), `  const routing = ${routerExpr(router)}`);
  L.push("");

  // ---- the expert ----
  if (gptOss) {
    L.push(
      "  // GPT-OSS experts: stacked [experts, in, out] tensors with biases, gate and up interleaved in",
      "  // gate_up_proj; transformers hard-codes the clamped SwiGLU (alpha 1.702, limit 7, up + 1).",
      `  expert ${expertName}(x: [T, d], ffn: int) -> [T, d] {`,
      '    gu = linear(x, 2 * ffn, bias = true, layout = "in_out") @ "gate_up_proj"',
      '    act = swiglu(gu, layout = "interleaved", alpha = 1.702, limit = 7.0, up_offset = 1.0)',
      '    return linear(act, d, bias = true, layout = "in_out") @ "down_proj"',
      "  }",
    );
  } else if (fused) {
    const [gu, , dn] = s.mlp.names;
    L.push(
      "  // gate and up in one projection (gate first, then up), as the checkpoint stores them",
      `  expert ${expertName}(x: [T, d], ffn: int) -> [T, d] {`,
      `    return linear(swiglu(linear(x, 2 * ffn) @ "${gu}"), d) @ "${dn}"`,
      "  }",
    );
  } else {
    if (routedInOut) {
      L.push(
        "  // routed experts: stacked [experts, in, out] tensors, gate and up fused in gate_up_proj (gate first)",
        `  expert ${routedName}(x: [T, d], ffn: int) -> [T, d] {`,
        '    gu = linear(x, 2 * ffn, layout = "in_out") @ "gate_up_proj"',
        '    return linear(swiglu(gu), d, layout = "in_out") @ "down_proj"',
        "  }",
        "",
      );
    }
    const [g, u, dn] = s.mlp.names;
    const b = s.mlp.denseBias ? ", bias = bias" : "";
    const downLayout = s.mlp.downInOut ? ', layout = "in_out"' : "";
    const bare = s.mlp.bareNames ? ", bare = true" : "";
    if (s.mlp.downInOut) L.push(`  // ${dn} is stored [ffn, d] (in, out)`);
    if (s.mlp.denseBias) L.push("  // mlp_bias: the dense MLPs and the shared expert have biases, the routed experts do not");
    L.push(
      `  expert ${expertName}(x: [T, d], ffn: int${s.mlp.denseBias ? ", bias: bool = false" : ""}) -> [T, d] {`,
      `    gate = linear(x, ffn${b}${bare}) @ "${g}"`,
      `    up = linear(x, ffn${b}${bare}) @ "${u}"`,
      `    return linear(${ACT_EXPR[s.mlp.act]} * up, d${b}${downLayout}) @ "${dn}"`,
      "  }",
    );
  }
  L.push("");

  // ---- the decoder layer ----
  const params = ["h: [seq, d]"];
  if (mixedSparse) params.push("sparse: bool");
  if (mixedWindow) params.push("sliding: bool");
  if (ropeLayers) params.push("use_rope: bool");
  if (mixedChunk && !chunkByRope) params.push("chunked: bool");
  if (mixedLinear) params.push("linear_attn: bool");
  L.push(`  block Decoder(${params.join(", ")}) -> [seq, d] {`);
  const post = s.postNorm === true;
  /** A residual branch: pre-norm adds it as it is; post-norm adds its normalised value. */
  const branch = (expr: string, normName: string) => (post ? `${s.norm}(${expr}, ${normArgs}) @ "${normName}"` : expr);
  if (!post) L.push(`    a = ${s.norm}(h, ${normArgs}) @ "${names.inputNorm}"`);
  const deltaLine = (indent: string) =>
    `${indent}h = h + ${call("gated_deltanet", ["a", "k_heads = lin_k_heads", "v_heads = lin_v_heads", "k_dim = lin_k_dim", "v_dim = lin_v_dim", "conv_kernel = lin_conv", "norm_eps = eps", ...(lin?.separate ? ['projections = "separate"'] : [])], indent.length + 8, false, 14)} @ "linear_attn"`;
  if (lin && !mixedLinear) L.push(deltaLine("    "));
  if (mixedLinear) L.push("    if linear_attn {", deltaLine("      "), "    } else {");
  const ind = mixedLinear ? "  " : "";
  if (lin && !mixedLinear) {
    // every layer is linear attention: no attention call
  } else if (att.kind === "attention") {
    const args = [post ? "h" : "a", "heads", "kv_heads"];
    if (att.headDim !== null) args.push("head_dim = head_dim");
    if (!noRope) args.push(ropeLayers ? "rope = if use_rope then pos else none" : "rope = pos");
    if (window) args.push(mixedWindow ? "window = if sliding then window else none" : "window = window");
    if (chunk) args.push(mixedChunk ? `chunk = if ${chunkByRope ? "use_rope" : "chunked"} then chunk else none` : "chunk = chunk");
    if (att.qkNorm && !(att.qkNormRopeLayersOnly && noRope)) {
      args.push(att.qkNormRopeLayersOnly && ropeLayers ? `qk_norm = if use_rope then "${att.qkNorm}" else none` : `qk_norm = "${att.qkNorm}"`, "norm_eps = eps");
      if (att.qkNormUnweighted) args.push("qk_norm_weight = false");
      if (att.qkNormAfterRope) args.push("qk_norm_after_rope = true");
      if (att.qkNormNames) args.push(`q_norm_name = "${att.qkNormNames[0]}"`, `k_norm_name = "${att.qkNormNames[1]}"`);
    }
    if (temperature && (ropeLayers || noRope)) args.push(ropeLayers ? "temperature = if use_rope then none else temp" : "temperature = temp");
    if (att.bias) args.push("bias = true");
    if (att.outBias) args.push("out_bias = true");
    if (att.sinks) args.push("sinks = true");
    if (att.clipQkv !== null) args.push("clip_qkv = clip_qkv");
    if (att.scale !== undefined) args.push("scale = attention_scale");
    if (att.qkvName) args.push(`qkv_name = "${att.qkvName}"`);
    if (att.oName) args.push(`o_name = "${att.oName}"`);
    if (att.outputGate) args.push("output_gate = true");
    if (att.qkNormOffset) args.push(`qk_norm_offset = ${fmtNum(att.qkNormOffset)}`);
    if (post) L.push(`    o = ${call("attention", args, 8, false, 13)} @ "${names.attention}"`, `    h = h + ${branch("o", "post_attention_layernorm")}`);
    else L.push(`${ind}    h = h + ${residual(`${call("attention", args, 12 + ind.length, false, sc.residual !== 1 ? 30 : 5 + names.attention.length)} @ "${names.attention}"`)}`);
  } else {
    const args = ["a", "heads"];
    if (att.qLoraRank !== null) args.push("q_lora_rank = q_lora");
    args.push("kv_lora_rank = kv_lora", "qk_nope_dim = qk_nope", "qk_rope_dim = qk_rope", "v_dim = v_dim", "rope = pos", "norm_eps = latent_eps");
    L.push(`    h = h + ${residual(`${call("mla", args, 12, false, sc.residual !== 1 ? 30 : 13)} @ "self_attn"`)}`);
  }
  if (mixedLinear) L.push("    }");
  if (!post) L.push(`    m = ${s.norm}(h, ${normArgs}) @ "${names.postNorm}"`);
  const moeLines = (indent: string): string[] => {
    const args = [post ? "h" : "m", `experts = experts of ${routedName}(ffn = expert_ffn) @ "${moe.expertsName}"`, "router = routing"];
    if (moe.flatStacks) args.push("flat_stacks = true");
    if (moe.shared && !moe.shared.beside) {
      args.push(`shared = ${expertName}(ffn = shared_ffn${biasArg}) @ "${moe.shared.name}"`);
      if (moe.shared.gate) args.push(`shared_gate = sigmoid_gate() @ "${moe.shared.gate}"`);
    }
    if (moe.shared?.beside) {
      // the shared MLP is the layer's own module, next to the moe block; their outputs are added
      const head = `${indent}y = `;
      return [
        `${head}${call("moe", args, head.length, true, s.ffnName.length + 5)} @ "${s.ffnName}"`,
        `${indent}h = h + ${residual(`(y + ${expertName}(m, ffn = shared_ffn) @ "${moe.shared.name}")`)}`,
      ];
    }
    if (post) {
      const head = `${indent}y = `;
      return [`${head}${call("moe", args, head.length, true, s.ffnName.length + 5)} @ "${s.ffnName}"`, `${indent}h = h + ${branch("y", "post_feedforward_layernorm")}`];
    }
    const head = `${indent}h = h + `;
    return [`${head}${call("moe", args, head.length, true, s.ffnName.length + 5 + (sc.residual !== 1 ? 17 : 0))} @ "${s.ffnName}"${sc.residual !== 1 ? " * residual_scale" : ""}`];
  };
  const denseName = s.denseName ?? "mlp";
  const denseLine = (indent: string) =>
    post
      ? `${indent}h = h + ${branch(`${expertName}(h, ffn = dense_ffn${biasArg}) @ "${denseName}"`, "post_feedforward_layernorm")}`
      : `${indent}h = h + ${residual(`${expertName}(m, ffn = dense_ffn${biasArg}) @ "${denseName}"`)}`;
  if (mixedSparse) {
    L.push("    if sparse {", ...moeLines("      "), "    } else {", denseLine("      "), "    }");
  } else if (anySparse) L.push(...moeLines("    "));
  else L.push(denseLine("    "));
  L.push("    return h", "  }", "");

  // ---- the model ----
  const layerArgs = ["h"];
  if (mixedSparse) layerArgs.push(`sparse = ${s.sparseRule?.expr ?? layerCondition(s.sparse)}`);
  if (mixedWindow) layerArgs.push(`sliding = ${layerCondition(window!.layers)}`);
  if (ropeLayers) layerArgs.push(`use_rope = ${layerCondition(ropeLayers)}`);
  if (mixedChunk && !chunkByRope) layerArgs.push(`chunked = ${layerCondition(chunk!.layers)}`);
  if (mixedLinear) layerArgs.push(`linear_attn = ${layerCondition(lin!.layers)}`);
  L.push("  input tokens: i32[seq]", `  h = embed(tokens, vocab, d) @ "${names.embed}"${sc.embedding !== 1 ? " * embedding_scale" : ""}`, "  for i in 0..layers {");
  L.push(`    h = ${call("Decoder", layerArgs, 8, false, names.layers.length + 5)} @ "${names.layers}"`, "  }");
  L.push(`  h = ${s.norm}(h, ${normArgs}) @ "${names.norm}"`);
  if (s.tied) L.push("  // tie_word_embeddings: the output head is the embedding matrix");
  L.push(`  output logits = linear(h, vocab${s.lmHeadBias ? ", bias = true" : ""}) @ "${s.tied ? names.embed : prefix.head}"${sc.logits !== 1 ? " / logits_scale" : ""}`);
  L.push("}");
  return L.join("\n") + "\n";
}
