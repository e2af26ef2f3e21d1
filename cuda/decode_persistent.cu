// The persistent one-token decode pass of decode_persistent.cuh.
#include "decode_persistent.cuh"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "activation.cuh"
#include "cp_async.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxLayers = 64;
constexpr int kKeys = 32;  // keys of one attention work item (a warp, a key a lane)
constexpr int kMaxRows = 256;  // rows of a GEMV stage a block (ceil(N / blocks))

// A layer's tensors as element offsets into the working weights (-1: absent); int32 keeps the kernel's
// arguments under 4 KB at 64 layers.
struct Off32 {
  int32_t ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fcw, fcb, mlpw, mlpb;
};

template <typename T>
struct Args {
  const T* w;
  Off32 L[kMaxLayers];
  int32_t wte, wpe, lnfw, lnfb, headw, headb;
  int n_layer, C, F, V, H, hs, act, block;
  float eps, scale;
  T *kcache, *vcache;  // layer l at l * block * C
  const int32_t* tok;
  int pos0;
  int32_t* pos_dev;
  T *x, *x2, *qkv, *hid;  // the residual stream, its mid-layer copy, q|k|v, the MLP's activation
  float* part;            // [H][chunks][2 + hs]: max, sum, weighted values of 32 keys
  int chunks;             // block_size / 32, rounded up
  float* logits;
  unsigned* sync;         // [0]: barrier arrivals, [1]: launches so far
  int slot_elems;         // T elements of one stage's weight rows a block
};

template <typename T>
__device__ __forceinline__ const T* wt(const Args<T>& a, int32_t off) {
  return off < 0 ? nullptr : a.w + off;
}
template <typename T>
__device__ __forceinline__ float ldcg_f(const T* p) {  // written by another block this launch: from L2
  return to_f(__ldcg(p));
}

// 8 consecutive values written by another block this launch (16-byte aligned), as fp32
__device__ __forceinline__ void ldcg8(float (&r)[8], const bf16* p) { unpack8(r, __ldcg((const uint4*)p)); }
__device__ __forceinline__ void ldcg8(float (&r)[8], const float* p) {
  const float4 u = __ldcg((const float4*)p), v = __ldcg((const float4*)p + 1);
  r[0] = u.x; r[1] = u.y; r[2] = u.z; r[3] = u.w; r[4] = v.x; r[5] = v.y; r[6] = v.z; r[7] = v.w;
}


// Grid-wide barrier in two halves, so that a block's loads of constants overlap the wait: grid_arrive adds
// this block's arrival (release: its writes before it are seen by whoever acquires after it), grid_wait
// waits until `target` arrivals have been counted (acquire). The count only grows: launch e's barrier i
// waits for (e * barriers + i) * blocks.
__device__ __forceinline__ void grid_arrive(unsigned* count) {
  __syncthreads();
  if (threadIdx.x == 0) asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(count) : "memory");
}
__device__ __forceinline__ void grid_wait(const unsigned* count, unsigned target) {
  if (threadIdx.x == 0) {
    unsigned v;
    do {
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(count) : "memory");
    } while ((int)(v - target) < 0);
  }
  __syncthreads();
}

// GEMV stage g (4 a layer: qkv, proj, fc, mlp-proj): its weight [N, K] and this block's rows [r0, r1),
// ceil(N / blocks) each.
template <typename T>
struct Stage {
  const T* w;
  int N, K, r0, r1;
};
template <typename T>
__device__ Stage<T> stage_of(const Args<T>& a, int g) {
  const Off32& o = a.L[g >> 2];
  Stage<T> s;
  switch (g & 3) {
    case 0: s = {wt(a, o.qkvw), 3 * a.C, a.C, 0, 0}; break;
    case 1: s = {wt(a, o.projw), a.C, a.C, 0, 0}; break;
    case 2: s = {wt(a, o.fcw), a.F, a.C, 0, 0}; break;
    default: s = {wt(a, o.mlpw), a.C, a.F, 0, 0}; break;
  }
  const int R = (s.N + gridDim.x - 1) / gridDim.x;
  s.r0 = min(s.N, (int)blockIdx.x * R);
  s.r1 = min(s.N, s.r0 + R);
  return s;
}

