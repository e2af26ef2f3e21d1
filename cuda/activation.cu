// Activation kernels; contract in activation.cuh.
#include "activation.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

__device__ __forceinline__ float act_grad(int act, float x) {
  if (act == 0) return x > 0.0f ? 1.0f : 0.0f;
  if (act == 1) return 0.5f * (1.0f + erff(x * kInvSqrt2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
  const float x2 = x * x;
  const float u = kSqrt2OverPi * (x + 0.044715f * x2 * x);
  const float th = tanhf(u);
  return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x2);
}

template <typename T>
__global__ void activation_forward_kernel(int act, T* out, const T* inp, int64_t N) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = from_f<T>(activation_f(act, to_f(inp[i])));
}

template <typename T>
__global__ void activation_backward_kernel(int act, T* dinp, const T* inp, const T* dout, int64_t N) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x)
    dinp[i] = from_f<T>(to_f(dout[i]) * act_grad(act, to_f(inp[i])));
}

unsigned grid_for(int64_t N) {
  int64_t g = (N + 255) / 256;
  return (unsigned)(g > 65536 ? 65536 : (g < 1 ? 1 : g));
}

}  // namespace

template <typename T>
void activation_forward(Activation act, T* out, const T* inp, int64_t N, cudaStream_t s) {
  if (N <= 0) return;
  activation_forward_kernel<T><<<grid_for(N), 256, 0, s>>>((int)act, out, inp, N);
  CUDA_CHECK_LAUNCH("activation_forward");
}

template <typename T>
void activation_backward(Activation act, T* dinp, const T* inp, const T* dout, int64_t N, cudaStream_t s) {
  if (N <= 0) return;
  activation_backward_kernel<T><<<grid_for(N), 256, 0, s>>>((int)act, dinp, inp, dout, N);
  CUDA_CHECK_LAUNCH("activation_backward");
}

template void activation_forward<float>(Activation, float*, const float*, int64_t, cudaStream_t);
template void activation_forward<bf16>(Activation, bf16*, const bf16*, int64_t, cudaStream_t);
template void activation_backward<float>(Activation, float*, const float*, const float*, int64_t, cudaStream_t);
template void activation_backward<bf16>(Activation, bf16*, const bf16*, const bf16*, int64_t, cudaStream_t);

}  // namespace cuda
}  // namespace mypt
