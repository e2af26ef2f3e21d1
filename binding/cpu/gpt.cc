// The GPT forward and backward on the CPU (both families: config.h's options), pre-LayerNorm blocks:
//   x = wte[tok] + wpe[pos]  (dropout if embd_dropout)
//   per block: x = x + drop(proj(attn(ln1(x))));  x = x + drop(mlp.proj(act(mlp.fc(ln2(x)))))
//   logits = lnf(x) @ head^T (+ head.bias), head = wte when tied
// Dropout masks come from dropout_stream(seed, call, layer, site) (dropout.h), regenerated in the backward.
#include <cstring>

#include "cpu/engine.h"
#include "cpu/ops.h"
#include "engine/dropout.h"
#include "engine/threads.h"

namespace mypt {
namespace {

void zero(std::vector<float>& v) {
  float* p = v.data();
  parallel_for((int64_t)v.size(), 65536, [=](int64_t b, int64_t e) { std::memset(p + b, 0, (e - b) * sizeof(float)); });
}

void act_forward(Activation a, float* out, const float* inp, int64_t n) {
  if (a == Activation::ReLU) cpu::relu_forward(out, inp, n);
  else if (a == Activation::GELU) cpu::gelu_forward(out, inp, n);
  else cpu::gelu_tanh_forward(out, inp, n);
}

void act_backward(Activation a, float* dinp, const float* inp, const float* dout, int64_t n) {
  if (a == Activation::ReLU) cpu::relu_backward(dinp, inp, dout, n);
  else if (a == Activation::GELU) cpu::gelu_backward(dinp, inp, dout, n);
  else cpu::gelu_tanh_backward(dinp, inp, dout, n);
}

}  // namespace

void Acts::resize(const ModelConfig& cfg, int B_, int T_, bool backward) {
  B = B_;
  T = T_;
  const size_t BT = (size_t)B * T, C = cfg.n_embd, F = cfg.hidden(), V = cfg.vocab_size, L = cfg.n_layer;
  res.resize((L + 1) * BT * C);
  layers.resize(L);
  for (auto& a : layers) {
    for (auto* v : {&a.ln1, &a.att, &a.xmid, &a.ln2}) v->resize(BT * C);
    for (auto* v : {&a.ln1_mean, &a.ln1_rstd, &a.ln2_mean, &a.ln2_rstd}) v->resize(BT);
    a.qkv.resize(BT * 3 * C);
    a.lse.resize((size_t)B * cfg.n_head * T);
    a.fc.resize(BT * F);
    a.act.resize(BT * F);
  }
  lnf.resize(BT * C);
  lnf_mean.resize(BT);
  lnf_rstd.resize(BT);
  logits.resize(BT * V);
  losses.resize(BT);
  tmp.resize(BT * C);
  if (backward) {
    for (auto* v : {&dres, &dtmp, &dln, &datt}) v->resize(BT * C);
    dqkv.resize(BT * 3 * C);
    dfc.resize(BT * F);
    dlogits.resize(BT * V);
  }
}

void CpuEngine::run_forward(const int32_t* tok, int B, int T, float p, uint64_t call, bool backward) {
  acts_.resize(cfg_, B, T, backward);
  const int64_t BT = (int64_t)B * T;
  const int C = cfg_.n_embd, F = cfg_.hidden(), V = cfg_.vocab_size, H = cfg_.n_head, L = cfg_.n_layer;
  const float eps = cfg_.ln_eps;
  float* x = acts_.res.data();
  parallel_for(BT, 64, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      const float* te = W_.wte + (int64_t)tok[r] * C;
      const float* pe = W_.wpe + (r % T) * C;
      for (int c = 0; c < C; c++) x[r * C + c] = te[c] + pe[c];
    }
  });
  if (p > 0.0f && cfg_.embd_dropout) cpu::dropout_forward(x, x, BT * C, p, dropout_stream(seed_, call, L, 3), 0);
  float* tmp = acts_.tmp.data();
  for (int l = 0; l < L; l++) {
    LayerActs& a = acts_.layers[l];
    const LayerPtrs& w = W_.h[l];
    const float* xin = x + l * BT * C;
    float* xout = x + (l + 1) * BT * C;
    cpu::layernorm_forward(a.ln1.data(), a.ln1_mean.data(), a.ln1_rstd.data(), xin, w.ln1w, w.ln1b, BT, C, eps);
    cpu::matmul_forward(a.qkv.data(), a.ln1.data(), w.qkvw, w.qkvb, BT, C, 3 * C);
    cpu::attention_forward(a.att.data(), a.lse.data(), a.qkv.data(), B, T, C, H, cfg_.scale(), p,
                           dropout_stream(seed_, call, l, 0), 0);
    cpu::matmul_forward(tmp, a.att.data(), w.projw, w.projb, BT, C, C);
    if (p > 0.0f) cpu::dropout_forward(tmp, tmp, BT * C, p, dropout_stream(seed_, call, l, 1), 0);
    cpu::add_forward(a.xmid.data(), xin, tmp, BT * C);
    cpu::layernorm_forward(a.ln2.data(), a.ln2_mean.data(), a.ln2_rstd.data(), a.xmid.data(), w.ln2w, w.ln2b,
                           BT, C, eps);
    cpu::matmul_forward(a.fc.data(), a.ln2.data(), w.fcw, w.fcb, BT, C, F);
    act_forward(cfg_.activation, a.act.data(), a.fc.data(), BT * F);
    cpu::matmul_forward(tmp, a.act.data(), w.mlpw, w.mlpb, BT, F, C);
    if (p > 0.0f) cpu::dropout_forward(tmp, tmp, BT * C, p, dropout_stream(seed_, call, l, 2), 0);
    cpu::add_forward(xout, a.xmid.data(), tmp, BT * C);
  }
  cpu::layernorm_forward(acts_.lnf.data(), acts_.lnf_mean.data(), acts_.lnf_rstd.data(), x + L * BT * C, W_.lnfw,
                         W_.lnfb, BT, C, eps);
  cpu::matmul_forward(acts_.logits.data(), acts_.lnf.data(), W_.headw, W_.headb, BT, C, V);
}

