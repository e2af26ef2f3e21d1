// Activation kernels; contract in activation.cuh.
#include "activation.cuh"

#include <type_traits>

#include "layernorm.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

// act'(x): ReLU 1[x > 0]; GELU Phi(x) + x phi(x); GELU-tanh d/dx of x s, s = sigmoid(2u), u = sqrt(2/pi)(x + 0.044715 x^3):
// s + 2 x s (1 - s) u', with 1 - s = sigmoid(-2u) (as cpu/ops.cc: no 1 + erf, 1 + tanh or 1 - tanh^2 cancelling).
__device__ __forceinline__ float act_grad(int act, float x) {
  if (act == 0) return x > 0.0f ? 1.0f : 0.0f;
  if (act == 1) return 0.5f * erfcf(-x * kInvSqrt2) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
  const float x2 = x * x;
  const float u = kSqrt2OverPi * (x + 0.044715f * x2 * x);
  const float s = 1.0f / (1.0f + expf(-2.0f * u)), sc = 1.0f / (1.0f + expf(2.0f * u));
  return s + 2.0f * x * s * sc * kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x2);
}

// Both kernels: with vec, eight elements per thread through 16-byte loads over the first N - N % 8 elements,
// then the rest one per thread (all of them when !vec: unaligned views); grid-stride loops throughout. ACT
// is a template argument so the loop holds one activation's math. Each element is computed alone, so the
// result does not depend on the launch shape.
template <int ACT, typename T>
__global__ void activation_forward_kernel(T* out, const T* inp, int64_t N, bool vec) {
  const int64_t n8 = vec ? N / 8 : 0, stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < n8; i += stride) {
    float x[8];
    load8(x, inp + 8 * i);
#pragma unroll
    for (int e = 0; e < 8; e++) x[e] = activation_f(ACT, x[e]);
    store8(out + 8 * i, x);
  }
  for (int64_t j = 8 * n8 + tid; j < N; j += stride) out[j] = from_f<T>(activation_f(ACT, to_f(inp[j])));
}

template <int ACT, typename T>
__global__ void activation_backward_kernel(T* dinp, const T* inp, const T* dout, int64_t N, bool vec) {
  const int64_t n8 = vec ? N / 8 : 0, stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < n8; i += stride) {
    float x[8], d[8];
    load8(x, inp + 8 * i);
    load8(d, dout + 8 * i);
#pragma unroll
    for (int e = 0; e < 8; e++) d[e] *= act_grad(ACT, x[e]);
    store8(dinp + 8 * i, d);
  }
  for (int64_t j = 8 * n8 + tid; j < N; j += stride) dinp[j] = from_f<T>(to_f(dout[j]) * act_grad(ACT, to_f(inp[j])));
}

// The backward over rows of N % 8 == 0 columns (16-byte accesses) with the column sums of what it stores,
// chunk by chunk of kRowsPerChunk rows into partial[chunk][c] (chunk_column_sums; reduce_column_partials
// finishes the sum).
constexpr int kRowsPerChunk = 64;
template <int ACT, typename T>
__global__ void __launch_bounds__(kChunkWarps * 32)
    activation_backward_colsum_kernel(T* dinp, float* partial, const T* inp, const T* dout, int64_t M, int N) {
  chunk_column_sums<2>(partial, M, N, kRowsPerChunk, [&](int64_t r, int c0, float (&d)[8]) {
    float x[8];
    load8(x, inp + r * N + c0);
    load8(d, dout + r * N + c0);
#pragma unroll
    for (int e = 0; e < 8; e++) d[e] = to_f(from_f<T>(d[e] * act_grad(ACT, x[e])));  // as stored
    store8(dinp + r * N + c0, d);
  });
}

// One thread per eight elements (per element when !vec), at most 65,536 blocks of 256; the loops cover the rest.
unsigned grid_for(int64_t N, bool vec) {
  const int64_t per = vec ? 8 : 1;
  const int64_t g = (N / per + 255) / 256;
  return (unsigned)(g > 65536 ? 65536 : (g < 1 ? 1 : g));
}

bool aligned16(const void* a, const void* b, const void* c) {
  return ((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) % 16 == 0;
}

// launch(std::integral_constant<int, ACT>()) with the activation as the kernels' template argument.
template <typename F>
void with_act(Activation act, F&& launch) {
  switch (act) {
    case Activation::ReLU: launch(std::integral_constant<int, 0>()); break;
    case Activation::GELU: launch(std::integral_constant<int, 1>()); break;
    default: launch(std::integral_constant<int, 2>()); break;
  }
}

}  // namespace

template <typename T>
void activation_forward(Activation act, T* out, const T* inp, int64_t N, cudaStream_t s) {
  if (N <= 0) return;
  const bool vec = aligned16(out, inp, nullptr);
  const unsigned g = grid_for(N, vec);
  with_act(act, [&](auto a) { activation_forward_kernel<a.value, T><<<g, 256, 0, s>>>(out, inp, N, vec); });
  CUDA_CHECK_LAUNCH("activation_forward");
}

template <typename T>
void activation_backward(Activation act, T* dinp, const T* inp, const T* dout, int64_t N, cudaStream_t s) {
  if (N <= 0) return;
  const bool vec = aligned16(dinp, inp, dout);
  const unsigned g = grid_for(N, vec);
  with_act(act, [&](auto a) { activation_backward_kernel<a.value, T><<<g, 256, 0, s>>>(dinp, inp, dout, N, vec); });
  CUDA_CHECK_LAUNCH("activation_backward");
}

template <typename T>
void activation_backward_bias(Activation act, T* dinp, const T* inp, const T* dout, int64_t M, int N, float* dbias,
                              float* scratch, cudaStream_t s) {
  if (M <= 0 || N <= 0) return;
  if (N % 8 != 0 || !aligned16(dinp, inp, dout)) {
    activation_backward<T>(act, dinp, inp, dout, M * N, s);
    column_sum<T>(dbias, dinp, M, N, true, scratch, s);
    return;
  }
  const int64_t nch = (M + kRowsPerChunk - 1) / kRowsPerChunk;
  const dim3 grid(ceil_div(N, 256), (unsigned)nch);
  with_act(act, [&](auto a) {
    activation_backward_colsum_kernel<a.value, T><<<grid, kChunkWarps * 32, 0, s>>>(dinp, scratch, inp, dout, M, N);
  });
  CUDA_CHECK_LAUNCH("activation_backward_bias");
  reduce_column_partials(dbias, scratch, nch, N, true, s);
}

template void activation_forward<float>(Activation, float*, const float*, int64_t, cudaStream_t);
template void activation_forward<bf16>(Activation, bf16*, const bf16*, int64_t, cudaStream_t);
template void activation_backward<float>(Activation, float*, const float*, const float*, int64_t, cudaStream_t);
template void activation_backward<bf16>(Activation, bf16*, const bf16*, const bf16*, int64_t, cudaStream_t);
template void activation_backward_bias<float>(Activation, float*, const float*, const float*, int64_t, int, float*,
                                              float*, cudaStream_t);
template void activation_backward_bias<bf16>(Activation, bf16*, const bf16*, const bf16*, int64_t, int, float*, float*,
                                             cudaStream_t);

}  // namespace cuda
}  // namespace mypt
