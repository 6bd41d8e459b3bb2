// deltanet.cuh — Qwen3-Next's gated DeltaNet (linear attention), operation for operation as
// runtime/math/deltanet.ts: a causal depthwise conv1d + SiLU over [q | k | v], L2-normalised q and
// k per key head, and per value head a recurrent state S [k_dim, v_dim] updated by the gated delta
// rule. Sums accumulate in double and every stored value is rounded to float, as there.
//
// Each sequence keeps its conv window [kernel − 1, C] (the state cache's k area) and its states
// [v_heads, k_dim, v_dim] (its v area), read as zeros at the sequence's position 0. The rows of a
// pass are segments of consecutive rows of one sequence; a token depends on the one before it, so
// each kernel walks a segment's rows in order, one block per segment (the block of a segment's
// first row; the others return), which keeps one captured graph valid for any segmentation.
#pragma once
#include "moec_cuda.h"

#define MOEC_DELTANET_MAX_DK 256
#define MOEC_DELTANET_MAX_KERNEL 9

struct moec_deltanet {
  const float *x, *b, *a;                   // [T, C], [T, v_heads], [T, v_heads]
  const float *conv_w, *a_log, *dt_bias;    // [C, kernel], [v_heads], [v_heads]
  float *conv_state, *state;                // sequence slot 0's; + seq · conv_stride / state_stride
  long long conv_stride, state_stride;
  float *conv;                              // [T, C] scratch: the conv output
  float *y;                                 // [T, v_heads · v_dim]
  int T, k_heads, v_heads, k_dim, v_dim, kernel;
  const int *pos, *seq;                     // per row
};

// Whether row r starts its segment, and where the segment ends.
static __device__ bool moec_segment(const moec_deltanet &d, int r, int *end) {
  if (r >= d.T || (r > 0 && d.seq[r - 1] == d.seq[r])) return false;
  int e = r + 1;
  while (e < d.T && d.seq[e] == d.seq[r]) e++;
  *end = e;
  return true;
}

// The conv and SiLU of every channel over a segment's rows, then the segment's last kernel − 1
// inputs become the window. grid = (⌈C / 128⌉, T), block = 128: one thread per channel.
static __global__ void moec_deltanet_conv(moec_deltanet d) {
  const int r0 = blockIdx.y, C = 2 * d.k_heads * d.k_dim + d.v_heads * d.v_dim;
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  int end;
  if (ch >= C || !moec_segment(d, r0, &end)) return;
  const int K = d.kernel, n = end - r0;
  const bool fresh = d.pos[r0] == 0;
  float *win = d.conv_state + d.seq[r0] * d.conv_stride;  // [K − 1, C], oldest first
  // Input t of the segment (t < 0: the window's rows before it).
  auto input = [&](int t) -> float { return t >= 0 ? d.x[static_cast<size_t>(r0 + t) * C + ch] : fresh ? 0.0f : win[static_cast<size_t>(K - 1 + t) * C + ch]; };
  for (int t = 0; t < n; t++) {
    double acc = 0.0;
    for (int j = 0; j < K; j++) acc += static_cast<double>(d.conv_w[static_cast<size_t>(ch) * K + j]) * static_cast<double>(input(t - K + 1 + j));
    const float v = static_cast<float>(acc);
    d.conv[static_cast<size_t>(r0 + t) * C + ch] = static_cast<float>(static_cast<double>(v) / (1.0 + exp(-static_cast<double>(v))));
  }
  // The new window, read before it is written: rows from the segment, or older window rows when n < K − 1.
  float keep[MOEC_DELTANET_MAX_KERNEL - 1];
  for (int row = 0; row < K - 1; row++) keep[row] = input(n - (K - 1) + row);
  for (int row = 0; row < K - 1; row++) win[static_cast<size_t>(row) * C + ch] = keep[row];
}

