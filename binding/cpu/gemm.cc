// gemm: cache-blocked, multi-threaded matrix multiply (the BLIS scheme, small).
//
// For each block of KC columns of A (rows of B): B is packed into panels of NR columns ([k][NR], zero
// padded, shared by all threads); then tiles of C (MC x NC, picked so every thread has several) are
// computed in parallel by a micro-kernel that keeps an MR x NR block of C in registers:
//   for k: C[i][j..j+NR) += A[i][k] * B[k][j..j+NR)   (one broadcast, NR/W vector FMAs per row)
// A is read in place when one of its strides is 1 (activations, and their transposes in the weight
// gradient); only other layouts are packed. Rows past the edge of C read the last valid row of A
// (never out of bounds) and are dropped. B is read in place when its rows are contiguous (every full
// panel of NR columns); only a last partial panel, or other layouts, are packed.
// The micro-kernel is compiled three times (AVX-512, AVX2+FMA, SSE) and picked once at run time.
#include "cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/threads.h"

namespace mypt {
namespace cpu {
namespace {

constexpr int64_t KC = 256;   // depth of one block (a B panel, KC x NR floats, stays in L1)
constexpr int64_t MC = 192;   // rows of one tile at most
constexpr int64_t NC = 1024;  // columns of one tile at most

// How the micro-kernel reads A(i, k) from `a` (the tile's first row at column k0):
enum AMode { kPacked = 0, kRows = 1, kCols = 2 };  // a[k*MR + i] | a[i*lda + k] | a[k*lda + i]

struct Tile {
  float* C;
  int64_t ldc;
  const float* a;  // A at (tile row 0, k0); packed: the tile's first panel
  int64_t lda;
  int mode;
  const float* Bd;  // B at (k0, 0) when read in place (row stride ldb), else null
  int64_t ldb, nfull;  // in place: the panels [0, nfull) are read from Bd
  const float* Bp;     // packed panels ([kc][NR] each): all of them, or those from nfull on
  int64_t q0;          // the tile's first panel
  int64_t mc, nc, kc;
  bool acc;
};
using TileFn = void (*)(const Tile&);

// C[mr, nr] (=|+=) A[mr, kc] @ Bp[kc][NR], register-blocked; edges go through a small buffer.
template <int W, int MR, int NV, int MODE>
static inline __attribute__((always_inline)) void micro(float* C, int64_t ldc, const float* a, int64_t lda,
                                                        const float* bp, int64_t ldb, int64_t kc, int64_t mr,
                                                        int64_t nr, bool acc) {
  typedef float vec __attribute__((vector_size(W * 4)));
  typedef float uvec __attribute__((vector_size(W * 4), aligned(4)));
  constexpr int NR = W * NV;
  const float* row[MR];  // kRows: each row's pointer; kCols: each row's offset as a pointer
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    const int64_t r = i < mr ? i : mr - 1;
    row[i] = MODE == kRows ? a + r * lda : a + r;
  }
  vec c[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) c[i][v] = vec{};
  for (int64_t k = 0; k < kc; k++) {
    vec b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = *(const uvec*)(bp + k * ldb + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const float x = MODE == kPacked ? a[k * MR + i] : MODE == kRows ? row[i][k] : row[i][k * lda];
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) c[i][v] += x * b[v];
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
template <int W, int MR, int NV, int MODE>
static inline __attribute__((always_inline)) void tile_mode(const Tile& t) {
  constexpr int NR = W * NV;
  for (int64_t j = 0; j < t.nc; j += NR) {
    const int64_t q = t.q0 + j / NR;
    const bool direct = t.Bd && q < t.nfull;
    const float* bp = direct ? t.Bd + q * NR : t.Bp + (q - (t.Bd ? t.nfull : 0)) * t.kc * NR;
    const int64_t ldb = direct ? t.ldb : NR;
    for (int64_t i = 0; i < t.mc; i += MR) {
      const float* a = MODE == kPacked ? t.a + (i / MR) * t.kc * MR : MODE == kRows ? t.a + i * t.lda : t.a + i;
      micro<W, MR, NV, MODE>(t.C + i * t.ldc + j, t.ldc, a, t.lda, bp, ldb, t.kc, std::min<int64_t>(MR, t.mc - i),
                             std::min<int64_t>(NR, t.nc - j), t.acc);
    }
  }
}

template <int W, int MR, int NV>
static inline __attribute__((always_inline)) void tile(const Tile& t) {
  if (t.mode == kRows) tile_mode<W, MR, NV, kRows>(t);
  else if (t.mode == kCols) tile_mode<W, MR, NV, kCols>(t);
  else tile_mode<W, MR, NV, kPacked>(t);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void tile_avx512(const Tile& t) { tile<16, 12, 2>(t); }
__attribute__((target("avx2,fma"))) void tile_avx2(const Tile& t) { tile<8, 6, 2>(t); }
#endif
void tile_generic(const Tile& t) { tile<4, 4, 2>(t); }

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
    return {12, 32, tile_avx512, "avx512"};
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
// Written in order (k outer); when k is the contiguous index, each of the R rows is its own stream.
void pack_panel(float* dst, const MatView& X, int64_t r0, int64_t rows, int64_t k0, int64_t kc, int64_t R) {
  const int64_t n = std::min<int64_t>(R, rows - r0);
  if (X.cs == 1) {
    const float* src[64];  // R <= 64 (MR and NR are at most 32)
    for (int64_t r = 0; r < n; r++) src[r] = X.p + (r0 + r) * X.rs + k0;
    for (int64_t k = 0; k < kc; k++) {
      float* d = dst + k * R;
      for (int64_t r = 0; r < n; r++) d[r] = src[r][k];
      for (int64_t r = n; r < R; r++) d[r] = 0.0f;
    }
  } else {
    for (int64_t k = 0; k < kc; k++) {
      const float* src = X.p + r0 * X.rs + (k0 + k) * X.cs;
      float* d = dst + k * R;
      for (int64_t r = 0; r < n; r++) d[r] = src[r * X.rs];
      for (int64_t r = n; r < R; r++) d[r] = 0.0f;
    }
  }
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
  const int mode = A.cs == 1 ? kRows : A.rs == 1 ? kCols : kPacked;
  const bool bdirect = B.cs == 1;
  const int64_t nfull = bdirect ? N / NR : 0;  // panels read in place
  static thread_local Scratch sa, sb;
  float* Ap = mode == kPacked ? sa.get(mp * MR * kcmax) : nullptr;
  float* Bp = sb.get((np - nfull) * NR * kcmax + 16);

  // tiles of mcp A panels by ncp B panels; split until every thread has a few
  int64_t mcp = std::max<int64_t>(1, std::min(mp, MC / MR)), ncp = std::min(np, NC / NR);
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
    const int64_t nb = np - nfull, npack = nb + (mode == kPacked ? mp : 0);
    parallel_for(npack, 8, [&](int64_t b, int64_t e) {
      for (int64_t q = b; q < e; q++) {
        if (q < nb) pack_panel(Bp + q * kc * NR, Bt, (nfull + q) * NR, N, k0, kc, NR);
        else pack_panel(Ap + (q - nb) * kc * MR, A, (q - nb) * MR, M, k0, kc, MR);
      }
    });
    const bool acc = accumulate || k0 > 0;
    parallel_chunks(tm * tn, [&](int64_t t) {
      const int64_t i0 = (t / tn) * mcp * MR, j0 = (t % tn) * ncp * NR;
      Tile tl;
      tl.C = C + i0 * ldc + j0;
      tl.ldc = ldc;
      tl.mode = mode;
      tl.lda = mode == kRows ? A.rs : A.cs;
      tl.a = mode == kPacked ? Ap + (i0 / MR) * kc * MR : A.p + i0 * A.rs + k0 * A.cs;
      tl.Bd = bdirect ? B.p + k0 * B.rs : nullptr;
      tl.ldb = B.rs;
      tl.nfull = nfull;
      tl.Bp = Bp;
      tl.q0 = j0 / NR;
      tl.mc = std::min(mcp * MR, M - i0);
      tl.nc = std::min(ncp * NR, N - j0);
      tl.kc = kc;
      tl.acc = acc;
      kn.fn(tl);
    });
  }
}

}  // namespace cpu
}  // namespace mypt
