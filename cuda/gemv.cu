// The few-row product of gemv.cuh (generation).
#include "gemv.cuh"

#include "activation.cuh"
#include "cp_async.cuh"
#include "sampling.cuh"
#include "pdl.cuh"

namespace mypt {
namespace cuda {

namespace {

constexpr int kWarps = 4;  // warps per block; warp m < M also finds row m's LayerNorm statistics
constexpr int kThreads = kWarps * 32;
constexpr size_t kGemvLnSmemBytes = 160 * 1024;  // rows + LayerNorm parameters in shared memory, at most

// xs[m, :] = LayerNorm(xs[m, :]) * ln_w + ln_b (the op's, or their copies in shared memory), rounded to T as
// layernorm.cu stores it, for every row m < M of
// the block's copy of the input: warp m finds row m's mean and 1/sqrt(var + eps) (two passes, as layernorm.cu's
// kernels take them), then every thread normalizes its 8-column pieces.
template <typename T>
__device__ void layernorm_rows(T* xs, const T* ln_w, const T* ln_b, const GemvOp<T>& p) {
  __shared__ float stats[kGemvMaxRows][2];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, K = p.K;
  if (warp < p.M) {
    const T* x = xs + warp * K;
    float sum = 0.0f;
    for (int k = lane * 8; k < K; k += 256) {
      float v[8];
      load8(v, x + k);
#pragma unroll
      for (int e = 0; e < 8; e++) sum += v[e];
    }
    const float mu = warp_sum(sum) / K;
    float var = 0.0f;
    for (int k = lane * 8; k < K; k += 256) {
      float v[8];
      load8(v, x + k);
#pragma unroll
      for (int e = 0; e < 8; e++) var += (v[e] - mu) * (v[e] - mu);
    }
    const float rs = rsqrtf(warp_sum(var) / K + p.eps);
    if (lane == 0) {
      stats[warp][0] = mu;
      stats[warp][1] = rs;
    }
  }
  __syncthreads();
  for (int j = threadIdx.x * 8; j < p.M * K; j += kThreads * 8) {
    const int m = j / K, k = j - m * K;
    float v[8], w[8], b[8] = {};
    load8(v, xs + j);
    load8(w, ln_w + k);
    if (ln_b) load8(b, ln_b + k);
#pragma unroll
    for (int e = 0; e < 8; e++) v[e] = (v[e] - stats[m][0]) * stats[m][1] * w[e] + b[e];
    store8(xs + j, v);
  }
  __syncthreads();
}

// The epilogue of output (m, n): v is the product's sum, bval its bias, rval its residual. Returns the output
// as stored (out_f's value).
template <typename T>
__device__ __forceinline__ float epilogue(const GemvOp<T>& p, int n, int m, float v, float bval, float rval) {
  const int N = p.N;
  if (p.bias) v += bval;
  if (p.act) {
    p.aux[(int64_t)m * N + n] = from_f<T>(v);
    v = activation_f(p.act - 1, to_f(from_f<T>(v)));  // of the stored pre-activation, as the unfused path
  }
  if (p.res) v = rval + to_f(from_f<T>(v));
  const T o = from_f<T>(v);
  if (p.out) p.out[(int64_t)m * N + n] = o;
  if (p.out_f) p.out_f[(int64_t)m * N + n] = to_f(o);
  const int Cm = N / 3;
  if (p.kc && n >= Cm) {
    const int pos = p.pos_dev ? *p.pos_dev : p.pos0;
    T* cache = n < 2 * Cm ? p.kc : p.vc;
    cache[(int64_t)(pos + m) * Cm + (n % Cm)] = o;
  }
  return to_f(o);
}

// Warp w of block b computes columns n0 = (b * kWarps + w) * C .. n0 + C - 1 for every row: lane l holds
// w[n, 8l + 256i .. +7] for i < V (all of a row of K <= 256 V; the rest, if any, is streamed after). The
// block copies the M input rows to shared memory (LayerNormed there when LN), each lane multiplies its
// pieces, a butterfly sums the lanes, and lane c * kGemvMaxRows + m applies the epilogue to (m, n0 + c).
template <typename T, bool LN, int V, int C>
__global__ void __launch_bounds__(kThreads) gemv_kernel(const GemvOp<T> p) {
  extern __shared__ uint4 xs_mem[];
  T* xs = (T*)xs_mem;  // [M, K]: the input rows
  T* lns = xs + p.M * p.K;  // [2, K]: LN's weight and bias, copied before the wait (ln_smem)
  pdl_trigger();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int M = p.M, K = p.K, N = p.N;
  const int n0 = (blockIdx.x * kWarps + warp) * C;
  // weights first: no kernel before this one writes them (issued before the wait, Raw8::ld_early)
  Raw8<T> wv[C][V];
#pragma unroll
  for (int c = 0; c < C; c++) {
    const T* wr = p.w + (int64_t)min(n0 + c, N - 1) * K;
#pragma unroll
    for (int i = 0; i < V; i++)
      if ((lane + 32 * i) * 8 < K) wv[c][i].ld_early(wr + (lane + 32 * i) * 8);
  }
  // this lane's output in the epilogue, and its bias
  const int oc = lane / kGemvMaxRows, om = lane % kGemvMaxRows, on = n0 + oc;
  const bool writer = oc < C && om < M && on < N;
  const float bval = writer && p.bias ? to_f(p.bias[on]) : 0.0f;
  const bool ln_pre = LN && p.ln_smem;
  if (ln_pre) {  // the LayerNorm's parameters too (weights, and evicted from L2 by the rest of the model)
    const int bytes = K * (int)sizeof(T);
    for (int b = threadIdx.x * 16; b < bytes; b += kThreads * 16) {
      cp_async16((char*)lns + b, (const char*)p.ln_w + b);
      if (p.ln_b) cp_async16((char*)(lns + K) + b, (const char*)p.ln_b + b);
    }
    cp_async_commit();
  }
  pdl_wait();
  const float rval = writer && p.res ? to_f(p.res[(int64_t)om * N + on]) : 0.0f;
  // a piece of an input row formed here (parts): into the block's copy, and by block 0 to out2
  const auto keep = [&](int j, const float (&x)[8]) {
    store8(xs + j, x);
    if (blockIdx.x == 0) store8(p.out2 + j, x);
  };
  if (p.parts) {
    for (int j = threadIdx.x * 8; j < M * K; j += kThreads * 8) {
      const int m = j / K, k = j - m * K;
      float x[8], sum[8] = {}, pb[8] = {};
      load8(x, p.inp + j);
      if (p.pbias) load8(pb, p.pbias + k);
      for (int h = 0; h < p.nparts; h++) {
        const float4* q = (const float4*)(p.parts + ((int64_t)h * M + m) * K + k);
        const float4 a = q[0], b = q[1];
        sum[0] += a.x; sum[1] += a.y; sum[2] += a.z; sum[3] += a.w;
        sum[4] += b.x; sum[5] += b.y; sum[6] += b.z; sum[7] += b.w;
      }
#pragma unroll
      for (int e = 0; e < 8; e++) x[e] += to_f(from_f<T>(sum[e] + pb[e]));
      keep(j, x);
    }
  } else {
    for (int j = threadIdx.x * 8; j < M * K; j += kThreads * 8) {
      Raw8<T> r;
      r.ldg(p.inp + j);
      *(Raw8<T>*)(xs + j) = r;
    }
  }
  if (ln_pre) cp_async_wait<0>();
  __syncthreads();
  if (LN) layernorm_rows(xs, ln_pre ? lns : p.ln_w, ln_pre ? (p.ln_b ? lns + K : nullptr) : p.ln_b, p);
  float acc[C][kGemvMaxRows] = {};
  auto fma_piece = [&](const Raw8<T> (&w)[C], int k) {
    float xv[kGemvMaxRows][8];
#pragma unroll
    for (int m = 0; m < kGemvMaxRows; m++)
      if (m < M) load8(xv[m], xs + m * K + k);
#pragma unroll
    for (int c = 0; c < C; c++) {
      float w8[8];
      w[c].unpack(w8);
#pragma unroll
      for (int m = 0; m < kGemvMaxRows; m++)
        if (m < M)
#pragma unroll
          for (int e = 0; e < 8; e++) acc[c][m] = fmaf(w8[e], xv[m][e], acc[c][m]);
    }
  };
#pragma unroll
  for (int i = 0; i < V; i++) {
    const int k = (lane + 32 * i) * 8;
    if (k < K) {
      Raw8<T> w[C];
#pragma unroll
      for (int c = 0; c < C; c++) w[c] = wv[c][i];
      fma_piece(w, k);
    }
  }
  for (int k = (lane + 32 * V) * 8; k < K; k += 256) {  // K > 256 V: the rest, streamed
    Raw8<T> w[C];
#pragma unroll
    for (int c = 0; c < C; c++) w[c].ldg(p.w + (int64_t)min(n0 + c, N - 1) * K + k);
    fma_piece(w, k);
  }
  float v = 0.0f;
#pragma unroll
  for (int c = 0; c < C; c++)
#pragma unroll
    for (int m = 0; m < kGemvMaxRows; m++)
      if (m < M) {
        const float t = warp_sum(acc[c][m]);
        if (c == oc && m == om) v = t;
      }
  const float out = writer ? epilogue(p, on, om, v, bval, rval) : 0.0f;
  if (p.best) {  // M = 1: the row's largest logit and its first index, over the blocks (sampling.cuh)
    __shared__ unsigned long long wbest[kWarps];
    unsigned long long k = writer ? pack_max(out, on) : 0ull;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) k = max(k, __shfl_xor_sync(0xffffffffu, k, o));
    if (lane == 0) wbest[warp] = k;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < kWarps; w++) k = max(k, wbest[w]);
      atomicMax(p.best, k);
    }
  }
}

