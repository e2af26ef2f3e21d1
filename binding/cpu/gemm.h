// The CPU matrix multiply every linear layer goes through (cache-blocked, packed, multi-threaded, SIMD
// with a kernel chosen at run time for AVX-512, AVX2+FMA or plain SSE).
#pragma once
#include <cstdint>

namespace mypt {
namespace cpu {

// A read-only matrix view: element (i, k) is p[i * rs + k * cs] (so transposes are free).
struct MatView {
  const float* p;
  int64_t rs, cs;
};

// C[M, N] (row stride ldc) = (accumulate ? C : 0) + A[M, K] @ B[K, N]
void gemm(float* C, int64_t ldc, MatView A, MatView B, int64_t M, int64_t N, int64_t K, bool accumulate);

// Name of the kernel chosen for this CPU ("avx512", "avx2", "generic").
const char* gemm_kernel_name();

}  // namespace cpu
}  // namespace mypt
