// Data-parallel training over a group (engine/collective.h), with the optimizer state sharded (ZeRO-1,
// engine/shard_plan.h). One process a device; every rank runs the same calls in the same order.
//
// The data split. A step of a world-W group with gradient accumulation A is the step of ONE process with
// accumulation W * A: rank r runs the micro-batches of global index j = r * A + m (m < A), drawn from
// CounterRng(seed, kStreamTrain, step * W * A + j) with dropout call j of dropout_seed(seed, step)
// (engine/data.h). So the union over ranks is exactly that process's batch (the same windows and the same
// dropout masks), the same seed gives the same run for the same W * A, and a run resumed with another W
// and A of the same product continues the same stream. Each rank's micro-batch loss is scaled by 1 / A
// and the engine averages over ranks, so the gradient is the mean over the W * A micro-batches, as there.
//
// One step (train_batches_dp):
//   set_seed(dropout_seed(seed, step)); set_dropout_call(r * A)
//   A x forward_backward (the last with set_grad_sync: buckets reduce-scattered as the backward finishes
//     them, overlapping it)
//   optimizer_step: the mean gradient's global norm (the shards' sums of squares, all-reduced), the clip,
//     AdamW on this rank's shard, the parameters all-gathered
//   one host all-reduce of [loss sum, stop flag]: the reported loss is the mean over all W * A micro-batches
//     (what the single process reports), and `stop` is set on every rank when ANY rank asked to stop, so
//     all ranks stop after the same step (Ctrl-C on one host stops the whole job together).
// Equal to the single process up to fp32 rounding: the order in which micro-batch gradients are summed
// differs (each rank sums its own, then the ranks are summed).
#pragma once
#include <cstdint>

#include "engine/collective.h"
#include "engine/data.h"
#include "engine/engine.h"

namespace mypt {

struct DpStepResult {
  StepResult step;  // loss: the mean over every rank's micro-batches; grad_norm: the global norm
  bool stop = false;
};

// One optimizer step of training step o.step on rank group.rank(); `stop`: this rank asks to stop.
DpStepResult train_batches_dp(Engine& engine, Collective& group, const TokenData& data, const TrainBatchOptions& o,
                              bool stop);

// estimate_loss over the group: batch k (the same batches as estimate_loss) is evaluated by rank
// k mod W, and the sum is all-reduced; every rank returns the same mean.
double estimate_loss_dp(Engine& engine, Collective& group, const TokenData& data, Split split, int iters, int B, int T,
                        uint64_t seed, uint64_t counter0);

}  // namespace mypt
