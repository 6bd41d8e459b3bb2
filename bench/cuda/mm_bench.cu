// mm_bench — the grouped expert matmuls alone, bf16 weights, each tensor-core kernel variant timed
// on the MoE benchmark shapes (CUDA events, mean of replays) and checked against the register-path
// kernel (moec_gemm_mma), which the parity runs have checked against transformers.
//
//   nvcc -O3 -std=c++20 --expt-relaxed-constexpr -arch=sm_90a -I backends/cuda/csrc bench/cuda/mm_bench.cu -o mm_bench
//   ./mm_bench [--replays N]        one JSON line per shape and kernel
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "gemm16.cuh"

#define CHECK(call)                                                                                      \
  do {                                                                                                   \
    const cudaError_t e_ = (call);                                                                       \
    if (e_ != cudaSuccess) {                                                                             \
      fprintf(stderr, "mm_bench: %s: %s (%s:%d)\n", #call, cudaGetErrorString(e_), __FILE__, __LINE__); \
      exit(1);                                                                                           \
    }                                                                                                    \
  } while (0)

struct Shape {
  const char *name;
  int experts, rows_per_expert, K, N;
  bool pair;
};

using BF = Fmt<MOEC_BF16>;
using MT = moec_bf16_tag;

// Uniform values in [−scale, scale) as bf16, filled on the GPU (a DeepSeek-V3 layer's experts are
// 7.5 GB a tensor: drawn on the host, they took minutes).
__global__ void fill_bf16(uint16_t *p, size_t n, unsigned seed, float scale) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    unsigned h = static_cast<unsigned>(i) * 2654435761u ^ seed ^ static_cast<unsigned>(i >> 32) * 40503u;
    h ^= h >> 15, h *= 2246822519u, h ^= h >> 13, h *= 3266489917u, h ^= h >> 16;
    p[i] = moec_f32_to_bf16((h * (1.0f / 4294967296.0f) - 0.5f) * 2.0f * scale);
  }
}

template <class Kern>
static float time_ms(Kern k, int replays) {
  cudaEvent_t t0, t1;
  CHECK(cudaEventCreate(&t0));
  CHECK(cudaEventCreate(&t1));
  for (int r = 0; r < 3; r++) k();
  CHECK(cudaEventRecord(t0));
  for (int r = 0; r < replays; r++) k();
  CHECK(cudaEventRecord(t1));
  CHECK(cudaEventSynchronize(t1));
  CHECK(cudaGetLastError());
  float ms;
  CHECK(cudaEventElapsedTime(&ms, t0, t1));
  return ms / replays;
}

static void report(const char *label, const Shape &s, const moec_mm &a, float ms, const std::vector<float> &expect, double flops) {
  std::vector<float> got(expect.size());
  (void)ms;
  CHECK(cudaMemcpy(got.data(), a.y, sizeof(float) * got.size(), cudaMemcpyDeviceToHost));
  double maxd = 0, maxe = 0;
  for (size_t i = 0; i < got.size(); i++) {
    const double d = fabs(static_cast<double>(got[i]) - expect[i]);
    maxd = d > maxd || d != d ? d : maxd;
    maxe = fmax(maxe, fabs(expect[i]));
  }
  const double bytes = 2.0 * s.experts * a.K * a.N * (s.pair ? 2 : 1);
  printf("{\"shape\":\"%s\",\"kernel\":\"%s\",\"ms\":%.4f,\"tflops\":%.1f,\"weight_gbs\":%.0f,\"max_rel_err\":%.3g}\n", s.name, label, ms, flops / ms / 1e9, bytes / ms / 1e6, maxd / maxe);
  fflush(stdout);
}

template <int BM, int BN, int WM, int WN, int ST, bool PAIR, int BK = 32, int G = 8>
static void run16(const char *label, const Shape &s, moec_mm a, const uint16_t *x16, int tiles_bm, int replays, const std::vector<float> &expect, double flops) {
  auto kern = moec_gemm16<MT, BM, BN, WM, WN, ST, PAIR, BK, G>;
  const size_t smem = moec_gemm16_smem(BM, BN, ST, BK);
  CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  const int NO = PAIR ? BN / 2 : BN;
  const dim3 grid(tiles_bm * ((a.N + NO - 1) / NO)), block((BM / WM) * (BN / WN) * 32);
  CHECK(cudaMemset(a.y, 0xff, sizeof(float) * static_cast<size_t>(a.rows) * a.N));  // poisoned (NaN)
  const float ms = time_ms([&] { kern<<<grid, block, smem>>>(a, x16); }, replays);
  report(label, s, a, ms, expect, flops);
}

