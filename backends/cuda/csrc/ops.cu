// ops.cu — the operations the generated plan walk calls: each picks its kernel (by format,
// shape, token count and the tuning table), launches it on the model's stream and checks the
// launch. Nothing here waits for the GPU or reads from it.
#include <stdarg.h>
#include <stdio.h>

#include "attention.cuh"
#include "deltanet.cuh"
#include "moec_runtime.h"

#include "matmul_launch.cuh"

// The kernels of each storage format, instantiated in one small file per format (mm_FORMAT.cu,
// generated) and listed by formats_used.cu (generated: the formats of this model's plan).
extern const moec_format_ops *const moec_format_table[MOEC_NUM_FORMATS][2];

// The kernels for `format` with rows of K elements: 16-byte chunks, or one element at a time.
static const moec_format_ops *format_ops(int format, int K) {
  if (format < 0 || format >= MOEC_NUM_FORMATS) return nullptr;
  return moec_format_table[format][moec_vec_ok(format, K) ? 0 : 1];
}

static moec_status no_format(moec_model *m, int format) {
  return moec_fail(m, MOEC_ERR_UNSUPPORTED, "this build has no %s kernels (formats_used.cu lists the formats of the plan it was compiled from); compile the bundle again",
                   format >= 0 && format < MOEC_NUM_FORMATS ? moec_format_names[format] : "unknown");
}

#define LAUNCH(m, what, call)                                                     \
  do {                                                                            \
    const cudaError_t e_ = (call);                                                \
    if (e_ != cudaSuccess) return moec_cuda_fail((m), e_, what, __FILE__, __LINE__); \
  } while (0)

// ---- matmul kernel choice ------------------------------------------------------------------------

#ifndef MOEC_GEMV16_ROWS
#define MOEC_GEMV16_ROWS 2  // rows per weight up to which 16-bit weights take GEMV
#endif

static int bucket(int T) { return T <= 1 ? 0 : T <= 8 ? 1 : T <= 64 ? 2 : T <= 512 ? 3 : 4; }

// The 16-bit operand scratch for a matmul of `rows` rows of K (null where it does not fit or the
// plan has no 16-bit weights: the matmul then takes the register path).
static uint16_t *x16_for(moec_model *m, long long rows, int K) { return m->x16 && rows * K <= m->x16_elems ? m->x16 : nullptr; }

// Whether a gate/up pair of `format` runs as one tensor-core kernel (moec_gemm16 with its activation).
static bool pair16_ok(moec_model *m, int format, long long rows, int K) {
  const moec_format_ops *ops = format_ops(format, K);
  return ops && ops->pair16 && x16_for(m, rows, K);
}

// The kernel for a matmul: the tuning table's choice for this shape and token count, else a
// heuristic — GEMV while each weight row meets few token rows, tensor cores past that (f32
// weights: f32 FMA tiles, which keep f32 precision; 16-bit and quantized weights: bf16/f16
// operands, so activations are rounded to 16 bits there). A gate/up pair past GEMV sizes runs
// on tensor cores where `pair_mma` (16-bit weights), else as two matmuls and the activation.
static int choose_kernel(moec_model *m, int K, int N, int format, int grouped, int T, int rows_per_weight, bool pair, bool pair_mma = false) {
  const bool mma_ok = format != MOEC_F32 && K % 32 == 0 && (!pair || pair_mma);
  if (m->tune_force) {  // moec_tune: the candidate being timed, where it can run this shape
    const int k = m->tune_force;
    if (!((k == MOEC_KERNEL_MMA64 || k == MOEC_KERNEL_MMA128) && !mma_ok) && !(k == MOEC_KERNEL_SIMT && pair)) return k;
  }
  for (int i = 0; i < m->n_tuning; i++) {
    const moec_tuning_entry *t = &m->tuning[i];
    if (t->K == K && t->N == N && t->format == format && t->grouped == grouped && t->bucket == bucket(T)) {
      const int k = t->kernel;
      if ((k == MOEC_KERNEL_MMA64 || k == MOEC_KERNEL_MMA128) && !mma_ok) break;
      if (k == MOEC_KERNEL_SIMT && pair) break;
      return k;
    }
  }
  // 16-bit weights with the tensor-core kernel that copies them as they are (moec_gemm16): tiles
  // from 3 rows per weight on, where GEMV's f32 FMAs per streamed weight start to cost more
  // than the tiles' idle rows (bench/cuda/mm_bench.cu measures the crossover).
  const bool g16 = (format == MOEC_BF16 || format == MOEC_F16) && m->x16 && K % 32 == 0;
  if (rows_per_weight <= (g16 ? MOEC_GEMV16_ROWS : 8)) return MOEC_KERNEL_GEMV4;
  // A few output columns (a router's experts): GEMV over blocks of rows keeps every SM busy,
  // where 64-column tiles would leave most of each tile and most SMs idle.
  if (!grouped && !pair && N <= 32) return MOEC_KERNEL_GEMV8;
  // Past GEMV sizes a gate/up pair is two tiled matmuls and the activation (the caller's fallback).
  if (!mma_ok) return MOEC_KERNEL_SIMT;
  if (g16) return rows_per_weight >= 128 ? MOEC_KERNEL_MMA128 : MOEC_KERNEL_MMA64;
  return rows_per_weight >= 128 && N >= 1024 ? MOEC_KERNEL_MMA128 : MOEC_KERNEL_MMA64;
}

