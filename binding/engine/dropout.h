// Counter-based random numbers for dropout, identical on the CPU and the GPU: the keep decision for
// element i is a pure function of (seed, offset + i), so a mask never has to be stored and the backward
// regenerates it. Header-only so the CUDA kernels include the very same code.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define MYPT_HD __host__ __device__ __forceinline__
#else
#define MYPT_HD inline
#endif

namespace mypt {

// splitmix64 finaliser: a bijective 64-bit mix.
MYPT_HD uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 bits, for counter `idx` of stream `seed`.
MYPT_HD float uniform01(uint64_t seed, uint64_t idx) {
  uint64_t h = mix64(seed ^ mix64(idx));
  return (float)(h >> 40) * (1.0f / 16777216.0f);
}

// Dropout keeps element idx when its uniform draw is >= p.
MYPT_HD bool dropout_keep(uint64_t seed, uint64_t idx, float p) { return uniform01(seed, idx) >= p; }

// The stream (seed) for one dropout site of one forward pass, so CPU and GPU draw identical masks:
//   call  = the engine's count of training forward passes since set_seed
//   layer = block index (0..L-1), or L for the embedding dropout
//   site  = 0 attention probabilities, 1 after the attention projection, 2 after the MLP projection,
//           3 the embedding dropout (tok + pos)
// Counters inside a site: for [B, T, C] activations the flat element index; for attention
// probabilities ((b * H + h) * T + i) * T + j (query i, key j).
MYPT_HD uint64_t dropout_stream(uint64_t seed, uint64_t call, uint32_t layer, uint32_t site) {
  return mix64(mix64(seed ^ mix64(call)) ^ ((uint64_t)layer << 8 | site));
}

}  // namespace mypt
