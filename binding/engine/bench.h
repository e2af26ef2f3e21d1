// Timing one operation of a backend at one shape, for `mypt-native bench`. Inputs are fresh random
// values (never zeros); the timed region is the op alone (CUDA events on the GPU, a steady clock on
// the CPU); each repeat rotates among several input sets when they would fit in the cache.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace mypt {

// op:
//   "matmul"        out[M,N] = A[M,K] @ W[N,K]^T                         sizes M, K, N
//   "attention_fwd" causal attention forward on qkv [B,T,3*H*D]          sizes B, H, T, D
//   "attention_fwd_bwd"  forward then backward                          sizes B, H, T, D
//   "adamw"         one AdamW step (+ global-norm clip) over N params     size N
//   "layernorm_fwd_bwd"  forward + backward over [M, K]                  sizes M (rows), K (C)
//   "classifier"    softmax + loss + dlogits over [M, N] logits           sizes M (rows), N (vocab)
struct OpBenchRequest {
  std::string op;
  int64_t M = 0, K = 0, N = 0;
  int64_t B = 0, H = 0, T = 0, D = 0;
  Precision precision = Precision::BF16;  // GPU only; the CPU is fp32
  int warmup = 3;
  int repeats = 10;
  uint64_t seed = 1;
};

struct OpBenchResult {
  std::vector<double> ms;   // one per repeat
  double flops = 0;         // per repeat (0 when not meaningful)
  double bytes = 0;         // minimum bytes moved per repeat (0 when not meaningful)
  int64_t peak_bytes = 0;   // device (or host buffer) memory the case allocated
};

// Each backend implements Backend::bench_op (engine/backend.h).

}  // namespace mypt