template <typename T, int V, int C>
void launch_gemv(const GemvOp<T>& op, cudaStream_t s) {
  const unsigned blocks = ceil_div(op.N, kWarps * C);
  GemvOp<T> o = op;
  size_t smem = (size_t)op.M * op.K * sizeof(T);
  // the LayerNorm's parameters beside the rows when they fit (gemv_fits bounds the rows alone)
  const size_t ln_bytes = 2 * (size_t)op.K * sizeof(T);
  o.ln_smem = op.ln_w && smem + ln_bytes <= kGemvLnSmemBytes;
  if (o.ln_smem) smem += ln_bytes;
  auto kernel = op.ln_w ? gemv_kernel<T, true, V, C> : gemv_kernel<T, false, V, C>;
  allow_dynamic_smem(kernel, smem, "gemv");
  launch_pdl(kernel, blocks, kThreads, smem, s, o);
}

}  // namespace

// V pieces of 8 columns a lane hold a row of K <= 256 V in registers (a few sizes of V; a lane skips its
// pieces past K, and rows longer than 256 V stream the rest); C columns a warp when there are enough columns
// that every SM still gets several blocks (two columns measured fastest for GPT-2's LayerNorm GEMVs on an
// H100: 2,383 tokens/s, against 2,211 with one and 2,054 with four): few, short-lived blocks a kernel, so that
// the next kernel's blocks fit beside them and load their weights while this one runs.
template <typename T>
void gemv_forward(const GemvOp<T>& op, cudaStream_t s) {
  const int pieces = (op.K + 255) / 256;
  const int64_t per_sm = (op.N + kWarps - 1) / kWarps / sm_count();  // blocks an SM at one column a warp
  if constexpr (sizeof(T) == 4) {  // fp32: twice the registers a piece; one column a warp, the rest streamed
    if (pieces <= 4) launch_gemv<T, 4, 1>(op, s);
    else launch_gemv<T, 8, 1>(op, s);
  } else if (pieces > 4) {  // wide rows (the MLP's down projection): one column a warp
    if (pieces <= 8) launch_gemv<T, 8, 1>(op, s);
    else if (pieces <= 12) launch_gemv<T, 12, 1>(op, s);
    else launch_gemv<T, 16, 1>(op, s);
  } else if (per_sm >= 16) {
    launch_gemv<T, 4, 4>(op, s);
  } else if (per_sm >= 4) {
    launch_gemv<T, 4, 2>(op, s);
  } else {
    launch_gemv<T, 4, 1>(op, s);
  }
}

template void gemv_forward<float>(const GemvOp<float>&, cudaStream_t);
template void gemv_forward<bf16>(const GemvOp<bf16>&, cudaStream_t);

}  // namespace cuda
}  // namespace mypt
