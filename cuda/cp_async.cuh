// Asynchronous 16-byte copies from global to shared memory (cp.async, compute capability 8.0 and newer):
// issued, grouped with cp_async_commit, and waited for with cp_async_wait<N> (at most N newest groups
// still in flight). Every thread must commit the same groups. Readers of the copied bytes need a
// __syncthreads after the wait, as for any shared memory written by other threads.
#pragma once
#include <cuda_runtime.h>

namespace mypt {
namespace cuda {

// dst (shared) = the 16 bytes at src (global, cached in L2 only); with `valid`, zero-filled instead when false.
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)), "l"(src));
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)),
               "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

}  // namespace cuda
}  // namespace mypt
