// The CPU backend: parameters, gradients, AdamW state and the entry points of engine.h.
#include "cpu/engine.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cpu/ops.h"
#include "engine/errors.h"

namespace mypt {

ModelPtrs bind_model(const ModelConfig& cfg, const ParamLayout& layout, float* base) {
  auto at = [&](const std::string& name) -> float* {
    const ParamInfo* p = layout.find(name);
    return p ? base + p->offset : nullptr;
  };
  ModelPtrs m;
  m.wte = at("wte");
  m.wpe = at("wpe");
  m.lnfw = at("lnf.weight");
  m.lnfb = at("lnf.bias");
  m.headw = cfg.tied_head ? m.wte : at("head.weight");
  m.headb = at("head.bias");
  for (int i = 0; i < cfg.n_layer; i++) {
    const std::string h = "h." + std::to_string(i) + ".";
    m.h.push_back(LayerPtrs{at(h + "ln1.weight"), at(h + "ln1.bias"), at(h + "attn.qkv.weight"),
                            at(h + "attn.qkv.bias"), at(h + "attn.proj.weight"), at(h + "attn.proj.bias"),
                            at(h + "ln2.weight"), at(h + "ln2.bias"), at(h + "mlp.fc.weight"),
                            at(h + "mlp.fc.bias"), at(h + "mlp.proj.weight"), at(h + "mlp.proj.bias")});
  }
  return m;
}

CpuEngine::CpuEngine(const ModelConfig& cfg) : cfg_(cfg), layout_((cfg.validate(), cfg)) {
  const size_t n = (size_t)layout_.total;
  host_alloc("the parameters", n * 4, [&] { params_.assign(n, 0.0f); });
  decay_.assign(layout_.params.size(), 1);
  W_ = bind_model(cfg_, layout_, params_.data());
}

// Gradients and moments exist from the first call that needs them (an inference-only model holds
// only its parameters).
void CpuEngine::ensure_grads() {
  if (!grads_.empty()) return;
  host_alloc("the gradients", params_.size() * 4, [&] { grads_.assign(params_.size(), 0.0f); });
  G_ = bind_model(cfg_, layout_, grads_.data());
}

void CpuEngine::ensure_moments() {
  if (!m_.empty()) return;
  const size_t n = (size_t)moments_size();
  host_alloc("the AdamW moments", n * 8, [&] {
    m_.assign(n, 0.0f);
    v_.assign(n, 0.0f);
  });
}

void CpuEngine::set_parameters(const float* src) { std::memcpy(params_.data(), src, params_.size() * 4); }
void CpuEngine::get_parameters(float* dst) { std::memcpy(dst, params_.data(), params_.size() * 4); }
void CpuEngine::get_gradients(float* dst) {
  ensure_grads();
  std::memcpy(dst, grads_.data(), grads_.size() * 4);
}

void CpuEngine::set_optimizer_state(const float* m, const float* v, int64_t step) {
  if (step < 0) throw std::invalid_argument("optimizer step must not be negative");
  ensure_moments();
  if (group_) {
    shard_of(plan_, m, m_.data());
    shard_of(plan_, v, v_.data());
  } else {
    std::memcpy(m_.data(), m, m_.size() * 4);
    std::memcpy(v_.data(), v, v_.size() * 4);
  }
  step_ = step;
}

void CpuEngine::get_optimizer_state(float* m, float* v, int64_t* step) {
  ensure_moments();
  if (group_) {
    // every rank's shard, then the whole buffers (a collective: every rank gathers both)
    const int64_t S = plan_.shard_size, W = plan_.world;
    std::vector<float> all((size_t)(S * W)), full(params_.size());
    for (int which = 0; which < 2; which++) {
      std::memcpy(all.data() + plan_.rank * S, (which ? v_ : m_).data(), (size_t)S * 4);
      group_->all_gather(all.data(), S, DType::F32, nullptr);
      float* dst = which ? v : m;
      if (dst) unshard(plan_, all.data(), dst);
    }
  } else {
    if (m) std::memcpy(m, m_.data(), m_.size() * 4);
    if (v) std::memcpy(v, v_.data(), v_.size() * 4);
  }
  if (step) *step = step_;
}

void CpuEngine::set_decay_mask(const std::vector<uint8_t>& mask) {
  if (mask.size() != layout_.params.size())
    throw std::invalid_argument("decay mask has " + std::to_string(mask.size()) + " entries, the model has " +
                                std::to_string(layout_.params.size()) + " tensors");
  decay_ = mask;
}

void CpuEngine::set_seed(uint64_t seed) {
  seed_ = seed;
  calls_ = 0;
}

void CpuEngine::check_shape(int B, int T) const {
  if (B < 1) throw std::invalid_argument("batch size must be at least 1, got " + std::to_string(B));
  if (T < 1 || T > cfg_.block_size)
    throw std::invalid_argument("sequence length " + std::to_string(T) + " is outside 1.." +
                                std::to_string(cfg_.block_size) + " (block_size)");
}

void CpuEngine::check_tokens(const int32_t* tokens, int64_t n, const char* what) const {
  for (int64_t i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= cfg_.vocab_size)
      throw std::invalid_argument(std::string(what) + " id " + std::to_string(tokens[i]) + " at index " +
                                  std::to_string(i) + " is outside the vocabulary 0.." +
                                  std::to_string(cfg_.vocab_size - 1));
}

void CpuEngine::forward(const int32_t* tokens, int B, int T, float* logits) {
  check_shape(B, T);
  check_tokens(tokens, (int64_t)B * T, "token");
  run_forward(tokens, B, T, 0.0f, 0, false);
  std::memcpy(logits, acts_.logits.data(), sizeof(float) * (size_t)B * T * cfg_.vocab_size);
}

float CpuEngine::loss(const int32_t* tokens, const int32_t* targets, int B, int T) {
  check_shape(B, T);
  check_tokens(tokens, (int64_t)B * T, "token");
  check_tokens(targets, (int64_t)B * T, "target");
  run_forward(tokens, B, T, 0.0f, 0, false);
  return cpu::crossentropy_forward_backward(acts_.losses.data(), nullptr, acts_.logits.data(), targets,
                                            (int64_t)B * T, cfg_.vocab_size, 0.0f);
}

float CpuEngine::forward_backward(const int32_t* tokens, const int32_t* targets, int B, int T, bool train,
                                  float loss_scale, bool accumulate) {
  check_shape(B, T);
  check_tokens(tokens, (int64_t)B * T, "token");
  check_tokens(targets, (int64_t)B * T, "target");
  const float p = train ? cfg_.dropout : 0.0f;
  const uint64_t call = train ? calls_++ : 0;
  const int64_t BT = (int64_t)B * T;
  run_forward(tokens, B, T, p, call, true);
  const float loss = cpu::crossentropy_forward_backward(acts_.losses.data(), acts_.dlogits.data(),
                                                        acts_.logits.data(), targets, BT, cfg_.vocab_size,
                                                        loss_scale / (float)BT);
  ensure_grads();
  if (!accumulate) std::memset(grads_.data(), 0, grads_.size() * 4);
  run_backward(tokens, B, T, p, call);
  return loss;
}

// clip_grad_norm_ then torch.optim.AdamW, tensor by tensor with its own decay flag
float CpuEngine::optimizer_step(const AdamWParams& p) {
  ensure_grads();
  ensure_moments();
  if (group_) return optimizer_step_dp(p);
  const float norm = (float)std::sqrt(cpu::sum_squares(grads_.data(), (int64_t)grads_.size()));
  float scale = 1.0f;
  if (p.grad_clip > 0.0f) {
    const float coef = p.grad_clip / (norm + 1e-6f);
    if (coef < 1.0f) scale = coef;
  }
  step_++;
  for (size_t i = 0; i < layout_.params.size(); i++) {
    const ParamInfo& t = layout_.params[i];
    cpu::adamw_update(params_.data() + t.offset, m_.data() + t.offset, v_.data() + t.offset,
                      grads_.data() + t.offset, t.numel, p.lr, p.beta1, p.beta2, p.eps,
                      decay_[i] ? p.weight_decay : 0.0f, step_, scale);
  }
  return norm;
}

}  // namespace mypt
