// gemm: packed, cache-blocked, multi-threaded matrix multiply (the BLIS scheme, small).
//
// For each block of KC columns of A (rows of B): A is packed into panels of MR rows ([k][MR], zero
// padded) and B into panels of NR columns ([k][NR]); then tiles of C (MC x NC, picked so every thread
// has several) are computed in parallel by a micro-kernel that keeps an MR x NR block of C in registers:
//   for k: C[i][j..j+NR) += A[i][k] * B[k][j..j+NR)   (one broadcast, NR/W vector FMAs per row)
// The micro-kernel is compiled three times (AVX-512, AVX2+FMA, SSE) and picked once at run time.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "threads.h"

namespace mypt {
namespace cpu {
namespace {

constexpr int64_t KC = 256;   // depth of one packed block (A panel ~ MR*KC floats stays in L1)
constexpr int64_t MC = 192;   // rows of one tile at most
constexpr int64_t NC = 1024;  // columns of one tile at most

using TileFn = void (*)(float* C, int64_t ldc, const float* Ap, const float* Bp, int64_t mc, int64_t nc,
                        int64_t kc, bool acc);

// C[mr, nr] (=|+=) Ap[kc][MR] @ Bp[kc][NR], register-blocked; edges go through a small buffer.
template <int W, int MR, int NV>
static inline __attribute__((always_inline)) void micro(float* C, int64_t ldc, const float* ap,
                                                        const float* bp, int64_t kc, int64_t mr,
                                                        int64_t nr, bool acc) {
  typedef float vec __attribute__((vector_size(W * 4)));
  typedef float uvec __attribute__((vector_size(W * 4), aligned(4)));
  constexpr int NR = W * NV;
  vec c[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) c[i][v] = vec{};
  for (int64_t k = 0; k < kc; k++) {
    vec b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = *(const vec*)(bp + k * NR + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const float a = ap[k * MR + i];
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) c[i][v] += a * b[v];
    }
  }
  if (mr == MR && nr == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) {
        uvec* dst = (uvec*)(C + i * ldc + v * W);
        *dst = acc ? *dst + c[i][v] : c[i][v];
      }
    return;
  }
  alignas(64) float tmp[MR * NR];
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) *(vec*)(tmp + i * NR + v * W) = c[i][v];
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < nr; j++) C[i * ldc + j] = acc ? C[i * ldc + j] + tmp[i * NR + j] : tmp[i * NR + j];
}