// Starts copying this block's rows of stage g's weight into slot g % S (one commit group per call, empty
// past the last stage, so that every thread counts the same groups).
template <typename T, int S>
__device__ void prefetch(const Args<T>& a, int g, T* slots) {
  if (g < 4 * a.n_layer) {
    const Stage<T> s = stage_of(a, g);
    const char* src = (const char*)(s.w + (int64_t)s.r0 * s.K);
    char* dst = (char*)(slots + (size_t)(g % S) * a.slot_elems);
    const int bytes = (s.r1 - s.r0) * s.K * (int)sizeof(T);
    // warps 1.. copy: thread 0 arrives at the barriers and is kept free of copies in flight
    if (threadIdx.x >= 32)
      for (int i = ((int)threadIdx.x - 32) * 16; i < bytes; i += (kThreads - 32) * 16) cp_async16(dst + i, src + i);
  }
  cp_async_commit();
}

// xin[0, K) = LayerNorm(xin) * w + b rounded to T (gemv.cu's layernorm_rows: warp 0 takes the mean and
// 1/sqrt(var + eps) in two passes with the same lane sums, then every thread normalizes); w, b as fp32 in
// shared memory (stage_consts).
template <typename T>
__device__ void layernorm_in(float* xin, int K, const float* w, const float* b, float eps, float* stats) {
  __syncthreads();
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x;
    float sum = 0.0f;
    for (int k = lane * 8; k < K; k += 256)
#pragma unroll
      for (int e = 0; e < 8; e++) sum += xin[k + e];
    const float mu = warp_sum(sum) / K;
    float var = 0.0f;
    for (int k = lane * 8; k < K; k += 256)
#pragma unroll
      for (int e = 0; e < 8; e++) var += (xin[k + e] - mu) * (xin[k + e] - mu);
    const float rs = rsqrtf(warp_sum(var) / K + eps);
    if (lane == 0) {
      stats[0] = mu;
      stats[1] = rs;
    }
  }
  __syncthreads();
  const float mu = stats[0], rs = stats[1];
  for (int k = threadIdx.x; k < K; k += kThreads) xin[k] = to_f(from_f<T>((xin[k] - mu) * rs * w[k] + b[k]));
  __syncthreads();
}

// xin[0, n) = src[0, n) (written by other blocks; n % 8 == 0, 16-byte aligned): a 16-byte load a thread
template <typename T>
__device__ void load_in(float* xin, const T* src, int n) {
  for (int i = threadIdx.x * 8; i < n; i += kThreads * 8) {
    float v[8];
    ldcg8(v, src + i);
    *(float4*)(xin + i) = make_float4(v[0], v[1], v[2], v[3]);
    *(float4*)(xin + i + 4) = make_float4(v[4], v[5], v[6], v[7]);
  }
}

// A stage's constants as fp32 in shared memory, loaded while the block waits at the barrier before it:
// bias_s[i] = bias[r0 + i] (0 without a bias), and with lw, the LayerNorm weight and bias.
template <typename T>
__device__ void stage_consts(const T* bias, int r0, int r1, const T* lw, const T* lb, int C, float* bias_s,
                             float* lnw_s, float* lnb_s) {
  for (int i = threadIdx.x; i < r1 - r0; i += kThreads) bias_s[i] = bias ? to_f(bias[r0 + i]) : 0.0f;
  if (lw)
    for (int i = threadIdx.x; i < C; i += kThreads) {
      lnw_s[i] = to_f(lw[i]);
      lnb_s[i] = lb ? to_f(lb[i]) : 0.0f;
    }
}

