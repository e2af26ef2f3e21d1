// The fp32 master parameters of a bf16 model, held split in two 16-bit halves (4 bytes a parameter
// instead of fp32 masters beside a bf16 working copy, 6 bytes):
//   lo = the low 16 bits of the master's fp32 bit pattern
//   hi = the master rounded to bf16, ties away from zero: its upper 16 bits, plus one when lo >= 0x8000
//        (the bf16 every kernel reads; round-to-nearest-even differs only at exact ties below an even upper
//        half, 1 in 131,072 patterns)
//   master = join(hi, lo): the upper half is hi, minus one when lo >= 0x8000 (exactly the fp32 master)
// A NaN master stays NaN in hi (the quiet bit set instead of the carry, which would wrap the sign) and joins
// to a NaN. AdamW (adamw.cuh) joins, updates and splits in one pass; the host sees fp32 only (set/get).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "common.cuh"

namespace mypt {
namespace cuda {

// The split halves of a master (bits: its fp32 pattern), as 16-bit patterns.
__host__ __device__ __forceinline__ void split_master_bits(uint32_t bits, uint16_t& hi, uint16_t& lo) {
  lo = (uint16_t)(bits & 0xffffu);
  const uint16_t up = (uint16_t)(bits >> 16);
  const bool nan = (bits & 0x7fffffffu) > 0x7f800000u;
  hi = nan ? (uint16_t)(up | 0x0040u) : (uint16_t)(up + (lo >= 0x8000u ? 1 : 0));
}

// The fp32 pattern the halves came from (any NaN for a NaN).
__host__ __device__ __forceinline__ uint32_t join_master_bits(uint16_t hi, uint16_t lo) {
  const bool nan = (hi & 0x7fffu) > 0x7f80u;
  const uint16_t up = nan ? hi : (uint16_t)(hi - (lo >= 0x8000u ? 1 : 0));
  return ((uint32_t)up << 16) | lo;
}

__device__ __forceinline__ void split_master(float w, bf16& hi, uint16_t& lo) {
  uint16_t h;
  split_master_bits(__float_as_uint(w), h, lo);
  hi = __ushort_as_bfloat16(h);
}

__device__ __forceinline__ float join_master(bf16 hi, uint16_t lo) {
  return __uint_as_float(join_master_bits(__bfloat16_as_ushort(hi), lo));
}

// Where a range of masters lives: f32 (an fp32 model's parameters, or a plain fp32 buffer), or hi + lo (a
// bf16 model's split masters). at(i) is the same view from element i.
struct Masters {
  float* f32 = nullptr;
  bf16* hi = nullptr;
  uint16_t* lo = nullptr;
  Masters at(int64_t i) const {
    return {f32 ? f32 + i : nullptr, hi ? hi + i : nullptr, lo ? lo + i : nullptr};
  }
};

// hi[i], lo[i] = the split of w[i], for i < n.
void split_masters(bf16* hi, uint16_t* lo, const float* w, int64_t n, cudaStream_t s);
// w[i] = join(hi[i], lo[i]), for i < n.
void join_masters(float* w, const bf16* hi, const uint16_t* lo, int64_t n, cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
