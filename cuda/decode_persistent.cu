// The persistent one-token decode pass of decode_persistent.cuh.
#include "decode_persistent.cuh"

#include <cstdlib>
#include <cstring>

#include "activation.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxLayers = 64;
constexpr int kKeys = 32;  // keys of one attention work item (a warp, a key a lane)

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
// xin[k .. k + 7] from shared memory (16-byte aligned)
__device__ __forceinline__ void in8(float (&r)[8], const float* p) {
  const float4 u = *(const float4*)p, v = *(const float4*)(p + 4);
  r[0] = u.x; r[1] = u.y; r[2] = u.z; r[3] = u.w; r[4] = v.x; r[5] = v.y; r[6] = v.z; r[7] = v.w;
}

__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)), "l"(src)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Grid-wide barrier: every block adds one arrival (release) and waits until `target` arrivals have been
// counted (acquire). The count only grows: launch e's barrier i waits for (e * barriers + i) * blocks.
__device__ __forceinline__ void grid_sync(unsigned* count, unsigned target) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(count) : "memory");
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
    for (int i = threadIdx.x * 16; i < bytes; i += kThreads * 16) cp_async16(dst + i, src + i);
  }
  cp_async_commit();
}

// xin[0, K) = LayerNorm(xin) * w + b rounded to T (gemv.cu's layernorm_rows: warp 0 takes the mean and
// 1/sqrt(var + eps) in two passes with the same lane sums, then every thread normalizes).
template <typename T>
__device__ void layernorm_in(float* xin, int K, const T* w, const T* b, float eps, float* stats) {
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
  for (int k = threadIdx.x; k < K; k += kThreads) {
    const float v = (xin[k] - mu) * rs * to_f(w[k]) + (b ? to_f(b[k]) : 0.0f);
    xin[k] = to_f(from_f<T>(v));
  }
  __syncthreads();
}

// out = xin . w_row for each of the block's rows (a warp a row: lane l multiplies elements 8l + 256i .. +7,
// a butterfly sums the lanes, as gemv.cu), then epi(row, sum) on lane 0.
template <typename T, typename Epi>
__device__ void gemv_rows(const T* ws, const Stage<T>& s, const float* xin, Epi epi) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int r = s.r0 + warp; r < s.r1; r += kWarps) {
    const T* wr = ws + (size_t)(r - s.r0) * s.K;
    float acc = 0.0f;
    for (int k = lane * 8; k < s.K; k += 256) {
      float w8[8], x8[8];
      load8(w8, wr + k);
      in8(x8, xin + k);
#pragma unroll
      for (int e = 0; e < 8; e++) acc = fmaf(w8[e], x8[e], acc);
    }
    acc = warp_sum(acc);
    if (lane == 0) epi(r, acc);
  }
}

// Attention work items (head h, keys 32c .. 32c + 31 of 0..pos), one a warp: lane j scores key 32c + j,
// s_j = scale q . k_j (q staged in the warp's qs), then the warp takes the chunk's max m, sum
// l = sum_j exp(s_j - m) and o[d] = sum_j exp(s_j - m) v_j[d] (lane d + 32e), written to part.
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
      for (int d = 0; d < hs; d += 8) {
        float k8[8];
        ldcg8(k8, kr + d);
#pragma unroll
        for (int e = 0; e < 8; e++) dot = fmaf(qs[d + e], k8[e], dot);
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
      float o = 0.0f;
      for (int j = 0; j < n; j++) o = fmaf(__shfl_sync(0xffffffffu, p, j), ldcg_f(vr + (int64_t)j * C), o);
      out[2 + d] = o;
    }
    if (lane == 0) {
      out[0] = m;
      out[1] = l;
    }
  }
}

