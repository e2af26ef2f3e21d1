// The CPU's multi-slot decoder (engine/decoder.h): every active sequence's new tokens go through the model
// together, so each weight matrix is read once per step for all of them (the CPU is memory bound when
// decoding one token). Each slot has its own KV cache region, position, sampling settings and generator.
//
// Bit for bit what generate() gives each sequence alone: the rows of a slot decoding at most 4 tokens
// (one new token, a short prompt) go through matmul_forward_rows, the path generate() takes for them; the
// rows of longer prompts (and recomputed windows) through the packed GEMM, whose result for a row does not
// depend on the other rows. Layer norm, attention (per slot, its own cache), activations and sampling are
// per row or per slot.
#include <cstring>
#include <stdexcept>
#include <string>

#include "cpu/engine.h"
#include "cpu/ops.h"
#include "engine/decoder.h"
#include "engine/errors.h"
#include "engine/sampling.h"

namespace mypt {

class CpuDecoder final : public Decoder {
 public:
  CpuDecoder(CpuEngine& e, int slots) : e_(e), slots_(checked(slots)) {}
  int slots() const override { return (int)slots_.size(); }

  void check_prompt(const int32_t* prompt, int n) const override {
    if (n < 1) throw std::invalid_argument("the prompt must hold at least one token");
    e_.check_tokens(prompt, n, "prompt token");
  }

  void join(int slot, const int32_t* prompt, int n, int max_new, const SampleParams& sp) override {
    check_prompt(prompt, n);
    Slot& s = slots_.at(slot);
    if (s.active) throw std::logic_error("decoder slot " + std::to_string(slot) + " is taken");
    const ModelConfig& c = e_.cfg_;
    const size_t cache = (size_t)c.n_layer * c.block_size * c.n_embd;
    if (s.k.size() != cache) {
      host_alloc("the KV cache of a decoder slot", 2 * cache * sizeof(float), [&] {
        s.k.assign(cache, 0.0f);
        s.v.assign(cache, 0.0f);
        return 0;
      });
    }
    s.ctx.assign(prompt, prompt + n);
    s.cached = 0;
    s.made = 0;
    s.max_new = max_new;
    s.sp = sp;
    s.rng = Rng(sp.seed);
    s.active = max_new > 0;
  }

  void leave(int slot) override { slots_.at(slot).active = false; }
  bool active(int slot) const override { return slots_.at(slot).active; }

  void step(int32_t* out) override;

 private:
  static size_t checked(int slots) {
    if (slots < 1) throw std::invalid_argument("a decoder needs at least 1 slot, got " + std::to_string(slots));
    return (size_t)slots;
  }

  struct Slot {
    bool active = false;
    std::vector<int32_t> ctx;
    int cached = 0, made = 0, max_new = 0;
    SampleParams sp;
    Rng rng{0};
    std::vector<float> k, v, scratch;  // k, v: L x [block_size, C]
    // this step: rows [row0, row0 + n) of the batch, first position pos0
    int row0 = 0, n = 0, pos0 = 0;
  };

  // out[rows, OC] = inp @ w^T + b: the first `few` rows as generate() decodes <= 4 tokens, the rest by GEMM
  void linear(float* out, const float* inp, const float* w, const float* b, int rows, int few, int Cin, int OC) {
    if (few > 0) cpu::matmul_forward_rows(out, inp, w, b, few, Cin, OC);
    if (rows > few) cpu::matmul_forward(out + (size_t)few * OC, inp + (size_t)few * Cin, w, b, rows - few, Cin, OC);
  }

