// runtime.cu — the C ABI (moec.h): loading a weight pack onto the GPU, the forward pass with
// its per-row metadata, CUDA graphs for decode steps, and error messages.
//
// Device memory is one allocation laid out as
//   [weights | KV caches (per sequence slot) | activation slots | per-pass metadata | MoE and attention scratch | expert tables]
// sized from the plan tables (MOEC_PLAN) and the options, and checked against the GPU's free
// memory before anything is allocated.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moec_runtime.h"
#include "safetensors.h"

// ---- errors --------------------------------------------------------------------------------------

static char load_error[1024];

moec_status moec_fail(moec_model *m, moec_status s, const char *fmt, ...) {
  char *buf = m ? m->error : load_error;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof load_error, fmt, ap);
  va_end(ap);
  return s;
}

moec_status moec_cuda_fail(moec_model *m, cudaError_t e, const char *what, const char *file, int line) {
  if (e == cudaErrorMemoryAllocation) return moec_fail(m, MOEC_ERR_OUT_OF_MEMORY, "%s: the GPU is out of memory (%s:%d)", what, file, line);
  return moec_fail(m, MOEC_ERR_CUDA, "%s failed: %s (%s:%d)", what, cudaGetErrorString(e), file, line);
}

extern "C" const char *moec_error(const moec_model *m) { return m ? m->error : load_error; }

extern "C" const char *moec_status_name(moec_status s) {
  switch (s) {
    case MOEC_OK: return "ok";
    case MOEC_ERR_ARGUMENT: return "bad argument";
    case MOEC_ERR_WEIGHTS: return "bad weight pack";
    case MOEC_ERR_OUT_OF_MEMORY: return "out of memory";
    case MOEC_ERR_CUDA: return "CUDA error";
    case MOEC_ERR_UNSUPPORTED: return "unsupported";
  }
  return "unknown status";
}

extern "C" moec_options moec_default_options(void) {
  moec_options o;
  o.max_context = 4096;
  o.max_tokens = 0;
  o.sequences = 1;
  o.device = 0;
  o.cuda_graphs = 1;
  o.tuning = NULL;
  o.random_weights = 0;
  return o;
}

extern "C" const char *moec_model_name(void) { return MOEC_PLAN.model; }
extern "C" int moec_vocab(const moec_model *m) { return m ? MOEC_PLAN.vocab : 0; }
extern "C" int moec_position(const moec_model *m, int seq) { return m && seq >= 0 && seq < m->opt.sequences ? m->positions[seq] : -1; }

// ---- layout ----------------------------------------------------------------------------------------

static size_t align256(size_t n) { return (n + 255) / 256 * 256; }

static long long numel(const moec_weight_info *w) {
  long long n = 1;
  for (int i = 0; i < w->ndim; i++) n *= w->shape[i];
  return n;
}
static long long last_dim(const moec_weight_info *w) { return w->ndim ? w->shape[w->ndim - 1] : 1; }
static size_t device_bytes(const moec_weight_info *w) { return w->as_f32 ? static_cast<size_t>(numel(w)) * 4 : static_cast<size_t>(w->bytes); }

struct layout {
  size_t weights, caches, slots, meta, rope, moe, attn, tables, total;
  size_t at_weight_end, at_caches, at_slots, at_meta, at_rope, at_moe, at_attn, at_dn, at_x16, at_tables;
};

// 16-bit elements of the tensor-core kernels' activation scratch: as many as the widest buffer a
// matmul can read (a plan slot), where the plan has bf16 or f16 weights.
static size_t x16_elems(const moec_options &o) {
  bool any16 = false;
  for (int i = 0; i < MOEC_PLAN.n_weights; i++) any16 |= MOEC_PLAN.weights[i].format == MOEC_BF16 || MOEC_PLAN.weights[i].format == MOEC_F16;
  if (!any16) return 0;
  size_t w = 0;
  for (int s = 0; s < MOEC_PLAN.n_slots; s++) {
    const size_t sw = static_cast<size_t>(MOEC_PLAN.slots[s].rows_per_token) * MOEC_PLAN.slots[s].width;
    w = sw > w ? sw : w;
  }
  return static_cast<size_t>(o.max_tokens) * w;
}

// Floats per sequence of cache c's k and v areas: positions × row width for a KV cache, the fixed
// state for a state cache (deltanet).
static size_t cache_k_floats(const moec_options &o, int c) {
  const moec_cache_info &ci = MOEC_PLAN.caches[c];
  return ci.state_k || ci.state_v ? static_cast<size_t>(ci.state_k) : static_cast<size_t>(o.max_context) * ci.k_width;
}
static size_t cache_v_floats(const moec_options &o, int c) {
  const moec_cache_info &ci = MOEC_PLAN.caches[c];
  return ci.state_k || ci.state_v ? static_cast<size_t>(ci.state_v) : static_cast<size_t>(o.max_context) * ci.v_width;
}