// xin[i] (i = h hs + d < C) = the attention output of head h, dimension d, rounded to T: the chunks'
// partials merged, sum_c o_c[d] exp(m_c - M) / sum_c l_c exp(m_c - M), M = max_c m_c.
template <typename T>
__device__ void attention_merge(const Args<T>& a, int pos, float* xin) {
  const int nch = (pos + 1 + kKeys - 1) / kKeys, hs = a.hs;
  for (int i = threadIdx.x; i < a.C; i += kThreads) {
    const int h = i / hs, d = i - h * hs;
    const float* pc = a.part + (int64_t)h * a.chunks * (2 + hs);
    float M = -INFINITY;
    for (int c = 0; c < nch; c++) M = fmaxf(M, __ldcg(pc + c * (2 + hs)));
    float L = 0.0f, O = 0.0f;
    for (int c = 0; c < nch; c++) {
      const float f = __expf(__ldcg(pc + c * (2 + hs)) - M);
      L = fmaf(__ldcg(pc + c * (2 + hs) + 1), f, L);
      O = fmaf(__ldcg(pc + c * (2 + hs) + 2 + d), f, O);
    }
    xin[i] = to_f(from_f<T>(O / L));
  }
}

// logits[n] = xin . w_head[n] + b (rounded to T, as fp32) for the block's rows: a warp takes 4 rows at a
// time, their loads in flight together (the head is streamed from memory, not staged).
template <typename T>
__device__ void head_rows(const Args<T>& a, const float* xin) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, K = a.C, N = a.V;
  const int R = (N + gridDim.x - 1) / gridDim.x, r0 = min(N, (int)blockIdx.x * R), r1 = min(N, r0 + R);
  const T* w = wt(a, a.headw);
  const T* b = wt(a, a.headb);
  constexpr int U = 4;
  for (int r = r0 + warp * U; r < r1; r += kWarps * U) {
    float acc[U] = {};
    for (int k = lane * 8; k < K; k += 256) {
      float w8[U][8], x8[8];
#pragma unroll
      for (int u = 0; u < U; u++) load8(w8[u], w + (int64_t)min(r + u, r1 - 1) * K + k);
      in8(x8, xin + k);
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

// The token: S stage slots of weight rows in shared memory, then the input row, the head's q staging
// and the LayerNorm statistics.
template <typename T, int S>
__global__ void __launch_bounds__(kThreads, 1) decode_token_kernel(const __grid_constant__ Args<T> a) {
  extern __shared__ uint4 smem[];
  T* slots = (T*)smem;
  float* xin = (float*)(slots + (size_t)S * a.slot_elems);  // max(C, F)
  float* qs = xin + max(a.C, a.F);                          // kWarps x 128
  __shared__ float stats[2];
  const int C = a.C, L = a.n_layer;
  const unsigned blocks = gridDim.x;
  unsigned arrived = __ldcg(a.sync + 1) * (unsigned)(5 * L) * blocks;
  const auto barrier = [&] {
    arrived += blocks;
    grid_sync(a.sync, arrived);
  };
  const int pos = a.pos_dev ? __ldcg(a.pos_dev) : a.pos0;
  for (int g = 0; g < S - 1; g++) prefetch<T, S>(a, g, slots);
  // x = wte[tok] + wpe[pos] (block 0 stores it for the first residual add)
  {
    const int tok = __ldcg(a.tok);
    const T* wte = wt(a, a.wte) + (int64_t)tok * C;
    const T* wpe = wt(a, a.wpe) + (int64_t)pos * C;
    for (int i = threadIdx.x; i < C; i += kThreads) {
      const T v = from_f<T>(to_f(wte[i]) + to_f(wpe[i]));
      xin[i] = to_f(v);
      if (blockIdx.x == 0) a.x[i] = v;
    }
  }
  // the stage's weight rows: start the copy S - 1 stages ahead, wait for this one's
  const auto weights = [&](int g) {
    cp_async_wait<S - 1>();
    __syncthreads();
    return slots + (size_t)(g % S) * a.slot_elems;
  };
  const auto ahead = [&](int g) {
    __syncthreads();
    prefetch<T, S>(a, g + S - 1, slots);
  };
  for (int l = 0; l < L; l++) {
    const Off32& o = a.L[l];
    T* kc = a.kcache + (int64_t)l * a.block * C;
    T* vc = a.vcache + (int64_t)l * a.block * C;
    int g = 4 * l;
    // qkv = LN1(x) W^T + b; keys and values into the cache
    ahead(g);
    if (l > 0) {
      barrier();
      for (int i = threadIdx.x; i < C; i += kThreads) xin[i] = ldcg_f(a.x + i);
    }
    layernorm_in(xin, C, wt(a, o.ln1w), wt(a, o.ln1b), a.eps, stats);
    {
      const Stage<T> s = stage_of(a, g);
      const T* bias = wt(a, o.qkvb);
      gemv_rows(weights(g), s, xin, [&](int n, float v) {
        const T y = from_f<T>(v + (bias ? to_f(bias[n]) : 0.0f));
        a.qkv[n] = y;
        if (n >= C) (n < 2 * C ? kc : vc)[(int64_t)pos * C + n % C] = y;
      });
    }
    barrier();
    attention_items(a, kc, vc, pos, qs);
    // x2 = x + (att W_proj^T + b)
    g++;
    ahead(g);
    barrier();
    attention_merge(a, pos, xin);
    {
      const Stage<T> s = stage_of(a, g);
      const T* bias = wt(a, o.projb);
      gemv_rows(weights(g), s, xin, [&](int n, float v) {
        const float y = to_f(from_f<T>(v + (bias ? to_f(bias[n]) : 0.0f)));
        a.x2[n] = from_f<T>(ldcg_f(a.x + n) + y);
      });
    }
    // hid = activation(LN2(x2) W_fc^T + b)
    g++;
    ahead(g);
    barrier();
    for (int i = threadIdx.x; i < C; i += kThreads) xin[i] = ldcg_f(a.x2 + i);
    layernorm_in(xin, C, wt(a, o.ln2w), wt(a, o.ln2b), a.eps, stats);
    {
      const Stage<T> s = stage_of(a, g);
      const T* bias = wt(a, o.fcb);
      gemv_rows(weights(g), s, xin, [&](int n, float v) {
        const float pre = to_f(from_f<T>(v + (bias ? to_f(bias[n]) : 0.0f)));
        a.hid[n] = from_f<T>(activation_f(a.act, pre));
      });
    }
    // x = x2 + (hid W_mlp^T + b)
    g++;
    ahead(g);
    barrier();
    for (int i = threadIdx.x; i < a.F; i += kThreads) xin[i] = ldcg_f(a.hid + i);
    {
      const Stage<T> s = stage_of(a, g);
      const T* bias = wt(a, o.mlpb);
      gemv_rows(weights(g), s, xin, [&](int n, float v) {
        const float y = to_f(from_f<T>(v + (bias ? to_f(bias[n]) : 0.0f)));
        a.x[n] = from_f<T>(ldcg_f(a.x2 + n) + y);
      });
    }
  }
  barrier();
  // every block has read the position and the launch count: advance both for the next launch
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    if (a.pos_dev) *a.pos_dev = pos + 1;
    a.sync[1] = __ldcg(a.sync + 1) + 1;
  }
  for (int i = threadIdx.x; i < C; i += kThreads) xin[i] = ldcg_f(a.x + i);
  layernorm_in(xin, C, wt(a, a.lnfw), wt(a, a.lnfb), a.eps, stats);
  head_rows(a, xin);
}

bool persistent_off() {
  static const bool off = [] {
    const char* v = std::getenv("MYPT_DECODE_PERSISTENT");
    return v && std::strcmp(v, "0") == 0;
  }();
  return off;
}

// Shared memory of S slots for this model, or 0 when a slot's rows do not fit.
template <typename T>
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
  return (size_t)S * slot_elems<T>(c, blocks) * sizeof(T) + (size_t)(std::max(c.n_embd, c.hidden()) + kWarps * 128) * 4;
}

