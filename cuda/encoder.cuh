// Token + position embedding.
//   forward:  out[b, t, :] = wte[tokens[b, t], :] + wpe[pos0 + t, :]   (overwrites out [B, T, C]);
//             pos0 is read from pos_dev on the device when that is non-null (CUDA-graph replays)
//   backward: dwte[v, :] += sum over (b, t) with tokens[b, t] == v of dout[b, t, :];
//             dwpe[t, :] += sum_b dout[b, t, :]   (fp32, accumulate; dwpe may be null)
//   Deterministic and atomic-free: the host groups the positions by token (EncoderBuckets), and each
//   token's rows are summed in position order.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "common.cuh"

namespace mypt {
namespace cuda {

// Host-side grouping of the B*T positions by token: tokens[u] owns positions[start[u] .. start[u+1]).
struct EncoderBuckets {
  std::vector<int32_t> tokens, start, positions;
  void build(const int32_t* tok, int64_t BT);
};

// One element of a token's embedding at a position: the two added in fp32 and rounded once to T. Every kernel
// that embeds (encoder_forward, the batched decoder's, sample_after_head's next embedding) forms it so, so that
// their rows are equal bit for bit.
template <typename T>
__device__ __forceinline__ T embed_value(T te, T pe) {
  return from_f<T>(to_f(te) + to_f(pe));
}

template <typename T>
void encoder_forward(T* out, const int32_t* tokens, const T* wte, const T* wpe, int B, int T_, int C, int pos0,
                     cudaStream_t s, const int32_t* pos_dev = nullptr);

// d_bucket_* are the device copies of EncoderBuckets (U = tokens.size()).
template <typename T>
void encoder_backward(float* dwte, float* dwpe, const T* dout, const int32_t* d_bucket_tokens,
                      const int32_t* d_bucket_start, const int32_t* d_positions, int U, int B, int T_, int C,
                      cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
