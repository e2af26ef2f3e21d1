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

// The same computation for C % 8 == 0 and C <= 256 * NCH with 16-byte accesses: lane l owns columns
// 8l + 256k .. +7, k < NCH (the order gemv.cu's fused LayerNorm sums in), and every load of its row is issued
// before the first sum, so a row costs one memory latency instead of one per column step (the loop above
// waits on each load, as its stores may alias the next loads). Generation normalises one row per launch:
// this is what makes that launch short.
template <typename T, int NCH>
__global__ void residual_layernorm_forward_vec_kernel(T* residual, T* out, float* mean, float* rstd, const T* inp1,
                                                      const T* inp2, const T* weight, const T* bias, int64_t BT,
                                                      int C, float eps, float p, uint64_t seed) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= BT) return;
  const int64_t base = row * C;
  Raw8<T> ra[NCH], rb[NCH];
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    const int c0 = 8 * lane + 256 * k;
    if (c0 >= C) break;
    ra[k].load(inp1 + base + c0);
    if (inp2) rb[k].load(inp2 + base + c0);
  }
  float v[NCH][8];
  float sum = 0.0f;
  const float keep_scale = 1.0f / (1.0f - p);
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    const int c0 = 8 * lane + 256 * k;
    if (c0 >= C) break;
    ra[k].unpack(v[k]);
    if (inp2) {
      float d[8];
      rb[k].unpack(d);
#pragma unroll
      for (int e = 0; e < 8; e++) {
        if (p > 0.0f) d[e] = dropout_keep(seed, (uint64_t)(base + c0 + e), p) ? d[e] * keep_scale : 0.0f;
        v[k][e] = to_f(from_f<T>(v[k][e] + d[e]));  // the residual as stored
      }
      store8(residual + base + c0, v[k]);
    }
#pragma unroll
    for (int e = 0; e < 8; e++) sum += v[k][e];
  }
  const float mu = warp_sum(sum) / C;
  float var = 0.0f;
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    if (8 * lane + 256 * k >= C) break;
#pragma unroll
    for (int e = 0; e < 8; e++) var += (v[k][e] - mu) * (v[k][e] - mu);
  }
  const float rs = rsqrtf(warp_sum(var) / C + eps);
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    const int c0 = 8 * lane + 256 * k;
    if (c0 >= C) break;
    float w[8], b[8] = {};
    load8(w, weight + c0);
    if (bias) load8(b, bias + c0);
#pragma unroll
    for (int e = 0; e < 8; e++) v[k][e] = (v[k][e] - mu) * rs * w[e] + b[e];
    store8(out + base + c0, v[k]);
  }
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

