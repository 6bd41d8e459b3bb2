// Generated from runtime/plan/formats.ts by backends/cuda/formats-header.ts: do not edit.
// The storage formats of the plan's weights: code, kind, elements per block, bytes per block.
#pragma once

#define MOEC_KIND_FLOAT 0   /* one element per block_bytes */
#define MOEC_KIND_BLOCK 1   /* scales inside blocks */
#define MOEC_KIND_CHANNEL 2 /* one f32 scale per row, after all rows */

#define MOEC_F32 0
#define MOEC_F16 1
#define MOEC_BF16 2
#define MOEC_INT8 3
#define MOEC_INT4_G32 4
#define MOEC_INT4_G64 5
#define MOEC_INT4_G128 6
#define MOEC_INT4A_G32 7
#define MOEC_INT4A_G64 8
#define MOEC_INT4A_G128 9
#define MOEC_Q8_0 10
#define MOEC_Q4_0 11
#define MOEC_Q4_K 12
#define MOEC_Q5_K 13
#define MOEC_Q6_K 14
#define MOEC_MXFP4 15
#define MOEC_FP8_E4M3 16
#define MOEC_Q3_K 17
#define MOEC_Q2_K 18
#define MOEC_NUM_FORMATS 19

// Per format: elements per block, bytes per block.
#define MOEC_F32_BLOCK 1
#define MOEC_F32_BYTES 4
#define MOEC_F16_BLOCK 1
#define MOEC_F16_BYTES 2
#define MOEC_BF16_BLOCK 1
#define MOEC_BF16_BYTES 2
#define MOEC_INT8_BLOCK 1
#define MOEC_INT8_BYTES 1
#define MOEC_INT4_G32_BLOCK 32
#define MOEC_INT4_G32_BYTES 18
#define MOEC_INT4_G64_BLOCK 64
#define MOEC_INT4_G64_BYTES 34
#define MOEC_INT4_G128_BLOCK 128
#define MOEC_INT4_G128_BYTES 66
#define MOEC_INT4A_G32_BLOCK 32
#define MOEC_INT4A_G32_BYTES 20
#define MOEC_INT4A_G64_BLOCK 64
#define MOEC_INT4A_G64_BYTES 36
#define MOEC_INT4A_G128_BLOCK 128
#define MOEC_INT4A_G128_BYTES 68
#define MOEC_Q8_0_BLOCK 32
#define MOEC_Q8_0_BYTES 34
#define MOEC_Q4_0_BLOCK 32
#define MOEC_Q4_0_BYTES 18
#define MOEC_Q4_K_BLOCK 256
#define MOEC_Q4_K_BYTES 144
#define MOEC_Q5_K_BLOCK 256
#define MOEC_Q5_K_BYTES 176
#define MOEC_Q6_K_BLOCK 256
#define MOEC_Q6_K_BYTES 210
#define MOEC_MXFP4_BLOCK 32
#define MOEC_MXFP4_BYTES 17
#define MOEC_FP8_E4M3_BLOCK 128
#define MOEC_FP8_E4M3_BYTES 132
#define MOEC_Q3_K_BLOCK 256
#define MOEC_Q3_K_BYTES 110
#define MOEC_Q2_K_BLOCK 256
#define MOEC_Q2_K_BYTES 84

// X(code, elements per block, bytes per block) for every format (for switches in device code).
#define MOEC_FOR_EACH_FORMAT(X) X(MOEC_F32, 1, 4) X(MOEC_F16, 1, 2) X(MOEC_BF16, 1, 2) X(MOEC_INT8, 1, 1) X(MOEC_INT4_G32, 32, 18) X(MOEC_INT4_G64, 64, 34) X(MOEC_INT4_G128, 128, 66) X(MOEC_INT4A_G32, 32, 20) X(MOEC_INT4A_G64, 64, 36) X(MOEC_INT4A_G128, 128, 68) X(MOEC_Q8_0, 32, 34) X(MOEC_Q4_0, 32, 18) X(MOEC_Q4_K, 256, 144) X(MOEC_Q5_K, 256, 176) X(MOEC_Q6_K, 256, 210) X(MOEC_MXFP4, 32, 17) X(MOEC_FP8_E4M3, 128, 132) X(MOEC_Q3_K, 256, 110) X(MOEC_Q2_K, 256, 84)

static const char *const moec_format_names[MOEC_NUM_FORMATS] = {"f32", "f16", "bf16", "int8", "int4_g32", "int4_g64", "int4_g128", "int4a_g32", "int4a_g64", "int4a_g128", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "mxfp4", "fp8_e4m3", "q3_k", "q2_k"};
static const int moec_format_kind[MOEC_NUM_FORMATS] = {0, 0, 0, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const int moec_format_block[MOEC_NUM_FORMATS] = {1, 1, 1, 1, 32, 64, 128, 32, 64, 128, 32, 32, 256, 256, 256, 32, 128, 256, 256};
static const int moec_format_block_bytes[MOEC_NUM_FORMATS] = {4, 2, 2, 1, 18, 34, 66, 20, 36, 68, 34, 18, 144, 176, 210, 17, 132, 110, 84};
