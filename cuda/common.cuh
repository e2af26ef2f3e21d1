// Shared helpers of the CUDA backend: error checks that throw (never exit), the storage types
// (fp32 or bf16) every kernel is templated on, warp/block reductions.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "env_switch.h"

namespace mypt {
namespace cuda {

// Throws for a failed CUDA call (cuda/device.cu), naming the call and where it was made:
//   cudaErrorMemoryAllocation             -> mypt::OutOfMemory, with the current device's free memory
//   no usable GPU left (no driver/device) -> mypt::BackendUnavailable
//   anything else                         -> std::runtime_error
[[noreturn]] void throw_cuda_error(cudaError_t e, const char* what, const char* file, int line);
inline void check_cuda(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess) throw_cuda_error(e, what, file, line);
}
#define CUDA_CHECK(call) ::mypt::cuda::check_cuda((call), #call, __FILE__, __LINE__)
// After every kernel launch: a bad configuration shows up here, not three kernels later.
#define CUDA_CHECK_LAUNCH(name) ::mypt::cuda::check_cuda(cudaGetLastError(), name, __FILE__, __LINE__)

// cudaMalloc / cudaMallocHost that throw mypt::OutOfMemory naming `what`, the bytes asked for and the
// device's free memory when the allocation fails for lack of memory (other failures: as check_cuda).
void* cuda_malloc(size_t bytes, const char* what);
void* cuda_malloc_host(size_t bytes, const char* what);
// How many device allocations cuda_malloc has made in this process: a CUDA graph captured at one count reads
// and writes only addresses that still hold the same buffers while the count is unchanged.
uint64_t allocation_count();
// A float's bit pattern, for the keys of captured graphs (a setting that differs in any bit is another graph).
inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
// Frees what cuda_malloc gave (bytes: as asked for). allocated_bytes(): the device bytes held through
// cuda_malloc now, every device of the process together: the figure beside PyTorch's
// torch.cuda.memory_allocated (the driver's own memory and the loaded kernels' images left out).
void cuda_free(void* p, size_t bytes);
int64_t allocated_bytes();
// What kernels size themselves by, asked once per device (device.cu): the current device's.
struct DeviceProps {
  int sms = 132;             // multiprocessors (132 on an H100 SXM; 132 where the device cannot say)
  int cc = 0;                // compute capability, 10 major + minor
  bool cooperative = false;  // cooperative launches (every block resident at once)
  size_t smem_optin = 0;     // the shared memory a block may opt in to, bytes
};
const DeviceProps& device_props();
inline int sm_count() { return device_props().sms; }

// Before a launch of `kernel` with `bytes` of dynamic shared memory: lets the kernel take all the current device
// allows beside its static shared memory (set once per kernel and device, device.cu), and throws naming `what`,
// the bytes and the device's limit where the launch would ask for more. The limit is an attribute of the
// function, not of a launch: set per launch to that launch's size, a smaller launch lowered it under a larger
// one captured in a graph (Nsight Compute's replay of the training step's graph failed so) or launched from
// another thread.
void allow_dynamic_smem(const void* kernel, size_t bytes, const char* what);
template <typename... A>
void allow_dynamic_smem(void (*kernel)(A...), size_t bytes, const char* what) {
  allow_dynamic_smem(reinterpret_cast<const void*>(kernel), bytes, what);
}

typedef __nv_bfloat16 bf16;

// Load/store any storage type as fp32.
__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float x) { return __float2bfloat16_rn(x); }