static int max_experts() {
  int e = 0;
  for (int i = 0; i < MOEC_PLAN.n_moe; i++) e = e > MOEC_PLAN.moe[i].experts ? e : MOEC_PLAN.moe[i].experts;
  return e;
}
static int max_assign_width() {  // largest k·d over the moe steps, for the combine rows
  int w = 0;
  for (int i = 0; i < MOEC_PLAN.n_moe; i++) w = w > MOEC_PLAN.moe[i].k * MOEC_PLAN.moe[i].d ? w : MOEC_PLAN.moe[i].k * MOEC_PLAN.moe[i].d;
  return w;
}
static int max_k() {
  int k = 0;
  for (int i = 0; i < MOEC_PLAN.n_moe; i++) k = k > MOEC_PLAN.moe[i].k ? k : MOEC_PLAN.moe[i].k;
  return k;
}
static int rope_stride() {
  int h = 0;
  for (int i = 0; i < MOEC_PLAN.n_ropes; i++) h = h > MOEC_PLAN.ropes[i].dim / 2 ? h : MOEC_PLAN.ropes[i].dim / 2;
  return h + 1;
}
static size_t table_entries() {
  size_t n = 0;
  for (int i = 0; i < MOEC_PLAN.n_moe; i++) {
    const moec_moe_info *mi = &MOEC_PLAN.moe[i];
    for (int g = 0; g < mi->n_groups; g++) n += static_cast<size_t>(mi->group_params[g]) * (mi->group_end[g] - mi->group_begin[g]);
  }
  return n;
}

static layout plan_layout(const moec_options &o, int splits) {
  layout L = {};
  size_t at = 0;
  for (int i = 0; i < MOEC_PLAN.n_weights; i++) at += align256(device_bytes(&MOEC_PLAN.weights[i]));
  L.weights = at;
  L.at_caches = at;
  for (int c = 0; c < MOEC_PLAN.n_caches; c++) at += align256(4ull * o.sequences * cache_k_floats(o, c)) + align256(4ull * o.sequences * cache_v_floats(o, c));
  L.caches = at - L.at_caches;
  L.at_slots = at;
  for (int s = 0; s < MOEC_PLAN.n_slots; s++) at += align256(4ull * o.max_tokens * MOEC_PLAN.slots[s].rows_per_token * MOEC_PLAN.slots[s].width);
  L.slots = at - L.at_slots;
  L.at_meta = at;
  at += align256(4ull * 5 * o.max_tokens);
  L.at_rope = at;
  at += align256(4ull * o.max_tokens * (MOEC_PLAN.n_ropes ? MOEC_PLAN.n_ropes : 1) * rope_stride());
  L.at_moe = at;
  const size_t E = max_experts(), A = static_cast<size_t>(o.max_tokens) * max_k();
  at += align256(4 * o.max_tokens * E) + 3 * align256(4 * A) + align256(4 * (E + 1)) * 2 + align256(4) + align256(4 * A) + align256(4ull * o.max_tokens * max_assign_width()) + align256(4ull * o.max_tokens);
  L.at_attn = at;
  const size_t heads = MOEC_PLAN.max_heads, dim = MOEC_PLAN.max_head_dim;
  at += splits > 1 ? align256(4ull * 16 * heads * splits * dim) + align256(8ull * 16 * heads * splits) : 0;
  L.at_dn = at;
  at += align256(4ull * o.max_tokens * MOEC_PLAN.max_deltanet_channels);
  L.at_x16 = at;
  at += align256(2 * x16_elems(o));
  L.at_tables = at;
  at += align256(table_entries() * (sizeof(moec_weight) + sizeof(float *)));
  L.total = at;
  return L;
}

// ---- loading -----------------------------------------------------------------------------------------

static moec_status check_options(moec_options *o) {
  if (o->max_context < 1) return moec_fail(NULL, MOEC_ERR_ARGUMENT, "max_context must be at least 1, not %d", o->max_context);
  if (o->max_tokens == 0) o->max_tokens = o->max_context;
  if (o->max_tokens < 1) return moec_fail(NULL, MOEC_ERR_ARGUMENT, "max_tokens must be at least 1, not %d", o->max_tokens);
  if (o->sequences < 1 || o->sequences > 4096) return moec_fail(NULL, MOEC_ERR_ARGUMENT, "sequences must be 1 to 4096, not %d", o->sequences);
  if (o->max_tokens > (1 << 24) || o->max_context > (1 << 24)) return moec_fail(NULL, MOEC_ERR_ARGUMENT, "max_context and max_tokens must stay under 2^24");
  return MOEC_OK;
}