// Launches `a` with `kernel`. `tiles64`/`tiles128`: tile bounds for 64- and 128-row tiles;
// `gemv_tiles`: blocks along y for GEMV (1 dense, experts with rows grouped); `maxr1`: one row per weight at most.
void moec_tune_record(moec_model *m, int K, int N, int format, int grouped, int T, int kernel, int phase);

static moec_status launch_mm(moec_model *m, const moec_mm &a, int format, int kernel, bool pair, bool maxr1, unsigned gemv_tiles, unsigned tiles64, unsigned tiles128, unsigned tiles8, int layout, int T) {
  const moec_format_ops *ops = format_ops(format, layout == MOEC_IN_OUT ? a.N : a.K);
  if (!ops) return no_format(m, format);
  if (layout == MOEC_IN_OUT && !ops->kn_ok) return moec_fail(m, MOEC_ERR_UNSUPPORTED, "a matmul with weights stored [K, N] in %s (the CUDA kernels read [K, N] weights in f32, f16 and bf16)", moec_format_names[format]);
  if (m->tune_force) moec_tune_record(m, a.K, a.N, format, a.offsets != nullptr, T, kernel, 0);
  const moec_mm_launch l = {kernel, pair, maxr1, gemv_tiles, tiles64, tiles128, tiles8, layout};
  const cudaError_t err = ops->matmul(a, l, m->stream);
  if (m->tune_force) moec_tune_record(m, a.K, a.N, format, a.offsets != nullptr, T, kernel, 1);
  if (err != cudaSuccess) return moec_cuda_fail(m, err, "a matmul kernel launch", __FILE__, __LINE__);
  return MOEC_OK;
}

static moec_status check_format(moec_model *m, moec_weight w, int K, const char *what) {
  if (w.format < 0 || w.format >= MOEC_NUM_FORMATS) return moec_fail(m, MOEC_ERR_UNSUPPORTED, "%s: unknown storage format %d", what, w.format);
  if (K % moec_format_block[w.format] != 0) return moec_fail(m, MOEC_ERR_UNSUPPORTED, "%s: rows of %d elements are not whole %s blocks", what, K, moec_format_names[w.format]);
  return MOEC_OK;
}

static moec_mm dense_mm(moec_model *m, moec_weight w, const float *bias, const float *x, float *y, int T, int K, int N) {
  moec_mm a = {};
  a.x = x, a.y = y, a.K = K, a.N = N, a.rows = T, a.w = w, a.bias = bias, a.epilogue = MOEC_EPI_STORE;
  a.x16 = x16_for(m, T, K);
  return a;
}

