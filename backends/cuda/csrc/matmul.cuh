// matmul.cuh — y = x·Wᵀ (+ bias) for every storage format, dense or grouped by expert.
//
// One argument record (`moec_mm`) serves every variant. Dense: rows [0, rows) of x against one
// weight. Grouped (an MoE expert body): x holds the tokens permuted by expert, expert e owns
// rows [offsets[e], offsets[e+1]) — offsets live on the GPU, written by the router — and each
// block finds its expert and rows itself (`moec_tile`), so the host never reads the routing.
// Grids are sized for the worst case and the blocks past the last tile return at once.
//
// Kernels: `moec_gemv` (few rows: each warp streams one weight row with 16-byte loads and
// keeps up to MAXR token rows of sums in registers; optionally a gate and an up row at once
// with the activation in the epilogue), `moec_gemm_mma` (tensor cores: mma.sync m16n8k16 on
// bf16 or f16 tiles in shared memory, weights dequantised on their way in, f32 accumulation),
// `moec_gemm_simt` (f32 FMA tiles: f32 weights, where tensor cores would lose precision, and
// odd shapes), `moec_matmul_kn` (weights stored [K, N]). Epilogues: store, or — for an expert's
// down projection — scale by the token's routing weight and write to its combine slot.
#pragma once
#include "formats.cuh"
#include "mma.cuh"


struct moec_mm {
  const float *x;  // [rows, K]
  float *y;        // [rows, N] (MOEC_EPI_STORE)
  int K, N;
  int rows;  // dense: the rows; grouped: the bound on assignments (T·k)
  // Dense: `w` and `bias`. Grouped: per expert of the group, `wtab[e − e0]` and `btab[e − e0]`.
  moec_weight w;
  const float *bias;
  const moec_weight *wtab;
  const float *const *btab;
  // A gate/up pair (moec_gemv with PAIR): the up projection's weights, and the activation.
  moec_weight w2;
  const float *bias2;
  const moec_weight *wtab2;
  const float *const *btab2;
  int act;
  float alpha, limit, up_offset;
  // Grouped: expert offsets [E+1] and the experts [e0, e0 + experts) this call covers (null offsets: dense).
  const int *offsets;
  int e0, experts;
  // MOEC_EPI_MOE_PLACE: row r's result goes to comb[slot_of_row[r]] times weight_of_slot[slot].
  int epilogue;
  const int *slot_of_row;
  const float *weight_of_slot;
  float *comb;
  // Scratch of at least rows·K 16-bit elements, or null: with it, 16-bit weights run on moec_gemm16
  // (x rounded into it once, then both operands copied as they are); without, on moec_gemm_mma.
  uint16_t *x16;
};

// The `tile`-th tile of at most BM rows: dense, rows [tile·BM, …) of `rows`; grouped, tiles never
// straddle experts (expert e has ⌈count/BM⌉ of them, in expert order). Every thread of the warp
// must call it (it scans the offsets with shuffles). False past the last tile.
__device__ __forceinline__ bool moec_tile(const moec_mm &a, int BM, int tile, int &e, int &row0, int &rows) {
  if (!a.offsets) {
    e = 0;
    row0 = tile * BM;
    rows = min(BM, a.rows - row0);
    return row0 < a.rows;
  }
  const int lane = threadIdx.x % MOEC_WARP;
  int before = 0;  // tiles of the experts scanned so far
  for (int base = 0; base < a.experts; base += MOEC_WARP) {
    const int ex = a.e0 + base + lane;
    const int count = base + lane < a.experts ? a.offsets[ex + 1] - a.offsets[ex] : 0;
    const int tiles = (count + BM - 1) / BM;
    int incl = tiles;  // inclusive scan across the warp
#pragma unroll
    for (int d = 1; d < MOEC_WARP; d <<= 1) {
      const int v = __shfl_up_sync(MOEC_FULL_MASK, incl, d);
      if (lane >= d) incl += v;
    }
    const unsigned hit = __ballot_sync(MOEC_FULL_MASK, tile < before + incl);
    if (hit) {
      const int l = __ffs(hit) - 1;
      const int first = before + __shfl_sync(MOEC_FULL_MASK, incl - tiles, l);  // this expert's first tile
      e = a.e0 + base + l;
      const int start = a.offsets[e], n = a.offsets[e + 1] - start;
      row0 = start + (tile - first) * BM;
      rows = min(BM, start + n - row0);
      return true;
    }
    before += __shfl_sync(MOEC_FULL_MASK, incl, MOEC_WARP - 1);
  }
  return false;
}

