// LayerNorm kernels; contract in layernorm.cuh. One warp per row (fp32 statistics, two passes for the
// variance); parameter gradients by fixed row chunks, then one ordered reduction (no atomics).
#include <algorithm>
#include <cstdint>

#include "engine/dropout.h"
#include "layernorm.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr int kRowsPerChunk = 64;

int64_t n_chunks(int64_t rows) {
  int64_t c = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  return c < 1 ? 1 : c;
}

template <typename T>
__global__ void residual_layernorm_forward_kernel(T* residual, T* out, float* mean, float* rstd, const T* inp1,
                                                  const T* inp2, const T* weight, const T* bias, int64_t BT, int C,
                                                  float eps, float p, uint64_t seed) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= BT) return;
  const int64_t base = row * C;
  const T* x = inp1 + base;
  float sum = 0.0f;
  if (inp2) {
    const float keep_scale = 1.0f / (1.0f - p);
    for (int c = lane; c < C; c += 32) {
      float b = to_f(inp2[base + c]);
      if (p > 0.0f) b = dropout_keep(seed, (uint64_t)(base + c), p) ? b * keep_scale : 0.0f;
      const T r = from_f<T>(to_f(inp1[base + c]) + b);
      residual[base + c] = r;
      sum += to_f(r);
    }
    x = residual + base;
  } else {
    for (int c = lane; c < C; c += 32) sum += to_f(x[c]);
  }
  const float mu = warp_sum(sum) / C;
  float var = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float d = to_f(x[c]) - mu;
    var += d * d;
  }
  const float rs = rsqrtf(warp_sum(var) / C + eps);
  for (int c = lane; c < C; c += 32) {
    float v = (to_f(x[c]) - mu) * rs * to_f(weight[c]);
    if (bias) v += to_f(bias[c]);
    out[base + c] = from_f<T>(v);
  }
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

// The same computation for C <= 32 * NV, bit for bit (each lane sums its columns lane + 32k in k order,
// then the warp's butterfly), with the row held in registers: every load of a row is issued before the
// first sum, so a row costs one memory latency instead of one per column step (the loop above waits on
// each load, as its stores may alias the next loads). Generation normalises one row per launch: this is
// what makes that launch short.
template <typename T, int NV>
__global__ void residual_layernorm_forward_reg_kernel(T* residual, T* out, float* mean, float* rstd, const T* inp1,
                                                      const T* inp2, const T* weight, const T* bias, int64_t BT,
                                                      int C, float eps, float p, uint64_t seed) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= BT) return;
  const int64_t base = row * C;
  float v[NV], w[NV], b[NV];
#pragma unroll
  for (int k = 0; k < NV; k++) {
    const int c = lane + 32 * k;
    v[k] = c < C ? to_f(inp1[base + c]) : 0.0f;
    b[k] = c < C && inp2 ? to_f(inp2[base + c]) : 0.0f;
    w[k] = c < C ? to_f(weight[c]) : 0.0f;
  }
  float sum = 0.0f;
  if (inp2) {
    const float keep_scale = 1.0f / (1.0f - p);
#pragma unroll
    for (int k = 0; k < NV; k++) {
      const int c = lane + 32 * k;
      if (c >= C) break;
      float d = b[k];
      if (p > 0.0f) d = dropout_keep(seed, (uint64_t)(base + c), p) ? d * keep_scale : 0.0f;
      const T r = from_f<T>(v[k] + d);
      residual[base + c] = r;
      v[k] = to_f(r);
      sum += v[k];
    }
  } else {
#pragma unroll
    for (int k = 0; k < NV; k++)
      if (lane + 32 * k < C) sum += v[k];
  }
#pragma unroll
  for (int k = 0; k < NV; k++) b[k] = bias && lane + 32 * k < C ? to_f(bias[lane + 32 * k]) : 0.0f;
  const float mu = warp_sum(sum) / C;
  float var = 0.0f;
