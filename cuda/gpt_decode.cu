// GptDecoder (gpt_decode.cuh): generation with a KV cache on the GPU.
#include "gpt_decode.cuh"

#include <stdexcept>
#include <string>
#include <vector>

#include "attention_rows.cuh"
#include "encoder.cuh"
#include "layernorm.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

template <typename T>
GptDecoder<T>::GptDecoder(GptModel<T>& gpt)
    : gpt_(gpt), cfg_(gpt.cfg), layout_(gpt.layout), s_(gpt.s), gemm_(gpt.gemm.get()),
      L_(gpt.L), wte_(gpt.wte), wpe_(gpt.wpe), lnfw_(gpt.lnfw), lnfb_(gpt.lnfb), headw_(gpt.headw), headb_(gpt.headb) {}

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
  std::vector<int32_t> ctx(prompt, prompt + n_prompt);
  int cached = 0;
  uint64_t draws = 0;
  bool id_on_device = false;  // the last sampled id is in gen_id_
  bool pos_on_device = false;  // gen_pos_ holds `cached`
  GraphGuard graph;
  for (int step = 0; step < max_new_tokens; step++) {
    const int len = (int)ctx.size();
    if (len <= block && len - cached == 1 && id_on_device) {
      // steady state: one token through a CUDA graph captured once per call (position on the device)
      if (!pos_on_device) {
        pos_host_ = cached;
        CUDA_CHECK(cudaMemcpyAsync(gen_pos_.p, &pos_host_, 4, cudaMemcpyHostToDevice, s_));
        pos_on_device = true;
      }
      if (!graph.exec) {
        CUDA_CHECK(cudaStreamBeginCapture(s_, cudaStreamCaptureModeRelaxed));
        try {
          decode(gen_id_.p, 1, 0, gen_pos_.p);
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
    } else if (len <= block) {
      const int n = len - cached;
      CUDA_CHECK(cudaMemcpyAsync(gen_tok_.p, ctx.data() + cached, (size_t)n * 4, cudaMemcpyHostToDevice, s_));
      decode(gen_tok_.p, n, cached, nullptr);
      cached = len;
      pos_on_device = false;
    } else {
      CUDA_CHECK(cudaMemcpyAsync(gen_tok_.p, ctx.data() + (len - block), (size_t)block * 4, cudaMemcpyHostToDevice,
                                 s_));
      decode(gen_tok_.p, block, 0, nullptr);
      cached = block;
      pos_on_device = false;
    }
    sample_token(gen_id_.p, gen_logits_.p, cfg_.vocab_size, sp.temperature, sp.top_k, sp.top_p, sp.seed, draws, s_);
    if (sp.temperature > 0.0f) draws++;
    int32_t id = 0;
    CUDA_CHECK(cudaMemcpyAsync(&id, gen_id_.p, 4, cudaMemcpyDeviceToHost, s_));
    sync();
    id_on_device = true;
    ctx.push_back(id);
    if (!on_token(id)) break;
  }
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

template class GptDecoder<float>;
template class GptDecoder<bf16>;

}  // namespace cuda
}  // namespace mypt
