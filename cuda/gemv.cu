// The few-row product of gemv.cuh (generation).
#include "gemv.cuh"

#include "activation.cuh"
#include "pdl.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr int kPre = 3;  // 16-byte weight loads per lane issued before waiting on the previous kernel

// The mean and 1/sqrt(var + eps) of row m of inp, by warp m of the block, into stats[m]: lane l sums
// columns 8l..8l+7, 8l+256.. (16-byte loads, four in flight), then the butterfly; the variance is a second
// pass over the row (in L1 by then), as layernorm.cu's kernels take it.
template <typename T>
__device__ void layernorm_stats(float (*stats)[2], const GemvOp<T>& p) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, K = p.K;
  if (warp < p.M) {
    const T* x = p.inp + (int64_t)warp * K;
    float sum = 0.0f;
#pragma unroll 4
    for (int k = lane * 8; k < K; k += 256) {
      float v[8];
      load8(v, x + k);
#pragma unroll
      for (int e = 0; e < 8; e++) sum += v[e];
    }
    const float mu = warp_sum(sum) / K;
    float var = 0.0f;
#pragma unroll 4
    for (int k = lane * 8; k < K; k += 256) {
      float v[8];
      load8(v, x + k);
#pragma unroll
      for (int e = 0; e < 8; e++) var += (v[e] - mu) * (v[e] - mu);
    }
    const float rs = rsqrtf(warp_sum(var) / K + p.eps);
    if (lane == 0) {
      stats[warp][0] = mu;
      stats[warp][1] = rs;
    }
  }
  __syncthreads();
}

// Input columns k..k+7 of row m: as stored, or LayerNormed as layernorm.cu writes them (rounded to T).
template <typename T, bool LN>
__device__ __forceinline__ void load_input(float (&xv)[8], const GemvOp<T>& p, const float (*stats)[2], int m, int k) {
  load8(xv, p.inp + (int64_t)m * p.K + k);
  if (LN) {
    float w[8], b[8] = {};
    load8(w, p.ln_w + k);
    if (p.ln_b) load8(b, p.ln_b + k);
#pragma unroll
    for (int e = 0; e < 8; e++) {
      float v = (xv[e] - stats[m][0]) * stats[m][1] * w[e];
      if (p.ln_b) v += b[e];
      xv[e] = to_f(from_f<T>(v));
    }
  }
}

template <typename T, int S, bool LN>
__global__ void __launch_bounds__(256) gemv_kernel(const GemvOp<T> p) {
  __shared__ float part[8][kGemvMaxRows];
  __shared__ float stats[kGemvMaxRows][2];  // LN: each row's mean and 1/sqrt(var + eps)
  pdl_trigger();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int sub = warp % S;  // this warp's share of K
  const int n = blockIdx.x * (8 / S) + warp / S;
  const int M = p.M, K = p.K, N = p.N;
  const int step = 256 * S, k0 = (sub * 32 + lane) * 8;
  const T* wr = p.w + (int64_t)(n < N ? n : 0) * K;
  // weights first: no kernel before this one writes them
  float wv[kPre][8];
#pragma unroll
  for (int i = 0; i < kPre; i++)
    if (n < N && k0 + i * step < K) load8(wv[i], wr + k0 + i * step);
  const bool writer = n < N && lane == 0 && sub == 0;  // the lane that finishes column n
  const float bval = writer && p.bias ? to_f(p.bias[n]) : 0.0f;
  pdl_wait();
  float rval[kGemvMaxRows] = {0.0f, 0.0f, 0.0f, 0.0f};  // the residual, loaded while the products run
  if (writer && p.res)
#pragma unroll
    for (int m = 0; m < kGemvMaxRows; m++)
      if (m < M) rval[m] = to_f(p.res[(int64_t)m * N + n]);
  if (LN) layernorm_stats(stats, p);
  float acc[kGemvMaxRows] = {0.0f, 0.0f, 0.0f, 0.0f};
  auto fma_rows = [&](const float (&w8)[8], int k) {
#pragma unroll
    for (int m = 0; m < kGemvMaxRows; m++) {
      if (m >= M) break;
      float xv[8];
      load_input<T, LN>(xv, p, stats, m, k);
#pragma unroll
      for (int e = 0; e < 8; e++) acc[m] = fmaf(w8[e], xv[e], acc[m]);
    }
  };
  if (n < N) {
#pragma unroll
    for (int i = 0; i < kPre; i++)
      if (k0 + i * step < K) fma_rows(wv[i], k0 + i * step);
#pragma unroll 2
    for (int k = k0 + kPre * step; k < K; k += step) {
      float w8[8];
      load8(w8, wr + k);
      fma_rows(w8, k);
    }
  }
#pragma unroll
  for (int m = 0; m < kGemvMaxRows; m++)
    if (m < M) acc[m] = warp_sum(acc[m]);
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
  const int C = N / 3;
  const int pos = p.kc ? (p.pos_dev ? *p.pos_dev : p.pos0) : 0;
#pragma unroll
  for (int m = 0; m < kGemvMaxRows; m++) {
    if (m >= M) break;
    float v = acc[m];
    if (p.bias) v += bval;
    if (p.act) {
      p.aux[(int64_t)m * N + n] = from_f<T>(v);
      v = activation_f(p.act - 1, to_f(from_f<T>(v)));  // of the stored pre-activation, as the unfused path
    }
    if (p.res) v = rval[m] + to_f(from_f<T>(v));
    const T o = from_f<T>(v);
    if (p.out) p.out[(int64_t)m * N + n] = o;
    if (p.out_f) p.out_f[(int64_t)m * N + n] = to_f(o);
    if (p.kc && n >= C) {
      T* cache = n < 2 * C ? p.kc : p.vc;
      cache[(int64_t)(pos + m) * C + (n % C)] = o;
    }
  }
}

template <typename T, int S>
void launch_gemv(const GemvOp<T>& op, cudaStream_t s) {
  const unsigned blocks = ceil_div(op.N, 8 / S);
  if (op.ln_w)
    launch_pdl(gemv_kernel<T, S, true>, blocks, 256, 0, s, op);
  else
    launch_pdl(gemv_kernel<T, S, false>, blocks, 256, 0, s, op);
}

}  // namespace

// S warps per column: enough blocks that every SM has several (132 SMs on an H100).
template <typename T>
void gemv_forward(const GemvOp<T>& op, cudaStream_t s) {
  const int S = op.N >= 8192 ? 1 : op.N >= 4096 ? 2 : op.N >= 2048 ? 4 : 8;
  switch (S) {
    case 1: launch_gemv<T, 1>(op, s); break;
    case 2: launch_gemv<T, 2>(op, s); break;
    case 4: launch_gemv<T, 4>(op, s); break;
    default: launch_gemv<T, 8>(op, s); break;
  }
}

template void gemv_forward<float>(const GemvOp<float>&, cudaStream_t);
template void gemv_forward<bf16>(const GemvOp<bf16>&, cudaStream_t);

}  // namespace cuda
}  // namespace mypt
