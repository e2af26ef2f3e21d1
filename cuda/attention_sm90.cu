// Hopper attention kernels (contract: attention_sm90.cuh; design and measurements:
// cuda/NOTES-attention-sm90.md). Compiled with -gencode=arch=compute_90a,code=sm_90a and MYPT_ATTN_SM90
// defined; without that define this file only provides the "not available" stubs.
//
// Layout conventions shared by both kernels:
//   * every bf16 tile in shared memory is [D/64 column blocks][rows][64 columns] with the 128-byte swizzle
//     that TMA writes (16-byte chunk c of row r sits at chunk c ^ (r & 7)); each block is 1024-aligned;
//   * wgmma descriptors: K-major operands (rows of 64 contiguous reduction elements) have SBO = 1024
//     (the next 8 rows) and advance 32 bytes per k16 step inside a block; MN-major operands (the reduction
//     runs down the rows) have SBO = 1024, LBO = rows * 128 (the next 64-column block) and advance
//     16 rows = 2048 bytes per k16 step;
//   * accumulator fragments of wgmma m64nN (fp32): thread (warp w of the warpgroup, lane l) holds rows
//     16w + l/4 and 16w + l/4 + 8, columns 8j + 2(l%4) + {0,1} for j < N/8: d[4j + {0,1}] (first row),
//     d[4j + {2,3}] (second row), the mma.sync m16n8 layout per warp; four of them (two n8 chunks) make
//     one k16 A fragment of the next product.
//
// forward : tiles of BM = 64*NC query rows, heaviest first; a block = 1 producer warpgroup + NC consumer
//           warpgroups of 64 rows. The producer's first thread loads Q and streams K and V tiles (BN keys)
//           through KST-stage rings with separate full/empty mbarriers for K and V. A consumer iteration
//           j issues S_j = Q K_j^T (SS wgmma) and O += P_{j-1} V_{j-1} (RS wgmma, P in registers), waits
//           for S_j only, runs the online softmax of S_j while the PV product runs, then waits for it,
//           rescales O and converts P_j to bf16. Causal: key tiles past the diagonal are never loaded;
//           masks only where a tile crosses the diagonal or T. Variants (attention_forward below): one
//           tile a block (grid B*H x tiles) or a persistent grid dealing the tiles in snake-ordered
//           rounds, NC = 2 or 3, BN = 128 or 64.
// backward: pre-pass dvec = rowsum(dout * out), dq accumulator zeroed; then blocks of 128 keys (key tile,
//           head; variants: by head, or heaviest first in groups of heads): 1 producer warp (K, V once;
//           Q, dO, lse, dvec tiles of BM queries, 2 stages) + 2 consumer warpgroups of 64 keys each:
//             S^T = K Q^T, dP^T = V dO^T (SS), P^T = exp2(S^T scale log2e - lse log2e), dS^T = P^T (dP^T Z - dvec)
//             dV += (P^T Z) dO, dK += dS^T Q (RS, P^T and dS^T from registers)
//             dS^T -> shared memory (bf16, swizzled), dQ_tile = dS K (SS, A transposed), the fp32 tile
//             staged in shared memory and added to the fp32 accumulator with one bulk reduce
//             (cp.reduce.async.bulk .add.f32) per tile; a last pass writes dq * scale as bf16.
//           The accumulator rows are [B*H][T][D] with each row's float pairs permuted
//           (pair ^ ((t & 7) << 2)), which makes the staging stores conflict-free. The overlapped variant
//           waits for S^T alone and computes P^T while dP^T runs (and, D = 128, issues dV before dS^T).
// Measured on an H200 (NOTES-attention-sm90.md): forward 260-446 TFLOP/s, forward + backward 241-424
// (causal, D = 64 and 128, T = 1k..8k); 1.45-2.2x the mma.sync kernels forward, 1.6-2.1x both ways.
#include "attention_sm90.cuh"
#include "attention_frag.cuh"

#include <cuda.h>  // CUtensorMap (the encoder is reached through the runtime; no libcuda link)

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "common.cuh"
#include "engine/dropout.h"

namespace mypt {
namespace cuda {
namespace sm90 {

using attn::keep_cols;
using attn::keep_rows;
using attn::pack_bf16;
using attn::smem_u32;

namespace {
int g_fwd_variant = -1, g_bwd_variant = -1;  // -1: the defaults (chosen per shape below)
}
void attention_tune(int fwd_variant, int bwd_variant) {
  g_fwd_variant = fwd_variant;
  g_bwd_variant = bwd_variant;
}

#if !defined(MYPT_ATTN_SM90)

bool attention_compiled() { return false; }
bool attention_usable() { return false; }
void attention_forward(__nv_bfloat16*, float*, const __nv_bfloat16*, int, int, int, int, float, float, uint64_t,
                       uint64_t, bool, cudaStream_t) {
  throw std::runtime_error("attention: the Hopper (sm_90a) kernels are not available in this build");
}
void attention_backward(__nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*,
                        const float*, int, int, int, int, float, float, uint64_t, uint64_t, bool, float*,
                        cudaStream_t) {
  throw std::runtime_error("attention: the Hopper (sm_90a) kernels are not available in this build");
}

#else  // MYPT_ATTN_SM90

// Device code is emitted only for the sm_90a target (the host pass sees the kernels' declarations).
#if !defined(__CUDA_ARCH__) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MYPT_SM90_BODY 1
#else
#define MYPT_SM90_BODY 0
#endif

namespace {

using bf16 = __nv_bfloat16;
constexpr float kLog2e = 1.4426950408889634f;

// ---------------------------------------------------------------------------------------------------
// PTX wrappers
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void fence_mbar_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.expect_tx.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}
// 3-d tiled bulk copy global -> shared (box given by the tensor map), completing on mbarrier `bar`.
__device__ __forceinline__ void tma_load_3d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1,
                                            int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], "
      "[%2];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}
__device__ __forceinline__ void tma_prefetch_desc(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}
// global[gdst .. +bytes) += shared[src .. +bytes) (fp32), asynchronous, in the thread's bulk group.
__device__ __forceinline__ void bulk_reduce_add_f32(float* gdst, uint32_t src, uint32_t bytes) {
  asm volatile("cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [%0], [%1], %2;\n" ::"l"(gdst), "r"(src),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void bulk_wait_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
template <int N>
__device__ __forceinline__ void bulk_wait() {
  asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(N) : "memory");
}
// Generic-proxy shared-memory writes made visible to the async proxy (wgmma operands, bulk copies).
__device__ __forceinline__ void fence_async_smem() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void named_sync(int id, int n) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
template <int R>
__device__ __forceinline__ void reg_dealloc() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(R));
}
template <int R>
__device__ __forceinline__ void reg_alloc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(R));
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving accesses of accumulator registers across wgmma issue / wait points.
template <int N>
__device__ __forceinline__ void fence_regs(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void fence_regs(uint32_t (&r)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+r"(r[i][e])::"memory");
}

// Shared-memory matrix descriptor, 128-byte swizzle, SBO = 1024 bytes, LBO as given.
__device__ __forceinline__ uint64_t sw128_desc(uint32_t saddr, uint32_t lbo_bytes) {
  return (uint64_t)((saddr >> 4) & 0x3FFFu) | ((uint64_t)((lbo_bytes >> 4) & 0x3FFFu) << 16) |
         ((uint64_t)(1024u >> 4) << 32) | (1ull << 62);
}

// 2^x, flushing subnormal results to zero (one MUFU.EX2; the non-ftz form adds a range fix-up)
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}


