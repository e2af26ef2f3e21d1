// Attention on Hopper (compute capability 9.x): flash attention forward and backward with warpgroup MMA
// (wgmma) and TMA tile loads, warp-specialised (one producer warp issues the copies, two or three
// consumer warpgroups compute). bf16 tensors, fp32 accumulation, head size 64 or 128, causal or not.
// The same functions as attention_forward_bf16 / attention_backward_bf16 (attention.cuh: layouts, LSE,
// dropout through dropout.h, scratch); cuda/attention.cu dispatches here on cc 9.x unless
// MYPT_ATTN_SM90=0. Design, measurements: cuda/NOTES-attention-sm90.md.
//
// The kernels exist only when this file was compiled for sm_90a (CMake does so when MYPT_CUDA_ARCHS holds
// 90 and nvcc is 12.0 or newer, defining MYPT_ATTN_SM90); otherwise compiled() is false and the entry
// points throw.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace mypt {
namespace cuda {
namespace sm90 {

// Whether the Hopper kernels were compiled into this build.
bool attention_compiled();
// Whether they can run on the current device: compiled, compute capability 9.x (cached per device).
bool attention_usable();

// Same arguments and results as attention_forward_bf16 (attention.cuh), plus `causal` (false: every
// query sees every key). C / H must be 64 or 128; qkv 16-byte aligned.
void attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv, int B, int T, int C, int H,
                       float scale, float dropout_p, uint64_t seed, uint64_t offset, bool causal,
                       cudaStream_t stream);

// Same as attention_backward_bf16, plus `causal`. scratch: attention_backward_scratch_bytes(B, T, C, H)
// bytes (B*H*T*(D + 1) floats: the fp32 dq accumulator, then the row sums dout . out).
void attention_backward(__nv_bfloat16* dqkv, const __nv_bfloat16* dout, const __nv_bfloat16* qkv,
                        const __nv_bfloat16* out, const float* lse, int B, int T, int C, int H, float scale,
                        float dropout_p, uint64_t seed, uint64_t offset, bool causal, float* scratch,
                        cudaStream_t stream);

// Tile variants for benchmarking (-1 = the defaults, 0..3 = a fixed variant); not part of the public
// contract.
void attention_tune(int fwd_variant, int bwd_variant);

}  // namespace sm90
}  // namespace cuda
}  // namespace mypt
