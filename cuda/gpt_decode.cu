// GptDecoder (gpt_decode.cuh): generation with a KV cache on the GPU.
#include "gpt_decode.cuh"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention_rows.cuh"
#include "encoder.cuh"
#include "gemv.cuh"
#include "layernorm.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

template <typename T>
GptDecoder<T>::Ring::~Ring() {
  if (ids) cudaFreeHost(ids);
  for (cudaEvent_t e : ev)
    if (e) cudaEventDestroy(e);
}

template <typename T>
GptDecoder<T>::GptDecoder(GptModel<T>& gpt)
    : gpt_(gpt), cfg_(gpt.cfg), layout_(gpt.layout), s_(gpt.s), gemm_(gpt.gemm.get()),
      L_(gpt.L), wte_(gpt.wte), wpe_(gpt.wpe), lnfw_(gpt.lnfw), lnfb_(gpt.lnfb), headw_(gpt.headw), headb_(gpt.headb) {
  const char* env = std::getenv("MYPT_DECODE_FUSED");
  const auto aligned = [](int64_t off) { return off < 0 || (off * (int64_t)sizeof(T)) % 16 == 0; };
  fused_ = !(env && std::string(env) == "0") && cfg_.n_embd % 8 == 0 && cfg_.hidden() % 8 == 0;
  for (const LayerOff& w : L_)
    fused_ = fused_ && aligned(headw_) && aligned(w.ln1w) && aligned(w.ln1b) && aligned(w.ln2w) && aligned(w.ln2b) && aligned(w.qkvw) &&
             aligned(w.projw) && aligned(w.fcw) && aligned(w.mlpw);
}

// The buffers of one sequence of up to block_size positions (what a decode step of n <= block_size
// tokens reads and writes), allocated on the first generation.
template <typename T>
void GptDecoder<T>::ensure_buffers() {
  const size_t block = cfg_.block_size, C = cfg_.n_embd, F = cfg_.hidden();
  x_.ensure(2 * block * C);  // the residual stream and its mid-block copy
  ln_.ensure(block * C);
  qkv_.ensure(block * 3 * C);
  att_.ensure(block * C);
  pre_.ensure(block * F);
  act_.ensure(block * F);
  tmp_.ensure(block * C);
  stats_.ensure(2 * block);  // LayerNorm mean, rstd
  lrow_.ensure(cfg_.vocab_size);
}