moec_status moec_op_matmul(moec_model *m, moec_weight w, const float *bias, const float *x, float *y, int T, int K, int N, int layout) {
  MOEC_TRY(check_format(m, w, layout == MOEC_IN_OUT ? N : K, "matmul"));
  const moec_mm a = dense_mm(m, w, bias, x, y, T, K, N);
  const int kernel = choose_kernel(m, K, N, w.format, 0, T, T, false);
  // GEMV splits the rows into blocks of 64 (8 passes of 8 over each weight row).
  return launch_mm(m, a, w.format, kernel, false, T == 1, moec_ceil_div(T, 64), moec_ceil_div(T, 64), moec_ceil_div(T, 128), moec_ceil_div(T, 8), layout, T);
}

moec_status moec_op_matmul_pair(moec_model *m, moec_weight wg, const float *bg, moec_weight wu, const float *bu, const float *x, float *g_tmp, float *u_tmp, float *out, int T, int K, int N, int act,
                                float alpha, float limit, float up_offset) {
  MOEC_TRY(check_format(m, wg, K, "matmul"));
  const int kernel = wg.format == wu.format ? choose_kernel(m, K, N, wg.format, 0, T, T, true, pair16_ok(m, wg.format, T, K)) : -1;
  if (kernel == MOEC_KERNEL_GEMV4 || kernel == MOEC_KERNEL_GEMV8 || kernel == MOEC_KERNEL_MMA64 || kernel == MOEC_KERNEL_MMA128) {
    moec_mm a = dense_mm(m, wg, bg, x, out, T, K, N);
    a.w2 = wu, a.bias2 = bu, a.act = act, a.alpha = alpha, a.limit = limit, a.up_offset = up_offset;
    return launch_mm(m, a, wg.format, kernel, true, T == 1, 1, moec_ceil_div(T, 64), moec_ceil_div(T, 128), 0, MOEC_OUT_IN, T);
  }
  // Two matmuls into the plan's own buffers, then the activation.
  MOEC_TRY(moec_op_matmul(m, wg, bg, x, g_tmp, T, K, N, MOEC_OUT_IN));
  MOEC_TRY(moec_op_matmul(m, wu, bu, x, u_tmp, T, K, N, MOEC_OUT_IN));
  return moec_op_swiglu_act(m, act, g_tmp, u_tmp, out, static_cast<long long>(T) * N, alpha, limit, up_offset);
}

// ---- grouped matmuls (expert bodies) ----------------------------------------------------------------

static moec_mm grouped_mm(moec_model *m, int moe, int group, int param, int bias_param, const float *x, float *y, int K, int N, int T, int place) {
  const moec_moe_info *mi = &MOEC_PLAN.moe[moe];
  moec_mm a = {};
  a.x = x, a.y = y, a.K = K, a.N = N, a.rows = T * mi->k;
  a.offsets = m->offsets, a.e0 = mi->group_begin[group], a.experts = mi->group_end[group] - mi->group_begin[group];
  a.wtab = m->expert_w[moe][group * 64 + param];
  a.btab = bias_param >= 0 ? m->expert_b[moe][group * 64 + bias_param] : nullptr;
  a.epilogue = place ? MOEC_EPI_MOE_PLACE : MOEC_EPI_STORE;
  a.slot_of_row = m->slot_of_row, a.weight_of_slot = m->topk_w, a.comb = m->comb;
  a.x16 = x16_for(m, a.rows, K);
  return a;
}

static int param_format(int moe, int group, int param) {
  const moec_moe_info *mi = &MOEC_PLAN.moe[moe];
  const long long wi = mi->bind[2 * (mi->group_bind_at[group] + param)];
  return MOEC_PLAN.weights[wi].format;
}

moec_status moec_op_gmm(moec_model *m, int moe, int group, int param, int bias_param, const float *x, float *y, int K, int N, int layout, int T, int place) {
  const moec_moe_info *mi = &MOEC_PLAN.moe[moe];
  const int format = param_format(moe, group, param);
  const moec_weight probe = {nullptr, nullptr, format};
  MOEC_TRY(check_format(m, probe, layout == MOEC_IN_OUT ? N : K, "expert matmul"));
  const moec_mm a = grouped_mm(m, moe, group, param, bias_param, x, y, K, N, T, place);
  const int A = T * mi->k, experts = a.experts, active = A < experts ? A : experts;
  const int kernel = choose_kernel(m, K, N, format, 1, T, (A + active - 1) / active, false);
  return launch_mm(m, a, format, kernel, false, T == 1, active, moec_ceil_div(A, 64) + active, moec_ceil_div(A, 128) + active, moec_ceil_div(A, 8) + active, layout, T);
}

