#include "engine/init.h"

#include <cmath>
#include <string>

#include "engine/dropout.h"
#include "engine/threads.h"

namespace mypt {
namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const std::string t(suffix);
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// 53-bit uniform in (0, 1) for counter idx of stream s
double uniform(uint64_t s, uint64_t idx) { return ((mix64(s ^ mix64(idx)) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

// standard normals by Box-Muller: elements 2i and 2i+1 share the uniforms of counters 2i, 2i+1
void normal_pair(uint64_t s, uint64_t i, double* a, double* b) {
  const double u1 = uniform(s, 2 * i), u2 = uniform(s, 2 * i + 1);
  const double r = std::sqrt(-2.0 * std::log(u1)), t = 6.283185307179586 * u2;
  *a = r * std::cos(t);
  *b = r * std::sin(t);
}

}  // namespace

void init_parameters(const ModelConfig& cfg, const ParamLayout& layout, InitKind kind, uint64_t seed, float* dst) {
  for (size_t t = 0; t < layout.params.size(); t++) {
    const ParamInfo& p = layout.params[t];
    const uint64_t s = mix64(seed ^ mix64(0x1417ULL + t));
    float* out = dst + p.offset;
    const bool is_ln = p.name.find("ln") != std::string::npos;
    const bool is_bias = ends_with(p.name, ".bias");
    const bool is_emb = p.name == "wte" || p.name == "wpe";
    auto fill = [&](auto draw) {
      parallel_for(p.numel, 4096, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; i++) out[i] = (float)draw((uint64_t)i);
      });
    };
    auto fill_normal = [&](double sd) {
      parallel_for((p.numel + 1) / 2, 2048, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; i++) {
          double x, y;
          normal_pair(s, (uint64_t)i, &x, &y);
          out[2 * i] = (float)(sd * x);
          if (2 * i + 1 < p.numel) out[2 * i + 1] = (float)(sd * y);
        }
      });
    };
    if (is_ln) {
      fill([&](uint64_t) { return is_bias ? 0.0 : 1.0; });
    } else if (kind == InitKind::PyTorch) {
      if (is_emb) {
        fill_normal(1.0);
      } else {
        // fan_in: the weight's columns; a bias shares its weight's fan_in
        const std::string wname = is_bias ? p.name.substr(0, p.name.size() - 4) + "weight" : p.name;
        const ParamInfo* w = layout.find(wname);
        const int64_t fan_in = w ? w->shape[1] : cfg.n_embd;
        const double bound = 1.0 / std::sqrt((double)fan_in);
        fill([&](uint64_t i) { return (2.0 * uniform(s, i) - 1.0) * bound; });
      }
    } else {
      if (is_bias) {
        fill([&](uint64_t) { return 0.0; });
      } else {
        const bool scaled = ends_with(p.name, "attn.proj.weight") || ends_with(p.name, "mlp.proj.weight");
        const double sd = scaled ? 0.02 / std::sqrt(2.0 * cfg.n_layer) : 0.02;
        fill_normal(sd);
      }
    }
  }
}

}  // namespace mypt