#pragma unroll
  for (int k = 0; k < NV; k++) {
    if (lane + 32 * k >= C) break;
    const float d = v[k] - mu;
    var += d * d;
  }
  const float rs = rsqrtf(warp_sum(var) / C + eps);
#pragma unroll
  for (int k = 0; k < NV; k++) {
    const int c = lane + 32 * k;
    if (c >= C) break;
    float o = (v[k] - mu) * rs * w[k];
    if (bias) o += b[k];
    out[base + c] = from_f<T>(o);
  }
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

// Fused LayerNorm backward for C % 8 == 0 and C <= 256 * NCH: a warp per row (rows strided over a fixed
// grid), lane l owning columns 8l + 256k, k < NCH, for every row it visits, so the parameter gradients
// accumulate in registers; per block the warps' sums are added in warp order into partial[block][C]
// (dweight) and partial[nblocks + block][C] (dbias). Deterministic for a given grid.
constexpr int kLnWarps = 8;
template <int NCH, typename T>
__global__ void __launch_bounds__(kLnWarps * 32) layernorm_backward_fused_kernel(T* dinp, float* partial, const T* dout,
                                                                                const T* inp, const T* weight,
                                                                                const float* mean, const float* rstd,
                                                                                int64_t BT, int C) {
  extern __shared__ float sh[];  // [kLnWarps][2][C]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float w[NCH][8], gw[NCH][8], gb[NCH][8];
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    const int c0 = 8 * lane + 256 * k;
#pragma unroll
    for (int e = 0; e < 8; e++) gw[k][e] = gb[k][e] = 0.0f;
    if (c0 < C) load8(w[k], weight + c0);
  }
  for (int64_t row = (int64_t)blockIdx.x * kLnWarps + warp; row < BT; row += (int64_t)gridDim.x * kLnWarps) {
    const int64_t base = row * C;
    const float mu = mean[row], rs = rstd[row];
    float d[NCH][8], n[NCH][8];
    float sg = 0.0f, sgn = 0.0f;
#pragma unroll
    for (int k = 0; k < NCH; k++) {
      const int c0 = 8 * lane + 256 * k;
      if (c0 >= C) continue;
      float x[8];
      load8(d[k], dout + base + c0);
      load8(x, inp + base + c0);
#pragma unroll
      for (int e = 0; e < 8; e++) {
        n[k][e] = (x[e] - mu) * rs;
        const float g = d[k][e] * w[k][e];
        sg += g;
        sgn += g * n[k][e];
        gw[k][e] += d[k][e] * n[k][e];
        gb[k][e] += d[k][e];
      }
    }
    sg = warp_sum(sg) / C;
    sgn = warp_sum(sgn) / C;
#pragma unroll
    for (int k = 0; k < NCH; k++) {
      const int c0 = 8 * lane + 256 * k;
      if (c0 >= C) continue;
      float o[8];
      load8(o, dinp + base + c0);
#pragma unroll
      for (int e = 0; e < 8; e++) o[e] += rs * (d[k][e] * w[k][e] - sg - n[k][e] * sgn);
      store8(dinp + base + c0, o);
    }
  }
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    const int c0 = 8 * lane + 256 * k;
    if (c0 >= C) continue;
#pragma unroll
    for (int e = 0; e < 8; e++) {
      sh[(warp * 2) * C + c0 + e] = gw[k][e];
      sh[(warp * 2 + 1) * C + c0 + e] = gb[k][e];
    }
  }
  __syncthreads();
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float a = 0.0f, b = 0.0f;
    for (int wi = 0; wi < kLnWarps; wi++) {
      a += sh[(wi * 2) * C + c];
      b += sh[(wi * 2 + 1) * C + c];
    }
    partial[(int64_t)blockIdx.x * C + c] = a;
    partial[(int64_t)(gridDim.x + blockIdx.x) * C + c] = b;
  }
}

constexpr int kLnBlocks = 256;

