// Sampling kernel and conversions; contract in sampling.cuh. Thresholds work on the order-preserving
// 32-bit keys of the floats, no sort: the k-th largest by radix select (4 histogram passes), the top-p
// cut by bisection (32 block-wide passes summing probability mass in a fixed order).
#include <algorithm>

#include "engine/dropout.h"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr int kThreads = 1024;

__device__ __forceinline__ uint32_t key_of(float x) {
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// One row's sample by one block of kThreads threads (sample_kernel: one row; sample_rows_kernel: a row a block).
// counter_dev: the counter is read there, and advanced when a draw is made.
__device__ __forceinline__ void sample_row(int32_t* out_id, const float* logits, int V, float temp, int top_k,
                                           float top_p, uint64_t seed, uint64_t counter, uint64_t* counter_dev) {
  if (counter_dev) counter = *counter_dev;
  __shared__ float sh[kThreads];
  const int tid = threadIdx.x;
  // argmax / max
  float best = -INFINITY;
  int besti = 0x7fffffff;
  for (int i = tid; i < V; i += kThreads) {
    const float x = logits[i];
    if (x > best || (x == best && i < besti)) { best = x; besti = i; }
  }
  __shared__ float bv[kThreads];
  __shared__ int bi[kThreads];
  bv[tid] = best;
  bi[tid] = besti;
  __syncthreads();
  for (int o = kThreads / 2; o > 0; o >>= 1) {
    if (tid < o) {
      const float v2 = bv[tid + o];
      const int i2 = bi[tid + o];
      if (v2 > bv[tid] || (v2 == bv[tid] && i2 < bi[tid])) { bv[tid] = v2; bi[tid] = i2; }
    }
    __syncthreads();
  }
  if (temp <= 0.0f) {
    if (tid == 0) out_id[0] = bi[0];
    return;
  }
  if (counter_dev && tid == 0) *counter_dev = counter + 1;  // every thread has read it (syncs above)
  const float inv_t = 1.0f / temp;
  const float xmax = bv[0] * inv_t;
  // k-th largest key: radix select, 8 bits a pass (integer histograms: deterministic)
  uint32_t kth = 0;
  if (top_k > 0 && top_k < V) {
    __shared__ int hist[256];
    __shared__ uint32_t s_pre;
    __shared__ int s_k;
    if (tid == 0) { s_pre = 0; s_k = top_k; }
    uint32_t mask = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
      if (tid < 256) hist[tid] = 0;
      __syncthreads();
      const uint32_t pre = s_pre;
      for (int i = tid; i < V; i += kThreads) {
        const uint32_t key = key_of(logits[i] * inv_t);
        if ((key & mask) == pre) atomicAdd(&hist[(key >> shift) & 255u], 1);
      }
      __syncthreads();
      if (tid == 0) {
        int cum = 0, k = s_k;
        for (int d = 255; d >= 0; d--) {
          if (cum + hist[d] >= k) {
            s_pre = pre | ((uint32_t)d << shift);
            s_k = k - cum;
            break;
          }
          cum += hist[d];
        }
      }
      mask |= 255u << shift;
      __syncthreads();
    }
    kth = s_pre;
  }
  // unnormalised probabilities of the kept set
  float S = 0.0f;
  for (int i = tid; i < V; i += kThreads) {
    const float x = logits[i] * inv_t;
    if (key_of(x) >= kth) S += expf(x - xmax);
  }
  S = block_sum_fixed(S, sh);
  uint32_t cut = kth;
  if (top_p < 1.0f) {
    uint32_t ans = 0;
    for (int bit = 31; bit >= 0; bit--) {
      const uint32_t cand = ans | (1u << bit);
      const uint32_t lim = cand > kth ? cand : kth;
      float mass = 0.0f;
      for (int i = tid; i < V; i += kThreads) {
        const float x = logits[i] * inv_t;
        if (key_of(x) >= lim) mass += expf(x - xmax);
      }
      mass = block_sum_fixed(mass, sh);
      if (mass >= top_p * S) ans = cand;
    }
    cut = ans > kth ? ans : kth;
    float S2 = 0.0f;
    for (int i = tid; i < V; i += kThreads) {
      const float x = logits[i] * inv_t;
      if (key_of(x) >= cut) S2 += expf(x - xmax);
    }
    S = block_sum_fixed(S2, sh);
  }
  // inverse CDF in index order: each thread owns a contiguous chunk; u as the CPU's Rng::uniform
  const int chunk = (V + kThreads - 1) / kThreads;
  const int i0 = tid * chunk, i1 = min(V, i0 + chunk);
  __shared__ double part[kThreads];
  __shared__ double run0, target0;
  __shared__ int owner;
  double mine = 0.0;
  for (int i = i0; i < i1; i++) {
    const float x = logits[i] * inv_t;
    if (key_of(x) >= cut) mine += (double)expf(x - xmax);
  }
  part[tid] = mine;
  __syncthreads();
  if (tid < 32) {
    // warp 0 finds the chunk t holding the target: lane l sums chunks 32l.., a warp scan gives each lane's
    // running mass before and after its chunks, then the first lane past the target walks its 32
    constexpr int kPer = kThreads / 32;
    double mine_sum = 0.0;
    for (int t = tid * kPer; t < (tid + 1) * kPer; t++) mine_sum += part[t];
    double incl = mine_sum;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const double y = __shfl_up_sync(0xffffffffu, incl, o);
      if (tid >= o) incl += y;
    }
    const double tot = __shfl_sync(0xffffffffu, incl, 31);
    const double u = (double)(mix64(seed ^ mix64(counter)) >> 11) * (1.0 / 9007199254740992.0);
    const double target = u * tot;
    const unsigned past = __ballot_sync(0xffffffffu, incl > target);
    const int lane = past ? __ffs(past) - 1 : 31;
    if (tid == lane) {
      double run = incl - mine_sum;
      int t = tid * kPer;
      for (; t < kThreads - 1 && t < (tid + 1) * kPer; t++) {
        if (run + part[t] > target) break;
        run += part[t];
      }
      run0 = run;
      target0 = target;
      owner = t;
    }
  }
  __syncthreads();
  if (tid == owner) {
    double run = run0;
    const double target = target0;
    int pick = -1, last = -1;
    for (int i = i0; i < i1; i++) {
      const float x = logits[i] * inv_t;
      if (key_of(x) < cut) continue;
      last = i;
      run += (double)expf(x - xmax);
      if (run > target) { pick = i; break; }
    }
    if (pick < 0 && last < 0) {
      // rounding left the target past this chunk: take the last kept token of the row
      for (int i = V - 1; i >= 0; i--)
        if (key_of(logits[i] * inv_t) >= cut) { last = i; break; }
    }
    out_id[0] = pick >= 0 ? pick : (last >= 0 ? last : bi[0]);
  }
}