// The GEMV kernel the runtime uses for few rows per expert (a pair: gate and up rows at once).
template <bool PAIR>
static void run_gemv(const Shape &s, moec_mm a, int replays, const std::vector<float> &expect, double flops) {
  const int active = s.experts;
  const dim3 grid((a.N + 3) / 4, active);
  CHECK(cudaMemset(a.y, 0xff, sizeof(float) * static_cast<size_t>(a.rows) * a.N));
  const float ms = time_ms([&] { moec_gemv<BF, 8, PAIR, 4><<<grid, 128>>>(a); }, replays);
  report(PAIR ? "gemv8 pair" : "gemv8", s, a, ms, expect, flops);
}

int main(int argc, char **argv) {
  int replays = 20;
  for (int i = 1; i + 1 < argc; i += 2)
    if (!strcmp(argv[i], "--replays")) replays = atoi(argv[i + 1]);
  const Shape shapes[] = {
      {"mixtral_gateup_4096", 8, 1024, 4096, 14336, true},  {"mixtral_down_4096", 8, 1024, 14336, 4096, false},
      {"qwen3_gateup_4096", 128, 256, 2048, 768, true},     {"qwen3_down_4096", 128, 256, 768, 2048, false},
      {"dsv3_gateup_4096", 256, 128, 7168, 2048, true},     {"mixtral_gateup_512", 8, 128, 4096, 14336, true},
      // Few rows per expert: where GEMV gives way to tensor-core tiles.
      {"mixtral_gateup_r2", 8, 2, 4096, 14336, true},       {"mixtral_gateup_r4", 8, 4, 4096, 14336, true},
      {"mixtral_gateup_r8", 8, 8, 4096, 14336, true},       {"mixtral_down_r4", 8, 4, 14336, 4096, false},
      {"qwen3_gateup_r2", 128, 2, 2048, 768, true},         {"qwen3_gateup_r4", 128, 4, 2048, 768, true},
      {"qwen3_gateup_r8", 128, 8, 2048, 768, true},         {"qwen3_down_r4", 128, 4, 768, 2048, false},
      {"dsv3_gateup_r2", 256, 2, 7168, 2048, true},         {"dsv3_gateup_r8", 256, 8, 7168, 2048, true},
  };
  for (const Shape &s : shapes) {
    const int E = s.experts, rows = E * s.rows_per_expert, K = s.K, N = s.N;
    srand(1234);
    std::vector<float> hx(static_cast<size_t>(rows) * K);
    for (auto &v : hx) v = (rand() / (float)RAND_MAX - 0.5f) * 2.0f;
    const size_t wn = static_cast<size_t>(E) * N * K;
    std::vector<int> off(E + 1);
    for (int e = 0; e <= E; e++) off[e] = e * s.rows_per_expert;
    float *x, *y, *g, *u;
    uint16_t *x16, *w, *wu;
    int *offsets;
    moec_weight *wtab, *wtab2;
    CHECK(cudaMalloc(&x, hx.size() * 4));
    CHECK(cudaMalloc(&x16, hx.size() * 2));
    CHECK(cudaMalloc(&y, static_cast<size_t>(rows) * N * 4));
    CHECK(cudaMalloc(&g, static_cast<size_t>(rows) * N * 4));
    CHECK(cudaMalloc(&u, static_cast<size_t>(rows) * N * 4));
    CHECK(cudaMalloc(&w, wn * 2));
    CHECK(cudaMalloc(&wu, wn * 2));
    CHECK(cudaMalloc(&offsets, (E + 1) * 4));
    CHECK(cudaMalloc(&wtab, E * sizeof(moec_weight)));
    CHECK(cudaMalloc(&wtab2, E * sizeof(moec_weight)));
    CHECK(cudaMemcpy(x, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
    fill_bf16<<<4096, 256>>>(w, wn, 17u, 0.02f);
    fill_bf16<<<4096, 256>>>(wu, wn, 91u, 0.02f);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(offsets, off.data(), (E + 1) * 4, cudaMemcpyHostToDevice));
    std::vector<moec_weight> tab(E), tab2(E);
    for (int e = 0; e < E; e++) {
      tab[e] = {reinterpret_cast<const uint8_t *>(w + static_cast<size_t>(e) * N * K), nullptr, MOEC_BF16};
      tab2[e] = {reinterpret_cast<const uint8_t *>(wu + static_cast<size_t>(e) * N * K), nullptr, MOEC_BF16};
    }
    CHECK(cudaMemcpy(wtab, tab.data(), E * sizeof(moec_weight), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(wtab2, tab2.data(), E * sizeof(moec_weight), cudaMemcpyHostToDevice));

    moec_mm a = {};
    a.x = x, a.K = K, a.N = N, a.rows = rows, a.offsets = offsets, a.e0 = 0, a.experts = E, a.wtab = wtab, a.wtab2 = wtab2;
    a.epilogue = MOEC_EPI_STORE, a.act = MOEC_ACT_SILU_MUL;
    const double flops = 2.0 * rows * K * N * (s.pair ? 2 : 1);
    // The register-path kernel: the gate (and up) matmul, as the runtime runs them today.
    auto old = moec_gemm_mma<BF, MT, 128, 128, 64, 32>;
    const size_t osmem = moec_mma_smem(128, 128);
    const dim3 ogrid((N + 127) / 128, (rows + 127) / 128 + E);
    moec_mm ag = a, au = a;
    ag.y = g, au.y = u, au.wtab = wtab2;
    const float old_ms = time_ms([&] {
      old<<<ogrid, 256, osmem>>>(ag);
      if (s.pair) old<<<ogrid, 256, osmem>>>(au);
    }, replays);
    printf("{\"shape\":\"%s\",\"kernel\":\"mma128 (register path)\",\"ms\":%.4f,\"tflops\":%.1f}\n", s.name, old_ms, flops / old_ms / 1e9);
    std::vector<float> expect(static_cast<size_t>(rows) * N), hu_out;
    CHECK(cudaMemcpy(expect.data(), g, expect.size() * 4, cudaMemcpyDeviceToHost));
    if (s.pair) {
      hu_out.resize(expect.size());
      CHECK(cudaMemcpy(hu_out.data(), u, hu_out.size() * 4, cudaMemcpyDeviceToHost));
      for (size_t i = 0; i < expect.size(); i++) expect[i] = static_cast<float>(expect[i] / (1.0 + exp(-static_cast<double>(expect[i])))) * hu_out[i];
    }
    const long long n4 = static_cast<long long>(rows) * K / 4;
    const float conv_ms = time_ms([&] { moec_to16_rows<MT><<<1024, 256>>>(x, x16, n4); }, replays);
    printf("{\"shape\":\"%s\",\"kernel\":\"to16 (f32 -> bf16 activations)\",\"ms\":%.4f}\n", s.name, conv_ms);
    a.y = y;
    const int t128 = (rows + 127) / 128 + E, t64 = (rows + 63) / 64 + E;
    if (s.rows_per_expert <= 8) {  // the GEMV / tensor-core crossover
      if (s.pair) {
        run_gemv<true>(s, a, replays, expect, flops);
        run16<64, 128, 32, 64, 4, true>("gemm16 64x128 w32x64 s4 pair", s, a, x16, t64, replays, expect, flops);
        run16<64, 128, 32, 64, 4, true, 32, 1>("gemm16 64x128 w32x64 s4 pair G1", s, a, x16, t64, replays, expect, flops);
      } else {
        run_gemv<false>(s, a, replays, expect, flops);
        run16<64, 128, 32, 64, 4, false>("gemm16 64x128 w32x64 s4", s, a, x16, t64, replays, expect, flops);
      }
    } else if (s.pair) {
      run16<128, 128, 64, 32, 4, true>("gemm16 128x128 w64x32 s4 pair", s, a, x16, t128, replays, expect, flops);
      run16<128, 128, 64, 32, 4, true, 32, 16>("gemm16 128x128 w64x32 s4 pair G16", s, a, x16, t128, replays, expect, flops);
      run16<128, 128, 64, 32, 4, true, 32, 1>("gemm16 128x128 w64x32 s4 pair G1", s, a, x16, t128, replays, expect, flops);
      run16<128, 128, 64, 32, 3, true, 64>("gemm16 128x128 w64x32 s3 BK64 pair", s, a, x16, t128, replays, expect, flops);
      run16<128, 256, 64, 64, 3, true>("gemm16 128x256 w64x64 s3 pair", s, a, x16, t128, replays, expect, flops);
      run16<64, 128, 32, 64, 4, true>("gemm16 64x128 w32x64 s4 pair", s, a, x16, t64, replays, expect, flops);
    } else {
      run16<128, 128, 64, 32, 4, false>("gemm16 128x128 w64x32 s4", s, a, x16, t128, replays, expect, flops);
      run16<128, 128, 64, 32, 4, false, 32, 16>("gemm16 128x128 w64x32 s4 G16", s, a, x16, t128, replays, expect, flops);
      run16<128, 128, 64, 32, 3, false, 64>("gemm16 128x128 w64x32 s3 BK64", s, a, x16, t128, replays, expect, flops);
      run16<128, 128, 64, 64, 4, false>("gemm16 128x128 w64x64 s4", s, a, x16, t128, replays, expect, flops);
      run16<64, 128, 32, 64, 4, false>("gemm16 64x128 w32x64 s4", s, a, x16, t64, replays, expect, flops);
    }
    for (void *p : {(void *)x, (void *)x16, (void *)y, (void *)g, (void *)u, (void *)w, (void *)wu, (void *)offsets, (void *)wtab, (void *)wtab2}) CHECK(cudaFree(p));
  }
  return 0;
}