// D[64 x 64] (+)= A[64 x 16] * B[16 x 64], A and B from shared memory (descriptors)
template <int TA, int TB>
__device__ __forceinline__ void wgmma_ss_n64(float (&d)[32], uint64_t da, uint64_t db, int acc) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, %35, %36;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(da), "l"(db), "r"(acc), "n"(TA), "n"(TB));
}
// D[64 x 128] (+)= A[64 x 16] * B[16 x 128], A and B from shared memory (descriptors)
template <int TA, int TB>
__device__ __forceinline__ void wgmma_ss_n128(float (&d)[64], uint64_t da, uint64_t db, int acc) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, %67, %68;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(acc), "n"(TA), "n"(TB));
}
// D[64 x 64] (+)= A[64 x 16] * B[16 x 64], A from registers (fragment a), B from shared memory
template <int TB>
__device__ __forceinline__ void wgmma_rs_n64(float (&d)[32], const uint32_t (&a)[4], uint64_t db, int acc) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc), "n"(TB));
}
// D[64 x 128] (+)= A[64 x 16] * B[16 x 128], A from registers (fragment a), B from shared memory
template <int TB>
__device__ __forceinline__ void wgmma_rs_n128(float (&d)[64], const uint32_t (&a)[4], uint64_t db, int acc) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, {%64, %65, %66, %67}, %68, p, 1, 1, %70;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc), "n"(TB));
}

template <int N, int TA, int TB>
__device__ __forceinline__ void wgmma_ss_t(float (&d)[N / 2], uint64_t da, uint64_t db, int acc) {
  if constexpr (N == 64) wgmma_ss_n64<TA, TB>(d, da, db, acc);
  else wgmma_ss_n128<TA, TB>(d, da, db, acc);
}
template <int N, int TB>
__device__ __forceinline__ void wgmma_rs_t(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t db, int acc) {
  if constexpr (N == 64) wgmma_rs_n64<TB>(d, a, db, acc);
  else wgmma_rs_n128<TB>(d, a, db, acc);
}

// Accumulator chunks 2k, 2k+1 (16 columns) as the bf16 A fragment of k16 step k.
template <int N>
__device__ __forceinline__ void acc_to_a(uint32_t (&a)[N / 16][4], const float (&c)[N / 2]) {
#pragma unroll
  for (int k = 0; k < N / 16; ++k) {
    a[k][0] = pack_bf16(c[8 * k + 0], c[8 * k + 1]);
    a[k][1] = pack_bf16(c[8 * k + 2], c[8 * k + 3]);
    a[k][2] = pack_bf16(c[8 * k + 4], c[8 * k + 5]);
    a[k][3] = pack_bf16(c[8 * k + 6], c[8 * k + 7]);
  }
}


// ---------------------------------------------------------------------------------------------------
// forward
template <int D, int NC, int BN, int KST>
struct FwdCfg {
  static constexpr int BM = 64 * NC, NT = 128 * (NC + 1), DB = D / 64;
  static constexpr int Q_BYTES = BM * D * 2, KV_BYTES = BN * D * 2, OLD = D + 8;
  static constexpr int OFF_Q = 0, OFF_K = Q_BYTES, OFF_V = OFF_K + KST * KV_BYTES, OFF_O = OFF_V + KST * KV_BYTES;
  static constexpr int OFF_BAR = (OFF_O + NC * 64 * OLD * 2 + 7) / 8 * 8;
  static constexpr int NBAR = 2 + 4 * KST;
  static constexpr int SMEM = OFF_BAR + NBAR * 8 + 1024;  // + alignment slack of the dynamic base
  static constexpr int REGS = NC == 2 ? 240 : 160;        // consumer registers (producer 24)
  static_assert(D % 64 == 0 && BN % 64 == 0, "tiles");
  static_assert(SMEM <= 227 * 1024, "shared memory");
};

