// Sampling kernel and conversions; contract in sampling.cuh. Thresholds work on the order-preserving
// 32-bit keys of the floats, no sort: the k-th largest by radix select (4 histogram passes), the top-p
// cut by bisection (32 block-wide passes summing probability mass in a fixed order).
#include <algorithm>
#include <stdexcept>

#include "encoder.cuh"
#include "engine/dropout.h"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr int kThreads = 1024;

// u for the draw `counter` (the CPU's Rng::uniform)
__device__ __forceinline__ double draw_u(uint64_t seed, uint64_t counter) {
  return (double)(mix64(seed ^ mix64(counter)) >> 11) * (1.0 / 9007199254740992.0);
}

// exp(x_i / t - xmax) as plain sampling takes it (rounded at each step: the same in every kernel)
__device__ __forceinline__ float plain_weight(float logit, float inv_t, float xmax) {
  return expf(__fsub_rn(__fmul_rn(logit, inv_t), xmax));
}

// The weights of indices i0 .. i0 + kSampleBatch - 1 (0 past the row), every load issued before the first
// is used (a chunk is read in kSampleChunk / kSampleBatch such batches, few registers a thread).
constexpr int kSampleBatch = 16;
__device__ __forceinline__ void batch_weights(float (&w)[kSampleBatch], const float* logits, int V, float inv_t,
                                              float xmax, int i0) {
#pragma unroll
  for (int j = 0; j < kSampleBatch; j++) w[j] = i0 + j < V ? logits[i0 + j] : 0.0f;
#pragma unroll
  for (int j = 0; j < kSampleBatch; j++) w[j] = i0 + j < V ? plain_weight(w[j], inv_t, xmax) : 0.0f;
}

// Chunk c's mass (sampling.cuh's tree): the sequential sum of its weights, 0 past the row.
__device__ double chunk_mass(const float* logits, int V, float inv_t, float xmax, int c) {
  double m = 0.0;
  for (int q = 0; q < kSampleChunk; q += kSampleBatch) {
    float w[kSampleBatch];
    batch_weights(w, logits, V, inv_t, xmax, c * kSampleChunk + q);
#pragma unroll
    for (int j = 0; j < kSampleBatch; j++) m += (double)w[j];
  }
  return m;
}

// By one whole warp, from the groups' masses gmass[0, ng) and mass_of(chunk), the chunk's mass: the chunk where
// the running mass passes target (the last chunk of the last group when rounding leaves it short), as its index
// in the row, with the running mass before it in base. Every lane returns it.
template <typename MassOf>
__device__ int pick_chunk(const double* gmass, int ng, int V, double target, MassOf mass_of, double& base) {
  const int lane = threadIdx.x & 31;
  double run = 0.0;
  int g = 0;
  for (; g < ng - 1; g++) {
    if (run + gmass[g] > target) break;
    run += gmass[g];
  }
  const double cm = mass_of(g * 32 + lane);
  double incl = cm;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const double y = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += y;
  }
  const unsigned past = __ballot_sync(0xffffffffu, run + incl > target);
  const int chunks = min(32, (V - g * kSampleGroup + kSampleChunk - 1) / kSampleChunk);  // in this group
  const int c = past ? __ffs(past) - 1 : chunks - 1;
  base = run + __shfl_sync(0xffffffffu, incl - cm, c);
  return g * 32 + c;
}