// out = xin . w_row for each of the block's rows (a warp a row: lane l multiplies elements 8l + 256i .. +7,
// a butterfly sums the lanes, as gemv.cu), then epi(row, sum, pre(row)) on lane 0; pre (the residual, say)
// is read before the sum.
template <typename T, typename Pre, typename Epi>
__device__ void gemv_rows(const T* ws, const Stage<T>& s, const float* xin, Pre pre, Epi epi) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int r = s.r0 + warp; r < s.r1; r += kWarps) {
    const float pv = lane == 0 ? pre(r) : 0.0f;
    const T* wr = ws + (size_t)(r - s.r0) * s.K;
    float acc = 0.0f;
    for (int k = lane * 8; k < s.K; k += 256) {
      float w8[8], x8[8];
      load8(w8, wr + k);
      load8(x8, xin + k);
#pragma unroll
      for (int e = 0; e < 8; e++) acc = fmaf(w8[e], x8[e], acc);
    }
    acc = warp_sum(acc);
    if (lane == 0) epi(r, acc, pv);
  }
}

// Attention work items (head h, keys 32c .. 32c + 31 of 0..pos), one a warp: lane j scores key 32c + j,
// s_j = scale q . k_j (q staged in the warp's qs), then the warp takes the chunk's max m, sum
// l = sum_j exp(s_j - m) and o[d] = sum_j exp(s_j - m) v_j[d] (lane d + 32e), written to part. The loads
// of a key row, and of a value column's 32 keys, are issued together.
template <typename T>
__device__ void attention_items(const Args<T>& a, const T* kc, const T* vc, int pos, float* qs_all) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, hs = a.hs, C = a.C;
  float* qs = qs_all + warp * 128;
  const int nk = pos + 1, nch = (nk + kKeys - 1) / kKeys, items = a.H * nch;
  for (int it = blockIdx.x * kWarps + warp; it < items; it += gridDim.x * kWarps) {
    const int h = it / nch, c = it - h * nch, t = c * kKeys + lane;
    __syncwarp();
    for (int d = lane; d < hs; d += 32) qs[d] = ldcg_f(a.qkv + h * hs + d);
    __syncwarp();
    float sc = -INFINITY;
    if (t < nk) {
      const T* kr = kc + (int64_t)t * C + h * hs;
      float dot = 0.0f;
      for (int d0 = 0; d0 < hs; d0 += 32) {  // hs % 32 == 0
        float k8[4][8];
#pragma unroll
        for (int u = 0; u < 4; u++) ldcg8(k8[u], kr + d0 + 8 * u);
#pragma unroll
        for (int u = 0; u < 4; u++)
#pragma unroll
          for (int e = 0; e < 8; e++) dot = fmaf(qs[d0 + 8 * u + e], k8[u][e], dot);
      }
      sc = dot * a.scale;
    }
    const float m = warp_max(sc);
    const float p = t < nk ? __expf(sc - m) : 0.0f;
    const float l = warp_sum(p);
    float* out = a.part + ((int64_t)h * a.chunks + c) * (2 + hs);
    const int n = min(kKeys, nk - c * kKeys);
    for (int d = lane; d < hs; d += 32) {
      const T* vr = vc + (int64_t)(c * kKeys) * C + h * hs + d;
      float vv[kKeys];
#pragma unroll
      for (int j = 0; j < kKeys; j++) vv[j] = j < n ? ldcg_f(vr + (int64_t)j * C) : 0.0f;
      float o = 0.0f;
#pragma unroll
      for (int j = 0; j < kKeys; j++) o = fmaf(__shfl_sync(0xffffffffu, p, j), vv[j], o);
      out[2 + d] = o;
    }
    if (lane == 0) {
      out[0] = m;
      out[1] = l;
    }
  }
}

