// Classifier kernels; contract in classifier.cuh. One block per row. Rows up to 53,248 logits of bf16 are held
// in registers (one read); longer rows take two passes: an online max / sum of exponentials per thread,
// merged across the block, then the gradient written over the same row.
#include <cstdint>

#include "classifier.cuh"

namespace mypt {
namespace cuda {

namespace {

// Merges every thread's (running max m, sum of exp(x - m)) into the row's (M, S), the same on all
// threads: across the warp by shuffles, then across warps in warp order. Contains __syncthreads.
__device__ __forceinline__ void block_merge_max_sum(float m, float s, float& M, float& S) {
  __shared__ float sh_m[32], sh_s[32];
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    const float mm = fmaxf(m, m2);
    s = (m == -INFINITY ? 0.0f : s * expf(m - mm)) + (m2 == -INFINITY ? 0.0f : s2 * expf(m2 - mm));
    m = mm;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) {
    sh_m[warp] = m;
    sh_s[warp] = s;
  }
  __syncthreads();
  M = -INFINITY;
  for (int w = 0; w < nw; w++) M = fmaxf(M, sh_m[w]);
  S = 0.0f;
  for (int w = 0; w < nw; w++) S += sh_m[w] == -INFINITY ? 0.0f : sh_s[w] * expf(sh_m[w] - M);
}

template <typename T>
__global__ void __launch_bounds__(512) crossentropy_kernel(float* losses, T* logits, const int32_t* targets, int V,
                                                           float dloss, int write_grad) {
  const int64_t row = blockIdx.x;
  T* x = logits + row * V;
  float m = -INFINITY, s = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const float v = to_f(x[i]);
    if (v > m) {
      s = s * expf(m - v) + 1.0f;
      m = v;
    } else {
      s += expf(v - m);
    }
  }
  float M, S;
  block_merge_max_sum(m, s, M, S);
  const int tgt = targets[row];
  const float lse = M + logf(S);
  __syncthreads();  // everyone has read x[tgt] below before any gradient overwrites it
  const float xt = to_f(x[tgt]);
  if (threadIdx.x == 0) losses[row] = lse - xt;
  __syncthreads();
  if (!write_grad) return;
  const float inv = 1.0f / S;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const float p = expf(to_f(x[i]) - M) * inv;
    x[i] = from_f<T>((p - (i == tgt ? 1.0f : 0.0f)) * dloss);
  }
}

// Vectorized variant for V % 8 == 0 (16-byte aligned rows): 8 logits per load; same math.
template <typename T>
__global__ void __launch_bounds__(512) crossentropy_vec8_kernel(float* losses, T* logits, const int32_t* targets, int V,
                                                                float dloss, int write_grad) {
  const int64_t row = blockIdx.x;
  T* x = logits + row * V;
  const int V8 = V / 8;
  float m = -INFINITY, s = 0.0f;
  for (int q = threadIdx.x; q < V8; q += blockDim.x) {
    float v[8];
    load8(v, x + 8 * q);
    float mx = v[0];
#pragma unroll
    for (int e = 1; e < 8; e++) mx = fmaxf(mx, v[e]);
    const float mn = fmaxf(m, mx);
    float acc = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; e++) acc += expf(v[e] - mn);
    s = (m == -INFINITY ? 0.0f : s * expf(m - mn)) + acc;
    m = mn;
  }
  float M, S;
  block_merge_max_sum(m, s, M, S);
  const int tgt = targets[row];
  const float xt = to_f(x[tgt]);
  if (threadIdx.x == 0) losses[row] = M + logf(S) - xt;
  __syncthreads();
  if (!write_grad) return;
  const float inv = 1.0f / S;
  for (int q = threadIdx.x; q < V8; q += blockDim.x) {
    float v[8];
    load8(v, x + 8 * q);
#pragma unroll
    for (int e = 0; e < 8; e++) v[e] = (expf(v[e] - M) * inv - (8 * q + e == tgt ? 1.0f : 0.0f)) * dloss;
    store8(x + 8 * q, v);
  }
}

