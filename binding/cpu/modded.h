// The modded-nanogpt models on the CPU backend: the runner of engine/modded.h in fp32, through the ops
// of cpu/modded_ops.h. It owns its weights (ModdedWeights, moved in).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/modded.h"

namespace mypt {
namespace modded {

class ModdedCpu final : public ModdedRunner {
 public:
  explicit ModdedCpu(ModdedWeights weights);  // throws std::invalid_argument when a weight is missing
  const ModdedConfig& config() const override { return cfg_; }
  std::string device() const override { return "cpu"; }
  void forward(const int32_t* tokens, int64_t T, float* logits) override;
  std::vector<int32_t> generate(const int32_t* prompt, int64_t n_prompt, int max_new_tokens, const ModdedSample& sp,
                                const std::function<bool(int32_t)>& on_token) override;

 private:
  // Runs tokens at positions cache_len_.. , appending k/v to the cache; writes logits of every row
  // (last_only false) or of the last row only into logits.
  void step(const int32_t* tokens, int64_t n, float* logits, bool last_only);
  void reset_cache(int64_t capacity);
  void grow_cache(int64_t capacity);  // keeps the cached positions

  ModdedWeights w_;
  ModdedConfig cfg_;
  // KV cache per layer: [capacity, hdim] of rotated, normed keys and mixed values
  std::vector<std::vector<float>> kcache_, vcache_;
  std::vector<int32_t> doc_;  // document index of every cached position (doc_token cumsum)
  int64_t cache_len_ = 0, cache_cap_ = 0;
};

}  // namespace modded
}  // namespace mypt
