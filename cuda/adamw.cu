// Global norm and fused AdamW kernels; contract in adamw.cuh. AdamW moves 4 fp32 values in and 3 out per
// parameter (fp32 masters), or 3 fp32 + two 16-bit halves in and out (split masters), 4 consecutive
// parameters per thread with 16-byte (8-byte for the halves) accesses.
#include <algorithm>
#include <stdexcept>

#include "adamw.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr int kNormBlocks = 1024;

__global__ void sumsq_partial_kernel(double* partial, const float* g, int64_t N) {
  __shared__ double sh[256];
  double s = 0.0;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x) {
    const double x = g[i];
    s += x * x;
  }
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int o = blockDim.x / 2; o > 0; o >>= 1) {
    if ((int)threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

__global__ void sumsq_final_kernel(float* norm, const double* partial, int n) {
  __shared__ double sh[1024];
  double s = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
  s = block_sum_fixed(s, sh);
  if (threadIdx.x == 0) norm[0] = (float)sqrt(s);
}

// Index of the tensor holding element i: the last k with starts[k] <= i.
__device__ __forceinline__ int tensor_of(const int64_t* starts, int n, int64_t i) {
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= i) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// Same operation order as the CPU's adamw_span (binding/cpu/ops.cc), so fp32 results agree to rounding.
struct AdamScalars {
  float decay_mul, b1, one_b1, b2, one_b2, step_size, bc2_sqrt, eps, clip, grad_scale;
};

__device__ __forceinline__ void adam_one(float& p, float& m, float& v, float g, bool dec, const AdamScalars& a) {
  if (dec) p *= a.decay_mul;
  m = m * a.b1 + g * a.one_b1;
  v = v * a.b2 + g * g * a.one_b2;
  p -= a.step_size * (m / (sqrtf(v) / a.bc2_sqrt + a.eps));
}

// Masters as fp32 (P.f32) or split (SPLIT: P.hi, P.lo, joined before and split after the update).
template <bool SPLIT>
__device__ __forceinline__ float4 load_masters(const Masters& P, int64_t i) {
  if constexpr (!SPLIT) return *(const float4*)(P.f32 + i);
  const uint2 h = *(const uint2*)(P.hi + i), l = *(const uint2*)(P.lo + i);
  return make_float4(__uint_as_float(join_master_bits(h.x & 0xffffu, l.x & 0xffffu)),
                     __uint_as_float(join_master_bits(h.x >> 16, l.x >> 16)),
                     __uint_as_float(join_master_bits(h.y & 0xffffu, l.y & 0xffffu)),
                     __uint_as_float(join_master_bits(h.y >> 16, l.y >> 16)));
}

template <bool SPLIT>
__device__ __forceinline__ void store_masters(const Masters& P, int64_t i, float4 p) {
  if constexpr (!SPLIT) {
    *(float4*)(P.f32 + i) = p;
  } else {
    uint16_t h[4], l[4];
    split_master_bits(__float_as_uint(p.x), h[0], l[0]);
    split_master_bits(__float_as_uint(p.y), h[1], l[1]);
    split_master_bits(__float_as_uint(p.z), h[2], l[2]);
    split_master_bits(__float_as_uint(p.w), h[3], l[3]);
    *(uint2*)(P.hi + i) = make_uint2(h[0] | ((uint32_t)h[1] << 16), h[2] | ((uint32_t)h[3] << 16));
    *(uint2*)(P.lo + i) = make_uint2(l[0] | ((uint32_t)l[1] << 16), l[2] | ((uint32_t)l[3] << 16));
  }
}

template <bool SPLIT>
__global__ void adamw_kernel(Masters P, float* mom, float* var, const float* grad, int64_t N, const int64_t* starts,
                             const uint8_t* decay, int nt, AdamScalars a, const float* norm) {
  float c = 1.0f;
  if (a.clip > 0.0f) c = fminf(1.0f, a.clip / (norm[0] + 1e-6f));
  c *= a.grad_scale;
  const int64_t n4 = (N + 3) / 4;
  for (int64_t q = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; q < n4; q += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i0 = q * 4;
    const int k = tensor_of(starts, nt, i0);
    if (i0 + 4 <= N && i0 + 4 <= starts[k + 1]) {
      float4 p = load_masters<SPLIT>(P, i0), m = *(const float4*)(mom + i0), v = *(const float4*)(var + i0);
      const float4 g = *(const float4*)(grad + i0);
      const bool dec = decay[k] != 0;
      adam_one(p.x, m.x, v.x, g.x * c, dec, a);
      adam_one(p.y, m.y, v.y, g.y * c, dec, a);
      adam_one(p.z, m.z, v.z, g.z * c, dec, a);
      adam_one(p.w, m.w, v.w, g.w * c, dec, a);
      store_masters<SPLIT>(P, i0, p);
      *(float4*)(mom + i0) = m;
      *(float4*)(var + i0) = v;
    } else {
      for (int64_t i = i0; i < i0 + 4 && i < N; i++) {
        const int kk = tensor_of(starts, nt, i);
        float p = SPLIT ? join_master(P.hi[i], P.lo[i]) : P.f32[i], m = mom[i], v = var[i];
        adam_one(p, m, v, grad[i] * c, decay[kk] != 0, a);
        if constexpr (SPLIT) split_master(p, P.hi[i], P.lo[i]);
        else P.f32[i] = p;
        mom[i] = m;
        var[i] = v;
      }
    }
  }
}

__global__ void sumsq_add_kernel(double* acc, const double* partial, int n) {
  __shared__ double sh[1024];
  double s = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
  s = block_sum_fixed(s, sh);
  if (threadIdx.x == 0) acc[0] += s;
}

__global__ void norm_from_sumsq_kernel(float* norm, const double* sumsq, double scale) {
  norm[0] = (float)(sqrt(sumsq[0]) * scale);
}

// block k: buf[spans[2k] + i] = 0 for i < spans[2k + 1]
__global__ void zero_spans_kernel(float* buf, const int64_t* spans) {
  float* p = buf + spans[2 * blockIdx.x];
  const int n = (int)spans[2 * blockIdx.x + 1];
  for (int i = threadIdx.x; i < n; i += blockDim.x) p[i] = 0.0f;
}

}  // namespace

void sum_squares_add(double* acc, const float* x, int64_t n, double* scratch, cudaStream_t s) {
  if (n <= 0) return;
  sumsq_partial_kernel<<<kNormBlocks, 256, 0, s>>>(scratch, x, n);
  CUDA_CHECK_LAUNCH("sum_squares_add (partials)");
  sumsq_add_kernel<<<1, 1024, 0, s>>>(acc, scratch, kNormBlocks);
  CUDA_CHECK_LAUNCH("sum_squares_add (final)");
}

void zero_spans(float* buf, const int64_t* spans, int n, cudaStream_t s) {
  if (n <= 0) return;
  zero_spans_kernel<<<n, 256, 0, s>>>(buf, spans);
  CUDA_CHECK_LAUNCH("zero_spans");
}

void norm_from_sumsq(float* norm_out, const double* sumsq, double scale, cudaStream_t s) {
  norm_from_sumsq_kernel<<<1, 1, 0, s>>>(norm_out, sumsq, scale);
  CUDA_CHECK_LAUNCH("norm_from_sumsq");
}

void global_norm(float* norm_out, const float* grad, int64_t N, double* scratch, cudaStream_t s) {
  sumsq_partial_kernel<<<kNormBlocks, 256, 0, s>>>(scratch, grad, N);
  CUDA_CHECK_LAUNCH("global_norm (partials)");
  sumsq_final_kernel<<<1, 1024, 0, s>>>(norm_out, scratch, kNormBlocks);
  CUDA_CHECK_LAUNCH("global_norm (final)");
}

void adamw_update(const Masters& param, float* m, float* v, const float* grad, int64_t N,
                  const int64_t* starts, const uint8_t* decay, int n_tensors, float lr, float beta1, float beta2,
                  float eps, float weight_decay, int64_t t, const float* norm, float grad_clip, cudaStream_t s,
                  float grad_scale) {
  if (N <= 0) return;
  AdamScalars a;
  const double bc1 = 1.0 - std::pow((double)beta1, (double)t);
  a.decay_mul = (float)(1.0 - (double)lr * weight_decay);
  a.b1 = beta1;
  a.one_b1 = (float)(1.0 - beta1);
  a.b2 = beta2;
  a.one_b2 = (float)(1.0 - beta2);
  a.step_size = (float)(lr / bc1);
  a.bc2_sqrt = (float)std::sqrt(1.0 - std::pow((double)beta2, (double)t));
  a.eps = eps;
  a.clip = grad_clip;
  a.grad_scale = grad_scale;
  const int64_t n4 = (N + 3) / 4;
  const int64_t g = std::min<int64_t>((n4 + 255) / 256, 132 * 16);
  if ((param.f32 != nullptr) == (param.hi != nullptr && param.lo != nullptr))
    throw std::invalid_argument("adamw_update: the masters are either fp32 or split (hi and lo)");
  if (param.f32)
    adamw_kernel<false><<<(unsigned)g, 256, 0, s>>>(param, m, v, grad, N, starts, decay, n_tensors, a, norm);
  else
    adamw_kernel<true><<<(unsigned)g, 256, 0, s>>>(param, m, v, grad, N, starts, decay, n_tensors, a, norm);
  CUDA_CHECK_LAUNCH("adamw_update");
}

}  // namespace cuda
}  // namespace mypt