static double gib(size_t n) { return static_cast<double>(n) / (1024.0 * 1024.0 * 1024.0); }

// Reads every weight of the plan from the pack into the arena (converting to f32 where the plan
// keeps a weight as f32 on the GPU).
static moec_status load_weights(moec_model *m, const char *path, const layout &L) {
  moec_safetensors st;
  char why[512];
  if (!moec_st_open(&st, path, why, sizeof why)) return moec_fail(m, MOEC_ERR_WEIGHTS, "%s", why);
  size_t at = 0;
  const size_t CHUNK = 64u << 20;
  void *pinned = NULL;
  moec_status status = MOEC_OK;
  if (cudaMallocHost(&pinned, CHUNK) != cudaSuccess) {
    moec_st_close(&st);
    return moec_fail(m, MOEC_ERR_OUT_OF_MEMORY, "could not reserve %d MiB of pinned host memory to upload the weights", static_cast<int>(CHUNK >> 20));
  }
  for (int i = 0; i < MOEC_PLAN.n_weights && status == MOEC_OK; i++) {
    const moec_weight_info *wi = &MOEC_PLAN.weights[i];
    moec_st_tensor t;
    if (!moec_st_find(&st, wi, &t, why, sizeof why)) {
      status = moec_fail(m, MOEC_ERR_WEIGHTS, "%s", why);
      break;
    }
    unsigned char *dst = m->arena + at;
    m->w[i].data = dst;
    m->w[i].format = wi->as_f32 ? MOEC_F32 : wi->format;
    m->w[i].scales = moec_format_kind[wi->format] == MOEC_KIND_CHANNEL ? reinterpret_cast<const float *>(dst + numel(wi)) : NULL;
    const bool widen = wi->as_f32 && wi->format != MOEC_F32;
    const size_t elt = widen ? static_cast<size_t>(moec_format_block_bytes[wi->format]) : 1;  // source bytes per unit read
    size_t done = 0;
    while (done < t.bytes) {
      size_t n = t.bytes - done;
      const size_t cap = widen ? CHUNK / 4 : CHUNK;
      if (n > cap) n = cap;
      if (!moec_st_read(&st, &t, done, widen ? static_cast<unsigned char *>(pinned) + 3 * CHUNK / 4 : static_cast<unsigned char *>(pinned), n, why, sizeof why)) {
        status = moec_fail(m, MOEC_ERR_WEIGHTS, "%s", why);
        break;
      }
      size_t out = n;
      if (widen) {  // f16/bf16 → f32
        const uint16_t *src = reinterpret_cast<const uint16_t *>(static_cast<unsigned char *>(pinned) + 3 * CHUNK / 4);
        float *f = static_cast<float *>(pinned);
        for (size_t j = 0; j < n / elt; j++) f[j] = wi->format == MOEC_BF16 ? moec_bf16_to_f32(src[j]) : moec_f16_to_f32(src[j]);
        out = n / elt * 4;
      }
      const cudaError_t e = cudaMemcpy(dst + (widen ? done / elt * 4 : done), pinned, out, cudaMemcpyHostToDevice);
      if (e != cudaSuccess) {
        status = moec_cuda_fail(m, e, "uploading the weights", __FILE__, __LINE__);
        break;
      }
      done += n;
    }
    at += align256(device_bytes(wi));
  }
  (void)L;
  cudaFreeHost(pinned);
  moec_st_close(&st);
  return status;
}

