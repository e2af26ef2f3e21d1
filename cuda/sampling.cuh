// Next-token sampling on the GPU from one row of V fp32 logits (one block; no host round trip except the
// id the caller copies back).
//   temperature <= 0: out_id = argmax (first index of the maximum).
//   else x = logits / temperature; top_k > 0 keeps x >= (k-th largest x); top_p < 1 then keeps the
//   smallest set of the largest probabilities whose mass reaches top_p (threshold form: ties at the
//   threshold are kept, as torch's `logits < v[-1]` masking does); sample index i with probability
//   softmax(kept x)_i by inverse CDF in index order with u = uniform01(seed, counter) (dropout.h).
//   counter_dev: the counter is read there instead, and advanced by one when a draw was made (so that a
//   CUDA graph replaying the call draws a new number each time).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace mypt {
namespace cuda {

void sample_token(int32_t* out_id, const float* logits, int V, float temperature, int top_k, float top_p,
                  uint64_t seed, uint64_t counter, cudaStream_t s, uint64_t* counter_dev = nullptr);

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
