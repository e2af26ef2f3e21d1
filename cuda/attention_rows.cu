// Warp-per-row causal attention; contract in attention_rows.cuh. Lane l holds head elements l, l+32, ...
// (E = ceil(hs / 32) per lane); each dot product is one warp reduction.
#include <algorithm>
#include <type_traits>

#include "attention_rows.cuh"
#include "cp_async.cuh"
#include "engine/dropout.h"
#include "pdl.cuh"

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

// The online softmax of one query over keys j0, j0 + step, ... < nk: running max m, sum l and the
// weighted value sum acc (dropout on the weights, counter cbase + j). Keys go four at a time (their loads
// and dot products in flight together, one rescale per four), then one at a time.
template <int E, typename T>
__device__ __forceinline__ void attend_keys(const AttnView<T>& vw, int b, int h, int hs, int lane, int j0, int step,
                                            int nk, const float (&q)[E], float scale, float p, float ks,
                                            uint64_t seed, uint64_t cbase, float (&acc)[E], float& m, float& l) {
  constexpr int U = 4;
  const T* kb = vw.k + b * vw.k_bs + h * hs;
  const T* vb = vw.v + b * vw.v_bs + h * hs;
  const auto add = [&](float sc, const float (&vv)[E], int j, float mn) {  // one key, max already mn
    const float e_ = expf(sc - mn);
    l += e_;
    float wgt = e_;
    if (p > 0.0f) wgt = dropout_keep(seed, cbase + j, p) ? e_ * ks : 0.0f;
#pragma unroll
    for (int e = 0; e < E; e++) acc[e] += wgt * vv[e];
  };
  const auto rescale = [&](float mn) {
    const float corr = expf(m - mn);
    l *= corr;
#pragma unroll
    for (int e = 0; e < E; e++) acc[e] *= corr;
    m = mn;
  };
  int j = j0;
  for (; j + (U - 1) * step < nk; j += U * step) {
    float kv[U][E], vv[U][E], sc[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      load_vec<E>(kv[u], kb + (int64_t)(j + u * step) * vw.k_rs, hs, lane);
      load_vec<E>(vv[u], vb + (int64_t)(j + u * step) * vw.v_rs, hs, lane);
    }
#pragma unroll
    for (int u = 0; u < U; u++) sc[u] = dot<E>(q, kv[u]) * scale;
    float mn = m;
#pragma unroll
    for (int u = 0; u < U; u++) mn = fmaxf(mn, sc[u]);
    rescale(mn);
#pragma unroll
    for (int u = 0; u < U; u++) add(sc[u], vv[u], j + u * step, mn);
  }
  for (; j < nk; j += step) {
    float kv[E], vv[E];
    load_vec<E>(kv, kb + (int64_t)j * vw.k_rs, hs, lane);
    load_vec<E>(vv, vb + (int64_t)j * vw.v_rs, hs, lane);
    const float sc = dot<E>(q, kv) * scale;
    rescale(fmaxf(m, sc));
    add(sc, vv, j, m);
  }
}

// Query row w (= (b H + h) Tq + i) of the forward kernels: its batch, head and row, its q (lane's elements),
// the keys it sees (nk = pos0 + i + 1), the dropout scale and the dropout counter base of the row.
template <int E, typename T>
struct QueryRow {
  int b, h, i, nk;
  float q[E];
  float ks;
  uint64_t cbase;
  __device__ QueryRow(const AttnView<T>& vw, int64_t w, int Tq, int H, int hs, int pos0, float p, int lane) {
    i = (int)(w % Tq);
    h = (int)((w / Tq) % H);
    b = (int)(w / ((int64_t)Tq * H));
    load_vec<E>(q, vw.q + b * vw.q_bs + i * vw.q_rs + h * hs, hs, lane);
    ks = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    cbase = (((uint64_t)b * H + h) * Tq + i) * (uint64_t)Tq;
    nk = pos0 + i + 1;
  }
};

