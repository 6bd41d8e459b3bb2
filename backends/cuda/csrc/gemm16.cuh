// gemm16.cuh — the tensor-core GEMM for 16-bit weights (bf16, f16): y = x·Wᵀ with x already
// rounded to the weights' type (`x16`, written by moec_to16_rows), both operands streamed from
// global into shared memory with cp.async through STAGES stages (no registers, no conversion on
// the way), fragments by ldmatrix, mma.sync m16n8k16, f32 accumulators.
//
// Why apart from moec_gemm_mma: that kernel dequantises any format on its way through
// registers and converts f32 activations as it loads them, which keeps one code path for every
// format but leaves the tensor cores waiting; for the formats real checkpoints ship in (bf16)
// the tiles can be copied as they are.
//
// PAIR (a gate/up pair with its activation, h = act(x·Gᵀ)·(x·Uᵀ)): the B tile holds 16-row bands
// of the gate and the up weights in turn, so every warp holds a gate column and its up column
// in the same lanes and applies the activation in its epilogue; BN/2 outputs per block.
// Block order: a one-dimensional grid of (row tiles) × (column tiles) walked in groups of G row
// tiles that sweep the columns together, so each weight tile comes from memory about once per
// group while the group's rows stay in L2. (Row-major order re-read an expert's whole weight
// once per row tile: at Mixtral's shape, 235 MB per 128 rows.)
// grid = (tiles of BM rows × ⌈N / (PAIR ? BN/2 : BN)⌉); dynamic shared memory moec_gemm16_smem.
#pragma once
#include "matmul.cuh"

template <class MT, int BM, int BN, int WM, int WN, int STAGES, bool PAIR, int BK = 32, int G = 8>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * MOEC_WARP) moec_gemm16(moec_mm a, const uint16_t *x16) {
  constexpr int LDS = BK + 8, THREADS = (BM / WM) * (BN / WN) * MOEC_WARP;
  constexpr int MI = WM / 16, NI = WN / 8, CH = BK / 8;  // CH: 16-byte chunks per tile row
  constexpr int A_CH = BM * CH / THREADS, B_CH = BN * CH / THREADS;
  static_assert(A_CH * THREADS == BM * CH && B_CH * THREADS == BN * CH, "tile copies must divide evenly");
  static_assert(!PAIR || WN % 32 == 0, "a pair's warp needs whole gate/up band pairs");
  MOEC_DYNAMIC_SMEM(uint16_t, smem);
  uint16_t *As = smem, *Bs = smem + STAGES * BM * LDS;  // [STAGES][BM][LDS], [STAGES][BN][LDS]

  constexpr int NO = PAIR ? BN / 2 : BN;
  const int ntiles = (a.N + NO - 1) / NO, tiles = gridDim.x / ntiles;
  const int group = blockIdx.x / (G * ntiles), first = group * G, gsize = min(G, tiles - first);
  const int within = blockIdx.x - group * G * ntiles;
  int e, row0, rows;
  if (!moec_tile(a, BM, first + within % gsize, e, row0, rows)) return;
  const int n0 = (within / gsize) * NO, t = threadIdx.x, lane = t % MOEC_WARP, warp = t / MOEC_WARP;
  const int wm = (warp / (BN / WN)) * WM, wn = (warp % (BN / WN)) * WN;
  const moec_weight W = moec_weight_of(a, e, false), W2 = PAIR ? moec_weight_of(a, e, true) : W;

  // Each thread's chunks: where they come from (row start) and whether that row exists.
  const uint16_t *asrc[A_CH], *bsrc[B_CH];
  bool aok[A_CH], bok[B_CH];
#pragma unroll
  for (int i = 0; i < A_CH; i++) {
    const int j = t + THREADS * i, m = j / CH, c = j % CH;
    aok[i] = m < rows;
    asrc[i] = x16 + static_cast<size_t>(row0 + (aok[i] ? m : 0)) * a.K + 8 * c;
  }
#pragma unroll
  for (int i = 0; i < B_CH; i++) {
    const int j = t + THREADS * i, r = j / CH, c = j % CH;
    const int band = r / 16, n = PAIR ? n0 + (band >> 1) * 16 + r % 16 : n0 + r;
    const moec_weight &w = PAIR && (band & 1) ? W2 : W;
    bok[i] = n < a.N;
    bsrc[i] = reinterpret_cast<const uint16_t *>(w.data) + static_cast<size_t>(bok[i] ? n : 0) * a.K + 8 * c;
  }
  auto load = [&](int s, int kt) {
    uint16_t *A = As + s * BM * LDS, *B = Bs + s * BN * LDS;
#pragma unroll
    for (int i = 0; i < A_CH; i++) {
      const int j = t + THREADS * i;
      moec_cp16(A + (j / CH) * LDS + 8 * (j % CH), asrc[i] + kt * BK, aok[i]);
    }
#pragma unroll
    for (int i = 0; i < B_CH; i++) {
      const int j = t + THREADS * i;
      moec_cp16(B + (j / CH) * LDS + 8 * (j % CH), bsrc[i] + kt * BK, bok[i]);
    }
  };

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; i++)
#pragma unroll
    for (int j = 0; j < NI; j++)