// The device tables of expert weights: per moe, group and parameter, one moec_weight and one
// float pointer per expert (stacked tensors: the expert's rows of the group's tensor).
static moec_status build_expert_tables(moec_model *m, const layout &L) {
  const size_t n = table_entries();
  moec_weight *hw = static_cast<moec_weight *>(calloc(n ? n : 1, sizeof(moec_weight)));
  const float **hb = static_cast<const float **>(calloc(n ? n : 1, sizeof(float *)));
  m->expert_w = static_cast<moec_weight ***>(calloc(MOEC_PLAN.n_moe ? MOEC_PLAN.n_moe : 1, sizeof(moec_weight **)));
  m->expert_b = static_cast<const float *const ***>(calloc(MOEC_PLAN.n_moe ? MOEC_PLAN.n_moe : 1, sizeof(const float *const **)));
  moec_weight *dw = reinterpret_cast<moec_weight *>(m->arena + L.at_tables);
  const float **db = reinterpret_cast<const float **>(m->arena + L.at_tables + n * sizeof(moec_weight));
  moec_status s = hw && hb && m->expert_w && m->expert_b ? MOEC_OK : moec_fail(m, MOEC_ERR_OUT_OF_MEMORY, "out of host memory for the expert tables");
  size_t at = 0;
  for (int i = 0; i < MOEC_PLAN.n_moe && s == MOEC_OK; i++) {
    const moec_moe_info *mi = &MOEC_PLAN.moe[i];
    m->expert_w[i] = static_cast<moec_weight **>(calloc(static_cast<size_t>(mi->n_groups) * 64, sizeof(moec_weight *)));
    m->expert_b[i] = static_cast<const float *const **>(calloc(static_cast<size_t>(mi->n_groups) * 64, sizeof(const float *const *)));
    if (!m->expert_w[i] || !m->expert_b[i]) {
      s = moec_fail(m, MOEC_ERR_OUT_OF_MEMORY, "out of host memory for the expert tables");
      break;
    }
    for (int g = 0; g < mi->n_groups && s == MOEC_OK; g++) {
      const int count = mi->group_end[g] - mi->group_begin[g];
      if (mi->group_params[g] > 64) {
        s = moec_fail(m, MOEC_ERR_UNSUPPORTED, "an expert with %d parameters (the tables hold 64)", mi->group_params[g]);
        break;
      }
      for (int p = 0; p < mi->group_params[g] && s == MOEC_OK; p++) {
        m->expert_w[i][g * 64 + p] = dw + at;
        m->expert_b[i][g * 64 + p] = db + at;
        for (int e = 0; e < count; e++) {
          // (weight, element offset): the expert's slice starts at row offset / K of the tensor.
          const long long *b = mi->bind + 2 * (mi->group_bind_at[g] + static_cast<long long>(e) * mi->group_params[g] + p);
          const moec_weight_info *wi = &MOEC_PLAN.weights[b[0]];
          const moec_weight base = m->w[b[0]];
          // (a glu step's bias half: an element offset inside a row, f32 only)
          const long long K = last_dim(wi), row = b[1] / K, col = b[1] % K;
          if (col && base.format != MOEC_F32) {
            s = moec_fail(m, MOEC_ERR_UNSUPPORTED, "expert parameter %s bound from inside a row (element %lld) in a non-f32 format", wi->name, b[1]);
            break;
          }
          moec_weight w = base;
          w.data = base.data + static_cast<size_t>(row) * (base.format == MOEC_F32 && wi->as_f32 ? 4 * static_cast<size_t>(K) : moec_row_bytes(base.format, static_cast<int>(K))) + 4 * static_cast<size_t>(col);
          if (base.scales) w.scales = base.scales + row;
          hw[at + e] = w;
          hb[at + e] = reinterpret_cast<const float *>(w.data);
        }
        at += count;
      }
    }
  }
  cudaError_t e = cudaSuccess;
  if (s == MOEC_OK && n) e = cudaMemcpy(dw, hw, n * sizeof(moec_weight), cudaMemcpyHostToDevice);
  if (s == MOEC_OK && n && e == cudaSuccess) e = cudaMemcpy(db, hb, n * sizeof(float *), cudaMemcpyHostToDevice);
  free(hw), free(hb);
  if (s == MOEC_OK && e != cudaSuccess) s = moec_cuda_fail(m, e, "uploading the expert tables", __FILE__, __LINE__);
  return s;
}

moec_status moec_read_tuning(moec_model *m, const char *path, int required);

// Random weights on the GPU: N(0, 0.02²)-ish values (a sum of uniforms) for matrices, 1 for
// vectors (norm weights; biases too, harmlessly), in the weight's float format.
__global__ void moec_fill_random(unsigned char *dst, long long n, int format, unsigned seed, float scale, int ones) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    unsigned h = static_cast<unsigned>(i) * 2654435761u ^ seed * 2246822519u ^ static_cast<unsigned>(i >> 32) * 3266489917u;
    float v = 0.0f;
    for (int r = 0; r < 4; r++) {
      h ^= h >> 15, h *= 2246822519u, h ^= h >> 13, h *= 3266489917u, h ^= h >> 16;
      v += static_cast<float>(h & 0xffffff) * (1.0f / 16777216.0f) - 0.5f;
    }
    v = ones ? 1.0f : v * scale * 1.7320508f;  // four uniforms of variance 1/12 each: variance 1/3
    if (format == MOEC_F32) reinterpret_cast<float *>(dst)[i] = v;
    else if (format == MOEC_BF16) reinterpret_cast<uint16_t *>(dst)[i] = moec_f32_to_bf16(v);
    else reinterpret_cast<uint16_t *>(dst)[i] = moec_f32_to_f16(v);
  }
}

