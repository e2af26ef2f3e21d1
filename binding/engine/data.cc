#include "engine/data.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/counter_rng.h"
#include "engine/errors.h"

namespace mypt {
namespace {

size_t token_bytes(TokenType t) { return t == TokenType::Int32 ? 4 : 2; }

[[noreturn]] void bad_id(const TokenView& v, const char* what, int64_t i, int64_t id, int vocab_size) {
  throw std::invalid_argument(std::string(what) + ": token " + std::to_string(id) + " at index " +
                              std::to_string(v.first + i) + " of " + v.source + " is outside the vocabulary 0.." +
                              std::to_string(vocab_size - 1));
}

template <typename Tok>
std::shared_ptr<const void> copy_checked(const Tok* src, int64_t n, const TokenView& v, int vocab_size,
                                         const char* what) {
  auto owned = host_alloc("the token data", (uint64_t)n * sizeof(Tok),
                          [&] { return std::make_shared<std::vector<Tok>>((size_t)n); });
  Tok* dst = owned->data();
  for (int64_t i = 0; i < n; i++) {
    const Tok id = src[i];
    if (vocab_size > 0 && ((int64_t)id < 0 || (int64_t)id >= vocab_size)) bad_id(v, what, i, id, vocab_size);
    dst[i] = id;
  }
  return std::shared_ptr<const void>(owned, owned->data());
}

}  // namespace

const char* split_name(Split s) { return s == Split::Train ? "train" : "val"; }

TokenView TokenView::slice(int64_t start, int64_t count) const {
  if (start < 0 || count < 0 || start > length || count > length - start)
    throw std::invalid_argument("tokens " + std::to_string(start) + ".." + std::to_string(start + count) + " are outside " +
                                source + " (" + std::to_string(length) + " tokens)");
  TokenView v = *this;
  v.data = (const char*)data + (size_t)start * token_bytes(type);
  v.length = count;
  v.first = first + start;
  return v;
}

TokenView copy_tokens(const TokenView& src, int vocab_size, const char* what) {
  TokenView v = src;
  v.owner = src.type == TokenType::Int32
                ? copy_checked((const int32_t*)src.data, src.length, src, vocab_size, what)
                : copy_checked((const uint16_t*)src.data, src.length, src, vocab_size, what);
  v.data = v.owner.get();
  return v;
}

void sample_batch(const TokenView& d, const char* what, int B, int T, uint64_t seed, uint32_t stream,
                  uint64_t counter, int vocab_size, int32_t* x, int32_t* y) {
  if (B < 1 || T < 1)
    throw std::invalid_argument("a batch needs batch_size >= 1 and block_size >= 1 (got " + std::to_string(B) + ", " +
                                std::to_string(T) + ")");
  if (d.length < (int64_t)T + 1)
    throw std::invalid_argument(std::string(what) + " holds " + std::to_string(d.length) +
                                " tokens; a batch of block_size " + std::to_string(T) + " needs at least " +
                                std::to_string(T + 1) + (d.length == 0 ? " (call setData first)" : ""));
  CounterRng rng(seed, stream, counter);
  const uint64_t range = (uint64_t)(d.length - T);  // i in [0, length - T)
  for (int b = 0; b < B; b++) {
    const int64_t i = (int64_t)rng.below(range);
    int32_t* xb = x + (int64_t)b * T;
    int32_t* yb = y + (int64_t)b * T;
    for (int t = 0; t <= T; t++) {
      const int64_t id = d.at(i + t);
      if (vocab_size > 0 && (id < 0 || id >= vocab_size)) bad_id(d, what, i + t, id, vocab_size);
      if (t < T) xb[t] = (int32_t)id;
      if (t > 0) yb[t - 1] = (int32_t)id;
    }
  }
}

Engine::HostBlock Engine::alloc_host(size_t bytes) {
  return {std::malloc(bytes ? bytes : 1), [](void* p) { std::free(p); }};
}

void Engine::set_recompute(int level) {
  if (level < 0 || level > 2)
    throw std::invalid_argument("recompute must be 0, 1 or 2 (got " + std::to_string(level) + ")");
}

StepResult train_batches(Engine& engine, const TokenData& data, const TrainBatchOptions& o) {
  return train_batch_run(engine, data, o, {o.adamw.lr}).front();  // a run of one step
}

namespace {

// train_batch_run's steps in one Engine::train_steps call, every batch drawn first.
std::vector<StepResult> run_part(Engine& engine, const TokenData& data, const TrainBatchOptions& o,
                                 const std::vector<float>& lrs) {
  if (o.grad_accum < 1) throw std::invalid_argument("grad_accum must be at least 1");
  const int steps = (int)lrs.size();
  const int B = o.batch_size, T = o.block_size, A = o.grad_accum;
  const int V = engine.config().vocab_size;
  const TokenView& train = data.get(Split::Train);
  const int64_t BT = (int64_t)B * T;
  std::vector<int32_t> x((size_t)(BT * A * steps)), y((size_t)(BT * A * steps));
  std::vector<AdamWParams> p((size_t)steps, o.adamw);
  std::vector<uint64_t> seeds((size_t)steps);
  for (int i = 0; i < steps; i++) {
    const uint64_t step = o.step + (uint64_t)i;
    p[i].lr = lrs[i];
    seeds[i] = dropout_seed(o.seed, step);
    for (int m = 0; m < A; m++) {
      const int64_t at = ((int64_t)i * A + m) * BT;
      sample_batch(train, "train data", B, T, o.seed, kStreamTrain, step * (uint64_t)A + m, V, x.data() + at,
                   y.data() + at);
    }
  }
  std::vector<StepResult> out((size_t)steps);
  if (steps > 0) engine.train_steps(x.data(), y.data(), steps, A, B, T, p.data(), seeds.data(), out.data());
  return out;
}

}  // namespace

std::vector<StepResult> train_batch_run(Engine& engine, const TokenData& data, const TrainBatchOptions& o,
                                        const std::vector<float>& lrs) {
  // at most kRunSteps steps' batches drawn at once (a long run is several engine calls, the same results)
  constexpr size_t kRunSteps = 64;
  std::vector<StepResult> out;
  out.reserve(lrs.size());
  for (size_t i0 = 0; i0 < lrs.size(); i0 += kRunSteps) {
    TrainBatchOptions part = o;
    part.step = o.step + i0;
    const std::vector<float> some(lrs.begin() + i0, lrs.begin() + std::min(lrs.size(), i0 + kRunSteps));
    for (const StepResult& r : run_part(engine, data, part, some)) out.push_back(r);
  }
  return out;
}

double estimate_loss(Engine& engine, const TokenData& data, Split split, int iters, int B, int T, uint64_t seed,
                     uint64_t counter0) {
  if (iters < 1) throw std::invalid_argument("eval iters must be at least 1");
  const uint32_t stream = split == Split::Train ? kStreamEvalTrain : kStreamEvalVal;
  const std::string what = std::string(split_name(split)) + " data";
  const int V = engine.config().vocab_size;
  std::vector<int32_t> x((size_t)B * T), y((size_t)B * T);
  double total = 0.0;
  for (int k = 0; k < iters; k++) {
    sample_batch(data.get(split), what.c_str(), B, T, seed, stream, counter0 + k, V, x.data(), y.data());
    total += engine.loss(x.data(), y.data(), B, T);
  }
  return total / iters;
}

}  // namespace mypt