moec_status moec_op_gmm_pair(moec_model *m, int moe, int group, int pg, int bg, int pu, int bu, const float *x, float *g_tmp, float *u_tmp, float *out, int K, int N, int act, float alpha,
                             float limit, float up_offset, int T, int place) {
  const moec_moe_info *mi = &MOEC_PLAN.moe[moe];
  const int format = param_format(moe, group, pg);
  const int A = T * mi->k, experts = mi->group_end[group] - mi->group_begin[group], active = A < experts ? A : experts;
  const int kernel = format == param_format(moe, group, pu) ? choose_kernel(m, K, N, format, 1, T, (A + active - 1) / active, true, pair16_ok(m, format, A, K)) : -1;
  if (kernel == MOEC_KERNEL_GEMV4 || kernel == MOEC_KERNEL_GEMV8 || kernel == MOEC_KERNEL_MMA64 || kernel == MOEC_KERNEL_MMA128) {
    moec_mm a = grouped_mm(m, moe, group, pg, bg, x, out, K, N, T, place);
    a.wtab2 = m->expert_w[moe][group * 64 + pu];
    a.btab2 = bu >= 0 ? m->expert_b[moe][group * 64 + bu] : nullptr;
    a.act = act, a.alpha = alpha, a.limit = limit, a.up_offset = up_offset;
    return launch_mm(m, a, format, kernel, true, T == 1, active, moec_ceil_div(A, 64) + active, moec_ceil_div(A, 128) + active, 0, MOEC_OUT_IN, T);
  }
  MOEC_TRY(moec_op_gmm(m, moe, group, pg, bg, x, g_tmp, K, N, MOEC_OUT_IN, T, 0));
  MOEC_TRY(moec_op_gmm(m, moe, group, pu, bu, x, u_tmp, K, N, MOEC_OUT_IN, T, 0));
  MOEC_TRY(moec_op_swiglu_act(m, act, g_tmp, u_tmp, out, static_cast<long long>(A) * N, alpha, limit, up_offset));
  return place ? moec_op_moe_place(m, moe, out, N, T) : MOEC_OK;
}

// ---- embedding ------------------------------------------------------------------------------------------

moec_status moec_op_embed(moec_model *m, moec_weight w, float *out, int T, int dim, int vocab) {
  (void)vocab;  // ids were checked against the vocabulary before the pass
  MOEC_TRY(check_format(m, w, dim, "embed"));
  const moec_format_ops *ops = format_ops(w.format, dim);
  if (!ops) return no_format(m, w.format);
  LAUNCH(m, "embed", ops->embed(w, m->ids, out, T, dim, m->stream));
  return MOEC_OK;
}

// ---- elementwise, norms, rope (kernels printed from the C-style base: cstyle.cu) -------------------------

// The C-style kernels index elements with 32-bit ints (as the catalogue's i32 sizes).
#define ELEMENTS(m, n, what)                                                                                                     \
  do {                                                                                                                           \
    if ((n) > 2147483647LL) return moec_fail(m, MOEC_ERR_UNSUPPORTED, "%s over %lld elements: the kernels take at most 2^31 - 1", what, (long long)(n)); \
  } while (0)

