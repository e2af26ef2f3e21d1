// CPU operations of the modded-nanogpt forward pass (MODDED.md), fp32, row-major, contiguous.
// Arguments: outputs, then inputs, then sizes. "=" overwrites; "+=" accumulates. N rows of width C.
// Multi-threaded over the engine's process-wide pool (engine/threads.h). The matrix
// products of a few rows (one per generated token) use their own row-dot kernel, since packing the weight
// each call costs more than it saves there; from 16 rows on they go through the engine's packed gemm.
#pragma once
#include <cstdint>

#include "engine/modded_mask.h"

namespace mypt {
namespace modded {

// out[N, C] = x / sqrt(mean(x^2) + eps) per row       (F.rms_norm(x, (C,)), no weight; in place allowed)
void rmsnorm(float* out, const float* x, int64_t N, int C, float eps);

// out[N, O] = x[N, C] @ W[O, C]^T                     (F.linear(x, W), no bias)
void linear(float* out, const float* x, const float* W, int64_t N, int C, int O);

// out[N, O] += x[N, C] @ W[O, C]^T                   (x = x + F.linear(y, W): the residual add)
void linear_add(float* out, const float* x, const float* W, int64_t N, int C, int O);

// x = relu(x)^2 elementwise over n values           (F.relu(x).square())
void relu_square(float* x, int64_t n);

// Rotary embedding, half-split ("half-truncate RoPE"), in place on x[N, H, D] for positions pos0..pos0+N-1:
//   q = D/4; freq_j = (1/base)^(j/(q-1)) for j < q (torch.linspace(0,1,q) in fp32), freq_j = 0 for q <= j < D/2
//   theta = pos * freq_j (fp32);  x1 = x[:D/2], x2 = x[D/2:]
//   y1 = x1 cos + x2 sin;  y2 = -x1 sin + x2 cos      (the sign is opposite to HF rotate_half)
// (the frequencies: engine/modded.h rotary_freqs)
void rotary(float* x, int64_t N, int H, int D, int64_t pos0, float base);

// Attention of N new queries against the cached keys/values, each query over its own key ranges
// (modded_mask.h: causal, document mask, sliding window):
//   out[N, H*D] (head-major) = softmax(scale * q k^T over the visible keys) v
// q[N, H*D]; kc, vc: caches [P, H*D] covering every visible key.
void masked_attention(float* out, const float* q, const float* kc, const float* vc, const KeyRanges& keys, int64_t N,
                      int H, int D, float scale);

}  // namespace modded
}  // namespace mypt
