// The modded-nanogpt forward pass and generation on the CPU (modded.h states the computation).
#include "engine/modded.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>

#include "engine/errors.h"
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

ModdedWeights::ModdedWeights(const ModdedConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  value_embeds.resize(cfg_.n_value_embeds);
  layers.resize(cfg_.n_layer);
}

std::vector<std::string> ModdedWeights::weight_names() const {
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

int64_t ModdedWeights::expected_numel(const std::string& name) const {
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

std::vector<float>* ModdedWeights::find(const std::string& name) {
  if (name == "embed") return &embed;
  if (name == "lm_head") return &lm_head;
  if (name == "scalars") return &scalars;
  if (name.rfind("value_embeds.", 0) == 0) return &value_embeds[std::stoi(name.substr(13))];
  const size_t dot = name.find('.', 7);
  Layer& L = layers[std::stoi(name.substr(7, dot - 7))];
  const std::string r = name.substr(dot + 1);
  if (r == "attn.qkv") return &L.qkv;
  if (r == "attn.o") return &L.o;
  if (r == "mlp.fc") return &L.fc;
  return &L.proj;
}

std::vector<float>* ModdedWeights::slot(const std::string& name, int64_t n) {
  const int64_t want = expected_numel(name);
  if (want < 0) throw std::invalid_argument("modded weights: unknown weight '" + name + "'");
  if (n != want)
    throw std::invalid_argument("modded weights: '" + name + "' has " + std::to_string(n) + " values, expected " +
                                std::to_string(want));
  std::vector<float>* dst = find(name);
  host_alloc(("modded weight " + name).c_str(), (uint64_t)n * 4, [&] { dst->resize(n); });
  return dst;
}

void ModdedWeights::set_weight(const std::string& name, const float* data, int64_t n) {
  std::copy_n(data, n, slot(name, n)->data());
}

void ModdedWeights::set_weight_bf16(const std::string& name, const uint16_t* bits, int64_t n) {
  float* dst = slot(name, n)->data();
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) {
      const uint32_t u = (uint32_t)bits[i] << 16;  // bf16 is the top half of an fp32
      std::memcpy(dst + i, &u, 4);
    }
  });
}

const std::vector<float>& ModdedWeights::weight(const std::string& name) const {
  if (expected_numel(name) < 0) throw std::invalid_argument("modded weights: unknown weight '" + name + "'");
  return *const_cast<ModdedWeights*>(this)->find(name);
}

void ModdedWeights::check_complete() const {
  const auto names = weight_names();
  std::string missing;
  for (const std::string& n : names)
    if ((int64_t)weight(n).size() != expected_numel(n)) missing += (missing.empty() ? "" : ", ") + n;  // set = sized
  if (!missing.empty()) throw std::invalid_argument("modded weights: not set: " + missing);
}

void rotary_freqs(float* freqs, int D, float base) {
  const int half = D / 2, q = D / 4;
  // torch.linspace(0, 1, q) in fp32: step = 1/(q-1); the first half counts up from 0, the second
  // half counts down from 1 (that is how PyTorch fills it), then (1/base) ** value in fp32.
  const float step = q > 1 ? 1.0f / (float)(q - 1) : 0.0f;
  for (int j = 0; j < half; j++) {
    if (j >= q) {
      freqs[j] = 0.0f;
      continue;
    }
    float t = (j < q / 2) ? (float)j * step : 1.0f - (float)(q - 1 - j) * step;
    if (q == 1) t = 0.0f;
    freqs[j] = std::pow(1.0f / base, t);
  }
}

}  // namespace modded
}  // namespace mypt
