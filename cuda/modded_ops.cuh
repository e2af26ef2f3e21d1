// Kernels of the modded-nanogpt forward pass (binding/engine/modded.h states the whole pass; each kernel
// here mirrors a CPU op of binding/cpu/modded_ops.h and is checked against it in
// test/native/check_modded_ops.cu). Rows of d values; the residual stream x, x0 and the skip copies are
// fp32, matrices and GEMM operands are T (fp32 or bf16); all arithmetic in fp32.
// norm(v) = v / sqrt(mean(v^2) + eps) over the row (F.rms_norm without a weight).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace mypt {
namespace cuda {

// x[t, :] = x0[t, :] = norm(embed[tokens[t], :])                       (x = x0 = norm(embed[idx]))
template <typename T>
void modded_embed_norm(float* x, float* x0, const int32_t* tokens, const T* embed, int n, int d, float eps,
                       cudaStream_t s);

// x = l0 * (x + w * skip) + l1 * x0   (skip null: no skip term);  h = norm_h ? norm(x) : x
// (the skip connection, the block lambdas, then the attention input of S2 / M1)
template <typename T>
void modded_mix(float* x, T* h, const float* x0, const float* skip, float w, float l0, float l1, bool norm_h, int n,
                int d, float eps, cudaStream_t s);

// x += delta (delta null: nothing);  save = x (save null: nothing);  h = norm(x) (h null: nothing)
// (a residual add, the copy a later skip connection reads, the next norm)
template <typename T>
void modded_residual(float* x, const T* delta, float* save, T* h, int n, int d, float eps, cudaStream_t s);

// For token t (position pos0 + t) and head h of qkv[n, 3, H, D] (T):
//   q[t, h]         = rotary(norm(q_th))
//   kc[pos0 + t, h] = rotary(norm(k_th))
//   vc[pos0 + t, h] = a0 * (v_norm ? norm(v_th) : v_th) + a1 * ve[tokens[t], h D : (h + 1) D]   (ve null: a0 * v)
// rotary (half-split): with f = freqs[j] (D/2 values), th = (float)pos * f:
//   y_j = x_j cos th + x_{j+D/2} sin th;   y_{j+D/2} = -x_j sin th + x_{j+D/2} cos th
// q is [n, H D]; kc and vc are caches [capacity, H D]. pos0 is read from pos_dev on the device when that
// is non-null (CUDA-graph replays of generation).
template <typename T>
void modded_qkv_prepare(T* q, T* kc, T* vc, const T* qkv, const int32_t* tokens, const T* ve, const float* freqs,
                        float a0, float a1, bool v_norm, int n, int H, int D, int pos0, const int32_t* pos_dev,
                        float eps, cudaStream_t s);

// out[t, h] = sum_j softmax_j(scale * q[t, h] . kc[j, h]) vc[j, h] over the visible keys of query t:
// j in [begin[r], end[r]) for r in [first[t], first[t + 1])  (modded_mask.h KeyRanges, as int32).
// D <= 256.
template <typename T>
void modded_attention(T* out, const T* q, const T* kc, const T* vc, const int32_t* first, const int32_t* begin,
                      const int32_t* end, int n, int H, int D, float scale, cudaStream_t s);

// x = relu(x)^2, elementwise                                          (F.relu(x).square())
template <typename T>
void modded_relu_square(T* x, int64_t N, cudaStream_t s);

// logits[i] = softcap(z[i]) in fp32, kind = modded::SoftCap:
//   0: 30 sigmoid(z / (7.5 sqrt(dim)))   1: 30 sigmoid(z / 7.5)   2: 15 z / sqrt(z^2 + 225)   3: z
template <typename T>
void modded_softcap(float* logits, const T* z, int64_t N, int kind, int dim, cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
