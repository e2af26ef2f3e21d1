// Causal multi-head attention on the GPU, forward and backward, flash style (online softmax, nothing of
// size T x T in memory). The same function as mypt::cpu::attention_forward / attention_backward
// (binding/cpu/ops.h), which is the reference these kernels are checked against
// (test/native/check_attention.cu):
//
//   qkv [B, T, 3C]: q, k, v blocks of C columns each; head h uses columns h*D .. h*D+D-1 of each block
//   (D = C / H, which must be 32, 64 or 128).
//   out[b, i, h*D + d] = sum_{j <= i} dropout(softmax_j(scale * q_i . k_j)) v_j[d]
//   lse[b, h, i]       = log sum_{j <= i} exp(scale * q_i . k_j)       (fp32, saved for the backward)
//   dropout: element (b, h, i, j) kept when dropout_keep(seed, offset + ((b*H + h)*T + i)*T + j, p)
//   (dropout.h), kept probabilities scaled by 1/(1-p); p = 0 disables it.
//   backward: dqkv [B, T, 3C] = gradient of the loss w.r.t. qkv given dout [B, T, C] (overwritten).
//
// bf16 tensors with fp32 accumulation use tensor cores: on compute capability 9.x with D = 64 or 128 the
// Hopper kernels (wgmma, TMA; cuda/attention_sm90.cuh; MYPT_ATTN_SM90=0 in the environment turns them
// off), elsewhere mma.sync m16n8k16; the _f32 variants take fp32
// tensors and compute in fp32 (the engine's checking mode; simpler and slower). All launches are
// asynchronous on `stream`. Errors (unsupported head size, launch failure) throw std::runtime_error.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace mypt {
namespace cuda {

// out [B, T, C] bf16, lse [B, H, T] fp32, qkv [B, T, 3C] bf16.
void attention_forward_bf16(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv, int B, int T, int C,
                            int H, float scale, float dropout_p, uint64_t seed, uint64_t offset,
                            cudaStream_t stream);

// Bytes of fp32 scratch attention_backward_bf16 needs: B*H*T*(D + 1) floats (an fp32 dq accumulator
// and the row sums dout . out). Must not be shared with a concurrent launch.
size_t attention_backward_scratch_bytes(int B, int T, int C, int H);

// dqkv [B, T, 3C] bf16 (overwritten); dout, out [B, T, C] bf16; qkv as in the forward; lse from the
// forward. scratch: at least attention_backward_scratch_bytes(B, T, C, H) bytes, 16-byte aligned.
void attention_backward_bf16(__nv_bfloat16* dqkv, const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                             const __nv_bfloat16* out, const float* lse, int B, int T, int C, int H,
                             float scale, float dropout_p, uint64_t seed, uint64_t offset, float* scratch,
                             cudaStream_t stream);

// As the two above with a choice of mask: causal = true is exactly them; causal = false lets every query
// see every key (lse and dropout counters as above, j over all of 0..T-1). The non-causal case runs only
// on the Hopper path (compute capability 9.x, D = 64 or 128, cuda/attention_sm90.cuh); elsewhere it throws.
void attention_forward_bf16_masked(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv, int B, int T, int C,
                                   int H, float scale, float dropout_p, uint64_t seed, uint64_t offset, bool causal,
                                   cudaStream_t stream);
void attention_backward_bf16_masked(__nv_bfloat16* dqkv, const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                                    const __nv_bfloat16* out, const float* lse, int B, int T, int C, int H,
                                    float scale, float dropout_p, uint64_t seed, uint64_t offset, bool causal,
                                    float* scratch, cudaStream_t stream);

// fp32 variants (same arguments, fp32 tensors). The backward needs B*H*T floats of scratch
// (attention_backward_scratch_bytes is large enough for it too).
void attention_forward_f32(float* out, float* lse, const float* qkv, int B, int T, int C, int H,
                           float scale, float dropout_p, uint64_t seed, uint64_t offset, cudaStream_t stream);
void attention_backward_f32(float* dqkv, const float* dout, const float* qkv, const float* out,
                            const float* lse, int B, int T, int C, int H, float scale, float dropout_p,
                            uint64_t seed, uint64_t offset, float* scratch, cudaStream_t stream);

}  // namespace cuda
}  // namespace mypt
