// Warp-per-row causal attention; contract in attention_rows.cuh. Lane l holds head elements l, l+32, ...
// (E = ceil(hs / 32) per lane); each dot product is one warp reduction.
#include "attention_rows.cuh"
#include "dropout.h"

namespace mypt {
namespace cuda {

namespace {

template <int E, typename T>
__device__ __forceinline__ void load_vec(float (&r)[E], const T* p, int hs, int lane) {
#pragma unroll
  for (int e = 0; e < E; e++) {
    const int d = lane + 32 * e;
    r[e] = d < hs ? to_f(p[d]) : 0.0f;
  }
}

template <int E>
__device__ __forceinline__ float dot(const float (&a)[E], const float (&b)[E]) {
  float s = 0.0f;
#pragma unroll
  for (int e = 0; e < E; e++) s += a[e] * b[e];
  return warp_sum(s);
}

template <int E, typename T>
__global__ void attn_rows_forward_kernel(AttnView<T> vw, float* lse, int B, int Tq, int H, int hs, int pos0,
                                         float scale, float p, uint64_t seed) {
  const int lane = threadIdx.x & 31;
  const int64_t w = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (w >= (int64_t)B * H * Tq) return;
  const int i = (int)(w % Tq);
  const int h = (int)((w / Tq) % H);
  const int b = (int)(w / ((int64_t)Tq * H));
  float q[E], acc[E];
  load_vec<E>(q, vw.q + b * vw.q_bs + i * vw.q_rs + h * hs, hs, lane);
#pragma unroll
  for (int e = 0; e < E; e++) acc[e] = 0.0f;
  const float ks = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
  const uint64_t cbase = (((uint64_t)b * H + h) * Tq + i) * (uint64_t)Tq;
  float m = -INFINITY, l = 0.0f;
  const int nk = pos0 + i + 1;
  for (int j = 0; j < nk; j++) {
    float kv[E];
    load_vec<E>(kv, vw.k + b * vw.k_bs + (int64_t)j * vw.k_rs + h * hs, hs, lane);
    const float sc = dot<E>(q, kv) * scale;
    const float mn = fmaxf(m, sc);
    const float corr = expf(m - mn);
    const float e_ = expf(sc - mn);
    l = l * corr + e_;
    m = mn;
    float wgt = e_;
    if (p > 0.0f) wgt = dropout_keep(seed, cbase + j, p) ? e_ * ks : 0.0f;
    load_vec<E>(kv, vw.v + b * vw.v_bs + (int64_t)j * vw.v_rs + h * hs, hs, lane);
#pragma unroll
    for (int e = 0; e < E; e++) acc[e] = acc[e] * corr + wgt * kv[e];
  }
  const float inv = 1.0f / l;
  T* o = vw.out + b * vw.o_bs + i * vw.o_rs + h * hs;
#pragma unroll
  for (int e = 0; e < E; e++) {
    const int d = lane + 32 * e;
    if (d < hs) o[d] = from_f<T>(acc[e] * inv);
  }
  if (lse && lane == 0) lse[((int64_t)b * H + h) * Tq + i] = m + logf(l);
}

// dq for query row i, and D_i = dout_i . out_i into dscratch.
template <int E, typename T>
__global__ void attn_rows_backward_q_kernel(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse,
                                            int B, int T_, int C, int H, float scale, float p, uint64_t seed,
                                            float* Dbuf) {
  const int lane = threadIdx.x & 31;
  const int64_t w = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (w >= (int64_t)B * H * T_) return;
  const int i = (int)(w % T_);
  const int h = (int)((w / T_) % H);
  const int b = (int)(w / ((int64_t)T_ * H));
  const int hs = C / H;
  const int64_t C3 = 3 * (int64_t)C;
  const T* base = qkv + (int64_t)b * T_ * C3;
  float q[E], dO[E], o[E], dq[E];
  load_vec<E>(q, base + i * C3 + h * hs, hs, lane);
  load_vec<E>(dO, dout + ((int64_t)b * T_ + i) * C + h * hs, hs, lane);
  load_vec<E>(o, out + ((int64_t)b * T_ + i) * C + h * hs, hs, lane);
  const float D = dot<E>(dO, o);
  const float L = lse[((int64_t)b * H + h) * T_ + i];
#pragma unroll
  for (int e = 0; e < E; e++) dq[e] = 0.0f;
  const float ks = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
  const uint64_t cbase = (((uint64_t)b * H + h) * T_ + i) * (uint64_t)T_;
  for (int j = 0; j <= i; j++) {
    float kv[E], vv[E];
    load_vec<E>(kv, base + j * C3 + C + h * hs, hs, lane);
    load_vec<E>(vv, base + j * C3 + 2 * C + h * hs, hs, lane);
    const float P = expf(dot<E>(q, kv) * scale - L);
    float dP = dot<E>(dO, vv);
    if (p > 0.0f) dP = dropout_keep(seed, cbase + j, p) ? dP * ks : 0.0f;
    const float dS = P * (dP - D) * scale;
#pragma unroll
    for (int e = 0; e < E; e++) dq[e] += dS * kv[e];
  }
  T* dst = dqkv + ((int64_t)b * T_ + i) * C3 + h * hs;
#pragma unroll
  for (int e = 0; e < E; e++) {
    const int d = lane + 32 * e;
    if (d < hs) dst[d] = from_f<T>(dq[e]);
  }
  if (lane == 0) Dbuf[((int64_t)b * H + h) * T_ + i] = D;
}

// dk, dv for key row j.
template <int E, typename T>
__global__ void attn_rows_backward_kv_kernel(T* dqkv, const T* dout, const T* qkv, const float* lse, int B, int T_,
                                             int C, int H, float scale, float p, uint64_t seed, const float* Dbuf) {
  const int lane = threadIdx.x & 31;
  const int64_t w = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (w >= (int64_t)B * H * T_) return;
  const int j = (int)(w % T_);
  const int h = (int)((w / T_) % H);
  const int b = (int)(w / ((int64_t)T_ * H));
  const int hs = C / H;
  const int64_t C3 = 3 * (int64_t)C;
  const T* base = qkv + (int64_t)b * T_ * C3;
  float kv[E], vv[E], dk[E], dv[E];
  load_vec<E>(kv, base + j * C3 + C + h * hs, hs, lane);
  load_vec<E>(vv, base + j * C3 + 2 * C + h * hs, hs, lane);
#pragma unroll
  for (int e = 0; e < E; e++) dk[e] = dv[e] = 0.0f;
  const float ks = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
  const int64_t row0 = ((int64_t)b * H + h) * T_;
  for (int i = j; i < T_; i++) {
    float q[E], dO[E];
    load_vec<E>(q, base + i * C3 + h * hs, hs, lane);
    load_vec<E>(dO, dout + ((int64_t)b * T_ + i) * C + h * hs, hs, lane);
    const float P = expf(dot<E>(q, kv) * scale - lse[row0 + i]);
    float dP = dot<E>(dO, vv);
    float pv = P;
    if (p > 0.0f) {
      const bool keep = dropout_keep(seed, (uint64_t)(row0 + i) * (uint64_t)T_ + j, p);
      dP = keep ? dP * ks : 0.0f;
      pv = keep ? P * ks : 0.0f;
    }
    const float dS = P * (dP - Dbuf[row0 + i]) * scale;
#pragma unroll
    for (int e = 0; e < E; e++) {
      dv[e] += pv * dO[e];
      dk[e] += dS * q[e];
    }
  }
  T* dst = dqkv + ((int64_t)b * T_ + j) * C3 + h * hs;
#pragma unroll
  for (int e = 0; e < E; e++) {
    const int d = lane + 32 * e;
    if (d < hs) {
      dst[C + d] = from_f<T>(dk[e]);
      dst[2 * C + d] = from_f<T>(dv[e]);
    }
  }
}

int lanes_per(int hs) {
  if (hs <= 32) return 1;
  if (hs <= 64) return 2;
  if (hs <= 128) return 4;
  if (hs <= 256) return 8;
  throw std::runtime_error("attention: head size above 256 is not supported on the GPU");
}

}  // namespace

template <typename T>
void attention_rows_forward(const AttnView<T>& vw, float* lse, int B, int Tq, int H, int hs, int pos0, float scale,
                            float dropout_p, uint64_t dropout_seed, cudaStream_t s) {
  const int64_t rows = (int64_t)B * H * Tq;
  if (rows <= 0) return;
  const unsigned grid = ceil_div(rows, 8);
  switch (lanes_per(hs)) {
    case 1: attn_rows_forward_kernel<1, T><<<grid, 256, 0, s>>>(vw, lse, B, Tq, H, hs, pos0, scale, dropout_p, dropout_seed); break;
    case 2: attn_rows_forward_kernel<2, T><<<grid, 256, 0, s>>>(vw, lse, B, Tq, H, hs, pos0, scale, dropout_p, dropout_seed); break;
    case 4: attn_rows_forward_kernel<4, T><<<grid, 256, 0, s>>>(vw, lse, B, Tq, H, hs, pos0, scale, dropout_p, dropout_seed); break;
    default: attn_rows_forward_kernel<8, T><<<grid, 256, 0, s>>>(vw, lse, B, Tq, H, hs, pos0, scale, dropout_p, dropout_seed); break;
  }
  CUDA_CHECK_LAUNCH("attention_rows_forward");
}

template <typename T>
void attention_rows_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, int B, int T_,
                             int C, int H, float scale, float dropout_p, uint64_t dropout_seed, float* dscratch,
                             cudaStream_t s) {
  const int64_t rows = (int64_t)B * H * T_;
  if (rows <= 0) return;
  const unsigned grid = ceil_div(rows, 8);
  const int E = lanes_per(C / H);
#define QK(EE)                                                                                                  \
  attn_rows_backward_q_kernel<EE, T><<<grid, 256, 0, s>>>(dqkv, dout, qkv, out, lse, B, T_, C, H, scale,        \
                                                          dropout_p, dropout_seed, dscratch);                   \
  CUDA_CHECK_LAUNCH("attention_rows_backward (q)");                                                             \
  attn_rows_backward_kv_kernel<EE, T><<<grid, 256, 0, s>>>(dqkv, dout, qkv, lse, B, T_, C, H, scale, dropout_p, \
                                                           dropout_seed, dscratch);                             \
  CUDA_CHECK_LAUNCH("attention_rows_backward (kv)");
  switch (E) {
    case 1: QK(1) break;
    case 2: QK(2) break;
    case 4: QK(4) break;
    default: QK(8) break;
  }
#undef QK
}

#define INST(T)                                                                                               \
  template void attention_rows_forward<T>(const AttnView<T>&, float*, int, int, int, int, int, float, float,  \
                                          uint64_t, cudaStream_t);                                            \
  template void attention_rows_backward<T>(T*, const T*, const T*, const T*, const float*, int, int, int, int, \
                                           float, float, uint64_t, float*, cudaStream_t);
INST(float)
INST(bf16)
#undef INST

}  // namespace cuda
}  // namespace mypt