// xin[i] (i = h hs + d < C) = the attention output of head h, dimension d, rounded to T: the chunks'
// partials merged, sum_c o_c[d] f_c with f_c = exp(m_c - M) / sum_c' l_c' exp(m_c' - M), M = max_c m_c
// (f in shared memory: fs, H x chunks).
template <typename T>
__device__ void attention_merge(const Args<T>& a, int pos, float* xin, float* fs) {
  const int nch = (pos + 1 + kKeys - 1) / kKeys, hs = a.hs, H = a.H;
  for (int i = threadIdx.x; i < H * nch; i += kThreads) {
    const int h = i / nch, c = i - h * nch;
    const float* pc = a.part + ((int64_t)h * a.chunks + c) * (2 + hs);
    fs[2 * i] = __ldcg(pc);
    fs[2 * i + 1] = __ldcg(pc + 1);
  }
  __syncthreads();
  for (int h = threadIdx.x; h < H; h += kThreads) {
    float* f = fs + 2 * h * nch;
    float M = -INFINITY, L = 0.0f;
    for (int c = 0; c < nch; c++) M = fmaxf(M, f[2 * c]);
    for (int c = 0; c < nch; c++) L = fmaf(f[2 * c + 1], __expf(f[2 * c] - M), L);
    for (int c = 0; c < nch; c++) f[2 * c] = __expf(f[2 * c] - M) / L;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < a.C; i += kThreads) {
    const int h = i / hs, d = i - h * hs;
    const float* pc = a.part + (int64_t)h * a.chunks * (2 + hs) + 2 + d;
    const float* f = fs + 2 * h * nch;
    float O = 0.0f;
#pragma unroll 8
    for (int c = 0; c < nch; c++) O = fmaf(__ldcg(pc + c * (2 + hs)), f[2 * c], O);
    xin[i] = to_f(from_f<T>(O));
  }
}

// logits[n] = xin . w_head[n] + b (rounded to T, as fp32) for the block's rows: a warp takes 8 rows at a
// time, their loads in flight together (the head is streamed from memory, not staged).
template <typename T>
__device__ void head_rows(const Args<T>& a, const float* xin) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, K = a.C, N = a.V;
  const int R = (N + gridDim.x - 1) / gridDim.x, r0 = min(N, (int)blockIdx.x * R), r1 = min(N, r0 + R);
  const T* w = wt(a, a.headw);
  const T* b = wt(a, a.headb);
  constexpr int U = 8;
  for (int r = r0 + warp * U; r < r1; r += kWarps * U) {
    float acc[U] = {};
    for (int k = lane * 8; k < K; k += 256) {
      float w8[U][8], x8[8];
#pragma unroll
      for (int u = 0; u < U; u++) load8(w8[u], w + (int64_t)min(r + u, r1 - 1) * K + k);
      load8(x8, xin + k);
#pragma unroll
      for (int u = 0; u < U; u++)
#pragma unroll
        for (int e = 0; e < 8; e++) acc[u] = fmaf(w8[u][e], x8[e], acc[u]);
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      const float v = warp_sum(acc[u]);
      if (lane == 0 && r + u < r1) {
        const float o = v + (b ? to_f(b[r + u]) : 0.0f);
        a.logits[r + u] = to_f(from_f<T>(o));
      }
    }
  }
}

