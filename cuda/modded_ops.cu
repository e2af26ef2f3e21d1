// Kernels of the modded-nanogpt forward pass; modded_ops.cuh states the math of each.
#include <cmath>

#include "modded_ops.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr int kRowThreads = 256;

// 1 / sqrt(mean(v^2) + eps) from a row's sum of squares (as the CPU rmsnorm).
__device__ __forceinline__ float rms_scale(float sum_sq, int d, float eps) {
  return 1.0f / sqrtf(sum_sq / (float)d + eps);
}

template <typename T>
__global__ void embed_norm_kernel(float* x, float* x0, const int32_t* tokens, const T* embed, int d, float eps) {
  __shared__ float red[32];
  const int64_t t = blockIdx.x;
  const T* e = embed + (int64_t)tokens[t] * d;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    const float v = to_f(e[c]);
    ss += v * v;
  }
  const float r = rms_scale(block_sum(ss, red), d, eps);
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    const float v = to_f(e[c]) * r;
    x[t * d + c] = v;
    x0[t * d + c] = v;
  }
}

template <typename T>
__global__ void mix_kernel(float* x, T* h, const float* x0, const float* skip, float w, float l0, float l1,
                           int norm_h, int d, float eps) {
  __shared__ float red[32];
  const int64_t o = (int64_t)blockIdx.x * d;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    float v = x[o + c];
    if (skip) v += w * skip[o + c];
    v = l0 * v + l1 * x0[o + c];
    x[o + c] = v;
    ss += v * v;
  }
  const float r = norm_h ? rms_scale(block_sum(ss, red), d, eps) : 1.0f;
  for (int c = threadIdx.x; c < d; c += blockDim.x) h[o + c] = from_f<T>(x[o + c] * r);
}

template <typename T>
__global__ void residual_kernel(float* x, const T* delta, float* save, T* h, int d, float eps) {
  __shared__ float red[32];
  const int64_t o = (int64_t)blockIdx.x * d;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < d; c += blockDim.x) {
    float v = x[o + c];
    if (delta) v += to_f(delta[o + c]);
    x[o + c] = v;
    if (save) save[o + c] = v;
    ss += v * v;
  }
  if (!h) return;
  const float r = rms_scale(block_sum(ss, red), d, eps);
  for (int c = threadIdx.x; c < d; c += blockDim.x) h[o + c] = from_f<T>(x[o + c] * r);
}

// One warp per (token, head, part): part 0 q, 1 k, 2 v. Lane l holds the rotary pairs (j, j + D/2) for
// j = l, l + 32, ... < D/2 (at most 4 pairs: D <= 256).
constexpr int kMaxPairs = 4;

template <typename T>
__global__ void qkv_prepare_kernel(T* q, T* kc, T* vc, const T* qkv, const int32_t* tokens, const T* ve,
                                   const float* freqs, float a0, float a1, int v_norm, int n, int H, int D, int pos0,
                                   const int32_t* pos_dev, float eps) {
  const int warp = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (warp >= n * H * 3) return;
  const int part = warp % 3, h = (warp / 3) % H, t = warp / (3 * H);
  const int half = D / 2, HD = H * D;
  const T* src = qkv + (int64_t)t * 3 * HD + (int64_t)part * HD + (int64_t)h * D;
  float x1[kMaxPairs], x2[kMaxPairs];
  float ss = 0.0f;
#pragma unroll
  for (int p = 0; p < kMaxPairs; p++) {
    const int j = lane + 32 * p;
    x1[p] = j < half ? to_f(src[j]) : 0.0f;
    x2[p] = j < half ? to_f(src[j + half]) : 0.0f;
    ss += x1[p] * x1[p] + x2[p] * x2[p];
  }
  const bool normed = part < 2 || v_norm;
  const float r = normed ? rms_scale(warp_sum(ss), D, eps) : 1.0f;
  const int64_t pos = (int64_t)(pos_dev ? *pos_dev : pos0) + t;
  T* dst = part == 0 ? q + (int64_t)t * HD : (part == 1 ? kc : vc) + pos * HD;
  dst += (int64_t)h * D;
  const T* e = (part == 2 && ve) ? ve + (int64_t)tokens[t] * HD + (int64_t)h * D : nullptr;
#pragma unroll
  for (int p = 0; p < kMaxPairs; p++) {
    const int j = lane + 32 * p;
    if (j >= half) break;
    float y1 = x1[p] * r, y2 = x2[p] * r;
    if (part < 2) {
      const float th = (float)pos * freqs[j];
      const float c = cosf(th), sn = sinf(th);
      const float r1 = y1 * c + y2 * sn, r2 = -y1 * sn + y2 * c;
      y1 = r1;
      y2 = r2;
    } else if (e) {
      y1 = a0 * y1 + a1 * to_f(e[j]);
      y2 = a0 * y2 + a1 * to_f(e[j + half]);
    } else {
      y1 *= a0;
      y2 *= a0;
    }
    dst[j] = from_f<T>(y1);
    dst[j + half] = from_f<T>(y2);
  }
}

