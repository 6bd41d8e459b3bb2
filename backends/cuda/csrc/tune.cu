// tune.cu — the small autotuner: for a few token counts it runs the plan once per candidate
// matmul kernel (GEMV, f32 FMA tiles, tensor-core tiles of 64 and 128), times every matmul
// launch with events, and keeps the fastest kernel for each (K, N, format, dense or grouped,
// token-count bucket). The table is plain text, one choice a line ("K N format grouped bucket
// kernel"), stored in the bundle beside plan.json (tuning.txt) and read at load.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moec_runtime.h"

static const char *const KERNEL_NAMES[MOEC_KERNEL_COUNT] = {"auto", "gemv", "gemv8", "simt", "mma64", "mma128"};

moec_status moec_read_tuning(moec_model *m, const char *path, int required) {
  FILE *f = fopen(path, "r");
  if (!f) return required ? moec_fail(m, MOEC_ERR_ARGUMENT, "cannot open the tuning table %s", path) : MOEC_OK;
  char line[256];
  int n = 0, cap = 64, lineno = 0;
  moec_tuning_entry *t = static_cast<moec_tuning_entry *>(malloc(cap * sizeof *t));
  while (t && fgets(line, sizeof line, f)) {
    lineno++;
    if (line[0] == '#' || line[0] == '\n') continue;
    moec_tuning_entry e;
    char name[32];
    if (sscanf(line, "%d %d %d %d %d %31s", &e.K, &e.N, &e.format, &e.grouped, &e.bucket, name) != 6) {
      fclose(f);
      free(t);
      return moec_fail(m, MOEC_ERR_ARGUMENT, "%s:%d: expected 'K N format grouped bucket kernel'", path, lineno);
    }
    e.kernel = -1;
    for (int k = 0; k < MOEC_KERNEL_COUNT; k++)
      if (strcmp(name, KERNEL_NAMES[k]) == 0) e.kernel = k;
    if (e.kernel < 0) {
      fclose(f);
      free(t);
      return moec_fail(m, MOEC_ERR_ARGUMENT, "%s:%d: unknown kernel '%s'", path, lineno, name);
    }
    if (n == cap) t = static_cast<moec_tuning_entry *>(realloc(t, (cap *= 2) * sizeof *t));
    if (t) t[n++] = e;
  }
  fclose(f);
  if (!t) return moec_fail(m, MOEC_ERR_OUT_OF_MEMORY, "out of host memory reading %s", path);
  free(m->tuning);
  m->tuning = t, m->n_tuning = n;
  return MOEC_OK;
}

// Events around each matmul launch while tuning (ops.cu records into it).
struct moec_tune_log {
  int K, N, format, grouped, bucket, kernel;
  cudaEvent_t start, end;
};
static moec_tune_log *tune_log = NULL;
static int tune_n = 0, tune_cap = 0;

void moec_tune_record(moec_model *m, int K, int N, int format, int grouped, int T, int kernel, int phase) {
  (void)m;
  static const int buckets[] = {1, 8, 64, 512};
  int b = 4;
  for (int i = 0; i < 4; i++)
    if (T <= buckets[i]) {
      b = i;
      break;
    }
  if (phase == 0) {
    if (tune_n == tune_cap) {
      tune_cap = tune_cap ? 2 * tune_cap : 256;
      tune_log = static_cast<moec_tune_log *>(realloc(tune_log, tune_cap * sizeof *tune_log));
    }
    moec_tune_log *l = &tune_log[tune_n++];
    *l = moec_tune_log{K, N, format, grouped, b, kernel, NULL, NULL};
    cudaEventCreate(&l->start);
    cudaEventCreate(&l->end);
    cudaEventRecord(l->start, m->stream);
  } else {
    cudaEventRecord(tune_log[tune_n - 1].end, m->stream);
  }
}

extern "C" moec_status moec_tune(moec_model *m, const char *path) {
  if (!m) return moec_fail(NULL, MOEC_ERR_ARGUMENT, "moec_tune: no model");
  const int graphs = m->opt.cuda_graphs;
  m->opt.cuda_graphs = 0;  // events inside a captured graph would not time anything
  const int counts[] = {1, 8, 64, 512, 4096};
  const int kernels[] = {MOEC_KERNEL_GEMV4, MOEC_KERNEL_SIMT, MOEC_KERNEL_MMA64, MOEC_KERNEL_MMA128};
  moec_tuning_entry best[1024];
  float best_ms[1024];
  int nbest = 0;
  int32_t *ids = static_cast<int32_t *>(malloc(sizeof(int32_t) * m->opt.max_tokens));
  moec_status s = ids ? MOEC_OK : moec_fail(m, MOEC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (int ci = 0; ci < 5 && s == MOEC_OK; ci++) {
    const int T = counts[ci];
    if (T > m->opt.max_tokens || T > m->opt.max_context) break;
    for (int i = 0; i < T; i++) ids[i] = static_cast<int32_t>((1103515245u * static_cast<unsigned>(i + 7) + 12345u) % static_cast<unsigned>(MOEC_PLAN.vocab));
    for (int ki = 0; ki < 4 && s == MOEC_OK; ki++) {
      m->tune_force = kernels[ki];
      for (int rep = 0; rep < 2 && s == MOEC_OK; rep++) {  // the first run warms up
        tune_n = 0;
        moec_reset(m, 0);
        s = moec_prefill(m, 0, ids, T, NULL);
        if (rep == 0) {
          for (int i = 0; i < tune_n; i++) cudaEventDestroy(tune_log[i].start), cudaEventDestroy(tune_log[i].end);
          continue;
        }
        for (int i = 0; i < tune_n && s == MOEC_OK; i++) {
          const moec_tune_log *l = &tune_log[i];
          float ms = 0;
          cudaEventElapsedTime(&ms, l->start, l->end);
          cudaEventDestroy(l->start), cudaEventDestroy(l->end);
          if (l->kernel != kernels[ki]) continue;  // not a candidate for this shape: the heuristic ran
          int at = -1;
          for (int j = 0; j < nbest; j++)
            if (best[j].K == l->K && best[j].N == l->N && best[j].format == l->format && best[j].grouped == l->grouped && best[j].bucket == l->bucket) at = j;
          if (at < 0 && nbest < 1024) at = nbest++, best[at] = moec_tuning_entry{l->K, l->N, l->format, l->grouped, l->bucket, l->kernel}, best_ms[at] = 1e30f;
          if (at >= 0 && ms < best_ms[at]) best_ms[at] = ms, best[at].kernel = l->kernel;
        }
      }
    }
  }
  m->tune_force = 0;
  m->opt.cuda_graphs = graphs;
  moec_reset(m, 0);
  free(ids);
  if (s != MOEC_OK) return s;
  FILE *f = fopen(path, "w");
  if (!f) return moec_fail(m, MOEC_ERR_ARGUMENT, "cannot write the tuning table %s", path);
  fprintf(f, "# moec tuning for %s: K N format grouped bucket kernel (buckets: tokens 1, <=8, <=64, <=512, more)\n", MOEC_PLAN.model);
  for (int i = 0; i < nbest; i++) fprintf(f, "%d %d %d %d %d %s\n", best[i].K, best[i].N, best[i].format, best[i].grouped, best[i].bucket, KERNEL_NAMES[best[i].kernel]);
  fclose(f);
  return moec_read_tuning(m, path, 1);
}