// The token. Shared memory: S stage slots of weight rows, then (fp32) the input row, the warps' q, the
// stage's bias rows, the LayerNorm weight and bias, the attention merge's factors.
template <typename T, int S>
__global__ void __launch_bounds__(kThreads, 1) decode_token_kernel(const __grid_constant__ Args<T> a) {
  extern __shared__ uint4 smem[];
  T* slots = (T*)smem;
  float* xin = (float*)(slots + (size_t)S * a.slot_elems);  // max(C, F)
  float* qs = xin + max(a.C, a.F);                          // kWarps x 128
  float* bias_s = qs + kWarps * 128;                        // kMaxRows
  float* lnw_s = bias_s + kMaxRows;                         // C
  float* lnb_s = lnw_s + a.C;                               // C
  float* fs = lnb_s + a.C;                                  // 2 H chunks
  __shared__ float stats[2];
  const int C = a.C, L = a.n_layer;
  const unsigned blocks = gridDim.x;
  unsigned arrived = __ldcg(a.sync + 1) * (unsigned)(5 * L) * blocks;
  const int pos = a.pos_dev ? __ldcg(a.pos_dev) : a.pos0;
  for (int g = 0; g < S - 1; g++) prefetch<T, S>(a, g, slots);
  // Before GEMV stage g: this block's outputs of the stage before are out (arrive), the copy of stage
  // g + S - 1's rows starts (into the slot stage g - 1 used), stage g's constants load, then the wait for
  // every block. Layer 0's first stage has nothing to wait for.
  const auto before = [&](int g, const T* bias, const T* lw, const T* lb, bool wait) {
    if (wait) grid_arrive(a.sync);
    else __syncthreads();
    prefetch<T, S>(a, g + S - 1, slots);
    const Stage<T> st = stage_of(a, g);
    stage_consts(bias, st.r0, st.r1, lw, lb, C, bias_s, lnw_s, lnb_s);
    if (wait) grid_wait(a.sync, arrived += blocks);
    else __syncthreads();
    return st;
  };
  // the stage's weight rows, once copied
  const auto weights = [&](int g) {
    cp_async_wait<S - 1>();
    __syncthreads();
    return slots + (size_t)(g % S) * a.slot_elems;
  };
  const auto zero = [](int) { return 0.0f; };
  // x = wte[tok] + wpe[pos] (block 0 stores it for the first residual add)
  {
    const int tok = __ldcg(a.tok);
    const T* wte = wt(a, a.wte) + (int64_t)tok * C;
    const T* wpe = wt(a, a.wpe) + (int64_t)pos * C;
    for (int i = threadIdx.x * 8; i < C; i += kThreads * 8) {
      float e[8], p[8];
      load8(e, wte + i);
      load8(p, wpe + i);
#pragma unroll
      for (int k = 0; k < 8; k++) e[k] = to_f(from_f<T>(e[k] + p[k]));
      if (blockIdx.x == 0) store8(a.x + i, e);
#pragma unroll
      for (int k = 0; k < 8; k++) xin[i + k] = e[k];
    }
  }
  for (int l = 0; l < L; l++) {
    const Off32& o = a.L[l];
    T* kc = a.kcache + (int64_t)l * a.block * C;
    T* vc = a.vcache + (int64_t)l * a.block * C;
    int g = 4 * l;
    // qkv = LN1(x) W^T + b; keys and values into the cache
    {
      const Stage<T> st = before(g, wt(a, o.qkvb), wt(a, o.ln1w), wt(a, o.ln1b), l > 0);
      if (l > 0) load_in(xin, a.x, C);
      layernorm_in<T>(xin, C, lnw_s, lnb_s, a.eps, stats);
      gemv_rows(weights(g), st, xin, zero, [&](int n, float v, float) {
        const T y = from_f<T>(v + bias_s[n - st.r0]);
        a.qkv[n] = y;
        if (n >= C) (n < 2 * C ? kc : vc)[(int64_t)pos * C + n % C] = y;
      });
    }
    grid_arrive(a.sync);
    grid_wait(a.sync, arrived += blocks);
    attention_items(a, kc, vc, pos, qs);
    // x2 = x + (att W_proj^T + b)
    {
      const Stage<T> st = before(++g, wt(a, o.projb), nullptr, nullptr, true);
      attention_merge(a, pos, xin, fs);
      gemv_rows(weights(g), st, xin, [&](int n) { return ldcg_f(a.x + n); }, [&](int n, float v, float res) {
        a.x2[n] = from_f<T>(res + to_f(from_f<T>(v + bias_s[n - st.r0])));
      });
    }
    // hid = activation(LN2(x2) W_fc^T + b)
    {
      const Stage<T> st = before(++g, wt(a, o.fcb), wt(a, o.ln2w), wt(a, o.ln2b), true);
      load_in(xin, a.x2, C);
      layernorm_in<T>(xin, C, lnw_s, lnb_s, a.eps, stats);
      gemv_rows(weights(g), st, xin, zero, [&](int n, float v, float) {
        const float pre = to_f(from_f<T>(v + bias_s[n - st.r0]));
        a.hid[n] = from_f<T>(activation_f(a.act, pre));
      });
    }
    // x = x2 + (hid W_mlp^T + b)
    {
      const Stage<T> st = before(++g, wt(a, o.mlpb), nullptr, nullptr, true);
      load_in(xin, a.hid, a.F);  // weights() syncs before the rows are read
      gemv_rows(weights(g), st, xin, [&](int n) { return ldcg_f(a.x2 + n); }, [&](int n, float v, float res) {
        a.x[n] = from_f<T>(res + to_f(from_f<T>(v + bias_s[n - st.r0])));
      });
    }
  }
  grid_arrive(a.sync);
  stage_consts<T>(nullptr, 0, 0, wt(a, a.lnfw), wt(a, a.lnfb), C, bias_s, lnw_s, lnb_s);
  grid_wait(a.sync, arrived += blocks);
  // every block has read the position and the launch count: advance both for the next launch
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    if (a.pos_dev) *a.pos_dev = pos + 1;
    a.sync[1] = __ldcg(a.sync + 1) + 1;
  }
  load_in(xin, a.x, C);
  layernorm_in<T>(xin, C, lnw_s, lnb_s, a.eps, stats);
  head_rows(a, xin);
}

