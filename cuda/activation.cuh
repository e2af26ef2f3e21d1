// Elementwise activations (used where the activation is not fused into a GEMM epilogue).
//   forward:  out[i] = act(inp[i])                        (overwrites; out == inp allowed)
//   backward: dinp[i] = dout[i] * act'(inp[i])            (overwrites; dinp == dout allowed)
// act: ReLU max(x, 0) (gradient 0 at x = 0, as PyTorch); GELU exact x Phi(x), Phi(x) = 0.5 erfc(-x / sqrt 2);
// GELU-tanh 0.5 x (1 + tanh u) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3). Math in fp32, storage fp32 or
// bf16. erfc and the sigmoid, not 1 + erf and 1 + tanh, which cancel for negative x (as cpu/ops.cc).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "engine/config.h"

namespace mypt {
namespace cuda {

// act(x) in fp32 for act = (int)Activation: the forward's math, shared with the kernels that fuse it (gemv.cu).
__device__ __forceinline__ float activation_f(int act, float x) {
  if (act == 0) return x > 0.0f ? x : 0.0f;
  if (act == 1) return 0.5f * x * erfcf(-x * 0.7071067811865476f);
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.0f + expf(-2.0f * u));
}

template <typename T>
void activation_forward(Activation act, T* out, const T* inp, int64_t N, cudaStream_t s);
template <typename T>
void activation_backward(Activation act, T* dinp, const T* inp, const T* dout, int64_t N, cudaStream_t s);
// activation_backward over M rows of N, and dbias[N] += the column sums of dinp as stored (the bias gradient of
// the layer before the activation, in the same pass); deterministic; scratch: colsum_scratch_floats(M, N).
template <typename T>
void activation_backward_bias(Activation act, T* dinp, const T* inp, const T* dout, int64_t M, int N, float* dbias,
                              float* scratch, cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