template <int E, typename T>
__global__ void attn_rows_forward_kernel(AttnView<T> vw, float* lse, int B, int Tq, int H, int hs, int pos0,
                                         float scale, float p, uint64_t seed, const int32_t* pos_dev) {
  const int lane = threadIdx.x & 31;
  const int64_t w = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (w >= (int64_t)B * H * Tq) return;
  const QueryRow<E, T> r(vw, w, Tq, H, hs, pos_dev ? *pos_dev : pos0, p, lane);
  const int b = r.b, h = r.h, i = r.i;
  float acc[E] = {}, m = -INFINITY, l = 0.0f;
  attend_keys<E, T>(vw, b, h, hs, lane, 0, 1, r.nk, r.q, scale, p, r.ks, seed, r.cbase, acc, m, l);
  const float inv = 1.0f / l;
  T* o = vw.out + b * vw.o_bs + i * vw.o_rs + h * hs;
#pragma unroll
  for (int e = 0; e < E; e++) {
    const int d = lane + 32 * e;
    if (d < hs) o[d] = from_f<T>(acc[e] * inv);
  }
  if (lse && lane == 0) lse[((int64_t)b * H + h) * Tq + i] = m + logf(l);
}

// One block per query row; warp w takes keys w, w + NW, ...; the partial (max, sum, acc) of each warp
// are merged through shared memory.
constexpr int kSplitWarps = 8;

// The keys and values of the positions before `pos` (earlier calls wrote them; the rest of the model's
// weights have streamed through L2 since) asked into L2 while the kernel before ends. A prefetch is a hint
// to the coherent L2, so reading the position before the wait can cost time but not correctness.
template <typename T>
__device__ __forceinline__ void prefetch_cached_kv(const AttnView<T>& vw, int Tq, int H, int hs, int pos) {
  const int h = (int)((blockIdx.x / Tq) % H), b = (int)(blockIdx.x / ((int64_t)Tq * H));
  const int lines = (hs * (int)sizeof(T) + 127) / 128;
  for (int t = threadIdx.x; t < pos * lines; t += blockDim.x) {
    const int row = t / lines, seg = t - row * lines;
    prefetch_l2((const char*)(vw.k + b * vw.k_bs + row * vw.k_rs + h * hs) + seg * 128);
    prefetch_l2((const char*)(vw.v + b * vw.v_bs + row * vw.v_rs + h * hs) + seg * 128);
  }
}