struct DeviceLimits {
  bool coop = false;
  int cc = 0;
  size_t smem = 0;  // opt-in shared memory a block
};
DeviceLimits device_limits() {
  static DeviceLimits lim[64];
  static bool known[64] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return {};
  if (!known[dev]) {
    int coop = 0, major = 0, minor = 0, smem = 0;
    cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    cudaGetLastError();
    lim[dev] = {coop != 0, major * 10 + minor, (size_t)smem};
    known[dev] = true;
  }
  return lim[dev];
}

// The most stage slots (2 to 4) that fit, or 0.
template <typename T>
int slots_for(const ModelConfig& c) {
  const DeviceLimits lim = device_limits();
  for (int S = 4; S >= 2; S--)
    if (smem_bytes<T>(c, sm_count(), S) + 1024 <= lim.smem) return S;
  return 0;
}

template <typename T, int S>
void launch(const Args<T>& a, size_t smem, cudaStream_t s) {
  auto kernel = decode_token_kernel<T, S>;
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
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

void PersistentScratch::ensure(const ModelConfig& c) {
  const size_t chunks = (c.block_size + kKeys - 1) / kKeys;
  part.ensure((size_t)c.n_head * chunks * (2 + c.head_size()));
  if (!sync.p) {
    sync.ensure(2);
    CUDA_CHECK(cudaMemset(sync.p, 0, 2 * sizeof(unsigned)));
  }
}

template <typename T>
bool persistent_fits(const GptModel<T>& gpt) {
  const ModelConfig& c = gpt.cfg;
  if (persistent_off()) return false;
  const DeviceLimits lim = device_limits();
  if (!lim.coop || lim.cc < 80) return false;
  const int hs = c.head_size();
  if (c.n_embd % 8 || c.hidden() % 8 || hs % 32 || hs > 128 || c.n_layer > kMaxLayers) return false;
  if (gpt.layout.total >= (int64_t)INT32_MAX) return false;
  const auto aligned = [](int64_t off) { return off < 0 || (off * (int64_t)sizeof(T)) % 16 == 0; };
  if (!aligned(gpt.headw) || !aligned(gpt.wte) || !aligned(gpt.wpe)) return false;
  for (const LayerOff& w : gpt.L)
    if (!(aligned(w.qkvw) && aligned(w.projw) && aligned(w.fcw) && aligned(w.mlpw))) return false;
  return slots_for<T>(c) > 0;
}

template <typename T>
void decode_persistent(GptModel<T>& gpt, PersistentScratch& ps, T* x, T* x2, T* qkv, T* act, float* logits, T* kcache,
                       T* vcache, const int32_t* tok, int pos0, int32_t* pos_dev) {
  const ModelConfig& c = gpt.cfg;
  ps.ensure(c);
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
  a.slot_elems = (int)slot_elems<T>(c, blocks);
  const int S = slots_for<T>(c);
  const size_t smem = smem_bytes<T>(c, blocks, S);
  if (S >= 4) launch<T, 4>(a, smem, gpt.s);
  else if (S == 3) launch<T, 3>(a, smem, gpt.s);
  else launch<T, 2>(a, smem, gpt.s);
}

template bool persistent_fits<float>(const GptModel<float>&);
template bool persistent_fits<bf16>(const GptModel<bf16>&);
template void decode_persistent<float>(GptModel<float>&, PersistentScratch&, float*, float*, float*, float*, float*,
                                       float*, float*, const int32_t*, int, int32_t*);
template void decode_persistent<bf16>(GptModel<bf16>&, PersistentScratch&, bf16*, bf16*, bf16*, bf16*, float*, bf16*,
                                      bf16*, const int32_t*, int, int32_t*);

}  // namespace cuda
}  // namespace mypt
