// matmul_launch.cuh — the launches of one storage format's matmul and embedding kernels, kept
// apart so each format compiles in its own file (mm_FORMAT.cu, generated: one line of
// MOEC_FORMAT_OPS) and a model builds only the formats its plan uses.
#pragma once
#include "gemm16.cuh"

// How a matmul launches (ops.cu decides): the kernel, and the grid bounds each kernel needs.
struct moec_mm_launch {
  int kernel;  // MOEC_KERNEL_*
  bool pair, maxr1;
  unsigned gemv_tiles, tiles64, tiles128, tiles8;
  int layout;
};

struct moec_format_ops {
  cudaError_t (*matmul)(const moec_mm &a, const moec_mm_launch &l, cudaStream_t s);
  cudaError_t (*embed)(moec_weight w, const int *ids, float *out, int T, int dim, cudaStream_t s);
  bool kn_ok;    // reads weights stored [K, N]
  bool pair16;   // runs a gate/up pair on tensor cores (moec_gemm16, given x16 scratch)
};

template <class Rd> constexpr bool moec_float_reader() {
  return std::is_same_v<Rd, Fmt<MOEC_F32>> || std::is_same_v<Rd, Fmt<MOEC_F16>> || std::is_same_v<Rd, Fmt<MOEC_BF16>> || std::is_same_v<Rd, Scalar<MOEC_F32>> ||
         std::is_same_v<Rd, Scalar<MOEC_F16>> || std::is_same_v<Rd, Scalar<MOEC_BF16>>;
}

// The 16-bit formats moec_gemm16 reads as they are stored, and the tensor-core type of each.
template <class Rd> constexpr bool moec_gemm16_reader() { return std::is_same_v<Rd, Fmt<MOEC_BF16>> || std::is_same_v<Rd, Fmt<MOEC_F16>>; }