// The row held in registers for V % 8 == 0 and V <= 8 * 512 * NQ (53,248 of bf16, 32,768 of fp32): thread t
// loads its pieces q = t + 512 j (j < NQ) of 8 logits before any math, so the row is read from memory once
// with all its loads in flight;
// then the exact row max M, S = sum exp(x - M), and the gradient (softmax - onehot) * dloss from the same
// registers. The same quantities as the kernels above (no running rescale needed).
template <typename T, int NQ>
__global__ void __launch_bounds__(512) crossentropy_regs_kernel(float* losses, T* logits, const int32_t* targets,
                                                                int V, float dloss, int write_grad) {
  __shared__ float red[32];
  const int64_t row = blockIdx.x;
  T* x = logits + row * V;
  const int V8 = V / 8;
  Raw8<T> r[NQ];
#pragma unroll
  for (int j = 0; j < NQ; j++)
    if (threadIdx.x + 512 * j < V8) r[j].load(x + 8 * (threadIdx.x + 512 * j));
  const int tgt = targets[row];
  const float xt = threadIdx.x == 0 ? to_f(x[tgt]) : 0.0f;  // read before the barriers below, so before any write
  // f(x) for each of this thread's logits, in order
  const auto each = [&](auto&& f) {
#pragma unroll
    for (int j = 0; j < NQ; j++) {
      if (threadIdx.x + 512 * j >= V8) break;
      float v[8];
      r[j].unpack(v);
#pragma unroll
      for (int e = 0; e < 8; e++) f(v[e]);
    }
  };
  float m = -INFINITY;
  each([&](float v) { m = fmaxf(m, v); });
  const float M = block_max(m, red);
  float s = 0.0f;
  each([&](float v) { s += expf(v - M); });
  const float S = block_sum(s, red);
  if (threadIdx.x == 0) losses[row] = M + logf(S) - xt;
  if (!write_grad) return;
  const float inv = 1.0f / S;
#pragma unroll
  for (int j = 0; j < NQ; j++) {
    const int q = threadIdx.x + 512 * j;
    if (q >= V8) break;
    float v[8];
    r[j].unpack(v);
#pragma unroll
    for (int e = 0; e < 8; e++) v[e] = (expf(v[e] - M) * inv - (8 * q + e == tgt ? 1.0f : 0.0f)) * dloss;
    store8(x + 8 * q, v);
  }
}

__global__ void mean_loss_kernel(float* out, const float* losses, int64_t N) {
  __shared__ double sh[1024];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s += losses[i];
  s = block_sum_fixed(s, sh);
  if (threadIdx.x == 0) out[0] = (float)(s / (double)N);
}

}  // namespace

template <typename T>
void crossentropy_forward_backward(float* losses, T* logits, const int32_t* targets, int64_t BT, int V,
                                   float dloss, bool write_grad, cudaStream_t s) {
  if (BT <= 0) return;
  const bool vec = V % 8 == 0 && (uintptr_t)logits % 16 == 0;
  const int nq = (V / 8 + 511) / 512;  // pieces of 8 per thread of 512
#define CE_REGS(N) \
  crossentropy_regs_kernel<T, N><<<(unsigned)BT, 512, 0, s>>>(losses, logits, targets, V, dloss, write_grad ? 1 : 0)
  constexpr int kMaxNq = sizeof(T) == 2 ? 13 : 8;  // the most registers allow: GPT-2's 50,304 bf16 logits
  if (vec && nq <= 4) CE_REGS(4);
  else if (vec && nq <= 8) CE_REGS(8);
  else if (vec && nq <= kMaxNq) CE_REGS(kMaxNq);
  else if (vec)
    crossentropy_vec8_kernel<T><<<(unsigned)BT, 512, 0, s>>>(losses, logits, targets, V, dloss, write_grad ? 1 : 0);
  else
    crossentropy_kernel<T><<<(unsigned)BT, 512, 0, s>>>(losses, logits, targets, V, dloss, write_grad ? 1 : 0);
#undef CE_REGS
  CUDA_CHECK_LAUNCH("crossentropy_forward_backward");
}

void mean_loss(float* out, const float* losses, int64_t N, cudaStream_t s) {
  mean_loss_kernel<<<1, 1024, 0, s>>>(out, losses, N);
  CUDA_CHECK_LAUNCH("mean_loss");
}

template void crossentropy_forward_backward<float>(float*, float*, const int32_t*, int64_t, int, float, bool,
                                                   cudaStream_t);
template void crossentropy_forward_backward<bf16>(float*, bf16*, const int32_t*, int64_t, int, float, bool,
                                                  cudaStream_t);

}  // namespace cuda
}  // namespace mypt
