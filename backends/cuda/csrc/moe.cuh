// moe.cuh — token-choice routing on the GPU, the permutation of tokens by expert, and the
// weighted combine. Nothing here is read back by the host: the router writes each token's
// experts and weights, counts the tokens per expert and — in the last block to finish —
// turns the counts into offsets, which the grouped matmuls (matmul.cuh) read themselves.
//
// `moec_route`, one warp per token, repeats runtime/moe/routing.ts's route() for token choice:
// scores (softmax, sigmoid, softmax over the chosen k, sparsemixer) in f64 from the f32 router
// logits, the selection bias, group-limited top-k (group score: max or sum of the top two),
// top-k with ties to the lower expert, renormalisation (+1e-20), the routed scaling factor,
// the weights stored as f32. Each assignment a = t·k + j gets its rank among its expert's
// assignments from the atomic count, so the permutation is a scatter: row offsets[e] + rank.
// The order of tokens within an expert depends on the atomics' order; no result does (every
// row of a grouped matmul is computed on its own, and the combine sums in expert order).
#pragma once
#include "moec_cuda.h"

#define MOEC_ROUTE_WARPS 4
#define MOEC_ROUTE_MAX_EXPERTS 512
#define MOEC_ROUTE_MAX_GROUPS 64
#define MOEC_MAX_GROUPS 4  // expert groups (ffn, zero, identity) of one moe

enum { MOEC_SCORE_SOFTMAX = 0, MOEC_SCORE_SIGMOID, MOEC_SCORE_SOFTMAX_TOPK, MOEC_SCORE_SPARSEMIXER };
enum { MOEC_GROUP_MAX = 0, MOEC_GROUP_TOP2_SUM };
enum { MOEC_EXPERTS_FFN = 0, MOEC_EXPERTS_ZERO, MOEC_EXPERTS_IDENTITY };

struct moec_route_args {
  const float *logits;  // [T, E], router bias already added
  int T, E, k;
  int scoring;
  const float *bias;  // selection bias [E] or null
  int groups, topk_groups, group_scoring;
  int renormalize;
  double scale, eps;
  int *ids;        // [T·k] expert of each assignment
  float *weights;  // [T·k]
  int *rank;       // [T·k] position among its expert's assignments
  int *counts;     // [E], zero on entry; zero again on exit
  int *offsets;    // [E+1]
  unsigned *ticket;  // zero on entry; zero again on exit
};

// The expert groups of a moe step, in expert order.
struct moec_expert_groups {
  int n;
  int begin[MOEC_MAX_GROUPS], end[MOEC_MAX_GROUPS], kind[MOEC_MAX_GROUPS];
  float *input[MOEC_MAX_GROUPS];  // ffn groups: where their rows are gathered
};

__device__ __forceinline__ bool moec_better(double va, int ia, double vb, int ib) { return va > vb || (va == vb && ia < ib); }

// Warp argmax over (value, index) with ties to the lower index; every lane gets the winner.
__device__ __forceinline__ void moec_warp_argmax(double &v, int &i) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) {
    const double ov = __shfl_xor_sync(MOEC_FULL_MASK, v, m);
    const int oi = __shfl_xor_sync(MOEC_FULL_MASK, i, m);
    if (moec_better(ov, oi, v, i)) v = ov, i = oi;
  }
}

__device__ __forceinline__ double moec_warp_dsum(double v) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(MOEC_FULL_MASK, v, m);
  return v;
}
__device__ __forceinline__ double moec_warp_dmax(double v) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) v = fmax(v, __shfl_xor_sync(MOEC_FULL_MASK, v, m));
  return v;
}

// Softmax over the lane-held values (−inf entries count as 0), as routing.ts's softmax().
template <int EPL>
__device__ __forceinline__ void moec_softmax(const double *x, double *out, int E) {
  const int lane = threadIdx.x % MOEC_WARP;
  double m = -INFINITY;
  for (int q = 0; q < EPL; q++) if (lane + 32 * q < E && x[q] != -INFINITY) m = fmax(m, x[q]);
  m = moec_warp_dmax(m);
  if (m == -INFINITY) m = 0.0;
  double s = 0.0;
  for (int q = 0; q < EPL; q++) {
    out[q] = (lane + 32 * q < E && x[q] != -INFINITY) ? exp(x[q] - m) : 0.0;
    s += out[q];
  }
  s = moec_warp_dsum(s);
  for (int q = 0; q < EPL; q++) out[q] /= s;
}

