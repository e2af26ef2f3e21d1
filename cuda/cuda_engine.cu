// The CUDA backend (engine.h): the same GPT as the CPU engine (binding/cpu/gpt.cc), on one GPU.
//
// Storage: fp32 master parameters, gradients and AdamW moments (one contiguous buffer each, canonical
// layout); a working copy of the parameters in the activation type T (bf16, or the fp32 masters
// themselves in Precision::FP32) that every kernel reads. Activations in T; LayerNorm statistics,
// attention log-sum-exps, losses and the optimizer in fp32. Gradients of parameters accumulate in fp32.
//
// One stream per engine; every public method sets the device first (calls may come from any thread)
// and synchronizes before returning host values. Dropout masks: dropout_stream(seed, call, layer, site)
// exactly as the CPU, so both draw identical masks. Generation keeps a per-layer KV cache on the GPU
// and samples on the GPU; only the sampled id crosses to the host each step.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "activation.cuh"
#include "adamw.cuh"
#include "attention.cuh"
#include "attention_rows.cuh"
#include "buffers.cuh"
#include "classifier.cuh"
#include "common.cuh"
#include "cuda_backend.h"
#include "engine/dropout.h"
#include "dropout_ops.cuh"
#include "encoder.cuh"
#include "engine/engine.h"
#include "linear.cuh"
#include "layernorm.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