__global__ void __launch_bounds__(kThreads) sample_kernel(int32_t* out_id, const float* logits, int V, float temp,
                                                          int top_k, float top_p, uint64_t seed, uint64_t counter,
                                                          uint64_t* counter_dev) {
  sample_row(out_id, logits, V, temp, top_k, top_p, seed, counter, counter_dev);
}

__global__ void __launch_bounds__(kThreads) sample_rows_kernel(int32_t* out_ids, const float* logits, int V,
                                                               const SampleArgs* args) {
  const int r = blockIdx.x;
  const SampleArgs a = args[r];
  sample_row(out_ids + r, logits + (int64_t)r * V, V, a.temperature, a.top_k, a.top_p, a.seed, a.counter, nullptr);
}

template <typename To, typename Ti>
__global__ void convert_kernel(To* out, const Ti* inp, int64_t N) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = from_f<To>(to_f(inp[i]));
}

}  // namespace

void sample_token(int32_t* out_id, const float* logits, int V, float temperature, int top_k, float top_p,
                  uint64_t seed, uint64_t counter, cudaStream_t s, uint64_t* counter_dev) {
  sample_kernel<<<1, kThreads, 0, s>>>(out_id, logits, V, temperature, top_k, top_p, seed, counter, counter_dev);
  CUDA_CHECK_LAUNCH("sample_token");
}

void sample_tokens(int32_t* out_ids, const float* logits, int rows, int V, const SampleArgs* args, cudaStream_t s) {
  if (rows <= 0) return;
  sample_rows_kernel<<<(unsigned)rows, kThreads, 0, s>>>(out_ids, logits, V, args);
  CUDA_CHECK_LAUNCH("sample_tokens");
}

template <typename To, typename Ti>
void convert(To* out, const Ti* inp, int64_t N, cudaStream_t s) {
  if (N <= 0) return;
  const int64_t g = std::min<int64_t>((N + 255) / 256, 65536);
  convert_kernel<To, Ti><<<(unsigned)g, 256, 0, s>>>(out, inp, N);
  CUDA_CHECK_LAUNCH("convert");
}

template void convert<bf16, float>(bf16*, const float*, int64_t, cudaStream_t);
template void convert<float, bf16>(float*, const bf16*, int64_t, cudaStream_t);
template void convert<float, float>(float*, const float*, int64_t, cudaStream_t);

}  // namespace cuda
}  // namespace mypt