// Fused LayerNorm backward for C % 8 == 0 and C <= 256 * NCH: a warp per row (rows strided over a fixed
// grid), lane l owning columns 8l + 256k, k < NCH, for every row it visits, so the parameter gradients
// accumulate in registers; per block the warps' sums are added in warp order into partial[block][C]
// (dweight) and partial[nblocks + block][C] (dbias), and with NQ = 3 the column sums of the dinp it stores
// (accumulated in the warp's own shared-memory row) into partial[2 nblocks + block][C]. Deterministic for
// a given grid. A row's dout, inp and dinp are loaded before the first use and kept packed (dinp later where
// registers would not allow; the weight is re-read from L1 each row), so two blocks of eight warps fit an SM
// and each warp has its whole row in flight.
//   n = (x - mean) rstd, g = dout w;  dinp += rstd (g - mean_c(g) - n mean_c(g n));
//   dweight += sum_rows dout n;  dbias += sum_rows dout.
constexpr int kLnWarps = 8;
template <int NCH, typename T>
__global__ void __launch_bounds__(kLnWarps * 32, 2)
    layernorm_backward_fused_kernel(T* dinp, float* partial, const T* dout, const T* inp, const T* weight,
                                    const float* mean, const float* rstd, int64_t BT, int C, int NQ) {
  extern __shared__ float sh[];  // [kLnWarps][NQ][C]
  constexpr bool kEarlyDinp = NCH * sizeof(Raw8<T>) <= 48;  // dinp with the first loads while registers allow
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float* gsum = sh + (warp * NQ + 2) * C;  // NQ = 3: this warp's column sums of dinp (its lanes' columns only)
  float gw[NCH][8], gb[NCH][8];
#pragma unroll
  for (int k = 0; k < NCH; k++) {
#pragma unroll
    for (int e = 0; e < 8; e++) gw[k][e] = gb[k][e] = 0.0f;
    if (NQ == 3 && 8 * lane + 256 * k < C)
#pragma unroll
      for (int e = 0; e < 8; e++) gsum[8 * lane + 256 * k + e] = 0.0f;
  }
  for (int64_t row = (int64_t)blockIdx.x * kLnWarps + warp; row < BT; row += (int64_t)gridDim.x * kLnWarps) {
    const int64_t base = row * C;
    Raw8<T> rd[NCH], rx[NCH], ri[NCH];
#pragma unroll
    for (int k = 0; k < NCH; k++) {
      const int c0 = 8 * lane + 256 * k;
      if (c0 >= C) break;
      rd[k].load(dout + base + c0);
      rx[k].load(inp + base + c0);
      if (kEarlyDinp) ri[k].load(dinp + base + c0);
    }
    const float mu = mean[row], rs = rstd[row];
    float sg = 0.0f, sgn = 0.0f;
#pragma unroll
    for (int k = 0; k < NCH; k++) {
      const int c0 = 8 * lane + 256 * k;
      if (c0 >= C) break;
      float d[8], x[8], w[8];
      rd[k].unpack(d);
      rx[k].unpack(x);
      load8(w, weight + c0);
#pragma unroll
      for (int e = 0; e < 8; e++) {
        const float n = (x[e] - mu) * rs;
        const float g = d[e] * w[e];
        sg += g;
        sgn += g * n;
        gw[k][e] += d[e] * n;
        gb[k][e] += d[e];
      }
    }
    sg = warp_sum(sg) / C;
    sgn = warp_sum(sgn) / C;
#pragma unroll
    for (int k = 0; k < NCH; k++) {
      const int c0 = 8 * lane + 256 * k;
      if (c0 >= C) break;
      float d[8], x[8], w[8], o[8];
      rd[k].unpack(d);
      rx[k].unpack(x);
      if (!kEarlyDinp) ri[k].load(dinp + base + c0);
      ri[k].unpack(o);
      load8(w, weight + c0);
#pragma unroll
      for (int e = 0; e < 8; e++) o[e] += rs * (d[e] * w[e] - sg - (x[e] - mu) * rs * sgn);
      store8(dinp + base + c0, o);
      if (NQ == 3)
#pragma unroll
        for (int e = 0; e < 8; e++) gsum[c0 + e] += to_f(from_f<T>(o[e]));  // the value as stored
    }
  }
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    const int c0 = 8 * lane + 256 * k;
    if (c0 >= C) break;
#pragma unroll
    for (int e = 0; e < 8; e++) {
      sh[(warp * NQ) * C + c0 + e] = gw[k][e];
      sh[(warp * NQ + 1) * C + c0 + e] = gb[k][e];
    }
  }
  __syncthreads();
  for (int q = 0; q < NQ; q++)
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      float a = 0.0f;
      for (int wi = 0; wi < kLnWarps; wi++) a += sh[(wi * NQ + q) * C + c];
      partial[(int64_t)(q * gridDim.x + blockIdx.x) * C + c] = a;
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

// partial[chunk][c] = sum of x[r][c] over the chunk's kRowsPerChunk rows for N % 8 == 0 and 16-byte aligned x,
// with 16-byte loads (chunk_column_sums).
template <typename T>
__global__ void __launch_bounds__(kChunkWarps * 32) column_partial_vec_kernel(float* partial, const T* x, int64_t M, int N) {
  chunk_column_sums<4>(partial, M, N, kRowsPerChunk,
                       [&](int64_t r, int c0, float (&v)[8]) { load8(v, x + r * N + c0); });
}