// Tiles t = 0 .. BH*nmt-1, heaviest first: query tile nmt-1-t/BH of head t%BH. Grid (BH, nmt) runs one
// tile a block; PERSIST: a 1-d grid of one block per SM that deals the tiles out in rounds (the next
// tile's Q and first K/V tiles load while the current one finishes).
template <int D, int NC, int BN, int KST, bool PERSIST>
__global__ void __launch_bounds__(128 * (NC + 1), 1)
    attn_fwd_sm90_kernel(const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_kv,
                         bf16* __restrict__ out, float* __restrict__ lse, int BH, int T, int H, int nmt, float scale,
                         float p, uint64_t seed, uint64_t offset, int causal) {
#if MYPT_SM90_BODY
  using L = FwdCfg<D, NC, BN, KST>;
  constexpr int BM = L::BM;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = smem_u32(smem_raw), sbase = (raw + 1023u) & ~1023u;
  unsigned char* gbase = smem_raw + (sbase - raw);
  const uint32_t bar_qf = sbase + L::OFF_BAR, bar_qe = bar_qf + 8;
  // barriers: Q full, Q empty; 2+s K full; 2+KST+s K empty; 2+2KST+s V full; 2+3KST+s V empty
  auto bar_kf = [&](int s) { return bar_qf + 8u * (2 + s); };
  auto bar_ke = [&](int s) { return bar_qf + 8u * (2 + KST + s); };
  auto bar_vf = [&](int s) { return bar_qf + 8u * (2 + 2 * KST + s); };
  auto bar_ve = [&](int s) { return bar_qf + 8u * (2 + 3 * KST + s); };

  const int tid = threadIdx.x, wg = tid >> 7;
  const int ntiles = BH * nmt;
  // the block's k-th tile (k = 0, 1, ...; >= ntiles: none): one tile a block, or for PERSIST rounds of
  // gridDim.x tiles dealt in snake order (forward, then backward), which balances the heaviest-first list
  const int G = (int)gridDim.x, bid = (int)blockIdx.x;
  auto tile_k = [&](int k) {
    if (!PERSIST) return k == 0 ? (int)(blockIdx.y * gridDim.x + blockIdx.x) : ntiles;
    return k * G + ((k & 1) ? G - 1 - bid : bid);
  };
  const int C = H * D;
  auto decode = [&](int t, int& bh, int& q0, int& nkt) {
    const int mr = t / BH;
    bh = t - mr * BH;
    q0 = (nmt - 1 - mr) * BM;
    const int kend = causal ? min(T, q0 + BM) : T;
    nkt = (kend + BN - 1) / BN;
  };

  if (tid == 0) {
    mbar_init(bar_qf, 1);
    mbar_init(bar_qe, 4 * NC);
    for (int s = 0; s < KST; ++s) {
      mbar_init(bar_kf(s), 1);
      mbar_init(bar_ke(s), 4 * NC);
      mbar_init(bar_vf(s), 1);
      mbar_init(bar_ve(s), 4 * NC);
    }
    fence_mbar_init();
  }
  __syncthreads();

  if (wg == 0) {  // producer warpgroup: one thread issues every copy
    reg_dealloc<24>();
    if (tid == 0) {
      tma_prefetch_desc(&tm_q);
      tma_prefetch_desc(&tm_kv);
      int kv = 0;
      for (int it = 0, t = tile_k(0); t < ntiles; t = tile_k(++it)) {
        int bh, q0, nkt;
        decode(t, bh, q0, nkt);
        const int b = bh / H, h = bh - b * H;
        if (it > 0) mbar_wait(bar_qe, (it - 1) & 1);
        mbar_arrive_expect_tx(bar_qf, L::Q_BYTES);
#pragma unroll
        for (int cb = 0; cb < L::DB; ++cb)
          tma_load_3d(sbase + L::OFF_Q + cb * BM * 128, &tm_q, bar_qf, h * D + cb * 64, q0, b);
        for (int j = 0; j < nkt; ++j, ++kv) {
          const int s = kv % KST, r = kv / KST;
          if (kv >= KST) mbar_wait(bar_ke(s), (r - 1) & 1);
          mbar_arrive_expect_tx(bar_kf(s), L::KV_BYTES);
#pragma unroll
          for (int cb = 0; cb < L::DB; ++cb)
            tma_load_3d(sbase + L::OFF_K + s * L::KV_BYTES + cb * BN * 128, &tm_kv, bar_kf(s), C + h * D + cb * 64,
                        j * BN, b);
          if (kv >= KST) mbar_wait(bar_ve(s), (r - 1) & 1);
          mbar_arrive_expect_tx(bar_vf(s), L::KV_BYTES);
#pragma unroll
          for (int cb = 0; cb < L::DB; ++cb)
            tma_load_3d(sbase + L::OFF_V + s * L::KV_BYTES + cb * BN * 128, &tm_kv, bar_vf(s),
                        2 * C + h * D + cb * 64, j * BN, b);
        }
      }
    }
    return;
  }

  reg_alloc<L::REGS>();
  const int c = wg - 1, ctid = tid - 128 * wg, warp = ctid >> 5, lane = tid & 31;
  const int col_l = 2 * (lane & 3);
  const float sl2 = scale * kLog2e;
  const float inv_keep = p > 0.f ? 1.f / (1.f - p) : 1.f;
  const uint64_t dq = sw128_desc(sbase + L::OFF_Q + c * 64 * 128, 16);
  const uint64_t dk = sw128_desc(sbase + L::OFF_K, 16);
  const uint64_t dv = sw128_desc(sbase + L::OFF_V, BN * 128);
  bf16* Os = reinterpret_cast<bf16*>(gbase + L::OFF_O) + c * 64 * L::OLD;
  auto release = [&](uint32_t bar) {
    if (lane == 0) mbar_arrive(bar);
  };

  int kv = 0;
  for (int it = 0, t = tile_k(0); t < ntiles; t = tile_k(++it)) {
    int bh, q0, nkt;
    decode(t, bh, q0, nkt);
    const int b = bh / H, h = bh - b * H;
    const int r0 = q0 + 64 * c;                     // this warpgroup's first query row
    const int rowA = r0 + warp * 16 + (lane >> 2);  // this thread's rows: rowA, rowA + 8

    float sacc[BN / 2];
    float o[D / 2];
    uint32_t pa[BN / 16][4];
#pragma unroll
    for (int i = 0; i < D / 2; ++i) o[i] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}, corr[2] = {1.f, 1.f};

    auto issue_s = [&](int j) {
      const int s = (kv + j) % KST;
      mbar_wait(bar_kf(s), ((kv + j) / KST) & 1);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        const uint32_t oq = (kk >> 2) * BM * 128 + (kk & 3) * 32;
        const uint32_t ok = s * L::KV_BYTES + (kk >> 2) * BN * 128 + (kk & 3) * 32;
        wgmma_ss_t<BN, 0, 0>(sacc, dq + (oq >> 4), dk + (ok >> 4), kk > 0);
      }
      wgmma_commit();
    };
    auto issue_pv = [&](int j) {
      const int s = (kv + j) % KST;
      mbar_wait(bar_vf(s), ((kv + j) / KST) & 1);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < BN / 16; ++kk) {
        const uint32_t ov = s * L::KV_BYTES + kk * 2048;
        wgmma_rs_t<D, 1>(o, pa[kk], dv + (ov >> 4), 1);
      }
      wgmma_commit();
    };
    // online softmax of S_j in place (sacc <- P_j, fp32), corr <- the factor for O
    auto softmax = [&](int j) {
      const int k0 = j * BN;
      if ((causal && k0 + BN - 1 > r0) || k0 + BN > T) {
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int col = k0 + nt * 8 + col_l + (e & 1), row = rowA + (e >> 1) * 8;
            if ((causal && col > row) || col >= T) sacc[nt * 4 + e] = -INFINITY;
          }
      }
      float mx[2] = {m[0], m[1]};
#pragma unroll
      for (int nt = 0; nt < BN / 8; ++nt) {
        mx[0] = fmaxf(mx[0], fmaxf(sacc[nt * 4 + 0], sacc[nt * 4 + 1]));
        mx[1] = fmaxf(mx[1], fmaxf(sacc[nt * 4 + 2], sacc[nt * 4 + 3]));
      }
      float ms[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        const float mu = mx[r] == -INFINITY ? 0.f : mx[r];
        corr[r] = ex2((m[r] - mu) * sl2);
        m[r] = mx[r];
        ms[r] = mu * sl2;
        l[r] *= corr[r];
      }