__device__ __forceinline__ moec_weight moec_weight_of(const moec_mm &a, int e, bool second) {
  if (!a.offsets) return second ? a.w2 : a.w;
  return second ? a.wtab2[e - a.e0] : a.wtab[e - a.e0];
}
__device__ __forceinline__ const float *moec_bias_of(const moec_mm &a, int e, bool second) {
  if (!a.offsets) return second ? a.bias2 : a.bias;
  const float *const *t = second ? a.btab2 : a.btab;
  return t ? t[e - a.e0] : nullptr;
}

__device__ __forceinline__ double moec_erf_gelu(double v) { return 0.5 * v * (1.0 + erf(v * 0.70710678118654752440)); }

// h = act(g)·u, each activation rounded to f32 where the plan's separate steps would round it.
__device__ __forceinline__ float moec_pair_act(const moec_mm &a, float g, float u) {
  switch (a.act) {
    case MOEC_ACT_SILU_MUL: return static_cast<float>(g / (1.0 + exp(-static_cast<double>(g)))) * u;
    case MOEC_ACT_GELU_MUL: return static_cast<float>(moec_erf_gelu(g)) * u;
    case MOEC_ACT_GELU_TANH_MUL: {
      const double v = g;
      return static_cast<float>(0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))) * u;
    }
    case MOEC_ACT_RELU_MUL: return (g > 0.0f ? g : 0.0f) * u;
    default: {  // MOEC_ACT_SWIGLU_OAI
      if (a.limit > 0.0f) {
        g = fminf(g, a.limit);
        u = fminf(a.limit, fmaxf(-a.limit, u));
      }
      const double s = 1.0 / (1.0 + exp(-static_cast<double>(a.alpha) * g));
      return static_cast<float>(g * s) * (u + a.up_offset);
    }
  }
}

// Writes one result: to y, or scaled into the token's combine slot.
__device__ __forceinline__ void moec_store(const moec_mm &a, int row, int n, float v) {
  if (a.epilogue == MOEC_EPI_STORE) {
    a.y[static_cast<size_t>(row) * a.N + n] = v;
  } else {
    const int slot = a.slot_of_row[row];
    a.comb[static_cast<size_t>(slot) * a.N + n] = a.weight_of_slot[slot] * v;
  }
}

// ---- GEMV: few rows per weight ------------------------------------------------------------------