// For q = blockIdx.y < 3 with out_q given: out_q[c] (+)= sum over k < nch of partial[q nch + k][c]. A block
// takes 32 columns with eight warps; warp w sums the chunks k = w (mod 8) in order, then warp 0 adds the
// eight sums in warp order: a fixed order for a given nch, so the result is deterministic. Each warp reads
// 128 contiguous bytes per chunk, and the unrolled loop keeps several of them in flight.
constexpr int kReduceWarps = 8;
__global__ void __launch_bounds__(kReduceWarps * 32)
    reduce_partials_kernel(float* out0, float* out1, float* out2, const float* partial, int64_t nch, int C,
                           int accumulate) {
  float* out = blockIdx.y == 0 ? out0 : blockIdx.y == 1 ? out1 : out2;
  if (!out) return;
  __shared__ float sums[kReduceWarps][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int c = blockIdx.x * 32 + lane;
  const float* src = partial + (int64_t)blockIdx.y * nch * C;
  float s = 0.0f;
  if (c < C) {
#pragma unroll 8
    for (int64_t k = warp; k < nch; k += kReduceWarps) s += src[k * C + c];
  }
  sums[warp][lane] = s;
  __syncthreads();
  if (warp == 0 && c < C) {
    float t = 0.0f;
#pragma unroll
    for (int w = 0; w < kReduceWarps; w++) t += sums[w][lane];
    out[c] = accumulate ? out[c] + t : t;
  }
}

// Launches the reduction of up to three consecutive partial arrays of nch rows (a null out skips its array).
void reduce_partials(float* out0, float* out1, float* out2, const float* partial, int64_t nch, int C,
                     bool accumulate, cudaStream_t s) {
  dim3 grid(ceil_div(C, 32), out2 ? 3 : out1 ? 2 : 1);
  reduce_partials_kernel<<<grid, kReduceWarps * 32, 0, s>>>(out0, out1, out2, partial, nch, C, accumulate ? 1 : 0);
}

}  // namespace

int64_t colsum_scratch_floats(int64_t rows, int cols) {
  return 2 * std::max<int64_t>(n_chunks(rows), kLnBlocks) * (int64_t)cols;
}

int64_t layernorm_scratch_floats(int64_t rows, int C) {
  return std::max<int64_t>(colsum_scratch_floats(rows, C), 3 * (int64_t)kLnBlocks * C);
}

void reduce_column_partials(float* out, const float* partial, int64_t nch, int N, bool accumulate, cudaStream_t s) {
  reduce_partials(out, nullptr, nullptr, partial, nch, N, accumulate, s);
  CUDA_CHECK_LAUNCH("reduce_column_partials");
}

template <typename T>
void residual_layernorm_forward(T* residual, T* out, float* mean, float* rstd, const T* inp1, const T* inp2,
                                const T* weight, const T* bias, int64_t BT, int C, float eps, float dropout_p,
                                uint64_t dropout_seed, cudaStream_t s) {
  if (BT <= 0) return;
  const unsigned grid = ceil_div(BT, 8);
  const bool aligned = ((uintptr_t)residual | (uintptr_t)out | (uintptr_t)inp1 | (uintptr_t)inp2 | (uintptr_t)weight |
                        (uintptr_t)bias) % 16 == 0;
  const auto go = [&](auto kernel) {
    kernel<<<grid, 256, 0, s>>>(residual, out, mean, rstd, inp1, inp2, weight, bias, BT, C, eps, dropout_p, dropout_seed);
  };
#define RLN(N) go(residual_layernorm_forward_vec_kernel<T, N>)
  const int nch = (C + 255) / 256;
  if (C % 8 != 0 || !aligned || nch > 8)
    go(residual_layernorm_forward_kernel<T>);
  else if (nch == 1) RLN(1);
  else if (nch == 2) RLN(2);
  else if (nch == 3) RLN(3);
  else if (nch == 4) RLN(4);
  else if (nch <= 6) RLN(6);
  else RLN(8);
#undef RLN
  CUDA_CHECK_LAUNCH("residual_layernorm_forward");
}

