// Split and join of the bf16 model's fp32 masters (masters.cuh), one element a thread, grid-stride.
#include "masters.cuh"

#include <algorithm>

namespace mypt {
namespace cuda {

namespace {

__global__ void split_masters_kernel(bf16* hi, uint16_t* lo, const float* w, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    split_master(w[i], hi[i], lo[i]);
}

__global__ void join_masters_kernel(float* w, const bf16* hi, const uint16_t* lo, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    w[i] = join_master(hi[i], lo[i]);
}

unsigned grid_of(int64_t n) { return (unsigned)std::min<int64_t>((n + 255) / 256, 65536); }

}  // namespace

void split_masters(bf16* hi, uint16_t* lo, const float* w, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  split_masters_kernel<<<grid_of(n), 256, 0, s>>>(hi, lo, w, n);
  CUDA_CHECK_LAUNCH("split_masters");
}

void join_masters(float* w, const bf16* hi, const uint16_t* lo, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  join_masters_kernel<<<grid_of(n), 256, 0, s>>>(w, hi, lo, n);
  CUDA_CHECK_LAUNCH("join_masters");
}

}  // namespace cuda
}  // namespace mypt
