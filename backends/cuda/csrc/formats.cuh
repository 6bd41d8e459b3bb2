// formats.cuh — reading weights in every storage format of runtime/plan/formats.ts.
//
// A weight [rows, K] is stored row after row; `Fmt<F>` reads one row in chunks of CHUNK
// consecutive elements (`load(row, c, out)`: elements [c·CHUNK, (c+1)·CHUNK) as f32) or one
// element at a time (`elem`). Float and channel formats read 16 bytes per chunk and need rows
// whose byte length is a multiple of 16 (`vec_ok`); `Scalar<F>` reads them one element at a
// time for the rest. Block formats read their blocks with 1-, 2- or 4-byte loads, whatever the
// block size allows (blocks of 18 or 34 bytes are only 2-byte aligned).
//
// Channel formats (int8) yield the raw integers; the kernels multiply each output column's sum
// by its row scale (`scale`), which is exact where the scale would otherwise multiply K times.
// The arithmetic follows runtime/weights/ggml-quants.ts (GGUF blocks) and formats.ts's layouts
// (the others); every product a reference rounds to f32 is an f32 product here too.
#pragma once
#include "moec_cuda.h"

// A weight operand: its bytes and, for channel formats, the f32 scale of its first row.
struct moec_weight {
  const uint8_t *data;
  const float *scales;
  int format;
};

__device__ __forceinline__ uint32_t moec_ld_u16(const uint8_t *p) { return *reinterpret_cast<const uint16_t *>(p); }
__device__ __forceinline__ float moec_ld_f16(const uint8_t *p) { return moec_f16_to_f32(static_cast<uint16_t>(moec_ld_u16(p))); }
__device__ __forceinline__ uint4 moec_ld_16(const uint8_t *p) { return *reinterpret_cast<const uint4 *>(p); }

// FP8 E4M3 ("fn": bias 7, no infinities, S.1111.111 is NaN).
__device__ __forceinline__ float moec_e4m3_to_f32(uint32_t b) {
  const uint32_t sign = (b & 0x80u) << 24, exp = (b >> 3) & 0xfu, man = b & 7u;
  if ((b & 0x7fu) == 0x7fu) return moec_as_float(0x7fc00000u);
  if (exp == 0) {
    const float v = static_cast<float>(man) * 0.001953125f;  // man · 2^-9
    return sign ? -v : v;
  }
  return moec_as_float(sign | ((exp + 120u) << 23) | (man << 20));
}

// E8M0 halved, as ggml's MXFP4 blocks use it: 2^(e − 128).
__device__ __forceinline__ float moec_e8m0_half(uint32_t e) {
  return e >= 2 ? moec_as_float((e - 1) << 23) : moec_as_float(0x00400000u >> (1 - e));
}

// ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j (0..7) of a K-quant super-block.
__device__ __forceinline__ void moec_scale_min_k4(int j, const uint8_t *s, int &sc, int &m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

template <int F> struct Fmt;

template <> struct Fmt<MOEC_F32> {
  static constexpr int CHUNK = 4, BYTES = 4;
  static constexpr bool CHANNEL = false;
  __device__ static void load(const uint8_t *row, int c, float *o) {
    const float4 v = *reinterpret_cast<const float4 *>(row + 16 * c);
    o[0] = v.x, o[1] = v.y, o[2] = v.z, o[3] = v.w;
  }
  __device__ static float elem(const uint8_t *row, int k) { return reinterpret_cast<const float *>(row)[k]; }
};

template <> struct Fmt<MOEC_BF16> {
  static constexpr int CHUNK = 8, BYTES = 2;
  static constexpr bool CHANNEL = false;
  __device__ static void load(const uint8_t *row, int c, float *o) {
    const uint4 v = moec_ld_16(row + 16 * c);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
      o[2 * i] = moec_as_float(w[i] << 16);
      o[2 * i + 1] = moec_as_float(w[i] & 0xffff0000u);
    }
  }
  __device__ static float elem(const uint8_t *row, int k) { return moec_bf16_to_f32(static_cast<uint16_t>(moec_ld_u16(row + 2 * k))); }
};

template <> struct Fmt<MOEC_F16> {
  static constexpr int CHUNK = 8, BYTES = 2;
  static constexpr bool CHANNEL = false;
  __device__ static void load(const uint8_t *row, int c, float *o) {
    const uint4 v = moec_ld_16(row + 16 * c);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
      o[2 * i] = moec_f16_to_f32(static_cast<uint16_t>(w[i] & 0xffffu));
      o[2 * i + 1] = moec_f16_to_f32(static_cast<uint16_t>(w[i] >> 16));
    }
  }
  __device__ static float elem(const uint8_t *row, int k) { return moec_ld_f16(row + 2 * k); }
};

