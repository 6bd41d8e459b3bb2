// Optional cross-check of bench/bandwidth.ts outside WebAssembly (not part of `npm run bench`):
// the same streaming read in C with AVX2 over 512 MiB, 1 and 2 threads, on ordinary 4 KiB pages
// and, with HUGE=1, on transparent huge pages (madvise). WebAssembly memories in V8 get 4 KiB
// pages, so the difference between the two is bandwidth a WASM engine cannot reach here.
//   gcc -O2 -mavx2 -pthread bench/native-bandwidth.c -o /tmp/bw && /tmp/bw && HUGE=1 /tmp/bw
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define N (512u << 20)
static char *buf;
static int nth;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *work(void *arg) {
  long i = (long)arg;
  size_t slice = N / nth;
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t p = i * slice; p < (i + 1) * slice; p += 128) {
    s0 = _mm256_add_epi32(s0, _mm256_load_si256((const __m256i *)(buf + p)));
    s1 = _mm256_add_epi32(s1, _mm256_load_si256((const __m256i *)(buf + p + 32)));
    s2 = _mm256_add_epi32(s2, _mm256_load_si256((const __m256i *)(buf + p + 64)));
    s3 = _mm256_add_epi32(s3, _mm256_load_si256((const __m256i *)(buf + p + 96)));
  }
  s0 = _mm256_add_epi32(_mm256_add_epi32(s0, s1), _mm256_add_epi32(s2, s3));
  return (void *)(long)_mm256_extract_epi32(s0, 0);
}

int main(void) {
  buf = aligned_alloc(1 << 21, N);
  if (getenv("HUGE")) madvise(buf, N, MADV_HUGEPAGE);
  memset(buf, 1, N);
  for (nth = 1; nth <= 2; nth++) {
    double best = 1e9;
    for (int r = 0; r < 7; r++) {
      pthread_t t[2];
      double a = now();
      for (long i = 0; i < nth; i++) pthread_create(&t[i], 0, work, (void *)i);
      for (int i = 0; i < nth; i++) pthread_join(t[i], 0);
      if (now() - a < best) best = now() - a;
    }
    printf("%s pages, %d thread%s: %.1f GB/s\n", getenv("HUGE") ? "huge" : "4 KiB", nth, nth > 1 ? "s" : "", N / best / 1e9);
  }
  return 0;
}