#pragma unroll
      for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float pv = ex2(fmaf(sacc[nt * 4 + e], sl2, -ms[e >> 1]));
          l[e >> 1] += pv;
          sacc[nt * 4 + e] = pv;
        }
      if (p > 0.f) {
        const uint64_t keep = keep_rows<BN / 8>(seed, offset + ((uint64_t)bh * T + rowA) * T, T, k0 + col_l, p);
#pragma unroll
        for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            sacc[nt * 4 + e] = (keep >> (nt * 4 + e)) & 1 ? sacc[nt * 4 + e] * inv_keep : 0.f;
      }
    };

    mbar_wait(bar_qf, it & 1);
    issue_s(0);
    wgmma_wait<0>();
    fence_regs(sacc);
    release(bar_ke(kv % KST));
    if (nkt == 1) release(bar_qe);  // the last S product of this tile is done: Q may be replaced
    softmax(0);
    acc_to_a<BN>(pa, sacc);
    for (int j = 1; j < nkt; ++j) {
      issue_s(j);
      issue_pv(j - 1);
      wgmma_wait<1>();  // S_j done (P_{j-1} V_{j-1} may still run)
      fence_regs(sacc);
      release(bar_ke((kv + j) % KST));
      if (j == nkt - 1) release(bar_qe);
      softmax(j);
      wgmma_wait<0>();
      fence_regs(o);
      fence_regs(pa);
      release(bar_ve((kv + j - 1) % KST));
      acc_to_a<BN>(pa, sacc);
#pragma unroll
      for (int i = 0; i < D / 8; ++i) {
        o[4 * i + 0] *= corr[0];
        o[4 * i + 1] *= corr[0];
        o[4 * i + 2] *= corr[1];
        o[4 * i + 3] *= corr[1];
      }
    }
    issue_pv(nkt - 1);
    wgmma_wait<0>();
    fence_regs(o);
    fence_regs(pa);
    release(bar_ve((kv + nkt - 1) % KST));
    kv += nkt;

    // epilogue: lse, O / l through a padded staging tile, 16-byte stores
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
      const int row = rowA + 8 * r;
      if ((lane & 3) == 0 && row < T) lse[(size_t)bh * T + row] = m[r] * scale + logf(l[r]);
    }
    const float il0 = 1.f / l[0], il1 = 1.f / l[1];
    const int lr = warp * 16 + (lane >> 2);
#pragma unroll
    for (int i = 0; i < D / 8; ++i) {
      *reinterpret_cast<uint32_t*>(Os + lr * L::OLD + i * 8 + col_l) = pack_bf16(o[4 * i] * il0, o[4 * i + 1] * il0);
      *reinterpret_cast<uint32_t*>(Os + (lr + 8) * L::OLD + i * 8 + col_l) =
          pack_bf16(o[4 * i + 2] * il1, o[4 * i + 3] * il1);
    }
    named_sync(1 + c, 128);
#pragma unroll
    for (int idx = ctid; idx < 64 * (D / 8); idx += 128) {
      const int rr = idx / (D / 8), cc = (idx % (D / 8)) * 8, row = r0 + rr;
      if (row < T)
        *reinterpret_cast<uint4*>(out + ((size_t)b * T + row) * C + h * D + cc) =
            *reinterpret_cast<const uint4*>(Os + rr * L::OLD + cc);
    }
    if (PERSIST) named_sync(1 + c, 128);  // the staging tile is free again
  }
#endif
}

// ---------------------------------------------------------------------------------------------------
// backward
template <int D, int BM>
struct BwdCfg {
  static constexpr int BN = 128, NT = 384, DB = D / 64;
  static constexpr int KV_BYTES = BN * D * 2, QT_BYTES = BM * D * 2, DS_BYTES = BN * BM * 2, DQ_BYTES = BM * D * 4;
  static constexpr int OFF_K = 0, OFF_V = KV_BYTES, OFF_Q = 2 * KV_BYTES, OFF_DO = OFF_Q + 2 * QT_BYTES;
  static constexpr int OFF_DS = OFF_DO + 2 * QT_BYTES, OFF_DQ = OFF_DS + DS_BYTES;
  static constexpr int OFF_LSE = OFF_DQ + 2 * DQ_BYTES, OFF_DV = OFF_LSE + 2 * BM * 4, OFF_BAR = OFF_DV + 2 * BM * 4;
  static constexpr int SMEM = OFF_BAR + 5 * 8 + 1024;
  // dQ = dS K per warpgroup: D = 64 -> queries 64w.. (all columns); D = 128 -> all 64 queries, columns 64w..
  static_assert((D == 64 && BM == 128) || (D == 128 && BM == 64), "backward tiles");
  static_assert(SMEM <= 227 * 1024, "shared memory");
};

