// Causal multi-head attention, forward and backward (contract: attention.cuh; reference:
// mypt::cpu::attention_forward / attention_backward; check: test/native/check_attention.cu, run by
// scripts/gpu-attn-check.sh on a GPU host).
//
// bf16 path, FlashAttention-2 style, tensor cores through mma.sync.m16n8k16 (bf16 in, fp32 accumulate),
// ldmatrix fragment loads, cp.async tile copies:
//   forward  : one block per (query tile, head); each warp owns WM*16 query rows and keeps its Q
//              fragments in registers; key/value tiles of BC rows stream through a ring of shared-memory
//              stages (one barrier a tile); online softmax in fp32 with exp2 and the scale folded in;
//              the output is staged through shared memory for 16-byte stores.
//   backward : pre-pass D_i = dout_i . out_i and zero an fp32 dq accumulator; then one block per
//              (key tile of 16*NW rows, head): each warp owns 16 keys and accumulates dK, dV for them in
//              registers while query tiles of BR rows stream through shared memory (double-buffered):
//                S^T = K Q^T, P^T = exp(scale S^T - lse), dV += (P∘Z)^T dO, dP^T = V dO^T,
//                dS^T = P^T ∘ (dP^T∘Z - D), dK += dS^T Q, dQ += dS K (fp32 atomics, float2 on sm_90)
//              (Z: dropout keep mask / (1-p), regenerated from dropout.h); a last pass writes dq * scale.
// fp32 path: scalar fp32 kernels (a warp per query row or key row), written for clarity.
//
// Measured on an H100 80GB (132 SMs), medians of CUDA-event timings (see the check's BENCH lines):
//   B16 H12 T1024 D64: fwd ~0.14 ms (PyTorch SDPA 0.12), fwd+bwd ~0.62-0.64 ms (PyTorch 0.53-0.67)
//   B4 H12 T4096 D64 : fwd ~0.43 ms (PyTorch 0.29), fwd+bwd ~1.87 ms (PyTorch 1.12)
//   B16 H6 T1024 D128: fwd ~0.14 ms (PyTorch 0.09), fwd+bwd ~0.62 ms (PyTorch 0.46-0.69)
// Notes from the profiles: the backward kernel runs at 2 warps a scheduler (registers) with ~0.4 warps
// eligible a cycle (latency bound, tensor pipe ~25% busy); putting the blocks of one head together in
// the backward grid keeps the dq accumulator in L2 (DRAM traffic from 56% of peak down, -16% time);
// the forward prefers the heaviest query tiles of all heads first. PyTorch's kernels on Hopper use
// wgmma (its forward reaches ~350 TFLOP/s at T=4096); these use mma.sync, which tops out lower.
#include "attention.cuh"

#include <cuda_bf16.h>
#include <cstdlib>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "attention_frag.cuh"
#include "cp_async.cuh"
#include "attention_sm90.cuh"
#include "common.cuh"
#include "engine/dropout.h"

namespace mypt {
namespace cuda {
namespace {

using attn::keep_cols;
using attn::keep_rows;
using attn::pack_bf16;
using attn::smem_u32;

constexpr float kLog2e = 1.4426950408889634f;

// ---------------------------------------------------------------------------------------------------
// PTX helpers
// cp_async16 / cp_async_commit / cp_async_wait: cp_async.cuh
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}
// c[16x8] += a[16x16] (row) * b[16x8] (col), bf16 operands, fp32 accumulators.
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// Two adjacent n8 tiles from one x4 B load: c0 += a * (b[0], b[1]), c1 += a * (b[2], b[3]).
__device__ __forceinline__ void mma_x2(float (&c0)[4], float (&c1)[4], const uint32_t (&a)[4], const uint32_t (&b)[4]) {
  mma16816(c0, a, b[0], b[1]);
  mma16816(c1, a, b[2], b[3]);
}
// The accumulator fragments of two adjacent n8 tiles (16 columns) re-packed as the bf16 A operand of
// the next product (the C layout of m16n8 matches the A layout of m16n8k16 column pair by column pair).
__device__ __forceinline__ void acc_to_a(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = pack_bf16(c0[0], c0[1]);
  a[1] = pack_bf16(c0[2], c0[3]);
  a[2] = pack_bf16(c1[0], c1[1]);
  a[3] = pack_bf16(c1[2], c1[3]);
}
__device__ __forceinline__ void atomic_add2(float* dst, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(dst), make_float2(a, b));
#else
  atomicAdd(dst, a);
  atomicAdd(dst + 1, b);
#endif
}

// Blocks are laid out (tile, head): x = tile within one (batch row, head), y (and z past 65535) = b*H + h,
// so that the blocks resident at one time share few heads and their K/V/Q/dO tiles and dq accumulator
// stay in L2.
__device__ __forceinline__ int block_bh() { return (int)(blockIdx.z * gridDim.y + blockIdx.y); }
dim3 tile_grid(int tiles, int BH) {
  const int y = BH < 65535 ? BH : 65535;
  return dim3((unsigned)tiles, (unsigned)y, (unsigned)((BH + y - 1) / y));
}

// Fragment addressing (lane = thread in warp), smem tiles row-major with leading dimension ld (elements):
//   A operand (16x16, rows m, cols k) from [m][k] storage:             ldsm_x4 at a_addr
//   B operands of two n8 tiles (k16 x n16) from [n][k] storage:       ldsm_x4 at bnk_addr -> b0,b1 | b0,b1
//   B operands of two n8 tiles from [k][n] storage:                   ldsm_x4_t at bkn_addr
//   A operand from [k][m] storage (the transpose is stored):           ldsm_x4_t at bnk_addr
__device__ __forceinline__ int a_off(int lane, int ld) { return (lane & 15) * ld + (lane >> 4) * 8; }
__device__ __forceinline__ int bnk_off(int lane, int ld) {
  return ((lane & 7) + ((lane >> 4) << 3)) * ld + ((lane >> 3) & 1) * 8;
}
__device__ __forceinline__ int bkn_off(int lane, int ld) {
  return ((lane & 7) + (((lane >> 3) & 1) << 3)) * ld + (lane >> 4) * 8;
}

// Rows [r0, r0 + ROWS) x D columns of one head slice (row stride `stride` elements) -> smem [ROWS][D+8];
// rows at or past T are zero-filled.
template <int ROWS, int D, int NT>
__device__ __forceinline__ void load_tile(bf16* s, const bf16* g, int r0, int T, int stride, int tid) {
  constexpr int CPR = D / 8, LD = D + 8;
#pragma unroll
  for (int c = tid; c < ROWS * CPR; c += NT) {
    const int r = c / CPR, k = (c % CPR) * 8, gr = r0 + r;
    const bool v = gr < T;
    cp_async16(s + r * LD + k, g + (size_t)(v ? gr : 0) * stride + k, v);
  }
}


// ---------------------------------------------------------------------------------------------------
// bf16 forward. Each warp owns WM m16 tiles (16*WM query rows); a block holds NW warps; key/value tiles
// go through a ring of ST shared-memory stages (one barrier a tile).
template <int D, int NW, int WM, int BC, int ST>
__global__ void __launch_bounds__(NW * 32)
    attn_fwd_bf16_kernel(bf16* __restrict__ out, float* __restrict__ lse, const bf16* __restrict__ qkv, int BH,
                         int T, int H, float scale, float p, uint64_t seed, uint64_t offset) {
  constexpr int RW = 16 * WM, BR = RW * NW, LD = D + 8, NT = NW * 32;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);
  bf16* Ks = Qs + BR * LD;
  bf16* Vs = Ks + ST * BC * LD;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  // (head, tile) order with the heaviest (last) query tiles of every head first: the best tail balance,
  // and K/V of all heads fit L2 well enough for the forward
  const int bh = blockIdx.x, b = bh / H, h = bh - b * H;
  const int q0 = (gridDim.y - 1 - blockIdx.y) * BR;
  const int C = H * D, stride = 3 * C;
  const bf16* qg = qkv + (size_t)b * T * stride + h * D;
  const bf16* kg = qg + C;
  const bf16* vg = qg + 2 * C;
  const float sl2 = scale * kLog2e;