// int8 per output channel: the raw integers (the kernels apply the row scale).
template <> struct Fmt<MOEC_INT8> {
  static constexpr int CHUNK = 16, BYTES = 1;
  static constexpr bool CHANNEL = true;
  __device__ static void load(const uint8_t *row, int c, float *o) {
    const uint4 v = moec_ld_16(row + 16 * c);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 16; i++) o[i] = static_cast<float>(static_cast<int8_t>((w[i / 4] >> (8 * (i % 4))) & 0xffu));
  }
  __device__ static float elem(const uint8_t *row, int k) { return static_cast<float>(static_cast<int8_t>(row[k])); }
};

// int4, groups of G, symmetric [f16 scale][G/2 bytes] or with a zero point [f16 scale][f16 min][G/2 bytes]:
// element 2j in the low nibble of byte j, 2j + 1 in the high one.
template <int G, bool ZERO> struct Int4Groups {
  static constexpr int CHUNK = 32, HEAD = ZERO ? 4 : 2, BLOCK_BYTES = HEAD + G / 2;
  static constexpr bool CHANNEL = false;
  __device__ static void load(const uint8_t *row, int c, float *o) {
    const int e0 = 32 * c, b = e0 / G;
    const uint8_t *blk = row + b * BLOCK_BYTES;
    const float d = moec_ld_f16(blk), m = ZERO ? moec_ld_f16(blk + 2) : 0.0f;
    const uint8_t *q = blk + HEAD + (e0 % G) / 2;
#pragma unroll
    for (int i = 0; i < 8; i++) {
      const uint32_t two = moec_ld_u16(q + 2 * i);  // 2-byte aligned: HEAD and G/2 are even
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const float nib = static_cast<float>((two >> (4 * j)) & 0xfu);
        o[4 * i + j] = ZERO ? nib * d + m : (nib - 8.0f) * d;
      }
    }
  }
  __device__ static float elem(const uint8_t *row, int k) {
    const uint8_t *blk = row + (k / G) * BLOCK_BYTES;
    const int i = k % G;
    const float nib = static_cast<float>((blk[HEAD + i / 2] >> (4 * (i & 1))) & 0xf);
    return ZERO ? nib * moec_ld_f16(blk) + moec_ld_f16(blk + 2) : (nib - 8.0f) * moec_ld_f16(blk);
  }
};
template <> struct Fmt<MOEC_INT4_G32> : Int4Groups<32, false> {};
template <> struct Fmt<MOEC_INT4_G64> : Int4Groups<64, false> {};
template <> struct Fmt<MOEC_INT4_G128> : Int4Groups<128, false> {};
template <> struct Fmt<MOEC_INT4A_G32> : Int4Groups<32, true> {};
template <> struct Fmt<MOEC_INT4A_G64> : Int4Groups<64, true> {};
template <> struct Fmt<MOEC_INT4A_G128> : Int4Groups<128, true> {};

// Block formats of 32 elements read through `block32`: Q8_0, Q4_0, MXFP4.
template <class B> struct Block32 {
  static constexpr int CHUNK = 32;
  static constexpr bool CHANNEL = false;
  __device__ static void load(const uint8_t *row, int c, float *o) { B::block(row + c * B::SIZE, o); }
  __device__ static float elem(const uint8_t *row, int k) {
    float o[32];
    B::block(row + (k / 32) * B::SIZE, o);
    return o[k % 32];
  }
};

struct Q8_0Block {
  static constexpr int SIZE = MOEC_Q8_0_BYTES;
  __device__ static void block(const uint8_t *b, float *o) {
    const float d = moec_ld_f16(b);
#pragma unroll
    for (int i = 0; i < 16; i++) {
      const uint32_t two = moec_ld_u16(b + 2 + 2 * i);
      o[2 * i] = static_cast<float>(static_cast<int8_t>(two & 0xffu)) * d;
      o[2 * i + 1] = static_cast<float>(static_cast<int8_t>(two >> 8)) * d;
    }
  }
};
struct Q4_0Block {
  static constexpr int SIZE = MOEC_Q4_0_BYTES;
  __device__ static void block(const uint8_t *b, float *o) {
    const float d = moec_ld_f16(b);
#pragma unroll
    for (int i = 0; i < 8; i++) {
      const uint32_t two = moec_ld_u16(b + 2 + 2 * i);
      o[2 * i] = (static_cast<float>(two & 0xfu) - 8.0f) * d;
      o[2 * i + 16] = (static_cast<float>((two >> 4) & 0xfu) - 8.0f) * d;
      o[2 * i + 1] = (static_cast<float>((two >> 8) & 0xfu) - 8.0f) * d;
      o[2 * i + 17] = (static_cast<float>((two >> 12) & 0xfu) - 8.0f) * d;
    }
  }
};
struct Mxfp4Block {
  static constexpr int SIZE = MOEC_MXFP4_BYTES;
  __device__ static float value(uint32_t nib) {
    // ggml's kvalues_mxfp4: the E2M1 values doubled (the scale is halved to match).
    const float mag[8] = {0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 6.0f, 8.0f, 12.0f};
    return nib & 8u ? -mag[nib & 7u] : mag[nib & 7u];
  }
  __device__ static void block(const uint8_t *b, float *o) {
    const float d = moec_e8m0_half(b[0]);
#pragma unroll
    for (int j = 0; j < 16; j++) {
      const uint32_t q = b[1 + j];
      o[j] = value(q & 0xfu) * d;
      o[j + 16] = value(q >> 4) * d;
    }
  }
};
template <> struct Fmt<MOEC_Q8_0> : Block32<Q8_0Block> {};
template <> struct Fmt<MOEC_Q4_0> : Block32<Q4_0Block> {};
template <> struct Fmt<MOEC_MXFP4> : Block32<Mxfp4Block> {};

