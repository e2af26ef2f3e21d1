// The CPU engine's data-parallel step (engine.h join_group; who owns what: engine/shard_plan.h; the
// step as a whole: engine/data_parallel.h). Host buffers and a host group: every collective returns
// with its result, so "overlap" here means the buckets are reduced between the layers of the backward.
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cpu/engine.h"
#include "cpu/ops.h"

namespace mypt {

void CpuEngine::join_group(std::shared_ptr<Collective> group, const ShardPlan& plan, DType grad_dtype) {
  if (!group) throw std::invalid_argument("join_group needs a group");
  if (group->on_device())
    throw std::invalid_argument("the CPU engine needs a CPU group (device 'cpu'), not " + group->describe());
  if (group_) throw std::invalid_argument("this model is already in a group (" + group_->describe() + ")");
  if (plan.total != layout_.total || plan.world != group->world() || plan.rank != group->rank())
    throw std::invalid_argument("the shard plan was made for another model or rank");
  group->broadcast(params_.data(), layout_.total, DType::F32, 0, nullptr);
  if (!m_.empty()) {  // moments set before joining: keep this rank's shard of them
    std::vector<float> m((size_t)plan.shard_size), v((size_t)plan.shard_size);
    shard_of(plan, m_.data(), m.data());
    shard_of(plan, v_.data(), v.data());
    m_.swap(m);
    v_.swap(v);
  }
  group_ = std::move(group);
  plan_ = plan;
  grad_dtype_ = grad_dtype;
  ready_ = backward_ready_points(cfg_, layout_);
  issuer_.reset();
  grad_sync_ = false;
}

void CpuEngine::grads_final(int k) {
  if (!group_ || !grad_sync_) return;
  issuer_.ready(plan_, ready_[(size_t)k], [&](const Bucket& b) { reduce_bucket(b); });
}

// This rank's slice of bucket b becomes the sum over ranks (the other slices: undefined).
void CpuEngine::reduce_bucket(const Bucket& b) {
  float* g = grads_.data() + b.begin;
  if (grad_dtype_ != DType::BF16) {
    group_->reduce_scatter(g, b.slice, DType::F32, nullptr);
    return;
  }
  const int64_t n = b.end - b.begin, mine = (int64_t)plan_.rank * b.slice;
  comm16_.resize((size_t)n);
  for (int64_t i = 0; i < n; i++) comm16_[i] = to_bf16(g[i]);
  group_->reduce_scatter(comm16_.data(), b.slice, DType::BF16, nullptr);
  for (int64_t i = 0; i < b.slice; i++) g[mine + i] = from_bf16(comm16_[mine + i]);
}

// AdamW over one owned range, tensor by tensor (each with its own decay flag); moments at r.local.
void CpuEngine::adamw_range(const ShardRange& r, const AdamWParams& p, float grad_scale) {
  for (size_t i = 0; i < layout_.params.size(); i++) {
    const ParamInfo& t = layout_.params[i];
    const int64_t lo = std::max(t.offset, r.begin), hi = std::min(t.offset + t.numel, r.end);
    if (lo >= hi) continue;
    const int64_t at = r.local + (lo - r.begin);
    cpu::adamw_update(params_.data() + lo, m_.data() + at, v_.data() + at, grads_.data() + lo, hi - lo, p.lr, p.beta1,
                      p.beta2, p.eps, decay_[i] ? p.weight_decay : 0.0f, step_, grad_scale);
  }
}

float CpuEngine::optimizer_step_dp(const AdamWParams& p) {
  // the buckets the backward did not reduce (all of them without set_grad_sync), the replicated ranges
  issuer_.ready(plan_, 0, [&](const Bucket& b) { reduce_bucket(b); });
  issuer_.reset();
  grad_sync_ = false;
  for (const ShardRange& r : plan_.replicated)
    group_->all_reduce(grads_.data() + r.begin, r.end - r.begin, DType::F32, nullptr);
  // the norm of the mean gradient: the shards' sums of squares of the summed gradient, / world
  const std::vector<ShardRange> mine = plan_.owned();
  double s = 0.0;
  for (const ShardRange& r : mine)
    if (!r.replicated || plan_.rank == 0) s += cpu::sum_squares(grads_.data() + r.begin, r.end - r.begin);
  group_->host_all_reduce(&s, 1);
  const float norm = (float)(std::sqrt(s) / plan_.world);
  float clip = 1.0f;
  if (p.grad_clip > 0.0f) {
    const float coef = p.grad_clip / (norm + 1e-6f);
    if (coef < 1.0f) clip = coef;
  }
  step_++;
  for (const ShardRange& r : mine) adamw_range(r, p, clip / (float)plan_.world);
  for (const Bucket& b : plan_.buckets) group_->all_gather(params_.data() + b.begin, b.slice, DType::F32, nullptr);
  return norm;
}

}  // namespace mypt
