// The linear layers (contract in linear.cuh) as products of gemm.cuh, the GEMV for a few rows, and the
// bias gradient: fused into the GEMM where the cuBLASLt plugin takes it, else a column sum.
#include "linear.cuh"

#include <cstdint>

#include "engine/config.h"
#include "gemv.cuh"
#include "layernorm.cuh"

namespace mypt {
namespace cuda {

namespace {
template <typename T> constexpr bool is_bf16() { return sizeof(T) == 2; }
}  // namespace

template <typename T>
void linear_forward(Gemm& g, T* out, const T* inp, const T* w, const T* bias, int M, int K, int N, cudaStream_t s,
                    Epilogue epi, T* aux) {
  if (gemv_fits(inp, w, M, K) && epi != Epilogue::DGeluTanh) {
    gemv_forward<T>(out, aux, inp, w, bias, M, K, N, epi == Epilogue::GeluTanh ? 1 + (int)Activation::GELUTanh : 0, s);
    return;
  }
  GemmArgs a;
  a.d = out; a.d_bf16 = is_bf16<T>(); a.a = w; a.b = inp; a.ab_bf16 = is_bf16<T>();
  a.transa = true; a.transb = false; a.m = N; a.n = M; a.k = K; a.lda = K; a.ldb = K; a.ldd = N;
  a.bias = bias; a.epilogue = epi; a.aux = aux;
  g.run(a, s);
}

template <typename T>
void linear_backward_input(Gemm& g, T* dinp, const T* dout, const T* w, int M, int K, int N, cudaStream_t s,
                           Epilogue epi, const T* aux) {
  GemmArgs a;
  a.d = dinp; a.d_bf16 = is_bf16<T>(); a.a = w; a.b = dout; a.ab_bf16 = is_bf16<T>();
  a.transa = false; a.transb = false; a.m = K; a.n = M; a.k = N; a.lda = K; a.ldb = N; a.ldd = K;
  a.epilogue = epi; a.aux = (void*)aux;
  g.run(a, s);
}

template <typename T>
void linear_backward_weight(Gemm& g, float* dw, const T* dout, const T* inp, int M, int K, int N, bool accumulate,
                            cudaStream_t s) {
  GemmArgs a;
  a.d = dw; a.d_bf16 = false; a.a = inp; a.b = dout; a.ab_bf16 = is_bf16<T>();
  a.transa = false; a.transb = true; a.m = K; a.n = N; a.k = M; a.lda = K; a.ldb = N; a.ldd = K;
  a.accumulate = accumulate;
  g.run(a, s);
}

template <typename T>
void linear_backward_weight_bias(Gemm& g, float* dw, float* dbias, const T* dout, const T* inp, int M, int K, int N,
                                 bool accumulate, float* colsum_scratch, cudaStream_t s) {
  // the bias gradient by a column sum after the GEMM: cuBLASLt's bias-gradient (BGRADB) epilogue measured slower
  // (H100, one call, a 124M B16 step: 30.43 ms median with it, 30.22 without; its own kernel 1.09 ms a step)
  linear_backward_weight<T>(g, dw, dout, inp, M, K, N, accumulate, s);
  if (dbias) column_sum<T>(dbias, dout, M, N, true, colsum_scratch, s);
}

#define INST(T)                                                                                              \
  template void linear_backward_weight_bias<T>(Gemm&, float*, float*, const T*, const T*, int, int, int, bool, \
                                               float*, cudaStream_t);                                       \
  template void linear_forward<T>(Gemm&, T*, const T*, const T*, const T*, int, int, int, cudaStream_t,     \
                                  Epilogue, T*);                                                            \
  template void linear_backward_input<T>(Gemm&, T*, const T*, const T*, int, int, int, cudaStream_t,        \
                                         Epilogue, const T*);                                               \
  template void linear_backward_weight<T>(Gemm&, float*, const T*, const T*, int, int, int, bool, cudaStream_t);
INST(float)
INST(bf16)
#undef INST

}  // namespace cuda
}  // namespace mypt