// One sparsemixer pick (Phi-3.5-MoE at inference): the best of `masked`, and its weight from a
// softmax over the entries within the 2·eps relative threshold.
template <int EPL>
__device__ __forceinline__ void moec_sparsemixer_pick(const double *logits, const double *masked, int E, double eps, int &best, double &weight) {
  const int lane = threadIdx.x % MOEC_WARP;
  double bv = -INFINITY;
  int bi = 1 << 30;
  for (int q = 0; q < EPL; q++) {
    const int i = lane + 32 * q;
    if (i < E && (bi == (1 << 30) || masked[q] > bv)) bv = masked[q], bi = i;  // first maximum
  }
  // lowest index among equal maxima, −inf entries still selectable (as routing.ts's loop)
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) {
    const double ov = __shfl_xor_sync(MOEC_FULL_MASK, bv, m);
    const int oi = __shfl_xor_sync(MOEC_FULL_MASK, bi, m);
    if (oi != (1 << 30) && (bi == (1 << 30) || ov > bv || (ov == bv && oi < bi))) bv = ov, bi = oi;
  }
  best = bi;
  const double threshold = bv;
  double gated[EPL], p[EPL];
  for (int q = 0; q < EPL; q++) {
    const int i = lane + 32 * q;
    if (i >= E) { gated[q] = -INFINITY; continue; }
    const double factor = fmax(fabs(logits[q]), threshold);
    gated[q] = (threshold - logits[q]) / factor > 2 * eps ? -INFINITY : masked[q];
  }
  moec_softmax<EPL>(gated, p, E);
  double w = 0.0;
  for (int q = 0; q < EPL; q++) if (lane + 32 * q == best) w = p[q];
  weight = moec_warp_dsum(w);  // exactly one lane holds it
}

