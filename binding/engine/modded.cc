// The modded-nanogpt forward pass and generation on the CPU (modded.h states the computation).
#include "engine/modded.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>

#include "engine/modded_mask.h"
#include "cpu/modded_ops.h"
#include "engine/sampling.h"
#include "engine/threads.h"

namespace mypt {
namespace modded {

namespace {
[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument("modded config: " + what); }

ModdedConfig base_config(int n_layer, int dim, int n_head, int head_dim, int embed_rows, int head_rows,
                         int scalars_len) {
  ModdedConfig c;
  c.n_layer = n_layer;
  c.dim = dim;
  c.n_head = n_head;
  c.head_dim = head_dim;
  c.mlp_hidden = 4 * dim;
  c.embed_rows = embed_rows;
  c.head_rows = head_rows;
  c.scalars_len = scalars_len;
  // value embeddings 0,1,2 on the first three and the last three layers
  c.ve_index.assign(n_layer > 0 ? n_layer : 0, -1);
  for (int j = 0; j < 3 && j < n_layer; j++) c.ve_index[j] = j;
  for (int j = 0; j < 3 && n_layer - 3 + j >= 0; j++) c.ve_index[n_layer - 3 + j] = j;
  // the 8th layer (index 7) has no attention
  c.has_attn.assign(n_layer > 0 ? n_layer : 0, 1);
  if (n_layer > 7) c.has_attn[7] = 0;
  c.skip_from.assign(n_layer > 0 ? n_layer : 0, -1);
  c.doc_token = embed_rows > 50256 ? 50256 : -1;  // both scripts hard-code the GPT-2 EOT
  c.window_blocks.assign(n_layer > 0 ? n_layer : 0, 0);
  return c;
}

const char* kSmallWindows = "LSSSLSSLSSSL";       // train_gpt.py block_masks
const char* kMediumWindows = "LSSSLSSSSSSLSSSL";  // train_gpt_medium.py block_masks

void set_windows(ModdedConfig& c, const char* pattern, int long_blocks) {
  c.window_blocks.assign(c.n_layer, 0);
  if ((int)std::string(pattern).size() != c.n_layer) return;
  for (int i = 0; i < c.n_layer; i++) c.window_blocks[i] = pattern[i] == 'L' ? long_blocks : long_blocks / 2;
}

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

void ModdedConfig::validate() const {
  auto pos = [](int v, const char* name) {
    if (v <= 0) bad(std::string(name) + " must be positive (got " + std::to_string(v) + ")");
  };
  pos(n_layer, "n_layer");
  pos(dim, "dim");
  pos(n_head, "n_head");
  pos(head_dim, "head_dim");
  pos(mlp_hidden, "mlp_hidden");
  pos(embed_rows, "embed_rows");
  pos(head_rows, "head_rows");
  if (head_dim % 2) bad("head_dim must be even for the half-split rotary (got " + std::to_string(head_dim) + ")");
  if (scalars_len < 5 * n_layer)
    bad("scalars_len " + std::to_string(scalars_len) + " is shorter than 5 * n_layer = " + std::to_string(5 * n_layer));
  if ((int)ve_index.size() != n_layer) bad("ve_index must have n_layer entries");
  if ((int)has_attn.size() != n_layer) bad("has_attn must have n_layer entries");
  bool any_ve = false;
  for (int i = 0; i < n_layer; i++) {
    if (ve_index[i] < -1 || ve_index[i] >= n_value_embeds)
      bad("ve_index[" + std::to_string(i) + "] = " + std::to_string(ve_index[i]) + " is not a value embedding");
    any_ve |= ve_index[i] >= 0 && has_attn[i];
  }
  if (any_ve && hdim() != dim)
    bad("value embeddings need n_head * head_dim == dim (got " + std::to_string(hdim()) + " vs " + std::to_string(dim) + ")");
  if (skip == SkipKind::UNet && n_layer % 2) bad("the U-net skips need an even n_layer");
  if (skip == SkipKind::Map) {
    if ((int)skip_from.size() != n_layer) bad("skip_from must have n_layer entries");
    for (int i = 0; i < n_layer; i++)
      if (skip_from[i] >= i || skip_from[i] < -1)
        bad("skip_from[" + std::to_string(i) + "] = " + std::to_string(skip_from[i]) + " must name an earlier layer or be -1");
  }
  if ((int)softcap < 0 || (int)softcap > 3) bad("unknown softcap");
  if (attn_block <= 0) bad("attn_block must be positive");
  if ((int)window_blocks.size() != n_layer) bad("window_blocks must have n_layer entries");
  for (int i = 0; i < n_layer; i++)
    if (window_blocks[i] < 0) bad("window_blocks[" + std::to_string(i) + "] must be >= 0 (0: no window)");
}

void set_window_pattern(ModdedConfig& c, bool medium, int long_blocks) {
  set_windows(c, medium ? kMediumWindows : kSmallWindows, long_blocks);
}

ModdedConfig small_config(int n_layer, int dim, int n_head, int head_dim, int embed_rows, int head_rows,
                          int scalars_len) {
  ModdedConfig c = base_config(n_layer, dim, n_head, head_dim, embed_rows, head_rows, scalars_len);
  c.attn_input_norm = true;
  c.v_norm = false;
  c.skip = SkipKind::UNet;
  c.softcap = SoftCap::Sigmoid30Scaled;
  set_window_pattern(c, false, 14);  // next_multiple_of_n(1728, 128) / 128
  return c;
}

ModdedConfig medium_config(int n_layer, int dim, int n_head, int head_dim, int embed_rows, int head_rows,
                           int scalars_len) {
  ModdedConfig c = base_config(n_layer, dim, n_head, head_dim, embed_rows, head_rows, scalars_len);
  c.attn_input_norm = false;
  c.v_norm = true;
  c.skip = SkipKind::Map;
  const int map[3][2] = {{9, 6}, {10, 4}, {11, 2}};
  for (auto& m : map)
    if (m[0] < n_layer) c.skip_from[m[0]] = m[1];
  c.softcap = SoftCap::Algebraic15;
  set_window_pattern(c, true, 27);  // next_multiple_of_n(3456, 128) / 128
  return c;
}

ModdedModel::ModdedModel(const ModdedConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  value_embeds_.resize(cfg_.n_value_embeds);
  layers_.resize(cfg_.n_layer);
}

std::vector<std::string> ModdedModel::weight_names() const {
  std::vector<std::string> n = {"embed"};
  for (int j = 0; j < cfg_.n_value_embeds; j++) n.push_back("value_embeds." + std::to_string(j));
  for (int i = 0; i < cfg_.n_layer; i++) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    if (cfg_.has_attn[i]) {
      n.push_back(p + "attn.qkv");
      n.push_back(p + "attn.o");
    }
    n.push_back(p + "mlp.fc");
    n.push_back(p + "mlp.proj");
  }
  n.push_back("lm_head");
  n.push_back("scalars");
  return n;
}

int64_t ModdedModel::expected_numel(const std::string& name) const {
  const int64_t d = cfg_.dim, hd = cfg_.hdim(), F = cfg_.mlp_hidden;
  if (name == "embed") return cfg_.embed_rows * d;
  if (name == "lm_head") return cfg_.head_rows * d;
  if (name == "scalars") return cfg_.scalars_len;
  if (name.rfind("value_embeds.", 0) == 0) {
    const std::string j = name.substr(13);
    for (int k = 0; k < cfg_.n_value_embeds; k++)
      if (j == std::to_string(k)) return cfg_.embed_rows * d;
    return -1;
  }
  for (int i = 0; i < cfg_.n_layer; i++) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    if (name.rfind(p, 0) != 0) continue;
    const std::string r = name.substr(p.size());
    if (r == "attn.qkv" && cfg_.has_attn[i]) return 3 * hd * d;
    if (r == "attn.o" && cfg_.has_attn[i]) return d * hd;
    if (r == "mlp.fc") return F * d;
    if (r == "mlp.proj") return d * F;
    return -1;
  }
  return -1;
}

std::vector<float>* ModdedModel::find(const std::string& name) {
  if (name == "embed") return &embed_;
  if (name == "lm_head") return &lm_head_;
  if (name == "scalars") return &scalars_;
  if (name.rfind("value_embeds.", 0) == 0) return &value_embeds_[std::stoi(name.substr(13))];
  const size_t dot = name.find('.', 7);
  Layer& L = layers_[std::stoi(name.substr(7, dot - 7))];
  const std::string r = name.substr(dot + 1);
  if (r == "attn.qkv") return &L.qkv;
  if (r == "attn.o") return &L.o;
  if (r == "mlp.fc") return &L.fc;
  return &L.proj;
}

std::vector<float>* ModdedModel::slot(const std::string& name, int64_t n) {
  const int64_t want = expected_numel(name);
  if (want < 0) throw std::invalid_argument("modded weights: unknown weight '" + name + "'");
  if (n != want)
    throw std::invalid_argument("modded weights: '" + name + "' has " + std::to_string(n) + " values, expected " +
                                std::to_string(want));
  std::vector<float>* dst = find(name);
  dst->resize(n);
  return dst;
}

void ModdedModel::set_weight(const std::string& name, const float* data, int64_t n) {
  std::copy_n(data, n, slot(name, n)->data());
}

void ModdedModel::set_weight_bf16(const std::string& name, const uint16_t* bits, int64_t n) {
  float* dst = slot(name, n)->data();
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) {
      const uint32_t u = (uint32_t)bits[i] << 16;  // bf16 is the top half of an fp32
      std::memcpy(dst + i, &u, 4);
    }
  });
}

