// The kernel catalogue: the one table of every kernel a plan launches — its parameters in ABI
// order with their roles, how it may be split across threads or workgroups, and what it
// computes. Everything else derives from it or is checked against it: the `Kernels` type
// (so a backend that lacks a kernel, or takes its parameters wrongly, does not type-check),
// the WASM module's exports and parameter types, the WASM adapter, the worker functions, the
// enum codes, and the ABI table in backends/wasm/README.md (a test regenerates and compares it).
//
// Pointers are byte offsets into the device's address space (runtime/device.ts); sizes are
// element counts; tensors are row-major.
import { STORAGE_FORMATS } from "../plan/formats.js";

/** Enumerations passed to kernels as i32 codes: the code is the index in the list. */
export const ENUMS = {
  unary: ["silu", "gelu", "gelu_tanh", "relu", "sigmoid", "tanh"],
  binary: ["add", "sub", "mul", "div"],
  scoring: ["softmax", "sigmoid", "softmax_topk", "sparsemixer"],
  group_scoring: ["max", "top2_sum"],
  /** Weight storage formats (runtime/plan/formats.ts), in the FORMATS table's order. */
  format: STORAGE_FORMATS,
} as const;

export type EnumName = keyof typeof ENUMS;
export type EnumValue<E extends EnumName> = (typeof ENUMS)[E][number];

/** The i32 code of an enum value. */
export function enumCode<E extends EnumName>(e: E, value: EnumValue<E>): number {
  return (ENUMS[e] as readonly string[]).indexOf(value);
}

/**
 * A parameter's role:
 * - `f32 in`, `f32 out`, `f32 inout`, `i32 in`, `i32 out`: a pointer to a tensor the kernel
 *   reads, writes (never reads before writing) or updates; `f32 in?`: may be 0 for "none".
 * - `u8 in`: a pointer to a weight stored in a storage format (bytes laid out as formats.ts says).
 * - `scratch`: a pointer to working memory the call owns for its duration.
 * - `i32`, `f32`, `f64`: a number; `bool`: 0 or 1; `enum NAME`: a code from ENUMS.
 */
export type ParamRole =
  | "f32 in" | "f32 in?" | "f32 out" | "f32 inout" | "i32 in" | "i32 out" | "u8 in" | "scratch"
  | "i32" | "f32" | "f64" | "bool" | `enum ${EnumName}`;

export type Param = readonly [name: string, role: ParamRole];

/**
 * A kernel may run split over threads (or workgroups) along a range its caller passes:
 * `range` names the [start, end) parameters, `extent` the size parameter the full range
 * covers, `align` the multiple each share's start keeps, `work` the multiply-adds of a call
 * (small calls are not worth handing out), and `scratchFloats` how much of `scratch` one
 * share uses (each share then gets its own).
 */
export interface Split {
  readonly range: readonly [start: string, end: string];
  readonly extent: string;
  readonly align: number;
  readonly work: (arg: (name: string) => number) => number;
  readonly scratchFloats?: (arg: (name: string) => number) => number;
}

export interface KernelSpec {
  readonly params: readonly Param[];
  readonly split?: Split;
  /** What it computes, for the ABI table. */
  readonly doc: string;
}

const MATMUL_PARAMS = [["x", "f32 in"], ["w", "f32 in"], ["bias", "f32 in?"], ["y", "f32 out"], ["T", "i32"], ["K", "i32"], ["N", "i32"], ["n0", "i32"], ["n1", "i32"]] as const;
const COLUMNS: Split = { range: ["n0", "n1"], extent: "N", align: 8, work: (a) => a("T") * a("K") * (a("n1") - a("n0")) };

/**
 * Token rows up to which a quantized matmul may take the decode path (activations quantized to
 * int8 blocks, integer dot products); above it, weight panels are dequantised to float32 and
 * reused across the rows. Backends choose within that; the scratch size covers both.
 */
export const QUANT_DECODE_ROWS = 4;
/** Weight rows a prefill panel dequantises at a time (per share of a split call). */
export const QUANT_PANEL_ROWS = 32;

/** Floats of `scratch` one call (or one share) of `matmul_q` may use: quantized activation rows, or a dequantised panel. */
export function matmulQScratchFloats(T: number, K: number): number {
  const K32 = Math.ceil(K / 32) * 32;
  const rows = Math.min(T, QUANT_DECODE_ROWS) * (K32 / 4 + (3 * K32) / 32 + 4);
  return Math.max(rows, QUANT_PANEL_ROWS * K32) + 16;
}