// One block of kAttnWarps warps per (query, head); the warps take turns over the visible keys, each
// taking kAttnBatch of its keys at a time (their k and v loads in flight together), with an online
// softmax; then the warps merge. Lane l holds elements l + 32 e of the head (e < D/32 rounded up).
// Few queries (generation): 8 warps, 4 keys at a time, since a decode step is nothing but the latency
// of one query's key reads; many queries (a prompt): 4 warps, 1 key at a time (more blocks resident).
constexpr int kMaxElems = 8;  // D <= 256

template <typename T, int kAttnWarps, int kAttnBatch>
__global__ void __launch_bounds__(32 * kAttnWarps) attention_kernel(T* out, const T* q, const T* kc, const T* vc,
                                                                   const int32_t* first, const int32_t* begin,
                                                                   const int32_t* end, int H, int D, float scale) {
  __shared__ float sm_m[kAttnWarps], sm_l[kAttnWarps], sm_acc[kAttnWarps][256];
  const int t = blockIdx.x, h = blockIdx.y;
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t HD = (int64_t)H * D;
  float qv[kMaxElems], acc[kMaxElems];
#pragma unroll
  for (int e = 0; e < kMaxElems; e++) {
    const int i = lane + 32 * e;
    qv[e] = i < D ? to_f(q[t * HD + h * D + i]) : 0.0f;
    acc[e] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  int64_t seen = 0;  // keys of earlier ranges: key number `seen + (j - b)` goes to warp (that % kAttnWarps)
  for (int r = first[t]; r < first[t + 1]; r++) {
    const int b = begin[r], en = end[r];
    const int start = b + (int)(((w - seen) % kAttnWarps + kAttnWarps) % kAttnWarps);
    for (int j0 = start; j0 < en; j0 += kAttnBatch * kAttnWarps) {
      float kv[kAttnBatch][kMaxElems], vv[kAttnBatch][kMaxElems];
#pragma unroll
      for (int u = 0; u < kAttnBatch; u++) {
        const int j = j0 + u * kAttnWarps;
        const T* k = kc + (int64_t)j * HD + h * D;
        const T* v = vc + (int64_t)j * HD + h * D;
#pragma unroll
        for (int e = 0; e < kMaxElems; e++) {
          const int i = lane + 32 * e;
          const bool ok = j < en && i < D;
          kv[u][e] = ok ? to_f(k[i]) : 0.0f;
          vv[u][e] = ok ? to_f(v[i]) : 0.0f;
        }
      }
      float sc[kAttnBatch], mx = m;
#pragma unroll
      for (int u = 0; u < kAttnBatch; u++) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < kMaxElems; e++) dot += qv[e] * kv[u][e];
        sc[u] = j0 + u * kAttnWarps < en ? warp_sum(dot) * scale : -INFINITY;
        mx = fmaxf(mx, sc[u]);
      }
      const float corr = expf(m - mx);
      l *= corr;
#pragma unroll
      for (int e = 0; e < kMaxElems; e++) acc[e] *= corr;
#pragma unroll
      for (int u = 0; u < kAttnBatch; u++) {
        const float p = expf(sc[u] - mx);  // 0 for the keys past the range
        l += p;
#pragma unroll
        for (int e = 0; e < kMaxElems; e++) acc[e] += p * vv[u][e];
      }
      m = mx;
    }
    seen += en - b;
  }
  if (lane == 0) {
    sm_m[w] = m;
    sm_l[w] = l;
  }
#pragma unroll
  for (int e = 0; e < kMaxElems; e++) {
    const int i = lane + 32 * e;
    if (i < D) sm_acc[w][i] = acc[e];
  }
  __syncthreads();
  float M, L, f[kAttnWarps];
  merge_softmax_parts<kAttnWarps>(sm_m, sm_l, f, M, L);
  for (int i = threadIdx.x; i < D; i += blockDim.x) {
    float o = 0.0f;
    for (int k = 0; k < kAttnWarps; k++) o += f[k] * sm_acc[k][i];
    out[t * HD + h * D + i] = from_f<T>(o / L);
  }
}

template <typename T>
__global__ void relu_square_kernel(T* x, int64_t N) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x) {
    const float v = fmaxf(to_f(x[i]), 0.0f);
    x[i] = from_f<T>(v * v);
  }
}

template <typename T>
__global__ void softcap_kernel(float* out, const T* z, int64_t N, int kind, float s) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x) {
    const float v = to_f(z[i]);
    float y = v;
    if (kind == 0) y = 30.0f / (1.0f + expf(-v * s));
    else if (kind == 1) y = 30.0f / (1.0f + expf(-v / 7.5f));
    else if (kind == 2) y = 15.0f * v / sqrtf(v * v + 225.0f);
    out[i] = y;
  }
}