moec_status moec_op_rmsnorm(moec_model *m, const float *x, const float *w, float *y, int rows, int n, float eps, float offset) {
  ELEMENTS(m, static_cast<long long>(rows) * n, "rmsnorm");
  LAUNCH(m, "rmsnorm", moec_k_rmsnorm(m->stream, x, w, y, rows, n, eps, offset));
  return MOEC_OK;
}
moec_status moec_op_layernorm(moec_model *m, const float *x, const float *w, const float *b, float *y, int rows, int n, float eps) {
  ELEMENTS(m, static_cast<long long>(rows) * n, "layernorm");
  LAUNCH(m, "layernorm", moec_k_layernorm(m->stream, x, w, b, y, rows, n, eps));
  return MOEC_OK;
}
moec_status moec_op_unary(moec_model *m, const float *x, float *y, long long n, int kind) {
  ELEMENTS(m, n, "unary");
  LAUNCH(m, "unary", moec_k_unary(m->stream, x, y, static_cast<int>(n), kind));
  return MOEC_OK;
}
moec_status moec_op_binary(moec_model *m, const float *a, const float *b, float *y, long long n, int kind) {
  ELEMENTS(m, n, "binary");
  LAUNCH(m, "binary", moec_k_binary(m->stream, a, b, y, static_cast<int>(n), kind));
  return MOEC_OK;
}
moec_status moec_op_scale(moec_model *m, const float *x, float *y, long long n, float factor) {
  ELEMENTS(m, n, "scale");
  LAUNCH(m, "scale", moec_k_scale(m->stream, x, y, static_cast<int>(n), factor));
  return MOEC_OK;
}
moec_status moec_op_clamp(moec_model *m, float *x, long long n, float lo, float hi) {
  ELEMENTS(m, n, "clamp");
  LAUNCH(m, "clamp", moec_k_clamp(m->stream, x, static_cast<int>(n), lo, hi));
  return MOEC_OK;
}
moec_status moec_op_swiglu(moec_model *m, const float *g, const float *u, float *y, long long n, float alpha, float limit, float up_offset) {
  ELEMENTS(m, n, "swiglu");
  LAUNCH(m, "swiglu", moec_k_swiglu(m->stream, g, u, y, static_cast<int>(n), alpha, limit, up_offset));
  return MOEC_OK;
}
// The activation of a gate/up pair as separate kernels: silu·mul and the like as unary then binary.
moec_status moec_op_swiglu_act(moec_model *m, int act, const float *g, const float *u, float *y, long long n, float alpha, float limit, float up_offset) {
  if (act == MOEC_ACT_SWIGLU_OAI) return moec_op_swiglu(m, g, u, y, n, alpha, limit, up_offset);
  static const int unary_of[] = {0 /* silu */, 1 /* gelu */, 2 /* gelu_tanh */, 3 /* relu */};
  MOEC_TRY(moec_op_unary(m, g, y, n, unary_of[act]));
  return moec_op_binary(m, y, u, y, n, 2 /* mul */);
}
moec_status moec_op_deinterleave(moec_model *m, const float *x, float *a, float *b, int rows, int half, int interleaved) {
  ELEMENTS(m, 2LL * rows * half, "deinterleave");
  LAUNCH(m, "deinterleave", moec_k_deinterleave(m->stream, x, a, b, rows, half, interleaved));
  return MOEC_OK;
}
moec_status moec_op_copy(moec_model *m, const float *src, float *dst, int rows, int blocks, int len, int src_row, int src_block, int dst_row, int dst_block) {
  ELEMENTS(m, static_cast<long long>(rows) * blocks * len, "copy");
  ELEMENTS(m, static_cast<long long>(rows) * (src_row > dst_row ? src_row : dst_row), "copy");
  LAUNCH(m, "copy", moec_k_copy_blocks(m->stream, src, dst, rows, blocks, len, src_row, src_block, dst_row, dst_block));
  return MOEC_OK;
}
moec_status moec_op_rope(moec_model *m, float *x, int rope, int rows, int heads, int head_stride, int interleaved) {
  ELEMENTS(m, static_cast<long long>(rows) * heads * head_stride, "rope");
  // Tables [segment][rope][dim/2 + 1]: inverse frequencies, then the attention factor.
  const float *table = m->rope_inv + static_cast<size_t>(rope) * m->rope_stride;
  LAUNCH(m, "rope", moec_k_rope_positions(m->stream, x, rows, heads, head_stride, MOEC_PLAN.ropes[rope].dim, interleaved, m->pos, m->rope_seg, table, MOEC_PLAN.n_ropes * m->rope_stride));
  return MOEC_OK;
}

// ---- attention ------------------------------------------------------------------------------------------