bool persistent_off() {
  static const bool off = !env_switch("MYPT_DECODE_PERSISTENT", true);
  return off;
}

// T elements of one stage's weight rows a block (the widest of the four stages).
size_t slot_elems(const ModelConfig& c, int blocks) {
  const int64_t C = c.n_embd, F = c.hidden();
  const auto rows = [&](int64_t N) { return (N + blocks - 1) / blocks; };
  int64_t e = rows(3 * C) * C;
  e = std::max(e, rows(C) * C);
  e = std::max(e, rows(F) * C);
  e = std::max(e, rows(C) * F);
  return (size_t)e;
}
template <typename T>
size_t smem_bytes(const ModelConfig& c, int blocks, int S) {
  const size_t chunks = (c.block_size + kKeys - 1) / kKeys;
  const size_t floats = std::max(c.n_embd, c.hidden()) + kWarps * 128 + kMaxRows + 2 * c.n_embd + 2 * c.n_head * chunks;
  return (size_t)S * slot_elems(c, blocks) * sizeof(T) + floats * 4;
}

// The kernel's dynamic shared memory limit: always the device's opt-in maximum less a margin for its static
// shared memory, so that models of different sizes never lower it under each other.
template <typename T, int S>
bool allow_smem() {
  return cudaFuncSetAttribute(decode_token_kernel<T, S>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              (int)device_props().smem_optin - 1024) == cudaSuccess;
}
// Whether one block of S slots is resident on every SM (an MPS share, say, may allow less).
template <typename T, int S>
bool resident(size_t smem) {
  int n = 0;
  const bool ok = allow_smem<T, S>() &&
                  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, decode_token_kernel<T, S>, kThreads, smem) ==
                      cudaSuccess &&
                  n >= 1;
  cudaGetLastError();
  return ok;
}

// The most stage slots (2 to 4) the model and the current device allow, or 0 where the pass cannot take
// the model (decode_persistent.cuh's list).
template <typename T>
int slots_for(const GptModel<T>& gpt) {
  const ModelConfig& c = gpt.cfg;
  const DeviceProps& dp = device_props();
  if (persistent_off() || !dp.cooperative || dp.cc < 80) return 0;
  const int hs = c.head_size();
  if (c.n_embd % 8 || c.hidden() % 8 || hs % 32 || hs > 128 || c.n_layer > kMaxLayers) return 0;
  const int64_t most = std::max<int64_t>(3 * c.n_embd, c.hidden());  // a stage's widest N
  if ((most + dp.sms - 1) / dp.sms > kMaxRows) return 0;
  if (gpt.layout.total >= (int64_t)INT32_MAX) return 0;
  const auto aligned = [](int64_t off) { return off < 0 || (off * (int64_t)sizeof(T)) % 16 == 0; };
  if (!aligned(gpt.headw) || !aligned(gpt.wte) || !aligned(gpt.wpe)) return 0;
  for (const LayerOff& w : gpt.L)
    if (!(aligned(w.qkvw) && aligned(w.projw) && aligned(w.fcw) && aligned(w.mlpw))) return 0;
  for (int S = 4; S >= 2; S--) {
    const size_t smem = smem_bytes<T>(c, dp.sms, S);
    if (smem + 1024 > dp.smem_optin) continue;
    if (S == 4 ? resident<T, 4>(smem) : S == 3 ? resident<T, 3>(smem) : resident<T, 2>(smem)) return S;
  }
  return 0;
}

