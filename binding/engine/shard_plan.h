// ZeRO-1 bookkeeping: which part of the canonical parameter buffer each rank of a data-parallel group
// owns (its AdamW moments and its update), and the buckets in which gradients are reduce-scattered while
// the backward pass still runs. Pure arithmetic on offsets; both backends use it (engine/data_parallel.h
// says how a step goes).
//
// The backward of both engines finishes gradients from the END of the canonical buffer toward its start
// (config.h's order: wte, wpe, h.0 ... h.{L-1}, lnf, head): first lnf and head, then block L-1, ..., block
// 0, and wte/wpe last (a tied head adds into wte early, but wte is final only after the embeddings). So
// at any moment the final gradients are a suffix [f, total) of the buffer, and a bucket [begin, end) may
// be reduced as soon as f <= begin. backward_ready_points lists those f.
//
// The plan, for `world` ranks:
//   - buckets: contiguous ranges that tile [head, aligned) where aligned = total rounded down to a
//     multiple of 4, each `world * slice` floats with `slice` a multiple of 4, closed at a ready point
//     once it holds at least `bucket_floats` (a ready point is rounded UP to a multiple of 4, so a bucket
//     is never reduced before its gradients are final); listed in the order they become ready (from the
//     end of the buffer toward the start). Rank r owns slice r of every bucket:
//     [begin + r * slice, begin + (r + 1) * slice).
//   - replicated ranges: what is left, fewer than 4 * world floats at the start of the buffer and fewer
//     than 4 at its end. Every rank all-reduces them and updates them the same way (counted once in the
//     gradient norm, by rank 0).
//   - the compact shard: a rank's moments are one buffer of shard_size floats: the replicated head range,
//     then its slice of every bucket in bucket order, then the replicated tail (every offset but the
//     tail's a multiple of 4, so the kernels' 16-byte accesses stay aligned). The layout is the same on
//     every rank; only the canonical offsets of the slices differ.
// With world 1 there is no replicated head, and the single rank owns everything.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/config.h"

namespace mypt {

struct Bucket {
  int64_t begin = 0, end = 0;  // canonical range, world * slice floats
  int64_t slice = 0;           // floats a rank owns, a multiple of 4
  int64_t local = 0;           // where every rank keeps its slice in the compact shard
};

// A canonical range and where it lives in the compact shard.
struct ShardRange {
  int64_t begin = 0, end = 0;
  int64_t local = 0;
  bool replicated = false;  // every rank holds it whole
};

struct ShardPlan {
  int rank = 0, world = 1;
  int64_t total = 0;            // floats of the canonical buffer
  int64_t bucket_floats = 0;    // the size a bucket reaches before it closes
  std::vector<Bucket> buckets;  // in the order they become ready
  std::vector<ShardRange> replicated;
  int64_t shard_size = 0;  // floats of the compact shard (the same on every rank)

  // `ready`: the backward's ready points, descending, the last one 0 (backward_ready_points).
  // Throws std::invalid_argument for a bad rank, world or ready list.
  static ShardPlan make(int64_t total, const std::vector<int64_t>& ready, int rank, int world, int64_t bucket_floats);

  // Rank r's ranges, replicated ones included, in compact order.
  std::vector<ShardRange> owned(int r) const;
  std::vector<ShardRange> owned() const { return owned(rank); }
};

// The suffix starts [f, total) of final gradients, in the order the backward reaches them:
// lnf's first tensor, then the first tensor of each block from L-1 down to 0, then 0.
std::vector<int64_t> backward_ready_points(const ModelConfig& cfg, const ParamLayout& layout);

// The buckets a backward has finished: call ready(f) each time the final suffix grows to [f, total);
// it calls issue(bucket) once for every bucket not issued before with begin >= f, in plan order.
class BucketIssuer {
 public:
  void reset() { next_ = 0; }
  template <class F>
  void ready(const ShardPlan& plan, int64_t f, F&& issue) {
    while (next_ < plan.buckets.size() && plan.buckets[next_].begin >= f) issue(plan.buckets[next_++]);
  }
  bool done(const ShardPlan& plan) const { return next_ == plan.buckets.size(); }

 private:
  size_t next_ = 0;
};

// full (total floats) -> this rank's compact shard (shard_size floats).
void shard_of(const ShardPlan& plan, const float* full, float* shard);
// every rank's compact shard (world * shard_size floats, rank r's at r * shard_size) -> full (total floats);
// replicated ranges from rank 0's.
void unshard(const ShardPlan& plan, const float* shards, float* full);

}  // namespace mypt