// Block -> (key tile, head). order 0: grid (key tiles, B*H) with the key tiles of one head together (its
// dq accumulator stays in L2). order 1: a 1-d grid in groups of `group` heads, each group's blocks
// heaviest first (key tile 0 of every head of the group, then key tile 1, ...): the long causal blocks
// start early, and the heads in flight stay few.
// OVL 1: S^T and dP^T complete in separate groups, P^T is computed while dP^T runs; OVL 2: besides, dV is
// issued before dS^T is computed (more registers: D = 128 only), so more elementwise work overlaps the
// tensor cores.
template <int D, int BM, int OVL>
__global__ void __launch_bounds__(384, 1)
    attn_bwd_sm90_kernel(const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_kv,
                         const __grid_constant__ CUtensorMap tm_do, const float* __restrict__ lse,
                         const float* __restrict__ dvec, float* __restrict__ dq_acc, bf16* __restrict__ dqkv, int BH,
                         int T, int H, float scale, float p, uint64_t seed, uint64_t offset, int causal, int order,
                         int group) {
#if MYPT_SM90_BODY
  using L = BwdCfg<D, BM>;
  constexpr int BN = L::BN;
  int bh, kt;
  if (order == 0) {
    bh = (int)(blockIdx.z * gridDim.y + blockIdx.y);
    kt = (int)blockIdx.x;
  } else {
    const int nkt = (T + BN - 1) / BN, lin = (int)blockIdx.x, g = lin / (group * nkt);
    const int gh = min(group, BH - g * group), r = lin - g * group * nkt;
    kt = r / gh;
    bh = g * group + (r - kt * gh);
  }
  if (bh >= BH) return;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = smem_u32(smem_raw), sbase = (raw + 1023u) & ~1023u;
  unsigned char* gbase = smem_raw + (sbase - raw);
  const uint32_t bar_kv = sbase + L::OFF_BAR;
  auto bar_qf = [&](int s) { return bar_kv + 8u * (1 + s); };
  auto bar_qe = [&](int s) { return bar_kv + 8u * (3 + s); };
  float* lse_s = reinterpret_cast<float*>(gbase + L::OFF_LSE);  // [2][BM], times log2(e); +inf past T
  float* dv_s = reinterpret_cast<float*>(gbase + L::OFF_DV);    // [2][BM]

  const int tid = threadIdx.x, wg = tid >> 7, lane = tid & 31;
  const int b = bh / H, h = bh - b * H;
  const int k0 = kt * BN;
  const int C = H * D, stride = 3 * C;
  const int qt0 = causal ? k0 / BM : 0, nqt = (T + BM - 1) / BM, n = nqt - qt0;

  if (tid == 0) {
    mbar_init(bar_kv, 1);
    for (int s = 0; s < 2; ++s) {
      mbar_init(bar_qf(s), 32);
      mbar_init(bar_qe(s), 256);  // every consumer thread: its reads of lse / dvec are ordered before
    }
    fence_mbar_init();
  }
  __syncthreads();

  if (wg == 0) {  // producer: warp 0 (lane 0 issues the copies; the warp stages lse and dvec)
    reg_dealloc<24>();
    if (tid >= 32) return;
    if (lane == 0) {
      tma_prefetch_desc(&tm_q);
      tma_prefetch_desc(&tm_kv);
      tma_prefetch_desc(&tm_do);
      mbar_arrive_expect_tx(bar_kv, 2 * L::KV_BYTES);
#pragma unroll
      for (int cb = 0; cb < L::DB; ++cb) {
        tma_load_3d(sbase + L::OFF_K + cb * BN * 128, &tm_kv, bar_kv, C + h * D + cb * 64, k0, b);
        tma_load_3d(sbase + L::OFF_V + cb * BN * 128, &tm_kv, bar_kv, 2 * C + h * D + cb * 64, k0, b);
      }
    }
    for (int i = 0; i < n; ++i) {
      const int s = i & 1, q0 = (qt0 + i) * BM;
      if (i >= 2) mbar_wait(bar_qe(s), ((i >> 1) - 1) & 1);
      if (lane == 0) {
        mbar_expect_tx(bar_qf(s), 2 * L::QT_BYTES);
#pragma unroll
        for (int cb = 0; cb < L::DB; ++cb) {
          tma_load_3d(sbase + L::OFF_Q + s * L::QT_BYTES + cb * BM * 128, &tm_q, bar_qf(s), h * D + cb * 64, q0, b);
          tma_load_3d(sbase + L::OFF_DO + s * L::QT_BYTES + cb * BM * 128, &tm_do, bar_qf(s), h * D + cb * 64, q0, b);
        }
      }
      for (int k = lane; k < BM; k += 32) {
        const int q = q0 + k;
        lse_s[s * BM + k] = q < T ? lse[(size_t)bh * T + q] * kLog2e : INFINITY;
        dv_s[s * BM + k] = q < T ? dvec[(size_t)bh * T + q] : 0.f;
      }
      mbar_arrive(bar_qf(s));
    }
    return;
  }

  reg_alloc<240>();
  const int w = wg - 1, ctid = tid - 128 * wg, warp = ctid >> 5;
  const int kw0 = k0 + 64 * w;                         // this warpgroup's first key
  const int keyA = kw0 + warp * 16 + (lane >> 2);      // this thread's keys: keyA, keyA + 8
  const int col_l = 2 * (lane & 3);
  const float sl2 = scale * kLog2e;
  const float inv_keep = p > 0.f ? 1.f / (1.f - p) : 1.f;
  const uint64_t dK = sw128_desc(sbase + L::OFF_K + w * 64 * 128, 16);   // K rows of this warpgroup, K-major
  const uint64_t dV = sw128_desc(sbase + L::OFF_V + w * 64 * 128, 16);
  const uint64_t dQk = sw128_desc(sbase + L::OFF_Q, 16);                  // Q as the K-major B of S^T
  const uint64_t dOk = sw128_desc(sbase + L::OFF_DO, 16);
  const uint64_t dQm = sw128_desc(sbase + L::OFF_Q, BM * 128);            // Q, dO as MN-major B of dK, dV
  const uint64_t dOm = sw128_desc(sbase + L::OFF_DO, BM * 128);
  // dQ = dS K: A = dS (queries x keys) read from dS^T [query block][key][64 queries] (MN-major);
  // B = K [key][d] (MN-major)
  const uint64_t dSa = sw128_desc(sbase + L::OFF_DS + (D == 64 ? w * BN * 128 : 0), BN * 128);
  const uint64_t dKb = sw128_desc(sbase + L::OFF_K + (D == 128 ? w * BN * 128 : 0), BN * 128);

  float dk[D / 2], dv[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) dk[i] = dv[i] = 0.f;

  mbar_wait(bar_kv, 0);
  for (int i = 0; i < n; ++i) {
    const int s = i & 1, q0 = (qt0 + i) * BM;
    mbar_wait(bar_qf(s), (i >> 1) & 1);
    float sacc[BM / 2], pacc[BM / 2];
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const uint32_t oa = (kk >> 2) * BN * 128 + (kk & 3) * 32;
      const uint32_t ob = s * L::QT_BYTES + (kk >> 2) * BM * 128 + (kk & 3) * 32;
      wgmma_ss_t<BM, 0, 0>(sacc, dK + (oa >> 4), dQk + (ob >> 4), kk > 0);
    }
    if constexpr (OVL > 0) wgmma_commit();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const uint32_t oa = (kk >> 2) * BN * 128 + (kk & 3) * 32;
      const uint32_t ob = s * L::QT_BYTES + (kk >> 2) * BM * 128 + (kk & 3) * 32;
      wgmma_ss_t<BM, 0, 0>(pacc, dV + (oa >> 4), dOk + (ob >> 4), kk > 0);
    }
    wgmma_commit();

    const float* ls = lse_s + s * BM;
    const float* dvs = dv_s + s * BM;
    const bool need_mask = (causal && q0 < kw0 + 63) || kw0 + 64 > T;
    uint64_t keep = ~0ull;
    if (p > 0.f) keep = keep_cols<BM / 8>(seed, offset + (uint64_t)bh * T * T + keyA, T, q0 + col_l, p);
    uint32_t pa[BM / 16][4], dsa[BM / 16][4];

    if constexpr (OVL > 0) {
      wgmma_wait<1>();  // S^T done; dP^T may still run
      fence_regs(sacc);
      // P^T in place (sacc)
#pragma unroll
      for (int nt = 0; nt < BM / 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int ql = nt * 8 + col_l + (e & 1), idx = nt * 4 + e;
          float pv = ex2(fmaf(sacc[idx], sl2, -ls[ql]));
          if (need_mask) {
            const int q = q0 + ql, key = keyA + (e >> 1) * 8;
            if ((causal && q < key) || key >= T) pv = 0.f;
          }
          sacc[idx] = pv;
        }
        if constexpr (OVL == 2) {  // P^T Z packed now, for dV issued below
          const int kq = nt >> 1, hi = 2 * (nt & 1);
          float z[4] = {1.f, 1.f, 1.f, 1.f};
          if (p > 0.f) {
#pragma unroll
            for (int e = 0; e < 4; ++e) z[e] = (keep >> (nt * 4 + e)) & 1 ? inv_keep : 0.f;
          }
          pa[kq][hi] = pack_bf16(sacc[nt * 4 + 0] * z[0], sacc[nt * 4 + 1] * z[1]);
          pa[kq][hi + 1] = pack_bf16(sacc[nt * 4 + 2] * z[2], sacc[nt * 4 + 3] * z[3]);
        }
      }
      if constexpr (OVL == 2) {
        wgmma_fence();
#pragma unroll
        for (int kq = 0; kq < BM / 16; ++kq) {
          const uint32_t ob = s * L::QT_BYTES + kq * 2048;
          wgmma_rs_t<D, 1>(dv, pa[kq], dOm + (ob >> 4), 1);
        }
        wgmma_commit();
        wgmma_wait<1>();  // dP^T done; dV may still run
      } else {
        wgmma_wait<0>();
      }
      fence_regs(pacc);
