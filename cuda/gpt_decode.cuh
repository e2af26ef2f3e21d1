// Generation with the CUDA GPT (gpt_model.cuh says how the parts fit): Engine::generate (engine/engine.h)
// for one sequence. Exactly MyPT's / nanoGPT's loop, as the CPU's binding/cpu/generate.cc: while the
// context fits in block_size only the new tokens run (their keys and values join a per-layer KV cache on
// the GPU); once it is longer, the cropped window is recomputed for every token. The steady-state step
// (one token and its sampling, position, input id and sampling counter read on the device) is captured
// as a CUDA graph, kept for later calls with the same settings, and replayed one token ahead of the host;
// each replay leaves the next its token's embedding (decode_pass.cuh's chained passes). Sampling runs on
// the GPU (sampling.cuh; greedy and plain sampling inside the head's GEMV and one kernel after it); only the
// sampled id crosses to the host each step.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "decode_pass.cuh"
#include "engine/engine.h"
#include "gpt_model.cuh"

namespace mypt {
namespace cuda {

template <typename T>
class GptDecoder {
 public:
  explicit GptDecoder(GptModel<T>& gpt);  // allocates nothing until the first generation

  void generate(const int32_t* prompt, int n_prompt, int max_new_tokens, const SampleParams& sp,
                const std::function<bool(int32_t)>& on_token);

 private:
  void ensure_buffers();
  // n tokens (device ids `tok`) at positions pos0.. of the sequence (pos0 read from pos_dev when non-null,
  // which is then advanced by n), the cache holding positions < pos0; the last token's logits (fp32) into
  // gen_logits_; with hs, the next token sampled too where the pass can (decode_pass.cuh; returns whether it
  // did). Capturable in a CUDA graph.
  bool decode(const int32_t* tok, int n, int pos0, int32_t* pos_dev, DecodePath path = DecodePath::Auto,
              const HeadSample* hs = nullptr);
  DecodeBufs<T> bufs();

  GptModel<T>& gpt_;
  // shorthands for the model's fixed parts (made before this object and kept for its life)
  const ModelConfig& cfg_;
  const cudaStream_t s_;
  void use() { gpt_.use(); }
  void sync() { gpt_.sync(); }
  DBuf<T> kcache_, vcache_;  // L x [block_size, C]
  DBuf<int32_t> gen_tok_, gen_id_, gen_pos_;
  DBuf<uint64_t> gen_draw_;  // the sampling counter of the graph's steps
  DBuf<double> head_scratch_;  // sampling in the graph's head (sampling.cuh HeadSample)
  int32_t pos_host_ = 0;
  uint64_t draw_host_ = 0;
  struct Ring {  // two sampled ids on their way to the host (page-locked), each with its copy's event
    int32_t* ids = nullptr;
    cudaEvent_t ev[2] = {nullptr, nullptr};
    Ring() = default;
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    ~Ring();
  } ring_;
  DBuf<float> gen_logits_;
  DBuf<T> x_, ln_, qkv_, att_, pre_, act_, tmp_, lrow_;  // one step's activations
  DBuf<float> stats_;                                    // its LayerNorm mean and rstd
  DBuf<float> parts_;                                    // the attention projection's heads (DecodeBufs::parts)
  PersistentScratch persist_;                            // a one-kernel token's (decode_persistent.cuh)
  // the steady state's graphs, one a path (Kernels, Persistent), kept from call to call while what they were
  // captured with holds: the sampling settings and every device buffer (allocation_count())
  struct StepGraph {
    GraphGuard graph;
    std::array<uint64_t, 5> key{};
    bool chained = false;  // its pass samples in its head and leaves the next pass its embedding (decode_pass.cuh)
  };
  StepGraph step_graphs_[2];
};

}  // namespace cuda
}  // namespace mypt
