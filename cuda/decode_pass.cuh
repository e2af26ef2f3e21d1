// One decode pass of the CUDA GPT over one sequence's KV cache, kernel for kernel GptDecoder::decode
// (gpt_decode.cu, generation): n tokens (device ids) at positions pos0.. (pos0 read from pos_dev, which is
// then advanced by n, when non-null: CUDA-graph replays), the cache holding positions < pos0; their keys
// and values join the cache; the last row's logits (fp32) into b.logits. Capturable in a CUDA graph.
// The batched decoder's lone slot (gpt_slots.cu) runs it on its slot's cache, so a sequence served alone
// gets generate()'s logits bit for bit; GptDecoder::decode can become this call with its own buffers
// (rstd = stats + block_size), so that the two cannot drift apart.
#pragma once
#include <cstdint>

#include "decode_persistent.cuh"
#include "gemv.cuh"
#include "gpt_model.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

template <typename T>
struct DecodeBufs {
  T *x;                       // 2n rows of C: the residual stream and its mid-block copy
  T *ln, *att, *tmp;          // n rows of C
  T *qkv;                     // n rows of 3C
  T *pre, *act;               // n rows of the MLP's hidden size
  T *lrow;                    // V: the last row's head output
  float *mean, *rstd;         // n each: LayerNorm statistics
  float *logits;              // V
  PersistentScratch* persist = nullptr;  // where set, a single token may run as one kernel (decode_persistent.cuh)
  float* parts = nullptr;     // where set, n_head x kGemvMaxRows x C: the few-row pass takes the attention's
                              // output projection inside the attention kernel (decode_parts_floats)
};

inline size_t decode_parts_floats(const ModelConfig& c) { return (size_t)c.n_head * kGemvMaxRows * c.n_embd; }

// Kernels: the few-row kernels (or, past kGemvMaxRows rows, the GEMMs); Persistent: one token as one kernel
// (decode_persistent.cuh); Auto: decode_path_at(pos0), so a caller that passes pos_dev (a CUDA graph) names
// the path it chose for the positions the graph will run at.
enum class DecodePath { Auto, Kernels, Persistent };

// One token runs as one kernel from this position on (the cache holding this many rows), where the model,
// the device and the buffers allow. Measured on an H100 (GPT-2 124M, bf16, bench --suite generate): the
// few-row kernels take about 420 us a token plus about 0.96 us a cached position (their attention walks the
// keys in 8 warps a head), the persistent kernel about 556 us plus 0.09 us (its attention splits the keys
// 32 a warp): they cross near 250 positions.
constexpr int kPersistentFrom = 256;

template <typename T>
DecodePath decode_path_at(const GptModel<T>& gpt, const DecodeBufs<T>& b, int n, int pos);

// kcache, vcache: this sequence's cache, n_layer x [block_size, C] each. hs: the next token sampled in the
// head's GEMV and the kernel after it (sampling.cuh's HeadSample: greedy or plain sampling) where the pass is
// the few-row kernels' for one token; returns whether it sampled (else the caller samples from b.logits).
// hs->chained (one token, pos_dev given): where the pass samples, it takes its token's embedding as already in
// b.x (the caller put it there, or the chained pass before did) instead of embedding tok, and leaves the sampled
// id's there at the next position (sampling.cuh's NextEmbedding; not past block_size); a pass that does not
// sample embeds tok as usual.
template <typename T>
bool decode_pass(GptModel<T>& gpt, const DecodeBufs<T>& b, T* kcache, T* vcache, const int32_t* tok, int n, int pos0,
                 int32_t* pos_dev, DecodePath path = DecodePath::Auto, const HeadSample* hs = nullptr);

}  // namespace cuda
}  // namespace mypt