// One tile: every (B panel, A panel) pair, B panel outermost so it stays in L1.
template <int W, int MR, int NV>
static inline __attribute__((always_inline)) void tile(float* C, int64_t ldc, const float* Ap,
                                                       const float* Bp, int64_t mc, int64_t nc,
                                                       int64_t kc, bool acc) {
  constexpr int NR = W * NV;
  for (int64_t j = 0; j < nc; j += NR)
    for (int64_t i = 0; i < mc; i += MR)
      micro<W, MR, NV>(C + i * ldc + j, ldc, Ap + (i / MR) * kc * MR, Bp + (j / NR) * kc * NR, kc,
                       std::min<int64_t>(MR, mc - i), std::min<int64_t>(NR, nc - j), acc);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void tile_avx512(float* C, int64_t ldc, const float* Ap,
                                                                       const float* Bp, int64_t mc,
                                                                       int64_t nc, int64_t kc, bool acc) {
  tile<16, 8, 2>(C, ldc, Ap, Bp, mc, nc, kc, acc);
}
__attribute__((target("avx2,fma"))) void tile_avx2(float* C, int64_t ldc, const float* Ap, const float* Bp,
                                                   int64_t mc, int64_t nc, int64_t kc, bool acc) {
  tile<8, 6, 2>(C, ldc, Ap, Bp, mc, nc, kc, acc);
}
#endif
void tile_generic(float* C, int64_t ldc, const float* Ap, const float* Bp, int64_t mc, int64_t nc,
                  int64_t kc, bool acc) {
  tile<4, 4, 2>(C, ldc, Ap, Bp, mc, nc, kc, acc);
}

struct Kernel {
  int64_t mr, nr;
  TileFn fn;
  const char* name;
};

// MYPT_CPU_KERNEL=generic|avx2|avx512 forces a kernel (for tests); otherwise the best the CPU has.
Kernel pick_kernel() {
  const char* force = std::getenv("MYPT_CPU_KERNEL");
  auto want = [&](const char* n) { return !force || std::strcmp(force, n) == 0; };
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (want("avx512") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
    return {8, 32, tile_avx512, "avx512"};
  if (want("avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {6, 16, tile_avx2, "avx2"};
#endif
  return {4, 8, tile_generic, "generic"};
}

const Kernel& kernel() {
  static const Kernel k = pick_kernel();
  return k;
}

// Grow-only 64-byte aligned scratch, one per calling thread.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t need) {
    if (need > n) {
      std::free(p);
      n = (need + 1023) & ~size_t(1023);
      p = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
      if (!p) throw std::bad_alloc();
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};

// dst panel [kc][R] = rows r0..r0+R of X (X(r, k) = p[r*rs + k*cs]), zero beyond `rows`.
void pack_panel(float* dst, const MatView& X, int64_t r0, int64_t rows, int64_t k0, int64_t kc, int64_t R) {
  const int64_t n = std::min<int64_t>(R, rows - r0);
  if (X.cs == 1) {
    for (int64_t r = 0; r < n; r++) {
      const float* src = X.p + (r0 + r) * X.rs + k0;
      for (int64_t k = 0; k < kc; k++) dst[k * R + r] = src[k];
    }
  } else {
    for (int64_t k = 0; k < kc; k++) {
      const float* src = X.p + r0 * X.rs + (k0 + k) * X.cs;
      for (int64_t r = 0; r < n; r++) dst[k * R + r] = src[r * X.rs];
    }
  }
  for (int64_t k = 0; k < kc && n < R; k++)
    for (int64_t r = n; r < R; r++) dst[k * R + r] = 0.0f;
}

}  // namespace

const char* gemm_kernel_name() { return kernel().name; }

void gemm(float* C, int64_t ldc, MatView A, MatView B, int64_t M, int64_t N, int64_t K, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; i++) std::memset(C + i * ldc, 0, N * sizeof(float));
    return;
  }
  const Kernel& kn = kernel();
  const int64_t MR = kn.mr, NR = kn.nr;
  const int64_t mp = (M + MR - 1) / MR, np = (N + NR - 1) / NR;
  const int64_t kcmax = std::min(K, KC);
  static thread_local Scratch sa, sb;
  float* Ap = sa.get(mp * MR * kcmax);
  float* Bp = sb.get(np * NR * kcmax);

  // tiles of mcp A panels by ncp B panels; split until every thread has a few
  int64_t mcp = std::min(mp, MC / MR), ncp = std::min(np, NC / NR);
  const int64_t want = 4 * (int64_t)get_cpu_threads();
  for (;;) {
    const int64_t tiles = ((mp + mcp - 1) / mcp) * ((np + ncp - 1) / ncp);
    if (tiles >= want) break;
    if (mcp * MR >= ncp * NR && mcp > 2) mcp = (mcp + 1) / 2;
    else if (ncp > 1) ncp = (ncp + 1) / 2;
    else break;
  }
  const int64_t tm = (mp + mcp - 1) / mcp, tn = (np + ncp - 1) / ncp;

  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kc = std::min(KC, K - k0);
    const MatView Bt{B.p, B.cs, B.rs};  // B^T(j, k) = B(k, j)
    parallel_for(mp + np, 8, [&](int64_t b, int64_t e) {
      for (int64_t q = b; q < e; q++) {
        if (q < mp) pack_panel(Ap + q * kc * MR, A, q * MR, M, k0, kc, MR);
        else pack_panel(Bp + (q - mp) * kc * NR, Bt, (q - mp) * NR, N, k0, kc, NR);
      }
    });
    const bool acc = accumulate || k0 > 0;
    parallel_chunks(tm * tn, [&](int64_t t) {
      const int64_t i0 = (t / tn) * mcp * MR, j0 = (t % tn) * ncp * NR;
      kn.fn(C + i0 * ldc + j0, ldc, Ap + (i0 / MR) * kc * MR, Bp + (j0 / NR) * kc * NR,
            std::min(mcp * MR, M - i0), std::min(ncp * NR, N - j0), kc, acc);
    });
  }
}

}  // namespace cpu
}  // namespace mypt