moec_status moec_op_attention(moec_model *m, int cache, const float *q, const float *k, int k_row, const float *v, int v_row, float *out, int T, int heads, int kv_heads, int head_dim, int v_dim,
                              float scale, int window, int chunk, float softcap, const float *sinks, int causal) {
  const moec_cache_info *c = &MOEC_PLAN.caches[cache];
  if (head_dim > MOEC_ATTN_MAX_DIM || v_dim > MOEC_ATTN_MAX_DIM) return moec_fail(m, MOEC_ERR_UNSUPPORTED, "attention head dims %d / %d exceed the kernel's %d", head_dim, v_dim, MOEC_ATTN_MAX_DIM);
  const long long seq_k = static_cast<long long>(m->opt.max_context) * c->k_width, seq_v = static_cast<long long>(m->opt.max_context) * c->v_width;
  LAUNCH(m, "KV cache append", moec_launch(moec_kv_append, dim3(T), dim3(128), 0, m->stream, k, k_row, m->cache_k[cache], seq_k, c->k_width, c->k_width, m->pos, m->seq));
  LAUNCH(m, "KV cache append", moec_launch(moec_kv_append, dim3(T), dim3(128), 0, m->stream, v, v_row, m->cache_v[cache], seq_v, c->v_width, c->v_width, m->pos, m->seq));
  moec_attn a = {};
  a.q = q, a.q_stride = heads * head_dim, a.kc = m->cache_k[cache], a.vc = m->cache_v[cache], a.k_seq = seq_k, a.v_seq = seq_v;
  a.k_stride = c->k_width, a.v_stride = c->v_width, a.out = out, a.out_stride = heads * v_dim;
  a.rows = T, a.heads = heads, a.kv_heads = kv_heads, a.head_dim = head_dim, a.v_dim = v_dim;
  a.scale = scale, a.softcap = softcap, a.window = window, a.chunk = chunk, a.sinks = sinks, a.causal = causal;
  a.pos = m->pos, a.seq = m->seq, a.seg_end = m->seg_end;
  // Flash-decoding: few rows over a long cache split their keys across blocks.
  a.splits = T <= 16 && m->attn_splits > 1 ? m->attn_splits : 1;
  a.keys_per_split = m->attn_keys_per_split;
  a.part_o = m->attn_o, a.part_ml = m->attn_ml;
  const dim3 grid(T, moec_ceil_div(heads, MOEC_ATTN_HEADS_PER_BLOCK), a.splits);
  LAUNCH(m, "attention", moec_launch(moec_attention, grid, dim3(MOEC_ATTN_HEADS_PER_BLOCK * MOEC_WARP), 0, m->stream, a));
  if (a.splits > 1) LAUNCH(m, "attention combine", moec_launch(moec_attention_combine, dim3(T, heads), dim3(MOEC_WARP), 0, m->stream, a));
  return MOEC_OK;
}

// ---- gated DeltaNet -----------------------------------------------------------------------------------

moec_status moec_op_deltanet(moec_model *m, int cache, const float *x, const float *b, const float *a, const float *conv_w, const float *a_log, const float *dt_bias, float *y, int T,
                             int k_heads, int v_heads, int k_dim, int v_dim, int kernel) {
  if (k_dim > MOEC_DELTANET_MAX_DK || kernel > MOEC_DELTANET_MAX_KERNEL)
    return moec_fail(m, MOEC_ERR_UNSUPPORTED, "deltanet with key dim %d and conv kernel %d: the CUDA kernels take up to %d and %d", k_dim, kernel, MOEC_DELTANET_MAX_DK, MOEC_DELTANET_MAX_KERNEL);
  const moec_cache_info *c = &MOEC_PLAN.caches[cache];
  moec_deltanet d = {};
  d.x = x, d.b = b, d.a = a, d.conv_w = conv_w, d.a_log = a_log, d.dt_bias = dt_bias;
  d.conv_state = m->cache_k[cache], d.state = m->cache_v[cache], d.conv_stride = c->state_k, d.state_stride = c->state_v;
  d.conv = m->dn_conv, d.y = y, d.T = T, d.k_heads = k_heads, d.v_heads = v_heads, d.k_dim = k_dim, d.v_dim = v_dim, d.kernel = kernel;
  d.pos = m->pos, d.seq = m->seq;
  const int C = 2 * k_heads * k_dim + v_heads * v_dim;
  LAUNCH(m, "deltanet conv", moec_launch(moec_deltanet_conv, dim3(moec_ceil_div(C, 128), T), dim3(128), 0, m->stream, d));
  LAUNCH(m, "deltanet rule", moec_launch(moec_deltanet_rule, dim3(v_heads, T), dim3(128), 0, m->stream, d));
  return MOEC_OK;
}