const std::vector<float>& ModdedModel::weight(const std::string& name) const {
  if (expected_numel(name) < 0) throw std::invalid_argument("modded weights: unknown weight '" + name + "'");
  return *const_cast<ModdedModel*>(this)->find(name);
}

void ModdedModel::check_complete() const {
  const auto names = weight_names();
  std::string missing;
  for (const std::string& n : names)
    if ((int64_t)weight(n).size() != expected_numel(n)) missing += (missing.empty() ? "" : ", ") + n;  // set = sized
  if (!missing.empty()) throw std::invalid_argument("modded weights: not set: " + missing);
}

void ModdedModel::reset_cache(int64_t capacity) {
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

void ModdedModel::grow_cache(int64_t capacity) {
  const int64_t hd = cfg_.hdim();
  for (int i = 0; i < cfg_.n_layer; i++)
    if (cfg_.has_attn[i]) {
      kcache_[i].resize(capacity * hd, 0.0f);
      vcache_[i].resize(capacity * hd, 0.0f);
    }
  doc_.resize(capacity, 0);
  cache_cap_ = capacity;
}

void ModdedModel::step(const int32_t* tokens, int64_t n, float* logits, bool last_only) {
  const int L = cfg_.n_layer, d = cfg_.dim, H = cfg_.n_head, D = cfg_.head_dim, hd = cfg_.hdim();
  const int F = cfg_.mlp_hidden;
  const float eps = cfg_.norm_eps;
  const float* s = scalars_.data();
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
  for (int64_t t = 0; t < n; t++) std::copy_n(embed_.data() + (int64_t)tokens[t] * d, d, x.data() + t * d);
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
      const Layer& W = layers_[i];
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
          const float* e = value_embeds_[ve].data() + (int64_t)tokens[t] * d;  // ve.view_as(v): hd == d
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
    linear(hid.data(), h.data(), layers_[i].fc.data(), n, d, F);
    relu_square(hid.data(), n * F);
    linear_add(x.data(), hid.data(), layers_[i].proj.data(), n, F, d);

    if (cfg_.skip == SkipKind::UNet && i < L / 2) stack.push_back(x);
    if (cfg_.skip == SkipKind::Map) outs[i] = x;
  }
  cache_len_ = p0 + n;

  // logits = softcap(norm(x) @ lm_head^T)
  const int64_t first = last_only ? n - 1 : 0, rows = n - first;
  rmsnorm(h.data(), x.data() + first * d, rows, d, eps);
  linear(logits, h.data(), lm_head_.data(), rows, d, cfg_.head_rows);
  apply_softcap(logits, rows * cfg_.head_rows, cfg_.softcap, d);
}

void ModdedModel::forward(const int32_t* tokens, int64_t T, float* logits) {
  check_complete();
  if (T <= 0) throw std::invalid_argument("forward: no tokens");
  reset_cache(T);
  step(tokens, T, logits, false);
}

std::vector<int32_t> ModdedModel::generate(const int32_t* prompt, int64_t n_prompt, int max_new_tokens,
                                           const ModdedSample& sp, const std::function<bool(int32_t)>& on_token) {
  check_complete();
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