  CpuEngine& e_;
  std::vector<Slot> slots_;
  std::vector<int32_t> tok_;
  std::vector<float> x_, ln_, qkv_, att_, tmp_, fc_, mean_, rstd_, last_, logits_;
};

void CpuDecoder::step(int32_t* out) {
  const ModelConfig& c = e_.cfg_;
  const ModelPtrs& W = e_.W_;
  const int C = c.n_embd, F = c.hidden(), V = c.vocab_size, H = c.n_head, L = c.n_layer, block = c.block_size;
  const size_t cache = (size_t)block * C;
  const int S = (int)slots_.size();
  // rows: slots with at most 4 new tokens first (the few-rows path), then the longer ones
  int rows = 0, few = 0, act = 0;
  tok_.clear();
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < S; i++) {
      Slot& s = slots_[i];
      out[i] = -1;
      if (!s.active) continue;
      const int len = (int)s.ctx.size();
      const int start = len <= block ? s.cached : len - block;
      const int n = len - start;
      if ((n <= 4) != (pass == 0)) continue;
      s.row0 = rows;
      s.n = n;
      s.pos0 = len <= block ? s.cached : 0;  // a shifted window restarts at position 0
      tok_.insert(tok_.end(), s.ctx.begin() + start, s.ctx.end());
      rows += n;
      act++;
    }
    if (pass == 0) few = rows;
  }
  if (act == 0) return;
  for (auto* v : {&x_, &ln_, &att_, &tmp_}) v->resize((size_t)rows * C);
  qkv_.resize((size_t)rows * 3 * C);
  fc_.resize((size_t)rows * F);
  mean_.resize(rows);
  rstd_.resize(rows);
  float* x = x_.data();
  for (int i = 0; i < S; i++) {
    const Slot& s = slots_[i];
    if (!s.active) continue;
    for (int r = 0; r < s.n; r++) {
      const int32_t t = tok_[s.row0 + r];
      float* xr = x + (size_t)(s.row0 + r) * C;
      for (int j = 0; j < C; j++) xr[j] = W.wte[(size_t)t * C + j] + W.wpe[(size_t)(s.pos0 + r) * C + j];
    }
  }
  for (int l = 0; l < L; l++) {
    const LayerPtrs& w = W.h[l];
    cpu::layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x, w.ln1w, w.ln1b, rows, C, c.ln_eps);
    linear(qkv_.data(), ln_.data(), w.qkvw, w.qkvb, rows, few, C, 3 * C);
    for (int i = 0; i < S; i++) {
      Slot& s = slots_[i];
      if (!s.active) continue;
      float* kc = s.k.data() + l * cache;
      float* vc = s.v.data() + l * cache;
      for (int r = 0; r < s.n; r++) {
        const float* q = qkv_.data() + (size_t)(s.row0 + r) * 3 * C;
        std::memcpy(kc + (size_t)(s.pos0 + r) * C, q + C, C * sizeof(float));
        std::memcpy(vc + (size_t)(s.pos0 + r) * C, q + 2 * C, C * sizeof(float));
      }
      cpu::attention_decode(att_.data() + (size_t)s.row0 * C, qkv_.data() + (size_t)s.row0 * 3 * C, kc, vc, s.n, s.pos0, C, H,
                            c.scale());
    }
    linear(tmp_.data(), att_.data(), w.projw, w.projb, rows, few, C, C);
    cpu::add_forward(x, x, tmp_.data(), (int64_t)rows * C);
    cpu::layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x, w.ln2w, w.ln2b, rows, C, c.ln_eps);
    linear(fc_.data(), ln_.data(), w.fcw, w.fcb, rows, few, C, F);
    if (c.activation == Activation::ReLU) cpu::relu_forward(fc_.data(), fc_.data(), (int64_t)rows * F);
    else if (c.activation == Activation::GELU) cpu::gelu_forward(fc_.data(), fc_.data(), (int64_t)rows * F);
    else cpu::gelu_tanh_forward(fc_.data(), fc_.data(), (int64_t)rows * F);
    linear(tmp_.data(), fc_.data(), w.mlpw, w.mlpb, rows, few, F, C);
    cpu::add_forward(x, x, tmp_.data(), (int64_t)rows * C);
  }
  // the last row of each slot: final norm and head, one row each as generate() does
  last_.resize((size_t)act * C);
  logits_.resize((size_t)act * V);
  std::vector<int> order;
  for (int i = 0; i < S; i++) {
    const Slot& s = slots_[i];
    if (!s.active) continue;
    std::memcpy(last_.data() + order.size() * C, x + (size_t)(s.row0 + s.n - 1) * C, C * sizeof(float));
    order.push_back(i);
  }
  cpu::layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), last_.data(), W.lnfw, W.lnfb, act, C, c.ln_eps);
  cpu::matmul_forward_rows(logits_.data(), ln_.data(), W.headw, W.headb, act, C, V);
  for (size_t k = 0; k < order.size(); k++) {
    Slot& s = slots_[order[k]];
    const int32_t id = sample_token(logits_.data() + k * V, V, s.sp, s.rng, s.scratch);
    const int len = (int)s.ctx.size();
    s.cached = len <= block ? len : block;
    s.ctx.push_back(id);
    s.made++;
    out[order[k]] = id;
    if (s.made >= s.max_new) s.active = false;
  }
}

std::unique_ptr<Decoder> CpuEngine::make_decoder(int slots) { return std::make_unique<CpuDecoder>(*this, slots); }

}  // namespace mypt