// The gated delta rule of one value head over a segment's rows. grid = (v_heads, T), block = 128:
// thread j owns the state's columns j, j + 128, … (no two threads touch the same state element).
static __global__ void __launch_bounds__(128) moec_deltanet_rule(moec_deltanet d) {
  __shared__ float qn[MOEC_DELTANET_MAX_DK], kn[MOEC_DELTANET_MAX_DK];
  __shared__ double inv_q, inv_k;
  const int v = blockIdx.x, r0 = blockIdx.y;
  int end;
  if (!moec_segment(d, r0, &end)) return;
  const int dk = d.k_dim, dv = d.v_dim, Kd = d.k_heads * dk, C = 2 * Kd + d.v_heads * dv;
  const int h = v / (d.v_heads / d.k_heads);
  float *S = d.state + d.seq[r0] * d.state_stride + static_cast<size_t>(v) * dk * dv;
  const bool fresh = d.pos[r0] == 0;
  if (fresh)
    for (int i = threadIdx.x; i < dk * dv; i += blockDim.x) S[i] = 0.0f;
  const double q_scale = 1.0 / sqrt(static_cast<double>(dk));
  for (int t = r0; t < end; t++) {
    const float *c = d.conv + static_cast<size_t>(t) * C;
    // ‖q_h‖² and ‖k_h‖², summed in index order as the reference does (one thread), then normalised.
    __syncthreads();
    if (threadIdx.x == 0) {
      double sq = 0.0, sk = 0.0;
      for (int i = 0; i < dk; i++) {
        const double qi = c[h * dk + i], ki = c[Kd + h * dk + i];
        sq += qi * qi, sk += ki * ki;
      }
      inv_q = 1.0 / sqrt(static_cast<double>(static_cast<float>(sq)) + 1e-6);
      inv_k = 1.0 / sqrt(static_cast<double>(static_cast<float>(sk)) + 1e-6);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < dk; i += blockDim.x) {
      qn[i] = static_cast<float>(static_cast<double>(static_cast<float>(static_cast<double>(c[h * dk + i]) * inv_q)) * q_scale);
      kn[i] = static_cast<float>(static_cast<double>(c[Kd + h * dk + i]) * inv_k);
    }
    __syncthreads();
    const float aa = static_cast<float>(static_cast<double>(d.a[static_cast<size_t>(t) * d.v_heads + v]) + static_cast<double>(d.dt_bias[v]));
    const float sp = static_cast<float>(aa > 20.0f ? static_cast<double>(aa) : log1p(exp(static_cast<double>(aa))));
    const float g = static_cast<float>(-static_cast<double>(static_cast<float>(exp(static_cast<double>(d.a_log[v])))) * static_cast<double>(sp));
    const float decay = static_cast<float>(exp(static_cast<double>(g)));
    const float beta = static_cast<float>(1.0 / (1.0 + exp(-static_cast<double>(d.b[static_cast<size_t>(t) * d.v_heads + v]))));
    for (int j = threadIdx.x; j < dv; j += blockDim.x) {
      double m = 0.0;
      for (int i = 0; i < dk; i++) {
        const float s = __fmul_rn(S[static_cast<size_t>(i) * dv + j], decay);
        S[static_cast<size_t>(i) * dv + j] = s;
        m += static_cast<double>(s) * static_cast<double>(kn[i]);
      }
      const float vj = c[2 * Kd + v * dv + j];
      const float delta = __fmul_rn(__fsub_rn(vj, static_cast<float>(m)), beta);
      double acc = 0.0;
      for (int i = 0; i < dk; i++) {
        const float s = __fadd_rn(S[static_cast<size_t>(i) * dv + j], __fmul_rn(kn[i], delta));
        S[static_cast<size_t>(i) * dv + j] = s;
        acc += static_cast<double>(s) * static_cast<double>(qn[i]);
      }
      d.y[static_cast<size_t>(t) * d.v_heads * dv + static_cast<size_t>(v) * dv + j] = static_cast<float>(acc);
    }
  }
}