  const int kend = min(T, q0 + BR), nkt = (kend + BC - 1) / BC;
  load_tile<BR, D, NT>(Qs, qg, q0, T, stride, tid);
  load_tile<BC, D, NT>(Ks, kg, 0, T, stride, tid);
  load_tile<BC, D, NT>(Vs, vg, 0, T, stride, tid);
  cp_async_commit();
#pragma unroll
  for (int st = 1; st < ST - 1; ++st) {
    if (st < nkt) {
      load_tile<BC, D, NT>(Ks + st * BC * LD, kg, st * BC, T, stride, tid);
      load_tile<BC, D, NT>(Vs + st * BC * LD, vg, st * BC, T, stride, tid);
    }
    cp_async_commit();
  }
  cp_async_wait<ST - 2>();
  __syncthreads();

  uint32_t qf[WM][D / 16][4];
#pragma unroll
  for (int w = 0; w < WM; ++w)
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
      ldsm_x4(qf[w][kk], Qs + (warp * RW + w * 16) * LD + a_off(lane, LD) + kk * 16);

  float o[WM][D / 8][4];
#pragma unroll
  for (int w = 0; w < WM; ++w)
#pragma unroll
    for (int i = 0; i < D / 8; ++i) o[w][i][0] = o[w][i][1] = o[w][i][2] = o[w][i][3] = 0.f;
  float m[WM][2], l[WM][2];
#pragma unroll
  for (int w = 0; w < WM; ++w) m[w][0] = m[w][1] = -INFINITY, l[w][0] = l[w][1] = 0.f;
  const int wrow = q0 + warp * RW;  // this warp's first row; thread rows: wrow + w*16 + g (+8)
  const float inv_keep = p > 0.f ? 1.f / (1.f - p) : 1.f;

  for (int j = 0; j < nkt; ++j) {
    const int buf = j % ST;
    if (j > 0) {  // tile j has landed (at most ST-2 later groups pending); every warp is done with tile j-1
      cp_async_wait<ST - 2>();
      __syncthreads();
    }
    {  // refill the stage that tile j-1 used with tile j + ST - 1
      const int jn = j + ST - 1;
      if (jn < nkt) {
        load_tile<BC, D, NT>(Ks + (jn % ST) * BC * LD, kg, jn * BC, T, stride, tid);
        load_tile<BC, D, NT>(Vs + (jn % ST) * BC * LD, vg, jn * BC, T, stride, tid);
      }
      cp_async_commit();
    }
    const bf16* Kb = Ks + buf * BC * LD;
    const bf16* Vb = Vs + buf * BC * LD;
    const int k0 = j * BC;
    if (k0 <= wrow + RW - 1) {  // else every key of the tile is after every row of this warp
      float s[WM][BC / 8][4];
#pragma unroll
      for (int w = 0; w < WM; ++w)
#pragma unroll
        for (int i = 0; i < BC / 8; ++i) s[w][i][0] = s[w][i][1] = s[w][i][2] = s[w][i][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
        for (int np = 0; np < BC / 16; ++np) {
          uint32_t bf[4];
          ldsm_x4(bf, Kb + np * 16 * LD + bnk_off(lane, LD) + kk * 16);
#pragma unroll
          for (int w = 0; w < WM; ++w) {
            mma_x2(s[w][2 * np], s[w][2 * np + 1], qf[w][kk], bf);
          }
        }
      }
      if (k0 + BC > wrow || k0 + BC > T) {  // tile crosses the diagonal or the end
#pragma unroll
        for (int w = 0; w < WM; ++w)
#pragma unroll
          for (int nt = 0; nt < BC / 8; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int col = k0 + nt * 8 + 2 * t4 + (e & 1), row = wrow + w * 16 + g + (e >> 1) * 8;
              if (col > row || col >= T) s[w][nt][e] = -INFINITY;
            }
      }
      // online softmax (each row's 4 owners are the lanes of one quad)
#pragma unroll
      for (int w = 0; w < WM; ++w) {
        float mx[2] = {m[w][0], m[w][1]};
#pragma unroll
        for (int nt = 0; nt < BC / 8; ++nt) {
          mx[0] = fmaxf(mx[0], fmaxf(s[w][nt][0], s[w][nt][1]));
          mx[1] = fmaxf(mx[1], fmaxf(s[w][nt][2], s[w][nt][3]));
        }
        float corr[2], ms[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
          mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
          corr[r] = exp2f((m[w][r] - mx[r]) * sl2);  // first tile: exp2(-inf) = 0
          m[w][r] = mx[r];
          ms[r] = mx[r] * sl2;
          l[w][r] *= corr[r];
        }
#pragma unroll
        for (int i = 0; i < D / 8; ++i) {
          o[w][i][0] *= corr[0];
          o[w][i][1] *= corr[0];
          o[w][i][2] *= corr[1];
          o[w][i][3] *= corr[1];
        }
#pragma unroll
        for (int nt = 0; nt < BC / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float pv = exp2f(fmaf(s[w][nt][e], sl2, -ms[e >> 1]));
            l[w][e >> 1] += pv;
            s[w][nt][e] = pv;
          }
        if (p > 0.f) {
          const uint64_t keep = keep_rows<BC / 8>(seed, offset + ((uint64_t)bh * T + wrow + w * 16 + g) * T, T, k0 + 2 * t4, p);
#pragma unroll
          for (int nt = 0; nt < BC / 8; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) s[w][nt][e] = (keep >> (nt * 4 + e)) & 1 ? s[w][nt][e] * inv_keep : 0.f;
        }
      }
      // O += P V
#pragma unroll
      for (int kk = 0; kk < BC / 16; ++kk) {
        uint32_t a[WM][4];
#pragma unroll
        for (int w = 0; w < WM; ++w) acc_to_a(a[w], s[w][2 * kk], s[w][2 * kk + 1]);
#pragma unroll
        for (int dp = 0; dp < D / 16; ++dp) {
          uint32_t bf[4];
          ldsm_x4_t(bf, Vb + kk * 16 * LD + bkn_off(lane, LD) + dp * 16);
#pragma unroll
          for (int w = 0; w < WM; ++w) {
            mma_x2(o[w][2 * dp], o[w][2 * dp + 1], a[w], bf);
          }
        }
      }
    }
  }
  cp_async_wait<0>();  // (only empty groups can be pending here)

#pragma unroll
  for (int w = 0; w < WM; ++w) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[w][r] += __shfl_xor_sync(0xffffffffu, l[w][r], 1);
      l[w][r] += __shfl_xor_sync(0xffffffffu, l[w][r], 2);
      const int row = wrow + w * 16 + g + 8 * r;
      if (t4 == 0 && row < T) lse[(size_t)bh * T + row] = m[w][r] * scale + logf(l[w][r]);
    }
    const float il0 = 1.f / l[w][0], il1 = 1.f / l[w][1];
    bf16* Os = Qs + (warp * RW + w * 16) * LD;  // this warp's own Q rows, no longer read
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt) {
      *reinterpret_cast<uint32_t*>(Os + g * LD + dt * 8 + 2 * t4) = pack_bf16(o[w][dt][0] * il0, o[w][dt][1] * il0);
      *reinterpret_cast<uint32_t*>(Os + (g + 8) * LD + dt * 8 + 2 * t4) =
          pack_bf16(o[w][dt][2] * il1, o[w][dt][3] * il1);
    }
  }
  __syncwarp();
