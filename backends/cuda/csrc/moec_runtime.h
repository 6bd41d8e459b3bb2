// moec_runtime.h — inside the C runtime: the plan tables the generated model.cu fills in, the
// loaded model, and the operations the generated plan walk (`moec_plan_forward`) calls, one per
// plan step. Each operation checks its arguments and its launches and returns a moec_status
// with the reason in the model's error buffer.
#pragma once
#include "moec.h"
#include "moec_cuda.h"
#include "formats.cuh"
#include "moe.cuh"

// ---- the plan, as the emitter writes it ---------------------------------------------------------

typedef struct {
  const char *name;
  int format;
  int ndim;
  long long shape[4];
  unsigned long long bytes;  // formats.ts weightBytes(format, shape)
  int as_f32;                // read by elementwise kernels (norms, biases, sinks): kept as f32 on the GPU
} moec_weight_info;

typedef struct {
  int width;           // floats per row
  int rows_per_token;  // 1, or top-k for values inside expert bodies (one row per assignment)
} moec_slot_info;

typedef struct {
  int k_width, v_width;  // floats per position (KV caches)
  int state_k, state_v;  // a fixed state per sequence instead (gated DeltaNet: conv window, recurrent state); 0: none
} moec_cache_info;

typedef struct {
  int experts, k, d;
  int scoring, groups, topk_groups, group_scoring, renormalize;
  double scale, eps;
  int n_groups;
  int group_begin[MOEC_MAX_GROUPS], group_end[MOEC_MAX_GROUPS], group_kind[MOEC_MAX_GROUPS];
  int group_input_slot[MOEC_MAX_GROUPS];  // ffn groups: the slot their rows are gathered into; else -1
  int group_params[MOEC_MAX_GROUPS];      // parameters per expert of an ffn group
  int group_bind_at[MOEC_MAX_GROUPS];     // where group g's (weight, element offset) pairs start in `bind`
  const long long *bind;                  // per group, expert, parameter: weight index, element offset
  int weight_input;                       // Llama-4: routing weights scale the expert inputs, outputs add with weight 1
} moec_moe_info;

enum { MOEC_ROPE_FIXED = 0, MOEC_ROPE_DYNAMIC = 1, MOEC_ROPE_LONGROPE = 2 };

typedef struct {
  int kind;
  int dim;  // rotated dims per head
  const float *inv_short, *inv_long;  // [dim/2] (inv_long: LongRoPE past original_max)
  float attn_short, attn_long;
  int original_max;
  double theta, factor;  // dynamic NTK
} moec_rope_info;

typedef struct {
  const char *model;
  const char *plan_hash;
  int vocab;
  int n_weights;
  const moec_weight_info *weights;
  int n_slots;
  const moec_slot_info *slots;
  int n_caches;
  const moec_cache_info *caches;
  int n_moe;
  const moec_moe_info *moe;
  int n_ropes;
  const moec_rope_info *ropes;
  int input_slot, output_slot, output_width;
  int max_head_dim;  // for the attention scratch
  int max_heads;
  int max_deltanet_channels;  // widest deltanet or mamba2 conv input (its per-pass conv output scratch), 0: none
} moec_plan_info;

extern const moec_plan_info MOEC_PLAN;
// The generated plan walk: launches every step for T rows (the per-row metadata is on the GPU).
moec_status moec_plan_forward(moec_model *m, int T);

// ---- the loaded model -------------------------------------------------------------------------

typedef struct {
  int K, N, format, grouped, bucket, kernel;
} moec_tuning_entry;

struct moec_model {
  moec_options opt;
  cudaStream_t stream;
  int sms;
  unsigned char *arena;  // every device allocation of the model, in one
  size_t arena_bytes;
  moec_weight *w;        // [n_weights] (host)
  float **slot;          // [n_slots] device rows
  float **cache_k, **cache_v;  // [n_caches], sequence slot 0; sequence s at + s · max_context · width
  // per-forward metadata, uploaded before each pass (one copy)
  int *ids, *pos, *seq, *seg_end, *rope_seg;  // [max_tokens]
  float *rope_inv;                            // [n_ropes][max_tokens][dim/2 + 1] (inverse frequencies, attention factor)
  int rope_stride;                            // floats per (rope, segment) entry
  unsigned char *meta_dev, *staging;          // the metadata block, and its pinned host copy
  size_t meta_bytes;
  float *logits_host;                         // pinned [max_tokens, vocab]
  // MoE scratch (one step at a time)
  float *router_logits, *topk_w, *comb, *gate;
  int *topk_ids, *rank, *counts, *offsets, *slot_of_row;
  unsigned *ticket;
  moec_weight ***expert_w;           // [moe][group · 64 + param] → device array [count] of that parameter's weights
  const float *const ***expert_b;    // the same, as float pointers (biases)
  // attention split-K scratch
  float *attn_o, *attn_ml;
  // 16-bit copies of a matmul's activations for the tensor-core kernels (null: the plan has no bf16/f16 weights)
  uint16_t *x16;
  long long x16_elems;
  // deltanet and mamba2: the conv output of a pass [max_tokens, channels]
  float *dn_conv;
  int attn_splits, attn_keys_per_split;
  // decode graphs, by batch size
  cudaGraphExec_t *graphs;  // [sequences + 1]
  int *positions;           // [sequences] (host)
  moec_tuning_entry *tuning;
  int n_tuning;
  int tune_force;  // moec_tune: the kernel every matmul uses while it times them (0: none)
  char error[1024];
};