#pragma unroll
      for (int nt = 0; nt < BM / 8; ++nt) {
        float z[4] = {1.f, 1.f, 1.f, 1.f};
        if (p > 0.f) {
#pragma unroll
          for (int e = 0; e < 4; ++e) z[e] = (keep >> (nt * 4 + e)) & 1 ? inv_keep : 0.f;
        }
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int ql = nt * 8 + col_l + (e & 1), idx = nt * 4 + e;
          pacc[idx] = sacc[idx] * (pacc[idx] * z[e] - dvs[ql]);
        }
        const int kq = nt >> 1, hi = 2 * (nt & 1);
        dsa[kq][hi] = pack_bf16(pacc[nt * 4 + 0], pacc[nt * 4 + 1]);
        dsa[kq][hi + 1] = pack_bf16(pacc[nt * 4 + 2], pacc[nt * 4 + 3]);
        if constexpr (OVL == 1) {
          pa[kq][hi] = pack_bf16(sacc[nt * 4 + 0] * z[0], sacc[nt * 4 + 1] * z[1]);
          pa[kq][hi + 1] = pack_bf16(sacc[nt * 4 + 2] * z[2], sacc[nt * 4 + 3] * z[3]);
        }
      }
    } else {
      wgmma_wait<0>();
      fence_regs(sacc);
      fence_regs(pacc);
      // P^T (sacc <- P Z) and dS^T (pacc)
      constexpr bool PACK_EARLY = D == 128;  // (chosen by ptxas's spill report)
#pragma unroll
      for (int nt = 0; nt < BM / 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int ql = nt * 8 + col_l + (e & 1), idx = nt * 4 + e;
          float pv = ex2(fmaf(sacc[idx], sl2, -ls[ql]));
          if (need_mask) {
            const int q = q0 + ql, key = keyA + (e >> 1) * 8;
            if ((causal && q < key) || key >= T) pv = 0.f;
          }
          float dpv = pacc[idx], pz = pv;
          if (p > 0.f) {
            const float z = (keep >> idx) & 1 ? inv_keep : 0.f;
            dpv *= z;
            pz = pv * z;
          }
          pacc[idx] = pv * (dpv - dvs[ql]);
          sacc[idx] = pz;
        }
        if constexpr (PACK_EARLY) {  // packed at once, so the fp32 values die early
          const int kq = nt >> 1, hi = 2 * (nt & 1);
          pa[kq][hi] = pack_bf16(sacc[nt * 4 + 0], sacc[nt * 4 + 1]);
          pa[kq][hi + 1] = pack_bf16(sacc[nt * 4 + 2], sacc[nt * 4 + 3]);
          dsa[kq][hi] = pack_bf16(pacc[nt * 4 + 0], pacc[nt * 4 + 1]);
          dsa[kq][hi + 1] = pack_bf16(pacc[nt * 4 + 2], pacc[nt * 4 + 3]);
        }
      }
      if constexpr (!PACK_EARLY) {
        acc_to_a<BM>(pa, sacc);
        acc_to_a<BM>(dsa, pacc);
      }
    }
    // dS^T -> shared memory, [query block][key row][64 queries], 128-byte swizzle
    {
      unsigned char* ds = gbase + L::OFF_DS;
      const int kr = 64 * w + warp * 16 + (lane >> 2);  // key row in the tile (and kr + 8)
#pragma unroll
      for (int kq = 0; kq < BM / 16; ++kq)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int chunk = 2 * kq + half, qb = chunk >> 3, c8 = chunk & 7;
#pragma unroll
          for (int r = 0; r < 2; ++r) {
            const int row = kr + 8 * r;
            *reinterpret_cast<uint32_t*>(ds + qb * BN * 128 + row * 128 + ((c8 ^ (row & 7)) << 4) + (lane & 3) * 4) =
                dsa[kq][2 * half + r];
          }
        }
    }
    fence_async_smem();
    // dV += (P^T Z) dO (unless issued above), dK += dS^T Q
    wgmma_fence();
    if constexpr (OVL < 2) {
#pragma unroll
      for (int kq = 0; kq < BM / 16; ++kq) {
        const uint32_t ob = s * L::QT_BYTES + kq * 2048;
        wgmma_rs_t<D, 1>(dv, pa[kq], dOm + (ob >> 4), 1);
      }
    }
#pragma unroll
    for (int kq = 0; kq < BM / 16; ++kq) {
      const uint32_t ob = s * L::QT_BYTES + kq * 2048;
      wgmma_rs_t<D, 1>(dk, dsa[kq], dQm + (ob >> 4), 1);
    }
    wgmma_commit();
    if (w == 0 && ctid == 0) bulk_wait_read<1>();  // the dQ staging buffer of tile i - 2 has been read
    named_sync(1, 256);                             // dS^T complete
    float dqa[32];
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) wgmma_ss_t<64, 1, 1>(dqa, dSa + ((kk * 2048) >> 4), dKb + ((kk * 2048) >> 4), kk > 0);
    wgmma_commit();
    wgmma_wait<0>();
    fence_regs(dk);
    fence_regs(dv);
    fence_regs(dqa);
    fence_regs(pa);
    fence_regs(dsa);
    mbar_arrive(bar_qe(s));  // Q, dO, lse, dvec of this stage are free
    // dQ tile -> staging (fp32 rows of D, float pairs permuted), then one bulk reduce into dq_acc
    {
      float* dqs = reinterpret_cast<float*>(gbase + L::OFF_DQ + s * L::DQ_BYTES);
      const int rb = (D == 64 ? 64 * w : 0) + warp * 16 + (lane >> 2), cb = D == 128 ? 64 * w : 0;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int row = rb + 8 * r, pair = (cb + nt * 8 + col_l) >> 1;
          const int pp = pair ^ ((row & 7) << 2);
          *reinterpret_cast<float2*>(dqs + row * D + 2 * pp) = make_float2(dqa[4 * nt + 2 * r], dqa[4 * nt + 2 * r + 1]);
        }
    }
    fence_async_smem();
    named_sync(2, 256);
    if (w == 0 && ctid == 0) {
      const int rows = min(BM, T - q0);
      bulk_reduce_add_f32(dq_acc + ((size_t)bh * T + q0) * D, sbase + L::OFF_DQ + s * L::DQ_BYTES, rows * D * 4);
      bulk_commit();
    }
  }
  if (w == 0 && ctid == 0) bulk_wait<0>();

  // dK (times scale), dV -> dqkv
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int key = keyA + 8 * r;
    if (key < T) {
      bf16* dkp = dqkv + ((size_t)b * T + key) * stride + C + h * D + col_l;
      bf16* dvp = dkp + C;
#pragma unroll
      for (int nt = 0; nt < D / 8; ++nt) {
        *reinterpret_cast<uint32_t*>(dkp + nt * 8) = pack_bf16(dk[4 * nt + 2 * r] * scale, dk[4 * nt + 2 * r + 1] * scale);
        *reinterpret_cast<uint32_t*>(dvp + nt * 8) = pack_bf16(dv[4 * nt + 2 * r], dv[4 * nt + 2 * r + 1]);
      }
    }
  }
