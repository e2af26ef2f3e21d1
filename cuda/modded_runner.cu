// The modded-nanogpt models on one GPU (binding/engine/modded.h states the computation; the CPU
// runner (binding/cpu/modded.h) is the reference this is checked against in test/gpu/modded.test.js).
//
// Storage: every matrix and embedding in T (bf16: lm_head too, as the scripts' eval path casts it;
// or fp32); the residual stream x, x0 and the skip copies in fp32; norms, rotary, softmax and the
// soft-cap in fp32. One step runs n tokens at positions cache_len.. : the host works out the document
// index and each window's visible key ranges (modded_mask.h, exactly the CPU's), uploads them with the
// tokens, and the layers run as
//   mix (skip, lambdas, attention-input norm) -> qkv GEMM -> q/k/v prepare into the KV cache ->
//   masked attention -> o GEMM -> residual + MLP norm -> fc GEMM -> relu^2 -> proj GEMM -> residual.
// Generation samples on the GPU (cuda/sampling.cuh); only the id crosses to the host each step. A
// one-token step always has the same upload layout (token, position, each window's ranges padded to
// kDecodeRanges) and reads its position from the device, so it is captured once as a CUDA graph and
// replayed; it is captured again whenever a buffer it uses moved (the cache grew, a larger call).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "buffers.cuh"
#include "common.cuh"
#include "cuda_backend.h"
#include "linear.cuh"
#include "engine/modded.h"
#include "engine/modded_mask.h"
#include "modded_ops.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