// Sets the model's error message (printf-style) and returns `s`.
moec_status moec_fail(moec_model *m, moec_status s, const char *fmt, ...);
moec_status moec_cuda_fail(moec_model *m, cudaError_t e, const char *what, const char *file, int line);

#define MOEC_TRY(x)                          \
  do {                                       \
    const moec_status moec_s_ = (x);         \
    if (moec_s_ != MOEC_OK) return moec_s_; \
  } while (0)
#define MOEC_CUDA(m, call)                                                                  \
  do {                                                                                      \
    const cudaError_t moec_e_ = (call);                                                     \
    if (moec_e_ != cudaSuccess) return moec_cuda_fail((m), moec_e_, #call, __FILE__, __LINE__); \
  } while (0)

// An f32 weight from `floats` elements on (a glu step's up half of a fused [2N, K] gate_up tensor).
static inline moec_weight moec_weight_f32_at(moec_weight w, long long floats) {
  w.data += 4 * floats;
  return w;
}

// ---- operations of the plan walk (ops.cu) ----------------------------------------------------------

moec_status moec_op_embed(moec_model *m, moec_weight w, float *out, int T, int dim, int vocab);
moec_status moec_op_matmul(moec_model *m, moec_weight w, const float *bias, const float *x, float *y, int T, int K, int N, int layout);
moec_status moec_op_matmul_pair(moec_model *m, moec_weight wg, const float *bg, moec_weight wu, const float *bu, const float *x, float *g_tmp, float *u_tmp, float *out, int T, int K, int N, int act, float alpha, float limit, float up_offset);
moec_status moec_op_rmsnorm(moec_model *m, const float *x, const float *w, float *y, int rows, int n, float eps, float offset);
moec_status moec_op_layernorm(moec_model *m, const float *x, const float *w, const float *b, float *y, int rows, int n, float eps);
moec_status moec_op_unary(moec_model *m, const float *x, float *y, long long n, int kind);
moec_status moec_op_binary(moec_model *m, const float *a, const float *b, float *y, long long n, int kind);
moec_status moec_op_scale(moec_model *m, const float *x, float *y, long long n, float factor);
moec_status moec_op_clamp(moec_model *m, float *x, long long n, float lo, float hi);
moec_status moec_op_swiglu(moec_model *m, const float *g, const float *u, float *y, long long n, float alpha, float limit, float up_offset);
moec_status moec_op_deinterleave(moec_model *m, const float *x, float *a, float *b, int rows, int half, int interleaved);
moec_status moec_op_copy(moec_model *m, const float *src, float *dst, int rows, int blocks, int len, int src_row, int src_block, int dst_row, int dst_block);
moec_status moec_op_rope(moec_model *m, float *x, int rope, int rows, int heads, int head_stride, int interleaved);
moec_status moec_op_attention(moec_model *m, int cache, const float *q, const float *k, int k_row, const float *v, int v_row, float *out, int T, int heads, int kv_heads,
                              int head_dim, int v_dim, float scale, int window, int chunk, float softcap, const float *sinks, int causal);
moec_status moec_op_deltanet(moec_model *m, int cache, const float *x, const float *b, const float *a, const float *conv_w, const float *a_log, const float *dt_bias, float *y, int T,
                             int k_heads, int v_heads, int k_dim, int v_dim, int kernel);
moec_status moec_op_mamba2(moec_model *m, int cache, const float *xbc, const float *dt, const float *z, const float *conv_w, const float *conv_b, const float *a_log, const float *dt_bias,
                           const float *d, const float *norm_w, float *y, int T, int heads, int head_dim, int state_dim, int groups, int kernel, float dt_min, float eps);
moec_status moec_op_conv1d(moec_model *m, int cache, const float *x, const float *conv_w, const float *conv_b, float *y, int T, int channels, int kernel);
moec_status moec_op_mamba(moec_model *m, int cache, const float *x, const float *dt, const float *b, const float *c, const float *z, const float *a_log, const float *d, float *y, int T,
                          int channels, int state_dim);
moec_status moec_op_temperature(moec_model *m, float *x, int T, int width, double floor_scale, float scale);
moec_status moec_op_moe_route(moec_model *m, int moe, const float *router_input, int router_in, moec_weight router, const float *router_bias, const float *selection_bias, int T);
moec_status moec_op_moe_permute(moec_model *m, int moe, const float *x, int T);
moec_status moec_op_gmm(moec_model *m, int moe, int group, int param, int bias_param, const float *x, float *y, int K, int N, int layout, int T, int place);
moec_status moec_op_gmm_pair(moec_model *m, int moe, int group, int pg, int bg, int pu, int bu, const float *x, float *g_tmp, float *u_tmp, float *out, int K, int N, int act, float alpha,
                             float limit, float up_offset, int T, int place);
moec_status moec_op_moe_place(moec_model *m, int moe, const float *y, int d, int T);
moec_status moec_op_swiglu_act(moec_model *m, int act, const float *g, const float *u, float *y, long long n, float alpha, float limit, float up_offset);
moec_status moec_op_moe_combine(moec_model *m, int moe, const float *x, float *out, const float *shared, const float *gate, int T);

// The kernels printed from the C-style base (cstyle.cu, generated): their launchers.
#include "cstyle.h"