// K-quants: super-blocks of 256, read one sub-block of 32 per chunk.
template <class B> struct KQuant {
  static constexpr int CHUNK = 32;
  static constexpr bool CHANNEL = false;
  __device__ static void load(const uint8_t *row, int c, float *o) { B::sub(row + (c / 8) * B::SIZE, c % 8, o); }
  __device__ static float elem(const uint8_t *row, int k) {
    float o[32];
    B::sub(row + (k / 256) * B::SIZE, (k % 256) / 32, o);
    return o[k % 32];
  }
};

struct Q4_KBlock {
  static constexpr int SIZE = MOEC_Q4_K_BYTES;  // d, dmin, scales[12], qs[128]
  __device__ static void sub(const uint8_t *b, int j, float *o) {
    int sc, mn;
    moec_scale_min_k4(j, b + 4, sc, mn);
    const float d = moec_ld_f16(b) * static_cast<float>(sc), m = moec_ld_f16(b + 2) * static_cast<float>(mn);
    const uint8_t *q = b + 16 + 32 * (j / 2);
    const int shift = 4 * (j & 1);
#pragma unroll
    for (int l = 0; l < 32; l++) o[l] = d * static_cast<float>((q[l] >> shift) & 0xf) - m;
  }
};
struct Q5_KBlock {
  static constexpr int SIZE = MOEC_Q5_K_BYTES;  // d, dmin, scales[12], qh[32], qs[128]
  __device__ static void sub(const uint8_t *b, int j, float *o) {
    int sc, mn;
    moec_scale_min_k4(j, b + 4, sc, mn);
    const float d = moec_ld_f16(b) * static_cast<float>(sc), m = moec_ld_f16(b + 2) * static_cast<float>(mn);
    const uint8_t *qh = b + 16, *q = b + 48 + 32 * (j / 2);
    const int shift = 4 * (j & 1);
    const uint32_t u = 1u << j;
#pragma unroll
    for (int l = 0; l < 32; l++) o[l] = d * static_cast<float>(((q[l] >> shift) & 0xf) + ((qh[l] & u) ? 16 : 0)) - m;
  }
};
struct Q6_KBlock {
  static constexpr int SIZE = MOEC_Q6_K_BYTES;  // ql[128], qh[64], scales[16] (int8), d
  __device__ static void sub(const uint8_t *b, int j, float *o) {
    const float d = moec_ld_f16(b + 208);
    const int n = j / 4, part = j % 4;  // half of the super-block, and which quarter of it
    const uint8_t *ql = b + 64 * n + (part & 1) * 32, *qh = b + 128 + 32 * n;
    const int8_t *sc = reinterpret_cast<const int8_t *>(b + 192 + 8 * n);
    const int lowShift = 4 * (part >> 1), highShift = 2 * part;
#pragma unroll
    for (int l = 0; l < 32; l++) {
      const int q = ((ql[l] >> lowShift) & 0xf) | (((qh[l] >> highShift) & 3) << 4);
      o[l] = (d * static_cast<float>(sc[l / 16 + 2 * part])) * static_cast<float>(q - 32);
    }
  }
};
// Q3_K and Q2_K: 16 sub-blocks of 16; chunk j (0..7) is the 32 elements 32j.., whose 2-bit codes
// sit in bits 2(j % 4) of qs[32(j / 4) + l], with scales 2j and 2j + 1.
struct Q3_KBlock {
  static constexpr int SIZE = MOEC_Q3_K_BYTES;  // hmask[32], qs[64], scales[12] (6-bit, offset 32), d
  __device__ static int scale(const uint8_t *s, int i) {
    const int low = i < 8 ? (s[i] & 0xf) : (s[i - 8] >> 4);
    return (low | (((s[8 + i % 4] >> (2 * (i / 4))) & 3) << 4)) - 32;
  }
  __device__ static void sub(const uint8_t *b, int j, float *o) {
    const float d = moec_ld_f16(b + 108);
    const float d0 = d * static_cast<float>(scale(b + 96, 2 * j)), d1 = d * static_cast<float>(scale(b + 96, 2 * j + 1));
    const uint8_t *q = b + 32 + 32 * (j / 4);
    const int shift = 2 * (j % 4);
#pragma unroll
    for (int l = 0; l < 32; l++) {
      // the hmask bit j of byte l is the code's third bit; clear means minus 4
      const int v = ((q[l] >> shift) & 3) - (((b[l] >> j) & 1) ? 0 : 4);
      o[l] = (l < 16 ? d0 : d1) * static_cast<float>(v);
    }
  }
};
struct Q2_KBlock {
  static constexpr int SIZE = MOEC_Q2_K_BYTES;  // scales[16] (low nibble scale, high nibble min), qs[64], d, dmin
  __device__ static void sub(const uint8_t *b, int j, float *o) {
    const float d = moec_ld_f16(b + 80), dmin = moec_ld_f16(b + 82);
    const uint8_t *q = b + 16 + 32 * (j / 4);
    const int shift = 2 * (j % 4);
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const uint32_t sc = b[2 * j + h];
      const float dl = d * static_cast<float>(sc & 0xfu), ml = dmin * static_cast<float>(sc >> 4);
#pragma unroll
      for (int l = 16 * h; l < 16 * h + 16; l++) o[l] = dl * static_cast<float>((q[l] >> shift) & 3) - ml;
    }
  }
};
template <> struct Fmt<MOEC_Q3_K> : KQuant<Q3_KBlock> {};
template <> struct Fmt<MOEC_Q2_K> : KQuant<Q2_KBlock> {};
template <> struct Fmt<MOEC_Q4_K> : KQuant<Q4_KBlock> {};
template <> struct Fmt<MOEC_Q5_K> : KQuant<Q5_KBlock> {};
template <> struct Fmt<MOEC_Q6_K> : KQuant<Q6_KBlock> {};

