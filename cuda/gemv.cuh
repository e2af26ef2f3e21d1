// Few-row products (generation: M <= kGemvMaxRows rows), memory-bound on the weights:
//   out[M, N] = inp[M, K] @ w[N, K]^T (+ bias[N])                      (PyTorch F.linear, row-major)
// with what generation fuses around them (GemvOp), each computed as the separate kernel it replaces:
//   ln_w:  inp is the residual stream; each row is LayerNormed first (mean, 1/sqrt(var + eps), * ln_w
//          + ln_b, rounded to T as a stored LayerNorm output is); one warp per row of each block finds the
//          row's statistics with 16-byte loads (the sums in another order than layernorm.cu's, so the
//          last bits may differ from the unfused path)
//   act:   (= 1 + (int)Activation) aux[M, N] = the pre-activation as stored (rounded to T),
//          out = activation act - 1 of it (activation.cuh's activation_f)
//   res:   out = res + the product rounded to T (the residual add after attention's and the MLP's output)
//   kc/vc: the qkv projection (N = 3C): row m's columns [C, 2C) and [2C, 3C), its key and value, are also
//          written to kc / vc row (*pos_dev or pos0) + m, the KV cache (attention_rows' kv_append)
// Each warp computes C output columns for every row: its lanes load w[n, :] with 16-byte loads, all of a
// row of K <= 256 V held in registers, issued before the kernel waits for the one before it (pdl.cuh), as
// are the copies of the LayerNorm's parameters to shared memory; the
// block copies the M input rows to shared memory (LayerNormed there once), and a butterfly sums the lanes;
// fp32 accumulation. Blocks are few (C columns a warp when there are many columns) and small, so that the
// next kernel's blocks fit beside them on each SM and load their weights while this one runs. Needs
// 1 <= M <= kGemvMaxRows, K % 8 == 0, M K <= kGemvMaxInputs, 16-byte aligned inp and w (gemv_fits), and
// 16-byte aligned ln_w, ln_b with ln_w; linear_forward (linear.cuh) chooses it.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace mypt {
namespace cuda {

constexpr int kGemvMaxRows = 4;
constexpr int kGemvMaxInputs = 48 * 1024;  // M K elements: the input rows in shared memory (192 KB in fp32)

// Whether the GEMV takes this product.
inline bool gemv_fits(const void* inp, const void* w, int M, int K) {
  return M >= 1 && M <= kGemvMaxRows && K % 8 == 0 && M * K <= kGemvMaxInputs && ((uintptr_t)inp | (uintptr_t)w) % 16 == 0;
}

template <typename T>
struct GemvOp {
  T* out = nullptr;
  float* out_f = nullptr;  // the output (rounded to T) also, or instead, as fp32: the logits for sampling
  const T* inp = nullptr;
  const T* w = nullptr;
  const T* bias = nullptr;
  int M = 1, K = 0, N = 0;
  int act = 0;
  T* aux = nullptr;
  const T* ln_w = nullptr;
  const T* ln_b = nullptr;
  float eps = 0.0f;
  bool ln_smem = false;  // set by gemv_forward: ln_w, ln_b copied to shared memory before the wait
  const T* res = nullptr;
  T* kc = nullptr;
  T* vc = nullptr;
  const int32_t* pos_dev = nullptr;
  int pos0 = 0;
  // inp is the residual stream x and the rows' other term comes in nparts fp32 parts [nparts, M, K] (the
  // attention projection's heads, attention_rows.cuh attention_proj_decode): the input row is
  // x2 = x + (sum of the parts in order + pbias) rounded to T, rounded to T (the projection's GEMV with res),
  // which block 0 also writes to out2
  const float* parts = nullptr;
  int nparts = 0;
  const T* pbias = nullptr;
  T* out2 = nullptr;
  unsigned long long* best = nullptr;  // M = 1, no act, no res: the largest output and its first index,
                                       // atomicMax'ed there as sampling.cuh's pack_max (the decode head)
};

template <typename T>
void gemv_forward(const GemvOp<T>& op, cudaStream_t s);

// The plain product with an optional activation (act as above).
template <typename T>
void gemv_forward(T* out, T* aux, const T* inp, const T* w, const T* bias, int M, int K, int N, int act,
                  cudaStream_t s) {
  GemvOp<T> op;
  op.out = out; op.aux = aux; op.inp = inp; op.w = w; op.bias = bias; op.M = M; op.K = K; op.N = N; op.act = act;
  gemv_forward(op, s);
}

}  // namespace cuda
}  // namespace mypt