// x rounded into a.x16, then moec_gemm16 with 128-row tiles (MOEC_KERNEL_MMA128) or 64-row ones.
template <class MT, int BM, int BN, int WM, int WN, bool PAIR>
cudaError_t moec_gemm16_launch(const moec_mm &a, unsigned tiles, cudaStream_t s) {
  const long long n4 = static_cast<long long>(a.rows) * a.K / 4;
  const cudaError_t e = moec_launch(moec_to16_rows<MT>, dim3(static_cast<unsigned>(n4 / 256 + 1 < 4096 ? n4 / 256 + 1 : 4096)), dim3(256), 0, s, a.x, a.x16, n4);
  if (e != cudaSuccess) return e;
  constexpr int STAGES = 4;
  const size_t smem = moec_gemm16_smem(BM, BN, STAGES);
  static bool opted_in = false;  // shared memory past 48 KiB must be asked for, once per kernel
  if (!opted_in) {
    const cudaError_t f = cudaFuncSetAttribute(moec_gemm16<MT, BM, BN, WM, WN, STAGES, PAIR>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (f != cudaSuccess) return f;
    opted_in = true;
  }
  return moec_launch(moec_gemm16<MT, BM, BN, WM, WN, STAGES, PAIR>, dim3(tiles * moec_ceil_div(a.N, PAIR ? BN / 2 : BN)), dim3((BM / WM) * (BN / WN) * MOEC_WARP), smem, s, a, static_cast<const uint16_t *>(a.x16));
}

template <class Rd>
cudaError_t moec_matmul_with(const moec_mm &a, const moec_mm_launch &l, cudaStream_t s) {
  if (l.layout == MOEC_IN_OUT) {
    if constexpr (moec_float_reader<Rd>()) return moec_launch(moec_matmul_kn<Rd>, dim3(moec_ceil_div(a.N, 128), l.tiles8), dim3(128), 0, s, a);
    return cudaErrorInvalidValue;
  }
  switch (l.kernel) {
    case MOEC_KERNEL_GEMV4:
    case MOEC_KERNEL_GEMV8: {
      const dim3 grid(moec_ceil_div(a.N, 4), l.gemv_tiles), block(4 * MOEC_WARP);
      if (l.pair) return l.maxr1 ? moec_launch(moec_gemv<Rd, 1, true, 4>, grid, block, 0, s, a) : moec_launch(moec_gemv<Rd, 8, true, 4>, grid, block, 0, s, a);
      return l.maxr1 ? moec_launch(moec_gemv<Rd, 1, false, 4>, grid, block, 0, s, a) : moec_launch(moec_gemv<Rd, 8, false, 4>, grid, block, 0, s, a);
    }
    case MOEC_KERNEL_MMA64:
    case MOEC_KERNEL_MMA128:
      // Tensor cores: bf16 tiles for bf16 weights, f16 for the rest (more mantissa for dequantised values).
      if constexpr (Rd::CHUNK > 1 && !std::is_same_v<Rd, Fmt<MOEC_F32>>) {
        using MT = std::conditional_t<std::is_same_v<Rd, Fmt<MOEC_BF16>>, moec_bf16_tag, moec_f16_tag>;
        if constexpr (moec_gemm16_reader<Rd>()) {
          if (a.x16) {
            if (l.kernel == MOEC_KERNEL_MMA64) return l.pair ? moec_gemm16_launch<MT, 64, 128, 32, 64, true>(a, l.tiles64, s) : moec_gemm16_launch<MT, 64, 128, 32, 64, false>(a, l.tiles64, s);
            return l.pair ? moec_gemm16_launch<MT, 128, 128, 64, 32, true>(a, l.tiles128, s) : moec_gemm16_launch<MT, 128, 128, 64, 32, false>(a, l.tiles128, s);
          }
        }
        if (l.pair) return cudaErrorInvalidValue;  // ops.cu asks for a pair on tensor cores only where pair16
        if (l.kernel == MOEC_KERNEL_MMA64) return moec_launch(moec_gemm_mma<Rd, MT, 64, 64, 32, 32>, dim3(moec_ceil_div(a.N, 64), l.tiles64), dim3(128), moec_mma_smem(64, 64), s, a);
        return moec_launch(moec_gemm_mma<Rd, MT, 128, 128, 64, 32>, dim3(moec_ceil_div(a.N, 128), l.tiles128), dim3(256), moec_mma_smem(128, 128), s, a);
      }
      [[fallthrough]];
    default:
      return moec_launch(moec_gemm_simt<Rd>, dim3(moec_ceil_div(a.N, 64), l.tiles64), dim3(256), 0, s, a);
  }
}

// Embedding rows: out[t] = dequantised row ids[t] of the table (channel formats times the row's scale).
template <class Rd>
__global__ void moec_embed_rows(moec_weight w, const int *ids, float *out, int dim) {
  const int t = blockIdx.x, id = ids[t];
  const uint8_t *row = w.data + static_cast<size_t>(id) * moec_row_bytes(w.format, dim);
  const float scale = Rd::CHANNEL ? w.scales[id] : 1.0f;
  for (int c = threadIdx.x; c < dim / Rd::CHUNK; c += blockDim.x) {
    float v[Rd::CHUNK];
    Rd::load(row, c, v);
#pragma unroll
    for (int i = 0; i < Rd::CHUNK; i++) out[static_cast<size_t>(t) * dim + c * Rd::CHUNK + i] = v[i] * scale;
  }
}

template <class Rd>
cudaError_t moec_embed_with(moec_weight w, const int *ids, float *out, int T, int dim, cudaStream_t s) {
  return moec_launch(moec_embed_rows<Rd>, dim3(T), dim3(128), 0, s, w, ids, out, dim);
}

// The kernel set of one format: moec_ops_NAME (16-byte chunks) and moec_ops_NAME_scalar.
#define MOEC_FORMAT_OPS(name, Vec, Sca)                                                                         \
  extern const moec_format_ops moec_ops_##name = {moec_matmul_with<Vec>, moec_embed_with<Vec>, moec_float_reader<Vec>(), moec_gemm16_reader<Vec>()}; \
  extern const moec_format_ops moec_ops_##name##_scalar = {moec_matmul_with<Sca>, moec_embed_with<Sca>, moec_float_reader<Sca>(), moec_gemm16_reader<Sca>()};