static moec_status random_weights(moec_model *m, unsigned seed) {
  size_t at = 0;
  for (int i = 0; i < MOEC_PLAN.n_weights; i++) {
    const moec_weight_info *wi = &MOEC_PLAN.weights[i];
    const int format = wi->as_f32 ? MOEC_F32 : wi->format;
    if (moec_format_kind[format] != MOEC_KIND_FLOAT) return moec_fail(m, MOEC_ERR_UNSUPPORTED, "random weights are float formats only; %s is %s", wi->name, moec_format_names[format]);
    m->w[i].data = m->arena + at;
    m->w[i].format = format;
    m->w[i].scales = NULL;
    MOEC_CUDA(m, moec_launch(moec_fill_random, dim3(1024), dim3(256), 0, m->stream, m->arena + at, numel(wi), format, seed + 7919u * i, 0.02f, wi->ndim == 1 ? 1 : 0));
    at += align256(device_bytes(wi));
  }
  MOEC_CUDA(m, cudaStreamSynchronize(m->stream));
  return MOEC_OK;
}

extern "C" moec_status moec_load(const char *weights_path, const moec_options *options, moec_model **out) {
  *out = NULL;
  moec_options o = options ? *options : moec_default_options();
  MOEC_TRY(check_options(&o));
  int devices = 0;
  cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) return moec_fail(NULL, MOEC_ERR_CUDA, "no CUDA GPU is available (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
  if (o.device < 0 || o.device >= devices) return moec_fail(NULL, MOEC_ERR_ARGUMENT, "device %d does not exist (%d GPUs)", o.device, devices);
  if ((e = cudaSetDevice(o.device)) != cudaSuccess) return moec_cuda_fail(NULL, e, "cudaSetDevice", __FILE__, __LINE__);
  cudaDeviceProp prop;
  if ((e = cudaGetDeviceProperties(&prop, o.device)) != cudaSuccess) return moec_cuda_fail(NULL, e, "cudaGetDeviceProperties", __FILE__, __LINE__);
  if (prop.major < 8) return moec_fail(NULL, MOEC_ERR_UNSUPPORTED, "%s has compute capability %d.%d; moec's kernels need 8.0 or newer (Ampere, Hopper)", prop.name, prop.major, prop.minor);

  // Flash-decoding splits: about 256 keys per split, at most 32 splits.
  int splits = (o.max_context + 255) / 256;
  if (splits > 32) splits = 32;
  const layout L = plan_layout(o, splits);
  size_t free_bytes = 0, total_bytes = 0;
  if ((e = cudaMemGetInfo(&free_bytes, &total_bytes)) != cudaSuccess) return moec_cuda_fail(NULL, e, "cudaMemGetInfo", __FILE__, __LINE__);
  if (L.total > free_bytes)
    return moec_fail(NULL, MOEC_ERR_OUT_OF_MEMORY,
                     "%s needs %.2f GiB of GPU memory (weights %.2f, KV caches %.2f for %d sequence(s) of %d positions, activations %.2f for %d tokens) and %s has %.2f GiB free; "
                     "lower max_context, max_tokens or sequences",
                     MOEC_PLAN.model, gib(L.total), gib(L.weights), gib(L.caches), o.sequences, o.max_context, gib(L.slots), o.max_tokens, prop.name, gib(free_bytes));

  moec_model *m = static_cast<moec_model *>(calloc(1, sizeof(moec_model)));
  if (!m) return moec_fail(NULL, MOEC_ERR_OUT_OF_MEMORY, "out of host memory");
  m->opt = o;
  m->sms = prop.multiProcessorCount;
  m->w = static_cast<moec_weight *>(calloc(MOEC_PLAN.n_weights ? MOEC_PLAN.n_weights : 1, sizeof(moec_weight)));
  m->slot = static_cast<float **>(calloc(MOEC_PLAN.n_slots ? MOEC_PLAN.n_slots : 1, sizeof(float *)));
  m->cache_k = static_cast<float **>(calloc(MOEC_PLAN.n_caches ? MOEC_PLAN.n_caches : 1, sizeof(float *)));
  m->cache_v = static_cast<float **>(calloc(MOEC_PLAN.n_caches ? MOEC_PLAN.n_caches : 1, sizeof(float *)));
  m->graphs = static_cast<cudaGraphExec_t *>(calloc(static_cast<size_t>(o.sequences) + 1, sizeof(cudaGraphExec_t)));
  m->positions = static_cast<int *>(calloc(static_cast<size_t>(o.sequences), sizeof(int)));
  m->staging = NULL;
  moec_status s = MOEC_OK;
  if (!m->w || !m->slot || !m->cache_k || !m->cache_v || !m->graphs || !m->positions) s = moec_fail(NULL, MOEC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (s == MOEC_OK && (e = cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking)) != cudaSuccess) s = moec_cuda_fail(NULL, e, "cudaStreamCreate", __FILE__, __LINE__);
  if (s == MOEC_OK && (e = cudaMalloc(reinterpret_cast<void **>(&m->arena), L.total)) != cudaSuccess)
    s = moec_fail(NULL, e == cudaErrorMemoryAllocation ? MOEC_ERR_OUT_OF_MEMORY : MOEC_ERR_CUDA, "allocating %.2f GiB of GPU memory for %s failed: %s", gib(L.total), MOEC_PLAN.model, cudaGetErrorString(e));
  if (s != MOEC_OK) {
    moec_free(m);
    return s;
  }
  m->arena_bytes = L.total;
  // Carve the arena.
  {
    size_t at_c = L.at_caches;  // each cache's own size (they differ: MLA, sliding windows, state caches)
    for (int c = 0; c < MOEC_PLAN.n_caches; c++) {
      m->cache_k[c] = reinterpret_cast<float *>(m->arena + at_c);
      at_c += align256(4ull * o.sequences * cache_k_floats(o, c));
      m->cache_v[c] = reinterpret_cast<float *>(m->arena + at_c);
      at_c += align256(4ull * o.sequences * cache_v_floats(o, c));
    }
  }
  m->dn_conv = reinterpret_cast<float *>(m->arena + L.at_dn);
  m->x16_elems = static_cast<long long>(x16_elems(o));
  m->x16 = m->x16_elems ? reinterpret_cast<uint16_t *>(m->arena + L.at_x16) : nullptr;
  size_t at = L.at_slots;
  for (int i = 0; i < MOEC_PLAN.n_slots; i++) {
    m->slot[i] = reinterpret_cast<float *>(m->arena + at);
    at += align256(4ull * o.max_tokens * MOEC_PLAN.slots[i].rows_per_token * MOEC_PLAN.slots[i].width);
  }
  m->meta_dev = m->arena + L.at_meta;
  m->meta_bytes = 4ull * 5 * o.max_tokens;
  m->rope_stride = rope_stride();
  m->rope_inv = reinterpret_cast<float *>(m->arena + L.at_rope);
  {
    const size_t E = max_experts(), A = static_cast<size_t>(o.max_tokens) * max_k();
    unsigned char *p = m->arena + L.at_moe;
    m->router_logits = reinterpret_cast<float *>(p), p += align256(4 * o.max_tokens * E);
    m->topk_ids = reinterpret_cast<int *>(p), p += align256(4 * A);
    m->topk_w = reinterpret_cast<float *>(p), p += align256(4 * A);
    m->rank = reinterpret_cast<int *>(p), p += align256(4 * A);
    m->counts = reinterpret_cast<int *>(p), p += align256(4 * (E + 1));
    m->offsets = reinterpret_cast<int *>(p), p += align256(4 * (E + 1));
    m->ticket = reinterpret_cast<unsigned *>(p), p += align256(4);
    m->slot_of_row = reinterpret_cast<int *>(p), p += align256(4 * A);
    m->comb = reinterpret_cast<float *>(p), p += align256(4ull * o.max_tokens * max_assign_width());
    m->gate = reinterpret_cast<float *>(p);
  }
  m->attn_splits = splits;
  m->attn_keys_per_split = ((o.max_context + splits - 1) / splits + 31) / 32 * 32;
  if (splits > 1) {
    const size_t heads = MOEC_PLAN.max_heads, dim = MOEC_PLAN.max_head_dim;
    m->attn_o = reinterpret_cast<float *>(m->arena + L.at_attn);
    m->attn_ml = reinterpret_cast<float *>(m->arena + L.at_attn + align256(4ull * 16 * heads * splits * dim));
  }
  if ((e = cudaMallocHost(reinterpret_cast<void **>(&m->staging), m->meta_bytes + 4ull * o.max_tokens * (MOEC_PLAN.n_ropes ? MOEC_PLAN.n_ropes : 1) * m->rope_stride)) != cudaSuccess) {
    moec_free(m);
    return moec_fail(NULL, MOEC_ERR_OUT_OF_MEMORY, "could not reserve pinned host memory for the per-pass metadata");
  }
  s = o.random_weights ? random_weights(m, o.random_weights) : load_weights(m, weights_path, L);
  if (s == MOEC_OK) s = build_expert_tables(m, L);
  // Router counts and the last-block ticket start at zero; every router leaves them so.
  if (s == MOEC_OK && (e = cudaMemset(m->counts, 0, 4 * (max_experts() + 1))) != cudaSuccess) s = moec_cuda_fail(m, e, "cudaMemset", __FILE__, __LINE__);
  if (s == MOEC_OK && (e = cudaMemset(m->ticket, 0, 4)) != cudaSuccess) s = moec_cuda_fail(m, e, "cudaMemset", __FILE__, __LINE__);
  if (s == MOEC_OK && o.tuning) s = moec_read_tuning(m, o.tuning, 1);
  if (s != MOEC_OK) {
    memcpy(load_error, m->error, sizeof load_error);
    moec_free(m);
    return s;
  }
  *out = m;
  return MOEC_OK;
}

