// Causal attention, one warp per query row (online softmax; nothing of size T x T in memory). The
// general kernel behind generation with a KV cache, and the training attention used until / unless the
// flash kernels (cuda/attention.cuh) take over. Math in fp32, storage T.
//
// attention_rows_forward, per batch b, head h, query row i < Tq (query position pos0 + i):
//   s_j = scale * q_i . k_j  for keys j <= pos0 + i;  P = softmax(s);
//   out_i = sum_j P_j * drop_j * v_j,  drop_j = keep((b*H + h)*Tq + i)*Tq + j) / (1 - p)  (p = 0: 1)
//   lse[(b*H + h)*Tq + i] = log sum_j exp(s_j)   (when lse is non-null)
// Vectors are found through strides (AttnView): q_i of head h at q + b*q_bs + i*q_rs + h*hs, likewise k,
// v (key row j), out. Head size hs <= 256.
// pos0 is read from pos_dev on the device when that is non-null (CUDA-graph replays of generation).
// Few rows (generation): one block per row, its 8 warps splitting the keys, partial softmaxes merged
// at the end; many rows: one warp per row. `mode` 1 / 2 forces one of the two (tests).
// kv_append: kcache[pos0 + r, :] = qkv[r, C:2C], vcache[pos0 + r, :] = qkv[r, 2C:3C] for r < n
// (pos0 from pos_dev when non-null); advance_position: *pos_dev += n.
// attention_rows_backward (training layout only: qkv[B, T, 3C] fused, pos0 = 0, lse and out from the
// forward): dqkv[B, T, 3C] overwritten with dq, dk, dv; `dscratch` needs B*H*T floats.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"

namespace mypt {
namespace cuda {

template <typename T>
struct AttnView {
  const T* q; int64_t q_bs, q_rs;
  const T* k; int64_t k_bs, k_rs;
  const T* v; int64_t v_bs, v_rs;
  T* out; int64_t o_bs, o_rs;
};

// Decoding's attention with its output projection's heads apart (decode_pass.cu): for each of the Tq <= 4
// query rows i of the one sequence (b = 0) and head h, out_i as attention_rows_forward (no dropout, no lse),
// rounded to T, then
//   part[(h * Tq + i) * C + c] = sum_d out_i[h hs + d] * w[c, h hs + d]     (fp32; w the [C, C] projection)
// so that the projection is the sum of the parts over h. The head's slice of w is held in shared memory:
// attention_proj_decode_smem bytes (the caller checks the device allows them). hs % 8 == 0, 16-byte aligned w.
template <typename T>
size_t attention_proj_decode_smem(int C, int hs);
template <typename T>
void attention_proj_decode(const AttnView<T>& view, float* part, const T* w, int C, int Tq, int H, int hs, int pos0,
                           float scale, cudaStream_t s, const int32_t* pos_dev);

template <typename T>
void attention_rows_forward(const AttnView<T>& view, float* lse, int B, int Tq, int H, int hs, int pos0,
                            float scale, float dropout_p, uint64_t dropout_seed, cudaStream_t s,
                            const int32_t* pos_dev = nullptr, int mode = 0);

template <typename T>
void kv_append(T* kcache, T* vcache, const T* qkv, int n, int C, int pos0, const int32_t* pos_dev, cudaStream_t s);
void advance_position(int32_t* pos_dev, int n, cudaStream_t s);

template <typename T>
void attention_rows_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, int B, int T_,
                             int C, int H, float scale, float dropout_p, uint64_t dropout_seed, float* dscratch,
                             cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
