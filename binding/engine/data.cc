#include "engine/data.h"

#include <stdexcept>
#include <string>

namespace mypt {

static const char* split_name(Split s) { return s == Split::Train ? "train" : "val"; }

void TokenData::set(Split split, const int32_t* tokens, int64_t n, int vocab_size) {
  for (int64_t i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= vocab_size)
      throw std::invalid_argument(std::string(split_name(split)) + " data: token " + std::to_string(tokens[i]) +
                                  " at index " + std::to_string(i) + " is outside the vocabulary 0.." +
                                  std::to_string(vocab_size - 1));
  (split == Split::Train ? train_ : val_).assign(tokens, tokens + n);
}

void TokenData::sample(Split split, int B, int T, int32_t* x, int32_t* y) {
  const std::vector<int32_t>& d = buf(split);
  if ((int64_t)d.size() < (int64_t)T + 1)
    throw std::invalid_argument(std::string(split_name(split)) + " data holds " + std::to_string(d.size()) +
                                " tokens; a batch of block_size " + std::to_string(T) + " needs at least " +
                                std::to_string(T + 1) + (d.empty() ? " (call setData first)" : ""));
  const uint64_t range = d.size() - (uint64_t)T;  // i in [0, n - T - 1]
  for (int b = 0; b < B; b++) {
    const int64_t i = (int64_t)rng_.below(range);
    for (int t = 0; t < T; t++) {
      x[(int64_t)b * T + t] = d[i + t];
      y[(int64_t)b * T + t] = d[i + t + 1];
    }
  }
}

StepResult train_batches(Engine& engine, TokenData& data, int B, int T, int grad_accum, const AdamWParams& p) {
  if (grad_accum < 1) throw std::invalid_argument("grad_accum must be at least 1");
  std::vector<int32_t> x((size_t)B * T), y((size_t)B * T);
  double total = 0.0;
  for (int micro = 0; micro < grad_accum; micro++) {
    data.sample(Split::Train, B, T, x.data(), y.data());
    total += engine.forward_backward(x.data(), y.data(), B, T, true, 1.0f / grad_accum, micro > 0);
  }
  StepResult r;
  r.loss = (float)(total / grad_accum);
  r.grad_norm = engine.optimizer_step(p);
  return r;
}

float estimate_loss(Engine& engine, TokenData& data, Split split, int iters, int B, int T) {
  if (iters < 1) throw std::invalid_argument("eval iters must be at least 1");
  std::vector<int32_t> x((size_t)B * T), y((size_t)B * T);
  double total = 0.0;
  for (int k = 0; k < iters; k++) {
    data.sample(split, B, T, x.data(), y.data());
    total += engine.loss(x.data(), y.data(), B, T);
  }
  return (float)(total / iters);
}

}  // namespace mypt
