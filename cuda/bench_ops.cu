// bench_op (bench.h) on the GPU: one shipping kernel at one shape, timed with CUDA events.
// Inputs are uniform random in [-1, 1) (dropout.h's counter generator), never zeros; when the inputs of
// one repeat are small enough to stay in L2, repeats rotate among three input sets.
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "adamw.cuh"
#include "attention.cuh"
#include "classifier.cuh"
#include "common.cuh"
#include "cuda_backend.h"
#include "engine/dropout.h"
#include "engine/errors.h"
#include "linear.cuh"
#include "layernorm.cuh"

namespace mypt {
namespace cuda {

namespace {

// x[i] = scale * (2 u(seed, i) - 1)
template <typename T>
__global__ void fill_uniform_kernel(T* x, int64_t n, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    x[i] = from_f<T>(scale * (2.0f * uniform01(seed, (uint64_t)i) - 1.0f));
}

__global__ void fill_targets_kernel(int32_t* t, int64_t n, uint64_t seed, int V) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    t[i] = (int32_t)(uniform01(seed, (uint64_t)i) * V) % V;
}

// Device buffers freed on every exit path.
struct Buffers {
  std::vector<std::pair<void*, size_t>> ptrs;
  int64_t bytes = 0;
  template <typename T>
  T* alloc(int64_t n) {
    void* p = cuda_malloc((size_t)n * sizeof(T), "a bench input");
    ptrs.emplace_back(p, (size_t)n * sizeof(T));
    bytes += n * (int64_t)sizeof(T);
    return (T*)p;
  }
  ~Buffers() {
    for (auto& [p, b] : ptrs) cuda_free(p, b);
  }
};

template <typename T>
void fill(T* x, int64_t n, uint64_t seed, float scale = 1.0f) {
  fill_uniform_kernel<T><<<1024, 256>>>(x, n, seed, scale);
  CUDA_CHECK_LAUNCH("fill_uniform_kernel");
}

struct Events {
  cudaEvent_t a, b;
  Events() {
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
  }
  ~Events() {
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  }
};

// Runs once(set) warmup + repeats times on the default stream, timing each repeat with events.
template <class F>
void time_repeats(OpBenchResult& r, const OpBenchRequest& q, int sets, F&& once) {
  Events ev;
  for (int i = 0; i < q.warmup; i++) once(i % sets);
  CUDA_CHECK(cudaDeviceSynchronize());
  for (int i = 0; i < q.repeats; i++) {
    CUDA_CHECK(cudaEventRecord(ev.a, 0));
    once(i % sets);
    CUDA_CHECK(cudaEventRecord(ev.b, 0));
    CUDA_CHECK(cudaEventSynchronize(ev.b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, ev.a, ev.b));
    r.ms.push_back(ms);
  }
}

constexpr int64_t kRotateBelowBytes = 96ll << 20;  // about twice an H100's L2

template <typename T>
void bench_typed(OpBenchResult& r, const OpBenchRequest& q) {
  Buffers buf;
  const uint64_t seed = q.seed;
  if (q.op == "matmul") {
    const int M = (int)q.M, K = (int)q.K, N = (int)q.N;
    if (M <= 0 || K <= 0 || N <= 0) throw std::invalid_argument("bench matmul: M, K, N must be positive");
    const int sets = (int64_t)(M + N) * K * sizeof(T) < kRotateBelowBytes ? 3 : 1;
    std::vector<T*> a(sets), w(sets);
    for (int s = 0; s < sets; s++) {
      a[s] = buf.alloc<T>((int64_t)M * K), w[s] = buf.alloc<T>((int64_t)N * K);
      fill(a[s], (int64_t)M * K, seed + 2 * s), fill(w[s], (int64_t)N * K, seed + 2 * s + 1, 0.05f);
    }
    T* out = buf.alloc<T>((int64_t)M * N);
    Gemm g(true);
    r.flops = 2.0 * M * K * N;
    r.bytes = (double)sizeof(T) * ((double)M * K + (double)N * K + (double)M * N);
    time_repeats(r, q, sets, [&](int s) { linear_forward<T>(g, out, a[s], w[s], (const T*)nullptr, M, K, N, 0); });
  } else if (q.op == "attention_fwd" || q.op == "attention_fwd_bwd") {
    const int B = (int)q.B, H = (int)q.H, T_ = (int)q.T, D = (int)q.D, C = H * D;
    if (B <= 0 || H <= 0 || T_ <= 0 || D <= 0) throw std::invalid_argument("bench attention: B, H, T, D must be positive");
    const bool bwd = q.op == "attention_fwd_bwd";
    const int64_t n_qkv = (int64_t)B * T_ * 3 * C, n_out = (int64_t)B * T_ * C;
    T* qkv = buf.alloc<T>(n_qkv);
    T* out = buf.alloc<T>(n_out);
    float* lse = buf.alloc<float>((int64_t)B * H * T_);
    T* dout = bwd ? buf.alloc<T>(n_out) : nullptr;
    T* dqkv = bwd ? buf.alloc<T>(n_qkv) : nullptr;
    float* scratch = bwd ? (float*)buf.alloc<char>((int64_t)attention_backward_scratch_bytes(B, T_, C, H)) : nullptr;
    fill(qkv, n_qkv, seed);
    if (bwd) fill(dout, n_out, seed + 1);
    const float scale = 1.0f / std::sqrt((float)D);
    r.flops = 2.0 * B * H * (double)T_ * T_ * D * (bwd ? 3.5 : 1.0);
    time_repeats(r, q, 1, [&](int) {
      if constexpr (std::is_same<T, bf16>::value) {
        attention_forward_bf16(out, lse, qkv, B, T_, C, H, scale, 0.0f, 0, 0, 0);
        if (bwd) attention_backward_bf16(dqkv, dout, qkv, out, lse, B, T_, C, H, scale, 0.0f, 0, 0, scratch, 0);
      } else {
        attention_forward_f32(out, lse, qkv, B, T_, C, H, scale, 0.0f, 0, 0, 0);
        if (bwd) attention_backward_f32(dqkv, dout, qkv, out, lse, B, T_, C, H, scale, 0.0f, 0, 0, scratch, 0);
      }
    });
  } else if (q.op == "adamw") {
    const int64_t N = q.N;
    if (N <= 0) throw std::invalid_argument("bench adamw: N must be positive");
    float* p = buf.alloc<float>(N);
    float* grad = buf.alloc<float>(N);
    float* m = buf.alloc<float>(N);
    float* v = buf.alloc<float>(N);
    bf16* hi = buf.alloc<bf16>(N);
    uint16_t* lo = buf.alloc<uint16_t>(N);
    int64_t* starts = buf.alloc<int64_t>(2);
    uint8_t* decay = buf.alloc<uint8_t>(1);
    double* scratch = buf.alloc<double>(1024);
    float* norm = buf.alloc<float>(1);
    fill(p, N, seed), fill(grad, N, seed + 1, 1e-3f), fill(m, N, seed + 2, 1e-4f), fill(v, N, seed + 3, 1e-4f);
    const int64_t h_starts[2] = {0, N};
    const uint8_t h_decay = 1;
    CUDA_CHECK(cudaMemcpy(starts, h_starts, sizeof h_starts, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(decay, &h_decay, 1, cudaMemcpyHostToDevice));
    // v must be non-negative: square it once through the update's own math (fill gives |v| small)
    CUDA_CHECK(cudaMemset(v, 0, (size_t)N * sizeof(float)));
    split_masters(hi, lo, p, N, 0);  // a bf16 model's masters
    r.bytes = 28.0 * N;  // p (two halves), m, v, g in; p, m, v out
    int64_t t = 0;
    time_repeats(r, q, 1, [&](int) {
      global_norm(norm, grad, N, scratch, 0);
      adamw_update(Masters{nullptr, hi, lo}, m, v, grad, N, starts, decay, 1, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.1f, ++t, norm,
                   1.0f, 0);
    });
  } else if (q.op == "layernorm_fwd_bwd") {
    const int64_t M = q.M;
    const int C = (int)q.K;
    if (M <= 0 || C <= 0) throw std::invalid_argument("bench layernorm: M, K must be positive");
    T* x = buf.alloc<T>(M * C);
    T* y = buf.alloc<T>(M * C);
    T* dy = buf.alloc<T>(M * C);
    T* dx = buf.alloc<T>(M * C);
    T* w = buf.alloc<T>(C);
    T* b = buf.alloc<T>(C);
    float* mean = buf.alloc<float>(M);
    float* rstd = buf.alloc<float>(M);
    float* dw = buf.alloc<float>(C);
    float* db = buf.alloc<float>(C);
    float* scratch = buf.alloc<float>(layernorm_scratch_floats(M, C));
    fill(x, M * C, seed), fill(dy, M * C, seed + 1), fill(w, C, seed + 2), fill(b, C, seed + 3);
    r.bytes = (double)sizeof(T) * 5 * M * C;
    time_repeats(r, q, 1, [&](int) {
      residual_layernorm_forward<T>(nullptr, y, mean, rstd, x, nullptr, w, b, M, C, 1e-5f, 0.0f, 0, 0);
      layernorm_backward<T>(dx, dw, db, nullptr, dy, x, w, mean, rstd, M, C, scratch, 0);
    });
  } else if (q.op == "classifier") {
    const int64_t M = q.M;
    const int V = (int)q.N;
    if (M <= 0 || V <= 0) throw std::invalid_argument("bench classifier: M, N must be positive");
    float* logits = buf.alloc<float>(M * V);
    float* losses = buf.alloc<float>(M);
    int32_t* targets = buf.alloc<int32_t>(M);
    fill(logits, M * V, seed);
    fill_targets_kernel<<<256, 256>>>(targets, M, seed + 1, V);
    CUDA_CHECK_LAUNCH("fill_targets_kernel");
    r.bytes = 8.0 * M * V;
    // the gradient overwrites the logits in place; timing the same buffer again is the same work
    time_repeats(r, q, 1, [&](int) {
      crossentropy_forward_backward<float>(losses, logits, targets, M, V, 1.0f / (float)M, true, 0);
    });
  } else {
    throw std::invalid_argument("bench: unknown op '" + q.op + "'");
  }
  CUDA_CHECK(cudaDeviceSynchronize());
  r.peak_bytes = buf.bytes;
}

}  // namespace

OpBenchResult bench_op(const OpBenchRequest& q) {
  const std::string why = discover().reason;
  if (!why.empty()) throw BackendUnavailable("CUDA is not available: " + why);
  if (q.repeats <= 0 || q.warmup < 0) throw std::invalid_argument("bench: repeats must be positive");
  CUDA_CHECK(cudaSetDevice(0));
  OpBenchResult r;
  if (q.precision == Precision::FP32)
    bench_typed<float>(r, q);
  else
    bench_typed<bf16>(r, q);
  return r;
}

}  // namespace cuda
}  // namespace mypt
