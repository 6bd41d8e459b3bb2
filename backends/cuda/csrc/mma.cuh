// mma.cuh — the tensor-core instructions moec uses (sm_80 and later), one wrapper each:
// mma.sync m16n8k16 with bf16 or f16 inputs and f32 accumulators, ldmatrix, and cp.async. Under
// MOEC_EMU each wrapper computes what the instruction does from the fragments of all 32
// lanes (exchanged through moec_emu's warp barrier), following the PTX ISA's fragment layouts.
#pragma once
#include "moec_cuda.h"

struct moec_bf16_tag {};
struct moec_f16_tag {};

// 16-bit element conversion for the two input types of the tensor-core kernels.
template <class T> __device__ __forceinline__ uint16_t moec_to16(float v);
template <> __device__ __forceinline__ uint16_t moec_to16<moec_bf16_tag>(float v) { return moec_f32_to_bf16(v); }
template <> __device__ __forceinline__ uint16_t moec_to16<moec_f16_tag>(float v) { return moec_f32_to_f16(v); }
template <class T> __device__ __forceinline__ float moec_from16(uint16_t v);
template <> __device__ __forceinline__ float moec_from16<moec_bf16_tag>(uint16_t v) { return moec_bf16_to_f32(v); }
template <> __device__ __forceinline__ float moec_from16<moec_f16_tag>(uint16_t v) { return moec_f16_to_f32(v); }

__device__ __forceinline__ uint32_t moec_pack16(uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16); }

#ifndef MOEC_EMU

// d = a·b + c for a 16×16 A (row), a 16×8 B (col), f32 C/D.
template <class T> __device__ __forceinline__ void moec_mma16816(float d[4], const uint32_t a[4], const uint32_t b[2]);
template <> __device__ __forceinline__ void moec_mma16816<moec_bf16_tag>(float d[4], const uint32_t a[4], const uint32_t b[2]) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
template <> __device__ __forceinline__ void moec_mma16816<moec_f16_tag>(float d[4], const uint32_t a[4], const uint32_t b[2]) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Four 8×8 matrices of 16-bit elements from shared memory: lanes 8i…8i+7 give the row
// addresses of matrix i; r[i] receives row lane/4, elements 2·(lane%4) and 2·(lane%4)+1.
__device__ __forceinline__ void moec_ldmatrix_x4(uint32_t r[4], const void *row) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

// 16 bytes global → shared without passing through registers (sm_80 cp.async, L2 only); with
// `valid` false the 16 shared bytes are zero-filled and nothing is read. Groups of copies are
// committed and waited for: moec_cp_wait<N>() returns when at most N groups are still in flight.
__device__ __forceinline__ void moec_cp16(void *smem, const void *gmem, bool valid) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void moec_cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void moec_cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

#else  // MOEC_EMU

// The emulation copies at once (a wait has nothing left to wait for).
inline void moec_cp16(void *smem, const void *gmem, bool valid) {
  if (valid) memcpy(smem, gmem, 16);
  else memset(smem, 0, 16);
}
inline void moec_cp_commit() {}
template <int N> inline void moec_cp_wait() {}

template <class T> void moec_mma16816(float d[4], const uint32_t a[4], const uint32_t b[2]) {
  struct Frag { uint32_t a[4], b[2]; } mine;
  memcpy(mine.a, a, sizeof mine.a);
  memcpy(mine.b, b, sizeof mine.b);
  moec_emu::publish(&mine, sizeof mine);
  float A[16][16], B[16][8];
  auto half = [](uint32_t v, int hi) { return moec_from16<T>(static_cast<uint16_t>(hi ? v >> 16 : v & 0xffffu)); };
  for (int l = 0; l < 32; l++) {
    Frag f;
    memcpy(&f, moec_emu::peek(l), sizeof f);
    const int g = l / 4, t = l % 4;
    for (int h = 0; h < 2; h++) {
      A[g][2 * t + h] = half(f.a[0], h);
      A[g + 8][2 * t + h] = half(f.a[1], h);
      A[g][2 * t + 8 + h] = half(f.a[2], h);
      A[g + 8][2 * t + 8 + h] = half(f.a[3], h);
      B[2 * t + h][g] = half(f.b[0], h);
      B[2 * t + 8 + h][g] = half(f.b[1], h);
    }
  }
  moec_emu::done_reading();
  const int l = static_cast<int>(moec_emu::lane()), g = l / 4, t = l % 4;
  for (int i = 0; i < 4; i++) {
    const int row = g + 8 * (i / 2), col = 2 * t + (i % 2);
    float s = d[i];
    for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
    d[i] = s;
  }
}

inline void moec_ldmatrix_x4(uint32_t r[4], const void *row) {
  const void *mine = row;
  moec_emu::publish(&mine, sizeof mine);
  const int l = static_cast<int>(moec_emu::lane());
  for (int i = 0; i < 4; i++) {
    const uint16_t *src;
    memcpy(&src, moec_emu::peek(8 * i + l / 4), sizeof src);
    r[i] = moec_pack16(src[2 * (l % 4)], src[2 * (l % 4) + 1]);
  }
  moec_emu::done_reading();
}

#endif

// One warp's share of a shared-memory tile step: its WM×WN block (MI 16-row by NI 8-column
// fragments, at rows wm and columns wn of the A and B tiles, rows of LDS 16-bit elements) over
// BK of K, fragments by ldmatrix, accumulated into acc. Both tensor-core GEMMs run this.
template <class MT, int MI, int NI, int BK, int LDS>
__device__ __forceinline__ void moec_mma_tile(float (&acc)[MI][NI][4], const uint16_t *A, const uint16_t *B, int wm, int wn, int lane) {
#pragma unroll
  for (int ks = 0; ks < BK / 16; ks++) {
    uint32_t af[MI][4], bf[NI][2];
#pragma unroll
    for (int i = 0; i < MI; i++) moec_ldmatrix_x4(af[i], A + (wm + 16 * i + lane % 16) * LDS + 16 * ks + 8 * (lane / 16));
#pragma unroll
    for (int j = 0; j < NI; j += 2) {
      uint32_t r[4];
      moec_ldmatrix_x4(r, B + (wn + 8 * j + 8 * (lane / 16) + lane % 8) * LDS + 16 * ks + 8 * ((lane / 8) % 2));
      bf[j][0] = r[0], bf[j][1] = r[1], bf[j + 1][0] = r[2], bf[j + 1][1] = r[3];
    }
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
      for (int j = 0; j < NI; j++) moec_mma16816<MT>(acc[i][j], af[i], bf[j]);
  }
}
