// The CUDA trainer's data-parallel step (gpt_train.cuh; who owns what: engine/shard_plan.h; the step as
// a whole: engine/data_parallel.h), on an NCCL group (nccl_collective.cuh).
//
//   backward        grads_final(k) at each ready point: with set_grad_sync, every bucket the backward has
//                   finished is reduce-scattered on the group's stream (after an event on ours), so its
//                   communication overlaps the rest of the backward (in bf16: converted into comm16_
//                   first, on our stream, and back after the join)
//   optimizer_step  what is left reduced, the replicated ranges all-reduced, join; the sum of squares of
//                   this rank's slices (replicated ranges by rank 0 only) into one double, all-reduced,
//                   norm = sqrt / world on the device; AdamW on each owned range (the fused kernel with a
//                   starts table relative to the range, the moments at the range's compact offset,
//                   grad_scale 1 / world: the gradients are sums); the masters all-gathered bucket by
//                   bucket (fp32, or a bf16 model's two 16-bit halves: the upper ones are its weights), join
// No host round trip inside a step but the norm read at its end, as in the single-GPU step.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "adamw.cuh"
#include "gpt_train.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

namespace {

// The collectives on masters (masters.cuh): fp32 as floats, split as two 16-bit halves (moved, not added).
void broadcast_masters(Collective& g, const Masters& m, int64_t n, cudaStream_t s) {
  if (m.f32) return g.broadcast(m.f32, n, DType::F32, 0, s);
  g.broadcast(m.hi, n, DType::BF16, 0, s);
  g.broadcast(m.lo, n, DType::BF16, 0, s);
}

void all_gather_masters(Collective& g, const Masters& m, int64_t slice, cudaStream_t s) {
  if (m.f32) return g.all_gather(m.f32, slice, DType::F32, s);
  g.all_gather(m.hi, slice, DType::BF16, s);
  g.all_gather(m.lo, slice, DType::BF16, s);
}

}  // namespace

template <typename T>
void GptTrainer<T>::join_group(std::shared_ptr<Collective> group, const ShardPlan& plan, DType grad_dtype) {
  if (!group) throw std::invalid_argument("join_group needs a group");
  if (!group->on_device())
    throw std::invalid_argument("the CUDA engine needs an NCCL group (device 'cuda'), not " + group->describe());
  if (group_) throw std::invalid_argument("this model is already in a group (" + group_->describe() + ")");
  if (plan.total != layout_.total || plan.world != group->world() || plan.rank != group->rank())
    throw std::invalid_argument("the shard plan was made for another model or rank");
  use();
  // rank 0's parameters everywhere (a bf16 model's two halves as 16-bit words)
  broadcast_masters(*group, gpt_.masters(), layout_.total, s_);
  group->join(s_);
  // the moments: this rank's shard of the whole ones (zero, or those set before joining)
  const int64_t N = layout_.total, S = plan.shard_size;
  std::vector<float> mf((size_t)N), vf((size_t)N), ms((size_t)S), vs((size_t)S);
  CUDA_CHECK(cudaMemcpyAsync(mf.data(), m_.p, N * 4, cudaMemcpyDeviceToHost, s_));
  CUDA_CHECK(cudaMemcpyAsync(vf.data(), v_.p, N * 4, cudaMemcpyDeviceToHost, s_));
  group->synchronize(s_);
  shard_of(plan, mf.data(), ms.data());
  shard_of(plan, vf.data(), vs.data());
  DBuf<float> m, v;
  m.ensure(S);
  v.ensure(S);
  CUDA_CHECK(cudaMemcpyAsync(m.p, ms.data(), S * 4, cudaMemcpyHostToDevice, s_));
  CUDA_CHECK(cudaMemcpyAsync(v.p, vs.data(), S * 4, cudaMemcpyHostToDevice, s_));
  CUDA_CHECK(cudaStreamSynchronize(s_));
  m_ = std::move(m);  // the whole-size moments go
  v_ = std::move(v);
  group_ = std::move(group);
  plan_ = plan;
  grad_dtype_ = grad_dtype;
  ready_ = backward_ready_points(cfg_, layout_);
  owned_ = plan_.owned();
  issuer_.reset();
  grad_sync_ = false;
  sumsq_.ensure(1);
  if (grad_dtype_ == DType::BF16) comm16_.ensure((size_t)N);
  build_dp_tables();
  sync();
}

// For each owned range [b, e): the tensors overlapping it, their starts relative to b (and e - b last),
// and their decay flags, in one device table each (adamw.cuh's starts/decay for a range).
template <typename T>
void GptTrainer<T>::build_dp_tables() {
  std::vector<int64_t> starts;
  std::vector<uint8_t> decay;
  range_nt_.clear();
  range_table_.clear();
  for (const ShardRange& r : owned_) {
    range_table_.push_back((int64_t)starts.size());
    int nt = 0;
    for (size_t i = 0; i < layout_.params.size(); i++) {
      const ParamInfo& t = layout_.params[i];
      const int64_t lo = std::max(t.offset, r.begin), hi = std::min(t.offset + t.numel, r.end);
      if (lo >= hi) continue;
      starts.push_back(lo - r.begin);
      decay.push_back(decay_host_[i]);
      nt++;
    }
    starts.push_back(r.end - r.begin);
    decay.push_back(0);  // keeps the two tables' offsets equal
    range_nt_.push_back(nt);
  }
  dp_starts_.ensure(starts.size());
  dp_decay_.ensure(decay.size());
  CUDA_CHECK(cudaMemcpyAsync(dp_starts_.p, starts.data(), starts.size() * 8, cudaMemcpyHostToDevice, s_));
  CUDA_CHECK(cudaMemcpyAsync(dp_decay_.p, decay.data(), decay.size(), cudaMemcpyHostToDevice, s_));
  CUDA_CHECK(cudaStreamSynchronize(s_));  // before the host vectors go
}