// Steady-state tokens run ahead of the host by one: token t + 1 is launched (its input id is already on
// the device) before token t's id is read back and handed to on_token, so the GPU never waits for the
// host between tokens. A stop after token t leaves token t + 1 computed and unused. Tokens of the host
// path (the first, and each once the context is past block_size) are handed over as soon as they exist.
template <typename T>
void GptDecoder<T>::generate(const int32_t* prompt, int n_prompt, int max_new_tokens, const SampleParams& sp,
                             const std::function<bool(int32_t)>& on_token) {
  if (n_prompt < 1) throw std::invalid_argument("the prompt must hold at least one token");
  if (max_new_tokens < 0) throw std::invalid_argument("max_new_tokens must not be negative");
  gpt_.check_tokens(prompt, n_prompt, "prompt token");
  use();
  const int block = cfg_.block_size, C = cfg_.n_embd, L = cfg_.n_layer;
  kcache_.ensure((size_t)L * block * C);
  vcache_.ensure((size_t)L * block * C);
  gen_tok_.ensure(block);
  gen_logits_.ensure(cfg_.vocab_size);
  gen_id_.ensure(1);
  ensure_buffers();
  gen_pos_.ensure(1);
  gen_draw_.ensure(1);
  if (!ring_.ids) {
    ring_.ids = (int32_t*)cuda_malloc_host(2 * sizeof(int32_t), "the sampled ids");
    for (cudaEvent_t& e : ring_.ev) CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  std::vector<int32_t> ctx(prompt, prompt + n_prompt);
  int cached = 0;
  uint64_t draws = 0;
  bool id_on_device = false;  // the last sampled id is in gen_id_
  bool pos_on_device = false;  // gen_pos_ holds `cached`
  bool draw_on_device = false;  // gen_draw_ holds `draws`
  int pending = -1;  // the ring slot of a token launched and not yet handed over
  GraphGuard graph;
  // hands over the token of ring slot k; false to stop
  const auto take = [&](int k) {
    CUDA_CHECK(cudaEventSynchronize(ring_.ev[k]));
    const int32_t id = ring_.ids[k];
    ctx.push_back(id);
    return on_token(id);
  };
  try {
    for (int step = 0; step < max_new_tokens; step++) {
      const int len = (int)ctx.size() + (pending >= 0 ? 1 : 0);
      const int slot = step & 1;
      const bool steady = len <= block && len - cached == 1 && id_on_device;
      if (steady) {
        // steady state: one token through a CUDA graph captured once per call (position, sampling counter
        // and input id on the device)
        if (!pos_on_device) {
          pos_host_ = cached;
          CUDA_CHECK(cudaMemcpyAsync(gen_pos_.p, &pos_host_, 4, cudaMemcpyHostToDevice, s_));
          pos_on_device = true;
        }
        if (!draw_on_device) {
          draw_host_ = draws;
          CUDA_CHECK(cudaMemcpyAsync(gen_draw_.p, &draw_host_, 8, cudaMemcpyHostToDevice, s_));
          draw_on_device = true;
        }
        if (!graph.exec) {
          CUDA_CHECK(cudaStreamBeginCapture(s_, cudaStreamCaptureModeRelaxed));
          try {
            decode(gen_id_.p, 1, 0, gen_pos_.p);
            sample_token(gen_id_.p, gen_logits_.p, cfg_.vocab_size, sp.temperature, sp.top_k, sp.top_p, sp.seed, 0,
                         s_, gen_draw_.p);
          } catch (...) {
            cudaGraph_t g;
            cudaStreamEndCapture(s_, &g);
            if (g) cudaGraphDestroy(g);
            throw;
          }
          CUDA_CHECK(cudaStreamEndCapture(s_, &graph.graph));
          CUDA_CHECK(cudaGraphInstantiate(&graph.exec, graph.graph, 0));
        }
        CUDA_CHECK(cudaGraphLaunch(graph.exec, s_));
        cached = len;
      } else {
        if (pending >= 0) {  // the host path needs every id so far
          if (!take(pending)) return;
          pending = -1;
        }
        const int n = (int)ctx.size();
        if (n <= block) {
          CUDA_CHECK(cudaMemcpyAsync(gen_tok_.p, ctx.data() + cached, (size_t)(n - cached) * 4, cudaMemcpyHostToDevice,
                                     s_));
          decode(gen_tok_.p, n - cached, cached, nullptr);
          cached = n;
        } else {
          CUDA_CHECK(cudaMemcpyAsync(gen_tok_.p, ctx.data() + (n - block), (size_t)block * 4, cudaMemcpyHostToDevice,
                                     s_));
          decode(gen_tok_.p, block, 0, nullptr);
          cached = block;
        }
        pos_on_device = false;
        draw_on_device = false;
        sample_token(gen_id_.p, gen_logits_.p, cfg_.vocab_size, sp.temperature, sp.top_k, sp.top_p, sp.seed, draws, s_);
      }
      if (sp.temperature > 0.0f) draws++;
      id_on_device = true;
      CUDA_CHECK(cudaMemcpyAsync(ring_.ids + slot, gen_id_.p, 4, cudaMemcpyDeviceToHost, s_));
      CUDA_CHECK(cudaEventRecord(ring_.ev[slot], s_));
      if (pending >= 0) {
        const bool go = take(pending);
        pending = -1;
        if (!go) break;  // the token just launched is left unused
      }
      if (steady) {
        pending = slot;
      } else if (!take(slot)) {  // a token of the host path (the first one, say) is handed over at once
        break;
      }
    }
    if (pending >= 0) take(pending);
  } catch (...) {
    cudaStreamSynchronize(s_);
    throw;
  }
  sync();
}

template <typename T>
void GptDecoder<T>::decode(const int32_t* tok, int n, int pos0, int32_t* pos_dev) {
  const int C = cfg_.n_embd, F = cfg_.hidden(), V = cfg_.vocab_size, L = cfg_.n_layer, H = cfg_.n_head;
  const int hs = cfg_.head_size();
  const size_t cache = (size_t)cfg_.block_size * C;
  const float eps = cfg_.ln_eps;
  T* x = x_.p;
  T* x2 = x_.p + (size_t)n * C;
  T* ln = ln_.p;
  T* qkv = qkv_.p;
  T* att = att_.p;
  T* pre = pre_.p;
  T* act = act_.p;
  float* mean = stats_.p;
  float* rstd = stats_.p + cfg_.block_size;
  encoder_forward<T>(x, tok, W(wte_), W(wpe_), 1, n, C, pos0, s_, pos_dev);
  if (fused_ && n <= kGemvMaxRows) {
    decode_fused(n, pos0, pos_dev);
    return;
  }
  residual_layernorm_forward<T>(nullptr, ln, mean, rstd, x, nullptr, W(L_[0].ln1w), W(L_[0].ln1b), n, C, eps, 0.0f, 0,
                                s_);
  for (int l = 0; l < L; l++) {
    const LayerOff& w = L_[l];
    T* kc = kcache_.p + l * cache;
    T* vc = vcache_.p + l * cache;
    linear_forward<T>(*gemm_, qkv, ln, W(w.qkvw), W(w.qkvb), n, C, 3 * C, s_);
    kv_append<T>(kc, vc, qkv, n, C, pos0, pos_dev, s_);
    AttnView<T> v{qkv, 0, 3 * (int64_t)C, kc, 0, C, vc, 0, C, att, 0, C};
    attention_rows_forward<T>(v, nullptr, 1, n, H, hs, pos0, cfg_.scale(), 0.0f, 0, s_, pos_dev);
    linear_forward<T>(*gemm_, tmp_.p, att, W(w.projw), W(w.projb), n, C, C, s_);
    residual_layernorm_forward<T>(x2, ln, mean, rstd, x, tmp_.p, W(w.ln2w), W(w.ln2b), n, C, eps, 0.0f, 0, s_);
    gpt_.mlp_up(act, pre, ln, w, n);
    linear_forward<T>(*gemm_, tmp_.p, act, W(w.mlpw), W(w.mlpb), n, F, C, s_);
    const bool last = l + 1 == L;
    residual_layernorm_forward<T>(x, ln, mean, rstd, x2, tmp_.p, last ? W(lnfw_) : W(L_[l + 1].ln1w),
                                  last ? W(lnfb_) : W(L_[l + 1].ln1b), n, C, eps, 0.0f, 0, s_);
  }
  // logits of the last row only
  T* lrow = lrow_.p;
  linear_forward<T>(*gemm_, lrow, ln + (size_t)(n - 1) * C, W(headw_), W(headb_), 1, C, V, s_);
  convert<float, T>(gen_logits_.p, lrow, V, s_);
  if (pos_dev) advance_position(pos_dev, n, s_);
}

// The same step for a few rows as five kernels a layer, each GEMV with the LayerNorm before it, the residual
// add or the KV-cache write after it (gemv.cuh), launched so that each starts while the one before ends.
template <typename T>
void GptDecoder<T>::decode_fused(int n, int pos0, int32_t* pos_dev) {
  const int C = cfg_.n_embd, F = cfg_.hidden(), V = cfg_.vocab_size, L = cfg_.n_layer, H = cfg_.n_head;
  const int hs = cfg_.head_size();
  const size_t cache = (size_t)cfg_.block_size * C;
  T* x = x_.p;
  T* x2 = x_.p + (size_t)n * C;
  for (int l = 0; l < L; l++) {
    const LayerOff& w = L_[l];
    T* kc = kcache_.p + l * cache;
    T* vc = vcache_.p + l * cache;
    GemvOp<T> qkv;  // qkv = LN1(x) W^T + b, keys and values also into the cache
    qkv.out = qkv_.p; qkv.inp = x; qkv.w = W(w.qkvw); qkv.bias = W(w.qkvb); qkv.M = n; qkv.K = C; qkv.N = 3 * C;
    qkv.ln_w = W(w.ln1w); qkv.ln_b = W(w.ln1b); qkv.eps = cfg_.ln_eps;
    qkv.kc = kc; qkv.vc = vc; qkv.pos_dev = pos_dev; qkv.pos0 = pos0;
    gemv_forward(qkv, s_);
    AttnView<T> v{qkv_.p, 0, 3 * (int64_t)C, kc, 0, C, vc, 0, C, att_.p, 0, C};
    attention_rows_forward<T>(v, nullptr, 1, n, H, hs, pos0, cfg_.scale(), 0.0f, 0, s_, pos_dev);
    GemvOp<T> proj;  // x2 = x + att W^T + b
    proj.out = x2; proj.inp = att_.p; proj.w = W(w.projw); proj.bias = W(w.projb); proj.M = n; proj.K = C; proj.N = C;
    proj.res = x;
    gemv_forward(proj, s_);
    GemvOp<T> up;  // act = activation(pre), pre = LN2(x2) fc^T + b
    up.out = act_.p; up.aux = pre_.p; up.act = 1 + (int)cfg_.activation; up.inp = x2; up.w = W(w.fcw);
    up.bias = W(w.fcb); up.M = n; up.K = C; up.N = F; up.ln_w = W(w.ln2w); up.ln_b = W(w.ln2b); up.eps = cfg_.ln_eps;
    gemv_forward(up, s_);
    GemvOp<T> down;  // x = x2 + act mlp^T + b
    down.out = x; down.inp = act_.p; down.w = W(w.mlpw); down.bias = W(w.mlpb); down.M = n; down.K = F; down.N = C;
    down.res = x2;
    gemv_forward(down, s_);
  }
  // the final LayerNorm of the last row, then its logits
  T* last = x + (size_t)(n - 1) * C;
  residual_layernorm_forward<T>(nullptr, ln_.p, stats_.p, stats_.p + 1, last, nullptr, W(lnfw_), W(lnfb_), 1, C,
                                cfg_.ln_eps, 0.0f, 0, s_);
  GemvOp<T> head;  // the logits, as fp32
  head.out_f = gen_logits_.p; head.inp = ln_.p; head.w = W(headw_); head.bias = W(headb_); head.K = C; head.N = V;
  gemv_forward(head, s_);
  if (pos_dev) advance_position(pos_dev, n, s_);
}

template class GptDecoder<float>;
template class GptDecoder<bf16>;

}  // namespace cuda
}  // namespace mypt
