// Device helpers both attention paths share (attention.cu's mma.sync kernels and attention_sm90.cu's
// wgmma kernels): the shared-memory address of a pointer, bf16 pairs packed for a tensor-core operand, and
// the dropout keep bits of one thread's accumulator fragment (the mask is dropout.h's, element (b, h, i, j)
// at counter offset + ((b*H + h)*T + i)*T + j, so both paths and the CPU drop the same elements).
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

#include "engine/dropout.h"

namespace mypt {
namespace cuda {
namespace attn {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// Keep bits for one thread's accumulator fragment of NT n8 tiles, bit nt*4 + e for element e of tile nt
// (fragment layout: e&1 -> column +1, e>>1 -> row +8). Computed in a rolled loop to keep code and
// registers small.
//   keep_rows: rows are queries (row counter base = offset + (bh*T + row)*T), columns keys from col0
//   keep_cols: rows are keys (key0, key0 + 8), columns queries from q0: counter offset + (bh*T + q)*T + key
template <int NT>
__device__ __forceinline__ uint64_t keep_rows(uint64_t seed, uint64_t row_base, int T, int col0, float p) {
  uint64_t bits = 0;
#pragma unroll 1
  for (int i = 0; i < NT * 4; ++i) {
    const int nt = i >> 2, e = i & 3;
    const uint64_t idx = row_base + ((e >> 1) ? (uint64_t)8 * T : 0) + col0 + nt * 8 + (e & 1);
    bits |= (uint64_t)dropout_keep(seed, idx, p) << i;
  }
  return bits;
}
template <int NT>
__device__ __forceinline__ uint64_t keep_cols(uint64_t seed, uint64_t base_key, int T, int q0, float p) {
  uint64_t bits = 0;
#pragma unroll 1
  for (int i = 0; i < NT * 4; ++i) {
    const int nt = i >> 2, e = i & 3;
    const uint64_t q = (uint64_t)(q0 + nt * 8 + (e & 1));
    bits |= (uint64_t)dropout_keep(seed, base_key + q * T + ((e >> 1) ? 8 : 0), p) << i;
  }
  return bits;
}

}  // namespace attn
}  // namespace cuda
}  // namespace mypt
