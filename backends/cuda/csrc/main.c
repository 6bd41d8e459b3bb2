/* main.c — moec_run, the host program of a compiled model: loads the weight pack, runs a prompt
 * and greedy decoding through the C ABI (moec.h), and prints the tokens and timings.
 *
 *   moec_run --ids 1,2,3 -n 16                      greedy continuation of a prompt
 *   moec_run --ids 1,2,3 -n 6 --logits p.f32 --step-logits s.f32
 *                                                   the prompt's logits [n, vocab], and each generated
 *                                                   step's [1 + decode steps, vocab] (raw little-endian f32)
 *   moec_run --ids 1,2,3 -n 6 --batch 4             4 copies of the prompt in 4 sequences, decoded together
 *   moec_run --tune tuning.txt                      time the kernel choices and write the table
 *   moec_run --random-weights 1 --ids 1,2,3 -n 64 --bench 3
 *                                                   random weights made on the GPU (no pack), decoding timed
 *                                                   3 times after a warm-up (decode_ms is the best)
 *
 * Options: -w/--weights FILE (default weights.safetensors), --max-context N, --tuning FILE (default:
 * tuning.txt when it exists, the table `moec compile --tuning` stores with the bundle), --no-graphs, --json. Exit codes: 0 ok, 1 the model or the GPU failed (the message says why),
 * 2 a bad command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moec.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int usage(const char *msg) {
  fprintf(stderr, "moec_run: %s\nusage: moec_run --ids 1,2,3 [-n N] [-w weights.safetensors | --random-weights SEED] [--max-context N] [--batch B] [--logits F] [--step-logits F] [--tuning F] [--tune F] [--no-graphs] [--bench N] [--json]\n", msg);
  return 2;
}

static int parse_ids(const char *s, int32_t **out) {
  int n = 1;
  for (const char *c = s; *c; c++) n += *c == ',';
  int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * n);
  int k = 0;
  const char *c = s;
  while (*c) {
    char *end;
    long v = strtol(c, &end, 10);
    if (end == c || v < 0 || v > 2147483647L) {
      free(ids);
      return -1;
    }
    ids[k++] = (int32_t)v;
    c = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') {
      free(ids);
      return -1;
    }
  }
  *out = ids;
  return k;
}

static int argmax(const float *x, int n) {
  int b = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[b]) b = i;
  return b;
}

static int fail(const moec_model *m, moec_status s) {
  fprintf(stderr, "moec_run: %s: %s\n", moec_status_name(s), moec_error(m));
  return 1;
}

static int write_f32(const char *path, const float *x, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(x, sizeof(float), n, f) != n) {
    fprintf(stderr, "moec_run: cannot write %s\n", path);
    if (f) fclose(f);
    return 0;
  }
  fclose(f);
  return 1;
}

int main(int argc, char **argv) {
  const char *weights = "weights.safetensors", *ids_text = NULL, *logits_path = NULL, *steps_path = NULL, *tune_path = NULL;
  int n_new = 16, batch = 1, json = 0, bench = 0;
  moec_options o = moec_default_options();
  o.max_context = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS_VALUE() \
  if (!v) return usage("an option is missing its value"); \
  i++
    if (!strcmp(a, "--ids")) { NEEDS_VALUE(); ids_text = v; }
    else if (!strcmp(a, "-n") || !strcmp(a, "--max-new-tokens")) { NEEDS_VALUE(); n_new = atoi(v); }
    else if (!strcmp(a, "-w") || !strcmp(a, "--weights")) { NEEDS_VALUE(); weights = v; }
    else if (!strcmp(a, "--max-context")) { NEEDS_VALUE(); o.max_context = atoi(v); }
    else if (!strcmp(a, "--batch")) { NEEDS_VALUE(); batch = atoi(v); }
    else if (!strcmp(a, "--logits")) { NEEDS_VALUE(); logits_path = v; }
    else if (!strcmp(a, "--step-logits")) { NEEDS_VALUE(); steps_path = v; }
    else if (!strcmp(a, "--tuning")) { NEEDS_VALUE(); o.tuning = v; }
    else if (!strcmp(a, "--tune")) { NEEDS_VALUE(); tune_path = v; }
    else if (!strcmp(a, "--no-graphs")) o.cuda_graphs = 0;
    else if (!strcmp(a, "--random-weights")) { NEEDS_VALUE(); o.random_weights = (unsigned)atoi(v) + 1u; }
    else if (!strcmp(a, "--bench")) { NEEDS_VALUE(); bench = atoi(v); }
    else if (!strcmp(a, "--json")) json = 1;
    else return usage("unknown option");
  }
  int32_t *prompt = NULL;
  int n_prompt = 0;
  if (ids_text) {
    n_prompt = parse_ids(ids_text, &prompt);
    if (n_prompt <= 0) return usage("--ids takes non-negative integers separated by commas");
  } else if (!tune_path) return usage("give --ids (or --tune)");
  if (n_new < 0 || batch < 1 || batch > 4096 || bench < 0) return usage("-n and --bench must be >= 0 and --batch 1 to 4096");
  if (o.max_context == 0) o.max_context = tune_path ? 4096 : n_prompt + n_new + 1;
  // The bundle's tile table, when it has one (not while a new one is being timed).
  FILE *stored = !o.tuning && !tune_path ? fopen("tuning.txt", "r") : NULL;
  if (stored) fclose(stored), o.tuning = "tuning.txt";
  o.sequences = batch;
  moec_model *m = NULL;
  const double t0 = now_ms();
  moec_status s = moec_load(weights, &o, &m);
  if (s != MOEC_OK) return fail(NULL, s);
  const double t_load = now_ms() - t0;
  if (tune_path) {
    s = moec_tune(m, tune_path);
    if (s != MOEC_OK) return fail(m, s);
    fprintf(stderr, "moec_run: wrote %s\n", tune_path);
    if (!ids_text) {
      moec_free(m);
      return 0;
    }
  }
  const int V = moec_vocab(m);
  float *logits = (float *)malloc(sizeof(float) * (size_t)V * (n_prompt > batch ? n_prompt : batch));
  float *steps = (float *)malloc(sizeof(float) * (size_t)V * (n_new + 1) * batch);
  int32_t *out = (int32_t *)malloc(sizeof(int32_t) * (n_new + 1) * batch);
  int32_t *seqs = (int32_t *)malloc(sizeof(int32_t) * batch), *next = (int32_t *)malloc(sizeof(int32_t) * batch);
  if (!logits || !steps || !out || !seqs || !next) return usage("out of host memory");
  double best_prefill = 1e30, best_decode = 1e30;
  int produced = 0;
  for (int rep = 0; rep <= bench; rep++) {  /* with --bench N: a warm-up, then N timed runs */
    if (rep > 0) moec_reset(m, -1);
    produced = 0;
    const double t1 = now_ms();
    for (int b = 0; b < batch; b++) {
      s = moec_prefill(m, b, prompt, n_prompt, logits);
      if (s != MOEC_OK) return fail(m, s);
      if (b == 0 && rep == 0 && logits_path && !write_f32(logits_path, logits, (size_t)n_prompt * V)) return 1;
      const float *last = logits + (size_t)(n_prompt - 1) * V;
      memcpy(steps + (size_t)b * V, last, sizeof(float) * V);
      seqs[b] = b;
      next[b] = argmax(last, V);
    }
    const double t2 = now_ms();
    for (int step = 0; step < n_new; step++) {
      for (int b = 0; b < batch; b++) out[b * (n_new + 1) + step] = next[b];
      produced++;
      if (step + 1 == n_new) break;
      s = moec_decode(m, batch, seqs, next, logits);
      if (s != MOEC_OK) return fail(m, s);
      for (int b = 0; b < batch; b++) {
        memcpy(steps + ((size_t)(step + 1) * batch + b) * V, logits + (size_t)b * V, sizeof(float) * V);
        next[b] = argmax(logits + (size_t)b * V, V);
      }
    }
    const double t3 = now_ms();
    if (bench == 0 || rep > 0) {
      if (t2 - t1 < best_prefill) best_prefill = t2 - t1;
      if (t3 - t2 < best_decode) best_decode = t3 - t2;
    }
  }
  if (steps_path) {  // sequence 0's rows: the prompt's last, then each decode step
    float *rows = (float *)malloc(sizeof(float) * (size_t)V * (n_new ? n_new : 1));
    for (int r = 0; r < n_new; r++) memcpy(rows + (size_t)r * V, steps + (size_t)r * batch * V, sizeof(float) * V);
    if (!write_f32(steps_path, rows, (size_t)(n_new ? n_new : 0) * V)) return 1;
    free(rows);
  }
  int same = 1;  // every sequence of a batch must continue the same prompt the same way
  for (int b = 1; b < batch; b++)
    for (int i = 0; i < produced; i++) same &= out[b * (n_new + 1) + i] == out[i];
  if (json) {
    printf("{\"model\":\"%s\",\"ids\":[", moec_model_name());
    for (int i = 0; i < produced; i++) printf("%s%d", i ? "," : "", out[i]);
    printf("],\"batch\":%d,\"batch_agrees\":%s,\"load_ms\":%.3f,\"prefill_ms\":%.3f,\"decode_ms\":%.3f,\"decode_steps\":%d}\n", batch, same ? "true" : "false", t_load, best_prefill, best_decode, produced > 1 ? produced - 1 : 0);
  } else {
    for (int i = 0; i < produced; i++) printf("%s%d", i ? "," : "", out[i]);
    printf("\n");
  }
  moec_free(m);
  free(prompt), free(logits), free(steps), free(out), free(seqs), free(next);
  return same ? 0 : 1;
}