#pragma unroll
      for (int q = 0; q < 4; q++) acc[i][j][q] = 0.0f;

  const int KT = a.K / BK;
#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < KT) load(s, s);
    moec_cp_commit();
  }
  for (int kt = 0; kt < KT; kt++) {
    moec_cp_wait<STAGES - 2>();
    __syncthreads();  // stage kt has landed for every thread, and stage kt−1 is free to refill
    if (kt + STAGES - 1 < KT) load((kt + STAGES - 1) % STAGES, kt + STAGES - 1);
    moec_cp_commit();
    const uint16_t *A = As + (kt % STAGES) * BM * LDS, *B = Bs + (kt % STAGES) * BN * LDS;
    moec_mma_tile<MT, MI, NI, BK, LDS>(acc, A, B, wm, wn, lane);
  }
  moec_cp_wait<0>();

  const float *bias = moec_bias_of(a, e, false), *bias2 = PAIR ? moec_bias_of(a, e, true) : nullptr;
#pragma unroll
  for (int i = 0; i < MI; i++)
#pragma unroll
    for (int j = 0; j < NI; j++) {
      // PAIR: fragments j and j+2 are one gate band and its up band (bands of 16 = two fragments).
      if (PAIR && (j / 2) % 2 != 0) continue;
#pragma unroll
      for (int q = 0; q < 4; q++) {
        const int m = wm + 16 * i + lane / 4 + 8 * (q / 2), c = wn + 8 * j + 2 * (lane % 4) + (q % 2);
        const int n = PAIR ? n0 + (c / 32) * 16 + c % 16 : n0 + c;
        if (m >= rows || n >= a.N) continue;
        float v = acc[i][j][q] + (bias ? bias[n] : 0.0f);
        if constexpr (PAIR) v = moec_pair_act(a, v, acc[i][j + 2][q] + (bias2 ? bias2[n] : 0.0f));
        moec_store(a, row0 + m, n, v);
      }
    }
}

static inline size_t moec_gemm16_smem(int BM, int BN, int stages, int BK = 32) { return static_cast<size_t>(stages) * (BM + BN) * (BK + 8) * sizeof(uint16_t); }

// x16[r, k] = x[r, k] rounded to MT, rows [0, rows) (grouped: every permuted assignment row).
template <class MT>
__global__ void moec_to16_rows(const float *x, uint16_t *x16, long long n4) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n4; i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const float4 v = reinterpret_cast<const float4 *>(x)[i];
    uint2 o;
    o.x = moec_pack16(moec_to16<MT>(v.x), moec_to16<MT>(v.y));
    o.y = moec_pack16(moec_to16<MT>(v.z), moec_to16<MT>(v.w));
    reinterpret_cast<uint2 *>(x16)[i] = o;
  }
}
