// Generation on the CPU with a KV cache (engine.h: generate).
//
// Exactly MyPT's / nanoGPT's loop: each new token is sampled from the logits of the last position of
// the context cropped to its last block_size tokens. While the context fits, only the new tokens run
// through the model (their keys and values join the cache); once it is longer than block_size the
// positions of the cropped window shift, so the whole window is recomputed for every new token.
#include <cstring>
#include <stdexcept>
#include <string>

#include "cpu/engine.h"
#include "cpu/ops.h"
#include "engine/sampling.h"

namespace mypt {

void CpuEngine::decode(const int32_t* tok, int n, int pos0) {
  const int C = cfg_.n_embd, F = cfg_.hidden(), V = cfg_.vocab_size, H = cfg_.n_head, L = cfg_.n_layer;
  const size_t cache = (size_t)cfg_.block_size * C;
  GenState& g = gen_;
  if (g.k.size() != L * cache) {
    g.k.assign(L * cache, 0.0f);
    g.v.assign(L * cache, 0.0f);
  }
  for (auto* v : {&g.x, &g.ln, &g.att, &g.tmp}) v->resize((size_t)n * C);
  g.qkv.resize((size_t)n * 3 * C);
  g.fc.resize((size_t)n * F);
  g.logits.resize(V);
  std::vector<float> mean(n), rstd(n);
  float* x = g.x.data();
  for (int i = 0; i < n; i++)
    for (int c = 0; c < C; c++) x[(size_t)i * C + c] = W_.wte[(size_t)tok[i] * C + c] + W_.wpe[(size_t)(pos0 + i) * C + c];
  for (int l = 0; l < L; l++) {
    const LayerPtrs& w = W_.h[l];
    float* kc = g.k.data() + l * cache;
    float* vc = g.v.data() + l * cache;
    cpu::layernorm_forward(g.ln.data(), mean.data(), rstd.data(), x, w.ln1w, w.ln1b, n, C, cfg_.ln_eps);
    cpu::matmul_forward(g.qkv.data(), g.ln.data(), w.qkvw, w.qkvb, n, C, 3 * C);
    for (int i = 0; i < n; i++) {
      std::memcpy(kc + (size_t)(pos0 + i) * C, g.qkv.data() + (size_t)i * 3 * C + C, C * sizeof(float));
      std::memcpy(vc + (size_t)(pos0 + i) * C, g.qkv.data() + (size_t)i * 3 * C + 2 * C, C * sizeof(float));
    }
    cpu::attention_decode(g.att.data(), g.qkv.data(), kc, vc, n, pos0, C, H, cfg_.scale());
    cpu::matmul_forward(g.tmp.data(), g.att.data(), w.projw, w.projb, n, C, C);
    cpu::add_forward(x, x, g.tmp.data(), (int64_t)n * C);
    cpu::layernorm_forward(g.ln.data(), mean.data(), rstd.data(), x, w.ln2w, w.ln2b, n, C, cfg_.ln_eps);
    cpu::matmul_forward(g.fc.data(), g.ln.data(), w.fcw, w.fcb, n, C, F);
    if (cfg_.activation == Activation::ReLU) cpu::relu_forward(g.fc.data(), g.fc.data(), (int64_t)n * F);
    else if (cfg_.activation == Activation::GELU) cpu::gelu_forward(g.fc.data(), g.fc.data(), (int64_t)n * F);
    else cpu::gelu_tanh_forward(g.fc.data(), g.fc.data(), (int64_t)n * F);
    cpu::matmul_forward(g.tmp.data(), g.fc.data(), w.mlpw, w.mlpb, n, F, C);
    cpu::add_forward(x, x, g.tmp.data(), (int64_t)n * C);
  }
  const float* last = x + (size_t)(n - 1) * C;
  cpu::layernorm_forward(g.ln.data(), mean.data(), rstd.data(), last, W_.lnfw, W_.lnfb, 1, C, cfg_.ln_eps);
  cpu::matmul_forward(g.logits.data(), g.ln.data(), W_.headw, W_.headb, 1, C, V);
}

void CpuEngine::generate(const int32_t* prompt, int n_prompt, int max_new_tokens, const SampleParams& sp,
                         const std::function<bool(int32_t)>& on_token) {
  if (n_prompt < 1) throw std::invalid_argument("the prompt must hold at least one token");
  if (max_new_tokens < 0) throw std::invalid_argument("max_new_tokens must not be negative");
  check_tokens(prompt, n_prompt, "prompt token");
  const int block = cfg_.block_size;
  std::vector<int32_t> ctx(prompt, prompt + n_prompt);
  Rng rng(sp.seed);
  std::vector<float> scratch;
  int cached = 0;  // positions of the cache that hold the current window's prefix
  for (int step = 0; step < max_new_tokens; step++) {
    const int len = (int)ctx.size();
    if (len <= block) {
      decode(ctx.data() + cached, len - cached, cached);
      cached = len;
    } else {
      decode(ctx.data() + (len - block), block, 0);  // window shifted: positions restart
      cached = block;
    }
    const int32_t id = sample_token(gen_.logits.data(), cfg_.vocab_size, sp, rng, scratch);
    ctx.push_back(id);
    if (!on_token(id)) break;
  }
}

}  // namespace mypt