#pragma unroll
  for (int c = lane; c < RW * (D / 8); c += 32) {
    const int r = c / (D / 8), k = (c % (D / 8)) * 8, row = wrow + r;
    if (row < T)
      *reinterpret_cast<uint4*>(out + ((size_t)b * T + row) * C + h * D + k) =
          *reinterpret_cast<const uint4*>(Qs + (warp * RW + r) * LD + k);
  }
}

// ---------------------------------------------------------------------------------------------------
// backward pre-pass: dvec[b,h,i] = sum_d dout[b,i,h*D+d] * out[b,i,h*D+d]; zeroes dq_acc[b,h,i,:] when
// given. 16-byte loads: D/VEC threads per (b, i, h) row, rows in memory order.
__device__ __forceinline__ void load_vec(float (&v)[8], const bf16* p) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h2 = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(h2[i]);
    v[2 * i] = f.x;
    v[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void load_vec(float (&v)[4], const float* p) {
  const float4 f = *reinterpret_cast<const float4*>(p);
  v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
}

template <typename Tt, int D>
__global__ void attn_bwd_pre_kernel(float* __restrict__ dvec, float* __restrict__ dq_acc,
                                    const Tt* __restrict__ dout, const Tt* __restrict__ out, int B, int T, int H) {
  constexpr int VEC = 16 / sizeof(Tt), TPR = D / VEC;
  const int64_t gt = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t r = gt / TPR;  // row (b, i, h)
  const int part = (int)(gt % TPR);
  const bool live = r < (int64_t)B * T * H;
  float acc = 0.f;
  int64_t w = 0;
  if (live) {
    const int h = (int)(r % H);
    const int64_t bt = r / H;
    const int i = (int)(bt % T), b = (int)(bt / T);
    w = ((int64_t)b * H + h) * T + i;
    float x[VEC], y[VEC];
    load_vec(x, dout + r * D + part * VEC);  // row r of [B*T*H, D] is (b, i, h*D..)
    load_vec(y, out + r * D + part * VEC);
#pragma unroll
    for (int k = 0; k < VEC; ++k) acc += x[k] * y[k];
    if (dq_acc) {
      float4* z = reinterpret_cast<float4*>(dq_acc + w * D + part * VEC);
#pragma unroll
      for (int k = 0; k < VEC / 4; ++k) z[k] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
  }
#pragma unroll
  for (int o = TPR / 2; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o, TPR);
  if (live && part == 0) dvec[w] = acc;
}

// dqkv q-block = dq_acc * scale (bf16): 8 columns a thread
template <int D>
__global__ void attn_dq_convert_kernel(bf16* __restrict__ dqkv, const float* __restrict__ dq_acc, int B, int T,
                                       int H, float scale) {
  const int C = H * D, C8 = C / 8;
  const int64_t n = (int64_t)B * T * C8;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    const int c8 = (int)(e % C8);
    const int64_t bt = e / C8;
    const int t = (int)(bt % T), b = (int)(bt / T), h = c8 / (D / 8), d0 = (c8 % (D / 8)) * 8;
    const float4* src = reinterpret_cast<const float4*>(dq_acc + (((int64_t)b * H + h) * T + t) * D + d0);
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
// bf16 backward main kernel: dK, dV for a key tile of 16*NW rows; dQ through fp32 atomics.
template <int D, int NW, int BR, int MINB>
__global__ void __launch_bounds__(NW * 32, MINB)
    attn_bwd_bf16_kernel(bf16* __restrict__ dqkv, float* __restrict__ dq_acc, const bf16* __restrict__ dout,
                         const bf16* __restrict__ qkv, const float* __restrict__ lse,
                         const float* __restrict__ dvec, int BH, int T, int H, float scale, float p, uint64_t seed,
                         uint64_t offset) {
  constexpr int BC = 16 * NW, LD = D + 8, LDS = BR + 8, NT = NW * 32;
  constexpr bool KV_REGS = D <= 64 && MINB < 3;  // K, V fragments kept in registers (else re-read)
  constexpr int MT = BR / 16, DSPLIT = NW / MT, DW = D / DSPLIT;
  static_assert(NW % MT == 0 && DW % 16 == 0, "dQ work split");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Ks = reinterpret_cast<bf16*>(smem_raw);
  bf16* Vs = Ks + BC * LD;
  bf16* Qs = Vs + BC * LD;     // [2][BR][LD]
  bf16* dOs = Qs + 2 * BR * LD;  // [2][BR][LD]
  bf16* dSs = dOs + 2 * BR * LD;  // [2][BC][LDS]   dS^T (keys x queries)
  float* lse_s = reinterpret_cast<float*>(dSs + 2 * BC * LDS);  // [2][BR], times log2(e)
  float* dv_s = lse_s + 2 * BR;                              // [2][BR]

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int bh = block_bh(), b = bh / H, h = bh - b * H;
  if (bh >= BH) return;
  const int k0 = blockIdx.x * BC;  // low key tiles see the most queries: they go first
  const int C = H * D, stride = 3 * C;
  const bf16* qg = qkv + (size_t)b * T * stride + h * D;
  const bf16* kg = qg + C;
  const bf16* vg = qg + 2 * C;
  const bf16* dog = dout + (size_t)b * T * C + h * D;
  const float sl2 = scale * kLog2e;
  const float inv_keep = p > 0.f ? 1.f / (1.f - p) : 1.f;

  auto load_q = [&](int qt, int buf) {
    load_tile<BR, D, NT>(Qs + buf * BR * LD, qg, qt * BR, T, stride, tid);
    load_tile<BR, D, NT>(dOs + buf * BR * LD, dog, qt * BR, T, C, tid);
    for (int i = tid; i < BR; i += NT) {
      const int q = qt * BR + i;
      lse_s[buf * BR + i] = q < T ? lse[(size_t)bh * T + q] * kLog2e : 0.f;
      dv_s[buf * BR + i] = q < T ? dvec[(size_t)bh * T + q] : 0.f;
    }
  };

  load_tile<BC, D, NT>(Ks, kg, k0, T, stride, tid);
  load_tile<BC, D, NT>(Vs, vg, k0, T, stride, tid);
  const int qt0 = k0 / BR, nqt = (T + BR - 1) / BR;
  load_q(qt0, 0);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  uint32_t kf[KV_REGS ? D / 16 : 1][4], vf[KV_REGS ? D / 16 : 1][4];
  if constexpr (KV_REGS) {
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      ldsm_x4(kf[kk], Ks + warp * 16 * LD + a_off(lane, LD) + kk * 16);
      ldsm_x4(vf[kk], Vs + warp * 16 * LD + a_off(lane, LD) + kk * 16);
    }
  }
  float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[i][e] = dv[i][e] = 0.f;
  const int key0 = k0 + warp * 16 + g;  // this thread's keys: key0, key0 + 8
  const int mq = warp % MT, dc = warp / MT;

  for (int qt = qt0; qt < nqt; ++qt) {
    const int buf = (qt - qt0) & 1;
    if (qt + 1 < nqt) {
      load_q(qt + 1, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* Qb = Qs + buf * BR * LD;
    const bf16* dOb = dOs + buf * BR * LD;
    const float* lse_b = lse_s + buf * BR;
    const float* dv_b = dv_s + buf * BR;
    bf16* dSb = dSs + buf * BC * LDS;
    const int q0 = qt * BR;

    // S^T = K_w Q^T and dP^T = V_w dO^T  [16 keys x BR queries]
    float st[BR / 8][4], dpt[BR / 8][4];
#pragma unroll
    for (int i = 0; i < BR / 8; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) st[i][e] = dpt[i][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t ak[4], av[4];
      if constexpr (KV_REGS) {
#pragma unroll
        for (int e = 0; e < 4; ++e) ak[e] = kf[kk][e], av[e] = vf[kk][e];
      } else {
        ldsm_x4(ak, Ks + warp * 16 * LD + a_off(lane, LD) + kk * 16);
        ldsm_x4(av, Vs + warp * 16 * LD + a_off(lane, LD) + kk * 16);
      }
#pragma unroll
      for (int np = 0; np < BR / 16; ++np) {
        uint32_t bq[4], bo[4];
        ldsm_x4(bq, Qb + np * 16 * LD + bnk_off(lane, LD) + kk * 16);
        ldsm_x4(bo, dOb + np * 16 * LD + bnk_off(lane, LD) + kk * 16);
        mma_x2(st[2 * np], st[2 * np + 1], ak, bq);
        mma_x2(dpt[2 * np], dpt[2 * np + 1], av, bo);
      }
    }
    // P^T, dS^T (st <- P∘Z, dpt <- dS)
    uint64_t keep = ~0ull;
    if (p > 0.f) keep = keep_cols<BR / 8>(seed, offset + (uint64_t)bh * T * T + key0, T, q0 + 2 * t4, p);
    const bool need_mask = q0 < k0 + warp * 16 + 16 || q0 + BR > T || k0 + warp * 16 + 16 > T;
#pragma unroll
    for (int nt = 0; nt < BR / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int ql = nt * 8 + 2 * t4 + (e & 1);
        float pv = exp2f(fmaf(st[nt][e], sl2, -lse_b[ql]));
        if (need_mask) {
          const int q = q0 + ql, key = key0 + (e >> 1) * 8;
          if (q < key || q >= T || key >= T) pv = 0.f;
        }
        float dpv = dpt[nt][e], pz = pv;
        if (p > 0.f) {
          const float z = (keep >> (nt * 4 + e)) & 1 ? inv_keep : 0.f;
          dpv *= z;
          pz = pv * z;
        }
        dpt[nt][e] = pv * (dpv - dv_b[ql]);
        st[nt][e] = pz;
      }
    // dV += (P∘Z)^T dO ; dK += dS^T Q   (k = queries)
#pragma unroll
    for (int kq = 0; kq < BR / 16; ++kq) {
      uint32_t ap[4], as[4];
      acc_to_a(ap, st[2 * kq], st[2 * kq + 1]);
      acc_to_a(as, dpt[2 * kq], dpt[2 * kq + 1]);
      // dS^T to shared memory for the dQ product (same bf16 values as used for dK)
      *reinterpret_cast<uint32_t*>(dSb + (warp * 16 + g) * LDS + kq * 16 + 2 * t4) = as[0];
      *reinterpret_cast<uint32_t*>(dSb + (warp * 16 + g + 8) * LDS + kq * 16 + 2 * t4) = as[1];
      *reinterpret_cast<uint32_t*>(dSb + (warp * 16 + g) * LDS + kq * 16 + 8 + 2 * t4) = as[2];
      *reinterpret_cast<uint32_t*>(dSb + (warp * 16 + g + 8) * LDS + kq * 16 + 8 + 2 * t4) = as[3];
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t bo[4], bq[4];
        ldsm_x4_t(bo, dOb + kq * 16 * LD + bkn_off(lane, LD) + dp * 16);
        ldsm_x4_t(bq, Qb + kq * 16 * LD + bkn_off(lane, LD) + dp * 16);
        mma_x2(dv[2 * dp], dv[2 * dp + 1], ap, bo);
        mma_x2(dk[2 * dp], dk[2 * dp + 1], as, bq);
      }
    }
    __syncthreads();
    // dQ[BR x D] += dS (BR x BC) K (BC x D): warp (mq, dc) does rows mq*16.., columns dc*DW..
    {
      float dq[DW / 8][4];
#pragma unroll
      for (int i = 0; i < DW / 8; ++i) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < BC / 16; ++kk) {
        uint32_t a[4];
        ldsm_x4_t(a, dSb + kk * 16 * LDS + bnk_off(lane, LDS) + mq * 16);
#pragma unroll
        for (int dp = 0; dp < DW / 16; ++dp) {
          uint32_t bk[4];
          ldsm_x4_t(bk, Ks + kk * 16 * LD + bkn_off(lane, LD) + dc * DW + dp * 16);
          mma_x2(dq[2 * dp], dq[2 * dp + 1], a, bk);
        }
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int q = q0 + mq * 16 + g + 8 * r;
        if (q < T) {
          float* dst = dq_acc + ((size_t)bh * T + q) * D + dc * DW + 2 * t4;
#pragma unroll
          for (int dt = 0; dt < DW / 8; ++dt) atomic_add2(dst + dt * 8, dq[dt][2 * r], dq[dt][2 * r + 1]);
        }
      }
    }
    // No barrier here: the next tile's dS^T goes to the other dSs buffer, and the Q/dO/lse buffer that
    // the next load overwrites was last read before this tile's barrier.
  }

  // dK (times scale) and dV into dqkv
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int key = key0 + 8 * r;
    if (key < T) {
      bf16* dkp = dqkv + ((size_t)b * T + key) * stride + C + h * D + 2 * t4;
      bf16* dvp = dkp + C;
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt) {
        *reinterpret_cast<__nv_bfloat162*>(dkp + dt * 8) =
            __floats2bfloat162_rn(dk[dt][2 * r] * scale, dk[dt][2 * r + 1] * scale);
        *reinterpret_cast<__nv_bfloat162*>(dvp + dt * 8) = __floats2bfloat162_rn(dv[dt][2 * r], dv[dt][2 * r + 1]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// fp32 kernels: ROWS warps per block, one query (or key) row per warp, the other side in tiles of 32
// rows through shared memory; lane j handles key (or query) j of a tile for the dot products, and
// lane d (+32r) handles output column d for the accumulations.
constexpr int F32_ROWS = 8;

template <int D>
__device__ __forceinline__ void load_rows_f32(float (*s)[D + 1], const float* g, int r0, int nrows, int T,
                                              int stride, int tid, int nt) {
  for (int idx = tid; idx < nrows * D; idx += nt) {
    const int r = idx / D, d = idx - r * D, gr = r0 + r;
    s[r][d] = gr < T ? g[(size_t)gr * stride + d] : 0.f;
  }
}

template <int D>
__global__ void __launch_bounds__(F32_ROWS * 32)
    attn_fwd_f32_kernel(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ qkv, int BH,
                        int T, int H, float scale, float p, uint64_t seed, uint64_t offset) {
  constexpr int R = D / 32;
  __shared__ float Qsh[F32_ROWS][D + 1], Ks[32][D + 1], Vs[32][D + 1];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int bh = block_bh(), b = bh / H, h = bh - b * H;
  if (bh >= BH) return;
  const int q0 = (gridDim.x - 1 - blockIdx.x) * F32_ROWS, row = q0 + warp;
  const int C = H * D, stride = 3 * C;
  const float* qg = qkv + (size_t)b * T * stride + h * D;
  load_rows_f32<D>(Qsh, qg, q0, F32_ROWS, T, stride, tid, blockDim.x);
  const float inv_keep = p > 0.f ? 1.f / (1.f - p) : 1.f;
  float o[R] = {};
  float m = -INFINITY, l = 0.f;
  const int kend = min(T, q0 + F32_ROWS);
  for (int k0 = 0; k0 < kend; k0 += 32) {
    __syncthreads();
    load_rows_f32<D>(Ks, qg + C, k0, 32, T, stride, tid, blockDim.x);
    load_rows_f32<D>(Vs, qg + 2 * C, k0, 32, T, stride, tid, blockDim.x);
    __syncthreads();
    const int j = k0 + lane;
    float s = 0.f;
#pragma unroll 8
    for (int d = 0; d < D; ++d) s += Qsh[warp][d] * Ks[lane][d];
    const bool valid = j <= row && j < T;
    s = valid ? s * scale : -INFINITY;
    const float mnew = fmaxf(m, warp_max(s));  // key 0 is valid for every row: finite from the first tile
    const float corr = expf(m - mnew);
    float pj = valid ? expf(s - mnew) : 0.f;
    l = l * corr + warp_sum(pj);
    if (p > 0.f && valid)
      pj = dropout_keep(seed, offset + ((uint64_t)bh * T + row) * T + j, p) ? pj * inv_keep : 0.f;
#pragma unroll
    for (int r = 0; r < R; ++r) o[r] *= corr;
    for (int jj = 0; jj < 32; ++jj) {
      const float pjj = __shfl_sync(0xffffffffu, pj, jj);
#pragma unroll
      for (int r = 0; r < R; ++r) o[r] += pjj * Vs[jj][lane + 32 * r];
    }
    m = mnew;
  }
  if (row < T) {
#pragma unroll
    for (int r = 0; r < R; ++r) out[((size_t)b * T + row) * C + h * D + lane + 32 * r] = o[r] / l;
    if (lane == 0) lse[(size_t)bh * T + row] = m + logf(l);
  }
}

// dQ for one query row per warp (keys 0..row)
template <int D>
__global__ void __launch_bounds__(F32_ROWS * 32)
    attn_bwd_dq_f32_kernel(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv,
                           const float* __restrict__ lse, const float* __restrict__ dvec, int BH, int T, int H,
                           float scale, float p, uint64_t seed, uint64_t offset) {
  constexpr int R = D / 32;
  __shared__ float Qsh[F32_ROWS][D + 1], dOsh[F32_ROWS][D + 1], Ks[32][D + 1], Vs[32][D + 1];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int bh = block_bh(), b = bh / H, h = bh - b * H;
  if (bh >= BH) return;
  const int q0 = (gridDim.x - 1 - blockIdx.x) * F32_ROWS, row = q0 + warp;
  const int C = H * D, stride = 3 * C;
  const float* qg = qkv + (size_t)b * T * stride + h * D;
  load_rows_f32<D>(Qsh, qg, q0, F32_ROWS, T, stride, tid, blockDim.x);
  load_rows_f32<D>(dOsh, dout + (size_t)b * T * C + h * D, q0, F32_ROWS, T, C, tid, blockDim.x);
  const float lse_r = row < T ? lse[(size_t)bh * T + row] : 0.f;
  const float dv_r = row < T ? dvec[(size_t)bh * T + row] : 0.f;
  const float inv_keep = p > 0.f ? 1.f / (1.f - p) : 1.f;
  float dq[R] = {};
  const int kend = min(T, q0 + F32_ROWS);
  for (int k0 = 0; k0 < kend; k0 += 32) {
    __syncthreads();
    load_rows_f32<D>(Ks, qg + C, k0, 32, T, stride, tid, blockDim.x);
    load_rows_f32<D>(Vs, qg + 2 * C, k0, 32, T, stride, tid, blockDim.x);
    __syncthreads();
    const int j = k0 + lane;
    float s = 0.f, dp = 0.f;
#pragma unroll 8
    for (int d = 0; d < D; ++d) {
      s += Qsh[warp][d] * Ks[lane][d];
      dp += dOsh[warp][d] * Vs[lane][d];
    }
    const bool valid = j <= row && j < T && row < T;
    const float pv = valid ? expf(s * scale - lse_r) : 0.f;
    if (p > 0.f && valid)
      dp *= dropout_keep(seed, offset + ((uint64_t)bh * T + row) * T + j, p) ? inv_keep : 0.f;
    const float ds = pv * (dp - dv_r);
    for (int jj = 0; jj < 32; ++jj) {
      const float dsj = __shfl_sync(0xffffffffu, ds, jj);
#pragma unroll
      for (int r = 0; r < R; ++r) dq[r] += dsj * Ks[jj][lane + 32 * r];
    }
  }
  if (row < T) {
#pragma unroll
    for (int r = 0; r < R; ++r) dqkv[((size_t)b * T + row) * stride + h * D + lane + 32 * r] = dq[r] * scale;
  }
}

// dK, dV for one key row per warp (queries key..T-1)
template <int D>
__global__ void __launch_bounds__(F32_ROWS * 32)
    attn_bwd_dkv_f32_kernel(float* __restrict__ dqkv, const float* __restrict__ dout,
                            const float* __restrict__ qkv, const float* __restrict__ lse,
                            const float* __restrict__ dvec, int BH, int T, int H, float scale, float p,
                            uint64_t seed, uint64_t offset) {
  constexpr int R = D / 32;
  __shared__ float Ksh[F32_ROWS][D + 1], Vsh[F32_ROWS][D + 1], Qs[32][D + 1], dOs[32][D + 1];
  __shared__ float lse_s[32], dv_s[32];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int bh = block_bh(), b = bh / H, h = bh - b * H;
  if (bh >= BH) return;
  const int k0 = blockIdx.x * F32_ROWS, key = k0 + warp;
  const int C = H * D, stride = 3 * C;
  const float* qg = qkv + (size_t)b * T * stride + h * D;
  const float* dog = dout + (size_t)b * T * C + h * D;
  load_rows_f32<D>(Ksh, qg + C, k0, F32_ROWS, T, stride, tid, blockDim.x);
  load_rows_f32<D>(Vsh, qg + 2 * C, k0, F32_ROWS, T, stride, tid, blockDim.x);
  const float inv_keep = p > 0.f ? 1.f / (1.f - p) : 1.f;
  float dk[R] = {}, dv[R] = {};
  for (int qs = k0; qs < T; qs += 32) {
    __syncthreads();
    load_rows_f32<D>(Qs, qg, qs, 32, T, stride, tid, blockDim.x);
    load_rows_f32<D>(dOs, dog, qs, 32, T, C, tid, blockDim.x);
    if (tid < 32) {
      const int q = qs + tid;
      lse_s[tid] = q < T ? lse[(size_t)bh * T + q] : 0.f;
      dv_s[tid] = q < T ? dvec[(size_t)bh * T + q] : 0.f;
    }
    __syncthreads();
    const int q = qs + lane;
    float s = 0.f, dp = 0.f;
#pragma unroll 8
    for (int d = 0; d < D; ++d) {
      s += Qs[lane][d] * Ksh[warp][d];
      dp += dOs[lane][d] * Vsh[warp][d];
    }
    const bool valid = q >= key && q < T && key < T;
    const float pv = valid ? expf(s * scale - lse_s[lane]) : 0.f;
    float z = 1.f;
    if (p > 0.f && valid) z = dropout_keep(seed, offset + ((uint64_t)bh * T + q) * T + key, p) ? inv_keep : 0.f;
    const float pz = pv * z, ds = pv * (dp * z - dv_s[lane]);
    for (int ii = 0; ii < 32; ++ii) {
      const float pzi = __shfl_sync(0xffffffffu, pz, ii), dsi = __shfl_sync(0xffffffffu, ds, ii);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        dv[r] += pzi * dOs[ii][lane + 32 * r];
        dk[r] += dsi * Qs[ii][lane + 32 * r];
      }
    }
  }
  if (key < T) {
    float* dkp = dqkv + ((size_t)b * T + key) * stride + C + h * D;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      dkp[lane + 32 * r] = dk[r] * scale;
      dkp[C + lane + 32 * r] = dv[r];
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// launch helpers
int head_dim(int C, int H) {
  if (H <= 0 || C % H != 0) throw std::runtime_error("attention: C must be a multiple of H");
  const int D = C / H;
  if (D != 32 && D != 64 && D != 128)
    throw std::runtime_error("attention: head size " + std::to_string(D) + " is not supported on the GPU (32, 64 or 128)");
  return D;
}

template <typename K>
void set_smem(K kernel, size_t bytes) {
  allow_dynamic_smem(kernel, bytes, "attention");
}

int g_fwd_variant = 0, g_bwd_variant = 0;  // tuning hook (detail::attention_tune), 0 = default

template <int D, int NW, int WM, int BC, int ST = (D <= 64 ? 3 : 2)>
void launch_fwd_bf16(bf16* out, float* lse, const bf16* qkv, int B, int T, int H, float scale, float p,
                     uint64_t seed, uint64_t offset, cudaStream_t st) {
  constexpr int BR = 16 * WM * NW, LD = D + 8;
  const size_t smem = (size_t)(BR + 2 * ST * BC) * LD * sizeof(bf16);
  auto kern = attn_fwd_bf16_kernel<D, NW, WM, BC, ST>;
  set_smem(kern, smem);
  kern<<<dim3(B * H, (T + BR - 1) / BR), NW * 32, smem, st>>>(out, lse, qkv, B * H, T, H, scale, p, seed, offset);
  CUDA_CHECK_LAUNCH("attention forward (bf16)");
}

template <int D, int NW, int BR, int MINB = 1>
void launch_bwd_bf16(bf16* dqkv, float* dq_acc, const bf16* dout, const bf16* qkv, const float* lse,
                     const float* dvec, int B, int T, int H, float scale, float p, uint64_t seed, uint64_t offset,
                     cudaStream_t st) {
  constexpr int BC = 16 * NW, LD = D + 8, LDS = BR + 8;
  const size_t smem = (size_t)(2 * BC + 4 * BR) * LD * sizeof(bf16) + (size_t)2 * BC * LDS * sizeof(bf16) +
                      4 * BR * sizeof(float);
  auto kern = attn_bwd_bf16_kernel<D, NW, BR, MINB>;
  set_smem(kern, smem);
  kern<<<tile_grid((T + BC - 1) / BC, B * H), NW * 32, smem, st>>>(dqkv, dq_acc, dout, qkv, lse, dvec, B * H, T, H,
                                                                  scale, p, seed, offset);
  CUDA_CHECK_LAUNCH("attention backward (bf16)");
}

template <int D>
void fwd_bf16_d(bf16* out, float* lse, const bf16* qkv, int B, int T, int H, float scale, float p,
                uint64_t seed, uint64_t offset, cudaStream_t st) {
  constexpr int WM2 = D <= 64 ? 2 : 1;  // two m16 tiles a warp only where the registers allow
  switch (g_fwd_variant) {  // 0: the default, measured fastest on an H100 at the ANCHORS.md shapes
    case 1: launch_fwd_bf16<D, 4, 1, 64>(out, lse, qkv, B, T, H, scale, p, seed, offset, st); break;
    case 2: launch_fwd_bf16<D, 8, WM2, 64>(out, lse, qkv, B, T, H, scale, p, seed, offset, st); break;
    default: launch_fwd_bf16<D, 4, WM2, 64>(out, lse, qkv, B, T, H, scale, p, seed, offset, st); break;
  }
}

template <int D>
void bwd_bf16_d(bf16* dqkv, float* dq_acc, const bf16* dout, const bf16* qkv, const float* lse, const float* dvec,
                int B, int T, int H, float scale, float p, uint64_t seed, uint64_t offset, cudaStream_t st) {
  constexpr int NWD = D <= 64 ? 4 : 8;  // 8 warps for D = 128, where 4 would spill registers
  switch (g_bwd_variant) {  // 0: the default, measured fastest on an H100 at the ANCHORS.md shapes
    case 1: launch_bwd_bf16<D, 12 - NWD, 64>(dqkv, dq_acc, dout, qkv, lse, dvec, B, T, H, scale, p, seed, offset, st); break;
    case 2: launch_bwd_bf16<D, 4, 32>(dqkv, dq_acc, dout, qkv, lse, dvec, B, T, H, scale, p, seed, offset, st); break;
    default: launch_bwd_bf16<D, NWD, 64>(dqkv, dq_acc, dout, qkv, lse, dvec, B, T, H, scale, p, seed, offset, st); break;
  }
}

// Calls f(std::integral_constant<int, D>) for the head sizes with kernels (32, 64, 128; head_dim()
// has already refused others), so each entry point names its kernel once.
template <class F>
void with_head_dim(int D, F&& f) {
  if (D == 32) f(std::integral_constant<int, 32>{});
  else if (D == 64) f(std::integral_constant<int, 64>{});
  else f(std::integral_constant<int, 128>{});
}

template <typename Tt>
void launch_pre(float* dvec, float* dq_acc, const Tt* dout, const Tt* out, int B, int T, int H, int D,
                cudaStream_t st) {
  const int64_t threads = (int64_t)B * T * H * D / (16 / sizeof(Tt));
  const unsigned blocks = (unsigned)((threads + 255) / 256);
  with_head_dim(D, [&](auto d) { attn_bwd_pre_kernel<Tt, d.value><<<blocks, 256, 0, st>>>(dvec, dq_acc, dout, out, B, T, H); });
  CUDA_CHECK_LAUNCH("attention backward pre-pass");
}

void check_p(float p) {
  if (!(p >= 0.f && p < 1.f)) throw std::runtime_error("attention: dropout probability must be in [0, 1)");
}

}  // namespace

namespace detail {
// Selects kernel tile variants (0 = default) for benchmarking; not part of the public contract.
void attention_tune(int fwd_variant, int bwd_variant) {
  g_fwd_variant = fwd_variant;
  g_bwd_variant = bwd_variant;
}
}  // namespace detail

// ---- Hopper dispatch (cuda/attention_sm90.cuh) ---------------------------------------------------------
// bf16 with D = 64 or 128 on compute capability 9.x runs the wgmma/TMA kernels of attention_sm90.cu when
// they were compiled in, unless the environment has MYPT_ATTN_SM90=0 (read at the first call) or
// detail::attention_sm90_mode(0) was called; everything else runs the kernels of this file.
namespace {
int g_sm90_mode = -1;  // -1: not read yet; 0: off; 1: on where usable
bool use_sm90(int D) {
  if (D != 64 && D != 128) return false;
  if (g_sm90_mode < 0) {
    g_sm90_mode = env_switch("MYPT_ATTN_SM90", true) ? 1 : 0;
  }
  return g_sm90_mode == 1 && sm90::attention_usable();
}
}  // namespace
namespace detail {
// 0: the mma.sync kernels everywhere; 1: the Hopper path where usable; -1: back to MYPT_ATTN_SM90.
void attention_sm90_mode(int mode) { g_sm90_mode = mode; }
// Whether a bf16 call with head size D would take the Hopper path now.
bool attention_sm90_active(int D) { return use_sm90(D); }
}  // namespace detail

void attention_forward_bf16_masked(bf16* out, float* lse, const bf16* qkv, int B, int T, int C, int H, float scale,
                                   float dropout_p, uint64_t seed, uint64_t offset, bool causal,
                                   cudaStream_t stream) {
  if (causal) return attention_forward_bf16(out, lse, qkv, B, T, C, H, scale, dropout_p, seed, offset, stream);
  if (!use_sm90(head_dim(C, H)))
    throw std::runtime_error("attention: the non-causal case needs the Hopper path (cc 9.x, head size 64 or 128)");
  sm90::attention_forward(out, lse, qkv, B, T, C, H, scale, dropout_p, seed, offset, false, stream);
}

void attention_backward_bf16_masked(bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out, const float* lse,
                                    int B, int T, int C, int H, float scale, float dropout_p, uint64_t seed,
                                    uint64_t offset, bool causal, float* scratch, cudaStream_t stream) {
  if (causal)
    return attention_backward_bf16(dqkv, dout, qkv, out, lse, B, T, C, H, scale, dropout_p, seed, offset, scratch,
                                   stream);
  if (!use_sm90(head_dim(C, H)))
    throw std::runtime_error("attention: the non-causal case needs the Hopper path (cc 9.x, head size 64 or 128)");
  sm90::attention_backward(dqkv, dout, qkv, out, lse, B, T, C, H, scale, dropout_p, seed, offset, false, scratch,
                           stream);
}
// ---- end of the Hopper dispatch -------------------------------------------------------------------------

void attention_forward_bf16(bf16* out, float* lse, const bf16* qkv, int B, int T, int C, int H, float scale,
                            float dropout_p, uint64_t seed, uint64_t offset, cudaStream_t stream) {
  const int D = head_dim(C, H);
  check_p(dropout_p);
  if (B <= 0 || T <= 0) return;
  if (use_sm90(D)) return sm90::attention_forward(out, lse, qkv, B, T, C, H, scale, dropout_p, seed, offset, true, stream);  // Hopper dispatch
  with_head_dim(D, [&](auto d) { fwd_bf16_d<d.value>(out, lse, qkv, B, T, H, scale, dropout_p, seed, offset, stream); });
}

size_t attention_backward_scratch_bytes(int B, int T, int C, int H) {
  const int D = head_dim(C, H);
  return (size_t)B * H * T * (D + 1) * sizeof(float);
}

void attention_backward_bf16(bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out, const float* lse,
                             int B, int T, int C, int H, float scale, float dropout_p, uint64_t seed,
                             uint64_t offset, float* scratch, cudaStream_t stream) {
  const int D = head_dim(C, H);
  check_p(dropout_p);
  if (B <= 0 || T <= 0) return;
  if (use_sm90(D))  // Hopper dispatch
    return sm90::attention_backward(dqkv, dout, qkv, out, lse, B, T, C, H, scale, dropout_p, seed, offset, true, scratch, stream);
  const int64_t rows = (int64_t)B * H * T;
  float* dq_acc = scratch;
  float* dvec = scratch + rows * D;
  launch_pre<bf16>(dvec, dq_acc, dout, out, B, T, H, D, stream);
  with_head_dim(D, [&](auto d) { bwd_bf16_d<d.value>(dqkv, dq_acc, dout, qkv, lse, dvec, B, T, H, scale, dropout_p, seed, offset, stream); });
  const int64_t n8 = (int64_t)B * T * C / 8;
  const unsigned blocks = (unsigned)std::min<int64_t>((n8 + 255) / 256, 1 << 20);
  with_head_dim(D, [&](auto d) { attn_dq_convert_kernel<d.value><<<blocks, 256, 0, stream>>>(dqkv, dq_acc, B, T, H, scale); });
  CUDA_CHECK_LAUNCH("attention backward dq (bf16)");
}

template <int D>
static void fwd_f32_d(float* out, float* lse, const float* qkv, int B, int T, int H, float scale, float p,
                      uint64_t seed, uint64_t offset, cudaStream_t st) {
  const dim3 grid = tile_grid((T + F32_ROWS - 1) / F32_ROWS, B * H);
  attn_fwd_f32_kernel<D><<<grid, F32_ROWS * 32, 0, st>>>(out, lse, qkv, B * H, T, H, scale, p, seed, offset);
  CUDA_CHECK_LAUNCH("attention forward (fp32)");
}

template <int D>
static void bwd_f32_d(float* dqkv, const float* dout, const float* qkv, const float* lse, const float* dvec, int B,
                      int T, int H, float scale, float p, uint64_t seed, uint64_t offset, cudaStream_t st) {
  const dim3 grid = tile_grid((T + F32_ROWS - 1) / F32_ROWS, B * H);
  attn_bwd_dq_f32_kernel<D><<<grid, F32_ROWS * 32, 0, st>>>(dqkv, dout, qkv, lse, dvec, B * H, T, H, scale, p, seed, offset);
  CUDA_CHECK_LAUNCH("attention backward dq (fp32)");
  attn_bwd_dkv_f32_kernel<D><<<grid, F32_ROWS * 32, 0, st>>>(dqkv, dout, qkv, lse, dvec, B * H, T, H, scale, p, seed, offset);
  CUDA_CHECK_LAUNCH("attention backward dk dv (fp32)");
}

void attention_forward_f32(float* out, float* lse, const float* qkv, int B, int T, int C, int H, float scale,
                           float dropout_p, uint64_t seed, uint64_t offset, cudaStream_t stream) {
  const int D = head_dim(C, H);
  check_p(dropout_p);
  if (B <= 0 || T <= 0) return;
  with_head_dim(D, [&](auto d) { fwd_f32_d<d.value>(out, lse, qkv, B, T, H, scale, dropout_p, seed, offset, stream); });
}

void attention_backward_f32(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                            int B, int T, int C, int H, float scale, float dropout_p, uint64_t seed,
                            uint64_t offset, float* scratch, cudaStream_t stream) {
  const int D = head_dim(C, H);
  check_p(dropout_p);
  if (B <= 0 || T <= 0) return;
  float* dvec = scratch;
  launch_pre<float>(dvec, nullptr, dout, out, B, T, H, D, stream);
  with_head_dim(D, [&](auto d) { bwd_f32_d<d.value>(dqkv, dout, qkv, lse, dvec, B, T, H, scale, dropout_p, seed, offset, stream); });
}

}  // namespace cuda
}  // namespace mypt
