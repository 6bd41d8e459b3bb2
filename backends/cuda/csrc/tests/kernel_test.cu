// kernel_test — every CUDA kernel against an independent answer, on the GPU or (built with
// -DMOEC_EMU) on the CPU emulation. The TypeScript test writes the cases it cannot compute here
// (test/backends/cuda/kernels.test.ts): weights in every storage format with the values
// runtime/weights decodes them to, and router logits with runtime/moe/routing.ts's choices.
// Matmuls and attention are checked against double-precision loops over those values; the Mamba-2
// scan (cstyle.cu, printed from backends/cstyle) against mamba2Scan's answers in the case file, and Jamba's causal_conv1d
// and mamba_scan against causalConv1d's and mambaScan's.
//
//   kernel_test CASES.bin        prints one line per check and exits 1 if any failed
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "../attention.cuh"
#include "../matmul_launch.cuh"
#include "../moe.cuh"
#include "../cstyle.h"

extern const moec_format_ops *const moec_format_table[MOEC_NUM_FORMATS][2];

static int failures = 0, checks = 0;
static unsigned long long rng = 88172645463325252ull;
static float frand() {  // uniform in [-1, 1)
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return static_cast<float>((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

#define CHECK_CUDA(x)                                                                                   \
  do {                                                                                                  \
    cudaError_t e_ = (x);                                                                               \
    if (e_ != cudaSuccess) {                                                                            \
      fprintf(stderr, "kernel_test: %s failed: %s (%s:%d)\n", #x, cudaGetErrorString(e_), __FILE__, __LINE__); \
      exit(2);                                                                                          \
    }                                                                                                   \
  } while (0)

template <class T> static T *to_device(const std::vector<T> &h) {
  T *d;
  CHECK_CUDA(cudaMalloc(&d, sizeof(T) * (h.size() ? h.size() : 1)));
  if (h.size()) CHECK_CUDA(cudaMemcpy(d, h.data(), sizeof(T) * h.size(), cudaMemcpyHostToDevice));
  return d;
}
template <class T> static std::vector<T> to_host(const T *d, size_t n) {
  std::vector<T> h(n);
  CHECK_CUDA(cudaDeviceSynchronize());
  CHECK_CUDA(cudaMemcpy(h.data(), d, sizeof(T) * n, cudaMemcpyDeviceToHost));
  return h;
}

// ‖a − b‖ / ‖b‖ (b the reference); NaN or a length mismatch is infinity.
static double rel_err(const std::vector<float> &a, const std::vector<double> &b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); i++) {
    if (!(a[i] == a[i])) return INFINITY;
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return sqrt(num / (den > 0 ? den : 1));
}

static void report(const char *what, double err, double tol) {
  checks++;
  const bool ok = err <= tol;
  if (!ok) failures++;
  printf("%s %-60s err %.3e (tolerance %.0e)\n", ok ? "PASS" : "FAIL", what, err, tol);
}

// ---- case file ------------------------------------------------------------------------------------

struct Reader {
  std::vector<unsigned char> buf;
  size_t at = 0;
  template <class T> T get() {
    T v;
    memcpy(&v, buf.data() + at, sizeof v);
    at += sizeof v;
    return v;
  }
  template <class T> std::vector<T> arr(size_t n) {
    std::vector<T> v(n);
    memcpy(v.data(), buf.data() + at, sizeof(T) * n);
    at += sizeof(T) * n;
    return v;
  }
};

// ---- storage formats and matmuls -------------------------------------------------------------------

struct WeightCase {
  int format, rows, K;
  std::vector<unsigned char> bytes;
  std::vector<float> values;  // decoded by runtime/weights (int8: times the row scale)
};

static moec_weight weight_at(const unsigned char *dev, const WeightCase &w, int row) {
  moec_weight r;
  r.format = w.format;
  r.data = dev + static_cast<size_t>(row) * moec_row_bytes(w.format, w.K);
  r.scales = moec_format_kind[w.format] == MOEC_KIND_CHANNEL ? reinterpret_cast<const float *>(dev + static_cast<size_t>(w.rows) * w.K) + row : nullptr;
  return r;
}

static bool is_float_format(int f) { return f == MOEC_F32 || f == MOEC_F16 || f == MOEC_BF16; }

static void test_format(const WeightCase &w) {
  char name[160];
  const char *fmt = moec_format_names[w.format];
  const moec_format_ops *ops = moec_format_table[w.format][moec_vec_ok(w.format, w.K) ? 0 : 1];
  unsigned char *dw = to_device(w.bytes);
  // Decoding: the embedding kernel reads every row.
  {
    std::vector<int> ids(w.rows);
    for (int i = 0; i < w.rows; i++) ids[i] = i;
    int *dids = to_device(ids);
    float *dout;
    CHECK_CUDA(cudaMalloc(&dout, 4ull * w.rows * w.K));
    CHECK_CUDA(ops->embed(weight_at(dw, w, 0), dids, dout, w.rows, w.K, nullptr));
    std::vector<float> got = to_host(dout, static_cast<size_t>(w.rows) * w.K);
    std::vector<double> want(w.values.begin(), w.values.end());
    snprintf(name, sizeof name, "decode %s [%d, %d]", fmt, w.rows, w.K);
    report(name, rel_err(got, want), 1e-6);
    cudaFree(dids), cudaFree(dout);
  }
  const int E = 4, N = w.rows / E, K = w.K;
  const bool f32math = w.format == MOEC_F32;
  const double tol_mma = w.format == MOEC_BF16 ? 1e-2 : 3e-3, tol = 2e-5;
  std::vector<double> bias(N);
  std::vector<float> biasf(N);
  for (int n = 0; n < N; n++) biasf[n] = frand(), bias[n] = biasf[n];
  float *dbias = to_device(biasf);
  auto reference = [&](const std::vector<float> &x, int rows, int expert_of_row(int, void *), void *ctx, bool with_bias) {
    std::vector<double> y(static_cast<size_t>(rows) * N);
    for (int r = 0; r < rows; r++) {
      const int e = expert_of_row(r, ctx);
      for (int n = 0; n < N; n++) {
        double s = with_bias ? bias[n] : 0.0;
        for (int k = 0; k < K; k++) s += static_cast<double>(x[static_cast<size_t>(r) * K + k]) * w.values[(static_cast<size_t>(e) * N + n) * K + k];
        y[static_cast<size_t>(r) * N + n] = s;
      }
    }
    return y;
  };
  // Dense: expert 0's rows as one weight, T rows of x, every kernel that can run the shape.
  for (int T : {1, 3, 9, 70, 200}) {
    std::vector<float> x(static_cast<size_t>(T) * K);
    for (auto &v : x) v = frand();
    float *dx = to_device(x), *dy;
    uint16_t *dx16;  // the 16-bit formats' tensor-core kernels (moec_gemm16) round x into it
    CHECK_CUDA(cudaMalloc(&dy, 4ull * T * N));
    CHECK_CUDA(cudaMalloc(&dx16, 2ull * T * K));
    const std::vector<double> want = reference(x, T, [](int, void *) { return 0; }, nullptr, true);
    moec_mm a = {};
    a.x = dx, a.y = dy, a.K = K, a.N = N, a.rows = T, a.w = weight_at(dw, w, 0), a.bias = dbias, a.epilogue = MOEC_EPI_STORE;
    const int kernels[] = {MOEC_KERNEL_GEMV4, MOEC_KERNEL_SIMT, MOEC_KERNEL_MMA64, MOEC_KERNEL_MMA128};
    const bool mma_ok = !f32math && K % 32 == 0 && !(ops == moec_format_table[w.format][1] && !moec_vec_ok(w.format, K));
    for (int kern : kernels) {
      const bool mma = kern == MOEC_KERNEL_MMA64 || kern == MOEC_KERNEL_MMA128;
      if (mma && !mma_ok) continue;
      if (T > 70 && kern == MOEC_KERNEL_GEMV4 && T != 200) continue;
      for (int use16 = 0; use16 < (mma && ops->pair16 ? 2 : 1); use16++) {
        a.x16 = use16 ? dx16 : nullptr;
        CHECK_CUDA(cudaMemset(dy, 0xff, 4ull * T * N));  // NaN: every output must be written
        const moec_mm_launch l = {kern, false, T == 1, 1, moec_ceil_div(T, 64), moec_ceil_div(T, 128), moec_ceil_div(T, 8), MOEC_OUT_IN};
        CHECK_CUDA(ops->matmul(a, l, nullptr));
        snprintf(name, sizeof name, "matmul %s K=%d N=%d T=%d %s%s", fmt, K, N, T, kern == MOEC_KERNEL_GEMV4 ? "gemv" : kern == MOEC_KERNEL_SIMT ? "simt" : kern == MOEC_KERNEL_MMA64 ? "mma64" : "mma128", use16 ? " gemm16" : "");
        report(name, rel_err(to_host(dy, static_cast<size_t>(T) * N), want), mma ? tol_mma : tol);
      }
    }
    a.x16 = nullptr;
    // A gate/up pair: act(x·W0ᵀ + b)·(x·W1ᵀ + b) with SiLU: GEMV for few rows, and for 16-bit
    // weights on tensor cores (moec_gemm16's pair) at every size.
    const bool pair_mma = mma_ok && ops->pair16;
    if (T <= 9 || pair_mma) {
      moec_mm p = a;
      p.w2 = weight_at(dw, w, N), p.bias2 = dbias, p.act = MOEC_ACT_SILU_MUL;
      const std::vector<double> u = reference(x, T, [](int, void *) { return 1; }, nullptr, true);
      std::vector<double> h(want.size());
      for (size_t i = 0; i < h.size(); i++) h[i] = want[i] / (1.0 + exp(-want[i])) * u[i];
      for (int kern : {MOEC_KERNEL_GEMV4, MOEC_KERNEL_MMA64, MOEC_KERNEL_MMA128}) {
        const bool mma = kern != MOEC_KERNEL_GEMV4;
        if (mma ? !pair_mma : T > 9) continue;
        p.x16 = mma ? dx16 : nullptr;
        CHECK_CUDA(cudaMemset(dy, 0xff, 4ull * T * N));
        const moec_mm_launch l = {kern, true, T == 1, 1, moec_ceil_div(T, 64), moec_ceil_div(T, 128), 0, MOEC_OUT_IN};
        CHECK_CUDA(ops->matmul(p, l, nullptr));
        snprintf(name, sizeof name, "gate/up pair %s K=%d N=%d T=%d %s", fmt, K, N, T, kern == MOEC_KERNEL_GEMV4 ? "gemv" : kern == MOEC_KERNEL_MMA64 ? "mma64 gemm16" : "mma128 gemm16");
        report(name, rel_err(to_host(dy, static_cast<size_t>(T) * N), h), mma ? tol_mma : tol);
      }
    }
    cudaFree(dx), cudaFree(dy), cudaFree(dx16);
  }
  // Grouped: 4 experts, T tokens routed to 2 each (some experts empty), rows permuted by expert;
  // stored and placed (times a routing weight into each assignment's combine slot).
  for (int T : {1, 5, 40}) {
    const int k = 2, A = T * k;
    std::vector<int> expert(A), offsets(E + 1, 0), slot_of_row(A);
    for (int t = 0; t < T; t++) {
      expert[t * k] = (t * 3) % 3;  // experts 0..2 only: expert 3 stays empty
      expert[t * k + 1] = (expert[t * k] + 1 + t % 2) % 3;
    }
    for (int a = 0; a < A; a++) offsets[expert[a] + 1]++;
    for (int e = 0; e < E; e++) offsets[e + 1] += offsets[e];
    std::vector<int> fill(offsets.begin(), offsets.end() - 1), row_expert(A);
    std::vector<float> x(static_cast<size_t>(A) * K), wslot(A);
    for (int a = 0; a < A; a++) {
      const int r = fill[expert[a]]++;
      slot_of_row[r] = a;
      row_expert[r] = expert[a];
      wslot[a] = 0.5f + 0.25f * frand();
    }
    for (auto &v : x) v = frand();
    std::vector<moec_weight> table(E);
    std::vector<const float *> btable(E, dbias);
    for (int e = 0; e < E; e++) table[e] = weight_at(dw, w, e * N);
    moec_weight *dtable = to_device(table);
    const float **dbt = to_device(btable);
    int *doff = to_device(offsets), *dslot = to_device(slot_of_row);
    float *dx = to_device(x), *dws = to_device(wslot), *dy, *dcomb;
    CHECK_CUDA(cudaMalloc(&dy, 4ull * A * N));
    CHECK_CUDA(cudaMalloc(&dcomb, 4ull * A * N));
    const std::vector<double> want = reference(x, A, [](int r, void *c) { return (*static_cast<std::vector<int> *>(c))[r]; }, &row_expert, true);
    std::vector<double> placed(want.size());
    for (int r = 0; r < A; r++)
      for (int n = 0; n < N; n++) placed[static_cast<size_t>(slot_of_row[r]) * N + n] = wslot[slot_of_row[r]] * want[static_cast<size_t>(r) * N + n];
    moec_mm a = {};
    a.x = dx, a.y = dy, a.K = K, a.N = N, a.rows = A, a.wtab = dtable, a.btab = dbt, a.offsets = doff, a.e0 = 0, a.experts = E;
    a.slot_of_row = dslot, a.weight_of_slot = dws, a.comb = dcomb;
    const int active = A < E ? A : E;
    uint16_t *dx16;
    CHECK_CUDA(cudaMalloc(&dx16, 2ull * A * K));
    for (int kern : {MOEC_KERNEL_GEMV4, MOEC_KERNEL_SIMT, MOEC_KERNEL_MMA64, MOEC_KERNEL_MMA128}) {
      const bool mma = kern == MOEC_KERNEL_MMA64 || kern == MOEC_KERNEL_MMA128;
      if (mma && (f32math || K % 32 != 0 || !moec_vec_ok(w.format, K))) continue;
      for (int place = 0; place < (mma && ops->pair16 ? 4 : 2); place++) {  // 2, 3: the same on moec_gemm16
        a.x16 = place >= 2 ? dx16 : nullptr;
        a.epilogue = place % 2 ? MOEC_EPI_MOE_PLACE : MOEC_EPI_STORE;
        CHECK_CUDA(cudaMemset(place % 2 ? dcomb : dy, 0xff, 4ull * A * N));
        const moec_mm_launch l = {kern, false, T == 1, static_cast<unsigned>(active), moec_ceil_div(A, 64) + active, moec_ceil_div(A, 128) + active, moec_ceil_div(A, 8) + active, MOEC_OUT_IN};
        CHECK_CUDA(ops->matmul(a, l, nullptr));
        snprintf(name, sizeof name, "grouped %s K=%d N=%d T=%d %s%s%s", fmt, K, N, T, kern == MOEC_KERNEL_GEMV4 ? "gemv" : kern == MOEC_KERNEL_SIMT ? "simt" : kern == MOEC_KERNEL_MMA64 ? "mma64" : "mma128", place >= 2 ? " gemm16" : "", place % 2 ? " placed" : "");
        report(name, rel_err(to_host(place % 2 ? dcomb : dy, static_cast<size_t>(A) * N), place % 2 ? placed : want), mma ? tol_mma : tol);
      }
    }
    // A grouped gate/up pair on tensor cores (16-bit weights): the up weights of expert e are expert e+1's.
    if (ops->pair16 && !f32math && K % 32 == 0 && moec_vec_ok(w.format, K)) {
      std::vector<moec_weight> table2(E);
      for (int e = 0; e < E; e++) table2[e] = table[(e + 1) % E];
      moec_weight *dtable2 = to_device(table2);
      std::vector<int> up_expert(A);
      for (int r = 0; r < A; r++) up_expert[r] = (row_expert[r] + 1) % E;
      const std::vector<double> u = reference(x, A, [](int r, void *c) { return (*static_cast<std::vector<int> *>(c))[r]; }, &up_expert, true);
      std::vector<double> h(want.size());
      for (size_t i = 0; i < h.size(); i++) h[i] = want[i] / (1.0 + exp(-want[i])) * u[i];
      moec_mm p = a;
      p.wtab2 = dtable2, p.btab2 = dbt, p.act = MOEC_ACT_SILU_MUL, p.x16 = dx16, p.epilogue = MOEC_EPI_STORE;
      for (int kern : {MOEC_KERNEL_MMA64, MOEC_KERNEL_MMA128}) {
        CHECK_CUDA(cudaMemset(dy, 0xff, 4ull * A * N));
        const moec_mm_launch l = {kern, true, T == 1, static_cast<unsigned>(active), moec_ceil_div(A, 64) + active, moec_ceil_div(A, 128) + active, 0, MOEC_OUT_IN};
        CHECK_CUDA(ops->matmul(p, l, nullptr));
        snprintf(name, sizeof name, "grouped gate/up pair %s K=%d N=%d T=%d %s gemm16", fmt, K, N, T, kern == MOEC_KERNEL_MMA64 ? "mma64" : "mma128");
        report(name, rel_err(to_host(dy, static_cast<size_t>(A) * N), h), tol_mma);
      }
      cudaFree(dtable2);
    }
    a.x16 = nullptr;
    cudaFree(dx16);
    cudaFree(dtable), cudaFree(dbt), cudaFree(doff), cudaFree(dslot), cudaFree(dx), cudaFree(dws), cudaFree(dy), cudaFree(dcomb);
  }
  // Weights stored [K, N] (GPT-OSS): float formats, the record's values transposed.
  if (is_float_format(w.format)) {
    const int Kt = N, Nt = K, T = 3;  // W' [Kt rows of Nt] = W[0:N]ᵀ… here simply W's first N rows read as [K=N, N=K]
    std::vector<float> x(static_cast<size_t>(T) * Kt);
    for (auto &v : x) v = frand();
    std::vector<double> want(static_cast<size_t>(T) * Nt);
    for (int t = 0; t < T; t++)
      for (int n = 0; n < Nt; n++) {
        double s = 0;
        for (int kk = 0; kk < Kt; kk++) s += static_cast<double>(x[static_cast<size_t>(t) * Kt + kk]) * w.values[static_cast<size_t>(kk) * K + n];
        want[static_cast<size_t>(t) * Nt + n] = s;
      }
    float *dx = to_device(x), *dy;
    CHECK_CUDA(cudaMalloc(&dy, 4ull * T * Nt));
    moec_mm a = {};
    a.x = dx, a.y = dy, a.K = Kt, a.N = Nt, a.rows = T, a.w = weight_at(dw, w, 0), a.epilogue = MOEC_EPI_STORE;
    const moec_format_ops *kops = moec_format_table[w.format][moec_vec_ok(w.format, Nt) ? 0 : 1];
    const moec_mm_launch l = {MOEC_KERNEL_AUTO, false, false, 1, 1, 1, moec_ceil_div(T, 8), MOEC_IN_OUT};
    CHECK_CUDA(kops->matmul(a, l, nullptr));
    snprintf(name, sizeof name, "matmul [K, N] %s K=%d N=%d T=%d", fmt, Kt, Nt, T);
    report(name, rel_err(to_host(dy, static_cast<size_t>(T) * Nt), want), tol);
    cudaFree(dx), cudaFree(dy);
  }
  cudaFree(dbias), cudaFree(dw);
}

// ---- routing -------------------------------------------------------------------------------------------

static void test_route(Reader &r) {
  moec_route_args a = {};
  a.k = r.get<int>(), a.scoring = r.get<int>(), a.groups = r.get<int>(), a.topk_groups = r.get<int>(), a.group_scoring = r.get<int>(), a.renormalize = r.get<int>();
  a.scale = r.get<double>(), a.eps = r.get<double>();
  const int has_bias = r.get<int>();
  a.T = r.get<int>(), a.E = r.get<int>();
  const std::vector<float> logits = r.arr<float>(static_cast<size_t>(a.T) * a.E), bias = r.arr<float>(a.E);
  const std::vector<int> want_ids = r.arr<int>(static_cast<size_t>(a.T) * a.k);
  const std::vector<float> want_w = r.arr<float>(static_cast<size_t>(a.T) * a.k);
  const int A = a.T * a.k;
  a.logits = to_device(logits);
  a.bias = has_bias ? to_device(bias) : nullptr;
  std::vector<int> zeros(a.E + 1, 0);
  CHECK_CUDA(cudaMalloc(&a.ids, 4ull * A));
  CHECK_CUDA(cudaMalloc(&a.weights, 4ull * A));
  CHECK_CUDA(cudaMalloc(&a.rank, 4ull * A));
  a.counts = to_device(zeros);
  CHECK_CUDA(cudaMalloc(&a.offsets, 4ull * (a.E + 1)));
  a.ticket = reinterpret_cast<unsigned *>(to_device(std::vector<int>(1, 0)));
  const dim3 grid(moec_ceil_div(a.T, MOEC_ROUTE_WARPS)), block(MOEC_ROUTE_WARPS * MOEC_WARP);
  const int epl = (a.E + 31) / 32;
  if (epl <= 1) CHECK_CUDA(moec_launch(moec_route<1>, grid, block, 0, nullptr, a));
  else if (epl <= 2) CHECK_CUDA(moec_launch(moec_route<2>, grid, block, 0, nullptr, a));
  else if (epl <= 4) CHECK_CUDA(moec_launch(moec_route<4>, grid, block, 0, nullptr, a));
  else if (epl <= 8) CHECK_CUDA(moec_launch(moec_route<8>, grid, block, 0, nullptr, a));
  else CHECK_CUDA(moec_launch(moec_route<16>, grid, block, 0, nullptr, a));
  const std::vector<int> ids = to_host(a.ids, A), rank = to_host(a.rank, A), offsets = to_host(a.offsets, a.E + 1), counts = to_host(a.counts, a.E);
  const std::vector<float> wts = to_host(a.weights, A);
  const unsigned ticket = to_host(a.ticket, 1)[0];
  int wrong_ids = 0;
  double werr = 0;
  for (int i = 0; i < A; i++) {
    wrong_ids += ids[i] != want_ids[i];
    werr = fmax(werr, fabs(wts[i] - want_w[i]) / fmax(1e-30, fabs(want_w[i])));
  }
  // Offsets are the prefix sums of the counts, ranks a permutation within each expert, and the
  // counts and ticket are back at zero.
  std::vector<int> per(a.E, 0);
  for (int i = 0; i < A; i++) per[ids[i]]++;
  bool layout = offsets[0] == 0 && ticket == 0;
  for (int e = 0; e < a.E; e++) layout = layout && offsets[e + 1] - offsets[e] == per[e] && counts[e] == 0;
  std::vector<int> seen(A, 0);
  for (int i = 0; i < A; i++) {
    const int pos = offsets[ids[i]] + rank[i];
    layout = layout && rank[i] >= 0 && rank[i] < per[ids[i]] && !seen[pos]++;
  }
  char name[160];
  snprintf(name, sizeof name, "route T=%d E=%d k=%d scoring=%d groups=%d/%d%s", a.T, a.E, a.k, a.scoring, a.topk_groups, a.groups, has_bias ? " bias" : "");
  report(name, wrong_ids || !layout ? INFINITY : werr, 1e-6);
  cudaFree(const_cast<float *>(a.logits)), cudaFree(a.ids), cudaFree(a.weights), cudaFree(a.rank), cudaFree(a.counts), cudaFree(a.offsets), cudaFree(a.ticket);
  if (a.bias) cudaFree(const_cast<float *>(a.bias));
}

// ---- Mamba-2 ----------------------------------------------------------------------------------------------

// max |a − b| / (1 + |b|) (b the reference); NaN is infinity.
static double scan_err(const std::vector<float> &a, const std::vector<float> &b) {
  double worst = 0;
  for (size_t i = 0; i < b.size(); i++) {
    if (!(a[i] == a[i])) return INFINITY;
    worst = fmax(worst, fabs(static_cast<double>(a[i]) - b[i]) / (1 + fabs(static_cast<double>(b[i]))));
  }
  return worst;
}

// One pass of several sequences' segments (pos, seq per row) through moec_k_mamba2_scan.
static void test_mamba2(Reader &r) {
  const int H = r.get<int>(), P = r.get<int>(), N = r.get<int>(), G = r.get<int>(), K = r.get<int>(), bias = r.get<int>(), T = r.get<int>(), S = r.get<int>();
  const float dt_min = r.get<float>(), eps = r.get<float>();
  const std::vector<int> pos = r.arr<int>(T), seq = r.arr<int>(T);
  const long long C = static_cast<long long>(H) * P + 2LL * G * N, XP = static_cast<long long>(H) * P, win = (K - 1) * C, st = XP * N;
  const std::vector<float> xbc = r.arr<float>(T * C), dt = r.arr<float>(static_cast<size_t>(T) * H), z = r.arr<float>(T * XP), conv_w = r.arr<float>(C * K), conv_b = r.arr<float>(C);
  const std::vector<float> a_log = r.arr<float>(H), dt_bias = r.arr<float>(H), d = r.arr<float>(H), norm_w = r.arr<float>(XP), conv0 = r.arr<float>(S * win), state0 = r.arr<float>(S * st);
  const std::vector<float> want_y = r.arr<float>(T * XP), want_conv = r.arr<float>(S * win), want_state = r.arr<float>(S * st);
  float *dconv = to_device(conv0), *dstate = to_device(state0), *dy, *scratch;
  CHECK_CUDA(cudaMalloc(&dy, 4ull * T * XP));
  CHECK_CUDA(cudaMemset(dy, 0xff, 4ull * T * XP));  // NaN: every output must be written
  CHECK_CUDA(cudaMalloc(&scratch, 4ull * T * C));
  float *dxbc = to_device(xbc), *ddt = to_device(dt), *dz = to_device(z), *dw = to_device(conv_w), *db = bias ? to_device(conv_b) : nullptr;
  float *dlog = to_device(a_log), *dbias = to_device(dt_bias), *dd = to_device(d), *dnorm = to_device(norm_w);
  int *dpos = to_device(pos), *dseq = to_device(seq);
  CHECK_CUDA(moec_k_mamba2_scan(nullptr, dxbc, ddt, dz, dw, db, dlog, dbias, dd, dnorm, dconv, dstate, dy, T, H, P, N, G, K, dt_min, eps, scratch, dpos, dseq, win, st));
  const std::vector<float> y = to_host(dy, T * XP), conv = to_host(dconv, S * win), state = to_host(dstate, S * st);
  char name[160];
  // The GPU's exp is the C-style base's polynomial, not libm's: the conformance suite's device bound.
  snprintf(name, sizeof name, "mamba2_scan H=%d P=%d N=%d G=%d K=%d%s y", H, P, N, G, K, bias ? " bias" : "");
  report(name, scan_err(y, want_y), 8e-6);
  snprintf(name, sizeof name, "mamba2_scan H=%d P=%d N=%d G=%d K=%d state", H, P, N, G, K);
  report(name, scan_err(state, want_state), 8e-6);
  snprintf(name, sizeof name, "mamba2_scan H=%d P=%d N=%d G=%d K=%d conv window (exact)", H, P, N, G, K);
  report(name, memcmp(conv.data(), want_conv.data(), 4 * want_conv.size()) ? INFINITY : 0.0, 0);
  for (void *p : {(void *)dconv, (void *)dstate, (void *)dy, (void *)scratch, (void *)dxbc, (void *)ddt, (void *)dz, (void *)dw, (void *)db, (void *)dlog, (void *)dbias, (void *)dd, (void *)dnorm, (void *)dpos, (void *)dseq})
    if (p) cudaFree(p);
}

// ---- Mamba-1 (Jamba) ----------------------------------------------------------------------------------------

// One pass of several sequences' segments through moec_k_causal_conv1d, then moec_k_mamba_scan on the reference's
// conv output (so each kernel is checked on its own).
static void test_mamba(Reader &r) {
  const int I = r.get<int>(), N = r.get<int>(), K = r.get<int>(), bias = r.get<int>(), T = r.get<int>(), S = r.get<int>();
  const std::vector<int> pos = r.arr<int>(T), seq = r.arr<int>(T);
  const long long rowsI = static_cast<long long>(T) * I, rowsN = static_cast<long long>(T) * N, win = static_cast<long long>(K - 1) * I, st = static_cast<long long>(I) * N;
  const std::vector<float> x = r.arr<float>(rowsI), conv_w = r.arr<float>(static_cast<size_t>(I) * K), conv_b = r.arr<float>(I), conv0 = r.arr<float>(S * win);
  const std::vector<float> dt = r.arr<float>(rowsI), b = r.arr<float>(rowsN), c = r.arr<float>(rowsN), z = r.arr<float>(rowsI), a_log = r.arr<float>(st), d = r.arr<float>(I), state0 = r.arr<float>(S * st);
  const std::vector<float> want_conv = r.arr<float>(rowsI), want_window = r.arr<float>(S * win), want_y = r.arr<float>(rowsI), want_state = r.arr<float>(S * st);
  float *dwin = to_device(conv0), *dstate = to_device(state0), *dconv, *dy;
  CHECK_CUDA(cudaMalloc(&dconv, 4ull * rowsI));
  CHECK_CUDA(cudaMalloc(&dy, 4ull * rowsI));
  CHECK_CUDA(cudaMemset(dconv, 0xff, 4ull * rowsI));  // NaN: every output must be written
  CHECK_CUDA(cudaMemset(dy, 0xff, 4ull * rowsI));
  float *dx = to_device(x), *dw = to_device(conv_w), *db = bias ? to_device(conv_b) : nullptr, *dxs = to_device(want_conv), *ddt = to_device(dt), *dbm = to_device(b), *dcm = to_device(c);
  float *dz = to_device(z), *dlog = to_device(a_log), *dd = to_device(d);
  int *dpos = to_device(pos), *dseq = to_device(seq);
  CHECK_CUDA(moec_k_causal_conv1d(nullptr, dx, dw, db, dwin, dconv, T, I, K, dpos, dseq, win));
  CHECK_CUDA(moec_k_mamba_scan(nullptr, dxs, ddt, dbm, dcm, dz, dlog, dd, dstate, dy, T, I, N, dpos, dseq, st));
  char name[160];
  // The GPU's exp is the C-style base's polynomial, not libm's: the conformance suite's device bound.
  snprintf(name, sizeof name, "causal_conv1d C=%d K=%d%s y", I, K, bias ? " bias" : "");
  report(name, scan_err(to_host(dconv, rowsI), want_conv), 8e-6);
  snprintf(name, sizeof name, "causal_conv1d C=%d K=%d window (exact)", I, K);
  const std::vector<float> window = to_host(dwin, S * win);
  report(name, memcmp(window.data(), want_window.data(), 4 * want_window.size()) ? INFINITY : 0.0, 0);
  snprintf(name, sizeof name, "mamba_scan C=%d N=%d y", I, N);
  report(name, scan_err(to_host(dy, rowsI), want_y), 8e-6);
  snprintf(name, sizeof name, "mamba_scan C=%d N=%d state", I, N);
  report(name, scan_err(to_host(dstate, S * st), want_state), 8e-6);
  for (void *p : {(void *)dwin, (void *)dstate, (void *)dconv, (void *)dy, (void *)dx, (void *)dw, (void *)db, (void *)dxs, (void *)ddt, (void *)dbm, (void *)dcm, (void *)dz, (void *)dlog, (void *)dd, (void *)dpos,
                  (void *)dseq})
    if (p) cudaFree(p);
}

// ---- attention ------------------------------------------------------------------------------------------

struct AttnCase {
  const char *name;
  int heads, kv_heads, head_dim, v_dim, window, causal, sinks, splits;
  float softcap;
};

static void test_attention(const AttnCase &c) {
  // Two sequences: sequence 0 continues at position 7 with 3 rows, sequence 1 at 40 with 2.
  const int ctx = 64, T = 5, seqs = 2;
  const int pos[T] = {7, 8, 9, 40, 41}, seq[T] = {0, 0, 0, 1, 1}, seg_end[T] = {9, 9, 9, 41, 41};
  const int kw = c.kv_heads * c.head_dim, vw = c.kv_heads * c.v_dim;
  std::vector<float> kc(static_cast<size_t>(seqs) * ctx * kw), vc(static_cast<size_t>(seqs) * ctx * vw), q(static_cast<size_t>(T) * c.heads * c.head_dim), sinks(c.heads);
  for (auto &v : kc) v = frand();
  for (auto &v : vc) v = frand();
  for (auto &v : q) v = frand();
  for (auto &v : sinks) v = frand();
  const float scale = 1.0f / sqrtf(static_cast<float>(c.head_dim));
  std::vector<double> want(static_cast<size_t>(T) * c.heads * c.v_dim);
  for (int r = 0; r < T; r++)
    for (int h = 0; h < c.heads; h++) {
      const int kvh = h / (c.heads / c.kv_heads), last = c.causal ? pos[r] : seg_end[r], first = c.window > 0 ? (pos[r] - c.window + 1 > 0 ? pos[r] - c.window + 1 : 0) : 0;
      std::vector<double> l(last + 1);
      double mx = c.sinks ? sinks[h] : -INFINITY;
      for (int j = first; j <= last; j++) {
        double dot = 0;
        for (int d = 0; d < c.head_dim; d++) dot += static_cast<double>(q[(static_cast<size_t>(r) * c.heads + h) * c.head_dim + d]) * kc[(static_cast<size_t>(seq[r]) * ctx + j) * kw + kvh * c.head_dim + d];
        double s = dot * scale;
        if (c.softcap > 0) s = c.softcap * tanh(s / c.softcap);
        l[j] = s;
        mx = fmax(mx, s);
      }
      double den = c.sinks ? exp(sinks[h] - mx) : 0;
      for (int j = first; j <= last; j++) den += l[j] = exp(l[j] - mx);
      for (int d = 0; d < c.v_dim; d++) {
        double s = 0;
        for (int j = first; j <= last; j++) s += l[j] * vc[(static_cast<size_t>(seq[r]) * ctx + j) * vw + kvh * c.v_dim + d];
        want[(static_cast<size_t>(r) * c.heads + h) * c.v_dim + d] = s / den;
      }
    }
  moec_attn a = {};
  a.q = to_device(q), a.q_stride = c.heads * c.head_dim, a.kc = to_device(kc), a.vc = to_device(vc), a.k_seq = static_cast<long long>(ctx) * kw, a.v_seq = static_cast<long long>(ctx) * vw;
  a.k_stride = kw, a.v_stride = vw, a.out_stride = c.heads * c.v_dim, a.rows = T, a.heads = c.heads, a.kv_heads = c.kv_heads, a.head_dim = c.head_dim, a.v_dim = c.v_dim;
  a.scale = scale, a.softcap = c.softcap, a.window = c.window, a.sinks = c.sinks ? to_device(sinks) : nullptr, a.causal = c.causal;
  a.pos = to_device(std::vector<int>(pos, pos + T)), a.seq = to_device(std::vector<int>(seq, seq + T)), a.seg_end = to_device(std::vector<int>(seg_end, seg_end + T));
  a.splits = c.splits, a.keys_per_split = (ctx + c.splits - 1) / c.splits;
  CHECK_CUDA(cudaMalloc(&a.out, 4ull * T * c.heads * c.v_dim));
  CHECK_CUDA(cudaMalloc(&a.part_o, 4ull * T * c.heads * c.splits * c.v_dim));
  CHECK_CUDA(cudaMalloc(&a.part_ml, 8ull * T * c.heads * c.splits));
  CHECK_CUDA(cudaMemset(a.out, 0xff, 4ull * T * c.heads * c.v_dim));
  CHECK_CUDA(moec_launch(moec_attention, dim3(T, moec_ceil_div(c.heads, MOEC_ATTN_HEADS_PER_BLOCK), c.splits), dim3(MOEC_ATTN_HEADS_PER_BLOCK * MOEC_WARP), 0, nullptr, a));
  if (c.splits > 1) CHECK_CUDA(moec_launch(moec_attention_combine, dim3(T, c.heads), dim3(MOEC_WARP), 0, nullptr, a));
  char name[160];
  snprintf(name, sizeof name, "attention %s", c.name);
  report(name, rel_err(to_host(a.out, static_cast<size_t>(T) * c.heads * c.v_dim), want), 2e-5);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: kernel_test CASES.bin\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    fprintf(stderr, "kernel_test: cannot open %s\n", argv[1]);
    return 2;
  }
  Reader r;
  unsigned char chunk[1 << 16];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) r.buf.insert(r.buf.end(), chunk, chunk + n);
  fclose(f);
  while (r.at < r.buf.size()) {
    const int kind = r.get<int>();
    if (kind == 1) {
      WeightCase w;
      w.format = r.get<int>(), w.rows = r.get<int>(), w.K = r.get<int>();
      const int bytes = r.get<int>();
      w.bytes = r.arr<unsigned char>(bytes);
      w.values = r.arr<float>(static_cast<size_t>(w.rows) * w.K);
      test_format(w);
    } else if (kind == 2) {
      test_route(r);
    } else if (kind == 3) {
      test_mamba2(r);
    } else if (kind == 4) {
      test_mamba(r);
    } else {
      fprintf(stderr, "kernel_test: unknown case kind %d\n", kind);
      return 2;
    }
  }
  const AttnCase attn[] = {
      {"GQA 4/2 x16", 4, 2, 16, 16, 0, 1, 0, 1, 0.0f},
      {"MHA 4 x24 v16 (MLA)", 4, 4, 24, 16, 0, 1, 0, 1, 0.0f},
      {"window 5", 4, 2, 16, 16, 5, 1, 0, 1, 0.0f},
      {"softcap 2 + sinks", 6, 2, 8, 8, 0, 1, 1, 1, 2.0f},
      {"non-causal", 4, 1, 32, 32, 0, 0, 0, 1, 0.0f},
      {"split-K 4", 4, 2, 16, 16, 0, 1, 0, 4, 0.0f},
      {"split-K 4 + sinks + window", 8, 2, 64, 64, 20, 1, 1, 4, 0.0f},
      {"head dim 128", 2, 1, 128, 128, 0, 1, 0, 2, 0.0f},
  };
  for (const AttnCase &c : attn) test_attention(c);
  printf("%d of %d checks passed\n", checks - failures, checks);
  return failures ? 1 : 0;
}
