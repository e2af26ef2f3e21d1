// The linear layers of the models: row-major PyTorch-layout tensors (weight [N, K], rows of activations),
// products through gemm.cuh. T is fp32 or bf16 (fp32 accumulation either way).
//   linear_forward:              out[M, N] = inp[M, K] @ w[N, K]^T (+ bias[N])        (overwrites)
//                                epi GeluTanh: aux = that pre-activation, out = gelu_tanh(aux);
//                                1..4 rows (generation) run the GEMV of gemv.cuh (weights read once)
//   linear_backward_input:       dinp[M, K] = dout[M, N] @ w[N, K]                      (overwrites)
//                                epi DGeluTanh: dinp = that product * gelu_tanh'(aux)
//   linear_backward_weight:      dw[N, K] (= | +=) dout[M, N]^T @ inp[M, K]           (dw fp32)
//   linear_backward_weight_bias: the same plus dbias[N] += sum over the M rows of dout (fp32), a
//                                deterministic column sum after the GEMM (`colsum_scratch`:
//                                colsum_scratch_floats(M, N) floats, layernorm.cuh)
#pragma once
#include <cuda_runtime.h>

#include "common.cuh"
#include "gemm.cuh"

namespace mypt {
namespace cuda {

template <typename T>
void linear_forward(Gemm& g, T* out, const T* inp, const T* w, const T* bias, int M, int K, int N,
                    cudaStream_t s, Epilogue epi = Epilogue::None, T* aux = nullptr);
template <typename T>
void linear_backward_input(Gemm& g, T* dinp, const T* dout, const T* w, int M, int K, int N, cudaStream_t s,
                           Epilogue epi = Epilogue::None, const T* aux = nullptr);
template <typename T>
void linear_backward_weight(Gemm& g, float* dw, const T* dout, const T* inp, int M, int K, int N,
                            bool accumulate, cudaStream_t s);
template <typename T>
void linear_backward_weight_bias(Gemm& g, float* dw, float* dbias, const T* dout, const T* inp, int M, int K, int N,
                                 bool accumulate, float* colsum_scratch, cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
