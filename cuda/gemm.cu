// GEMM dispatch (contract in gemm.cuh): the cuBLASLt plugin when present (cublaslt_loader.h), else
// built-in kernels:
//   gemm_wmma_kernel: bf16 operands, fp32 accumulation on tensor cores (WMMA 16x16x16), 64x64 tiles.
//   gemm_simt_kernel: fp32 operands and arithmetic, 64x64 tiles, 4x4 outputs per thread.
// Both: D(i, j) = sum_l opA(i, l) opB(l, j) (+ D if accumulate) (+ bias[i]); out-of-range tiles are
// zero-filled on load and masked on store, so any m, n, k works.
#include <mma.h>

#include <cstdint>
#include <string>

#include "activation.cuh"
#include "cublaslt_loader.h"
#include "gemm.cuh"

namespace mypt {
namespace cuda {

namespace {

template <typename T> __device__ __forceinline__ T load_or_zero(const T* p, bool ok);
template <> __device__ __forceinline__ bf16 load_or_zero<bf16>(const bf16* p, bool ok) {
  return ok ? *p : __float2bfloat16_rn(0.0f);
}
template <> __device__ __forceinline__ float load_or_zero<float>(const float* p, bool ok) { return ok ? *p : 0.0f; }

constexpr int WM = 64, WN = 64, WK = 32, WTHREADS = 128;

// Tile storage follows the global layout so loads are coalesced: TA -> As[i][l], else As[l][i];
// TB -> Bs[l][j], else Bs[j][l]. Each warp of the 2x2 grid owns a 32x32 output block.
template <bool TA, bool TB, typename TD>
__global__ void __launch_bounds__(WTHREADS) gemm_wmma_kernel(TD* __restrict__ D, const bf16* __restrict__ A,
                                                             const bf16* __restrict__ B, const TD* __restrict__ bias,
                                                             int m, int n, int k, int lda, int ldb, int ldd,
                                                             int accumulate) {
  using namespace nvcuda;
  constexpr int LA = TA ? WK + 8 : WM + 8;  // leading dims in smem (multiples of 8 elements)
  constexpr int LB = TB ? WN + 8 : WK + 8;
  constexpr int A_ELEMS = TA ? WM * LA : WK * LA;
  constexpr int B_ELEMS = TB ? WK * LB : WN * LB;
  constexpr int LC = WM + 4;
  constexpr int AB_BYTES = (A_ELEMS + B_ELEMS) * 2;
  constexpr int C_BYTES = WN * LC * 4;
  __shared__ __align__(128) unsigned char smem[AB_BYTES > C_BYTES ? AB_BYTES : C_BYTES];
  bf16* As = (bf16*)smem;
  bf16* Bs = As + A_ELEMS;
  float* Cs = (float*)smem;

  const int i0 = blockIdx.x * WM, j0 = blockIdx.y * WN;
  const int tid = threadIdx.x, warp = tid >> 5;
  const int wi = (warp & 1) * 32, wj = (warp >> 1) * 32;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int a = 0; a < 2; a++)
#pragma unroll
    for (int b = 0; b < 2; b++) wmma::fill_fragment(acc[a][b], 0.0f);

