/* moec.h — the C ABI of a model compiled by `moec compile MODEL --target cuda`.
 *
 *   moec_options o = moec_default_options();
 *   o.max_context = 4096;
 *   moec_model *m;
 *   if (moec_load("weights.safetensors", &o, &m) != MOEC_OK) { fprintf(stderr, "%s\n", moec_error(NULL)); exit(1); }
 *   moec_prefill(m, 0, prompt, n, logits);      // logits [n, vocab] (or NULL: only fills the KV cache)
 *   moec_decode(m, 1, &seq, &next, logits);     // one token for each of 1 sequences: [1, vocab]
 *   moec_free(m);
 *
 * Every call returns a status; on failure moec_error(m) (moec_error(NULL) after a failed
 * moec_load) says what went wrong in a sentence that names the cause and, where there is one,
 * the fix. A forward pass runs on the GPU from the token ids to the logits with no
 * synchronisation in between (routing included); decode steps replay a CUDA graph per batch
 * size. Calls on one model must not overlap; different models are independent.
 */
#ifndef MOEC_H
#define MOEC_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  MOEC_OK = 0,
  MOEC_ERR_ARGUMENT = 1,    /* a bad argument: token id outside the vocabulary, full context, unknown sequence */
  MOEC_ERR_WEIGHTS = 2,     /* the weight pack is missing, damaged, or not this model's */
  MOEC_ERR_OUT_OF_MEMORY = 3,
  MOEC_ERR_CUDA = 4,        /* a CUDA call or kernel launch failed (no GPU, driver, kernel image) */
  MOEC_ERR_UNSUPPORTED = 5  /* this build cannot run this model or shape */
} moec_status;

typedef struct {
  int max_context;       /* positions each sequence's KV cache holds (default 4096) */
  int max_tokens;        /* rows one forward call may take (default: max_context) */
  int sequences;         /* sequence slots, each with its own KV cache (default 1) */
  int device;            /* CUDA device ordinal (default 0) */
  int cuda_graphs;       /* replay decode steps as CUDA graphs (default 1) */
  const char *tuning;    /* tile choices written by moec_tune, or NULL */
  unsigned random_weights; /* nonzero: ignore the pack and fill every weight with random values from this seed, on the
                              GPU (benchmarks of shapes whose weights are too large to ship; float formats only) */
} moec_options;

typedef struct moec_model moec_model;

moec_options moec_default_options(void);
moec_status moec_load(const char *weights_path, const moec_options *options, moec_model **out);

/* Runs `n` tokens of sequence `seq` after its cached positions; logits [n, vocab], or NULL. */
moec_status moec_prefill(moec_model *m, int seq, const int32_t *ids, int n, float *logits);
/* One token for each of `n` distinct sequences (seqs[i] continues with ids[i]); logits [n, vocab], or NULL. */
moec_status moec_decode(moec_model *m, int n, const int32_t *seqs, const int32_t *ids, float *logits);
/* Empties sequence `seq`'s cache (or every sequence's, with seq = -1). */
moec_status moec_reset(moec_model *m, int seq);
/* Times the kernel choices of every matmul shape of the plan at a few token counts and writes
   the fastest to `path` (load it with options.tuning). */
moec_status moec_tune(moec_model *m, const char *path);

int moec_position(const moec_model *m, int seq);
int moec_vocab(const moec_model *m);
const char *moec_model_name(void);
/* What the last failed call on `m` (or the last failed moec_load, with NULL) went wrong with. */
const char *moec_error(const moec_model *m);
const char *moec_status_name(moec_status s);
void moec_free(moec_model *m);

#ifdef __cplusplus
}
#endif
#endif
