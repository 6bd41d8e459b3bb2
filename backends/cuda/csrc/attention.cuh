// attention.cuh — causal attention over each sequence's KV cache, every variant a plan has:
// MHA, GQA/MQA (query head h reads kv head h / (heads / kv_heads)), MLA's v_dim ≠ head_dim,
// sliding windows, logit soft-capping, attention sinks, non-causal segments.
//
// Rows of a pass may belong to different sequences (batched decode) at different positions:
// per row, `pos` (its position), `seq` (its sequence slot, whose cache it reads) and `seg_end`
// (the last position of its segment, the last key a non-causal query sees) live on the GPU,
// so one captured graph serves every step. `moec_kv_append` writes the pass's keys and values
// into the caches first.
//
// `moec_attention`: one warp per (row, head) runs an online softmax over its keys, 32 at a time
// (each lane scores one key, then the warp accumulates V with lanes over the value dims).
// With splits > 1 (flash-decoding for long contexts) each split of the keys writes its
// (max, sum, unnormalised output) and `moec_attention_combine` merges them.
#pragma once
#include "moec_cuda.h"

#define MOEC_ATTN_HEADS_PER_BLOCK 4
#define MOEC_ATTN_MAX_DIM 512

struct moec_attn {
  const float *q;  // [rows, heads·head_dim] (row stride q_stride)
  int q_stride;
  const float *kc, *vc;           // this cache's keys and values of sequence slot 0
  long long k_seq, v_seq;         // floats between sequence slots
  int k_stride, v_stride;         // floats between positions (cache row widths)
  float *out;                     // [rows, heads·v_dim]
  int out_stride;
  int rows, heads, kv_heads, head_dim, v_dim;
  float scale, softcap;           // softcap 0: none
  int window;                     // 0: none
  int chunk;                      // 0: none; else a query at p sees keys from ⌊p / chunk⌋·chunk on (Llama-4)
  const float *sinks;             // [heads] or null
  int causal;
  const int *pos, *seq, *seg_end;  // per row
  int splits, keys_per_split;     // splits > 1: partial results below
  float *part_o;                  // [rows, heads, splits, v_dim]
  float *part_ml;                 // [rows, heads, splits, 2]
};

// Copies each row's first `width` columns of `src` (row stride src_stride) to its cache row.
static __global__ void moec_kv_append(const float *src, int src_stride, float *cache, long long seq_stride, int row_stride, int width, const int *pos, const int *seq) {
  const int r = blockIdx.x;
  float *dst = cache + seq[r] * seq_stride + static_cast<long long>(pos[r]) * row_stride;
  for (int c = threadIdx.x; c < width; c += blockDim.x) dst[c] = src[static_cast<size_t>(r) * src_stride + c];
}

// Llama-4's attention temperature tuning, in place: row r of x (a query at position pos[r]) times
// 1 + scale·ln(1 + ⌊(p + 1) / floor_scale⌋), rounded to f32 at each step as
// runtime/math/temperature.ts does (the log in double, then rounded: the f32 of an exact log).
static __global__ void moec_temperature(float *x, int width, const int *pos, double floor_scale, float scale) {
  const int r = blockIdx.x;
  const float fl = floorf(static_cast<float>((pos[r] + 1) / floor_scale));
  const float f = __fadd_rn(__fmul_rn(static_cast<float>(log1p(static_cast<double>(fl))), scale), 1.0f);
  for (int c = threadIdx.x; c < width; c += blockDim.x) x[static_cast<size_t>(r) * width + c] = __fmul_rn(x[static_cast<size_t>(r) * width + c], f);
}