export const KERNELS = {
  matmul: {
    params: MATMUL_PARAMS,
    split: COLUMNS,
    doc: "for t < T and n0 ≤ n < n1: `y[t·N + n] = Σ_k x[t·K + k]·w[n·K + k] (+ bias[n])`; W is [N, K] (nn.Linear). Columns outside [n0, n1) are untouched.",
  },
  matmul_kn: {
    params: MATMUL_PARAMS,
    split: COLUMNS,
    doc: "the same with W stored [K, N]: `y[t·N + n] = Σ_k x[t·K + k]·w[k·N + n] (+ bias[n])` (GPT-OSS stacked experts).",
  },
  matmul_q: {
    params: [
      ["x", "f32 in"], ["w", "u8 in"], ["scales", "f32 in?"], ["bias", "f32 in?"], ["y", "f32 out"], ["T", "i32"], ["K", "i32"], ["N", "i32"], ["n0", "i32"], ["n1", "i32"],
      ["format", "enum format"], ["scratch", "scratch"],
    ],
    split: { ...COLUMNS, scratchFloats: (a) => matmulQScratchFloats(a("T"), a("K")) },
    doc: "`matmul` with W [N, K] stored in `format` (runtime/plan/formats.ts: rows of blocks; a channel format's row scales at `scales`, else 0): `y[t·N + n] = Σ_k x[t·K + k]·dequant(w)[n, k] (+ bias[n])`, dequantisation fused. A backend may quantize x to int8 blocks of 32 (scale max|x|/127) for integer dot products when T ≤ QUANT_DECODE_ROWS, adding at most Σ_k |w[n, k]|·max|x in k's block|/254 of error. `scratch`: matmulQScratchFloats(T, K) f32.",
  },
  gather_rows_q: {
    params: [["src", "u8 in"], ["scales", "f32 in?"], ["idx", "i32 in"], ["dst", "f32 out"], ["count", "i32"], ["d", "i32"], ["format", "enum format"]],
    doc: "`dst[i, :] = dequant(src)[idx[i], :]`: rows of d of a table stored in `format` (embedding lookups from quantized tables; a channel format's row scales at `scales`).",
  },
  rmsnorm: {
    params: [["x", "f32 in"], ["w", "f32 in?"], ["y", "f32 out"], ["rows", "i32"], ["n", "i32"], ["eps", "f32"], ["offset", "f32"]],
    doc: "per row of n: `y = f32(w + offset) · f32(x / sqrt(mean(x²) + eps))`, x·inv rounded to f32 before the weight multiplies it (as HF; offset 1: Qwen3-Next's (1 + w) norms); w = 0: `y = x·inv` (Llama-4's L2 norm). In place (y == x) allowed.",
  },
  layernorm: {
    params: [["x", "f32 in"], ["w", "f32 in"], ["b", "f32 in?"], ["y", "f32 out"], ["rows", "i32"], ["n", "i32"], ["eps", "f32"]],
    doc: "per row of n: `y = (x − mean)/sqrt(var + eps)·w + b`, biased variance. In place allowed.",
  },
  unary: {
    params: [["x", "f32 in"], ["y", "f32 out"], ["n", "i32"], ["kind", "enum unary"]],
    doc: "`y = f(x)` elementwise; f by `kind`. In place allowed.",
  },
  binary: {
    params: [["a", "f32 in"], ["b", "f32 in"], ["y", "f32 out"], ["n", "i32"], ["kind", "enum binary"]],
    doc: "`y = a ∘ b` elementwise, same shapes; ∘ by `kind`.",
  },
  scale: {
    params: [["x", "f32 in"], ["y", "f32 out"], ["n", "i32"], ["factor", "f32"]],
    doc: "`y = x·factor`",
  },
  gated_delta_rule: {
    params: [
      ["x", "f32 in"], ["b", "f32 in"], ["a", "f32 in"], ["conv_w", "f32 in"], ["a_log", "f32 in"], ["dt_bias", "f32 in"], ["conv_state", "f32 inout"],
      ["state", "f32 inout"], ["y", "f32 out"], ["T", "i32"], ["fresh", "bool"], ["k_heads", "i32"], ["v_heads", "i32"], ["k_dim", "i32"],
      ["v_dim", "i32"], ["kernel", "i32"], ["scratch", "scratch"],
    ],
    doc: "Qwen3-Next's gated DeltaNet for T tokens of one sequence, exactly `gatedDeltaRule` in runtime/math/deltanet.ts: x [T, C] (C = 2·k_heads·k_dim + v_heads·v_dim, [q | k | v]) through the causal depthwise conv1d (conv_w [C, kernel]) over conv_state [kernel−1, C] (the previous inputs) and SiLU; q, k L2-normalised per key head (eps 1e-6), q / sqrt(k_dim); per value head v: decay = exp(−exp(a_log[v])·softplus(a[t, v] + dt_bias[v])), β = sigmoid(b[t, v]); state [v_heads, k_dim, v_dim] ← decay·state, then the delta rule; y [T, v_heads·v_dim] = stateᵀ q. fresh: conv_state and state read as zeros. Both are updated. `scratch`: 4·k_heads·k_dim + v_heads·v_dim + v_dim + 16 f32.",
  },
  mamba2_scan: {
    params: [
      ["xbc", "f32 in"], ["dt", "f32 in"], ["z", "f32 in"], ["conv_w", "f32 in"], ["conv_b", "f32 in?"], ["a_log", "f32 in"], ["dt_bias", "f32 in"], ["d", "f32 in"],
      ["norm_w", "f32 in"], ["conv_state", "f32 inout"], ["state", "f32 inout"], ["y", "f32 out"], ["T", "i32"], ["fresh", "bool"], ["heads", "i32"], ["head_dim", "i32"],
      ["state_dim", "i32"], ["groups", "i32"], ["kernel", "i32"], ["dt_min", "f32"], ["eps", "f32"], ["scratch", "scratch"],
    ],
    doc: "Nemotron-H's Mamba-2 selective scan for T tokens of one sequence, exactly `mamba2Scan` in runtime/math/mamba2.ts: xbc [T, C] (C = heads·head_dim + 2·groups·state_dim, [x | B | C]) through the causal depthwise conv1d (conv_w [C, kernel], conv_b or none) over conv_state [kernel−1, C] and SiLU; per head h (group ⌊h·groups/heads⌋): δ = max(softplus(dt[t, h] + dt_bias[h]), dt_min), state[h] [head_dim, state_dim] ← state·exp(−δ·exp(a_log[h])) + (δ·B) ⊗ x_h; y = state·C + d[h]·x_h; then per token and group of heads·head_dim/groups: g = y·silu(z), y [T, heads·head_dim] = norm_w · f32(g / sqrt(mean(g²) + eps)) (Nemotron-H's gated RMSNorm, norm_before_gate false). fresh: conv_state and state read as zeros. Both are updated. `scratch`: C + 16 f32.",
  },
  causal_conv1d: {
    params: [["x", "f32 in"], ["conv_w", "f32 in"], ["conv_b", "f32 in?"], ["conv_state", "f32 inout"], ["y", "f32 out"], ["T", "i32"], ["fresh", "bool"], ["channels", "i32"], ["kernel", "i32"]],
    doc: "Jamba's (Mamba-1's) causal depthwise conv1d + SiLU for T tokens of one sequence, exactly `causalConv1d` in runtime/math/mamba.ts: y [T, channels] = silu(Σ_j conv_w[ch, j]·in[t − kernel + 1 + j, ch] + conv_b[ch]) over x [T, channels] preceded by conv_state [kernel−1, channels] (the previous inputs, oldest first), which then holds the last kernel−1 inputs. fresh: conv_state read as zeros.",
  },
  mamba_scan: {
    params: [
      ["x", "f32 in"], ["dt", "f32 in"], ["b", "f32 in"], ["c", "f32 in"], ["z", "f32 in"], ["a_log", "f32 in"], ["d", "f32 in"], ["state", "f32 inout"], ["y", "f32 out"],
      ["T", "i32"], ["fresh", "bool"], ["channels", "i32"], ["state_dim", "i32"],
    ],
    doc: "Jamba's (Mamba-1's) selective scan for T tokens of one sequence, exactly `mambaScan` in runtime/math/mamba.ts: per token and channel i, δ = softplus(dt[t, i]); state[i, n] ← exp(−exp(a_log[i, n])·δ)·state[i, n] + (δ·b[t, n])·x[t, i]; y[t, i] = (Σ_n state[i, n]·c[t, n] + d[i]·x[t, i])·silu(z[t, i]). x, dt, z, y [T, channels]; b, c [T, state_dim]; a_log and state [channels, state_dim]. fresh: state read as zeros. It is updated.",
  },
  scale_rows: {
    params: [["x", "f32 in"], ["f", "f32 in"], ["y", "f32 out"], ["rows", "i32"], ["d", "i32"]],
    doc: "`y[r, :] = x[r, :]·f[r]` (f32 products) for r < rows, rows of d: Llama-4's attention temperature and its routing weights on expert inputs. In place allowed.",
  },
  clamp: {
    params: [["x", "f32 inout"], ["n", "i32"], ["lo", "f32"], ["hi", "f32"]],
    doc: "in place: `x = min(max(x, lo), hi)`",
  },
  swiglu: {
    params: [["g", "f32 in"], ["u", "f32 in"], ["y", "f32 out"], ["n", "i32"], ["alpha", "f32"], ["limit", "f32"], ["up_offset", "f32"]],
    doc: "`y = g·sigmoid(alpha·g)·(u + up_offset)`, with `g = min(g, limit)` and `u = clamp(u, −limit, limit)` when limit > 0. SwiGLU: `1, 0, 0`; GPT-OSS: `1.702, 7, 1`.",
  },
  deinterleave: {
    params: [["x", "f32 in"], ["a", "f32 out"], ["b", "f32 out"], ["rows", "i32"], ["half", "i32"], ["interleaved", "bool"]],
    doc: "splits each row of width 2·half into a and b, both [rows, half]: interleaved → even columns to a, odd to b; else first half to a, second to b.",
  },
  copy_blocks: {
    params: [["src", "f32 in"], ["dst", "f32 out"], ["rows", "i32"], ["blocks", "i32"], ["len", "i32"], ["src_row", "i32"], ["src_block", "i32"], ["dst_row", "i32"], ["dst_block", "i32"]],
    doc: "for r < rows, b < blocks, j < len: `dst[r·dst_row + b·dst_block + j] = src[r·src_row + b·src_block + j]` (strides in elements; src_block 0 broadcasts one block). Other elements of dst are untouched.",
  },
  rope: {
    params: [["x", "f32 inout"], ["cos", "f32 in"], ["sin", "f32 in"], ["rows", "i32"], ["heads", "i32"], ["head_dim", "i32"], ["rope_dim", "i32"], ["interleaved", "bool"]],
    doc: "in place on x [rows, heads·head_dim]; cos, sin [rows, rope_dim/2]; each head's first rope_dim dims rotate in pairs (j, j + rope_dim/2), or (2j, 2j + 1) when interleaved: `(a, b) → (a·c − b·s, b·c + a·s)`, with runtime/math/rope.ts's f32 roundings.",
  },
  attention: {
    params: [
      ["q", "f32 in"], ["k", "f32 in"], ["v", "f32 in"], ["out", "f32 out"], ["T", "i32"], ["start", "i32"], ["heads", "i32"], ["kv_heads", "i32"],
      ["head_dim", "i32"], ["v_dim", "i32"], ["k_stride", "i32"], ["v_stride", "i32"], ["scale", "f32"], ["window", "i32"], ["softcap", "f32"],
      ["sinks", "f32 in?"], ["scratch", "scratch"], ["causal", "bool"], ["h0", "i32"], ["h1", "i32"],
    ],
    split: {
      range: ["h0", "h1"],
      extent: "heads",
      align: 1,
      work: (a) => a("T") * (a("start") + a("T")) * (a("h1") - a("h0")) * a("head_dim"),
      scratchFloats: (a) => a("start") + a("T") + 16,
    },
    doc: "query heads h0 ≤ h < h1 of T queries at positions start … start+T−1 (q [T, heads·head_dim], out [T, heads·v_dim]) over the KV cache rows of k and v (row strides k_stride, v_stride; kv head h′ at column h′·head_dim in k, h′·v_dim in v; v_dim ≠ head_dim is MLA). Query head h uses kv head ⌊h / (heads/kv_heads)⌋. Query p sees keys up to p when causal, up to start+T−1 when not; from p − window + 1 (≥ 0) when window > 0. Scores `scale·q·k`, then `c·tanh(s/c)` if softcap c > 0; `sinks` [heads] logits join the softmax denominator only. `scratch`: start+T+16 f32.",
  },
  gather_rows: {
    params: [["src", "f32 in"], ["idx", "i32 in"], ["dst", "f32 out"], ["count", "i32"], ["d", "i32"]],
    doc: "`dst[i, :] = src[idx[i], :]`, rows of d (embedding lookups and expert inputs). The caller keeps idx within src.",
  },
  scatter_add_rows: {
    params: [["src", "f32 in"], ["idx", "i32 in"], ["weights", "f32 in"], ["dst", "f32 inout"], ["count", "i32"], ["d", "i32"]],
    doc: "`dst[idx[i], :] += weights[i]·src[i, :]`, the product rounded to f32, in order (repeated rows add up).",
  },
  gate_add_rows: {
    params: [["gate", "f32 in"], ["src", "f32 in"], ["dst", "f32 inout"], ["rows", "i32"], ["d", "i32"]],
    doc: "`dst[r, :] += g·src[r, :]` with `g = f32(1 / (1 + exp(−gate[r])))` computed in f64 (exp as `Math.exp`), the product rounded to f32 (a shared expert's sigmoid gate).",
  },
  fill: {
    params: [["x", "f32 out"], ["n", "i32"], ["value", "f32"]],
    doc: "`x[0 … n) = value`",
  },
  route_topk: {
    params: [
      ["logits", "f32 in"], ["T", "i32"], ["E", "i32"], ["k", "i32"], ["scoring", "enum scoring"], ["bias", "f32 in?"], ["groups", "i32"],
      ["topk_groups", "i32"], ["group_scoring", "enum group_scoring"], ["renormalize", "bool"], ["scale", "f64"], ["eps", "f64"],
      ["counts", "i32 out"], ["tok_out", "i32 out"], ["w_out", "f32 out"], ["work", "scratch"],
    ],
    doc: "token-choice MoE routing exactly as `route()` in runtime/moe/routing.ts for logits [T, E] (router bias added): scores by `scoring`, the f32 [E] selection bias, group-limited top-k, renormalisation, weights × scale (f64), stored f32; sparsemixer's threshold is `eps`. Outputs permuted by expert: `counts` i32 [E+1] offsets (expert e owns [counts[e], counts[e+1])), `tok_out` i32 [T·k] token indices ascending within an expert, `w_out` f32 [T·k]. `work`: routeWorkBytes(T, E, k) bytes.",
  },
} as const satisfies Record<string, KernelSpec>;

