// Few-row products (generation: M <= kGemvMaxRows rows), memory-bound on the weights:
//   out[M, N] = inp[M, K] @ w[N, K]^T (+ bias[N])                      (PyTorch F.linear, row-major)
//   act != 0: aux[M, N] = that pre-activation (as stored, rounded to T), out = activation act - 1 of it
//             (act = 1 + (int)Activation: activation.cuh's activation_f)
// A group of S warps per output column n reads w[n, :] once with 16-byte loads (two in flight per lane)
// and serves every row; the S warps split K and add their partial sums in shared memory (S = 8 / columns
// per 256-thread block, more warps per column when there are few columns, so that every SM has loads in
// flight); fp32 accumulation, then bias and the optional GELU-tanh. Needs 1 <= M <= kGemvMaxRows,
// K % 8 == 0 and 16-byte aligned inp and w (gemv_fits); linear_forward (linear.cuh) chooses it.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace mypt {
namespace cuda {

constexpr int kGemvMaxRows = 4;

// Whether the GEMV takes this product.
inline bool gemv_fits(const void* inp, const void* w, int M, int K) {
  return M >= 1 && M <= kGemvMaxRows && K % 8 == 0 && ((uintptr_t)inp | (uintptr_t)w) % 16 == 0;
}

template <typename T>
void gemv_forward(T* out, T* aux, const T* inp, const T* w, const T* bias, int M, int K, int N, int act,
                  cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
