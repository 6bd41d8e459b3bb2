// moec_emu.h — runs moec's CUDA sources on the CPU, for machines without a GPU (CI, development).
//
// Built with `g++ -DMOEC_EMU` instead of nvcc, the same kernel and runtime sources compile into
// a CPU program: every thread of a block is a fiber (ucontext), blocks run one after another,
// and __syncthreads, __syncwarp and the warp-level operations (shuffles, votes, and the
// tensor-core wrappers of mma.cuh: mma.sync, ldmatrix) are barriers between those fibers, so
// the kernels' own indexing, tiling, reductions and fragment layouts are what computes the
// result. A thread that waits at a barrier the others never reach is reported as a deadlock.
// The CUDA runtime calls moec uses (memory, streams, events, graphs) are emulated on host
// memory; graph capture records launches and copies and replays them.
//
// This is a test harness, not a simulator: no timing, no memory model beyond sequential
// consistency, and only the subset of CUDA that moec's sources use.
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <ucontext.h>
#include <functional>
#include <vector>

// ---- language --------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __restrict__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static
#define __grid_constant__
#define __constant__ static

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
struct int4 { int x, y, z, w; };
struct uint2 { unsigned x, y; };
struct uint4 { unsigned x, y, z, w; };
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline float2 make_float2(float x, float y) { return float2{x, y}; }