#endif
}

// dvec[bh*T + t] = dout[b, t, h*D..] . out[b, t, h*D..]; D/8 threads a row, 16-byte loads.
template <int D>
__global__ void attn_bwd_pre_sm90_kernel(float* __restrict__ dvec, const bf16* __restrict__ dout,
                                         const bf16* __restrict__ out, int B, int T, int H) {
  constexpr int TPR = D / 8;
  const int64_t gt = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t r = gt / TPR;  // row (b, t, h) of [B*T*H, D]
  const int part = (int)(gt % TPR);
  const bool live = r < (int64_t)B * T * H;
  float acc = 0.f;
  if (live) {
    const uint4 x = *reinterpret_cast<const uint4*>(dout + r * D + part * 8);
    const uint4 y = *reinterpret_cast<const uint4*>(out + r * D + part * 8);
    const __nv_bfloat162* xa = reinterpret_cast<const __nv_bfloat162*>(&x);
    const __nv_bfloat162* ya = reinterpret_cast<const __nv_bfloat162*>(&y);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 a = __bfloat1622float2(xa[k]), c = __bfloat1622float2(ya[k]);
      acc += a.x * c.x + a.y * c.y;
    }
  }
#pragma unroll
  for (int o = TPR / 2; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o, TPR);
  if (live && part == 0) {
    const int h = (int)(r % H);
    const int64_t bt = r / H;
    const int t = (int)(bt % T), b = (int)(bt / T);
    dvec[((int64_t)b * H + h) * T + t] = acc;
  }
}

// dqkv q block = dq_acc * scale (bf16), undoing the pair permutation; 8 columns a thread.
template <int D>
__global__ void attn_dq_convert_sm90_kernel(bf16* __restrict__ dqkv, const float* __restrict__ dq_acc, int B, int T,
                                            int H, float scale) {
  const int C = H * D, C8 = C / 8;
  const int64_t n = (int64_t)B * T * C8;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    const int c8 = (int)(e % C8);
    const int64_t bt = e / C8;
    const int t = (int)(bt % T), b = (int)(bt / T), h = c8 / (D / 8), d0 = (c8 % (D / 8)) * 8;
    const int pp = (d0 >> 1) ^ ((t & 7) << 2);  // pairs d0/2 .. d0/2+3 stay together
    const float4* src = reinterpret_cast<const float4*>(dq_acc + (((int64_t)b * H + h) * T + t) * D + 2 * pp);
    const float4 u = src[0], v = src[1];
    uint4 o;
    o.x = pack_bf16(u.x * scale, u.y * scale);
    o.y = pack_bf16(u.z * scale, u.w * scale);
    o.z = pack_bf16(v.x * scale, v.y * scale);
    o.w = pack_bf16(v.z * scale, v.w * scale);
    *reinterpret_cast<uint4*>(dqkv + bt * 3 * C + c8 * 8) = o;
  }
}

// ---------------------------------------------------------------------------------------------------
// host side
using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiledFn encoder() {
  static EncodeTiledFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      f = nullptr;
    return reinterpret_cast<EncodeTiledFn>(f);
  }();
  if (!fn) throw std::runtime_error("attention (sm90): cuTensorMapEncodeTiled is not available from the driver");
  return fn;
}

// [batches][rows][cols] bf16, row stride `ld` elements; boxes of 64 columns x box_rows rows, 128-byte
// swizzle; rows past `rows` read as zeros.
CUtensorMap tile_map(const bf16* base, int cols, int rows, int batches, int ld, int box_rows) {
  CUtensorMap m;
  const cuuint64_t dims[3] = {(cuuint64_t)cols, (cuuint64_t)rows, (cuuint64_t)batches};
  const cuuint64_t strides[2] = {(cuuint64_t)ld * 2, (cuuint64_t)ld * 2 * rows};
  const cuuint32_t box[3] = {64, (cuuint32_t)box_rows, 1};
  const cuuint32_t estr[3] = {1, 1, 1};
  const CUresult r = encoder()(&m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<bf16*>(base), dims, strides, box, estr,
                               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                               CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) throw std::runtime_error("attention (sm90): cuTensorMapEncodeTiled failed (" + std::to_string((int)r) + ")");
  return m;
}

template <typename K>
void set_smem(K kernel, int bytes) {
  allow_dynamic_smem(kernel, (size_t)bytes, "attention (sm90)");
}

template <int D, int NC, int BN, int KST, bool PERSIST>
void launch_fwd(bf16* out, float* lse, const bf16* qkv, int B, int T, int H, float scale, float p, uint64_t seed,
                uint64_t offset, bool causal, cudaStream_t st) {
  using L = FwdCfg<D, NC, BN, KST>;
  const int C = H * D, BH = B * H;
  const CUtensorMap tq = tile_map(qkv, 3 * C, T, B, 3 * C, L::BM);
  const CUtensorMap tkv = tile_map(qkv, 3 * C, T, B, 3 * C, BN);
  auto kern = attn_fwd_sm90_kernel<D, NC, BN, KST, PERSIST>;
  set_smem(kern, L::SMEM);
  const int mt = (T + L::BM - 1) / L::BM;
  if (mt > 65535 || (int64_t)mt * BH > (1ll << 30)) throw std::runtime_error("attention (sm90): too many tiles");
  const dim3 grid = PERSIST ? dim3((unsigned)std::min(mt * BH, sm_count())) : dim3((unsigned)BH, (unsigned)mt);
  kern<<<grid, L::NT, L::SMEM, st>>>(tq, tkv, out, lse, BH, T, H, mt, scale, p, seed, offset, causal ? 1 : 0);
  CUDA_CHECK_LAUNCH("attention forward (sm90)");
}

