// Cross-entropy classifier in one pass over each row of logits, never storing the probabilities.
//   losses[r] = logsumexp(logits[r, :]) - logits[r, targets[r]]        (fp32, overwritten)
//   if write_grad: logits[r, :] is overwritten in place by (softmax(logits[r, :]) - onehot(targets[r])) * dloss
// Rows of V values, ld = V. Statistics in fp32 (online max/sum), logits fp32 or bf16.
// mean_loss: out[0] = mean of losses[0..N) (fp32 result of a fixed-order double sum; deterministic).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace mypt {
namespace cuda {

template <typename T>
void crossentropy_forward_backward(float* losses, T* logits, const int32_t* targets, int64_t BT, int V,
                                   float dloss, bool write_grad, cudaStream_t s);
void mean_loss(float* out, const float* losses, int64_t N, cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
