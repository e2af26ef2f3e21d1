// Dropout with the counter-based generator of dropout.h (the same masks as the CPU backend).
//   dropout_apply: out[i] = inp[i] * keep(seed, offset + i) / (1 - p)   (keep: uniform >= p)
// The backward is the same function applied to the gradient. In place is allowed; p = 0 copies.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace mypt {
namespace cuda {

template <typename T>
void dropout_apply(T* out, const T* inp, int64_t N, float p, uint64_t seed, uint64_t offset, cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
