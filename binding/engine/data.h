// Token data kept natively and the loops over random batches of it (backend-agnostic: they drive any
// Engine). Batches are MyPT's get_batch: i uniform in [0, n - T - 1], x = data[i : i+T], y = data[i+1 : i+T+1].
#pragma once
#include <cstdint>
#include <vector>

#include "engine/engine.h"
#include "engine/sampling.h"

namespace mypt {

enum class Split { Train = 0, Val = 1 };

class TokenData {
 public:
  // Copies the tokens; every id must be in [0, vocab_size) (throws std::invalid_argument otherwise).
  void set(Split split, const int32_t* tokens, int64_t n, int vocab_size);
  int64_t size(Split split) const { return buf(split).size(); }
  void seed(uint64_t s) { rng_ = Rng(s); }
  // x, y: [B, T]; throws when the split holds fewer than T + 1 tokens
  void sample(Split split, int B, int T, int32_t* x, int32_t* y);

 private:
  const std::vector<int32_t>& buf(Split s) const { return s == Split::Train ? train_ : val_; }
  std::vector<int32_t> train_, val_;
  Rng rng_{0};
};

// One optimizer step over grad_accum micro-batches of the train split (the mean loss is minimised:
// each micro-batch's gradient is scaled by 1/grad_accum). Returns the mean micro-batch loss and the norm.
StepResult train_batches(Engine& engine, TokenData& data, int B, int T, int grad_accum, const AdamWParams& p);

// Mean loss (no dropout) over `iters` random batches of a split (MyPT's estimate_loss).
float estimate_loss(Engine& engine, TokenData& data, Split split, int iters, int B, int T);

}  // namespace mypt
