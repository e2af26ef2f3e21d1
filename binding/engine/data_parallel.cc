#include "engine/data_parallel.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "engine/counter_rng.h"

namespace mypt {

void Engine::join_group(std::shared_ptr<Collective>, const ShardPlan&, DType) {
  throw std::runtime_error("the " + device() + " engine has no data-parallel training");
}

void Engine::set_grad_sync(bool) {
  throw std::runtime_error("the " + device() + " engine has no data-parallel training");
}

DpStepResult train_batches_dp(Engine& engine, Collective& group, const TokenData& data, const TrainBatchOptions& o,
                              bool stop) {
  if (o.grad_accum < 1) throw std::invalid_argument("grad_accum must be at least 1");
  const int B = o.batch_size, T = o.block_size, A = o.grad_accum;
  const uint64_t W = (uint64_t)group.world(), r = (uint64_t)group.rank();
  const int V = engine.config().vocab_size;
  const TokenView& train = data.get(Split::Train);
  std::vector<int32_t> x((size_t)B * T), y((size_t)B * T);
  engine.set_seed(dropout_seed(o.seed, o.step));
  engine.set_dropout_call(r * A);
  double total = 0.0;
  try {
    for (int m = 0; m < A; m++) {
      const uint64_t j = r * A + m;  // this micro-batch's index in the single process's step
      sample_batch(train, "train data", B, T, o.seed, kStreamTrain, o.step * W * A + j, V, x.data(), y.data());
      engine.set_grad_sync(m == A - 1);
      total += engine.forward_backward(x.data(), y.data(), B, T, true, 1.0f / A, m > 0);
    }
  } catch (...) {
    engine.set_grad_sync(false);
    throw;
  }
  DpStepResult out;
  out.step.grad_norm = engine.optimizer_step(o.adamw);
  double v[2] = {total, stop ? 1.0 : 0.0};
  group.host_all_reduce(v, 2);
  out.step.loss = (float)(v[0] / (double)(W * A));
  out.stop = v[1] > 0.0;
  return out;
}

double estimate_loss_dp(Engine& engine, Collective& group, const TokenData& data, Split split, int iters, int B, int T,
                        uint64_t seed, uint64_t counter0) {
  if (iters < 1) throw std::invalid_argument("eval iters must be at least 1");
  const uint32_t stream = split == Split::Train ? kStreamEvalTrain : kStreamEvalVal;
  const std::string what = std::string(split_name(split)) + " data";
  const int V = engine.config().vocab_size, W = group.world();
  std::vector<int32_t> x((size_t)B * T), y((size_t)B * T);
  double total = 0.0;
  for (int k = group.rank(); k < iters; k += W) {
    sample_batch(data.get(split), what.c_str(), B, T, seed, stream, counter0 + k, V, x.data(), y.data());
    total += engine.loss(x.data(), y.data(), B, T);
  }
  group.host_all_reduce(&total, 1);
  return total / iters;
}

}  // namespace mypt