template <int D, int BM, int OVL>
void launch_bwd(bf16* dqkv, float* dq_acc, const float* dvec, const bf16* dout, const bf16* qkv, const float* lse,
                int B, int T, int H, float scale, float p, uint64_t seed, uint64_t offset, bool causal, int order,
                cudaStream_t st) {
  using L = BwdCfg<D, BM>;
  const int C = H * D, BH = B * H, nkt = (T + L::BN - 1) / L::BN;
  const CUtensorMap tq = tile_map(qkv, 3 * C, T, B, 3 * C, BM);
  const CUtensorMap tkv = tile_map(qkv, 3 * C, T, B, 3 * C, L::BN);
  const CUtensorMap tdo = tile_map(dout, C, T, B, C, BM);
  auto kern = attn_bwd_sm90_kernel<D, BM, OVL>;
  set_smem(kern, L::SMEM);
  dim3 grid;
  int group = 1;
  if (order == 0) {
    const int y = BH < 65535 ? BH : 65535;
    grid = dim3((unsigned)nkt, (unsigned)y, (unsigned)((BH + y - 1) / y));
  } else {
    if ((int64_t)nkt * BH > (1ll << 30)) throw std::runtime_error("attention (sm90): too many tiles");
    group = std::max(1, std::min(BH, (2 * sm_count() + nkt - 1) / nkt));  // about two waves a group
    grid = dim3((unsigned)(nkt * BH));
  }
  kern<<<grid, L::NT, L::SMEM, st>>>(tq, tkv, tdo, lse, dvec, dq_acc, dqkv, BH, T, H, scale, p, seed, offset,
                                     causal ? 1 : 0, order, group);
  CUDA_CHECK_LAUNCH("attention backward (sm90)");
}

void check_args(int C, int H, float p, const void* a, const void* b2) {
  if (H <= 0 || C % H != 0) throw std::runtime_error("attention: C must be a multiple of H");
  const int D = C / H;
  if (D != 64 && D != 128) throw std::runtime_error("attention (sm90): head size must be 64 or 128");
  if (!(p >= 0.f && p < 1.f)) throw std::runtime_error("attention: dropout probability must be in [0, 1)");
  if ((reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b2)) & 15)
    throw std::runtime_error("attention (sm90): tensors must be 16-byte aligned");
}

}  // namespace

bool attention_compiled() { return true; }

bool attention_usable() {
  static int cc[64];  // per device: 0 unknown, 1 usable, 2 not
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return false;
  if (cc[dev] == 0) {
    int major = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return false;
    cc[dev] = major == 9 ? 1 : 2;
  }
  return cc[dev] == 1;
}

void attention_forward(bf16* out, float* lse, const bf16* qkv, int B, int T, int C, int H, float scale, float p,
                       uint64_t seed, uint64_t offset, bool causal, cudaStream_t st) {
  check_args(C, H, p, qkv, out);
  if (B <= 0 || T <= 0) return;
  const int D = C / H;
  // variants: 0 one tile a block; 1 the same with 3 consumer warpgroups (D 64) or 64-key tiles in 3 stages
  // (D 128); 2, 3: 0, 1 on a persistent grid. Default (measured on an H200, NOTES-attention-sm90.md): 2,
  // except 1 for D = 64 past T = 2048 (the longer 192-row tiles win there)
  int fv = g_fwd_variant;
  if (fv < 0) fv = D == 64 && T > 2048 ? 1 : 2;
#define MYPT_FWD(D_, NC_, BN_, KST_, P_) \
  launch_fwd<D_, NC_, BN_, KST_, P_>(out, lse, qkv, B, T, H, scale, p, seed, offset, causal, st)
  if (D == 64) {
    switch (fv) {
      case 1: MYPT_FWD(64, 3, 128, 2, false); break;
      case 2: MYPT_FWD(64, 2, 128, 2, true); break;
      case 3: MYPT_FWD(64, 3, 128, 2, true); break;
      default: MYPT_FWD(64, 2, 128, 2, false); break;
    }
  } else {
    switch (fv) {
      case 1: MYPT_FWD(128, 2, 64, 3, false); break;
      case 2: MYPT_FWD(128, 2, 128, 2, true); break;
      case 3: MYPT_FWD(128, 2, 64, 3, true); break;
      default: MYPT_FWD(128, 2, 128, 2, false); break;
    }
  }
#undef MYPT_FWD
}

void attention_backward(bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out, const float* lse, int B, int T,
                        int C, int H, float scale, float p, uint64_t seed, uint64_t offset, bool causal, float* scratch,
                        cudaStream_t st) {
  check_args(C, H, p, qkv, dout);
  if (B <= 0 || T <= 0) return;
  const int D = C / H;
  const int64_t rows = (int64_t)B * H * T;
  float* dq_acc = scratch;
  float* dvec = scratch + rows * D;
  cudaError_t e = cudaMemsetAsync(dq_acc, 0, (size_t)rows * D * sizeof(float), st);
  if (e != cudaSuccess) throw std::runtime_error(std::string("attention (sm90): memset: ") + cudaGetErrorString(e));
  {
    const int64_t threads = rows * (D / 8);
    const unsigned blocks = (unsigned)((threads + 255) / 256);
    if (D == 64) attn_bwd_pre_sm90_kernel<64><<<blocks, 256, 0, st>>>(dvec, dout, out, B, T, H);
    else attn_bwd_pre_sm90_kernel<128><<<blocks, 256, 0, st>>>(dvec, dout, out, B, T, H);
    CUDA_CHECK_LAUNCH("attention backward pre-pass (sm90)");
  }
  // variants: 0 grid by head; 1 heaviest-first groups of heads; 2, 3: 1, 0 with the overlapped tile loop.
  // Default 2 (measured best or within 2% at every timed shape)
  const int v = g_bwd_variant < 0 ? 2 : g_bwd_variant, order = v == 1 || v == 2 ? 1 : 0;
  if (D == 64) {  // (the early dV needs more registers than D = 64 leaves: OVL 1 there)
    if (v >= 2) launch_bwd<64, 128, 1>(dqkv, dq_acc, dvec, dout, qkv, lse, B, T, H, scale, p, seed, offset, causal, order, st);
    else launch_bwd<64, 128, 0>(dqkv, dq_acc, dvec, dout, qkv, lse, B, T, H, scale, p, seed, offset, causal, order, st);
  } else {
    if (v >= 2) launch_bwd<128, 64, 2>(dqkv, dq_acc, dvec, dout, qkv, lse, B, T, H, scale, p, seed, offset, causal, order, st);
    else launch_bwd<128, 64, 0>(dqkv, dq_acc, dvec, dout, qkv, lse, B, T, H, scale, p, seed, offset, causal, order, st);
  }
  {
    const int64_t n8 = (int64_t)B * T * C / 8;
    const unsigned blocks = (unsigned)std::min<int64_t>((n8 + 255) / 256, 1 << 20);
    if (D == 64) attn_dq_convert_sm90_kernel<64><<<blocks, 256, 0, st>>>(dqkv, dq_acc, B, T, H, scale);
    else attn_dq_convert_sm90_kernel<128><<<blocks, 256, 0, st>>>(dqkv, dq_acc, B, T, H, scale);
    CUDA_CHECK_LAUNCH("attention backward dq (sm90)");
  }
}

#endif  // MYPT_ATTN_SM90

}  // namespace sm90
}  // namespace cuda
}  // namespace mypt
