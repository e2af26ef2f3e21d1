#include "engine/shard_plan.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mypt {
namespace {

int64_t round_up4(int64_t x) { return (x + 3) / 4 * 4; }

}  // namespace

ShardPlan ShardPlan::make(int64_t total, const std::vector<int64_t>& ready, int rank, int world,
                          int64_t bucket_floats) {
  if (world < 1) throw std::invalid_argument("a group needs at least one rank, got world " + std::to_string(world));
  if (rank < 0 || rank >= world)
    throw std::invalid_argument("rank " + std::to_string(rank) + " is outside 0.." + std::to_string(world - 1));
  if (total < 1) throw std::invalid_argument("a shard plan needs a parameter buffer");
  if (ready.empty() || ready.back() != 0)
    throw std::invalid_argument("the backward's ready points must end with 0");
  for (size_t i = 0; i < ready.size(); i++)
    if (ready[i] < 0 || ready[i] > total || (i > 0 && ready[i] >= ready[i - 1]))
      throw std::invalid_argument("the backward's ready points must descend inside the parameter buffer");
  ShardPlan p;
  p.rank = rank;
  p.world = world;
  p.total = total;
  p.bucket_floats = std::max<int64_t>(bucket_floats, 1);
  const int64_t aligned = total / 4 * 4;
  const int64_t unit = 4 * (int64_t)world;
  int64_t hi = aligned;
  for (const int64_t point : ready) {
    const int64_t lo = std::min(aligned, round_up4(point));
    if (lo >= hi) continue;
    const int64_t size = hi - lo;
    if (size < p.bucket_floats && point != 0) continue;  // grows to the next ready point
    const int64_t n = size / unit * unit;
    if (n == 0) continue;
    Bucket b;
    b.begin = hi - n;
    b.end = hi;
    b.slice = n / world;
    p.buckets.push_back(b);
    hi -= n;
  }
  // [0, hi): fewer than 4 * world floats, every rank holds them
  int64_t local = 0;
  if (hi > 0) {
    p.replicated.push_back(ShardRange{0, hi, 0, true});
    local = hi;
  }
  for (Bucket& b : p.buckets) {
    b.local = local;
    local += b.slice;
  }
  if (total > aligned) {
    p.replicated.push_back(ShardRange{aligned, total, local, true});
    local += total - aligned;
  }
  p.shard_size = local;
  return p;
}

std::vector<ShardRange> ShardPlan::owned(int r) const {
  if (r < 0 || r >= world) throw std::invalid_argument("rank " + std::to_string(r) + " is not in the group");
  std::vector<ShardRange> out;
  for (const ShardRange& x : replicated)
    if (x.begin == 0) out.push_back(x);
  for (const Bucket& b : buckets)
    out.push_back(ShardRange{b.begin + r * b.slice, b.begin + (r + 1) * b.slice, b.local, false});
  for (const ShardRange& x : replicated)
    if (x.begin != 0) out.push_back(x);
  return out;
}

std::vector<int64_t> backward_ready_points(const ModelConfig& cfg, const ParamLayout& layout) {
  auto at = [&](const std::string& name) {
    const ParamInfo* p = layout.find(name);
    if (!p) throw std::logic_error("the canonical layout has no " + name);
    return p->offset;
  };
  std::vector<int64_t> out{at("lnf.weight")};
  for (int l = cfg.n_layer - 1; l >= 0; l--) out.push_back(at("h." + std::to_string(l) + ".ln1.weight"));
  out.push_back(0);
  return out;
}

void shard_of(const ShardPlan& plan, const float* full, float* shard) {
  for (const ShardRange& r : plan.owned())
    std::memcpy(shard + r.local, full + r.begin, (size_t)(r.end - r.begin) * sizeof(float));
}

void unshard(const ShardPlan& plan, const float* shards, float* full) {
  for (int rank = 0; rank < plan.world; rank++)
    for (const ShardRange& r : plan.owned(rank)) {
      if (r.replicated && rank != 0) continue;
      std::memcpy(full + r.begin, shards + (int64_t)rank * plan.shard_size + r.local,
                  (size_t)(r.end - r.begin) * sizeof(float));
    }
}

}  // namespace mypt