// FP8 E4M3 in blocks of 128: [f32 scale][128 bytes].
template <> struct Fmt<MOEC_FP8_E4M3> {
  static constexpr int CHUNK = 32;
  static constexpr bool CHANNEL = false;
  __device__ static void load(const uint8_t *row, int c, float *o) {
    const uint8_t *blk = row + (c / 4) * MOEC_FP8_E4M3_BYTES;
    const float s = *reinterpret_cast<const float *>(blk);
    const uint32_t *q = reinterpret_cast<const uint32_t *>(blk + 4 + 32 * (c % 4));  // 4-byte aligned: blocks are 132 bytes
#pragma unroll
    for (int i = 0; i < 8; i++) {
      const uint32_t w = q[i];
#pragma unroll
      for (int j = 0; j < 4; j++) o[4 * i + j] = moec_e4m3_to_f32((w >> (8 * j)) & 0xffu) * s;
    }
  }
  __device__ static float elem(const uint8_t *row, int k) {
    const uint8_t *blk = row + (k / 128) * MOEC_FP8_E4M3_BYTES;
    return moec_e4m3_to_f32(blk[4 + k % 128]) * *reinterpret_cast<const float *>(blk);
  }
};

// A float or channel format read one element at a time (rows not a multiple of 16 bytes).
template <int F> struct Scalar {
  static constexpr int CHUNK = 1;
  static constexpr bool CHANNEL = Fmt<F>::CHANNEL;
  __device__ static void load(const uint8_t *row, int c, float *o) { o[0] = Fmt<F>::elem(row, c); }
  __device__ static float elem(const uint8_t *row, int k) { return Fmt<F>::elem(row, k); }
};

// Bytes of one row of K elements (without a channel format's scales), as formats.ts's rowBytes.
__host__ __device__ __forceinline__ size_t moec_row_bytes(int format, int K) {
  switch (format) {
#define MOEC_ROW_BYTES_CASE(F, BLOCK, BYTES) \
  case F: return static_cast<size_t>(K / (BLOCK)) * (BYTES);
    MOEC_FOR_EACH_FORMAT(MOEC_ROW_BYTES_CASE)
#undef MOEC_ROW_BYTES_CASE
    default: return 0;
  }
}

// Whether rows of K elements in a float or channel format can be read 16 bytes at a time.
static inline bool moec_vec_ok(int format, int K) {
  return moec_format_kind[format] == MOEC_KIND_BLOCK || (static_cast<size_t>(K) * moec_format_block_bytes[format]) % 16 == 0;
}