template <typename T, int S>
void launch(const Args<T>& a, size_t smem, cudaStream_t s) {
  auto kernel = decode_token_kernel<T, S>;
  if (!allow_smem<T, S>()) CUDA_CHECK(cudaGetLastError());
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3((unsigned)sm_count());
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, a));
}

}  // namespace

template <typename T>
bool PersistentScratch::fits(const GptModel<T>& gpt) {
  if (slots < 0) slots = slots_for(gpt);
  return slots > 0;
}

void PersistentScratch::ensure(const ModelConfig& c, cudaStream_t s) {
  const size_t chunks = (c.block_size + kKeys - 1) / kKeys;
  part.ensure((size_t)c.n_head * chunks * (2 + c.head_size()));
  if (!sync.p) {
    sync.ensure(2);
    // on the kernel's stream, so that it lands first (inside a capture it joins the graph and zeroes the
    // counters before each replay, which the kernel's arithmetic allows as well)
    CUDA_CHECK(cudaMemsetAsync(sync.p, 0, 2 * sizeof(unsigned), s));
  }
}

template <typename T>
void decode_persistent(GptModel<T>& gpt, PersistentScratch& ps, T* x, T* x2, T* qkv, T* act, float* logits, T* kcache,
                       T* vcache, const int32_t* tok, int pos0, int32_t* pos_dev) {
  if (!ps.fits(gpt)) throw std::invalid_argument("decode_persistent: the model does not fit the persistent pass here");
  const ModelConfig& c = gpt.cfg;
  ps.ensure(c, gpt.s);
  Args<T> a = {};
  a.w = gpt.wp();
  const auto o32 = [](int64_t off) { return (int32_t)off; };
  for (int l = 0; l < c.n_layer; l++) {
    const LayerOff& w = gpt.L[l];
    a.L[l] = {o32(w.ln1w), o32(w.ln1b), o32(w.qkvw), o32(w.qkvb), o32(w.projw), o32(w.projb),
              o32(w.ln2w), o32(w.ln2b), o32(w.fcw),  o32(w.fcb),  o32(w.mlpw),  o32(w.mlpb)};
  }
  a.wte = o32(gpt.wte); a.wpe = o32(gpt.wpe); a.lnfw = o32(gpt.lnfw); a.lnfb = o32(gpt.lnfb);
  a.headw = o32(gpt.headw); a.headb = o32(gpt.headb);
  a.n_layer = c.n_layer; a.C = c.n_embd; a.F = c.hidden(); a.V = c.vocab_size; a.H = c.n_head;
  a.hs = c.head_size(); a.act = (int)c.activation; a.block = c.block_size; a.eps = c.ln_eps; a.scale = c.scale();
  a.kcache = kcache; a.vcache = vcache; a.tok = tok; a.pos0 = pos0; a.pos_dev = pos_dev;
  a.x = x; a.x2 = x2; a.qkv = qkv; a.hid = act; a.part = ps.part.p; a.chunks = (c.block_size + kKeys - 1) / kKeys;
  a.logits = logits; a.sync = ps.sync.p;
  const int blocks = sm_count();
  a.slot_elems = (int)slot_elems(c, blocks);
  const int S = ps.slots;
  const size_t smem = smem_bytes<T>(c, blocks, S);
  if (S >= 4) launch<T, 4>(a, smem, gpt.s);
  else if (S == 3) launch<T, 3>(a, smem, gpt.s);
  else launch<T, 2>(a, smem, gpt.s);
}

template bool PersistentScratch::fits<float>(const GptModel<float>&);
template bool PersistentScratch::fits<bf16>(const GptModel<bf16>&);
template void decode_persistent<float>(GptModel<float>&, PersistentScratch&, float*, float*, float*, float*, float*,
                                       float*, float*, const int32_t*, int, int32_t*);
template void decode_persistent<bf16>(GptModel<bf16>&, PersistentScratch&, bf16*, bf16*, bf16*, bf16*, float*, bf16*,
                                      bf16*, const int32_t*, int, int32_t*);

}  // namespace cuda
}  // namespace mypt
