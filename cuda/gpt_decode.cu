// GptDecoder (gpt_decode.cuh): generation with a KV cache on the GPU.
#include "gpt_decode.cuh"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

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
    : gpt_(gpt), cfg_(gpt.cfg), s_(gpt.s) {}

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

// How many tokens one replay of the steady-state graph decodes (MYPT_DECODE_UNROLL, 1..kMaxUnroll; for timing):
// the graph's launch and the gap before its first kernel are paid once for them all.
static int decode_unroll() {
  const char* v = std::getenv("MYPT_DECODE_UNROLL");  // read each call, so that a test can compare both ways
  const int n = v ? std::atoi(v) : kDefaultUnroll;
  return n < 1 ? 1 : n > kMaxUnroll ? kMaxUnroll : n;
}

// Steady-state tokens run ahead of the host by one replay: replay r + 1 is launched (its input id is already
// on the device) before replay r's ids are read back and handed to on_token, so the GPU never waits for the
// host between replays. A replay decodes U tokens (decode_unroll) while at least U more are wanted and fit
// in the cache, else one. A stop leaves the tokens computed after it unused. Tokens of the host path (the
// first, and each once the context is past block_size) are handed over as soon as they exist.
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
  gen_id_.ensure(kMaxUnroll);
  ensure_buffers();
  gen_pos_.ensure(1);
  gen_draw_.ensure(1);
  if (!ring_.ids) {
    ring_.ids = (int32_t*)cuda_malloc_host(2 * kMaxUnroll * sizeof(int32_t), "the sampled ids");
    for (cudaEvent_t& e : ring_.ev) CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  const int U = decode_unroll();
  std::vector<int32_t> ctx(prompt, prompt + n_prompt);
  int cached = 0;
  uint64_t draws = 0;
  bool id_on_device = false;  // the last sampled id is in gen_id_[0]
  bool pos_on_device = false;  // gen_pos_ holds `cached`
  bool draw_on_device = false;  // gen_draw_ holds `draws`
  int pending = -1, pending_n = 0;  // the ring slot of a replay launched and not yet handed over, its tokens
  // one graph for replays of U tokens, one for single tokens; each captured again when the decode path of
  // one of its positions changes (decode_pass.cuh), once a call at most
  struct Captured {
    GraphGuard graph;
    std::vector<DecodePath> paths;
  } by_n[2];
  // hands over the n tokens of ring slot k; false to stop. A replay of n tokens leaves token j's id in
  // gen_id_[(j + 1) % n]: the last one's in [0], where the next replay reads its input.
  const auto take = [&](int k, int n) {
    CUDA_CHECK(cudaEventSynchronize(ring_.ev[k]));
    for (int j = 0; j < n; j++) {
      const int32_t id = ring_.ids[k * kMaxUnroll + (j + 1) % n];
      ctx.push_back(id);
      if (!on_token(id)) return false;
    }
    return true;
  };
  try {
    for (int step = 0; step < max_new_tokens;) {
      const int len = (int)ctx.size() + (pending >= 0 ? pending_n : 0);
      const int slot = (pending >= 0 ? pending + 1 : 0) & 1;
      const bool steady = len <= block && len - cached == 1 && id_on_device;
      int n = 1;  // tokens this launch makes
      if (steady) {
        // steady state: n tokens through a CUDA graph (position, sampling counter and input id on the device)
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
        if (U > 1 && max_new_tokens - step >= U && len + U - 1 <= block) n = U;
        Captured& g = by_n[n > 1];
        std::vector<DecodePath> paths(n);
        for (int j = 0; j < n; j++) paths[j] = decode_path_at(gpt_, bufs(), 1, cached + j);
        if (!g.graph.exec || paths != g.paths) {
          g.paths = paths;
          g.graph.capture(s_, cudaStreamCaptureModeRelaxed, [&] {
            for (int j = 0; j < n; j++) {
              decode(gen_id_.p + j % n, 1, 0, gen_pos_.p, paths[j]);
              sample_token(gen_id_.p + (j + 1) % n, gen_logits_.p, cfg_.vocab_size, sp.temperature, sp.top_k,
                           sp.top_p, sp.seed, 0, s_, gen_draw_.p);
            }
          });
        }
        CUDA_CHECK(cudaGraphLaunch(g.graph.exec, s_));
        cached = len + n - 1;
      } else {
        if (pending >= 0) {  // the host path needs every id so far
          if (!take(pending, pending_n)) return;
          pending = -1;
        }
        const int m = (int)ctx.size();
        if (m <= block) {
          CUDA_CHECK(cudaMemcpyAsync(gen_tok_.p, ctx.data() + cached, (size_t)(m - cached) * 4, cudaMemcpyHostToDevice,
                                     s_));
          decode(gen_tok_.p, m - cached, cached, nullptr);
          cached = m;
        } else {
          CUDA_CHECK(cudaMemcpyAsync(gen_tok_.p, ctx.data() + (m - block), (size_t)block * 4, cudaMemcpyHostToDevice,
                                     s_));
          decode(gen_tok_.p, block, 0, nullptr);
          cached = block;
        }
        pos_on_device = false;
        draw_on_device = false;
        sample_token(gen_id_.p, gen_logits_.p, cfg_.vocab_size, sp.temperature, sp.top_k, sp.top_p, sp.seed, draws, s_);
      }
      if (sp.temperature > 0.0f) draws += n;
      step += n;
      id_on_device = true;
      CUDA_CHECK(cudaMemcpyAsync(ring_.ids + slot * kMaxUnroll, gen_id_.p, (size_t)n * 4, cudaMemcpyDeviceToHost, s_));
      CUDA_CHECK(cudaEventRecord(ring_.ev[slot], s_));
      if (pending >= 0) {
        const bool go = take(pending, pending_n);
        pending = -1;
        if (!go) break;  // the tokens just launched are left unused
      }
      if (steady) {
        pending = slot;
        pending_n = n;
      } else if (!take(slot, 1)) {  // a token of the host path (the first one, say) is handed over at once
        break;
      }
    }
    if (pending >= 0) take(pending, pending_n);
  } catch (...) {
    cudaStreamSynchronize(s_);
    throw;
  }
  sync();
}

template <typename T>
DecodeBufs<T> GptDecoder<T>::bufs() {
  DecodeBufs<T> b{x_.p, ln_.p, att_.p, tmp_.p, qkv_.p, pre_.p, act_.p, lrow_.p, stats_.p, stats_.p + cfg_.block_size,
                  gen_logits_.p};
  b.persist = &persist_;
  return b;
}

template <typename T>
void GptDecoder<T>::decode(const int32_t* tok, int n, int pos0, int32_t* pos_dev, DecodePath path) {
  decode_pass<T>(gpt_, bufs(), kcache_.p, vcache_.p, tok, n, pos0, pos_dev, path);
}

template class GptDecoder<float>;
template class GptDecoder<bf16>;

}  // namespace cuda
}  // namespace mypt