// Each warp owns one output column n (one weight row, or a gate and an up row with PAIR) and
// streams it once per MAXR token rows. grid = (⌈N / WARPS⌉, tiles: grouped min(experts, rows);
// dense, blocks that split the rows evenly — many where N is small, as a router's is).
template <class Rd, int MAXR, bool PAIR, int WARPS>
__global__ void __launch_bounds__(WARPS *MOEC_WARP) moec_gemv(moec_mm a) {
  int e, row0, rows;
  if (!moec_tile(a, a.offsets ? (1 << 30) : (a.rows + gridDim.y - 1) / gridDim.y, blockIdx.y, e, row0, rows)) return;
  const int lane = threadIdx.x % MOEC_WARP;
  const int n = blockIdx.x * WARPS + threadIdx.x / MOEC_WARP;
  if (n >= a.N) return;  // whole warps only
  const moec_weight W = moec_weight_of(a, e, false);
  const moec_weight W2 = PAIR ? moec_weight_of(a, e, true) : W;
  const uint8_t *wr = W.data + static_cast<size_t>(n) * moec_row_bytes(W.format, a.K);
  const uint8_t *wr2 = W2.data + static_cast<size_t>(n) * moec_row_bytes(W2.format, a.K);
  const float *bias = moec_bias_of(a, e, false), *bias2 = PAIR ? moec_bias_of(a, e, true) : nullptr;
  const float scale = Rd::CHANNEL ? W.scales[n] : 1.0f, scale2 = Rd::CHANNEL && PAIR ? W2.scales[n] : 1.0f;
  constexpr int C = Rd::CHUNK;
  const int chunks = a.K / C;
  for (int r0 = 0; r0 < rows; r0 += MAXR) {
    const int nr = min(MAXR, rows - r0);
    const float *x = a.x + static_cast<size_t>(row0 + r0) * a.K;
    float acc[MAXR], acc2[MAXR];
#pragma unroll
    for (int r = 0; r < MAXR; r++) acc[r] = acc2[r] = 0.0f;
#pragma unroll 4
    for (int c = lane; c < chunks; c += MOEC_WARP) {
      float w[C], w2[PAIR ? C : 1];
      Rd::load(wr, c, w);
      if (PAIR) Rd::load(wr2, c, w2);
#pragma unroll
      for (int r = 0; r < MAXR; r++) {
        if (r < nr) {
          const float *xr = x + static_cast<size_t>(r) * a.K + c * C;
          float s = 0.0f, s2 = 0.0f;
          if constexpr (C % 4 == 0) {
#pragma unroll
            for (int i = 0; i < C; i += 4) {
              const float4 v = *reinterpret_cast<const float4 *>(xr + i);
              s += w[i] * v.x + w[i + 1] * v.y + w[i + 2] * v.z + w[i + 3] * v.w;
              if (PAIR) s2 += w2[i] * v.x + w2[i + 1] * v.y + w2[i + 2] * v.z + w2[i + 3] * v.w;
            }
          } else {
#pragma unroll
            for (int i = 0; i < C; i++) {
              s += w[i] * xr[i];
              if (PAIR) s2 += w2[i] * xr[i];
            }
          }
          acc[r] += s;
          if (PAIR) acc2[r] += s2;
        }
      }
    }
#pragma unroll
    for (int r = 0; r < MAXR; r++) {
      acc[r] = moec_warp_sum(acc[r]);
      if (PAIR) acc2[r] = moec_warp_sum(acc2[r]);
    }
#pragma unroll
    for (int r = 0; r < MAXR; r++) {
      if (lane == r && r < nr) {
        float v = acc[r] * scale + (bias ? bias[n] : 0.0f);
        if (PAIR) v = moec_pair_act(a, v, acc2[r] * scale2 + (bias2 ? bias2[n] : 0.0f));
        moec_store(a, row0 + r0 + r, n, v);
      }
    }
  }
}

// ---- SIMT GEMM: f32 FMA tiles ------------------------------------------------------------------

// 64×64 output tiles, 256 threads of 4×4 each, K in steps of 16. Any K and N.
// grid = (⌈N/64⌉, tiles of 64 rows).
template <class Rd>
__global__ void __launch_bounds__(256) moec_gemm_simt(moec_mm a) {
  constexpr int BM = 64, BN = 64, BK = 16;
  __shared__ float As[BK][BM + 4], Bs[BK][BN + 4];
  int e, row0, rows;
  if (!moec_tile(a, BM, blockIdx.y, e, row0, rows)) return;
  const moec_weight W = moec_weight_of(a, e, false);
  const float *bias = moec_bias_of(a, e, false);
  const size_t rb = moec_row_bytes(W.format, a.K);
  const int n0 = blockIdx.x * BN, t = threadIdx.x, tx = t % 16, ty = t / 16;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < a.K; k0 += BK) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int j = t + 256 * i, m = j / BK, k = j % BK;  // A: 64 rows × 16
      As[k][m] = (m < rows && k0 + k < a.K) ? a.x[static_cast<size_t>(row0 + m) * a.K + k0 + k] : 0.0f;
      const int n = j / BK;  // B: 64 weight rows × 16
      Bs[k][n] = (n0 + n < a.N && k0 + k < a.K) ? Rd::elem(W.data + static_cast<size_t>(n0 + n) * rb, k0 + k) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; k++) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; i++) av[i] = As[k][ty * 4 + i], bv[i] = Bs[k][tx * 4 + i];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int m = ty * 4 + i;
    if (m >= rows) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int n = n0 + tx * 4 + j;
      if (n < a.N) moec_store(a, row0 + m, n, acc[i][j] * (Rd::CHANNEL ? W.scales[n] : 1.0f) + (bias ? bias[n] : 0.0f));
    }
  }
}

