// GptTrainer (gpt_train.cuh): batched forward, loss, backward and AdamW of the CUDA GPT.
#include "gpt_train.cuh"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "activation.cuh"
#include "adamw.cuh"
#include "attention.cuh"
#include "attention_rows.cuh"
#include "classifier.cuh"
#include "dropout_ops.cuh"
#include "engine/dropout.h"
#include "layernorm.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

template <typename T>
GptTrainer<T>::GptTrainer(GptModel<T>& gpt)
    : gpt_(gpt), cfg_(gpt.cfg), layout_(gpt.layout), s_(gpt.s), gemm_(gpt.gemm.get()),
      L_(gpt.L), wte_(gpt.wte), wpe_(gpt.wpe), lnfw_(gpt.lnfw), lnfb_(gpt.lnfb), headw_(gpt.headw), headb_(gpt.headb) {
  const int64_t N = layout_.total;
  grads_.ensure(N);
  m_.ensure(N);
  v_.ensure(N);
  CUDA_CHECK(cudaMemsetAsync(grads_.p, 0, N * 4, s_));
  CUDA_CHECK(cudaMemsetAsync(m_.p, 0, N * 4, s_));
  CUDA_CHECK(cudaMemsetAsync(v_.p, 0, N * 4, s_));
  const int nt = (int)layout_.params.size();
  std::vector<int64_t> starts(nt + 1);
  for (int i = 0; i < nt; i++) starts[i] = layout_.params[i].offset;
  starts[nt] = N;
  starts_.ensure(nt + 1);
  CUDA_CHECK(cudaMemcpyAsync(starts_.p, starts.data(), (nt + 1) * 8, cudaMemcpyHostToDevice, s_));
  decay_.ensure(nt);
  set_decay_mask(std::vector<uint8_t>(nt, 1));
  // The gradients a step's first writer adds to (biases, LayerNorms, wpe, an untied wte): zeroed before the
  // backward, in spans of kZeroSpan floats. The matrices of the linear layers and the head are overwritten
  // by their weight-gradient GEMM (beta 0) instead, so the step never clears the whole buffer.
  std::vector<int64_t> gemm_written = {headw_};
  for (const LayerOff& w : L_) gemm_written.insert(gemm_written.end(), {w.qkvw, w.projw, w.fcw, w.mlpw});
  std::vector<int64_t> spans;
  for (const ParamInfo& t : layout_.params) {
    if (std::find(gemm_written.begin(), gemm_written.end(), t.offset) != gemm_written.end()) continue;
    for (int64_t o = 0; o < t.numel; o += kZeroSpan)
      spans.insert(spans.end(), {t.offset + o, std::min(kZeroSpan, t.numel - o)});
  }
  zero_spans_.ensure(spans.size());
  CUDA_CHECK(cudaMemcpyAsync(zero_spans_.p, spans.data(), spans.size() * 8, cudaMemcpyHostToDevice, s_));
  norm_scratch_.ensure(1024);
  scalars_.ensure(4);
  if (const char* mb = std::getenv("MYPT_CLASSIFIER_CHUNK_MB"); mb && std::atoll(mb) > 0)
    chunk_bytes_ = std::atoll(mb) << 20;
  CUDA_CHECK(cudaStreamSynchronize(s_));
}

template <typename T>
void GptTrainer<T>::get_gradients(float* dst) {
  use();
  CUDA_CHECK(cudaMemcpyAsync(dst, grads_.p, layout_.total * 4, cudaMemcpyDeviceToHost, s_));
  sync();
}