// The block's query row (blockIdx.x: b, h, i) over its keys by kSplitWarps warps; warp 0 writes the output
// row to `row` (shared memory) or, when null, to vw.out, and its lse. Every thread returns.
template <int E, typename T>
__device__ __forceinline__ void split_attend_row(const AttnView<T>& vw, float* lse, int Tq, int H, int hs, int pos0,
                                                 float scale, float p, uint64_t seed, T* row) {
  __shared__ float sm_m[kSplitWarps], sm_l[kSplitWarps];
  __shared__ float sm_acc[kSplitWarps][E * 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const QueryRow<E, T> r(vw, blockIdx.x, Tq, H, hs, pos0, p, lane);
  const int b = r.b, h = r.h, i = r.i;
  float acc[E] = {}, m = -INFINITY, l = 0.0f;
  attend_keys<E, T>(vw, b, h, hs, lane, warp, kSplitWarps, r.nk, r.q, scale, p, r.ks, seed, r.cbase, acc, m, l);
  if (lane == 0) {
    sm_m[warp] = m;
    sm_l[warp] = l;
  }
#pragma unroll
  for (int e = 0; e < E; e++) sm_acc[warp][lane + 32 * e] = acc[e];
  __syncthreads();
  if (warp != 0) return;
  float M, L, f[kSplitWarps];
  merge_softmax_parts<kSplitWarps>(sm_m, sm_l, f, M, L);
  const float inv = 1.0f / L;
  T* o = row ? row : vw.out + b * vw.o_bs + i * vw.o_rs + h * hs;
#pragma unroll
  for (int e = 0; e < E; e++) {
    const int d = lane + 32 * e;
    float a = 0.0f;
#pragma unroll
    for (int k = 0; k < kSplitWarps; k++) a += sm_acc[k][d] * f[k];
    if (d < hs) o[d] = from_f<T>(a * inv);
  }
  if (lse && lane == 0) lse[((int64_t)b * H + h) * Tq + i] = M + logf(L);
}

template <int E, typename T>
__global__ void __launch_bounds__(kSplitWarps * 32) attn_split_forward_kernel(AttnView<T> vw, float* lse, int B, int Tq,
                                                                              int H, int hs, int pos0, float scale,
                                                                              float p, uint64_t seed,
                                                                              const int32_t* pos_dev) {
  pdl_trigger();
  prefetch_cached_kv(vw, Tq, H, hs, pos_dev ? *pos_dev : pos0);
  pdl_wait();
  split_attend_row<E, T>(vw, lse, Tq, H, hs, pos_dev ? *pos_dev : pos0, scale, p, seed, nullptr);
}

// attention_proj_decode: the block's row as attn_split_forward_kernel, then its head's part of the output
// projection from the head's hs columns of w, copied to shared memory (rows padded to 16 bytes more, so
// that the threads' 16-byte reads of successive rows fall in different banks) before the wait.
template <typename T>
constexpr int proj_ld(int hs) { return hs + 16 / (int)sizeof(T); }

template <int E, typename T>
__global__ void __launch_bounds__(kSplitWarps * 32) attn_proj_decode_kernel(AttnView<T> vw, float* part, const T* w,
                                                                            int C, int Tq, int H, int hs, int pos0,
                                                                            float scale, const int32_t* pos_dev) {
  extern __shared__ uint4 wsm_mem[];
  T* wsm = (T*)wsm_mem;  // [C, proj_ld(hs)]: w[c, h hs .. h hs + hs)
  __shared__ __align__(16) T att[256];
  pdl_trigger();
  const int h = (int)((blockIdx.x / Tq) % H), i = (int)(blockIdx.x % Tq), ld = proj_ld<T>(hs);
  constexpr int kPer = 16 / (int)sizeof(T);
  const int pieces = hs / kPer;
  for (int t = threadIdx.x; t < C * pieces; t += blockDim.x) {
    const int c = t / pieces, q = t - c * pieces;
    cp_async16(wsm + c * ld + q * kPer, w + (int64_t)c * C + h * hs + q * kPer);
  }
  cp_async_commit();
  prefetch_cached_kv(vw, Tq, H, hs, pos_dev ? *pos_dev : pos0);
  pdl_wait();
  split_attend_row<E, T>(vw, nullptr, Tq, H, hs, pos_dev ? *pos_dev : pos0, scale, 0.0f, 0, att);
  cp_async_wait<0>();
  __syncthreads();
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = 0.0f;
    for (int d = 0; d < hs; d += 8) {
      float wv[8], av[8];
      load8(wv, wsm + c * ld + d);
      load8(av, att + d);
#pragma unroll
      for (int e = 0; e < 8; e++) acc = fmaf(wv[e], av[e], acc);
    }
    part[((int64_t)h * Tq + i) * C + c] = acc;
  }
}

template <typename T>
__global__ void kv_append_kernel(T* kc, T* vc, const T* qkv, int n, int C, int pos0, const int32_t* pos_dev) {
  if (pos_dev) pos0 = *pos_dev;
  const int64_t N = (int64_t)n * C;
  for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < N; x += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = x / C, c = x % C;
    kc[(pos0 + r) * C + c] = qkv[r * 3 * C + C + c];
    vc[(pos0 + r) * C + c] = qkv[r * 3 * C + 2 * C + c];
  }
}

__global__ void advance_position_kernel(int32_t* pos, int n) { *pos += n; }

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