template <typename T>
void layernorm_backward(T* dinp, float* dweight, float* dbias, float* dsum, const T* dout, const T* inp,
                        const T* weight, const float* mean, const float* rstd, int64_t BT, int C, float* scratch,
                        cudaStream_t s) {
  if (BT <= 0) return;
  const bool aligned = ((uintptr_t)dinp | (uintptr_t)dout | (uintptr_t)inp | (uintptr_t)weight) % 16 == 0;
  if (C % 8 == 0 && C <= 1024 && aligned) {
    const int nb = (int)std::min<int64_t>(kLnBlocks, (BT + kLnWarps - 1) / kLnWarps);
    const int nq = dsum ? 3 : 2;
    const size_t smem = (size_t)kLnWarps * nq * C * sizeof(float);
    const int nch = (C + 255) / 256;
#define LNB(N)                                                                                    \
  allow_dynamic_smem(layernorm_backward_fused_kernel<N, T>, smem, "layernorm_backward");           \
  layernorm_backward_fused_kernel<N, T><<<nb, kLnWarps * 32, smem, s>>>(dinp, scratch, dout, inp, weight, mean, rstd, BT, C, nq)
    switch (nch) {
      case 1: LNB(1); break;
      case 2: LNB(2); break;
      case 3: LNB(3); break;
      default: LNB(4); break;
    }
#undef LNB
    CUDA_CHECK_LAUNCH("layernorm_backward (fused)");
    reduce_partials(dweight, dbias, dsum, scratch, nb, C, true, s);
    CUDA_CHECK_LAUNCH("layernorm_backward (parameters)");
    return;
  }
  layernorm_backward_input_kernel<T><<<ceil_div(BT, 8), 256, 0, s>>>(dinp, dout, inp, weight, mean, rstd, BT, C);
  CUDA_CHECK_LAUNCH("layernorm_backward (input)");
  const int64_t nch = n_chunks(BT);
  dim3 grid(ceil_div(C, 128), (unsigned)nch);
  layernorm_param_partial_kernel<T><<<grid, 128, 0, s>>>(scratch, dout, inp, mean, rstd, BT, C, nch);
  CUDA_CHECK_LAUNCH("layernorm_backward (parameter partials)");
  reduce_partials(dweight, dbias, nullptr, scratch, nch, C, true, s);
  CUDA_CHECK_LAUNCH("layernorm_backward (parameters)");
  if (dsum) column_sum<T>(dsum, dinp, BT, C, true, scratch, s);
}

template <typename T>
void column_sum(float* out, const T* x, int64_t M, int N, bool accumulate, float* scratch, cudaStream_t s) {
  if (M <= 0 || N <= 0) return;
  const int64_t nch = n_chunks(M);
  if (N % 8 == 0 && (uintptr_t)x % 16 == 0) {
    column_partial_vec_kernel<T><<<dim3(ceil_div(N, 256), (unsigned)nch), kChunkWarps * 32, 0, s>>>(scratch, x, M, N);
  } else {
    column_partial_kernel<T><<<dim3(ceil_div(N, 128), (unsigned)nch), 128, 0, s>>>(scratch, x, M, N);
  }
  CUDA_CHECK_LAUNCH("column_sum (partials)");
  reduce_partials(out, nullptr, nullptr, scratch, nch, N, accumulate, s);
  CUDA_CHECK_LAUNCH("column_sum (reduce)");
}

#define INST(T)                                                                                                 \
  template void residual_layernorm_forward<T>(T*, T*, float*, float*, const T*, const T*, const T*, const T*,  \
                                              int64_t, int, float, float, uint64_t, cudaStream_t);             \
  template void layernorm_backward<T>(T*, float*, float*, float*, const T*, const T*, const T*, const float*, \
                                      const float*, int64_t, int, float*, cudaStream_t);                       \
  template void column_sum<T>(float*, const T*, int64_t, int, bool, float*, cudaStream_t);
INST(float)
INST(bf16)
#undef INST

}  // namespace cuda
}  // namespace mypt
