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

}  // namespace mypt