// grid = (rows, ⌈heads / 4⌉, splits), block = 4 warps.
static __global__ void __launch_bounds__(MOEC_ATTN_HEADS_PER_BLOCK *MOEC_WARP) moec_attention(moec_attn a) {
  __shared__ float qs[MOEC_ATTN_HEADS_PER_BLOCK][MOEC_ATTN_MAX_DIM];
  const int lane = threadIdx.x % MOEC_WARP, w = threadIdx.x / MOEC_WARP;
  const int r = blockIdx.x, h = blockIdx.y * MOEC_ATTN_HEADS_PER_BLOCK + w, split = blockIdx.z;
  if (h >= a.heads) return;  // whole warps
  const int kvh = h / (a.heads / a.kv_heads);
  const int p = a.pos[r];
  const int last = a.causal ? p : a.seg_end[r];
  int first = a.window > 0 ? max(0, p - a.window + 1) : 0;
  if (a.chunk > 0) first = max(first, p / a.chunk * a.chunk);
  int end = last + 1;
  if (a.splits > 1) {
    first = max(first, split * a.keys_per_split);
    end = min(end, (split + 1) * a.keys_per_split);
  }
  const float *q = a.q + static_cast<size_t>(r) * a.q_stride + static_cast<size_t>(h) * a.head_dim;
  for (int d = lane; d < a.head_dim; d += MOEC_WARP) qs[w][d] = q[d];
  __syncwarp();
  const float *kc = a.kc + a.seq[r] * a.k_seq + static_cast<size_t>(kvh) * a.head_dim;
  const float *vc = a.vc + a.seq[r] * a.v_seq + static_cast<size_t>(kvh) * a.v_dim;

  // Running max, sum and output (lane owns value dims lane, lane + 32, …).
  const bool sink = a.sinks && a.splits == 1;
  float M = sink ? a.sinks[h] : -INFINITY, L = sink ? 1.0f : 0.0f;
  float acc[MOEC_ATTN_MAX_DIM / MOEC_WARP];
#pragma unroll
  for (int i = 0; i < MOEC_ATTN_MAX_DIM / MOEC_WARP; i++) acc[i] = 0.0f;

  for (int j0 = first; j0 < end; j0 += MOEC_WARP) {
    const int j = j0 + lane;
    float l = -INFINITY;
    if (j < end) {
      const float *k = kc + static_cast<long long>(j) * a.k_stride;
      float dot = 0.0f;
      for (int d = 0; d < a.head_dim; d++) dot += qs[w][d] * k[d];
      l = dot * a.scale;
      if (a.softcap > 0.0f) l = a.softcap * tanhf(l / a.softcap);
    }
    const float mb = moec_warp_max(l);
    const float Mn = fmaxf(M, mb);
    const float corr = M == -INFINITY ? 0.0f : expf(M - Mn);
    const float pj = j < end ? expf(l - Mn) : 0.0f;
    L = L * corr + moec_warp_sum(pj);
    M = Mn;
    const int n = min(MOEC_WARP, end - j0);
#pragma unroll
    for (int i = 0; i < MOEC_ATTN_MAX_DIM / MOEC_WARP; i++) acc[i] *= corr;
    for (int jj = 0; jj < n; jj++) {
      const float pk = __shfl_sync(MOEC_FULL_MASK, pj, jj);
      const float *v = vc + static_cast<long long>(j0 + jj) * a.v_stride;
#pragma unroll
      for (int i = 0; i < MOEC_ATTN_MAX_DIM / MOEC_WARP; i++) {
        const int d = lane + MOEC_WARP * i;
        if (d < a.v_dim) acc[i] += pk * v[d];
      }
    }
  }
  if (a.splits == 1) {
    float *o = a.out + static_cast<size_t>(r) * a.out_stride + static_cast<size_t>(h) * a.v_dim;
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
#pragma unroll
    for (int i = 0; i < MOEC_ATTN_MAX_DIM / MOEC_WARP; i++) {
      const int d = lane + MOEC_WARP * i;
      if (d < a.v_dim) o[d] = acc[i] * inv;
    }
  } else {
    const size_t at = (static_cast<size_t>(r) * a.heads + h) * a.splits + split;
    float *o = a.part_o + at * a.v_dim;
#pragma unroll
    for (int i = 0; i < MOEC_ATTN_MAX_DIM / MOEC_WARP; i++) {
      const int d = lane + MOEC_WARP * i;
      if (d < a.v_dim) o[d] = acc[i];
    }
    if (lane == 0) a.part_ml[2 * at] = M, a.part_ml[2 * at + 1] = L;
  }
}

// Merges the splits of each (row, head). grid = (rows, heads), block = 32.
static __global__ void moec_attention_combine(moec_attn a) {
  const int r = blockIdx.x, h = blockIdx.y;
  const size_t base = (static_cast<size_t>(r) * a.heads + h) * a.splits;
  float M = a.sinks ? a.sinks[h] : -INFINITY;
  for (int s = 0; s < a.splits; s++) M = fmaxf(M, a.part_ml[2 * (base + s)]);
  float L = a.sinks ? expf(a.sinks[h] - M) : 0.0f;
  for (int s = 0; s < a.splits; s++) {
    const float m = a.part_ml[2 * (base + s)];
    if (m != -INFINITY) L += a.part_ml[2 * (base + s) + 1] * expf(m - M);
  }
  const float inv = L > 0.0f ? 1.0f / L : 0.0f;
  float *o = a.out + static_cast<size_t>(r) * a.out_stride + static_cast<size_t>(h) * a.v_dim;
  for (int d = threadIdx.x; d < a.v_dim; d += blockDim.x) {
    float s = 0.0f;
    for (int sp = 0; sp < a.splits; sp++) {
      const float m = a.part_ml[2 * (base + sp)];
      if (m != -INFINITY) s += a.part_o[(base + sp) * a.v_dim + d] * expf(m - M);
    }
    o[d] = s * inv;
  }
}
