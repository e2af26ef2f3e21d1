// One generated token of one sequence as one kernel: decode_pass (decode_pass.cuh) for a single token,
// every layer of it, in a persistent kernel of one block per SM whose stages are separated by grid-wide
// barriers instead of kernel boundaries. A token of GPT-2 124M was 62 kernels of a few microseconds of
// fixed cost each; here it is 5 barriers a layer, and each block copies its rows of the next GEMVs'
// weights into shared memory (cp.async) while the stages before them and the barriers run, so a stage
// after a barrier finds its weights on chip.
//
// Per layer l, as decode_pass's few-row kernels compute it (the same roundings to T; the LayerNorm
// statistics and each product's sums in the same order as gemv.cu's, so a stage's outputs equal the
// fused kernels' bit for bit given the same inputs):
//   qkv   = LN1(x) W_qkv^T + b;  keys and values also into the cache row at pos
//   att   = causal attention of q over cache rows 0..pos (per head: 32 keys a warp, partial softmaxes
//           merged by every block before the next stage; fp32; the merge order is this kernel's own)
//   x2    = x + (att W_proj^T + b)
//   act   = activation(LN2(x2) W_fc^T + b)
//   x     = x2 + (act W_mlp^T + b)
// then logits (fp32) = LN_f(x) W_head^T + b. The input row is wte[tok] + wpe[pos], pos = *pos_dev (then
// advanced by one) or pos0. Sampling stays its own kernel (sampling.cuh).
//
// Needs: a GPU of compute capability 8.0 or newer that can launch cooperatively (every block resident at
// once), C and the MLP width multiples of 8, head size a multiple of 32 up to 128, at most 64 layers, every
// tensor 16-byte aligned, shared memory for at least two stages' weight rows a block, resident on every SM,
// and the attention's merge factors for the whole block_size in shared memory (PersistentScratch::fits).
// MYPT_DECODE_PERSISTENT=0 turns it off (decode_pass then runs its kernels).
//
// Measured on an H100 (GPT-2 124M, bf16, 2026-12-06): 556 us a token at short contexts, slower than the
// few-row kernels' 420; 634 us at 1,000 cached positions, where the kernels take 1,300 (their attention walks
// the keys in 8 warps a head, this one splits them 32 to a warp across the grid). decode_pass uses it from
// kPersistentFrom positions. Nsight Compute times the kernel alone at 404 us, most warps stalled at the
// block barriers behind the grid barriers; the other 150 us between graph replays are not yet understood.
#pragma once
#include <cstdint>

#include "buffers.cuh"
#include "gpt_model.cuh"

namespace mypt {
namespace cuda {

// What the persistent pass keeps between tokens, one per decoder (its model fixed): the attention partials
// (per head and 32 keys: max, sum, the weighted values), the barrier counters (zeroed once), and whether
// the pass takes the model on its device, found on the first ask.
struct PersistentScratch {
  DBuf<float> part;
  DBuf<unsigned> sync;
  int slots = -1;  // stage slots of shared memory; 0: the pass does not take the model; -1: not asked yet
  template <typename T>
  bool fits(const GptModel<T>& gpt);
  void ensure(const ModelConfig& c, cudaStream_t s);
};

// tok: the input id (device); kcache, vcache as decode_pass's
template <typename T>
void decode_persistent(GptModel<T>& gpt, PersistentScratch& ps, T* x, T* x2, T* qkv, T* act, float* logits, T* kcache,
                       T* vcache, const int32_t* tok, int pos0, int32_t* pos_dev);

}  // namespace cuda
}  // namespace mypt