// ---- weights stored [K, N] -----------------------------------------------------------------------

// y[r, n] = Σ_k x[r, k]·W[k, n]: each thread one column n for up to 8 rows at a time, reading
// W along its rows of N (coalesced across the warp). grid = (⌈N/128⌉, tiles of 8 rows).
template <class Rd>
__global__ void __launch_bounds__(128) moec_matmul_kn(moec_mm a) {
  int e, row0, rows;
  if (!moec_tile(a, 8, blockIdx.y, e, row0, rows)) return;
  const int n = blockIdx.x * 128 + threadIdx.x;
  if (n >= a.N) return;
  const moec_weight W = moec_weight_of(a, e, false);
  const float *bias = moec_bias_of(a, e, false);
  const size_t rb = moec_row_bytes(W.format, a.N);
  float acc[8] = {};
  for (int k = 0; k < a.K; k++) {
    const float w = Rd::elem(W.data + static_cast<size_t>(k) * rb, n) * (Rd::CHANNEL ? W.scales[k] : 1.0f);
#pragma unroll
    for (int r = 0; r < 8; r++)
      if (r < rows) acc[r] += a.x[static_cast<size_t>(row0 + r) * a.K + k] * w;
  }
#pragma unroll
  for (int r = 0; r < 8; r++)
    if (r < rows) moec_store(a, row0 + r, n, acc[r] + (bias ? bias[n] : 0.0f));
}

// ---- tensor-core GEMM ------------------------------------------------------------------------------