template <typename T>
void GptTrainer<T>::set_optimizer_state(const float* m, const float* v, int64_t step) {
  if (step < 0) throw std::invalid_argument("optimizer step must not be negative");
  use();
  if (group_) {  // this rank's shard of the whole moments
    std::vector<float> ms((size_t)plan_.shard_size), vs((size_t)plan_.shard_size);
    shard_of(plan_, m, ms.data());
    shard_of(plan_, v, vs.data());
    CUDA_CHECK(cudaMemcpyAsync(m_.p, ms.data(), ms.size() * 4, cudaMemcpyHostToDevice, s_));
    CUDA_CHECK(cudaMemcpyAsync(v_.p, vs.data(), vs.size() * 4, cudaMemcpyHostToDevice, s_));
    step_ = step;
    sync();  // before ms, vs go
    return;
  }
  CUDA_CHECK(cudaMemcpyAsync(m_.p, m, layout_.total * 4, cudaMemcpyHostToDevice, s_));
  CUDA_CHECK(cudaMemcpyAsync(v_.p, v, layout_.total * 4, cudaMemcpyHostToDevice, s_));
  step_ = step;
  sync();
}

template <typename T>
void GptTrainer<T>::get_optimizer_state(float* m, float* v, int64_t* step) {
  use();
  if (group_) {
    get_moments_dp(m, v);
  } else {
    if (m) CUDA_CHECK(cudaMemcpyAsync(m, m_.p, layout_.total * 4, cudaMemcpyDeviceToHost, s_));
    if (v) CUDA_CHECK(cudaMemcpyAsync(v, v_.p, layout_.total * 4, cudaMemcpyDeviceToHost, s_));
  }
  if (step) *step = step_;
  sync();
}

template <typename T>
void GptTrainer<T>::set_decay_mask(const std::vector<uint8_t>& mask) {
  if (mask.size() != layout_.params.size())
    throw std::invalid_argument("decay mask has " + std::to_string(mask.size()) + " entries, the model has " +
                                std::to_string(layout_.params.size()) + " tensors");
  use();
  decay_host_ = mask;
  for (auto& d : decay_host_) d = d ? 1 : 0;
  CUDA_CHECK(cudaMemcpyAsync(decay_.p, decay_host_.data(), mask.size(), cudaMemcpyHostToDevice, s_));
  if (group_) build_dp_tables();
  sync();
}

template <typename T>
void GptTrainer<T>::set_seed(uint64_t seed) {
  seed_ = seed;
  calls_ = 0;
}

