// moe_bench — one MoE layer of a moec CUDA bundle timed the way vLLM's benchmark_moe.py times
// its fused MoE: random weights (filled on the GPU) and random tokens, the forward for T tokens
// captured once as a CUDA graph, then replayed many times between two events; the mean of the
// replays is the number. Linked with a bundle's libmoec_model.a whose plan is one MoE layer
// (bench/cuda/prepare.ts writes them): embed (a gather of T rows) → moe (router matmul,
// top-k, permutation, expert matmuls, weighted combine).
//
//   moe_bench --tokens 1,2,4,...,4096 [--replays 100] [--seed 1]
// prints one JSON line per token count: {"tokens":T,"mean_ms":…,"replays":N}
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moec_runtime.h"

static int fail(moec_model *m, const char *what) {
  fprintf(stderr, "moe_bench: %s: %s\n", what, moec_error(m));
  return 1;
}

#define CHECK(call)                                                                            \
  do {                                                                                         \
    const cudaError_t e_ = (call);                                                             \
    if (e_ != cudaSuccess) {                                                                   \
      fprintf(stderr, "moe_bench: %s failed: %s (%s:%d)\n", #call, cudaGetErrorString(e_), __FILE__, __LINE__); \
      return 1;                                                                                \
    }                                                                                          \
  } while (0)

int main(int argc, char **argv) {
  int tokens[64], n_tokens = 0, replays = 100;
  unsigned seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--tokens")) {
      for (char *s = strtok(argv[i + 1], ","); s && n_tokens < 64; s = strtok(NULL, ",")) tokens[n_tokens++] = atoi(s);
    } else if (!strcmp(argv[i], "--replays")) replays = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seed")) seed = (unsigned)atoi(argv[i + 1]);
    else {
      fprintf(stderr, "usage: moe_bench --tokens 1,2,4 [--replays N] [--seed S]\n");
      return 2;
    }
  }
  int max_t = 1;
  for (int i = 0; i < n_tokens; i++) max_t = tokens[i] > max_t ? tokens[i] : max_t;
  moec_options o = moec_default_options();
  o.max_context = max_t, o.max_tokens = max_t, o.random_weights = seed + 1;
  moec_model *m = NULL;
  if (moec_load(NULL, &o, &m) != MOEC_OK) return fail(NULL, "loading the layer");
  const int vocab = moec_vocab(m);
  int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * max_t);
  cudaEvent_t t0, t1;
  CHECK(cudaEventCreate(&t0));
  CHECK(cudaEventCreate(&t1));
  for (int i = 0; i < n_tokens; i++) {
    const int T = tokens[i];
    // Distinct random tokens (embedding rows), so routing spreads as random gating does.
    unsigned h = seed * 2654435761u + (unsigned)T;
    for (int t = 0; t < T; t++) {
      h ^= h << 13, h ^= h >> 17, h ^= h << 5;
      ids[t] = (int32_t)(h % (unsigned)vocab);
    }
    // One pass the ordinary way (checks every launch, uploads this T's row metadata), then the
    // same walk captured as a graph over that metadata.
    if (moec_reset(m, -1) != MOEC_OK || moec_prefill(m, 0, ids, T, NULL) != MOEC_OK) return fail(m, "the first pass");
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CHECK(cudaStreamBeginCapture(m->stream, cudaStreamCaptureModeThreadLocal));
    const moec_status s = moec_plan_forward(m, T);
    CHECK(cudaStreamEndCapture(m->stream, &graph));
    if (s != MOEC_OK) return fail(m, "capturing the layer");
    CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int r = 0; r < 10; r++) CHECK(cudaGraphLaunch(exec, m->stream));  // warm-up
    CHECK(cudaEventRecord(t0, m->stream));
    for (int r = 0; r < replays; r++) CHECK(cudaGraphLaunch(exec, m->stream));
    CHECK(cudaEventRecord(t1, m->stream));
    CHECK(cudaEventSynchronize(t1));
    float ms = 0.0f;
    CHECK(cudaEventElapsedTime(&ms, t0, t1));
    printf("{\"model\":\"%s\",\"tokens\":%d,\"mean_ms\":%.5f,\"replays\":%d}\n", moec_model_name(), T, ms / replays, replays);
    fflush(stdout);
    CHECK(cudaGraphExecDestroy(exec));
    CHECK(cudaGraphDestroy(graph));
  }
  free(ids);
  moec_free(m);
  return 0;
}