  for (int l0 = 0; l0 < k; l0 += WK) {
#pragma unroll 4
    for (int e = tid; e < WM * WK; e += WTHREADS) {
      int ii, ll;
      if (TA) { ii = e / WK; ll = e % WK; } else { ii = e % WM; ll = e / WM; }
      const int gi = i0 + ii, gl = l0 + ll;
      const bool ok = gi < m && gl < k;
      const bf16* src = TA ? A + (int64_t)gi * lda + gl : A + (int64_t)gl * lda + gi;
      bf16 v = load_or_zero(src, ok);
      if (TA) As[ii * LA + ll] = v; else As[ll * LA + ii] = v;
    }
#pragma unroll 4
    for (int e = tid; e < WK * WN; e += WTHREADS) {
      int ll, jj;
      if (TB) { ll = e / WN; jj = e % WN; } else { jj = e / WK; ll = e % WK; }
      const int gl = l0 + ll, gj = j0 + jj;
      const bool ok = gl < k && gj < n;
      const bf16* src = TB ? B + (int64_t)gl * ldb + gj : B + (int64_t)gj * ldb + gl;
      bf16 v = load_or_zero(src, ok);
      if (TB) Bs[ll * LB + jj] = v; else Bs[jj * LB + ll] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < WK; kk += 16) {
      using LayA = typename std::conditional<TA, wmma::row_major, wmma::col_major>::type;
      using LayB = typename std::conditional<TB, wmma::row_major, wmma::col_major>::type;
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, LayA> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, LayB> fb[2];
#pragma unroll
      for (int a = 0; a < 2; a++) {
        const int ri = wi + a * 16;
        wmma::load_matrix_sync(fa[a], TA ? As + ri * LA + kk : As + kk * LA + ri, LA);
      }
#pragma unroll
      for (int b = 0; b < 2; b++) {
        const int cj = wj + b * 16;
        wmma::load_matrix_sync(fb[b], TB ? Bs + kk * LB + cj : Bs + cj * LB + kk, LB);
      }
#pragma unroll
      for (int a = 0; a < 2; a++)
#pragma unroll
        for (int b = 0; b < 2; b++) wmma::mma_sync(acc[a][b], fa[a], fb[b], acc[a][b]);
    }
    __syncthreads();
  }
  // Stage the 64x64 block column-major in smem (Cs[j * LC + i]) so the store runs along i.
#pragma unroll
  for (int a = 0; a < 2; a++)
#pragma unroll
    for (int b = 0; b < 2; b++)
      wmma::store_matrix_sync(Cs + (wj + b * 16) * LC + wi + a * 16, acc[a][b], LC, wmma::mem_col_major);
  __syncthreads();
  for (int e = tid; e < WM * WN; e += WTHREADS) {
    const int ii = e % WM, jj = e / WM;
    const int gi = i0 + ii, gj = j0 + jj;
    if (gi >= m || gj >= n) continue;
    float v = Cs[jj * LC + ii];
    if (bias) v += to_f(bias[gi]);
    TD* dst = D + (int64_t)gj * ldd + gi;
    if (accumulate) v += to_f(*dst);
    *dst = from_f<TD>(v);
  }
}

constexpr int SM_ = 64, SN_ = 64, SK_ = 16, STHREADS = 256;

template <bool TA, bool TB>
__global__ void __launch_bounds__(STHREADS) gemm_simt_kernel(float* __restrict__ D, const float* __restrict__ A,
                                                             const float* __restrict__ B,
                                                             const float* __restrict__ bias, int m, int n, int k,
                                                             int lda, int ldb, int ldd, int accumulate) {
  __shared__ float As[SK_][SM_ + 4];
  __shared__ float Bs[SK_][SN_ + 4];
  const int i0 = blockIdx.x * SM_, j0 = blockIdx.y * SN_;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  float acc[4][4] = {};
  for (int l0 = 0; l0 < k; l0 += SK_) {
    for (int e = tid; e < SM_ * SK_; e += STHREADS) {
      int ii, ll;
      if (TA) { ii = e / SK_; ll = e % SK_; } else { ii = e % SM_; ll = e / SM_; }
      const int gi = i0 + ii, gl = l0 + ll;
      const float* src = TA ? A + (int64_t)gi * lda + gl : A + (int64_t)gl * lda + gi;
      As[ll][ii] = load_or_zero(src, gi < m && gl < k);
    }
    for (int e = tid; e < SK_ * SN_; e += STHREADS) {
      int ll, jj;
      if (TB) { ll = e / SN_; jj = e % SN_; } else { jj = e / SK_; ll = e % SK_; }
      const int gl = l0 + ll, gj = j0 + jj;
      const float* src = TB ? B + (int64_t)gl * ldb + gj : B + (int64_t)gj * ldb + gl;
      Bs[ll][jj] = load_or_zero(src, gl < k && gj < n);
    }
    __syncthreads();
#pragma unroll
    for (int ll = 0; ll < SK_; ll++) {
      float a[4], b[4];
#pragma unroll
      for (int r = 0; r < 4; r++) a[r] = As[ll][tx + 16 * r];
#pragma unroll
      for (int c = 0; c < 4; c++) b[c] = Bs[ll][ty + 16 * c];
#pragma unroll
      for (int r = 0; r < 4; r++)
#pragma unroll
        for (int c = 0; c < 4; c++) acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int c = 0; c < 4; c++)
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const int gi = i0 + tx + 16 * r, gj = j0 + ty + 16 * c;
      if (gi >= m || gj >= n) continue;
      float v = acc[r][c];
      if (bias) v += bias[gi];
      float* dst = D + (int64_t)gj * ldd + gi;
      if (accumulate) v += *dst;
      *dst = v;
    }
}

template <bool TA, bool TB>
void launch_builtin(const GemmArgs& a, cudaStream_t s) {
  const int acc = a.accumulate ? 1 : 0;
  if (a.ab_bf16) {
    dim3 grid(ceil_div(a.m, WM), ceil_div(a.n, WN));
    if (a.d_bf16)
      gemm_wmma_kernel<TA, TB, bf16><<<grid, WTHREADS, 0, s>>>((bf16*)a.d, (const bf16*)a.a, (const bf16*)a.b,
                                                               (const bf16*)a.bias, a.m, a.n, a.k, a.lda, a.ldb,
                                                               a.ldd, acc);
    else
      gemm_wmma_kernel<TA, TB, float><<<grid, WTHREADS, 0, s>>>((float*)a.d, (const bf16*)a.a, (const bf16*)a.b,
                                                                (const float*)a.bias, a.m, a.n, a.k, a.lda,
                                                                a.ldb, a.ldd, acc);
  } else {
    if (a.d_bf16) throw std::runtime_error("gemm: fp32 operands need an fp32 output");
    dim3 grid(ceil_div(a.m, SM_), ceil_div(a.n, SN_));
    gemm_simt_kernel<TA, TB><<<grid, STHREADS, 0, s>>>((float*)a.d, (const float*)a.a, (const float*)a.b,
                                                       (const float*)a.bias, a.m, a.n, a.k, a.lda, a.ldb, a.ldd,
                                                       acc);
  }
  CUDA_CHECK_LAUNCH("gemm (built-in)");
}

}  // namespace

Gemm::Gemm(bool use_lt) {
  if (!use_lt) {
    lt_reason_ = "not requested";
    return;
  }
  const mypt_lt_api* api = cublaslt_plugin(lt_reason_);
  if (!api) return;
  char err[256] = {0};
  ctx_ = api->create(err, sizeof(err));
  if (!ctx_) {
    lt_reason_ = err;
    return;
  }
  workspace_bytes_ = 32u << 20;
  try {
    workspace_ = cuda_malloc(workspace_bytes_, "the cuBLASLt workspace");
  } catch (const std::exception&) {
    cudaGetLastError();
    api->destroy(ctx_);
    ctx_ = nullptr;
    workspace_ = nullptr;
    lt_reason_ = "cannot allocate the cuBLASLt workspace";
  }
}

Gemm::~Gemm() {
  std::string why;
  if (ctx_) cublaslt_plugin(why)->destroy(ctx_);
  cuda_free(workspace_, workspace_bytes_);
}

static mypt_lt_gemm_args to_lt(const GemmArgs& a) {
  mypt_lt_gemm_args la;
  la.d = a.d;
  la.d_type = a.d_bf16 ? MYPT_LT_BF16 : MYPT_LT_F32;
  la.a = a.a;
  la.b = a.b;
  la.ab_type = a.ab_bf16 ? MYPT_LT_BF16 : MYPT_LT_F32;
  la.transa = a.transa;
  la.transb = a.transb;
  la.m = a.m;
  la.n = a.n;
  la.k = a.k;
  la.lda = a.lda;
  la.ldb = a.ldb;
  la.ldd = a.ldd;
  la.bias = a.bias;
  la.beta = a.accumulate ? 1.0f : 0.0f;
  la.epilogue = (int)a.epilogue;
  la.aux = a.aux;
  return la;
}

// One product through the plugin (ctx_ set); "" on success, else the plugin's reason.
std::string Gemm::lt_gemm(const GemmArgs& a, cudaStream_t s) {
  std::string why;
  mypt_lt_gemm_args la = to_lt(a);
  la.workspace = workspace_;
  la.workspace_bytes = workspace_bytes_;
  la.stream = (void*)s;
  char err[256] = {0};
  return cublaslt_plugin(why)->gemm(ctx_, &la, err, sizeof(err)) == 0 ? std::string() : std::string(err[0] ? err : "failed");
}

void Gemm::run(const GemmArgs& a, cudaStream_t s) {
  if (a.m <= 0 || a.n <= 0) return;
  // cuBLASLt first; a problem it refuses (no algorithm, or its heuristic fails: the plugin remembers and
  // refuses it at once next time) runs on the built-in kernels below.
  if (ctx_ && lt_gemm(a, s).empty()) return;
  // Built-in path: product (+bias), then the epilogue as an elementwise pass.
  GemmArgs p = a;
  const int64_t N = (int64_t)a.ldd * a.n;  // aux and D share the leading dimension
  if (a.epilogue == Epilogue::GeluTanh) {
    if (a.ldd != a.m) throw std::runtime_error("gemm: GELU epilogue needs ldd == m");
    p.d = a.aux;  // the pre-activation goes to aux
  }
  if (a.transa) {
    if (a.transb) launch_builtin<true, true>(p, s); else launch_builtin<true, false>(p, s);
  } else {
    if (a.transb) launch_builtin<false, true>(p, s); else launch_builtin<false, false>(p, s);
  }
  if (a.epilogue == Epilogue::GeluTanh) {
    if (a.d_bf16) activation_forward(Activation::GELUTanh, (bf16*)a.d, (const bf16*)a.aux, N, s);
    else activation_forward(Activation::GELUTanh, (float*)a.d, (const float*)a.aux, N, s);
  } else if (a.epilogue == Epilogue::DGeluTanh) {
    if (a.ldd != a.m) throw std::runtime_error("gemm: GELU gradient epilogue needs ldd == m");
    if (a.d_bf16) activation_backward(Activation::GELUTanh, (bf16*)a.d, (const bf16*)a.aux, (const bf16*)a.d, N, s);
    else activation_backward(Activation::GELUTanh, (float*)a.d, (const float*)a.aux, (const float*)a.d, N, s);
  }
}

}  // namespace cuda
}  // namespace mypt