namespace moec_emu {

enum { READY, AT_BLOCK, AT_WARP, DONE };

// Switching fibers: on x86-64 a few instructions (callee-saved registers and the stack
// pointer); elsewhere ucontext, whose signal-mask system calls make it about 20 times slower.
#if defined(__x86_64__)
struct Context {
  void *sp = nullptr;
};
__attribute__((naked, noinline)) static void switch_to(Context * /*from*/, Context * /*to*/) {
  asm volatile(
      "pushq %rbp\n pushq %rbx\n pushq %r12\n pushq %r13\n pushq %r14\n pushq %r15\n"
      "movq %rsp, (%rdi)\n movq (%rsi), %rsp\n"
      "popq %r15\n popq %r14\n popq %r13\n popq %r12\n popq %rbx\n popq %rbp\n ret\n");
}
inline void start_context(Context &c, char *stack, size_t size, void (*entry)()) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + size) & ~uintptr_t(15);
  void **sp = reinterpret_cast<void **>(top);
  *--sp = nullptr;                              // alignment: entry starts as if called (rsp ≡ 8 mod 16)
  *--sp = reinterpret_cast<void *>(entry);      // `ret` jumps here
  for (int i = 0; i < 6; i++) *--sp = nullptr;  // rbp rbx r12 r13 r14 r15
  c.sp = sp;
}
#else
struct Context {
  ucontext_t uc;
};
static void switch_to(Context *from, Context *to) { swapcontext(&from->uc, &to->uc); }
inline void start_context(Context &c, char *stack, size_t size, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = size;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
#endif

struct Fiber {
  Context ctx;
  char *stack = nullptr;
  unsigned x = 0, y = 0, z = 0, linear = 0;
  int state = READY;
};

// 64 bytes per lane: enough for an mma's A and B fragments or any shuffled scalar.
struct Warp {
  unsigned char slot[32][64];
  int lanes = 0;
};

struct Launch {
  dim3 grid, block;
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  std::function<void()> body;
  Context sched;
  int current = -1;
  std::vector<unsigned char> smem;
};

inline Launch *&active() {
  static Launch *l = nullptr;
  return l;
}
struct Index { unsigned x, y, z; };
inline Index &thread_index() { static Index i; return i; }
inline Index &block_index() { static Index i; return i; }
inline Index &block_dim() { static Index i; return i; }
inline Index &grid_dim() { static Index i; return i; }

[[noreturn]] inline void fail(const char *what) {
  fprintf(stderr, "moec_emu: %s\n", what);
  abort();
}

inline Fiber &self() {
  Launch *l = active();
  if (!l || l->current < 0) fail("a device function ran outside a kernel");
  return l->fibers[l->current];
}

inline void yield(int state) {
  Launch *l = active();
  Fiber &f = l->fibers[l->current];
  f.state = state;
  switch_to(&f.ctx, &l->sched);
}

inline void entry() {
  Launch *l = active();
  l->body();
  l->fibers[l->current].state = DONE;
  switch_to(&l->fibers[l->current].ctx, &l->sched);
  abort();  // a finished fiber is never resumed
}

constexpr size_t STACK = 96 * 1024;

inline std::vector<char *> &stack_pool() {
  static std::vector<char *> pool;
  return pool;
}

// Runs one block: all its threads as fibers, released from barriers in rounds.
inline void run_block(Launch &l, unsigned bx, unsigned by, unsigned bz) {
  const unsigned n = l.block.x * l.block.y * l.block.z;
  block_index() = {bx, by, bz};
  auto &pool = stack_pool();
  while (pool.size() < n) pool.push_back(static_cast<char *>(malloc(STACK)));
  l.fibers.assign(n, Fiber{});
  l.warps.assign((n + 31) / 32, Warp{});
  for (unsigned i = 0; i < n; i++) {
    Fiber &f = l.fibers[i];
    f.linear = i;
    f.x = i % l.block.x;
    f.y = (i / l.block.x) % l.block.y;
    f.z = i / (l.block.x * l.block.y);
    f.stack = pool[i];
    start_context(f.ctx, f.stack, STACK, entry);
    l.warps[i / 32].lanes++;
  }
  for (;;) {
    bool ran = false;
    for (unsigned i = 0; i < n; i++) {
      Fiber &f = l.fibers[i];
      if (f.state != READY) continue;
      l.current = static_cast<int>(i);
      thread_index() = {f.x, f.y, f.z};
      switch_to(&l.sched, &f.ctx);
      ran = true;
    }
    l.current = -1;
    unsigned live = 0, at_block = 0;
    for (auto &f : l.fibers) {
      if (f.state != DONE) live++;
      if (f.state == AT_BLOCK) at_block++;
    }
    if (live == 0) return;
    bool released = false;
    if (at_block == live) {
      for (auto &f : l.fibers) if (f.state == AT_BLOCK) f.state = READY;
      released = true;
    } else {
      for (unsigned w = 0; w < l.warps.size(); w++) {
        unsigned wl = 0, wa = 0;
        for (unsigned i = w * 32; i < n && i < w * 32 + 32; i++) {
          if (l.fibers[i].state != DONE) wl++;
          if (l.fibers[i].state == AT_WARP) wa++;
        }
        if (wl > 0 && wa == wl) {
          for (unsigned i = w * 32; i < n && i < w * 32 + 32; i++) if (l.fibers[i].state == AT_WARP) l.fibers[i].state = READY;
          released = true;
        }
      }
    }
    if (!released && !ran) fail("deadlock: the threads of a block wait at different barriers (a __syncthreads or warp operation that not every thread reaches)");
  }
}

inline void launch(dim3 grid, dim3 block, size_t smem, std::function<void()> body) {
  if (block.x * block.y * block.z == 0 || block.x * block.y * block.z > 1024) fail("launch with a block of 0 or more than 1024 threads");
  Launch l;
  l.grid = grid;
  l.block = block;
  l.body = std::move(body);
  l.smem.assign(smem + 16, 0xA5);  // poisoned, as device memory is not zeroed
  Launch *prev = active();
  active() = &l;
  block_dim() = {block.x, block.y, block.z};
  grid_dim() = {grid.x, grid.y, grid.z};
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) run_block(l, bx, by, bz);
  active() = prev;
}

inline void *dynamic_smem() {
  Launch *l = active();
  uintptr_t p = reinterpret_cast<uintptr_t>(l->smem.data());
  return reinterpret_cast<void *>((p + 15) & ~uintptr_t(15));
}

inline void sync_block() { yield(AT_BLOCK); }
inline void sync_warp() { yield(AT_WARP); }

inline unsigned lane() { return self().linear % 32; }
inline Warp &warp() { return active()->warps[self().linear / 32]; }

// Every lane of the warp publishes `bytes` bytes; after the barrier each may read any lane's.
inline void publish(const void *v, size_t bytes) {
  memcpy(warp().slot[lane()], v, bytes);
  sync_warp();
}
inline const void *peek(unsigned l) { return warp().slot[l]; }
inline void done_reading() { sync_warp(); }

template <class T>
T shfl_from(T v, unsigned src) {
  publish(&v, sizeof(T));
  T r;
  memcpy(&r, peek(src), sizeof(T));
  done_reading();
  return r;
}

}  // namespace moec_emu

#define threadIdx (moec_emu::thread_index())
#define blockIdx (moec_emu::block_index())
#define blockDim (moec_emu::block_dim())
#define gridDim (moec_emu::grid_dim())