void CpuEngine::run_backward(const int32_t* tok, int B, int T, float p, uint64_t call) {
  const int64_t BT = (int64_t)B * T;
  const int C = cfg_.n_embd, F = cfg_.hidden(), V = cfg_.vocab_size, H = cfg_.n_head, L = cfg_.n_layer;
  Acts& A = acts_;
  float* x = A.res.data();
  float* dres = A.dres.data();  // gradient of the residual stream, walked from the top down
  zero(A.dres);
  zero(A.dln);
  cpu::matmul_backward(A.dln.data(), G_.headw, G_.headb, A.dlogits.data(), A.lnf.data(), W_.headw, BT, C, V);
  cpu::layernorm_backward(dres, G_.lnfw, G_.lnfb, A.dln.data(), x + L * BT * C, W_.lnfw, A.lnf_mean.data(),
                          A.lnf_rstd.data(), BT, C);
  grads_final(0);  // lnf and the head are final (a tied head's wte is not: the embeddings add to it)
  for (int l = L - 1; l >= 0; l--) {
    LayerActs& a = A.layers[l];
    const LayerPtrs& w = W_.h[l];
    const LayerPtrs& g = G_.h[l];
    // MLP branch: xout = xmid + drop(mlp)
    const float* dbranch = dres;
    if (p > 0.0f) {
      cpu::dropout_backward(A.dtmp.data(), dres, BT * C, p, dropout_stream(seed_, call, l, 2), 0);
      dbranch = A.dtmp.data();
    }
    zero(A.dfc);
    cpu::matmul_backward(A.dfc.data(), g.mlpw, g.mlpb, dbranch, a.act.data(), w.mlpw, BT, F, C);
    act_backward(cfg_.activation, A.dfc.data(), a.fc.data(), A.dfc.data(), BT * F);
    zero(A.dln);
    cpu::matmul_backward(A.dln.data(), g.fcw, g.fcb, A.dfc.data(), a.ln2.data(), w.fcw, BT, C, F);
    cpu::layernorm_backward(dres, g.ln2w, g.ln2b, A.dln.data(), a.xmid.data(), w.ln2w, a.ln2_mean.data(),
                            a.ln2_rstd.data(), BT, C);
    // attention branch: xmid = xin + drop(proj(attn))
    dbranch = dres;
    if (p > 0.0f) {
      cpu::dropout_backward(A.dtmp.data(), dres, BT * C, p, dropout_stream(seed_, call, l, 1), 0);
      dbranch = A.dtmp.data();
    }
    zero(A.datt);
    cpu::matmul_backward(A.datt.data(), g.projw, g.projb, dbranch, a.att.data(), w.projw, BT, C, C);
    cpu::attention_backward(A.dqkv.data(), A.datt.data(), a.qkv.data(), a.att.data(), a.lse.data(), B, T, C, H,
                            cfg_.scale(), p, dropout_stream(seed_, call, l, 0), 0);
    zero(A.dln);
    cpu::matmul_backward(A.dln.data(), g.qkvw, g.qkvb, A.dqkv.data(), a.ln1.data(), w.qkvw, BT, C, 3 * C);
    cpu::layernorm_backward(dres, g.ln1w, g.ln1b, A.dln.data(), x + l * BT * C, w.ln1w, a.ln1_mean.data(),
                            a.ln1_rstd.data(), BT, C);
    grads_final(L - l);  // block l is final
  }
  if (p > 0.0f && cfg_.embd_dropout)
    cpu::dropout_backward(dres, dres, BT * C, p, dropout_stream(seed_, call, L, 3), 0);
  // embeddings: scatter-add in row order (deterministic; a token may repeat)
  for (int64_t r = 0; r < BT; r++) {
    float* gte = G_.wte + (int64_t)tok[r] * C;
    float* gpe = G_.wpe + (r % T) * C;
    const float* d = dres + r * C;
    for (int c = 0; c < C; c++) {
      gte[c] += d[c];
      gpe[c] += d[c];
    }
  }
  grads_final(L + 1);  // everything
}

}  // namespace mypt
