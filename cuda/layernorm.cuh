// Fused residual-add + LayerNorm (forward) and LayerNorm backward, over rows of C values.
//
// residual_layernorm_forward:
//   if inp2: residual[BT, C] = inp1 + dropout(inp2)   (overwritten; dropout p with the counter-based mask
//            of dropout.h on the flat index of inp2, seed `seed`; p = 0: none)
//            x = residual (as stored, i.e. rounded to T)
//   else:    x = inp1 (residual untouched, may be null)
//   mean[BT], rstd[BT] = statistics of x (fp32, biased variance, eps);  out = (x - mean) * rstd * w (+ b)
// layernorm_backward (x the LayerNorm input, n = (x - mean) * rstd, g = dout * w):
//   dinp[BT, C] += rstd * (g - mean(g) - n * mean(g * n))        (accumulates, T storage)
//   dweight[C] += sum_rows dout * n;  dbias[C] += sum_rows dout    (fp32, accumulate; dbias may be null)
//   dsum[C] += sum_rows dinp as stored after the update (may be null): the residual stream's gradient summed,
//   i.e. the bias gradient of the projection that adds into the stream, without another pass over it
//   deterministic: fixed row chunks reduced in a fixed order; `scratch` needs layernorm_scratch_floats(BT, C).
// column_sum (a matmul's bias gradient): out[N] (= or +=) sum over M rows of x[M, N], deterministic;
//   `scratch` needs colsum_scratch_floats(M, N).
// reduce_column_partials: out[N] (= or +=) sum over k < nch of partial[k][N] in a fixed order (the second
//   half of a column sum whose partials another kernel wrote).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace mypt {
namespace cuda {

int64_t colsum_scratch_floats(int64_t rows, int cols);
int64_t layernorm_scratch_floats(int64_t rows, int C);
void reduce_column_partials(float* out, const float* partial, int64_t nch, int N, bool accumulate, cudaStream_t s);

// The column sums of one chunk of rows, for kernels launched as blocks of kChunkWarps warps over grid
// (ceil(N / 256), chunks) with N % 8 == 0: block (bx, chunk) takes columns bx * 256 + 8 lane .. + 7 of rows
// chunk * rows .. + rows - 1, warp w the rows r0 + w, r0 + w + kChunkWarps, ... in order; row_op(r, c0, v)
// computes (and may store) row r's eight values v (the row loop unrolled UNROLL times); the warps' sums are added in warp order into
// partial[chunk][c] (deterministic). column_sum's vectorized kernel and the activation backward use it.
constexpr int kChunkWarps = 8;
template <int UNROLL, typename RowOp>
__device__ __forceinline__ void chunk_column_sums(float* partial, int64_t M, int N, int rows, RowOp row_op) {
  __shared__ float sums[kChunkWarps][256];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int c0 = blockIdx.x * 256 + 8 * lane;
  const int64_t r0 = (int64_t)blockIdx.y * rows;
  const int64_t r1 = r0 + rows < M ? r0 + rows : M;
  float acc[8] = {};
  if (c0 < N) {
#pragma unroll UNROLL
    for (int64_t r = r0 + warp; r < r1; r += kChunkWarps) {
      float v[8];
      row_op(r, c0, v);
#pragma unroll
      for (int e = 0; e < 8; e++) acc[e] += v[e];
    }
  }
#pragma unroll
  for (int e = 0; e < 8; e++) sums[warp][8 * lane + e] = acc[e];
  __syncthreads();
  const int c = blockIdx.x * 256 + threadIdx.x;
  if (c < N) {
    float t = 0.0f;
#pragma unroll
    for (int w = 0; w < kChunkWarps; w++) t += sums[w][threadIdx.x];
    partial[(int64_t)blockIdx.y * N + c] = t;
  }
}

template <typename T>
void residual_layernorm_forward(T* residual, T* out, float* mean, float* rstd, const T* inp1, const T* inp2,
                                const T* weight, const T* bias, int64_t BT, int C, float eps, float dropout_p,
                                uint64_t dropout_seed, cudaStream_t s);

template <typename T>
void layernorm_backward(T* dinp, float* dweight, float* dbias, float* dsum, const T* dout, const T* inp,
                        const T* weight, const float* mean, const float* rstd, int64_t BT, int C, float* scratch,
                        cudaStream_t s);

template <typename T>
void column_sum(float* out, const T* x, int64_t M, int N, bool accumulate, float* scratch, cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