template <typename T>
void GptTrainer<T>::grads_final(int k) {
  if (!group_ || !grad_sync_) return;
  issuer_.ready(plan_, ready_[(size_t)k], [&](const Bucket& b) { reduce_bucket(b); });
}

// Starts the reduce-scatter of bucket b; this rank's slice holds the sum after the next join (bf16: after
// optimizer_step_dp converts it back).
template <typename T>
void GptTrainer<T>::reduce_bucket(const Bucket& b) {
  if (grad_dtype_ == DType::BF16) {
    convert<bf16, float>(comm16_.p + b.begin, grads_.p + b.begin, b.end - b.begin, s_);
    group_->reduce_scatter(comm16_.p + b.begin, b.slice, DType::BF16, s_);
  } else {
    group_->reduce_scatter(grads_.p + b.begin, b.slice, DType::F32, s_);
  }
}

template <typename T>
float GptTrainer<T>::optimizer_step_dp(const AdamWParams& p) {
  const int W = plan_.world, r = plan_.rank;
  issuer_.ready(plan_, 0, [&](const Bucket& b) { reduce_bucket(b); });
  issuer_.reset();
  grad_sync_ = false;
  for (const ShardRange& x : plan_.replicated)
    group_->all_reduce(grads_.p + x.begin, x.end - x.begin, DType::F32, s_);
  group_->join(s_);
  if (grad_dtype_ == DType::BF16)
    for (const Bucket& b : plan_.buckets) {
      const int64_t mine = b.begin + (int64_t)r * b.slice;
      convert<float, bf16>(grads_.p + mine, comm16_.p + mine, b.slice, s_);
    }
  // the global norm of the mean gradient
  CUDA_CHECK(cudaMemsetAsync(sumsq_.p, 0, sizeof(double), s_));
  for (const ShardRange& x : owned_)
    if (!x.replicated || r == 0) sum_squares_add(sumsq_.p, grads_.p + x.begin, x.end - x.begin, norm_scratch_.p, s_);
  group_->all_reduce(sumsq_.p, 1, DType::F64, s_);
  group_->join(s_);
  norm_from_sumsq(scalars_.p + 1, sumsq_.p, 1.0 / W, s_);
  // AdamW on this rank's ranges
  step_++;
  for (size_t i = 0; i < owned_.size(); i++) {
    const ShardRange& x = owned_[i];
    adamw_update(gpt_.masters().at(x.begin), m_.p + x.local, v_.p + x.local, grads_.p + x.begin, x.end - x.begin,
                 dp_starts_.p + range_table_[i], dp_decay_.p + range_table_[i], range_nt_[i], p.lr, p.beta1, p.beta2,
                 p.eps, p.weight_decay, step_, scalars_.p + 1, p.grad_clip, s_, 1.0f / W);
  }
  // every rank's updated slices everywhere (a bf16 model's two halves: its weights are the upper ones)
  for (const Bucket& b : plan_.buckets) all_gather_masters(*group_, gpt_.masters().at(b.begin), b.slice, s_);
  group_->join(s_);
  float norm = 0.0f;
  CUDA_CHECK(cudaMemcpyAsync(&norm, scalars_.p + 1, 4, cudaMemcpyDeviceToHost, s_));
  sync();
  return norm;
}

// Every rank's shard gathered (a collective), then the whole moments on the host.
template <typename T>
void GptTrainer<T>::get_moments_dp(float* m, float* v) {
  const int64_t S = plan_.shard_size, W = plan_.world;
  gather_.ensure((size_t)(S * W));
  std::vector<float> all((size_t)(S * W));
  for (int which = 0; which < 2; which++) {
    const float* mine = which ? v_.p : m_.p;
    CUDA_CHECK(cudaMemcpyAsync(gather_.p + plan_.rank * S, mine, S * 4, cudaMemcpyDeviceToDevice, s_));
    group_->all_gather(gather_.p, S, DType::F32, s_);
    group_->join(s_);
    CUDA_CHECK(cudaMemcpyAsync(all.data(), gather_.p, all.size() * 4, cudaMemcpyDeviceToHost, s_));
    sync();
    float* dst = which ? v : m;
    if (dst) unshard(plan_, all.data(), dst);
  }
}

// the members defined here, for both storage types (gpt_train.cu instantiates the rest)
#define MYPT_DP_MEMBERS(T)                                                                              \
  template void GptTrainer<T>::join_group(std::shared_ptr<Collective>, const ShardPlan&, DType);        \
  template void GptTrainer<T>::build_dp_tables();                                                       \
  template void GptTrainer<T>::grads_final(int);                                                        \
  template void GptTrainer<T>::reduce_bucket(const Bucket&);                                            \
  template float GptTrainer<T>::optimizer_step_dp(const AdamWParams&);                                  \
  template void GptTrainer<T>::get_moments_dp(float*, float*);
MYPT_DP_MEMBERS(float)
MYPT_DP_MEMBERS(bf16)

}  // namespace cuda
}  // namespace mypt