// grid = ⌈T / 4⌉, block = 4 warps; EPL = experts per lane (⌈E / 32⌉ rounded up to a template size).
template <int EPL>
__global__ void __launch_bounds__(MOEC_ROUTE_WARPS *MOEC_WARP) moec_route(moec_route_args a) {
  __shared__ double gscore[MOEC_ROUTE_WARPS][MOEC_ROUTE_MAX_GROUPS];
  __shared__ bool last_block;
  const int lane = threadIdx.x % MOEC_WARP, w = threadIdx.x / MOEC_WARP;
  const int t = blockIdx.x * MOEC_ROUTE_WARPS + w;
  if (t < a.T) {
    double x[EPL], s[EPL], sel[EPL];
    for (int q = 0; q < EPL; q++) {
      const int i = lane + 32 * q;
      x[q] = i < a.E ? static_cast<double>(a.logits[static_cast<size_t>(t) * a.E + i]) : -INFINITY;
    }
    int chosen[16];
    double wts[16];
    if (a.scoring == MOEC_SCORE_SPARSEMIXER) {
      double rest[EPL];
      moec_sparsemixer_pick<EPL>(x, x, a.E, a.eps, chosen[0], wts[0]);
      for (int q = 0; q < EPL; q++) rest[q] = lane + 32 * q == chosen[0] ? -INFINITY : x[q];
      moec_sparsemixer_pick<EPL>(x, rest, a.E, a.eps, chosen[1], wts[1]);
      for (int j = 0; j < 2; j++) wts[j] *= a.scale;
    } else {
      if (a.scoring == MOEC_SCORE_SOFTMAX) moec_softmax<EPL>(x, s, a.E);
      for (int q = 0; q < EPL; q++) {
        const int i = lane + 32 * q;
        if (a.scoring == MOEC_SCORE_SIGMOID) s[q] = 1.0 / (1.0 + exp(-x[q]));
        else if (a.scoring == MOEC_SCORE_SOFTMAX_TOPK) s[q] = x[q];
        sel[q] = i < a.E ? s[q] + (a.bias ? static_cast<double>(a.bias[i]) : 0.0) : -INFINITY;
      }
      // Group-limited: keep the experts of the topk_groups best groups.
      bool allowed[EPL];
      for (int q = 0; q < EPL; q++) allowed[q] = lane + 32 * q < a.E;
      if (a.groups > 1) {
        const int size = a.E / a.groups;
        for (int g = 0; g < a.groups; g++) {
          double b1 = -INFINITY, b2 = -INFINITY;  // this lane's best two members of group g
          for (int q = 0; q < EPL; q++) {
            const int i = lane + 32 * q;
            if (i < a.E && i / size == g) {
              if (sel[q] > b1) b2 = b1, b1 = sel[q];
              else if (sel[q] > b2) b2 = sel[q];
            }
          }
#pragma unroll
          for (int m = 16; m > 0; m >>= 1) {
            const double o1 = __shfl_xor_sync(MOEC_FULL_MASK, b1, m), o2 = __shfl_xor_sync(MOEC_FULL_MASK, b2, m);
            const double n1 = fmax(b1, o1), n2 = fmax(fmin(b1, o1), fmax(b2, o2));
            b1 = n1, b2 = n2;
          }
          if (lane == 0) gscore[w][g] = a.group_scoring == MOEC_GROUP_MAX ? b1 : b1 + (size > 1 ? b2 : 0.0);
        }
        __syncwarp();
        unsigned long long keep = 0;  // groups ≤ 64
        for (int r = 0; r < a.topk_groups; r++) {
          double bv = -INFINITY;
          int bi = -1;
          for (int g = 0; g < a.groups; g++)
            if (!((keep >> g) & 1ull) && (bi < 0 || moec_better(gscore[w][g], g, bv, bi))) bv = gscore[w][g], bi = g;
          keep |= 1ull << bi;
        }
        for (int q = 0; q < EPL; q++) allowed[q] = allowed[q] && ((keep >> ((lane + 32 * q) / size)) & 1ull);
      }
      // Top-k, ties to the lower expert.
      for (int j = 0; j < a.k; j++) {
        double bv = -INFINITY;
        int bi = 1 << 30;
        for (int q = 0; q < EPL; q++)
          if (allowed[q] && (bi == (1 << 30) || moec_better(sel[q], lane + 32 * q, bv, bi))) bv = sel[q], bi = lane + 32 * q;
        // lanes without a candidate hold index 2^30 and never win
#pragma unroll
        for (int m = 16; m > 0; m >>= 1) {
          const double ov = __shfl_xor_sync(MOEC_FULL_MASK, bv, m);
          const int oi = __shfl_xor_sync(MOEC_FULL_MASK, bi, m);
          if (oi != (1 << 30) && (bi == (1 << 30) || moec_better(ov, oi, bv, bi))) bv = ov, bi = oi;
        }
        chosen[j] = bi;
        for (int q = 0; q < EPL; q++) if (lane + 32 * q == bi) allowed[q] = false;
      }
      // Mixing weights: the scores of the chosen, or a softmax over their logits.
      for (int j = 0; j < a.k; j++) {
        double v = 0.0;
        for (int q = 0; q < EPL; q++) if (lane + 32 * q == chosen[j]) v = a.scoring == MOEC_SCORE_SOFTMAX_TOPK ? x[q] : s[q];
        wts[j] = moec_warp_dsum(v);
      }
      if (a.scoring == MOEC_SCORE_SOFTMAX_TOPK) {
        double m = -INFINITY, sum = 0.0;
        for (int j = 0; j < a.k; j++) m = fmax(m, wts[j]);
        for (int j = 0; j < a.k; j++) sum += wts[j] = exp(wts[j] - m);
        for (int j = 0; j < a.k; j++) wts[j] /= sum;
      }
      if (a.renormalize) {
        double sum = 0.0;
        for (int j = 0; j < a.k; j++) sum += wts[j];
        sum += 1e-20;
        for (int j = 0; j < a.k; j++) wts[j] /= sum;
      }
      for (int j = 0; j < a.k; j++) wts[j] *= a.scale;
    }
    if (lane < a.k) {
      int e = 0;
      double wt = 0.0;
      for (int j = 0; j < a.k; j++) if (j == lane) e = chosen[j], wt = wts[j];
      const int at = t * a.k + lane;
      a.ids[at] = e;
      a.weights[at] = static_cast<float>(wt);
      a.rank[at] = atomicAdd(&a.counts[e], 1);
    }
  }
  // The last block to finish turns the counts into offsets and leaves counts and ticket at zero.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last_block = atomicAdd(a.ticket, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  if (threadIdx.x < MOEC_WARP) {
    int run = 0;
    for (int base = 0; base < a.E; base += MOEC_WARP) {
      const int e = base + lane;
      const int c = e < a.E ? atomicAdd(&a.counts[e], 0) : 0;
      int incl = c;
#pragma unroll
      for (int d = 1; d < MOEC_WARP; d <<= 1) {
        const int v = __shfl_up_sync(MOEC_FULL_MASK, incl, d);
        if (lane >= d) incl += v;
      }
      if (e < a.E) {
        a.offsets[e] = run + incl - c;
        a.counts[e] = 0;
      }
      run += __shfl_sync(MOEC_FULL_MASK, incl, MOEC_WARP - 1);
    }
    if (lane == 0) {
      a.offsets[a.E] = run;
      *a.ticket = 0;
    }
  }
}