namespace {

using modded::ModdedConfig;
using modded::ModdedWeights;
using modded::ModdedSample;
using modded::SkipKind;

template <typename T>
constexpr bool is_bf16_t() {
  return sizeof(T) == 2;
}

// Key ranges a one-token step leaves room for per window (more: that step runs without the graph).
constexpr int kDecodeRanges = 8;

template <typename T>
class ModdedGpu final : public modded::ModdedRunner {
 public:
  ModdedGpu(const ModdedWeights& w, int device) : cfg_(w.config()), dev_(device) {
    int count = 0;
    if (cfg_.head_dim > 256 || cfg_.head_dim % 2)
      throw std::invalid_argument("modded on CUDA: head_dim " + std::to_string(cfg_.head_dim) +
                                  " is not supported (even and at most 256); use device 'cpu'");
    CUDA_CHECK(cudaGetDeviceCount(&count));
    if (device < 0 || device >= count)
      throw std::invalid_argument("CUDA device " + std::to_string(device) + " does not exist (" +
                                  std::to_string(count) + " found)");
    CUDA_CHECK(cudaSetDevice(dev_));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev_));
    name_ = prop.name;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking));
    try {
      gemm_.reset(new Gemm(true));
      w.check_complete();
      upload(embed_, w.weight("embed"));
      ve_.resize(cfg_.n_value_embeds);
      for (int j = 0; j < cfg_.n_value_embeds; j++) upload(ve_[j], w.weight("value_embeds." + std::to_string(j)));
      layers_.resize(cfg_.n_layer);
      for (int i = 0; i < cfg_.n_layer; i++) {
        const std::string p = "blocks." + std::to_string(i) + ".";
        if (cfg_.has_attn[i]) {
          upload(layers_[i].qkv, w.weight(p + "attn.qkv"));
          upload(layers_[i].o, w.weight(p + "attn.o"));
        }
        upload(layers_[i].fc, w.weight(p + "mlp.fc"));
        upload(layers_[i].proj, w.weight(p + "mlp.proj"));
      }
      upload(lm_head_, w.weight("lm_head"));
      scalars_ = w.weight("scalars");
      std::vector<float> freqs(cfg_.head_dim / 2);
      modded::rotary_freqs(freqs.data(), cfg_.head_dim, cfg_.rope_base);
      freqs_.ensure(freqs.size());
      CUDA_CHECK(cudaMemcpyAsync(freqs_.p, freqs.data(), freqs.size() * 4, cudaMemcpyHostToDevice, s_));
      staging_.release();
      sync();
    } catch (...) {
      cudaStreamDestroy(s_);
      throw;
    }
  }

  ~ModdedGpu() override {
    cudaSetDevice(dev_);
    cudaStreamSynchronize(s_);
    cudaStreamDestroy(s_);
  }

  const ModdedConfig& config() const override { return cfg_; }
  std::string device() const override {
    return "cuda:" + std::to_string(dev_) + " (" + name_ + ", " + (is_bf16_t<T>() ? "bf16" : "fp32") + ")";
  }

  void forward(const int32_t* tokens, int64_t T_, float* logits) override {
    if (T_ <= 0) throw std::invalid_argument("forward: no tokens");
    check_tokens(tokens, T_);
    use();
    reset_cache(T_);
    step(tokens, (int)T_, false);
    CUDA_CHECK(cudaMemcpyAsync(logits, logits_.p, (size_t)T_ * cfg_.head_rows * 4, cudaMemcpyDeviceToHost, s_));
    sync();
  }

  std::vector<int32_t> generate(const int32_t* prompt, int64_t n_prompt, int max_new_tokens, const ModdedSample& sp,
                                const std::function<bool(int32_t)>& on_token) override {
    if (n_prompt <= 0) throw std::invalid_argument("generate: the prompt is empty");
    check_tokens(prompt, n_prompt);
    use();
    const int V = cfg_.head_rows;
    const int limit = std::min(sp.vocab_limit > 0 ? std::min(sp.vocab_limit, V) : V, cfg_.embed_rows);
    reset_cache(modded::first_cache_capacity(n_prompt, max_new_tokens));
    id_.ensure(1);
    std::vector<int32_t> out;
    if (max_new_tokens <= 0) return out;
    step(prompt, (int)n_prompt, true);
    uint64_t draws = 0;
    for (int k = 0; k < max_new_tokens; k++) {
      sample_token(id_.p, logits_.p, limit, sp.temperature, sp.top_k, sp.top_p, sp.seed, draws, s_);
      if (sp.temperature > 0.0f) draws++;
      int32_t tok = 0;
      CUDA_CHECK(cudaMemcpyAsync(&tok, id_.p, 4, cudaMemcpyDeviceToHost, s_));
      sync();
      out.push_back(tok);
      if (on_token && !on_token(tok)) break;
      if (k + 1 == max_new_tokens) break;
      step(&tok, 1, true);
    }
    return out;
  }

 private:
  struct Layer {
    DBuf<T> qkv, o, fc, proj;
  };

  void use() { CUDA_CHECK(cudaSetDevice(dev_)); }
  void sync() { CUDA_CHECK(cudaStreamSynchronize(s_)); }

  void check_tokens(const int32_t* tokens, int64_t n) const {
    for (int64_t t = 0; t < n; t++)
      if (tokens[t] < 0 || tokens[t] >= cfg_.embed_rows)
        throw std::invalid_argument("token id " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                                    " is outside the embedding (" + std::to_string(cfg_.embed_rows) + " rows)");
    if (n > (int64_t)1 << 30) throw std::invalid_argument("too many tokens for one call");
  }

  // fp32 host values -> T on the device (through an fp32 staging buffer for bf16).
  void upload(DBuf<T>& dst, const std::vector<float>& src) {
    dst.ensure(src.size());
    if (!is_bf16_t<T>()) {
      CUDA_CHECK(cudaMemcpy(dst.p, src.data(), src.size() * 4, cudaMemcpyHostToDevice));
      return;
    }
    staging_.ensure(src.size());
    CUDA_CHECK(cudaMemcpyAsync(staging_.p, src.data(), src.size() * 4, cudaMemcpyHostToDevice, s_));
    convert<T, float>(dst.p, staging_.p, (int64_t)src.size(), s_);
    sync();
  }

  void reset_cache(int64_t capacity) {
    cache_len_ = 0;
    docs_.assign(0, 0);
    grow_cache(capacity, false);
  }

  // Caches of at least `capacity` positions; keep: copy the cached positions over.
  void grow_cache(int64_t capacity, bool keep) {
    const int64_t hd = cfg_.hdim();
    if (kc_.size() == (size_t)cfg_.n_layer && cache_cap_ >= capacity) return;
    kc_.resize(cfg_.n_layer);
    vc_.resize(cfg_.n_layer);
    for (int i = 0; i < cfg_.n_layer; i++) {
      if (!cfg_.has_attn[i]) continue;
      for (auto* c : {&kc_[i], &vc_[i]}) {
        DBuf<T> fresh;
        fresh.ensure((size_t)capacity * hd);
        if (keep && cache_len_ > 0) {
          CUDA_CHECK(cudaMemcpyAsync(fresh.p, c->p, (size_t)cache_len_ * hd * sizeof(T), cudaMemcpyDeviceToDevice, s_));
          sync();  // before the old buffer is freed
        }
        *c = std::move(fresh);
      }
    }
    cache_cap_ = capacity;
  }

  // Work buffers for n rows.
  void ensure_rows(int n) {
    const int64_t d = cfg_.dim, hd = cfg_.hdim(), F = cfg_.mlp_hidden;
    x_.ensure(n * d);
    x0_.ensure(n * d);
    h_.ensure(n * d);
    delta_.ensure(n * d);
    qkv_.ensure(n * 3 * hd);
    q_.ensure(n * hd);
    y_.ensure(n * hd);
    hid_.ensure(n * F);
    z_.ensure((size_t)n * cfg_.head_rows);
    logits_.ensure((size_t)n * cfg_.head_rows);
    const int slots = cfg_.skip == SkipKind::UNet ? cfg_.n_layer / 2 : cfg_.n_layer;
    skip_.ensure((size_t)std::max(slots, 1) * n * d);
  }

  // Tokens at positions cache_len_ .. cache_len_ + n - 1 through every layer, their keys and values
  // appended to the cache; logits_ gets the soft-capped logits of every row, or of the last one only.
  void step(const int32_t* tokens, int n, bool last_only) {
    const int64_t p0 = cache_len_;
    if (p0 + n > cache_cap_) grow_cache(std::max<int64_t>(p0 + n, 2 * cache_cap_), true);
    ensure_rows(n);
    const bool fixed_layout = upload_inputs(tokens, n);
    if (n == 1 && last_only && fixed_layout) {
      const std::vector<const void*> sig = signature();
      if (!decode_graph_.exec || sig != graph_sig_) {
        decode_graph_.capture(s_, cudaStreamCaptureModeThreadLocal, [&] { layers(1, true); });
        graph_sig_ = sig;
      }
      CUDA_CHECK(cudaGraphLaunch(decode_graph_.exec, s_));
    } else {
      layers(n, last_only);
    }
    cache_len_ = p0 + n;
  }

  // Every device address a captured one-token step bakes in.
  std::vector<const void*> signature() const {
    std::vector<const void*> v = {x_.p, x0_.p, h_.p, delta_.p, qkv_.p, q_.p, y_.p, hid_.p, z_.p, logits_.p, skip_.p, tok_.p};
    for (size_t i = 0; i < kc_.size(); i++) {
      v.push_back(kc_[i].p);
      v.push_back(vc_[i].p);
    }
    return v;
  }

  // The host's part of a step: the document index of the new positions and each window's visible key
  // ranges (modded_mask.h, exactly the CPU's), uploaded with the tokens and the first position as
  //   tok_ = [tokens (n)] [pos0] then per window: [first (n + 1)] [begin (cap)] [end (cap)]
  // with cap = kDecodeRanges for one token (true is returned: the layout a captured step expects) or the
  // window's range count otherwise. win_ holds each window's offset and cap.
  bool upload_inputs(const int32_t* tokens, int n) {
    const ModdedConfig& c = cfg_;
    const int64_t p0 = cache_len_;
    docs_.resize(p0 + n);
    for (int t = 0; t < n; t++) docs_[p0 + t] = (p0 + t > 0 ? docs_[p0 + t - 1] : 0) + (tokens[t] == c.doc_token ? 1 : 0);
    host_.assign(tokens, tokens + n);
    host_.push_back((int32_t)p0);
    win_.clear();
    bool fixed = n == 1;
    for (int i = 0; i < c.n_layer; i++) {
      const int W = c.window_blocks[i];
      if (!c.has_attn[i] || win_.count(W)) continue;
      const modded::KeyRanges kr = modded::visible_keys(docs_.data(), n, p0, p0 + n - 1, c.attn_block, W);
      const int R = (int)kr.begin.size();
      int cap = R;
      if (n == 1 && R <= kDecodeRanges) cap = kDecodeRanges;
      else fixed = false;
      win_[W] = {(int)host_.size(), cap};
      for (int64_t v : kr.first) host_.push_back((int32_t)v);
      for (int k = 0; k < cap; k++) host_.push_back(k < R ? (int32_t)kr.begin[k] : 0);
      for (int k = 0; k < cap; k++) host_.push_back(k < R ? (int32_t)kr.end[k] : 0);
    }
    tok_.ensure(host_.size());
    CUDA_CHECK(cudaMemcpyAsync(tok_.p, pinned_.fill(host_.data(), host_.size()), host_.size() * 4,
                               cudaMemcpyHostToDevice, s_));
    return fixed;
  }

  // The layers over the uploaded inputs (tokens at tok_, the first position at tok_[n]); every launch
  // takes only device addresses and the config, so a one-token call can be captured and replayed.
  void layers(int n, bool last_only) {
    const ModdedConfig& c = cfg_;
    const int L = c.n_layer, d = c.dim, H = c.n_head, D = c.head_dim, hd = c.hdim(), F = c.mlp_hidden;
    const float eps = c.norm_eps;
    const float* s = scalars_.data();
    const int32_t* tok = tok_.p;
    const int32_t* pos = tok_.p + n;

    modded_embed_norm<T>(x_.p, x0_.p, tok, embed_.p, n, d, eps, s_);
    const int64_t nd = (int64_t)n * d;
    int pushed = 0;
    for (int i = 0; i < L; i++) {
      // skip connection + lambdas, then the attention input (normed in S2, raw in M1)
      const float* skip = nullptr;
      float sw = 0.0f;
      if (c.skip == SkipKind::UNet && i >= L / 2) {
        skip = skip_.p + (int64_t)(--pushed) * nd;
        sw = s[i - L / 2];
      } else if (c.skip == SkipKind::Map && c.skip_from[i] >= 0) {
        skip = skip_.p + (int64_t)c.skip_from[i] * nd;
        sw = s[c.skip_from[i]];
      }
      const Layer& W = layers_[i];
      T* mlp_in = h_.p;
      if (c.has_attn[i]) {
        modded_mix<T>(x_.p, h_.p, x0_.p, skip, sw, s[L + 2 * i], s[L + 2 * i + 1], c.attn_input_norm, n, d, eps, s_);
        linear_forward<T>(*gemm_, qkv_.p, h_.p, W.qkv.p, nullptr, n, d, 3 * hd, s_);
        const int ve = c.ve_index[i];
        modded_qkv_prepare<T>(q_.p, kc_[i].p, vc_[i].p, qkv_.p, tok, ve >= 0 ? ve_[ve].p : nullptr, freqs_.p,
                              s[3 * L + 2 * i], s[3 * L + 2 * i + 1], c.v_norm, n, H, D, 0, pos, eps, s_);
        const auto [off, cap] = win_.at(c.window_blocks[i]);
        const int32_t* m = tok_.p + off;
        modded_attention<T>(y_.p, q_.p, kc_[i].p, vc_[i].p, m, m + n + 1, m + n + 1 + cap, n, H, D, c.attn_scale, s_);
        linear_forward<T>(*gemm_, delta_.p, y_.p, W.o.p, nullptr, n, hd, d, s_);
        modded_residual<T>(x_.p, delta_.p, nullptr, mlp_in, n, d, eps, s_);  // x += attn; h = norm(x)
      } else {
        // no attention: the lambdas, then the MLP input norm directly
        modded_mix<T>(x_.p, mlp_in, x0_.p, skip, sw, s[L + 2 * i], s[L + 2 * i + 1], true, n, d, eps, s_);
      }
      linear_forward<T>(*gemm_, hid_.p, mlp_in, W.fc.p, nullptr, n, d, F, s_);
      modded_relu_square<T>(hid_.p, (int64_t)n * F, s_);
      linear_forward<T>(*gemm_, delta_.p, hid_.p, W.proj.p, nullptr, n, F, d, s_);
      float* save = nullptr;
      if (c.skip == SkipKind::UNet && i < L / 2) save = skip_.p + (int64_t)(pushed++) * nd;
      if (c.skip == SkipKind::Map) save = skip_.p + (int64_t)i * nd;
      modded_residual<T>(x_.p, delta_.p, save, (T*)nullptr, n, d, eps, s_);  // x += mlp
    }

    // logits = softcap(norm(x) @ lm_head^T), every row or the last
    const int first = last_only ? n - 1 : 0, rows = n - first;
    modded_residual<T>(x_.p + (int64_t)first * d, (const T*)nullptr, nullptr, h_.p, rows, d, eps, s_);
    linear_forward<T>(*gemm_, z_.p, h_.p, lm_head_.p, nullptr, rows, d, c.head_rows, s_);
    modded_softcap<T>(logits_.p, z_.p, (int64_t)rows * c.head_rows, (int)c.softcap, d, s_);
  }

  ModdedConfig cfg_;
  int dev_;
  std::string name_;
  cudaStream_t s_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  DBuf<T> embed_, lm_head_;
  std::vector<DBuf<T>> ve_;
  std::vector<Layer> layers_;
  std::vector<float> scalars_;
  DBuf<float> freqs_, staging_;
  // KV cache per layer [capacity, hdim]: rotated, normed keys and mixed values
  std::vector<DBuf<T>> kc_, vc_;
  std::vector<int32_t> docs_;
  int64_t cache_len_ = 0, cache_cap_ = 0;
  // work buffers
  DBuf<float> x_, x0_, skip_, logits_;
  DBuf<T> h_, delta_, qkv_, q_, y_, hid_, z_;
  DBuf<int32_t> tok_, id_;  // tok_: upload_inputs' layout
  std::vector<int32_t> host_;
  HostBuf<int32_t> pinned_;
  std::map<int, std::pair<int, int>> win_;  // window blocks -> (offset in tok_, range capacity)
  GraphGuard decode_graph_;
  std::vector<const void*> graph_sig_;
};

}  // namespace

std::unique_ptr<modded::ModdedRunner> make_modded(modded::ModdedWeights weights, int device, Precision precision) {
  if (precision == Precision::BF16) return std::make_unique<ModdedGpu<bf16>>(weights, device);
  return std::make_unique<ModdedGpu<float>>(weights, device);
}

}  // namespace cuda
}  // namespace mypt