// ---- Mamba-2 (the C-style base's mamba2_scan, one block per segment of the pass) ---------------------------

moec_status moec_op_mamba2(moec_model *m, int cache, const float *xbc, const float *dt, const float *z, const float *conv_w, const float *conv_b, const float *a_log, const float *dt_bias,
                           const float *d, const float *norm_w, float *y, int T, int heads, int head_dim, int state_dim, int groups, int kernel, float dt_min, float eps) {
  const long long C = static_cast<long long>(heads) * head_dim + 2LL * groups * state_dim;
  ELEMENTS(m, static_cast<long long>(T) * C, "mamba2");
  ELEMENTS(m, static_cast<long long>(heads) * head_dim * state_dim, "mamba2 state");
  const moec_cache_info *c = &MOEC_PLAN.caches[cache];
  if (c->state_k < (kernel - 1) * C || c->state_v < static_cast<long long>(heads) * head_dim * state_dim)
    return moec_fail(m, MOEC_ERR_UNSUPPORTED, "mamba2 state cache %d holds %d + %d floats per sequence, the step needs %lld + %lld", cache, c->state_k, c->state_v, (kernel - 1) * C,
                     static_cast<long long>(heads) * head_dim * state_dim);
  // scratch: the conv output of one token per row, in the deltanet's [max_tokens, channels] buffer
  LAUNCH(m, "mamba2 scan", moec_k_mamba2_scan(m->stream, xbc, dt, z, conv_w, conv_b, a_log, dt_bias, d, norm_w, m->cache_k[cache], m->cache_v[cache], y, T, heads, head_dim, state_dim, groups,
                                              kernel, dt_min, eps, m->dn_conv, m->pos, m->seq, c->state_k, c->state_v));
  return MOEC_OK;
}

// ---- Mamba-1 (Jamba: the C-style base's causal_conv1d and mamba_scan, one block per segment of the pass) -----
// Both steps of a layer share its state cache: the conv window in its k area, the SSM state in its v area.

moec_status moec_op_conv1d(moec_model *m, int cache, const float *x, const float *conv_w, const float *conv_b, float *y, int T, int channels, int kernel) {
  ELEMENTS(m, static_cast<long long>(T) * channels, "conv1d");
  const moec_cache_info *c = &MOEC_PLAN.caches[cache];
  if (c->state_k < static_cast<long long>(kernel - 1) * channels)
    return moec_fail(m, MOEC_ERR_UNSUPPORTED, "conv1d state cache %d holds %d floats per sequence, the step needs %lld", cache, c->state_k, static_cast<long long>(kernel - 1) * channels);
  LAUNCH(m, "conv1d", moec_k_causal_conv1d(m->stream, x, conv_w, conv_b, m->cache_k[cache], y, T, channels, kernel, m->pos, m->seq, c->state_k));
  return MOEC_OK;
}

moec_status moec_op_mamba(moec_model *m, int cache, const float *x, const float *dt, const float *b, const float *c_in, const float *z, const float *a_log, const float *d, float *y, int T,
                          int channels, int state_dim) {
  ELEMENTS(m, static_cast<long long>(T) * channels, "mamba");
  ELEMENTS(m, static_cast<long long>(channels) * state_dim, "mamba state");
  const moec_cache_info *c = &MOEC_PLAN.caches[cache];
  if (c->state_v < static_cast<long long>(channels) * state_dim)
    return moec_fail(m, MOEC_ERR_UNSUPPORTED, "mamba state cache %d holds %d floats per sequence, the step needs %lld", cache, c->state_v, static_cast<long long>(channels) * state_dim);
  LAUNCH(m, "mamba scan", moec_k_mamba_scan(m->stream, x, dt, b, c_in, z, a_log, d, m->cache_v[cache], y, T, channels, state_dim, m->pos, m->seq, c->state_v));
  return MOEC_OK;
}

