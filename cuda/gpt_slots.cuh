// Continuous batching on the GPU: the CUDA GPT's multi-slot decoder (engine/decoder.h Decoder). Each slot
// is one sequence with its own KV cache region ([slot][layer][block_size][C] for keys and for values), its
// position, its sampling settings and its draw counter. One step puts the new tokens of every active slot
// (one for a slot in steady state, its prompt for a slot that just joined, the whole window for a slot past
// block_size, as generate() crops) through the model as one set of rows: the linear layers take all rows
// at once (the weights are read once per step for every sequence), layer norms and activations are per
// row, and two small kernels of this file put each row's key/value into its slot's cache at its position
// and attend each row to its own slot's cache (per-row slot and position arrays). The last row of each
// slot gets the head and is sampled on the GPU (sampling.cuh sample_tokens: every slot in one launch, each
// with its own settings, seed and counter); the ids come back in one copy. Tokens follow the sampling of
// generate() (same seed, same counters); logits may differ from generate()'s in the last bits where the row
// count picks another GEMM path.
//
// A lone sequence (one active slot) runs exactly as generate() runs it: decode_pass.cuh (GptDecoder::decode's
// kernels) on its slot's cache, so its logits are generate()'s bit for bit, and in steady state (one new
// token, the last id and the position kept on the device) as one CUDA graph replay, captured once per
// Batcher run (idle() drops it: between runs other calls may change the model). When a second sequence
// joins, the next step is batched again; a sequence left alone again goes back to the graph after one plain
// step.
#pragma once
#include <cstdint>
#include <vector>

#include "decode_pass.cuh"
#include "engine/decoder.h"
#include "gpt_model.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

template <typename T>
class GptSlots final : public Decoder {
 public:
  GptSlots(GptModel<T>& gpt, int slots);
  int slots() const override { return (int)slots_.size(); }
  void check_prompt(const int32_t* prompt, int n) const override;
  void join(int slot, const int32_t* prompt, int n, int max_new, const SampleParams& sp) override;
  void leave(int slot) override;
  bool active(int slot) const override { return slots_.at(slot).active; }
  void step(int32_t* out) override;
  void idle() override;

 private:
  struct Slot {
    bool active = false;
    std::vector<int32_t> ctx;
    int cached = 0, made = 0, max_new = 0;
    SampleParams sp;
    uint64_t draws = 0;
  };
  void ensure_rows(int rows, int act);
  void step_alone(int slot, int32_t* out);
  void step_batched(int32_t* out);
  // slot i's cache (n_layer x [block_size, C]) of keys / values
  T* kslot(int i) { return kcache_.p + (size_t)i * gpt_.cfg.n_layer * gpt_.cfg.block_size * gpt_.cfg.n_embd; }
  T* vslot(int i) { return vcache_.p + (size_t)i * gpt_.cfg.n_layer * gpt_.cfg.block_size * gpt_.cfg.n_embd; }
  void forget_alone(int slot);

  GptModel<T>& gpt_;
  std::vector<Slot> slots_;
  DBuf<T> kcache_, vcache_;                // [slots][L][block][C]
  DBuf<int32_t> meta_;                     // tok[rows], row_slot[rows], row_pos[rows], last_row[act]
  DBuf<int32_t> ids_;                      // [act] sampled ids
  DBuf<SampleArgs> args_;                  // [act] their sampling settings and counters
  DBuf<T> x_, ln_, qkv_, att_, pre_, act_, tmp_, last_, lrow_;
  DBuf<float> stats_, logits_;
  std::vector<int32_t> host_meta_, host_ids_;
  std::vector<SampleArgs> host_args_;
  // the lone path: one-row buffers for the graph (each its own allocation, as GptDecoder's), the last
  // sampled id and the position on the device
  DBuf<T> ox_, oln_, oqkv_, oatt_, opre_, oact_, otmp_, olrow_;
  DBuf<float> ostats_, ologits_;
  DBuf<float> parts_;  // the attention projection's heads (decode_pass.cuh DecodeBufs::parts), both paths
  PersistentScratch persist_;  // a lone sequence's one-kernel tokens (decode_persistent.cuh)
  DBuf<int32_t> one_tok_, one_pos_;
  int tok_slot_ = -1;    // the slot whose last id is in one_tok_, -1: none
  int pos_slot_ = -1;    // the slot whose cached length is in one_pos_
  int graph_slot_ = -1;  // the slot the graph was captured for
  DecodePath graph_path_ = DecodePath::Auto;  // and its path
  int32_t pos_host_ = 0, id_host_ = 0;
  GraphGuard graph_;
};

}  // namespace cuda
}  // namespace mypt
