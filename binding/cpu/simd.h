// MYPT_CLONES: compile a hot loop function for AVX-512, AVX2 and plain x86-64, and let the loader pick
// the best one for the CPU (GCC/Clang function multiversioning). A no-op elsewhere.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define MYPT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MYPT_CLONES
#endif