template <typename T>
void GptTrainer<T>::forward(const int32_t* tokens, int B, int T_, float* logits) {
  gpt_.check_shape(B, T_);
  gpt_.check_tokens(tokens, (int64_t)B * T_, "token");
  use();
  upload_tokens(tokens, nullptr, (int64_t)B * T_);
  run_forward(B, T_, 0.0f, 0, false, true);
  linear_forward<T>(*gemm_, logits_.p, lnf_.p, W(headw_), W(headb_), B * T_, cfg_.n_embd, cfg_.vocab_size, s_);
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

template <typename T>
float GptTrainer<T>::loss(const int32_t* tokens, const int32_t* targets, int B, int T_) {
  gpt_.check_shape(B, T_);
  gpt_.check_tokens(tokens, (int64_t)B * T_, "token");
  gpt_.check_tokens(targets, (int64_t)B * T_, "target");
  use();
  const int64_t BT = (int64_t)B * T_;
  upload_tokens(tokens, targets, BT);
  run_forward(B, T_, 0.0f, 0, false);
  classify(BT, 0.0f, false, true);
  return read_mean_loss(BT);
}

template <typename T>
float GptTrainer<T>::forward_backward(const int32_t* tokens, const int32_t* targets, int B, int T_, bool train,
                                      float loss_scale, bool accumulate) {
  gpt_.check_shape(B, T_);
  gpt_.check_tokens(tokens, (int64_t)B * T_, "token");
  gpt_.check_tokens(targets, (int64_t)B * T_, "target");
  use();
  float* loss = h_results_.ensure(1);
  enqueue_forward_backward(tokens, targets, B, T_, train, loss_scale, accumulate, loss);
  sync();
  return *loss;
}

// One step without a wait between its parts: while the GPU runs a micro-batch the host sorts its embedding
// buckets and queues the rest, the optimizer included; the losses and the norm come back at one wait.
template <typename T>
StepResult GptTrainer<T>::train_step(const int32_t* tokens, const int32_t* targets, int micro, int B, int T_,
                                     const AdamWParams& p) {
  StepResult r;
  run_steps(tokens, targets, 1, micro, B, T_, &p, nullptr, &r);
  return r;
}

template <typename T>
void GptTrainer<T>::train_steps(const int32_t* tokens, const int32_t* targets, int steps, int micro, int B, int T_,
                                const AdamWParams* p, const uint64_t* seeds, StepResult* out) {
  run_steps(tokens, targets, steps, micro, B, T_, p, seeds, out);
}

// Steps queued one after the other with no wait between them: a micro-batch's uploads wait only until the
// copies of the one before have run (upload_tokens, upload_buckets), so the host runs at most about a step
// ahead and the next step is queued on the GPU before the last one ends. One wait at the end reads every
// micro-batch's loss and every step's norm.
template <typename T>
void GptTrainer<T>::run_steps(const int32_t* tokens, const int32_t* targets, int steps, int micro, int B, int T_,
                              const AdamWParams* p, const uint64_t* seeds, StepResult* out) {
  if (micro < 1) throw std::invalid_argument("a training step needs at least one micro-batch");
  if (steps < 1) return;
  const int64_t BT = (int64_t)B * T_, per_step = micro * BT;
  gpt_.check_shape(B, T_);
  gpt_.check_tokens(tokens, steps * per_step, "token");
  gpt_.check_tokens(targets, steps * per_step, "target");
  use();
  // Every pinned buffer the steps copy through at its largest now, while the stream is idle (the last public
  // call waited for it): none is reallocated under a queued copy.
  float* res = h_results_.ensure((size_t)steps * (micro + 1));  // each step's micro-batch losses, then its norm
  h_tokens_.ensure(BT);
  h_targets_.ensure(BT);
  h_btok_.ensure(BT);
  h_bstart_.ensure(BT + 1);
  h_bpos_.ensure(BT);
  try {
    for (int i = 0; i < steps; i++) {
      if (seeds) set_seed(seeds[i]);
      float* o = res + (size_t)i * (micro + 1);
      for (int m = 0; m < micro; m++)
        enqueue_forward_backward(tokens + i * per_step + m * BT, targets + i * per_step + m * BT, B, T_, true,
                                 1.0f / micro, m > 0, o + m);
      enqueue_optimizer_step(p[i], o + micro);
    }
  } catch (...) {
    cudaStreamSynchronize(s_);  // the steps already queued end (their copies land) before the error goes up
    throw;
  }
  sync();
  for (int i = 0; i < steps; i++) {
    const float* o = res + (size_t)i * (micro + 1);
    double total = 0.0;
    for (int m = 0; m < micro; m++) total += o[m];
    out[i].loss = (float)(total / micro);
    out[i].grad_norm = o[micro];
  }
}

template <typename T>
void GptTrainer<T>::enqueue_forward_backward(const int32_t* tokens, const int32_t* targets, int B, int T_, bool train,
                                             float loss_scale, bool accumulate, float* loss_out) {
  const float p = train ? cfg_.dropout : 0.0f;
  const uint64_t call = train ? calls_++ : 0;
  const int64_t BT = (int64_t)B * T_;
  upload_tokens(tokens, targets, BT);
  ensure_acts(B, T_, true);
  // the embeddings' buckets at their largest (BT distinct tokens), so that their upload after the graph
  // never allocates (which would change the next step's key)
  b_tok_.ensure(BT);
  b_start_.ensure(BT + 1);
  b_pos_.ensure(BT);
  const auto body = [&] {
    run_forward(B, T_, p, call, true);
    if (!accumulate) zero_spans(grads_.p, zero_spans_.p, (int)(zero_spans_.n / 2), s_);
    classify(BT, loss_scale / (float)BT, true, accumulate);
    mean_loss(scalars_.p, losses_.p, BT, s_);
    run_backward(B, T_, p, call, accumulate);
  };
  // Without dropout (whose masks depend on the call) and outside a group (whose reductions the backward
  // issues from the host), the same shape on the same buffers is the same sequence of kernels: the second
  // such call captures it as one CUDA graph, and later ones replay it (no launch gaps between its kernels).
  // The first micro-batch of a step (overwriting the gradients) and the later ones (adding to them) each keep
  // a graph, so that gradient accumulation replays too. The key is kept only once the eager run has been queued without an error.
  std::vector<uint64_t> key;
  if (train && p == 0.0f && !group_ && graphs_on()) key = step_key(B, T_, loss_scale, accumulate);
  GraphGuard& graph = step_graph_[accumulate];
  std::vector<uint64_t>& graph_key = step_graph_key_[accumulate];
  if (!key.empty() && key == graph_key) {
    if (!graph.exec) graph.capture(s_, cudaStreamCaptureModeRelaxed, body);
    CUDA_CHECK(cudaGraphLaunch(graph.exec, s_));
  } else {
    graph.reset();
    graph_key.clear();
    body();
    graph_key = key;
  }
  // the token embeddings' gradient, from the buckets sorted on the host while the GPU runs the step
  buckets_.build(tokens, BT);
  upload_buckets();
  if (p > 0.0f && cfg_.embd_dropout)
    dropout_apply<T>(dres_.p, dres_.p, BT * cfg_.n_embd, p, dropout_stream(seed_, call, cfg_.n_layer, 3), 0, s_);
  encoder_backward<T>(G(wte_), G(wpe_), dres_.p, b_tok_.p, b_start_.p, b_pos_.p, (int)buckets_.tokens.size(), B, T_,
                      cfg_.n_embd, s_);
  grads_final(cfg_.n_layer + 1);
  CUDA_CHECK(cudaMemcpyAsync(loss_out, scalars_.p, 4, cudaMemcpyDeviceToHost, s_));
}

template <typename T>
bool GptTrainer<T>::graphs_on() {
  return env_switch("MYPT_TRAIN_GRAPH", true);  // read each step, so that a test can compare both ways
}

// What a captured step depends on besides the weights' values: its shape, loss scale, accumulation and
// recomputation, and the buffers it reads and writes. Those are all allocated (ensure_acts, the uploads) before
// the key is taken, and a buffer grown or made again anywhere changes cuda_malloc's count, so an unchanged count
// means every address the graph holds is still the same buffer.
template <typename T>
std::vector<uint64_t> GptTrainer<T>::step_key(int B, int T_, float loss_scale, bool accumulate) {
  return {(uint64_t)B, (uint64_t)T_, float_bits(loss_scale), accumulate, (uint64_t)recompute_, allocation_count()};
}

template <typename T>
float GptTrainer<T>::optimizer_step(const AdamWParams& p) {
  use();
  if (group_) return optimizer_step_dp(p);
  float* norm = h_results_.ensure(1);
  enqueue_optimizer_step(p, norm);
  sync();
  return *norm;
}

template <typename T>
void GptTrainer<T>::enqueue_optimizer_step(const AdamWParams& p, float* norm_out) {
  step_++;
  global_norm(scalars_.p + 1, grads_.p, layout_.total, norm_scratch_.p, s_);
  adamw_update(gpt_.masters(), m_.p, v_.p, grads_.p, layout_.total, starts_.p, decay_.p, (int)layout_.params.size(),
               p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, step_, scalars_.p + 1, p.grad_clip, s_);
  CUDA_CHECK(cudaMemcpyAsync(norm_out, scalars_.p + 1, 4, cudaMemcpyDeviceToHost, s_));
}

template <typename T>
void GptTrainer<T>::upload(DBuf<int32_t>& dst, HostBuf<int32_t>& stage, const int32_t* src, size_t n) {
  dst.ensure(n);
  CUDA_CHECK(cudaMemcpyAsync(dst.p, stage.fill(src, n), n * 4, cudaMemcpyHostToDevice, s_));
}

// Each group of staging buffers is refilled only once the copies out of it that were queued last have run.
template <typename T>
void GptTrainer<T>::upload_tokens(const int32_t* tok, const int32_t* tgt, int64_t BT) {
  tokens_copied_.wait();
  upload(tokens_, h_tokens_, tok, BT);
  if (tgt) upload(targets_, h_targets_, tgt, BT);
  tokens_copied_.record(s_);
}

template <typename T>
void GptTrainer<T>::upload_buckets() {
  buckets_copied_.wait();
  upload(b_tok_, h_btok_, buckets_.tokens.data(), buckets_.tokens.size());
  upload(b_start_, h_bstart_, buckets_.start.data(), buckets_.start.size());
  upload(b_pos_, h_bpos_, buckets_.positions.data(), buckets_.positions.size());
  buckets_copied_.record(s_);
}

template <typename T>
float GptTrainer<T>::read_mean_loss(int64_t BT) {
  mean_loss(scalars_.p, losses_.p, BT, s_);
  float loss = 0.0f;
  CUDA_CHECK(cudaMemcpyAsync(&loss, scalars_.p, 4, cudaMemcpyDeviceToHost, s_));
  sync();
  return loss;
}

template <typename T>
void GptTrainer<T>::set_recompute(int level) {
  if (level == recompute_) return;
  use();
  sync();
  recompute_ = level;
  // the buffers of one layer's slot, or of every layer, are sized again at the next step
  ln1_.release();
  ln2_.release();
  fcact_.release();
}

// Rows of one classifier chunk: the [rows, V] logits at most chunk_bytes_ (512 MB; MYPT_CLASSIFIER_CHUNK_MB, a
// tuning and test switch), in equal chunks (a multiple of 64 rows) so that no chunk is a small remainder.
template <typename T>
int64_t GptTrainer<T>::classifier_chunk(int64_t BT) const {
  const int64_t cap = std::max<int64_t>(64, chunk_bytes_ / ((int64_t)cfg_.vocab_size * (int64_t)sizeof(T)));
  if (BT <= cap) return BT;
  const int64_t n = (BT + cap - 1) / cap;
  return std::min<int64_t>(BT, ((BT + n - 1) / n + 63) / 64 * 64);
}

template <typename T>
void GptTrainer<T>::ensure_acts(int B, int T_, bool backward, bool full_logits) {
  const size_t BT = (size_t)B * T_, C = cfg_.n_embd, F = cfg_.hidden(), V = cfg_.vocab_size, L = cfg_.n_layer;
  const size_t H = cfg_.n_head;
  const size_t LN = recompute_ >= 2 ? 1 : L, LA = recompute_ >= 1 ? 1 : L;
  res_.ensure((L + 1) * BT * C);
  ln1_.ensure(LN * BT * C);
  att_.ensure(L * BT * C);
  xmid_.ensure(L * BT * C);
  ln2_.ensure(LN * BT * C);
  qkv_.ensure(L * BT * 3 * C);
  fcpre_.ensure(L * BT * F);
  fcact_.ensure(LA * BT * F);
  stats_.ensure(L * BT * 4 + 2 * BT);  // ln1 mean, rstd, ln2 mean, rstd per layer; lnf mean, rstd
  lse_.ensure(L * B * H * T_);
  lnf_.ensure(BT * C);
  tmp_.ensure(BT * C);
  logits_.ensure((full_logits ? BT : (size_t)classifier_chunk((int64_t)BT)) * V);
  losses_.ensure(BT);
  if (backward) {
    dres_.ensure(BT * C);
    dc1_.ensure(BT * C);
    dc2_.ensure(BT * C);
    dbig_.ensure(BT * (F > 3 * C ? F : 3 * C));
    // column sums: the LayerNorm parameter gradients (C wide) and the bias gradients of the layers that have
    // biases (where the GEMM's epilogue does not take them); the head's V-wide one only with a head bias
    size_t cols = C;
    if (cfg_.qkv_bias) cols = std::max(cols, 3 * C);
    if (cfg_.mlp_bias) cols = std::max(cols, F);
    if (cfg_.head_bias) cols = std::max(cols, V);
    colsum_.ensure((size_t)std::max(colsum_scratch_floats(BT, (int)cols), layernorm_scratch_floats(BT, (int)C)));
    const size_t attn_bytes = flash_ok() ? attention_backward_scratch_bytes(B, T_, (int)C, (int)H) : 0;
    const size_t rows_bytes = (size_t)B * H * T_ * 4;
    attn_scratch_.ensure((attn_bytes > rows_bytes ? attn_bytes : rows_bytes) / 4 + 4);
  }
  B_ = B;
  T_cur_ = T_;
}

template <typename T>
bool GptTrainer<T>::flash_ok() const {
  const int hs = cfg_.head_size();
  return hs == 32 || hs == 64 || hs == 128;
}

template <typename T>
void GptTrainer<T>::attn_forward(T* out, float* lse, const T* qkv, int B, int T_, float p, uint64_t seed) {
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

template <typename T>
void GptTrainer<T>::attn_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, int B, int T_,
                                  float p, uint64_t seed) {
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

template <typename T>
void GptTrainer<T>::run_forward(int B, int T_, float p, uint64_t call, bool backward, bool full_logits) {
  ensure_acts(B, T_, backward, full_logits);
  const int64_t BT = (int64_t)B * T_;
  const int C = cfg_.n_embd, F = cfg_.hidden(), L = cfg_.n_layer;
  const float eps = cfg_.ln_eps;
  encoder_forward<T>(res_.p, tokens_.p, W(wte_), W(wpe_), B, T_, C, 0, s_);
  if (p > 0.0f && cfg_.embd_dropout)
    dropout_apply<T>(res_.p, res_.p, BT * C, p, dropout_stream(seed_, call, L, 3), 0, s_);
  residual_layernorm_forward<T>(nullptr, ln1_at(0), st(0, 0), st(0, 1), res_.p, nullptr, W(L_[0].ln1w),
                                W(L_[0].ln1b), BT, C, eps, 0.0f, 0, s_);
  for (int l = 0; l < L; l++) {
    const LayerOff& w = L_[l];
    T* xin = res_.p + l * BT * C;
    T* xout = res_.p + (l + 1) * BT * C;
    T* ln1 = ln1_at(l);
    T* qkv = qkv_.p + l * BT * 3 * C;
    T* att = att_.p + l * BT * C;
    T* xmid = xmid_.p + l * BT * C;
    T* ln2 = ln2_at(l);
    float* lse = lse_.p + (size_t)l * B * cfg_.n_head * T_;
    linear_forward<T>(*gemm_, qkv, ln1, W(w.qkvw), W(w.qkvb), (int)BT, C, 3 * C, s_);
    attn_forward(att, lse, qkv, B, T_, p, dropout_stream(seed_, call, l, 0));
    linear_forward<T>(*gemm_, tmp_.p, att, W(w.projw), W(w.projb), (int)BT, C, C, s_);
    residual_layernorm_forward<T>(xmid, ln2, st(l, 2), st(l, 3), xin, tmp_.p, W(w.ln2w), W(w.ln2b), BT, C, eps, p,
                                  dropout_stream(seed_, call, l, 1), s_);
    T* pre = fcpre_.p + l * BT * F;
    T* act = act_at(l);
    gpt_.mlp_up(act, pre, ln2, w, BT);
    linear_forward<T>(*gemm_, tmp_.p, act, W(w.mlpw), W(w.mlpb), (int)BT, F, C, s_);
    const bool last = l + 1 == L;
    residual_layernorm_forward<T>(xout, last ? lnf_.p : ln1_at(l + 1), last ? lnf_stat(0) : st(l + 1, 0),
                                  last ? lnf_stat(1) : st(l + 1, 1), xmid, tmp_.p,
                                  last ? W(lnfw_) : W(L_[l + 1].ln1w), last ? W(lnfb_) : W(L_[l + 1].ln1b), BT, C,
                                  eps, p, dropout_stream(seed_, call, l, 2), s_);
  }
}

template <typename T>
void GptTrainer<T>::classify(int64_t BT, float dloss, bool backward, bool accumulate) {
  const int C = cfg_.n_embd, V = cfg_.vocab_size;
  const int64_t chunk = classifier_chunk(BT);
  for (int64_t r0 = 0; r0 < BT; r0 += chunk) {
    const int rows = (int)std::min<int64_t>(chunk, BT - r0);
    const T* x = lnf_.p + r0 * C;
    linear_forward<T>(*gemm_, logits_.p, x, W(headw_), W(headb_), rows, C, V, s_);
    crossentropy_forward_backward<T>(losses_.p + r0, logits_.p, targets_.p + r0, rows, V, dloss, backward, s_);
    if (!backward) continue;
    linear_backward_input<T>(*gemm_, dc1_.p + r0 * C, logits_.p, W(headw_), rows, C, V, s_);
    linear_backward_weight_bias<T>(*gemm_, G(headw_), G(headb_), logits_.p, x, rows, C, V, accumulate || r0 > 0,
                                   colsum_.p, s_);
  }
}

template <typename T>
void GptTrainer<T>::run_backward(int B, int T_, float p, uint64_t call, bool accumulate) {
  const int64_t BT = (int64_t)B * T_;
  const int C = cfg_.n_embd, F = cfg_.hidden(), L = cfg_.n_layer;
  const float eps = cfg_.ln_eps;
  float* cs = colsum_.p;
  // the head's gradients are in (classify); the final LayerNorm's input gradient starts the residual stream's
  CUDA_CHECK(cudaMemsetAsync(dres_.p, 0, BT * C * sizeof(T), s_));
  // The bias gradients of the two projections that add into the residual stream are column sums of its
  // gradient, taken by the LayerNorm backward that writes it (without dropout, which changes what they see):
  // the MLP projection's of block l by the backward of the LayerNorm after it (ln1 of l + 1, or lnf), the
  // attention projection's by ln2's of the same block.
  const bool sum_in_ln = p == 0.0f;
  layernorm_backward<T>(dres_.p, G(lnfw_), G(lnfb_), sum_in_ln ? G(L_[L - 1].mlpb) : nullptr, dc1_.p,
                        res_.p + L * BT * C, W(lnfw_), lnf_stat(0), lnf_stat(1), BT, C, cs, s_);
  grads_final(0);  // lnf and the head are final (a tied head's wte is not: the embeddings add to it)
  for (int l = L - 1; l >= 0; l--) {
    const LayerOff& w = L_[l];
    T* xin = res_.p + l * BT * C;
    T* ln1 = ln1_at(l);
    T* qkv = qkv_.p + l * BT * 3 * C;
    T* att = att_.p + l * BT * C;
    T* xmid = xmid_.p + l * BT * C;
    T* ln2 = ln2_at(l);
    T* pre = fcpre_.p + l * BT * F;
    T* act = act_at(l);
    // recomputed activations: the GELU output from its input, the LayerNorm outputs from the residual stream
    // (the same kernels on the same inputs: bit for bit the forward's values; statistics rewritten unchanged)
    if (recompute_ >= 1) activation_forward<T>(cfg_.activation, act, pre, BT * F, s_);
    if (recompute_ >= 2) {
      residual_layernorm_forward<T>(nullptr, ln2, st(l, 2), st(l, 3), xmid, nullptr, W(w.ln2w), W(w.ln2b), BT, C, eps,
                                    0.0f, 0, s_);
      residual_layernorm_forward<T>(nullptr, ln1, st(l, 0), st(l, 1), xin, nullptr, W(w.ln1w), W(w.ln1b), BT, C, eps,
                                    0.0f, 0, s_);
    }
    float* lse = lse_.p + (size_t)l * B * cfg_.n_head * T_;
    // MLP branch: xout = xmid + drop(mlp)
    const T* dbr = dres_.p;
    if (p > 0.0f) {
      dropout_apply<T>(dc2_.p, dres_.p, BT * C, p, dropout_stream(seed_, call, l, 2), 0, s_);
      dbr = dc2_.p;
    }
    linear_backward_weight_bias<T>(*gemm_, G(w.mlpw), sum_in_ln ? nullptr : G(w.mlpb), dbr, act, (int)BT, F, C,
                                   accumulate, cs, s_);
    float* fcb_grad = G(w.fcb);  // taken by the activation's backward where that runs on its own
    if (gpt_.fuse_gelu()) {
      linear_backward_input<T>(*gemm_, dbig_.p, dbr, W(w.mlpw), (int)BT, F, C, s_, Epilogue::DGeluTanh, pre);
    } else {
      linear_backward_input<T>(*gemm_, dbig_.p, dbr, W(w.mlpw), (int)BT, F, C, s_);
      if (fcb_grad) activation_backward_bias<T>(cfg_.activation, dbig_.p, pre, dbig_.p, BT, F, fcb_grad, cs, s_);
      else activation_backward<T>(cfg_.activation, dbig_.p, pre, dbig_.p, BT * F, s_);
      fcb_grad = nullptr;
    }
    linear_backward_weight_bias<T>(*gemm_, G(w.fcw), fcb_grad, dbig_.p, ln2, (int)BT, C, F, accumulate, cs, s_);
    linear_backward_input<T>(*gemm_, dc1_.p, dbig_.p, W(w.fcw), (int)BT, C, F, s_);
    layernorm_backward<T>(dres_.p, G(w.ln2w), G(w.ln2b), sum_in_ln ? G(w.projb) : nullptr, dc1_.p, xmid, W(w.ln2w),
                          st(l, 2), st(l, 3), BT, C, cs, s_);
    // attention branch: xmid = xin + drop(proj(att))
    dbr = dres_.p;
    if (p > 0.0f) {
      dropout_apply<T>(dc2_.p, dres_.p, BT * C, p, dropout_stream(seed_, call, l, 1), 0, s_);
      dbr = dc2_.p;
    }
    linear_backward_weight_bias<T>(*gemm_, G(w.projw), sum_in_ln ? nullptr : G(w.projb), dbr, att, (int)BT, C, C,
                                   accumulate, cs, s_);
    linear_backward_input<T>(*gemm_, dc1_.p, dbr, W(w.projw), (int)BT, C, C, s_);
    attn_backward(dbig_.p, dc1_.p, qkv, att, lse, B, T_, p, dropout_stream(seed_, call, l, 0));
    linear_backward_weight_bias<T>(*gemm_, G(w.qkvw), G(w.qkvb), dbig_.p, ln1, (int)BT, C, 3 * C, accumulate, cs, s_);
    linear_backward_input<T>(*gemm_, dc1_.p, dbig_.p, W(w.qkvw), (int)BT, C, 3 * C, s_);
    layernorm_backward<T>(dres_.p, G(w.ln1w), G(w.ln1b), sum_in_ln && l > 0 ? G(L_[l - 1].mlpb) : nullptr, dc1_.p,
                          xin, W(w.ln1w), st(l, 0), st(l, 1), BT, C, cs, s_);
    grads_final(L - l);  // block l is final: its buckets start reducing while block l-1's backward runs
  }
}

template class GptTrainer<float>;
template class GptTrainer<bf16>;

}  // namespace cuda
}  // namespace mypt
