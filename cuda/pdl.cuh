// Programmatic dependent launch (Hopper and later): a kernel launched with launch_pdl may start while the
// kernel before it on the stream is still finishing. It must call pdl_wait() before it reads anything the
// earlier kernel writes (or writes anything that kernel reads); what it does before (loading weights,
// which no kernel of the chain writes) overlaps the earlier kernel's tail and hides its own launch.
// pdl_trigger() lets the next kernel be scheduled once every block of this one has called it.
// On older GPUs, or where the attribute is refused, both are no-ops and launches are ordinary.
// Captured into a CUDA graph the dependency becomes a programmatic edge (the decode graph).
#pragma once
#include <cuda_runtime.h>

#include <utility>

#include "common.cuh"

namespace mypt {
namespace cuda {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// Asks for the 128-byte line at p in L2 (no register written): what a kernel will read after pdl_wait, when
// no kernel of the chain writes it.
__device__ __forceinline__ void prefetch_l2(const void* p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

// Whether the current device takes the attribute (compute capability 9.0 or newer); MYPT_NO_PDL=1 turns
// it off (for timing the difference).
bool pdl_enabled();

template <typename... KArgs, typename... Args>
void launch_pdl(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args&&... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

}  // namespace cuda
}  // namespace mypt