extern "C" void moec_free(moec_model *m) {
  if (!m) return;
  if (m->graphs)
    for (int i = 0; i <= m->opt.sequences; i++)
      if (m->graphs[i]) cudaGraphExecDestroy(m->graphs[i]);
  if (m->expert_w)
    for (int i = 0; i < MOEC_PLAN.n_moe; i++) free(m->expert_w[i]);
  if (m->expert_b)
    for (int i = 0; i < MOEC_PLAN.n_moe; i++) free(const_cast<const float *const **>(m->expert_b[i]));
  free(m->expert_w);
  free(m->expert_b);
  if (m->arena) cudaFree(m->arena);
  if (m->staging) cudaFreeHost(m->staging);
  if (m->stream) cudaStreamDestroy(m->stream);
  free(m->w), free(m->slot), free(m->cache_k), free(m->cache_v), free(m->graphs), free(m->positions), free(m->tuning);
  free(m);
}

// ---- RoPE tables ----------------------------------------------------------------------------------

// The inverse frequencies and attention factor for a pass whose positions reach seqlen − 1, as
// runtime/math/rope.ts's ropeInvFreq (only dynamic NTK and LongRoPE depend on seqlen; the
// emitter precomputed the rest).
static void rope_inv(const moec_rope_info *r, int seqlen, float *inv, float *attn) {
  const int half = r->dim / 2;
  if (r->kind == MOEC_ROPE_LONGROPE && seqlen > r->original_max) {
    memcpy(inv, r->inv_long, 4 * half);
    *attn = r->attn_long;
    return;
  }
  if (r->kind == MOEC_ROPE_DYNAMIC && seqlen > r->original_max) {
    const float factor = static_cast<float>(r->factor);
    float t = factor * static_cast<float>(seqlen);
    t = t / static_cast<float>(r->original_max);
    t = t - static_cast<float>(r->factor - 1);
    const double power = static_cast<double>(r->dim) / (r->dim - 2);
    const float p = power == 2.0 ? t * t : static_cast<float>(pow(static_cast<double>(t), power));
    const float base = static_cast<float>(r->theta) * p;
    for (int j = 0; j < half; j++) {
      const float e = static_cast<float>(2 * j) / static_cast<float>(r->dim);
      inv[j] = 1.0f / static_cast<float>(pow(static_cast<double>(base), static_cast<double>(e)));
    }
    *attn = r->attn_short;
    return;
  }
  memcpy(inv, r->inv_short, 4 * half);
  *attn = r->attn_short;
}