template <typename T>
__global__ void layernorm_backward_input_kernel(T* dinp, const T* dout, const T* inp, const T* weight,
                                                const float* mean, const float* rstd, int64_t BT, int C) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= BT) return;
  const int64_t base = row * C;
  const float mu = mean[row], rs = rstd[row];
  float sg = 0.0f, sgn = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float n = (to_f(inp[base + c]) - mu) * rs;
    const float g = to_f(dout[base + c]) * to_f(weight[c]);
    sg += g;
    sgn += g * n;
  }
  sg = warp_sum(sg) / C;
  sgn = warp_sum(sgn) / C;
  for (int c = lane; c < C; c += 32) {
    const float n = (to_f(inp[base + c]) - mu) * rs;
    const float g = to_f(dout[base + c]) * to_f(weight[c]);
    dinp[base + c] = from_f<T>(to_f(dinp[base + c]) + rs * (g - sg - n * sgn));
  }
}

// partial[chunk][c] (and partial[nch + chunk][c] for the second quantity) over the chunk's rows.
template <typename T>
__global__ void layernorm_param_partial_kernel(float* partial, const T* dout, const T* inp, const float* mean,
                                               const float* rstd, int64_t BT, int C, int64_t nch) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  if (c >= C) return;
  const int64_t r0 = chunk * kRowsPerChunk;
  const int64_t r1 = r0 + kRowsPerChunk < BT ? r0 + kRowsPerChunk : BT;
  float dw = 0.0f, db = 0.0f;
  for (int64_t r = r0; r < r1; r++) {
    const float d = to_f(dout[r * C + c]);
    dw += d * (to_f(inp[r * C + c]) - mean[r]) * rstd[r];
    db += d;
  }
  partial[chunk * C + c] = dw;
  partial[(nch + chunk) * C + c] = db;
}

template <typename T>
__global__ void column_partial_kernel(float* partial, const T* x, int64_t M, int N) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  if (c >= N) return;
  const int64_t r0 = chunk * kRowsPerChunk;
  const int64_t r1 = r0 + kRowsPerChunk < M ? r0 + kRowsPerChunk : M;
  float s = 0.0f;
  for (int64_t r = r0; r < r1; r++) s += to_f(x[r * N + c]);
  partial[chunk * N + c] = s;
}

// out[c] (+)= sum over chunks, in chunk order.
__global__ void reduce_partials_kernel(float* out, const float* partial, int64_t nch, int C, int accumulate) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float s = 0.0f;
  for (int64_t k = 0; k < nch; k++) s += partial[k * C + c];
  out[c] = accumulate ? out[c] + s : s;
}

}  // namespace

int64_t colsum_scratch_floats(int64_t rows, int cols) {
  return 2 * std::max<int64_t>(n_chunks(rows), kLnBlocks) * (int64_t)cols;
}

template <typename T>
void residual_layernorm_forward(T* residual, T* out, float* mean, float* rstd, const T* inp1, const T* inp2,
                                const T* weight, const T* bias, int64_t BT, int C, float eps, float dropout_p,
                                uint64_t dropout_seed, cudaStream_t s) {
  if (BT <= 0) return;
  const unsigned grid = ceil_div(BT, 8);
#define RLN(NV)                                                                                              \
  residual_layernorm_forward_reg_kernel<T, NV><<<grid, 256, 0, s>>>(residual, out, mean, rstd, inp1, inp2, weight, \
                                                                    bias, BT, C, eps, dropout_p, dropout_seed)
  if (C <= 256) RLN(8);
  else if (C <= 512) RLN(16);
  else if (C <= 1024) RLN(32);
  else
    residual_layernorm_forward_kernel<T><<<grid, 256, 0, s>>>(residual, out, mean, rstd, inp1, inp2, weight, bias, BT, C,
                                                              eps, dropout_p, dropout_seed);
#undef RLN
  CUDA_CHECK_LAUNCH("residual_layernorm_forward");
}