export type KernelName = keyof typeof KERNELS;
export const KERNEL_NAMES = Object.keys(KERNELS) as KernelName[];

type Numbers<P extends readonly unknown[]> = { readonly [I in keyof P]: number };
/** A kernel's positional arguments: one number per catalogue parameter. */
export type KernelArgs<K extends KernelName> = Numbers<(typeof KERNELS)[K]["params"]>;
export type KernelFn<K extends KernelName> = (...args: KernelArgs<K>) => void;

/** Every kernel of the catalogue: what a device launches. */
export type Kernels = { readonly [K in KernelName]: KernelFn<K> };

/** Kernels that may be split (threads, workgroups). */
export const SPLIT_KERNELS = KERNEL_NAMES.filter((k) => "split" in KERNELS[k]) as KernelName[];

/** The position of a parameter in a kernel's argument list. */
export function argIndex(kernel: KernelName, param: string): number {
  const i = KERNELS[kernel].params.findIndex(([n]) => n === param);
  if (i < 0) throw new Error(`kernel ${kernel} has no parameter ${param}`);
  return i;
}

/** A reader of a call's arguments by parameter name (for split decisions and messages). */
export function argReader(kernel: KernelName): (args: readonly number[]) => (name: string) => number {
  const at = new Map<string, number>(KERNELS[kernel].params.map(([n], i) => [n, i]));
  return (args) => (name) => {
    const i = at.get(name);
    if (i === undefined) throw new Error(`kernel ${kernel} has no parameter ${name}`);
    return args[i]!;
  };
}

/** Bytes of `work` that `route_topk` needs for T tokens, E experts and k experts per token. */
export function routeWorkBytes(T: number, E: number, k: number): number {
  return 28 * E + 12 * k + 8 * T * k;
}