// Scatters each assignment's row to its expert's place: slot_of_row[offsets[e] + rank] = t·k + j,
// and copies the token's row of x there into its expert group's input. With weight_input
// (Llama-4) the copy is scaled by the assignment's routing weight (an f32 product) and the weight
// becomes 1, so the output is placed unweighted. grid = T·k, block = 128.
static __global__ void moec_permute(const float *x, int d, int k, const int *ids, const int *rank, const int *offsets, int *slot_of_row, moec_expert_groups groups, float *weights, int weight_input) {
  const int a = blockIdx.x, e = ids[a], row = offsets[e] + rank[a], t = a / k;
  if (threadIdx.x == 0) slot_of_row[row] = a;
  for (int g = 0; g < groups.n; g++) {
    if (e < groups.begin[g] || e >= groups.end[g] || groups.kind[g] != MOEC_EXPERTS_FFN) continue;
    const float *src = x + static_cast<size_t>(t) * d;
    float *dst = groups.input[g] + static_cast<size_t>(row) * d;
    if (weight_input) {
      const float w = weights[a];
      for (int c = threadIdx.x; c < d; c += blockDim.x) dst[c] = __fmul_rn(src[c], w);
      __syncthreads();  // every thread has read the weight before it is replaced
      if (threadIdx.x == 0) weights[a] = 1.0f;
    } else if (d % 4 == 0) {
      for (int c = threadIdx.x; c < d / 4; c += blockDim.x) reinterpret_cast<float4 *>(dst)[c] = reinterpret_cast<const float4 *>(src)[c];
    } else {
      for (int c = threadIdx.x; c < d; c += blockDim.x) dst[c] = src[c];
    }
  }
}

// comb[slot_of_row[r]] = weight · y[r] for rows whose expert body did not end in a matmul that
// placed them itself. grid = T·k, block = 128.
static __global__ void moec_moe_place(const float *y, int d, const int *slot_of_row, const float *weights, float *comb) {
  const int r = blockIdx.x, slot = slot_of_row[r];
  for (int c = threadIdx.x; c < d; c += blockDim.x) comb[static_cast<size_t>(slot) * d + c] = weights[slot] * y[static_cast<size_t>(r) * d + c];
}

// out[t] = Σ over the token's experts in expert order (as the reference's scatter-adds) of its
// contribution — comb (ffn experts), weight · x[t] (identity), nothing (zero) — then the shared
// expert, through its sigmoid gate when it has one. grid = T, block = 128.
static __global__ void moec_moe_combine(const float *x, float *out, int d, int k, const int *ids, const float *weights, const float *comb, moec_expert_groups groups, const float *shared, const float *gate) {
  const int t = blockIdx.x;
  int order[16];
  for (int j = 0; j < k; j++) {
    int at = j;
    while (at > 0 && ids[t * k + order[at - 1]] > ids[t * k + j]) order[at] = order[at - 1], at--;
    order[at] = j;
  }
  float g = 0.0f;
  if (shared && gate) g = static_cast<float>(1.0 / (1.0 + exp(-static_cast<double>(gate[t]))));
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    float s = 0.0f;
    for (int jj = 0; jj < k; jj++) {
      const int a = t * k + order[jj], e = ids[a];
      int kind = MOEC_EXPERTS_FFN;
      for (int q = 0; q < groups.n; q++) if (e >= groups.begin[q] && e < groups.end[q]) kind = groups.kind[q];
      if (kind == MOEC_EXPERTS_FFN) s += comb[static_cast<size_t>(a) * d + c];
      else if (kind == MOEC_EXPERTS_IDENTITY) s += weights[a] * x[static_cast<size_t>(t) * d + c];
    }
    if (shared) s += gate ? g * shared[static_cast<size_t>(t) * d + c] : shared[static_cast<size_t>(t) * d + c];
    out[static_cast<size_t>(t) * d + c] = s;
  }
}
