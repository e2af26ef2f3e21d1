// The modded-nanogpt runner of the CPU backend (engine/modded.h states the computation), fp32.
#include "cpu/modded.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>

#include "cpu/modded_ops.h"
#include "engine/modded_mask.h"
#include "engine/sampling.h"

namespace mypt {
namespace modded {

namespace {
// logits = softcap(z), in place over n values
void apply_softcap(float* z, int64_t n, SoftCap cap, int dim) {
  switch (cap) {
    case SoftCap::Sigmoid30Scaled: {
      const float s = 1.0f / (7.5f * std::sqrt((float)dim));
      for (int64_t i = 0; i < n; i++) z[i] = 30.0f / (1.0f + std::exp(-z[i] * s));
      break;
    }
    case SoftCap::Sigmoid30:
      for (int64_t i = 0; i < n; i++) z[i] = 30.0f / (1.0f + std::exp(-z[i] / 7.5f));
      break;
    case SoftCap::Algebraic15:
      for (int64_t i = 0; i < n; i++) z[i] = 15.0f * z[i] / std::sqrt(z[i] * z[i] + 225.0f);
      break;
    case SoftCap::None:
      break;
  }
}
}  // namespace

ModdedCpu::ModdedCpu(ModdedWeights weights) : w_(std::move(weights)), cfg_(w_.config()) { w_.check_complete(); }

void ModdedCpu::reset_cache(int64_t capacity) {
  const int64_t hd = cfg_.hdim();
  kcache_.assign(cfg_.n_layer, {});
  vcache_.assign(cfg_.n_layer, {});
  for (int i = 0; i < cfg_.n_layer; i++)
    if (cfg_.has_attn[i]) {
      kcache_[i].assign(capacity * hd, 0.0f);
      vcache_[i].assign(capacity * hd, 0.0f);
    }
  doc_.assign(capacity, 0);
  cache_len_ = 0;
  cache_cap_ = capacity;
}

void ModdedCpu::grow_cache(int64_t capacity) {
  const int64_t hd = cfg_.hdim();
  for (int i = 0; i < cfg_.n_layer; i++)
    if (cfg_.has_attn[i]) {
      kcache_[i].resize(capacity * hd, 0.0f);
      vcache_[i].resize(capacity * hd, 0.0f);
    }
  doc_.resize(capacity, 0);
  cache_cap_ = capacity;
}

void ModdedCpu::step(const int32_t* tokens, int64_t n, float* logits, bool last_only) {
  const int L = cfg_.n_layer, d = cfg_.dim, H = cfg_.n_head, D = cfg_.head_dim, hd = cfg_.hdim();
  const int F = cfg_.mlp_hidden;
  const float eps = cfg_.norm_eps;
  const float* s = w_.scalars.data();
  const int64_t p0 = cache_len_;
  if (p0 + n > cache_cap_) grow_cache(std::max(p0 + n, 2 * cache_cap_));
  for (int64_t t = 0; t < n; t++)
    if (tokens[t] < 0 || tokens[t] >= cfg_.embed_rows)
      throw std::invalid_argument("token id " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                                  " is outside the embedding (" + std::to_string(cfg_.embed_rows) + " rows)");

  // document index of the new positions: docs = (idx == doc_token).cumsum(0)
  for (int64_t t = 0; t < n; t++) {
    const int32_t prev = p0 + t > 0 ? doc_[p0 + t - 1] : 0;
    doc_[p0 + t] = prev + (tokens[t] == cfg_.doc_token ? 1 : 0);
  }
  // visible keys per window size (the same for every layer that shares it)
  std::map<int, KeyRanges> masks;
  auto keys_for = [&](int W) -> const KeyRanges& {
    auto it = masks.find(W);
    if (it == masks.end()) it = masks.emplace(W, visible_keys(doc_.data(), n, p0, p0 + n - 1, cfg_.attn_block, W)).first;
    return it->second;
  };

  // x = x0 = norm(embed[idx])
  std::vector<float> x(n * d), x0(n * d), h(n * d), qkv(n * 3 * hd), q(n * hd), y(n * hd), hid(n * F);
  for (int64_t t = 0; t < n; t++) std::copy_n(w_.embed.data() + (int64_t)tokens[t] * d, d, x.data() + t * d);
  rmsnorm(x.data(), x.data(), n, d, eps);
  x0 = x;

  std::vector<std::vector<float>> stack, outs(cfg_.skip == SkipKind::Map ? L : 0);
  for (int i = 0; i < L; i++) {
    // skip connections
    if (cfg_.skip == SkipKind::UNet && i >= L / 2) {
      const float w = s[i - L / 2];
      const std::vector<float>& sk = stack.back();
      for (int64_t k = 0; k < n * d; k++) x[k] += w * sk[k];
      stack.pop_back();
    } else if (cfg_.skip == SkipKind::Map && cfg_.skip_from[i] >= 0) {
      const int j = cfg_.skip_from[i];
      const float w = s[j];
      for (int64_t k = 0; k < n * d; k++) x[k] += w * outs[j][k];
    }
    // x = lam0 x + lam1 x0
    const float l0 = s[L + 2 * i], l1 = s[L + 2 * i + 1];
    for (int64_t k = 0; k < n * d; k++) x[k] = l0 * x[k] + l1 * x0[k];

    if (cfg_.has_attn[i]) {
      const ModdedWeights::Layer& W = w_.layers[i];
      const float* hin = x.data();
      if (cfg_.attn_input_norm) {
        rmsnorm(h.data(), x.data(), n, d, eps);
        hin = h.data();
      }
      linear(qkv.data(), hin, W.qkv.data(), n, d, 3 * hd);  // [n, 3 hd]: q heads, k heads, v heads
      float* kc = kcache_[i].data() + p0 * hd;
      float* vc = vcache_[i].data() + p0 * hd;
      for (int64_t t = 0; t < n; t++) {
        const float* r = qkv.data() + t * 3 * hd;
        std::copy_n(r, hd, q.data() + t * hd);
        std::copy_n(r + hd, hd, kc + t * hd);
        std::copy_n(r + 2 * hd, hd, vc + t * hd);
      }
      // QK-norm over each head's D values, then rotary at positions p0..p0+n-1
      rmsnorm(q.data(), q.data(), n * H, D, eps);
      rmsnorm(kc, kc, n * H, D, eps);
      rotary(q.data(), n, H, D, p0, cfg_.rope_base);
      rotary(kc, n, H, D, p0, cfg_.rope_base);
      if (cfg_.v_norm) rmsnorm(vc, vc, n * H, D, eps);
      const float a0 = s[3 * L + 2 * i], a1 = s[3 * L + 2 * i + 1];
      const int ve = cfg_.ve_index[i];
      for (int64_t t = 0; t < n; t++) {
        float* v = vc + t * hd;
        if (ve >= 0) {
          const float* e = w_.value_embeds[ve].data() + (int64_t)tokens[t] * d;  // ve.view_as(v): hd == d
          for (int k = 0; k < hd; k++) v[k] = a0 * v[k] + a1 * e[k];
        } else {
          for (int k = 0; k < hd; k++) v[k] *= a0;
        }
      }
      masked_attention(y.data(), q.data(), kcache_[i].data(), vcache_[i].data(), keys_for(cfg_.window_blocks[i]), n, H, D,
                       cfg_.attn_scale);
      linear_add(x.data(), y.data(), W.o.data(), n, hd, d);  // x += y @ o^T
    }
    // x += relu(norm(x) @ fc^T)^2 @ proj^T
    rmsnorm(h.data(), x.data(), n, d, eps);
    linear(hid.data(), h.data(), w_.layers[i].fc.data(), n, d, F);
    relu_square(hid.data(), n * F);
    linear_add(x.data(), hid.data(), w_.layers[i].proj.data(), n, F, d);

    if (cfg_.skip == SkipKind::UNet && i < L / 2) stack.push_back(x);
    if (cfg_.skip == SkipKind::Map) outs[i] = x;
  }
  cache_len_ = p0 + n;

  // logits = softcap(norm(x) @ lm_head^T)
  const int64_t first = last_only ? n - 1 : 0, rows = n - first;
  rmsnorm(h.data(), x.data() + first * d, rows, d, eps);
  linear(logits, h.data(), w_.lm_head.data(), rows, d, cfg_.head_rows);
  apply_softcap(logits, rows * cfg_.head_rows, cfg_.softcap, d);
}

void ModdedCpu::forward(const int32_t* tokens, int64_t T, float* logits) {
  if (T <= 0) throw std::invalid_argument("forward: no tokens");
  reset_cache(T);
  step(tokens, T, logits, false);
}

std::vector<int32_t> ModdedCpu::generate(const int32_t* prompt, int64_t n_prompt, int max_new_tokens,
                                         const ModdedSample& sp, const std::function<bool(int32_t)>& on_token) {
  if (n_prompt <= 0) throw std::invalid_argument("generate: the prompt is empty");
  const int V = cfg_.head_rows;
  // only ids the embedding has a row for can be fed back
  const int limit = std::min(sp.vocab_limit > 0 ? std::min(sp.vocab_limit, V) : V, cfg_.embed_rows);
  reset_cache(first_cache_capacity(n_prompt, max_new_tokens));
  std::vector<float> logits(V), scratch;
  std::vector<int32_t> out;
  SampleParams params;  // the engine's sampler (sampling.h): same semantics as GPT generation
  params.temperature = sp.temperature;
  params.top_k = sp.top_k;
  params.top_p = sp.top_p;
  params.seed = sp.seed;
  Rng rng(sp.seed);
  step(prompt, n_prompt, logits.data(), true);
  for (int k = 0; k < max_new_tokens; k++) {
    const int32_t tok = sample_token(logits.data(), limit, params, rng, scratch);
    out.push_back(tok);
    if (on_token && !on_token(tok)) break;
    if (k + 1 == max_new_tokens) break;
    step(&tok, 1, logits.data(), true);
  }
  return out;
}

}  // namespace modded
}  // namespace mypt