// ---- the forward pass -----------------------------------------------------------------------------

struct segment {
  int seq, start, n;
  const int32_t *ids;
};

// Points the per-row metadata at its place for T rows: [ids | pos | seq | seg_end | rope_seg], T each.
static void bind_meta(moec_model *m, int T) {
  int *base = reinterpret_cast<int *>(m->meta_dev);
  m->ids = base, m->pos = base + T, m->seq = base + 2 * T, m->seg_end = base + 3 * T, m->rope_seg = base + 4 * T;
}

static moec_status run_pass(moec_model *m, const segment *segs, int nseg, int T, float *logits, bool decode) {
  for (int i = 0; i < nseg; i++) {
    const segment &g = segs[i];
    if (g.seq < 0 || g.seq >= m->opt.sequences) return moec_fail(m, MOEC_ERR_ARGUMENT, "sequence %d does not exist (the model was loaded with %d)", g.seq, m->opt.sequences);
    for (int j = 0; j < i; j++)
      if (segs[j].seq == g.seq) return moec_fail(m, MOEC_ERR_ARGUMENT, "sequence %d appears twice in one call", g.seq);
    if (m->positions[g.seq] + g.n > m->opt.max_context)
      return moec_fail(m, MOEC_ERR_ARGUMENT, "the context of sequence %d is full: %d + %d tokens exceed max_context %d", g.seq, m->positions[g.seq], g.n, m->opt.max_context);
    for (int j = 0; j < g.n; j++)
      if (g.ids[j] < 0 || g.ids[j] >= MOEC_PLAN.vocab) return moec_fail(m, MOEC_ERR_ARGUMENT, "token id %d is outside the vocabulary (0..%d)", g.ids[j], MOEC_PLAN.vocab - 1);
  }
  if (T < 1) return moec_fail(m, MOEC_ERR_ARGUMENT, "a forward call needs at least one token");
  if (T > m->opt.max_tokens) return moec_fail(m, MOEC_ERR_ARGUMENT, "at most %d tokens per call (max_tokens), got %d", m->opt.max_tokens, T);
  // Metadata for every row, and the RoPE tables of every segment, in one pinned block.
  int *meta = reinterpret_cast<int *>(m->staging);
  float *rope = reinterpret_cast<float *>(m->staging + m->meta_bytes);
  const int R = MOEC_PLAN.n_ropes;
  for (int i = 0; i < nseg; i++) {
    const segment &g = segs[i];
    const int p0 = m->positions[g.seq];
    for (int j = 0; j < g.n; j++) {
      const int r = g.start + j;
      meta[r] = g.ids[j];
      meta[T + r] = p0 + j;
      meta[2 * T + r] = g.seq;
      meta[3 * T + r] = p0 + g.n - 1;
      meta[4 * T + r] = i;
    }
    for (int q = 0; q < R; q++) {
      float *entry = rope + (static_cast<size_t>(i) * R + q) * m->rope_stride;
      rope_inv(&MOEC_PLAN.ropes[q], p0 + g.n, entry, entry + MOEC_PLAN.ropes[q].dim / 2);
    }
  }
  MOEC_CUDA(m, cudaMemcpyAsync(m->meta_dev, meta, 4ull * 5 * T, cudaMemcpyHostToDevice, m->stream));
  if (R) MOEC_CUDA(m, cudaMemcpyAsync(m->rope_inv, rope, 4ull * nseg * R * m->rope_stride, cudaMemcpyHostToDevice, m->stream));
  bind_meta(m, T);
  if (decode && m->opt.cuda_graphs && T <= m->opt.sequences) {
    if (!m->graphs[T]) {
      cudaGraph_t graph;
      MOEC_CUDA(m, cudaStreamBeginCapture(m->stream, cudaStreamCaptureModeThreadLocal));
      const moec_status s = moec_plan_forward(m, T);
      const cudaError_t e = cudaStreamEndCapture(m->stream, &graph);
      if (s != MOEC_OK) {
        if (e == cudaSuccess) cudaGraphDestroy(graph);
        return s;
      }
      if (e != cudaSuccess) return moec_cuda_fail(m, e, "capturing the decode step as a CUDA graph", __FILE__, __LINE__);
      const cudaError_t ie = cudaGraphInstantiate(&m->graphs[T], graph, 0);
      cudaGraphDestroy(graph);
      if (ie != cudaSuccess) return moec_cuda_fail(m, ie, "instantiating the decode graph", __FILE__, __LINE__);
    }
    MOEC_CUDA(m, cudaGraphLaunch(m->graphs[T], m->stream));
  } else {
    MOEC_TRY(moec_plan_forward(m, T));
  }
  if (logits) MOEC_CUDA(m, cudaMemcpyAsync(logits, m->slot[MOEC_PLAN.output_slot], 4ull * T * MOEC_PLAN.output_width, cudaMemcpyDeviceToHost, m->stream));
  const cudaError_t e = cudaStreamSynchronize(m->stream);
  if (e != cudaSuccess) return moec_fail(m, MOEC_ERR_CUDA, "a kernel of the forward pass failed: %s (run the host program under compute-sanitizer to find which)", cudaGetErrorString(e));
  for (int i = 0; i < nseg; i++) m->positions[segs[i].seq] += segs[i].n;
  return MOEC_OK;
}