static inline void __syncthreads() { moec_emu::sync_block(); }
static inline void __syncwarp(unsigned = 0xffffffffu) { moec_emu::sync_warp(); }
static inline void __threadfence() {}
static inline void __threadfence_block() {}

template <class T> T __shfl_xor_sync(unsigned, T v, int m, int = 32) { return moec_emu::shfl_from(v, moec_emu::lane() ^ unsigned(m)); }
template <class T> T __shfl_sync(unsigned, T v, int src, int width = 32) { return moec_emu::shfl_from(v, (moec_emu::lane() & ~unsigned(width - 1)) + unsigned(src % width)); }
template <class T> T __shfl_down_sync(unsigned, T v, unsigned d, int = 32) {
  unsigned l = moec_emu::lane();
  return moec_emu::shfl_from(v, l + d < 32 ? l + d : l);
}
template <class T> T __shfl_up_sync(unsigned, T v, unsigned d, int = 32) {
  unsigned l = moec_emu::lane();
  return moec_emu::shfl_from(v, l >= d ? l - d : l);
}
static inline unsigned __ballot_sync(unsigned, int pred) {
  int p = pred != 0;
  moec_emu::publish(&p, sizeof p);
  unsigned bits = 0;
  for (int i = 0; i < moec_emu::warp().lanes; i++) {
    int q;
    memcpy(&q, moec_emu::peek(i), sizeof q);
    if (q) bits |= 1u << i;
  }
  moec_emu::done_reading();
  return bits;
}
static inline int __any_sync(unsigned m, int pred) { return __ballot_sync(m, pred) != 0; }
static inline int __all_sync(unsigned m, int pred) {
  unsigned full = moec_emu::warp().lanes == 32 ? 0xffffffffu : ((1u << moec_emu::warp().lanes) - 1);
  return __ballot_sync(m, pred) == full;
}

// Atomics: fibers never run at once, so plain read-modify-writes are atomic here.
template <class T> T atomicAdd(T *p, T v) { T o = *p; *p = o + v; return o; }
static inline int atomicMax(int *p, int v) { int o = *p; if (v > o) *p = v; return o; }
static inline int atomicExch(int *p, int v) { int o = *p; *p = v; return o; }
static inline unsigned atomicInc(unsigned *p, unsigned lim) { unsigned o = *p; *p = o >= lim ? 0 : o + 1; return o; }
static inline int atomicCAS(int *p, int cmp, int v) { int o = *p; if (o == cmp) *p = v; return o; }

template <class T> static inline T __ldg(const T *p) { return *p; }
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
static inline int __float_as_int(float f) { int u; memcpy(&u, &f, 4); return u; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __fdividef(float a, float b) { return a / b; }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __ffs(unsigned x) { return __builtin_ffs(static_cast<int>(x)); }
static inline float __saturatef(float x) { return x < 0 ? 0 : x > 1 ? 1 : x; }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }

// ---- runtime API -----------------------------------------------------------------------------
typedef enum {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorNoDevice = 100,
  cudaErrorStreamCaptureUnsupported = 900,
} cudaError_t;
typedef struct moec_emu_stream *cudaStream_t;
typedef struct moec_emu_event { double t; } *cudaEvent_t;
typedef struct moec_emu_graph *cudaGraph_t;
typedef struct moec_emu_graph *cudaGraphExec_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal, cudaStreamCaptureModeRelaxed };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
#define cudaStreamNonBlocking 1
#define cudaEventDefault 0
#define cudaHostAllocDefault 0

struct cudaDeviceProp {
  char name[256];
  int multiProcessorCount;
  int major, minor;
  size_t totalGlobalMem;
  size_t sharedMemPerBlockOptin;
  int l2CacheSize;
};

struct moec_emu_graph {
  std::vector<std::function<void()>> ops;
};
struct moec_emu_stream {
  moec_emu_graph *capturing = nullptr;
};

namespace moec_emu {
inline moec_emu_stream &default_stream() { static moec_emu_stream s; return s; }
inline moec_emu_stream *stream(cudaStream_t s) { return s ? s : &default_stream(); }
// Runs `op` now, or records it when the stream is capturing a graph.
inline void enqueue(cudaStream_t s, std::function<void()> op) {
  moec_emu_stream *st = stream(s);
  if (st->capturing) st->capturing->ops.push_back(std::move(op));
  else op();
}
inline size_t &allocated() { static size_t n = 0; return n; }
inline size_t limit() {
  const char *e = getenv("MOEC_EMU_MEMORY");
  return e ? strtoull(e, nullptr, 10) : (size_t(8) << 30);
}
}  // namespace moec_emu

