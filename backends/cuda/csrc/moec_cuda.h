// moec_cuda.h — what every moec CUDA source includes: the CUDA runtime (or, built with
// -DMOEC_EMU, its CPU emulation in moec_emu.h), 16-bit float conversions that behave the same
// on both, a checked kernel launch, and small warp and block reductions.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef MOEC_EMU
#include "moec_emu.h"
#include <type_traits>
// Dynamic shared memory of the running launch.
#define MOEC_DYNAMIC_SMEM(T, name) T *name = static_cast<T *>(moec_emu::dynamic_smem())
#else
#include <cuda_runtime.h>
#include <type_traits>
#define MOEC_DYNAMIC_SMEM(T, name)                           \
  extern __shared__ __align__(16) unsigned char moec_smem_[]; \
  T *name = reinterpret_cast<T *>(moec_smem_)
#endif

#include "moec_formats.h"

// Matmul epilogues, and the activations of a gate/up pair, h = act(g)·u (MOEC_ACT_SWIGLU_OAI:
// GPT-OSS's clamped form), shared by the kernels and the generated plan walk.
enum { MOEC_EPI_STORE = 0, MOEC_EPI_MOE_PLACE = 1 };
enum { MOEC_ACT_SILU_MUL = 0, MOEC_ACT_GELU_MUL, MOEC_ACT_GELU_TANH_MUL, MOEC_ACT_RELU_MUL, MOEC_ACT_SWIGLU_OAI };

enum { MOEC_OUT_IN = 0, MOEC_IN_OUT = 1 };  // a matmul weight stored [N, K] or [K, N]
// Matmul kernels (ops.cu picks one; the tuner times them): 0 is the built-in heuristic.
enum { MOEC_KERNEL_AUTO = 0, MOEC_KERNEL_GEMV4, MOEC_KERNEL_GEMV8, MOEC_KERNEL_SIMT, MOEC_KERNEL_MMA64, MOEC_KERNEL_MMA128, MOEC_KERNEL_COUNT };

#define MOEC_WARP 32
#define MOEC_FULL_MASK 0xffffffffu

// ---- bits ----------------------------------------------------------------------------------------
__host__ __device__ __forceinline__ float moec_as_float(uint32_t u) {
#if defined(__CUDA_ARCH__) || defined(MOEC_EMU)
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}
__host__ __device__ __forceinline__ uint32_t moec_as_uint(float f) {
#if defined(__CUDA_ARCH__) || defined(MOEC_EMU)
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
#endif
}

// ---- 16-bit floats ----------------------------------------------------------------------------
// Weights in bf16 and f16 are raw uint16_t in memory; these conversions are exact (bf16 → f32,
// f16 → f32) or round to nearest even (f32 → bf16, f32 → f16), on the GPU and in emulation alike.

__host__ __device__ __forceinline__ float moec_bf16_to_f32(uint16_t h) { return moec_as_float(static_cast<uint32_t>(h) << 16); }

__host__ __device__ __forceinline__ uint16_t moec_f32_to_bf16(float f) {
  uint32_t u = moec_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

__host__ __device__ __forceinline__ float moec_f16_to_f32(uint16_t h) {
#if defined(__CUDA_ARCH__)
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
#else
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return moec_as_float(sign | 0x7f800000u | (man << 13));
  if (exp == 0) {
    if (man == 0) return moec_as_float(sign);
    // subnormal: man · 2^-24
    float v = static_cast<float>(man) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return moec_as_float(sign | ((exp + 112u) << 23) | (man << 13));
#endif
}

__host__ __device__ __forceinline__ uint16_t moec_f32_to_f16(float f) {
#if defined(__CUDA_ARCH__)
  uint16_t h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
#else
  uint32_t u = moec_as_uint(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  u &= 0x7fffffffu;
  if (u > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);
  if (u >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504: inf
  if (u < 0x38800000u) {                                                 // below 2^-14: subnormal or zero
    if (u < 0x33000000u) return sign;                                    // below half the smallest subnormal
    const uint32_t man = (u & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(u >> 23);  // 14 … 24
    uint32_t r = man >> shift;
    const uint32_t rem = man & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1u))) r++;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = ((u >> 13) - (112u << 10));
  const uint32_t rem = u & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
  return static_cast<uint16_t>(sign | r);
#endif
}

// ---- reductions --------------------------------------------------------------------------------

__device__ __forceinline__ float moec_warp_sum(float v) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(MOEC_FULL_MASK, v, m);
  return v;
}

__device__ __forceinline__ float moec_warp_max(float v) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, __shfl_xor_sync(MOEC_FULL_MASK, v, m));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024). Every thread gets the result.
// `red` is 32 floats of shared memory, free for this call.
__device__ __forceinline__ float moec_block_sum(float v, float *red) {
  const int lane = threadIdx.x % MOEC_WARP, warp = threadIdx.x / MOEC_WARP, warps = blockDim.x / MOEC_WARP;
  v = moec_warp_sum(v);
  __syncthreads();  // red may still be read by an earlier call
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < warps ? red[lane] : 0.0f;
  return moec_warp_sum(v);
}

// ---- launches ----------------------------------------------------------------------------------
template <class T> struct moec_ident { using type = T; };

// Launches kernel `k` and returns the launch's error (an invalid configuration, a missing
// kernel image for this GPU); errors inside the kernel surface at the next synchronisation.
template <class... P>
static inline cudaError_t moec_launch(void (*k)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, typename moec_ident<P>::type... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return cudaSuccess;  // nothing to do
  if (grid.y > 65535 || grid.z > 65535) return cudaErrorInvalidValue;
#ifdef MOEC_EMU
  moec_emu::enqueue(stream, [=] { moec_emu::launch(grid, block, smem, [=] { k(args...); }); });
  return cudaSuccess;
#else
  k<<<grid, block, smem, stream>>>(args...);
  return cudaGetLastError();
#endif
}

static inline unsigned moec_ceil_div(long long a, long long b) { return static_cast<unsigned>((a + b - 1) / b); }