template <typename T>
void layernorm_backward(T* dinp, float* dweight, float* dbias, const T* dout, const T* inp, const T* weight,
                        const float* mean, const float* rstd, int64_t BT, int C, float* scratch, cudaStream_t s) {
  if (BT <= 0) return;
  const bool aligned = ((uintptr_t)dinp | (uintptr_t)dout | (uintptr_t)inp | (uintptr_t)weight) % 16 == 0;
  if (C % 8 == 0 && C <= 1024 && aligned) {
    const int nb = (int)std::min<int64_t>(kLnBlocks, (BT + kLnWarps - 1) / kLnWarps);
    const size_t smem = (size_t)kLnWarps * 2 * C * sizeof(float);
    const int nch = (C + 255) / 256;
#define LNB(N)                                                                                         \
  cudaFuncSetAttribute(layernorm_backward_fused_kernel<N, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem); \
  layernorm_backward_fused_kernel<N, T><<<nb, kLnWarps * 32, smem, s>>>(dinp, scratch, dout, inp, weight, mean, rstd, BT, C)
    switch (nch) {
      case 1: LNB(1); break;
      case 2: LNB(2); break;
      case 3: LNB(3); break;
      default: LNB(4); break;
    }
#undef LNB
    CUDA_CHECK_LAUNCH("layernorm_backward (fused)");
    reduce_partials_kernel<<<ceil_div(C, 128), 128, 0, s>>>(dweight, scratch, nb, C, 1);
    CUDA_CHECK_LAUNCH("layernorm_backward (weight)");
    if (dbias) {
      reduce_partials_kernel<<<ceil_div(C, 128), 128, 0, s>>>(dbias, scratch + (int64_t)nb * C, nb, C, 1);
      CUDA_CHECK_LAUNCH("layernorm_backward (bias)");
    }
    return;
  }
  layernorm_backward_input_kernel<T><<<ceil_div(BT, 8), 256, 0, s>>>(dinp, dout, inp, weight, mean, rstd, BT, C);
  CUDA_CHECK_LAUNCH("layernorm_backward (input)");
  const int64_t nch = n_chunks(BT);
  dim3 grid(ceil_div(C, 128), (unsigned)nch);
  layernorm_param_partial_kernel<T><<<grid, 128, 0, s>>>(scratch, dout, inp, mean, rstd, BT, C, nch);
  CUDA_CHECK_LAUNCH("layernorm_backward (parameter partials)");
  reduce_partials_kernel<<<ceil_div(C, 128), 128, 0, s>>>(dweight, scratch, nch, C, 1);
  CUDA_CHECK_LAUNCH("layernorm_backward (weight)");
  if (dbias) {
    reduce_partials_kernel<<<ceil_div(C, 128), 128, 0, s>>>(dbias, scratch + nch * C, nch, C, 1);
    CUDA_CHECK_LAUNCH("layernorm_backward (bias)");
  }
}

template <typename T>
void column_sum(float* out, const T* x, int64_t M, int N, bool accumulate, float* scratch, cudaStream_t s) {
  if (M <= 0 || N <= 0) return;
  const int64_t nch = n_chunks(M);
  dim3 grid(ceil_div(N, 128), (unsigned)nch);
  column_partial_kernel<T><<<grid, 128, 0, s>>>(scratch, x, M, N);
  CUDA_CHECK_LAUNCH("column_sum (partials)");
  reduce_partials_kernel<<<ceil_div(N, 128), 128, 0, s>>>(out, scratch, nch, N, accumulate ? 1 : 0);
  CUDA_CHECK_LAUNCH("column_sum (reduce)");
}

#define INST(T)                                                                                                 \
  template void residual_layernorm_forward<T>(T*, T*, float*, float*, const T*, const T*, const T*, const T*,  \
                                              int64_t, int, float, float, uint64_t, cudaStream_t);             \
  template void layernorm_backward<T>(T*, float*, float*, const T*, const T*, const T*, const float*,          \
                                      const float*, int64_t, int, float*, cudaStream_t);                       \
  template void column_sum<T>(float*, const T*, int64_t, int, bool, float*, cudaStream_t);
INST(float)
INST(bf16)
#undef INST

}  // namespace cuda
}  // namespace mypt
