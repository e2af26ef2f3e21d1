// The few-row product of gemv.cuh (generation).
#include "gemv.cuh"

#include "activation.cuh"

namespace mypt {
namespace cuda {

namespace {

template <typename T, int S>
__global__ void __launch_bounds__(256) gemv_kernel(T* out, T* aux, const T* inp, const T* w, const T* bias, int M,
                                                   int K, int N, int act) {
  __shared__ float part[8][kGemvMaxRows];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int sub = warp % S;  // this warp's share of K
  const int n = blockIdx.x * (8 / S) + warp / S;
  float acc[kGemvMaxRows] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (n < N) {
    const T* wr = w + (int64_t)n * K;
    const int step = 256 * S;
#pragma unroll 2
    for (int k = (sub * 32 + lane) * 8; k < K; k += step) {
      float wv[8];
      load8(wv, wr + k);
#pragma unroll
      for (int m = 0; m < kGemvMaxRows; m++) {
        if (m >= M) break;
        float xv[8];
        load8(xv, inp + (int64_t)m * K + k);
#pragma unroll
        for (int e = 0; e < 8; e++) acc[m] = fmaf(wv[e], xv[e], acc[m]);
      }
    }
  }
#pragma unroll
  for (int m = 0; m < kGemvMaxRows; m++) acc[m] = warp_sum(acc[m]);
  if (S > 1) {
    if (lane == 0)
      for (int m = 0; m < kGemvMaxRows; m++) part[warp][m] = acc[m];
    __syncthreads();
    if (sub != 0) return;
    for (int m = 0; m < kGemvMaxRows; m++) {
      float t = 0.0f;
      for (int j = 0; j < S; j++) t += part[warp + j][m];
      acc[m] = t;
    }
  }
  if (n >= N || lane != 0) return;
#pragma unroll
  for (int m = 0; m < kGemvMaxRows; m++) {
    if (m >= M) break;
    float v = acc[m];
    if (bias) v += to_f(bias[n]);
    if (act) {
      aux[(int64_t)m * N + n] = from_f<T>(v);
      v = activation_f(act - 1, to_f(from_f<T>(v)));  // of the stored pre-activation, as the unfused path
    }
    out[(int64_t)m * N + n] = from_f<T>(v);
  }
}

}  // namespace

// S warps per column: enough blocks that every SM has several (132 SMs on an H100).
template <typename T>
void gemv_forward(T* out, T* aux, const T* inp, const T* w, const T* bias, int M, int K, int N, int act, cudaStream_t s) {
  const int S = N >= 8192 ? 1 : N >= 4096 ? 2 : N >= 2048 ? 4 : 8;
  const unsigned blocks = ceil_div(N, 8 / S);
  switch (S) {
    case 1: gemv_kernel<T, 1><<<blocks, 256, 0, s>>>(out, aux, inp, w, bias, M, K, N, act); break;
    case 2: gemv_kernel<T, 2><<<blocks, 256, 0, s>>>(out, aux, inp, w, bias, M, K, N, act); break;
    case 4: gemv_kernel<T, 4><<<blocks, 256, 0, s>>>(out, aux, inp, w, bias, M, K, N, act); break;
    default: gemv_kernel<T, 8><<<blocks, 256, 0, s>>>(out, aux, inp, w, bias, M, K, N, act); break;
  }
  CUDA_CHECK_LAUNCH("gemv");
}

template void gemv_forward<float>(float*, float*, const float*, const float*, const float*, int, int, int, int,
                                 cudaStream_t);
template void gemv_forward<bf16>(bf16*, bf16*, const bf16*, const bf16*, const bf16*, int, int, int, int,
                                cudaStream_t);

}  // namespace cuda
}  // namespace mypt