// Calls f(std::integral_constant<int, E>{}) with E = lanes_per(hs), the kernels' template argument.
template <typename F>
void with_lanes(int hs, F&& f) {
  switch (lanes_per(hs)) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    default: f(std::integral_constant<int, 8>{}); break;
  }
}

}  // namespace

template <typename T>
size_t attention_proj_decode_smem(int C, int hs) {
  return (size_t)C * proj_ld<T>(hs) * sizeof(T);
}

template <typename T>
void attention_proj_decode(const AttnView<T>& vw, float* part, const T* w, int C, int Tq, int H, int hs, int pos0,
                           float scale, cudaStream_t s, const int32_t* pos_dev) {
  const size_t smem = attention_proj_decode_smem<T>(C, hs);
  with_lanes(hs, [&](auto e) {
    auto k = attn_proj_decode_kernel<decltype(e)::value, T>;
    allow_dynamic_smem(k, smem, "attention_proj_decode");
    launch_pdl(k, (unsigned)(H * Tq), kSplitWarps * 32, smem, s, vw, part, w, C, Tq, H, hs, pos0, scale, pos_dev);
  });
  CUDA_CHECK_LAUNCH("attention_proj_decode");
}

template <typename T>
void attention_rows_forward(const AttnView<T>& vw, float* lse, int B, int Tq, int H, int hs, int pos0, float scale,
                            float dropout_p, uint64_t dropout_seed, cudaStream_t s, const int32_t* pos_dev, int mode) {
  const int64_t rows = (int64_t)B * H * Tq;
  if (rows <= 0) return;
  const bool split = mode == 2 || (mode == 0 && rows <= 2048);
  if (split) {
    with_lanes(hs, [&](auto e) {
      launch_pdl(attn_split_forward_kernel<decltype(e)::value, T>, (unsigned)rows, kSplitWarps * 32, 0, s, vw, lse,
                 B, Tq, H, hs, pos0, scale, dropout_p, dropout_seed, pos_dev);
    });
    CUDA_CHECK_LAUNCH("attention_rows_forward (split keys)");
    return;
  }
  const unsigned grid = ceil_div(rows, 8);
  with_lanes(hs, [&](auto e) {
    attn_rows_forward_kernel<decltype(e)::value, T>
        <<<grid, 256, 0, s>>>(vw, lse, B, Tq, H, hs, pos0, scale, dropout_p, dropout_seed, pos_dev);
  });
  CUDA_CHECK_LAUNCH("attention_rows_forward");
}

template <typename T>
void kv_append(T* kcache, T* vcache, const T* qkv, int n, int C, int pos0, const int32_t* pos_dev, cudaStream_t s) {
  const int64_t N = (int64_t)n * C;
  if (N <= 0) return;
  const unsigned g = (unsigned)std::min<int64_t>((N + 255) / 256, 4096);
  kv_append_kernel<T><<<g, 256, 0, s>>>(kcache, vcache, qkv, n, C, pos0, pos_dev);
  CUDA_CHECK_LAUNCH("kv_append");
}

void advance_position(int32_t* pos_dev, int n, cudaStream_t s) {
  advance_position_kernel<<<1, 1, 0, s>>>(pos_dev, n);
  CUDA_CHECK_LAUNCH("advance_position");
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
                                          uint64_t, cudaStream_t, const int32_t*, int);                        \
  template void kv_append<T>(T*, T*, const T*, int, int, int, const int32_t*, cudaStream_t);                    \
  template void attention_rows_backward<T>(T*, const T*, const T*, const T*, const float*, int, int, int, int, \
                                           float, float, uint64_t, float*, cudaStream_t);                \
  template size_t attention_proj_decode_smem<T>(int, int);                                                    \
  template void attention_proj_decode<T>(const AttnView<T>&, float*, const T*, int, int, int, int, int, float, \
                                         cudaStream_t, const int32_t*);
INST(float)
INST(bf16)
#undef INST

}  // namespace cuda
}  // namespace mypt