unsigned elementwise_blocks(int64_t N) { return (unsigned)std::min<int64_t>(ceil_div(N, 256), 65535 * 8); }

}  // namespace

template <typename T>
void modded_embed_norm(float* x, float* x0, const int32_t* tokens, const T* embed, int n, int d, float eps,
                       cudaStream_t s) {
  embed_norm_kernel<T><<<n, kRowThreads, 0, s>>>(x, x0, tokens, embed, d, eps);
  CUDA_CHECK_LAUNCH("modded_embed_norm");
}

template <typename T>
void modded_mix(float* x, T* h, const float* x0, const float* skip, float w, float l0, float l1, bool norm_h, int n,
                int d, float eps, cudaStream_t s) {
  mix_kernel<T><<<n, kRowThreads, 0, s>>>(x, h, x0, skip, w, l0, l1, norm_h ? 1 : 0, d, eps);
  CUDA_CHECK_LAUNCH("modded_mix");
}

template <typename T>
void modded_residual(float* x, const T* delta, float* save, T* h, int n, int d, float eps, cudaStream_t s) {
  residual_kernel<T><<<n, kRowThreads, 0, s>>>(x, delta, save, h, d, eps);
  CUDA_CHECK_LAUNCH("modded_residual");
}

template <typename T>
void modded_qkv_prepare(T* q, T* kc, T* vc, const T* qkv, const int32_t* tokens, const T* ve, const float* freqs,
                        float a0, float a1, bool v_norm, int n, int H, int D, int pos0, const int32_t* pos_dev,
                        float eps, cudaStream_t s) {
  if (D % 2 || D > 2 * 32 * kMaxPairs) throw std::invalid_argument("modded_qkv_prepare: head_dim must be even and <= 256");
  const int warps = n * H * 3;
  qkv_prepare_kernel<T><<<ceil_div(warps, 4), 128, 0, s>>>(q, kc, vc, qkv, tokens, ve, freqs, a0, a1, v_norm ? 1 : 0,
                                                           n, H, D, pos0, pos_dev, eps);
  CUDA_CHECK_LAUNCH("modded_qkv_prepare");
}

template <typename T>
void modded_attention(T* out, const T* q, const T* kc, const T* vc, const int32_t* first, const int32_t* begin,
                      const int32_t* end, int n, int H, int D, float scale, cudaStream_t s) {
  if (D > 32 * kMaxElems) throw std::invalid_argument("modded_attention: head_dim must be <= 256");
  if (n <= 4) attention_kernel<T, 8, 4><<<dim3(n, H), 256, 0, s>>>(out, q, kc, vc, first, begin, end, H, D, scale);
  else attention_kernel<T, 4, 1><<<dim3(n, H), 128, 0, s>>>(out, q, kc, vc, first, begin, end, H, D, scale);
  CUDA_CHECK_LAUNCH("modded_attention");
}

template <typename T>
void modded_relu_square(T* x, int64_t N, cudaStream_t s) {
  relu_square_kernel<T><<<elementwise_blocks(N), 256, 0, s>>>(x, N);
  CUDA_CHECK_LAUNCH("modded_relu_square");
}

template <typename T>
void modded_softcap(float* logits, const T* z, int64_t N, int kind, int dim, cudaStream_t s) {
  const float sc = 1.0f / (7.5f * std::sqrt((float)dim));
  softcap_kernel<T><<<elementwise_blocks(N), 256, 0, s>>>(logits, z, N, kind, sc);
  CUDA_CHECK_LAUNCH("modded_softcap");
}

#define MYPT_MODDED_OPS(T)                                                                                          \
  template void modded_embed_norm<T>(float*, float*, const int32_t*, const T*, int, int, float, cudaStream_t);     \
  template void modded_mix<T>(float*, T*, const float*, const float*, float, float, float, bool, int, int, float,  \
                              cudaStream_t);                                                                       \
  template void modded_residual<T>(float*, const T*, float*, T*, int, int, float, cudaStream_t);                   \
  template void modded_qkv_prepare<T>(T*, T*, T*, const T*, const int32_t*, const T*, const float*, float, float,  \
                                      bool, int, int, int, int, const int32_t*, float, cudaStream_t);              \
  template void modded_attention<T>(T*, const T*, const T*, const T*, const int32_t*, const int32_t*,              \
                                    const int32_t*, int, int, int, float, cudaStream_t);                           \
  template void modded_relu_square<T>(T*, int64_t, cudaStream_t);                                                  \
  template void modded_softcap<T>(float*, const T*, int64_t, int, int, cudaStream_t);
MYPT_MODDED_OPS(float)
MYPT_MODDED_OPS(bf16)
#undef MYPT_MODDED_OPS

}  // namespace cuda
}  // namespace mypt
