// The CPU backend (engine.h): the whole GPT on host memory through the ops of cpu/ops.h.
// engine.cc: parameters, optimizer; gpt.cc: forward and backward; generate.cc: KV-cache
// generation.
#pragma once
#include <vector>

#include "engine/engine.h"

namespace mypt {

// Pointers to one block's tensors inside a canonical buffer (null where the config has no such tensor).
struct LayerPtrs {
  float *ln1w, *ln1b, *qkvw, *qkvb, *projw, *projb, *ln2w, *ln2b, *fcw, *fcb, *mlpw, *mlpb;
};
struct ModelPtrs {
  float *wte, *wpe, *lnfw, *lnfb, *headw, *headb;  // headw is wte when the head is tied
  std::vector<LayerPtrs> h;
};
ModelPtrs bind_model(const ModelConfig& cfg, const ParamLayout& layout, float* base);

// Activations of one forward pass kept for the backward, and the backward's scratch.
struct LayerActs {
  std::vector<float> ln1, ln1_mean, ln1_rstd, qkv, att, lse, xmid, ln2, ln2_mean, ln2_rstd, fc, act;
};
struct Acts {
  int B = 0, T = 0;
  std::vector<float> res;  // residual stream: (L + 1) x [B*T, C]
  std::vector<LayerActs> layers;
  std::vector<float> lnf, lnf_mean, lnf_rstd, logits, losses, tmp;
  std::vector<float> dres, dtmp, dln, datt, dqkv, dfc, dlogits;  // backward scratch
  void resize(const ModelConfig& cfg, int B, int T, bool backward);
};

// Buffers of KV-cache generation for one sequence.
struct GenState {
  std::vector<float> k, v;  // L x [block_size, C]
  std::vector<float> x, ln, qkv, att, tmp, fc, logits;
};

class CpuEngine final : public Engine {
  friend class CpuDecoder;  // cpu/decoder.cc reads the weights and the config

 public:
  explicit CpuEngine(const ModelConfig& cfg);
  const ModelConfig& config() const override { return cfg_; }
  const ParamLayout& layout() const override { return layout_; }
  std::string device() const override { return "cpu"; }

  void set_parameters(const float* src) override;
  void get_parameters(float* dst) override;
  void get_gradients(float* dst) override;
  void set_optimizer_state(const float* m, const float* v, int64_t step) override;
  void get_optimizer_state(float* m, float* v, int64_t* step) override;
  void set_decay_mask(const std::vector<uint8_t>& mask) override;
  void set_seed(uint64_t seed) override;
  void set_dropout_call(uint64_t call) override { calls_ = call; }

  void forward(const int32_t* tokens, int B, int T, float* logits) override;
  float loss(const int32_t* tokens, const int32_t* targets, int B, int T) override;
  float forward_backward(const int32_t* tokens, const int32_t* targets, int B, int T, bool train,
                         float loss_scale, bool accumulate) override;
  float optimizer_step(const AdamWParams& p) override;
  void generate(const int32_t* prompt, int n_prompt, int max_new_tokens, const SampleParams& sp,
                const std::function<bool(int32_t)>& on_token) override;
  void join_group(std::shared_ptr<Collective> group, const ShardPlan& plan, DType grad_dtype) override;
  std::unique_ptr<Decoder> make_decoder(int slots) override;  // cpu/decoder.cc
  void set_grad_sync(bool on) override { grad_sync_ = on; }

 private:
  void ensure_grads();
  void ensure_moments();
  void check_tokens(const int32_t* tokens, int64_t n, const char* what) const;
  void check_shape(int B, int T) const;
  // forward of [B, T] into acts_ (logits in acts_.logits); dropout when p > 0, masks from call `call`
  void run_forward(const int32_t* tokens, int B, int T, float p, uint64_t call, bool backward);
  // backward from dlogits already in acts_.dlogits, gradients added into grads_
  void run_backward(const int32_t* tokens, int B, int T, float p, uint64_t call);
  // tokens [pos0, pos0 + n) of one sequence with the cache holding positions < pos0; logits of the last
  // token into gen_.logits
  void decode(const int32_t* tokens, int n, int pos0);
  // data parallel (engine.h; cpu/engine_dp.cc)
  int64_t moments_size() const { return group_ ? plan_.shard_size : (int64_t)params_.size(); }
  void grads_final(int k);           // the backward has finished ready point k (backward_ready_points)
  void reduce_bucket(const Bucket& b);
  float optimizer_step_dp(const AdamWParams& p);
  void adamw_range(const ShardRange& r, const AdamWParams& p, float grad_scale);

  ModelConfig cfg_;
  ParamLayout layout_;
  std::vector<float> params_, grads_, m_, v_;
  ModelPtrs W_, G_;
  std::vector<uint8_t> decay_;
  int64_t step_ = 0;
  uint64_t seed_ = 0, calls_ = 0;
  Acts acts_;
  GenState gen_;
  // data parallel: the group, this rank's plan; m_, v_ hold the compact shard (shard_plan.h)
  std::shared_ptr<Collective> group_;
  ShardPlan plan_;
  DType grad_dtype_ = DType::F32;
  std::vector<int64_t> ready_;  // backward_ready_points
  BucketIssuer issuer_;
  bool grad_sync_ = false;
  std::vector<uint16_t> comm16_;  // a bucket in bf16
};

}  // namespace mypt