static inline const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    default: return "unknown error";
  }
}
static inline cudaError_t cudaGetLastError() { return cudaSuccess; }
static inline cudaError_t cudaPeekAtLastError() { return cudaSuccess; }
static inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
static inline cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
static inline cudaError_t cudaGetDevice(int *d) { *d = 0; return cudaSuccess; }
static inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "moec CPU emulation");
  p->multiProcessorCount = 4;
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = moec_emu::limit();
  p->sharedMemPerBlockOptin = 227 * 1024;
  p->l2CacheSize = 1 << 20;
  return cudaSuccess;
}
static inline cudaError_t cudaMemGetInfo(size_t *free_, size_t *total) {
  *total = moec_emu::limit();
  *free_ = *total - moec_emu::allocated();
  return cudaSuccess;
}
static inline cudaError_t cudaMalloc(void **p, size_t n) {
  if (moec_emu::allocated() + n > moec_emu::limit()) return cudaErrorMemoryAllocation;
  *p = aligned_alloc(256, (n + 255) / 256 * 256 + 256);
  if (!*p) return cudaErrorMemoryAllocation;
  memset(*p, 0xA5, n);  // device memory is not zeroed: poison it
  moec_emu::allocated() += n;
  return cudaSuccess;
}
template <class T> cudaError_t cudaMalloc(T **p, size_t n) { return cudaMalloc(reinterpret_cast<void **>(p), n); }
static inline cudaError_t cudaFree(void *p) { free(p); return cudaSuccess; }
static inline cudaError_t cudaMallocHost(void **p, size_t n) { *p = malloc(n ? n : 1); return *p ? cudaSuccess : cudaErrorMemoryAllocation; }
template <class T> cudaError_t cudaMallocHost(T **p, size_t n) { return cudaMallocHost(reinterpret_cast<void **>(p), n); }
static inline cudaError_t cudaFreeHost(void *p) { free(p); return cudaSuccess; }
static inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind) { memmove(d, s, n); return cudaSuccess; }
static inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind, cudaStream_t st = nullptr) {
  moec_emu::enqueue(st, [=] { memmove(d, s, n); });
  return cudaSuccess;
}
static inline cudaError_t cudaMemset(void *d, int v, size_t n) { memset(d, v, n); return cudaSuccess; }
static inline cudaError_t cudaMemsetAsync(void *d, int v, size_t n, cudaStream_t st = nullptr) {
  moec_emu::enqueue(st, [=] { memset(d, v, n); });
  return cudaSuccess;
}
static inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) { *s = new moec_emu_stream(); return cudaSuccess; }
static inline cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, 0); }
static inline cudaError_t cudaStreamDestroy(cudaStream_t s) { delete s; return cudaSuccess; }
static inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
static inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
static inline cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  moec_emu_stream *st = moec_emu::stream(s);
  if (st->capturing) return cudaErrorStreamCaptureUnsupported;
  st->capturing = new moec_emu_graph();
  return cudaSuccess;
}
static inline cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
  moec_emu_stream *st = moec_emu::stream(s);
  *g = st->capturing;
  st->capturing = nullptr;
  return *g ? cudaSuccess : cudaErrorInvalidValue;
}
static inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long = 0) {
  *e = new moec_emu_graph(*g);
  return cudaSuccess;
}
static inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  for (auto &op : e->ops) moec_emu::enqueue(s, op);
  return cudaSuccess;
}
static inline cudaError_t cudaGraphDestroy(cudaGraph_t g) { delete g; return cudaSuccess; }
static inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) { delete e; return cudaSuccess; }
static inline cudaError_t cudaEventCreate(cudaEvent_t *e) { *e = new moec_emu_event{0}; return cudaSuccess; }
static inline cudaError_t cudaEventDestroy(cudaEvent_t e) { delete e; return cudaSuccess; }
static inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = nullptr) { e->t = 0; return cudaSuccess; }
static inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
static inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) { *ms = float(b->t - a->t); return cudaSuccess; }
template <class F> cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int) { return cudaSuccess; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
