// Token data and the batches drawn from it (backend-neutral: the loops drive any Engine).
//
// The engine knows no files: a TokenView is memory someone else owns (a copy the binding made of a typed
// array, or a memory-mapped file), kept alive by the view's `owner`. Batches are those of
// src/data/batches.ts, bit for bit: the windows of a batch come from CounterRng(seed, stream, counter)
// (engine/counter_rng.h), so the batch of training step s is a pure function of (seed, s).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace mypt {

enum class Split { Train = 0, Val = 1 };
const char* split_name(Split s);  // "train" | "val"

enum class TokenType { Int32 = 0, Uint16 = 1 };

struct TokenView {
  const void* data = nullptr;
  int64_t length = 0;  // tokens
  TokenType type = TokenType::Int32;
  std::shared_ptr<const void> owner;  // keeps `data` alive (null: the caller does)
  std::string source;                 // what the tokens are, for messages: "Int32Array", a file's path
  int64_t first = 0;                  // index in `source` of data[0] (messages count from there)

  int64_t at(int64_t i) const {
    return type == TokenType::Int32 ? ((const int32_t*)data)[i] : ((const uint16_t*)data)[i];
  }
  // Tokens [start, start + count) of this view, sharing its owner; std::invalid_argument when out of range.
  TokenView slice(int64_t start, int64_t count) const;
};

// A view that owns a copy of src's tokens (the type is kept: uint16 stays two bytes a token). When
// vocab_size > 0 every id is checked as it is copied (a free, early error for data that is copied
// anyway); std::invalid_argument names `what` (e.g. "train data"), the index and the id.
TokenView copy_tokens(const TokenView& src, int vocab_size, const char* what);

// One batch, as src/data/batches.ts sampleBatch with rng = CounterRng(seed, stream, counter):
//   for b < B: i = rng.below(length - T);  x[b, :] = data[i : i+T];  y[b, :] = data[i+1 : i+T+1]
// x, y: [B, T] int32. Throws std::invalid_argument when the data holds fewer than T + 1 tokens, and,
// when vocab_size > 0, when a drawn window holds an id outside [0, vocab_size) (only the windows drawn
// are read: a memory-mapped corpus is never paged in whole), naming `what`, the index and the id.
void sample_batch(const TokenView& data, const char* what, int B, int T, uint64_t seed, uint32_t stream,
                  uint64_t counter, int vocab_size, int32_t* x, int32_t* y);

// The train and val tokens of one model.
class TokenData {
 public:
  void set(Split split, TokenView view) { (split == Split::Train ? train_ : val_) = std::move(view); }
  const TokenView& get(Split split) const { return split == Split::Train ? train_ : val_; }

 private:
  TokenView train_, val_;
};

// One optimizer step of training step `step` (MyPT's loop, with nanoGPT's gradient accumulation):
//   engine.set_seed(dropout_seed(seed, step))         (engine/counter_rng.h: TypeScript's dropoutSeed)
//   for m < grad_accum: batch m of the train split from CounterRng(seed, kStreamTrain, step * grad_accum + m);
//                       forward_backward(train, loss scale 1 / grad_accum, accumulating after the first)
//   optimizer_step(adamw)
// Returns the mean micro-batch loss and the gradient norm. With grad_accum 1 this is exactly
// setSeed(dropoutSeed(seed, step)) + trainStep on TypeScript's batch of that step.
struct TrainBatchOptions {
  int batch_size = 0, block_size = 0, grad_accum = 1;
  uint64_t seed = 0, step = 0;
  AdamWParams adamw;
};
StepResult train_batches(Engine& engine, const TokenData& data, const TrainBatchOptions& o);
// The steps o.step, o.step + 1, ... one after the other, step i with learning rate lrs[i] (o.adamw otherwise):
// the same batches, seeds and results as train_batches of each, in one Engine::train_steps call (the batches
// all drawn first), so that a device backend queues each step before the one before it has ended.
std::vector<StepResult> train_batch_run(Engine& engine, const TokenData& data, const TrainBatchOptions& o,
                                        const std::vector<float>& lrs);

// The mean loss (no dropout) over `iters` batches of a split, batch k from
// CounterRng(seed, split == Train ? kStreamEvalTrain : kStreamEvalVal, counter0 + k); the sum of the
// losses in double divided by iters, as TypeScript's loop computes it.
double estimate_loss(Engine& engine, const TokenData& data, Split split, int iters, int B, int T, uint64_t seed,
                     uint64_t counter0);

}  // namespace mypt
