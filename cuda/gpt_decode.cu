// GptDecoder (gpt_decode.cuh): generation with a KV cache on the GPU.
#include "gpt_decode.cuh"

#include <stdexcept>
#include <string>
#include <vector>

#include "encoder.cuh"
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
  parts_.ensure(decode_parts_floats(cfg_));
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
  head_scratch_.ensure(head_sample_scratch(cfg_.vocab_size));
  CUDA_CHECK(cudaMemsetAsync(head_scratch_.p, 0, head_scratch_.n * sizeof(double), s_));
  // greedy and plain sampling run in the graph's head (decode_pass.cuh); top-k and top-p after it
  const bool in_head = sp.temperature <= 0.0f || plain_sampling(sp.temperature, sp.top_k, sp.top_p, cfg_.vocab_size);
  HeadSample hs;
  hs.out_id = gen_id_.p; hs.temperature = sp.temperature; hs.seed = sp.seed; hs.counter_dev = gen_draw_.p;
  hs.scratch = head_scratch_.p;
  // each pass leaves the next one its token's embedding (decode_pass.cuh's chained passes); MYPT_DECODE_CHAIN=0
  // embeds in each pass instead (for timing the difference)
  static const bool chain = env_switch("MYPT_DECODE_CHAIN", true);
  hs.chained = chain;
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
  // what a steady-state graph bakes in (in_head and hs.chained follow from these and the process's settings);
  // MYPT_DECODE_GRAPH_KEEP=0 captures each call's again (for timing)
  static const bool keep = env_switch("MYPT_DECODE_GRAPH_KEEP", true);
  if (!keep)
    for (StepGraph& g : step_graphs_) g.graph.reset();
  const std::array<uint64_t, 5> key{float_bits(sp.temperature), (uint64_t)(uint32_t)sp.top_k, float_bits(sp.top_p),
                                    sp.seed, allocation_count()};
  bool embedded = false;  // x_ holds the embedding of gen_id_'s token at gen_pos_'s position (a chained pass left it)
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
        // steady state: one token through a CUDA graph (position, sampling counter and input id on the
        // device), captured once and kept for later calls with the same settings (step_graphs_)
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
        // the path for this position (decode_pass.cuh): a graph each
        const DecodePath path = decode_path_at(gpt_, bufs(), 1, cached);
        StepGraph& g = step_graphs_[path == DecodePath::Persistent];
        if (!g.graph.exec || g.key != key) {
          g.key = {};  // until captured
          g.graph.capture(s_, cudaStreamCaptureModeRelaxed, [&] {
            const bool sampled = decode(gen_id_.p, 1, 0, gen_pos_.p, path, in_head ? &hs : nullptr);
            g.chained = sampled && hs.chained;
            if (!sampled)
              sample_token(gen_id_.p, gen_logits_.p, cfg_.vocab_size, sp.temperature, sp.top_k, sp.top_p, sp.seed, 0,
                           s_, gen_draw_.p);
          });
          g.key = key;
        }
        // the first chained pass after the host path: its token's embedding
        if (g.chained && !embedded)
          encoder_forward<T>(x_.p, gen_id_.p, gpt_.W(gpt_.wte), gpt_.W(gpt_.wpe), 1, 1, cfg_.n_embd, 0, s_, gen_pos_.p);
        CUDA_CHECK(cudaGraphLaunch(g.graph.exec, s_));
        embedded = g.chained;
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
        embedded = false;
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
DecodeBufs<T> GptDecoder<T>::bufs() {
  DecodeBufs<T> b{x_.p, ln_.p, att_.p, tmp_.p, qkv_.p, pre_.p, act_.p, lrow_.p, stats_.p, stats_.p + cfg_.block_size,
                  gen_logits_.p};
  b.persist = &persist_;
  b.parts = parts_.p;
  return b;
}

template <typename T>
bool GptDecoder<T>::decode(const int32_t* tok, int n, int pos0, int32_t* pos_dev, DecodePath path,
                           const HeadSample* hs) {
  return decode_pass<T>(gpt_, bufs(), kcache_.p, vcache_.p, tok, n, pos0, pos_dev, path, hs);
}

template class GptDecoder<float>;
template class GptDecoder<bf16>;

}  // namespace cuda
}  // namespace mypt