// By one whole warp, from the groups' masses gmass[0, ng): the index where the running mass passes target
// (the last index of the last group or chunk when rounding leaves it short). Every lane returns it.
__device__ int plain_pick(const float* logits, int V, float inv_t, float xmax, const double* gmass, int ng,
                          double target) {
  const int lane = threadIdx.x & 31;
  double base;
  const int ch = pick_chunk(gmass, ng, V, target,
                            [&](int c) { return chunk_mass(logits, V, inv_t, xmax, c); }, base);
  int pick = 0;
  if (lane == 0) {
    const int i0 = ch * kSampleChunk, i1 = min(V, i0 + kSampleChunk);
    double r = base;
    pick = i1 - 1;
    for (int q = i0; q < i1 && pick == i1 - 1; q += kSampleBatch) {
      float w[kSampleBatch];
      batch_weights(w, logits, V, inv_t, xmax, q);
#pragma unroll
      for (int j = 0; j < kSampleBatch; j++) {
        r += (double)w[j];
        if (q + j < i1 && r > target) {
          pick = q + j;
          break;
        }
      }
    }
  }
  return __shfl_sync(0xffffffffu, pick, 0);
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
  if (plain_sampling(temp, top_k, top_p, V)) {
    // plain: the groups' masses a warp each, then warp 0 picks (sampling.cuh's tree)
    __shared__ double gmass[kMaxSampleGroups];
    const int lane = tid & 31, warp = tid >> 5, ng = (V + kSampleGroup - 1) / kSampleGroup;
    const float xm = __fmul_rn(bv[0], inv_t);
    for (int g = warp; g < ng; g += kThreads / 32) {
      const double m = warp_sum_d(chunk_mass(logits, V, inv_t, xm, g * 32 + lane));
      if (lane == 0) gmass[g] = m;
    }
    __syncthreads();
    if (warp == 0) {
      double tot = 0.0;
      for (int g = 0; g < ng; g++) tot += gmass[g];
      const int pick = plain_pick(logits, V, inv_t, xm, gmass, ng, draw_u(seed, counter) * tot);
      if (lane == 0) out_id[0] = pick;
    }
    return;
  }
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
        const uint32_t key = order_key(logits[i] * inv_t);
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
    if (order_key(x) >= kth) S += expf(x - xmax);
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
        if (order_key(x) >= lim) mass += expf(x - xmax);
      }
      mass = block_sum_fixed(mass, sh);
      if (mass >= top_p * S) ans = cand;
    }
    cut = ans > kth ? ans : kth;
    float S2 = 0.0f;
    for (int i = tid; i < V; i += kThreads) {
      const float x = logits[i] * inv_t;
      if (order_key(x) >= cut) S2 += expf(x - xmax);
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
    if (order_key(x) >= cut) mine += (double)expf(x - xmax);
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
    const double u = draw_u(seed, counter);
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
      if (order_key(x) < cut) continue;
      last = i;
      run += (double)expf(x - xmax);
      if (run > target) { pick = i; break; }
    }
    if (pick < 0 && last < 0) {
      // rounding left the target past this chunk: take the last kept token of the row
      for (int i = V - 1; i >= 0; i--)
        if (order_key(logits[i] * inv_t) >= cut) { last = i; break; }
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

// sample_after_head: block g sums group g's chunk masses (sampling.cuh's tree) and the last block to finish
// picks (plain), or one block takes the argmax (greedy). Each of the kHeadThreads threads of a group's block
// loads 8 of its 2048 logits in one go and forms their weights into shared memory; warp 0's lane l then sums
// chunk l sequentially from there. scratch: [0] the packed maximum, [1] the finished-block count, [2, 2+ng)
// the groups' masses, then their 32 chunks' masses each; all left zero for the next token. The block that picks
// then writes the next token's embedding (NextEmbedding), where asked.
constexpr int kHeadThreads = kSampleGroup / 8;
static_assert(kSampleChunk % 8 == 0, "a thread's 8 weights lie in one chunk");

// The kSampleGroup weights of group g (0 past the row) into w[chunk][index in chunk], by the whole block.
__device__ __forceinline__ void group_weights(float (*w)[kSampleChunk + 1], const float* logits, int V, float inv_t,
                                              float xmax, int g) {
  const int t = threadIdx.x, i0 = g * kSampleGroup + t * 8;
  float x[8];
  if (i0 + 8 <= V && (reinterpret_cast<uintptr_t>(logits) & 15) == 0) {
    const float4 a = __ldcg(reinterpret_cast<const float4*>(logits + i0));
    const float4 b = __ldcg(reinterpret_cast<const float4*>(logits + i0) + 1);
    x[0] = a.x; x[1] = a.y; x[2] = a.z; x[3] = a.w; x[4] = b.x; x[5] = b.y; x[6] = b.z; x[7] = b.w;
  } else {
#pragma unroll
    for (int j = 0; j < 8; j++) x[j] = i0 + j < V ? __ldcg(logits + i0 + j) : 0.0f;
  }
  float* row = w[t / (kSampleChunk / 8)] + (t % (kSampleChunk / 8)) * 8;
#pragma unroll
  for (int j = 0; j < 8; j++) row[j] = i0 + j < V ? plain_weight(x[j], inv_t, xmax) : 0.0f;
}

// NextEmbedding's row for (id, pos), by the whole block: 16 bytes of wte's row and of wpe's a thread, each
// element as encoder_forward forms it (embed_value).
template <typename T>
__device__ __forceinline__ void embed_row(const NextEmbedding& e, int id, int pos) {
  constexpr int kVec = 16 / sizeof(T);
  const uint4* te = reinterpret_cast<const uint4*>(static_cast<const T*>(e.wte) + (int64_t)id * e.C);
  const uint4* pe = reinterpret_cast<const uint4*>(static_cast<const T*>(e.wpe) + (int64_t)pos * e.C);
  uint4* out = static_cast<uint4*>(e.x);
  for (int v = threadIdx.x; v < e.C / kVec; v += blockDim.x) {
    const uint4 a = __ldg(te + v), b = __ldg(pe + v);
    const T* ta = reinterpret_cast<const T*>(&a);
    const T* tb = reinterpret_cast<const T*>(&b);
    uint4 r;
    T* tr = reinterpret_cast<T*>(&r);
#pragma unroll
    for (int j = 0; j < kVec; j++) tr[j] = embed_value(ta[j], tb[j]);
    out[v] = r;
  }
}

__device__ __forceinline__ void embed_next(const NextEmbedding& e, int id, int V, int pos) {
  if (!e.x || pos >= e.block || id < 0 || id >= V) return;
  if (e.bf16) {
    embed_row<bf16>(e, id, pos);
  } else {
    embed_row<float>(e, id, pos);
  }
}

__global__ void __launch_bounds__(kHeadThreads) sample_after_head_kernel(HeadSample h, const float* logits, int V,
                                                                         int32_t* pos_dev, NextEmbedding next) {
  unsigned long long* best = (unsigned long long*)h.scratch;
  unsigned* done = (unsigned*)(h.scratch + 1);
  const int tid = threadIdx.x, lane = tid & 31, g = blockIdx.x, ng = gridDim.x;
  double* gmass = h.scratch + 2;
  double* cmass = gmass + ng;
  const unsigned long long b = __ldcg(best);
  if (h.temperature <= 0.0f) {
    const int id = packed_index(b), pos = pos_dev ? *pos_dev + 1 : 0;  // the id and the position it takes
    __syncthreads();  // every thread has read the maximum and the position
    if (tid == 0) {
      *h.out_id = id;
      *best = 0;
      if (pos_dev) *pos_dev = pos;
    }
    embed_next(next, id, V, pos);
    return;
  }
  const float inv_t = 1.0f / h.temperature;
  const float xm = __fmul_rn(packed_value(b), inv_t);  // the largest logit, as sample_row's bv[0]
  __shared__ float w[32][kSampleChunk + 1];
  group_weights(w, logits, V, inv_t, xm, g);
  __syncthreads();
  __shared__ bool last;
  __shared__ int picked, picked_pos;
  if (tid < 32) {
    double cm = 0.0;  // chunk g*32 + lane: the sequential sum of its weights
#pragma unroll 16
    for (int j = 0; j < kSampleChunk; j++) cm += (double)w[lane][j];
    cmass[g * 32 + lane] = cm;
    const double m = warp_sum_d(cm);
    if (lane == 0) gmass[g] = m;
    __threadfence();
    __syncwarp();
    if (lane == 0) last = atomicAdd(done, 1u) == (unsigned)ng - 1;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  __shared__ double gm[kMaxSampleGroups];
  for (int k = tid; k < ng; k += kHeadThreads) gm[k] = __ldcg(gmass + k);
  __syncthreads();
  if (tid < 32) {
    double tot = 0.0;
    for (int k = 0; k < ng; k++) tot += gm[k];
    const uint64_t counter = *h.counter_dev;
    const double target = draw_u(h.seed, counter) * tot;
    // plain_pick's walk: the group, in it the chunk (warp scan, from the masses kept), in it the index
    double base;
    const int ch = pick_chunk(gm, ng, V, target, [&](int c) { return __ldcg(cmass + c); }, base);
    const int i0 = ch * kSampleChunk, i1 = min(V, i0 + kSampleChunk);
    // the chunk's weights again, two a lane, into w[0]
    for (int j = lane; j < kSampleChunk; j += 32)
      w[0][j] = i0 + j < i1 ? plain_weight(__ldcg(logits + i0 + j), inv_t, xm) : 0.0f;
    __syncwarp();
    if (lane == 0) {
      double r = base;
      int pick = i1 - 1;
      for (int j = 0; j < i1 - i0; j++) {
        r += (double)w[0][j];
        if (r > target) {
          pick = i0 + j;
          break;
        }
      }
      *h.out_id = pick;
      *best = 0;
      *done = 0;
      *h.counter_dev = counter + 1;
      picked = pick;
      picked_pos = pos_dev ? *pos_dev + 1 : 0;
      if (pos_dev) *pos_dev = picked_pos;
    }
  }
  __syncthreads();  // warp 0 has read the masses and picked
  for (int k = tid; k < ng * 33; k += kHeadThreads) gmass[k] = 0.0;
  embed_next(next, picked, V, picked_pos);
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

void sample_after_head(const HeadSample& h, const float* logits, int V, int32_t* pos_dev, cudaStream_t s,
                       const NextEmbedding* next) {
  const int ng = (V + kSampleGroup - 1) / kSampleGroup;
  if (h.temperature > 0.0f && !plain_sampling(h.temperature, 0, 1.0f, V))
    throw std::invalid_argument("sample_after_head: the vocabulary is too large for plain sampling's tree");
  NextEmbedding e;
  if (next && next->x) {
    const auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
    if (!pos_dev || next->C % 8 != 0 || !aligned(next->x) || !aligned(next->wte) || !aligned(next->wpe))
      throw std::invalid_argument("sample_after_head: the next embedding needs the position on the device, 16-byte "
                                  "aligned rows and a width that is a multiple of 8");
    e = *next;
  }
  // an ordinary launch: by programmatic dependent launch after the head it measured slower (H100, one call:
  // 2,972-2,975 tokens/s at temperature 1 against 2,991-2,994)
  sample_after_head_kernel<<<h.temperature > 0.0f ? ng : 1, kHeadThreads, 0, s>>>(h, logits, V, pos_dev, e);
  CUDA_CHECK_LAUNCH("sample_after_head");
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
