// Dropout kernel; contract in dropout_ops.cuh.
#include <algorithm>

#include "engine/dropout.h"
#include "dropout_ops.cuh"

namespace mypt {
namespace cuda {

namespace {
template <typename T>
__global__ void dropout_kernel(T* out, const T* inp, int64_t N, float p, uint64_t seed, uint64_t offset) {
  const float scale = 1.0f / (1.0f - p);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x) {
    const float v = to_f(inp[i]);
    out[i] = from_f<T>(dropout_keep(seed, offset + (uint64_t)i, p) ? v * scale : 0.0f);
  }
}
}  // namespace

template <typename T>
void dropout_apply(T* out, const T* inp, int64_t N, float p, uint64_t seed, uint64_t offset, cudaStream_t s) {
  if (N <= 0) return;
  if (p <= 0.0f) {
    if (out != inp) CUDA_CHECK(cudaMemcpyAsync(out, inp, N * sizeof(T), cudaMemcpyDeviceToDevice, s));
    return;
  }
  const int64_t g = std::min<int64_t>((N + 255) / 256, 65536);
  dropout_kernel<T><<<(unsigned)g, 256, 0, s>>>(out, inp, N, p, seed, offset);
  CUDA_CHECK_LAUNCH("dropout_apply");
}

template void dropout_apply<float>(float*, const float*, int64_t, float, uint64_t, uint64_t, cudaStream_t);
template void dropout_apply<bf16>(bf16*, const bf16*, int64_t, float, uint64_t, uint64_t, cudaStream_t);

}  // namespace cuda
}  // namespace mypt