namespace {

struct LayerOff {
  int64_t ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fcw, fcb, mlpw, mlpb;
};

template <typename T>
constexpr bool is_bf16_t() {
  return sizeof(T) == 2;
}

template <typename T>
class CudaEngine final : public Engine {
 public:
  CudaEngine(const ModelConfig& cfg, int device) : cfg_(cfg), layout_((cfg.validate(), cfg)), dev_(device) {
    int n = 0;
    CUDA_CHECK(cudaGetDeviceCount(&n));
    if (device < 0 || device >= n)
      throw std::invalid_argument("CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(n) +
                                  " found)");
    CUDA_CHECK(cudaSetDevice(dev_));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev_));
    name_ = prop.name;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking));
    gemm_.reset(new Gemm(true));
    const int64_t N = layout_.total;
    params_.ensure(N);
    grads_.ensure(N);
    m_.ensure(N);
    v_.ensure(N);
    CUDA_CHECK(cudaMemsetAsync(params_.p, 0, N * 4, s_));
    CUDA_CHECK(cudaMemsetAsync(grads_.p, 0, N * 4, s_));
    CUDA_CHECK(cudaMemsetAsync(m_.p, 0, N * 4, s_));
    CUDA_CHECK(cudaMemsetAsync(v_.p, 0, N * 4, s_));
    if (is_bf16_t<T>()) {
      work_.ensure(N * sizeof(T));
      CUDA_CHECK(cudaMemsetAsync(work_.p, 0, N * sizeof(T), s_));
    }
    const int nt = (int)layout_.params.size();
    std::vector<int64_t> starts(nt + 1);
    for (int i = 0; i < nt; i++) starts[i] = layout_.params[i].offset;
    starts[nt] = N;
    starts_.ensure(nt + 1);
    CUDA_CHECK(cudaMemcpyAsync(starts_.p, starts.data(), (nt + 1) * 8, cudaMemcpyHostToDevice, s_));
    decay_.ensure(nt);
    set_decay_mask(std::vector<uint8_t>(nt, 1));
    norm_scratch_.ensure(1024);
    scalars_.ensure(4);
    bind_offsets();
    CUDA_CHECK(cudaStreamSynchronize(s_));
  }

  ~CudaEngine() override {
    cudaSetDevice(dev_);
    cudaStreamSynchronize(s_);
    gemm_.reset();
    cudaStreamDestroy(s_);
  }

  const ModelConfig& config() const override { return cfg_; }
  const ParamLayout& layout() const override { return layout_; }
  std::string device() const override {
    return "cuda:" + std::to_string(dev_) + " (" + name_ + ", " + (is_bf16_t<T>() ? "bf16" : "fp32") + ", gemm " +
           (gemm_->using_cublaslt() ? "cuBLASLt" : "built-in") + ")";
  }

  void set_parameters(const float* src) override {
    use();
    CUDA_CHECK(cudaMemcpyAsync(params_.p, src, layout_.total * 4, cudaMemcpyHostToDevice, s_));
    refresh_work();
    sync();
  }
  void get_parameters(float* dst) override {
    use();
    CUDA_CHECK(cudaMemcpyAsync(dst, params_.p, layout_.total * 4, cudaMemcpyDeviceToHost, s_));
    sync();
  }
  void get_gradients(float* dst) override {
    use();
    CUDA_CHECK(cudaMemcpyAsync(dst, grads_.p, layout_.total * 4, cudaMemcpyDeviceToHost, s_));
    sync();
  }
  void set_optimizer_state(const float* m, const float* v, int64_t step) override {
    if (step < 0) throw std::invalid_argument("optimizer step must not be negative");
    use();
    CUDA_CHECK(cudaMemcpyAsync(m_.p, m, layout_.total * 4, cudaMemcpyHostToDevice, s_));
    CUDA_CHECK(cudaMemcpyAsync(v_.p, v, layout_.total * 4, cudaMemcpyHostToDevice, s_));
    step_ = step;
    sync();
  }
  void get_optimizer_state(float* m, float* v, int64_t* step) override {
    use();
    if (m) CUDA_CHECK(cudaMemcpyAsync(m, m_.p, layout_.total * 4, cudaMemcpyDeviceToHost, s_));
    if (v) CUDA_CHECK(cudaMemcpyAsync(v, v_.p, layout_.total * 4, cudaMemcpyDeviceToHost, s_));
    if (step) *step = step_;
    sync();
  }
  void set_decay_mask(const std::vector<uint8_t>& mask) override {
    if (mask.size() != layout_.params.size())
      throw std::invalid_argument("decay mask has " + std::to_string(mask.size()) + " entries, the model has " +
                                  std::to_string(layout_.params.size()) + " tensors");
    use();
    decay_host_ = mask;
    for (auto& d : decay_host_) d = d ? 1 : 0;
    CUDA_CHECK(cudaMemcpyAsync(decay_.p, decay_host_.data(), mask.size(), cudaMemcpyHostToDevice, s_));
    sync();
  }
  void set_seed(uint64_t seed) override {
    seed_ = seed;
    calls_ = 0;
  }

  void forward(const int32_t* tokens, int B, int T_, float* logits) override {
    check_shape(B, T_);
    check_tokens(tokens, (int64_t)B * T_, "token");
    use();
    upload_tokens(tokens, nullptr, (int64_t)B * T_);
    run_forward(B, T_, 0.0f, 0, false);
    const int64_t n = (int64_t)B * T_ * cfg_.vocab_size;
    if (is_bf16_t<T>()) {
      host_f32_.ensure(n);
      convert<float, T>(host_f32_.p, logits_.p, n, s_);
      CUDA_CHECK(cudaMemcpyAsync(logits, host_f32_.p, n * 4, cudaMemcpyDeviceToHost, s_));
    } else {
      CUDA_CHECK(cudaMemcpyAsync(logits, logits_.p, n * 4, cudaMemcpyDeviceToHost, s_));
    }
    sync();
  }

  float loss(const int32_t* tokens, const int32_t* targets, int B, int T_) override {
    check_shape(B, T_);
    check_tokens(tokens, (int64_t)B * T_, "token");
    check_tokens(targets, (int64_t)B * T_, "target");
    use();
    const int64_t BT = (int64_t)B * T_;
    upload_tokens(tokens, targets, BT);
    run_forward(B, T_, 0.0f, 0, false);
    crossentropy_forward_backward<T>(losses_.p, logits_.p, targets_.p, BT, cfg_.vocab_size, 0.0f, false, s_);
    return read_mean_loss(BT);
  }

  float forward_backward(const int32_t* tokens, const int32_t* targets, int B, int T_, bool train, float loss_scale,
                         bool accumulate) override {
    check_shape(B, T_);
    check_tokens(tokens, (int64_t)B * T_, "token");
    check_tokens(targets, (int64_t)B * T_, "target");
    use();
    const float p = train ? cfg_.dropout : 0.0f;
    const uint64_t call = train ? calls_++ : 0;
    const int64_t BT = (int64_t)B * T_;
    upload_tokens(tokens, targets, BT);
    run_forward(B, T_, p, call, true);
    buckets_.build(tokens, BT);  // on the host while the GPU runs the forward
    upload_buckets();
    crossentropy_forward_backward<T>(losses_.p, logits_.p, targets_.p, BT, cfg_.vocab_size, loss_scale / (float)BT,
                                     true, s_);
    mean_loss(scalars_.p, losses_.p, BT, s_);
    if (!accumulate) CUDA_CHECK(cudaMemsetAsync(grads_.p, 0, layout_.total * 4, s_));
    run_backward(B, T_, p, call);
    float loss = 0.0f;
    CUDA_CHECK(cudaMemcpyAsync(&loss, scalars_.p, 4, cudaMemcpyDeviceToHost, s_));
    sync();
    return loss;
  }

  float optimizer_step(const AdamWParams& p) override {
    use();
    step_++;
    global_norm(scalars_.p + 1, grads_.p, layout_.total, norm_scratch_.p, s_);
    adamw_update(params_.p, is_bf16_t<T>() ? (bf16*)work_.p : nullptr, m_.p, v_.p, grads_.p, layout_.total, starts_.p,
                 decay_.p, (int)layout_.params.size(), p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, step_,
                 scalars_.p + 1, p.grad_clip, s_);
    float norm = 0.0f;
    CUDA_CHECK(cudaMemcpyAsync(&norm, scalars_.p + 1, 4, cudaMemcpyDeviceToHost, s_));
    sync();
    return norm;
  }

  void generate(const int32_t* prompt, int n_prompt, int max_new_tokens, const SampleParams& sp,
                const std::function<bool(int32_t)>& on_token) override {
    if (n_prompt < 1) throw std::invalid_argument("the prompt must hold at least one token");
    if (max_new_tokens < 0) throw std::invalid_argument("max_new_tokens must not be negative");
    check_tokens(prompt, n_prompt, "prompt token");
    use();
    const int block = cfg_.block_size, C = cfg_.n_embd, L = cfg_.n_layer;
    kcache_.ensure((size_t)L * block * C);
    vcache_.ensure((size_t)L * block * C);
    gen_tok_.ensure(block);
    gen_logits_.ensure(cfg_.vocab_size);
    gen_id_.ensure(1);
    ensure_acts(1, block, false);
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

 private:
  void use() { CUDA_CHECK(cudaSetDevice(dev_)); }
  void sync() { CUDA_CHECK(cudaStreamSynchronize(s_)); }

  const T* W(int64_t off) const { return off < 0 ? nullptr : wp() + off; }
  float* G(int64_t off) { return off < 0 ? nullptr : grads_.p + off; }
  const T* wp() const { return is_bf16_t<T>() ? (const T*)work_.p : (const T*)params_.p; }

  void refresh_work() {
    if (is_bf16_t<T>()) convert<bf16, float>((bf16*)work_.p, params_.p, layout_.total, s_);
  }

  void bind_offsets() {
    auto at = [&](const std::string& n) -> int64_t {
      const ParamInfo* p = layout_.find(n);
      return p ? p->offset : -1;
    };
    wte_ = at("wte");
    wpe_ = at("wpe");
    lnfw_ = at("lnf.weight");
    lnfb_ = at("lnf.bias");
    headw_ = cfg_.tied_head ? wte_ : at("head.weight");
    headb_ = at("head.bias");
    for (int i = 0; i < cfg_.n_layer; i++) {
      const std::string h = "h." + std::to_string(i) + ".";
      L_.push_back(LayerOff{at(h + "ln1.weight"), at(h + "ln1.bias"), at(h + "attn.qkv.weight"), at(h + "attn.qkv.bias"),
                            at(h + "attn.proj.weight"), at(h + "attn.proj.bias"), at(h + "ln2.weight"),
                            at(h + "ln2.bias"), at(h + "mlp.fc.weight"), at(h + "mlp.fc.bias"),
                            at(h + "mlp.proj.weight"), at(h + "mlp.proj.bias")});
    }
  }

  void check_shape(int B, int T_) const {
    if (B < 1) throw std::invalid_argument("batch size must be at least 1, got " + std::to_string(B));
    if (T_ < 1 || T_ > cfg_.block_size)
      throw std::invalid_argument("sequence length " + std::to_string(T_) + " is outside 1.." +
                                  std::to_string(cfg_.block_size) + " (block_size)");
  }
  void check_tokens(const int32_t* tokens, int64_t n, const char* what) const {
    for (int64_t i = 0; i < n; i++)
      if (tokens[i] < 0 || tokens[i] >= cfg_.vocab_size)
        throw std::invalid_argument(std::string(what) + " id " + std::to_string(tokens[i]) + " at index " +
                                    std::to_string(i) + " is outside the vocabulary 0.." +
                                    std::to_string(cfg_.vocab_size - 1));
  }

  // Host data goes through pinned staging buffers; every public call synchronizes before returning, so a
  // staging buffer is never rewritten while its copy is in flight.
  void upload(DBuf<int32_t>& dst, HostBuf<int32_t>& stage, const int32_t* src, size_t n) {
    dst.ensure(n);
    CUDA_CHECK(cudaMemcpyAsync(dst.p, stage.fill(src, n), n * 4, cudaMemcpyHostToDevice, s_));
  }
  void upload_tokens(const int32_t* tok, const int32_t* tgt, int64_t BT) {
    upload(tokens_, h_tokens_, tok, BT);
    if (tgt) upload(targets_, h_targets_, tgt, BT);
  }
  void upload_buckets() {
    upload(b_tok_, h_btok_, buckets_.tokens.data(), buckets_.tokens.size());
    upload(b_start_, h_bstart_, buckets_.start.data(), buckets_.start.size());
    upload(b_pos_, h_bpos_, buckets_.positions.data(), buckets_.positions.size());
  }

  float read_mean_loss(int64_t BT) {
    mean_loss(scalars_.p, losses_.p, BT, s_);
    float loss = 0.0f;
    CUDA_CHECK(cudaMemcpyAsync(&loss, scalars_.p, 4, cudaMemcpyDeviceToHost, s_));
    sync();
    return loss;
  }

  // Activation buffers for B x T rows (grown, never shrunk).
  void ensure_acts(int B, int T_, bool backward) {
    const size_t BT = (size_t)B * T_, C = cfg_.n_embd, F = cfg_.hidden(), V = cfg_.vocab_size, L = cfg_.n_layer;
    const size_t H = cfg_.n_head;
    res_.ensure((L + 1) * BT * C);
    ln1_.ensure(L * BT * C);
    att_.ensure(L * BT * C);
    xmid_.ensure(L * BT * C);
    ln2_.ensure(L * BT * C);
    qkv_.ensure(L * BT * 3 * C);
    fcpre_.ensure(L * BT * F);
    fcact_.ensure(L * BT * F);
    stats_.ensure(L * BT * 4 + 2 * BT);  // ln1 mean, rstd, ln2 mean, rstd per layer; lnf mean, rstd
    lse_.ensure(L * B * H * T_);
    lnf_.ensure(BT * C);
    tmp_.ensure(BT * C);
    logits_.ensure(BT * V);
    losses_.ensure(BT);
    if (backward) {
      dres_.ensure(BT * C);
      dc1_.ensure(BT * C);
      dc2_.ensure(BT * C);
      dbig_.ensure(BT * (F > 3 * C ? F : 3 * C));
      colsum_.ensure((size_t)colsum_scratch_floats(BT, (int)std::max(std::max(F, 3 * C), V)));
      const size_t attn_bytes = flash_ok() ? attention_backward_scratch_bytes(B, T_, (int)C, (int)H) : 0;
      const size_t rows_bytes = (size_t)B * H * T_ * 4;
      attn_scratch_.ensure((attn_bytes > rows_bytes ? attn_bytes : rows_bytes) / 4 + 4);
    }
    B_ = B;
    T_cur_ = T_;
  }

  float* st(int l, int which) { return stats_.p + ((size_t)l * 4 + which) * (size_t)B_ * T_cur_; }
  float* lnf_stat(int which) { return stats_.p + ((size_t)cfg_.n_layer * 4 + which) * (size_t)B_ * T_cur_; }

  bool flash_ok() const {
    const int hs = cfg_.head_size();
    return hs == 32 || hs == 64 || hs == 128;
  }

  void attn_forward(T* out, float* lse, const T* qkv, int B, int T_, float p, uint64_t seed) {
    const int C = cfg_.n_embd, H = cfg_.n_head;
    if (flash_ok()) {
      if (is_bf16_t<T>())
        attention_forward_bf16((bf16*)out, lse, (const bf16*)qkv, B, T_, C, H, cfg_.scale(), p, seed, 0, s_);
      else
        attention_forward_f32((float*)out, lse, (const float*)qkv, B, T_, C, H, cfg_.scale(), p, seed, 0, s_);
      return;
    }
    const int hs = cfg_.head_size();
    const int64_t C3 = 3 * (int64_t)C;
    AttnView<T> v{qkv, T_ * C3, C3, qkv + C, T_ * C3, C3, qkv + 2 * C, T_ * C3, C3, out, (int64_t)T_ * C, C};
    attention_rows_forward<T>(v, lse, B, T_, H, hs, 0, cfg_.scale(), p, seed, s_);
  }

  void attn_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, int B, int T_, float p,
                     uint64_t seed) {
    const int C = cfg_.n_embd, H = cfg_.n_head;
    if (flash_ok()) {
      if (is_bf16_t<T>())
        attention_backward_bf16((bf16*)dqkv, (const bf16*)dout, (const bf16*)qkv, (const bf16*)out, lse, B, T_, C, H,
                                cfg_.scale(), p, seed, 0, attn_scratch_.p, s_);
      else
        attention_backward_f32((float*)dqkv, (const float*)dout, (const float*)qkv, (const float*)out, lse, B, T_, C, H,
                               cfg_.scale(), p, seed, 0, attn_scratch_.p, s_);
      return;
    }
    attention_rows_backward<T>(dqkv, dout, qkv, out, lse, B, T_, C, H, cfg_.scale(), p, seed, attn_scratch_.p, s_);
  }

  bool fuse_gelu() const { return cfg_.activation == Activation::GELUTanh && cfg_.hidden() % 16 == 0; }

  // MLP up-projection and activation: act = act(pre), pre = inp @ fc^T + b.
  void mlp_up(T* act, T* pre, const T* inp, const LayerOff& w, int64_t rows) {
    const int C = cfg_.n_embd, F = cfg_.hidden();
    if (fuse_gelu()) {
      linear_forward<T>(*gemm_, act, inp, W(w.fcw), W(w.fcb), (int)rows, C, F, s_, Epilogue::GeluTanh, pre);
    } else {
      linear_forward<T>(*gemm_, pre, inp, W(w.fcw), W(w.fcb), (int)rows, C, F, s_);
      activation_forward<T>(cfg_.activation, act, pre, rows * F, s_);
    }
  }

  // Forward of the B x T tokens in tokens_ into logits_ (activations kept for the backward).
  void run_forward(int B, int T_, float p, uint64_t call, bool backward) {
    ensure_acts(B, T_, backward);
    const int64_t BT = (int64_t)B * T_;
    const int C = cfg_.n_embd, F = cfg_.hidden(), V = cfg_.vocab_size, L = cfg_.n_layer;
    const float eps = cfg_.ln_eps;
    encoder_forward<T>(res_.p, tokens_.p, W(wte_), W(wpe_), B, T_, C, 0, s_);
    if (p > 0.0f && cfg_.embd_dropout)
      dropout_apply<T>(res_.p, res_.p, BT * C, p, dropout_stream(seed_, call, L, 3), 0, s_);
    residual_layernorm_forward<T>(nullptr, ln1_.p, st(0, 0), st(0, 1), res_.p, nullptr, W(L_[0].ln1w), W(L_[0].ln1b),
                                  BT, C, eps, 0.0f, 0, s_);
    for (int l = 0; l < L; l++) {
      const LayerOff& w = L_[l];
      T* xin = res_.p + l * BT * C;
      T* xout = res_.p + (l + 1) * BT * C;
      T* ln1 = ln1_.p + l * BT * C;
      T* qkv = qkv_.p + l * BT * 3 * C;
      T* att = att_.p + l * BT * C;
      T* xmid = xmid_.p + l * BT * C;
      T* ln2 = ln2_.p + l * BT * C;
      float* lse = lse_.p + (size_t)l * B * cfg_.n_head * T_;
      linear_forward<T>(*gemm_, qkv, ln1, W(w.qkvw), W(w.qkvb), (int)BT, C, 3 * C, s_);
      attn_forward(att, lse, qkv, B, T_, p, dropout_stream(seed_, call, l, 0));
      linear_forward<T>(*gemm_, tmp_.p, att, W(w.projw), W(w.projb), (int)BT, C, C, s_);
      residual_layernorm_forward<T>(xmid, ln2, st(l, 2), st(l, 3), xin, tmp_.p, W(w.ln2w), W(w.ln2b), BT, C, eps, p,
                                    dropout_stream(seed_, call, l, 1), s_);
      T* pre = fcpre_.p + l * BT * F;
      T* act = fcact_.p + l * BT * F;
      mlp_up(act, pre, ln2, w, BT);
      linear_forward<T>(*gemm_, tmp_.p, act, W(w.mlpw), W(w.mlpb), (int)BT, F, C, s_);
      const bool last = l + 1 == L;
      residual_layernorm_forward<T>(xout, last ? lnf_.p : ln1_.p + (l + 1) * BT * C, last ? lnf_stat(0) : st(l + 1, 0),
                                    last ? lnf_stat(1) : st(l + 1, 1), xmid, tmp_.p,
                                    last ? W(lnfw_) : W(L_[l + 1].ln1w), last ? W(lnfb_) : W(L_[l + 1].ln1b), BT, C,
                                    eps, p, dropout_stream(seed_, call, l, 2), s_);
    }
    linear_forward<T>(*gemm_, logits_.p, lnf_.p, W(headw_), W(headb_), (int)BT, C, V, s_);
  }

  // Backward from the logits' gradient (in logits_), adding into grads_.
  void run_backward(int B, int T_, float p, uint64_t call) {
    const int64_t BT = (int64_t)B * T_;
    const int C = cfg_.n_embd, F = cfg_.hidden(), V = cfg_.vocab_size, L = cfg_.n_layer;
    float* cs = colsum_.p;
    // head
    linear_backward_input<T>(*gemm_, dc1_.p, logits_.p, W(headw_), (int)BT, C, V, s_);
    linear_backward_weight_bias<T>(*gemm_, G(headw_), G(headb_), logits_.p, lnf_.p, (int)BT, C, V, true, cs, s_);
    CUDA_CHECK(cudaMemsetAsync(dres_.p, 0, BT * C * sizeof(T), s_));
    layernorm_backward<T>(dres_.p, G(lnfw_), G(lnfb_), dc1_.p, res_.p + L * BT * C, W(lnfw_), lnf_stat(0), lnf_stat(1),
                          BT, C, cs, s_);
    for (int l = L - 1; l >= 0; l--) {
      const LayerOff& w = L_[l];
      T* xin = res_.p + l * BT * C;
      T* ln1 = ln1_.p + l * BT * C;
      T* qkv = qkv_.p + l * BT * 3 * C;
      T* att = att_.p + l * BT * C;
      T* xmid = xmid_.p + l * BT * C;
      T* ln2 = ln2_.p + l * BT * C;
      T* pre = fcpre_.p + l * BT * F;
      T* act = fcact_.p + l * BT * F;
      float* lse = lse_.p + (size_t)l * B * cfg_.n_head * T_;
      // MLP branch: xout = xmid + drop(mlp)
      const T* dbr = dres_.p;
      if (p > 0.0f) {
        dropout_apply<T>(dc2_.p, dres_.p, BT * C, p, dropout_stream(seed_, call, l, 2), 0, s_);
        dbr = dc2_.p;
      }
      linear_backward_weight_bias<T>(*gemm_, G(w.mlpw), G(w.mlpb), dbr, act, (int)BT, F, C, true, cs, s_);
      if (fuse_gelu()) {
        linear_backward_input<T>(*gemm_, dbig_.p, dbr, W(w.mlpw), (int)BT, F, C, s_, Epilogue::DGeluTanh, pre);
      } else {
        linear_backward_input<T>(*gemm_, dbig_.p, dbr, W(w.mlpw), (int)BT, F, C, s_);
        activation_backward<T>(cfg_.activation, dbig_.p, pre, dbig_.p, BT * F, s_);
      }
      linear_backward_weight_bias<T>(*gemm_, G(w.fcw), G(w.fcb), dbig_.p, ln2, (int)BT, C, F, true, cs, s_);
      linear_backward_input<T>(*gemm_, dc1_.p, dbig_.p, W(w.fcw), (int)BT, C, F, s_);
      layernorm_backward<T>(dres_.p, G(w.ln2w), G(w.ln2b), dc1_.p, xmid, W(w.ln2w), st(l, 2), st(l, 3), BT, C, cs, s_);
      // attention branch: xmid = xin + drop(proj(att))
      dbr = dres_.p;
      if (p > 0.0f) {
        dropout_apply<T>(dc2_.p, dres_.p, BT * C, p, dropout_stream(seed_, call, l, 1), 0, s_);
        dbr = dc2_.p;
      }
      linear_backward_weight_bias<T>(*gemm_, G(w.projw), G(w.projb), dbr, att, (int)BT, C, C, true, cs, s_);
      linear_backward_input<T>(*gemm_, dc1_.p, dbr, W(w.projw), (int)BT, C, C, s_);
      attn_backward(dbig_.p, dc1_.p, qkv, att, lse, B, T_, p, dropout_stream(seed_, call, l, 0));
      linear_backward_weight_bias<T>(*gemm_, G(w.qkvw), G(w.qkvb), dbig_.p, ln1, (int)BT, C, 3 * C, true, cs, s_);
      linear_backward_input<T>(*gemm_, dc1_.p, dbig_.p, W(w.qkvw), (int)BT, C, 3 * C, s_);
      layernorm_backward<T>(dres_.p, G(w.ln1w), G(w.ln1b), dc1_.p, xin, W(w.ln1w), st(l, 0), st(l, 1), BT, C, cs, s_);
    }
    if (p > 0.0f && cfg_.embd_dropout)
      dropout_apply<T>(dres_.p, dres_.p, BT * C, p, dropout_stream(seed_, call, L, 3), 0, s_);
    encoder_backward<T>(G(wte_), G(wpe_), dres_.p, b_tok_.p, b_start_.p, b_pos_.p, (int)buckets_.tokens.size(), B, T_,
                        C, s_);
  }

  // Generation: n tokens (device ids `tok`) at positions pos0.. of one sequence (pos0 read from pos_dev
  // when non-null, which is then advanced by n), the cache holding positions < pos0; the last token's
  // logits (fp32) into gen_logits_. Uses layer 0's activation buffers. Capturable in a CUDA graph.
  void decode(const int32_t* tok, int n, int pos0, int32_t* pos_dev) {
    const int C = cfg_.n_embd, F = cfg_.hidden(), V = cfg_.vocab_size, L = cfg_.n_layer, H = cfg_.n_head;
    const int hs = cfg_.head_size();
    const size_t cache = (size_t)cfg_.block_size * C;
    const float eps = cfg_.ln_eps;
    T* x = res_.p;
    T* x2 = res_.p + (size_t)n * C;
    T* ln = ln1_.p;
    T* qkv = qkv_.p;
    T* att = att_.p;
    T* pre = fcpre_.p;
    T* act = fcact_.p;
    float* mean = st(0, 0);
    float* rstd = st(0, 1);
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
      mlp_up(act, pre, ln, w, n);
      linear_forward<T>(*gemm_, tmp_.p, act, W(w.mlpw), W(w.mlpb), n, F, C, s_);
      const bool last = l + 1 == L;
      residual_layernorm_forward<T>(x, ln, mean, rstd, x2, tmp_.p, last ? W(lnfw_) : W(L_[l + 1].ln1w),
                                    last ? W(lnfb_) : W(L_[l + 1].ln1b), n, C, eps, 0.0f, 0, s_);
    }
    // logits of the last row only
    T* lrow = logits_.p;
    linear_forward<T>(*gemm_, lrow, ln + (size_t)(n - 1) * C, W(headw_), W(headb_), 1, C, V, s_);
    convert<float, T>(gen_logits_.p, lrow, V, s_);
    if (pos_dev) advance_position(pos_dev, n, s_);
  }

  ModelConfig cfg_;
  ParamLayout layout_;
  int dev_;
  std::string name_;
  cudaStream_t s_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  DBuf<float> params_, grads_, m_, v_;
  DBuf<unsigned char> work_;  // bf16 working copy (bf16 mode only)
  DBuf<int64_t> starts_;
  DBuf<uint8_t> decay_;
  std::vector<uint8_t> decay_host_;
  DBuf<double> norm_scratch_;
  DBuf<float> scalars_;  // [0] mean loss, [1] gradient norm
  int64_t step_ = 0;
  uint64_t seed_ = 0, calls_ = 0;
  int64_t wte_ = -1, wpe_ = -1, lnfw_ = -1, lnfb_ = -1, headw_ = -1, headb_ = -1;
  std::vector<LayerOff> L_;
  int B_ = 0, T_cur_ = 0;
  DBuf<int32_t> tokens_, targets_, b_tok_, b_start_, b_pos_;
  EncoderBuckets buckets_;
  HostBuf<int32_t> h_tokens_, h_targets_, h_btok_, h_bstart_, h_bpos_;
  DBuf<T> res_, ln1_, att_, xmid_, ln2_, qkv_, fcpre_, fcact_, lnf_, tmp_, logits_;
  DBuf<float> stats_, lse_, losses_, host_f32_;
  DBuf<T> dres_, dc1_, dc2_, dbig_;
  DBuf<float> colsum_, attn_scratch_;
  DBuf<T> kcache_, vcache_;
  DBuf<int32_t> gen_tok_, gen_id_, gen_pos_;
  int32_t pos_host_ = 0;
  DBuf<float> gen_logits_;
};

}  // namespace

std::unique_ptr<Engine> make_engine(const ModelConfig& cfg, int device, Precision precision) {
  if (precision == Precision::FP32) return std::unique_ptr<Engine>(new CudaEngine<float>(cfg, device));
  return std::unique_ptr<Engine>(new CudaEngine<bf16>(cfg, device));
}

}  // namespace cuda
}  // namespace mypt