extern "C" moec_status moec_prefill(moec_model *m, int seq, const int32_t *ids, int n, float *logits) {
  if (!m) return moec_fail(NULL, MOEC_ERR_ARGUMENT, "moec_prefill: no model");
  if (n < 1 || !ids) return moec_fail(m, MOEC_ERR_ARGUMENT, "moec_prefill needs at least one token id");
  const segment g = {seq, 0, n, ids};
  return run_pass(m, &g, 1, n, logits, n == 1);
}

extern "C" moec_status moec_decode(moec_model *m, int n, const int32_t *seqs, const int32_t *ids, float *logits) {
  if (!m) return moec_fail(NULL, MOEC_ERR_ARGUMENT, "moec_decode: no model");
  if (n < 1 || n > m->opt.sequences || !seqs || !ids) return moec_fail(m, MOEC_ERR_ARGUMENT, "moec_decode takes 1 to %d sequences (the model's slots), got %d", m->opt.sequences, n);
  segment segs[4096];
  for (int i = 0; i < n; i++) segs[i] = segment{seqs[i], i, 1, ids + i};
  return run_pass(m, segs, n, n, logits, true);
}

extern "C" moec_status moec_reset(moec_model *m, int seq) {
  if (!m) return moec_fail(NULL, MOEC_ERR_ARGUMENT, "moec_reset: no model");
  if (seq < -1 || seq >= m->opt.sequences) return moec_fail(m, MOEC_ERR_ARGUMENT, "sequence %d does not exist", seq);
  for (int i = 0; i < m->opt.sequences; i++)
    if (seq < 0 || i == seq) m->positions[i] = 0;
  return MOEC_OK;
}