// eight bf16 packed in 16 bytes, as fp32
__device__ __forceinline__ void unpack8(float (&r)[8], const uint4& u) {
  const __nv_bfloat162* h = (const __nv_bfloat162*)&u;
#pragma unroll
  for (int k = 0; k < 4; k++) {
    const float2 f = __bfloat1622float2(h[k]);
    r[2 * k] = f.x;
    r[2 * k + 1] = f.y;
  }
}
// 8 consecutive values as fp32 (one 16-byte access for bf16, two for fp32); p 16-byte aligned.
__device__ __forceinline__ void load8(float (&r)[8], const bf16* p) { unpack8(r, *(const uint4*)p); }
__device__ __forceinline__ void load8(float (&r)[8], const float* p) {
  const float4 a = *(const float4*)p, b = *(const float4*)(p + 4);
  r[0] = a.x; r[1] = a.y; r[2] = a.z; r[3] = a.w; r[4] = b.x; r[5] = b.y; r[6] = b.z; r[7] = b.w;
}
// Eight consecutive elements of T as loaded (16 bytes of bf16, 32 of fp32), unpacked to fp32 when used: a
// thread issues all of a row's loads this way before it needs the first value. ldg takes the read-only path
// (for data no kernel of the launch writes), load the ordinary one.
template <typename T>
struct Raw8;
template <>
struct Raw8<bf16> {
  uint4 u;
  __device__ __forceinline__ void load(const bf16* p) { u = *(const uint4*)p; }
  __device__ __forceinline__ void ldg(const bf16* p) { u = __ldg((const uint4*)p); }
  // issued here, before a pdl_wait() that follows: inline asm, which the compiler keeps in order with the wait's
  // (__ldg's loads are invariant, which it may sink past the wait to their first use, and the loads no longer
  // overlap the kernel before)
  __device__ __forceinline__ void ld_early(const bf16* p) {
    asm volatile("ld.global.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(u.x), "=r"(u.y), "=r"(u.z), "=r"(u.w)
                 : "l"(p));
  }
  __device__ __forceinline__ void unpack(float (&r)[8]) const { unpack8(r, u); }
};
template <>
struct Raw8<float> {
  float4 a, b;
  __device__ __forceinline__ void load(const float* p) { a = *(const float4*)p; b = *((const float4*)p + 1); }
  __device__ __forceinline__ void ldg(const float* p) { a = __ldg((const float4*)p); b = __ldg((const float4*)p + 1); }
  __device__ __forceinline__ void ld_early(const float* p) {
    asm volatile("ld.global.L1::no_allocate.v4.f32 {%0, %1, %2, %3}, [%4];"
                 : "=f"(a.x), "=f"(a.y), "=f"(a.z), "=f"(a.w)
                 : "l"(p));
    asm volatile("ld.global.L1::no_allocate.v4.f32 {%0, %1, %2, %3}, [%4];"
                 : "=f"(b.x), "=f"(b.y), "=f"(b.z), "=f"(b.w)
                 : "l"(p + 4));
  }
  __device__ __forceinline__ void unpack(float (&r)[8]) const {
    r[0] = a.x; r[1] = a.y; r[2] = a.z; r[3] = a.w; r[4] = b.x; r[5] = b.y; r[6] = b.z; r[7] = b.w;
  }
};
__device__ __forceinline__ void store8(bf16* p, const float (&r)[8]) {
  uint4 u;
  __nv_bfloat162* h = (__nv_bfloat162*)&u;
#pragma unroll
  for (int k = 0; k < 4; k++) h[k] = __floats2bfloat162_rn(r[2 * k], r[2 * k + 1]);
  *(uint4*)p = u;
}
__device__ __forceinline__ void store8(float* p, const float (&r)[8]) {
  *(float4*)p = make_float4(r[0], r[1], r[2], r[3]);
  *(float4*)(p + 4) = make_float4(r[4], r[5], r[6], r[7]);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum (every thread gets the result). blockDim.x a multiple of 32, at most 1024.
// `shared` needs 32 floats. Contains __syncthreads: call from all threads.
__device__ __forceinline__ float block_sum(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float r = lane < nw ? shared[lane] : 0.0f;
  return warp_sum(r);
}
__device__ __forceinline__ float block_max(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float r = lane < nw ? shared[lane] : -INFINITY;
  return warp_max(r);
}

// Block-wide sum in a fixed tree order: the same bits on every run for a given block size (blockDim.x a
// power of two, at most 1024). `sh` holds blockDim.x values; every thread gets the result.
template <typename X>
__device__ __forceinline__ X block_sum_fixed(X v, X* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int o = blockDim.x / 2; o > 0; o >>= 1) {
    if ((int)threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
    __syncthreads();
  }
  const X r = sh[0];
  __syncthreads();
  return r;
}

// Merging W partial softmaxes (one per warp): part k saw scores with maximum m[k] and sum of exponentials
// l[k]; M = max m, f[k] = exp(m[k] - M) (0 for a part that saw no key), L = sum f[k] l[k]. The merged
// output is sum_k f[k] acc_k / L and the log-sum-exp M + log L.
template <int W>
__device__ __forceinline__ void merge_softmax_parts(const float* m, const float* l, float (&f)[W], float& M, float& L) {
  M = -INFINITY;
#pragma unroll
  for (int k = 0; k < W; k++) M = fmaxf(M, m[k]);
  L = 0.0f;
#pragma unroll
  for (int k = 0; k < W; k++) {
    f[k] = m[k] == -INFINITY ? 0.0f : expf(m[k] - M);
    L += f[k] * l[k];
  }
}

inline unsigned ceil_div(int64_t a, int64_t b) { return (unsigned)((a + b - 1) / b); }

}  // namespace cuda
}  // namespace mypt
