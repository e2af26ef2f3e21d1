#include "engine/config.h"

#include <cmath>
#include <stdexcept>

namespace mypt {

float ModelConfig::scale() const {
  return attn_scale > 0.0f ? attn_scale : 1.0f / std::sqrt((float)head_size());
}

void ModelConfig::validate() const {
  auto need = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(what);
  };
  need(vocab_size > 0 && vocab_size <= (1 << 24), "vocab_size must be between 1 and 16777216");
  need(block_size > 0 && block_size <= (1 << 20), "block_size must be between 1 and 1048576");
  need(n_layer > 0 && n_layer <= 1024, "n_layer must be between 1 and 1024");
  need(n_head > 0, "n_head must be positive");
  need(n_embd > 0 && n_embd <= (1 << 16), "n_embd must be between 1 and 65536");
  need(n_embd % n_head == 0, "n_embd must be a multiple of n_head");
  need(mlp_hidden >= 0, "mlp_hidden must not be negative");
  need(dropout >= 0.0f && dropout < 1.0f, "dropout must be in [0, 1)");
  need(attn_scale >= 0.0f && std::isfinite(attn_scale), "attn_scale must be a finite non-negative number");
  need(ln_eps > 0.0f, "ln_eps must be positive");
}

ParamLayout::ParamLayout(const ModelConfig& c) {
  const int64_t V = c.vocab_size, C = c.n_embd, F = c.hidden(), P = c.block_size;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    ParamInfo p;
    p.name = std::move(name);
    p.shape = std::move(shape);
    p.numel = 1;
    for (int64_t d : p.shape) p.numel *= d;
    p.offset = total;
    p.is_matrix = p.shape.size() >= 2;
    total += p.numel;
    params.push_back(std::move(p));
  };
  add("wte", {V, C});
  add("wpe", {P, C});
  for (int i = 0; i < c.n_layer; i++) {
    const std::string h = "h." + std::to_string(i) + ".";
    add(h + "ln1.weight", {C});
    if (c.ln_bias) add(h + "ln1.bias", {C});
    add(h + "attn.qkv.weight", {3 * C, C});
    if (c.qkv_bias) add(h + "attn.qkv.bias", {3 * C});
    add(h + "attn.proj.weight", {C, C});
    if (c.proj_bias) add(h + "attn.proj.bias", {C});
    add(h + "ln2.weight", {C});
    if (c.ln_bias) add(h + "ln2.bias", {C});
    add(h + "mlp.fc.weight", {F, C});
    if (c.mlp_bias) add(h + "mlp.fc.bias", {F});
    add(h + "mlp.proj.weight", {C, F});
    if (c.mlp_bias) add(h + "mlp.proj.bias", {C});
  }
  add("lnf.weight", {C});
  if (c.ln_bias) add("lnf.bias", {C});
  if (!c.tied_head) add("head.weight", {V, C});
  if (c.head_bias) add("head.bias", {V});
}

const ParamInfo* ParamLayout::find(const std::string& name) const {
  for (const auto& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace mypt