moec_status moec_op_temperature(moec_model *m, float *x, int T, int width, double floor_scale, float scale) {
  LAUNCH(m, "attention temperature", moec_launch(moec_temperature, dim3(T), dim3(128), 0, m->stream, x, width, m->pos, floor_scale, scale));
  return MOEC_OK;
}

// ---- MoE --------------------------------------------------------------------------------------------------

moec_status moec_op_moe_route(moec_model *m, int moe, const float *router_input, int router_in, moec_weight router, const float *router_bias, const float *selection_bias, int T) {
  const moec_moe_info *mi = &MOEC_PLAN.moe[moe];
  MOEC_TRY(moec_op_matmul(m, router, router_bias, router_input, m->router_logits, T, router_in, mi->experts, MOEC_OUT_IN));
  moec_route_args a = {};
  a.logits = m->router_logits, a.T = T, a.E = mi->experts, a.k = mi->k, a.scoring = mi->scoring, a.bias = selection_bias;
  a.groups = mi->groups, a.topk_groups = mi->topk_groups, a.group_scoring = mi->group_scoring, a.renormalize = mi->renormalize;
  a.scale = mi->scale, a.eps = mi->eps, a.ids = m->topk_ids, a.weights = m->topk_w, a.rank = m->rank, a.counts = m->counts, a.offsets = m->offsets, a.ticket = m->ticket;
  const dim3 grid(moec_ceil_div(T, MOEC_ROUTE_WARPS)), block(MOEC_ROUTE_WARPS * MOEC_WARP);
  cudaError_t err;
  const int epl = (mi->experts + 31) / 32;
  if (epl <= 1) err = moec_launch(moec_route<1>, grid, block, 0, m->stream, a);
  else if (epl <= 2) err = moec_launch(moec_route<2>, grid, block, 0, m->stream, a);
  else if (epl <= 4) err = moec_launch(moec_route<4>, grid, block, 0, m->stream, a);
  else if (epl <= 8) err = moec_launch(moec_route<8>, grid, block, 0, m->stream, a);
  else err = moec_launch(moec_route<16>, grid, block, 0, m->stream, a);
  LAUNCH(m, "router", err);
  return MOEC_OK;
}

static moec_expert_groups groups_of(moec_model *m, int moe) {
  const moec_moe_info *mi = &MOEC_PLAN.moe[moe];
  moec_expert_groups g = {};
  g.n = mi->n_groups;
  for (int i = 0; i < mi->n_groups; i++) {
    g.begin[i] = mi->group_begin[i], g.end[i] = mi->group_end[i], g.kind[i] = mi->group_kind[i];
    g.input[i] = mi->group_input_slot[i] >= 0 ? m->slot[mi->group_input_slot[i]] : nullptr;
  }
  return g;
}

moec_status moec_op_moe_permute(moec_model *m, int moe, const float *x, int T) {
  const moec_moe_info *mi = &MOEC_PLAN.moe[moe];
  LAUNCH(m, "expert permutation", moec_launch(moec_permute, dim3(T * mi->k), dim3(128), 0, m->stream, x, mi->d, mi->k, m->topk_ids, m->rank, m->offsets, m->slot_of_row, groups_of(m, moe), m->topk_w, mi->weight_input));
  return MOEC_OK;
}

moec_status moec_op_moe_place(moec_model *m, int moe, const float *y, int d, int T) {
  const moec_moe_info *mi = &MOEC_PLAN.moe[moe];
  LAUNCH(m, "expert output placement", moec_launch(moec_moe_place, dim3(T * mi->k), dim3(128), 0, m->stream, y, d, m->slot_of_row, m->topk_w, m->comb));
  return MOEC_OK;
}

moec_status moec_op_moe_combine(moec_model *m, int moe, const float *x, float *out, const float *shared, const float *gate, int T) {
  const moec_moe_info *mi = &MOEC_PLAN.moe[moe];
  LAUNCH(m, "expert combine", moec_launch(moec_moe_combine, dim3(T), dim3(128), 0, m->stream, x, out, mi->d, mi->k, m->topk_ids, m->topk_w, m->comb, groups_of(m, moe), shared, gate));
  return MOEC_OK;
}