// BM×BN output tiles from warps of WM×WN, K in steps of 32 (K must be a multiple of 32), two
// shared-memory stages: while the warps multiply one stage, each thread holds the next tile's
// share in registers (activations f32 → MT, weights dequantised → MT) and stores it after.
// Rows of 40 16-bit elements (80 bytes) keep ldmatrix free of bank conflicts.
// grid = (⌈N/BN⌉, tiles of BM rows); dynamic shared memory: moec_mma_smem(BM, BN).
template <class Rd, class MT, int BM, int BN, int WM, int WN>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * MOEC_WARP) moec_gemm_mma(moec_mm a) {
  constexpr int BK = 32, LDS = BK + 8, THREADS = (BM / WM) * (BN / WN) * MOEC_WARP;
  constexpr int C = Rd::CHUNK, B_LOADS = (BN * (BK / C) + THREADS - 1) / THREADS, A_LOADS = BM * (BK / 4) / THREADS;
  constexpr int MI = WM / 16, NI = WN / 8;
  static_assert(A_LOADS * THREADS == BM * (BK / 4), "A tile loads must divide evenly");
  MOEC_DYNAMIC_SMEM(uint16_t, smem);
  uint16_t *As = smem, *Bs = smem + 2 * BM * LDS;  // [2][BM][LDS], [2][BN][LDS]

  int e, row0, rows;
  if (!moec_tile(a, BM, blockIdx.y, e, row0, rows)) return;
  const moec_weight W = moec_weight_of(a, e, false);
  const float *bias = moec_bias_of(a, e, false);
  const size_t rb = moec_row_bytes(W.format, a.K);
  const int n0 = blockIdx.x * BN, t = threadIdx.x, lane = t % MOEC_WARP, warp = t / MOEC_WARP;
  const int wm = (warp / (BN / WN)) * WM, wn = (warp % (BN / WN)) * WN;

  uint32_t ar[A_LOADS][2];
  uint32_t br[B_LOADS][(C + 1) / 2];
  auto load = [&](int kt) {
#pragma unroll
    for (int i = 0; i < A_LOADS; i++) {
      const int j = t + THREADS * i, m = j / (BK / 4), q = j % (BK / 4);
      float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (m < rows) v = *reinterpret_cast<const float4 *>(a.x + static_cast<size_t>(row0 + m) * a.K + kt * BK + 4 * q);
      ar[i][0] = moec_pack16(moec_to16<MT>(v.x), moec_to16<MT>(v.y));
      ar[i][1] = moec_pack16(moec_to16<MT>(v.z), moec_to16<MT>(v.w));
    }
#pragma unroll
    for (int i = 0; i < B_LOADS; i++) {
      const int j = t + THREADS * i, n = j / (BK / C), c = j % (BK / C);
      float v[C];
      if (j < BN * (BK / C) && n0 + n < a.N) Rd::load(W.data + static_cast<size_t>(n0 + n) * rb, kt * (BK / C) + c, v);
      else
#pragma unroll
        for (int q = 0; q < C; q++) v[q] = 0.0f;
#pragma unroll
      for (int q = 0; q < C; q += 2) br[i][q / 2] = moec_pack16(moec_to16<MT>(v[q]), q + 1 < C ? moec_to16<MT>(v[q + 1]) : 0);
    }
  };
  auto store = [&](int s) {
    uint16_t *A = As + s * BM * LDS, *B = Bs + s * BN * LDS;
#pragma unroll
    for (int i = 0; i < A_LOADS; i++) {
      const int j = t + THREADS * i, m = j / (BK / 4), q = j % (BK / 4);
      uint32_t *dst = reinterpret_cast<uint32_t *>(A + m * LDS + 4 * q);
      dst[0] = ar[i][0], dst[1] = ar[i][1];
    }
#pragma unroll
    for (int i = 0; i < B_LOADS; i++) {
      const int j = t + THREADS * i, n = j / (BK / C), c = j % (BK / C);
      if (j >= BN * (BK / C)) continue;
      uint16_t *dst = B + n * LDS + c * C;
      if constexpr (C == 1) dst[0] = static_cast<uint16_t>(br[i][0] & 0xffffu);
      else
#pragma unroll
        for (int q = 0; q < C / 2; q++) reinterpret_cast<uint32_t *>(dst)[q] = br[i][q];
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
  load(0);
  store(0);
  __syncthreads();
  for (int kt = 0; kt < KT; kt++) {
    const int s = kt & 1;
    if (kt + 1 < KT) load(kt + 1);
    const uint16_t *A = As + s * BM * LDS, *B = Bs + s * BN * LDS;
    moec_mma_tile<MT, MI, NI, BK, LDS>(acc, A, B, wm, wn, lane);
    if (kt + 1 < KT) store(s ^ 1);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < MI; i++)
#pragma unroll
    for (int j = 0; j < NI; j++)
#pragma unroll
      for (int q = 0; q < 4; q++) {
        const int m = wm + 16 * i + lane / 4 + 8 * (q / 2), n = n0 + wn + 8 * j + 2 * (lane % 4) + (q % 2);
        if (m < rows && n < a.N) moec_store(a, row0 + m, n, acc[i][j][q] * (Rd::CHANNEL ? W.scales[n] : 1.0f) + (bias ? bias[n] : 0.0f));
      }
}

static inline size_t moec_mma_smem(int BM, int BN) { return static_cast<size_t>(2) * (BM + BN) * 40 * sizeof(uint16_t); }
