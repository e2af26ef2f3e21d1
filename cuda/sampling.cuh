// Next-token sampling on the GPU from one row of V fp32 logits (one block; no host round trip except the
// id the caller copies back).
//   temperature <= 0: out_id = argmax (first index of the maximum).
//   else x = logits / temperature; top_k > 0 keeps x >= (k-th largest x); top_p < 1 then keeps the
//   smallest set of the largest probabilities whose mass reaches top_p (threshold form: ties at the
//   threshold are kept, as torch's `logits < v[-1]` masking does); sample index i with probability
//   softmax(kept x)_i by inverse CDF in index order with u = uniform01(seed, counter) (dropout.h); without
//   top-k and top-p (plain sampling) the masses are summed in the fixed tree below.
//   counter_dev: the counter is read there instead, and advanced by one when a draw was made (so that a
//   CUDA graph replaying the call draws a new number each time).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "common.cuh"
#include "engine/dropout.h"

namespace mypt {
namespace cuda {

void sample_token(int32_t* out_id, const float* logits, int V, float temperature, int top_k, float top_p,
                  uint64_t seed, uint64_t counter, cudaStream_t s, uint64_t* counter_dev = nullptr);

// Plain sampling (temperature > 0, no top-k, no top-p) picks as the inverse CDF in index order over a fixed
// tree of double sums, so that one block (sample_token, sample_tokens) and many (sample_after_head) pick the
// same id: a chunk's mass is the sequential sum of exp(x_i / temperature - xmax) over its kSampleChunk indices,
// a group's the warp butterfly sum of its 32 chunks', the row's the sequential sum of the groups'; the pick is
// the first group whose running mass passes u * total, in it the first chunk (warp scan), in it the first
// index (sequential).
// Rows of up to kMaxSampleGroups groups (2M logits) take the tree; longer ones the general path.
constexpr int kSampleChunk = 64, kSampleGroup = 32 * kSampleChunk, kMaxSampleGroups = 1024;
MYPT_HD bool plain_sampling(float temperature, int top_k, float top_p, int V) {
  return temperature > 0.0f && !(top_k > 0 && top_k < V) && !(top_p < 1.0f) && V <= kMaxSampleGroups * kSampleGroup;
}

// Sampling fused into a decode pass's head (decode_pass.cuh, n = 1; greedy, or plain_sampling): the head's GEMV leaves
// the row's largest logit and its first index in scratch[0] (pack_max), then sample_after_head draws the id
// into out_id, advances *counter_dev when it draws and *pos_dev (when given) by one, and leaves scratch as it
// found it: head_sample_scratch(V) doubles (the maximum, a count, and each group's and chunk's mass), zeroed
// before the first use.
struct HeadSample {
  int32_t* out_id = nullptr;
  float temperature = 0.0f;
  uint64_t seed = 0;
  uint64_t* counter_dev = nullptr;
  double* scratch = nullptr;
  // decode_pass (decode_pass.cuh): the pass finds its token's embedding already in its x, left there by the pass
  // before (NextEmbedding below), and leaves the sampled id's there for the pass after
  bool chained = false;
};
inline size_t head_sample_scratch(int V) { return 2 + 33 * ((size_t)(V + kSampleGroup - 1) / kSampleGroup); }

// Where given to sample_after_head (with pos_dev), the sampled id's embedding at the position *pos_dev
// advances to, x = wte[id] + wpe[pos] rounded to the model's type as encoder_forward forms it, into x, while
// pos < block: the next decode pass starts from it instead of launching the embeddings' kernel
// (decode_pass.cuh's chained passes). x, wte and wpe 16-byte aligned, C a multiple of 8.
struct NextEmbedding {
  void* x = nullptr;
  const void* wte = nullptr;
  const void* wpe = nullptr;
  int C = 0, block = 0;
  bool bf16 = false;  // else fp32
};
void sample_after_head(const HeadSample& h, const float* logits, int V, int32_t* pos_dev, cudaStream_t s,
                       const NextEmbedding* next = nullptr);

// (value, index) packed so that the larger of two packs is the larger value, the lower index on ties; 0 is
// below every value.
MYPT_HD uint32_t order_key(float x) {
#ifdef __CUDA_ARCH__
  const uint32_t u = __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, 4);
#endif
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
MYPT_HD unsigned long long pack_max(float x, int i) {
  return ((unsigned long long)order_key(x) << 32) | (0xffffffffu - (uint32_t)i);
}
MYPT_HD int packed_index(unsigned long long packed) { return (int)(0xffffffffu - (uint32_t)packed); }
// the value of a pack (order_key inverted; read by the kernels only)
__device__ __forceinline__ float packed_value(unsigned long long packed) {
  const uint32_t key = (uint32_t)(packed >> 32);
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

// The same for `rows` rows of logits ([rows, V]) in one launch (a block a row), each with its own settings
// (args: `rows` entries on the device): out_ids[r] is what sample_token gives row r with args[r].
struct SampleArgs {
  float temperature;
  int top_k;
  float top_p;
  uint32_t pad_;
  uint64_t seed, counter;
};
void sample_tokens(int32_t* out_ids, const float* logits, int rows, int V, const SampleArgs* args, cudaStream_t s);

// Elementwise copies with conversion: out[i] = (To) inp[i].
template <typename To, typename Ti>
void convert(To* out, const Ti* inp, int64_t N, cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
