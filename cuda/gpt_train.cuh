// Training and batched inference of the CUDA GPT (gpt_model.cuh says how the parts fit): forward of
// [B, T] tokens, the cross-entropy loss, the backward into fp32 gradients, global-norm clip and AdamW.
//
// Activations in T; LayerNorm statistics, attention log-sum-exps, losses and the optimizer in fp32;
// gradients accumulate in fp32. Without dropout, a training step's kernels run as one CUDA graph from the
// second step of a shape on. Dropout masks: dropout_stream(seed, call, layer, site) (engine/dropout.h)
// exactly as the CPU, so both draw identical masks. Host data goes through pinned staging buffers, each
// refilled only once the copies out of it have run (StreamMark); every public call synchronizes before
// returning. The methods are those of engine/engine.h's Engine with the same contracts.
#pragma once
#include <cstdint>
#include <vector>

#include "encoder.cuh"
#include "engine/engine.h"
#include "engine/shard_plan.h"
#include "gpt_model.cuh"

namespace mypt {
namespace cuda {

template <typename T>
class GptTrainer {
 public:
  explicit GptTrainer(GptModel<T>& gpt);  // gradients and moments zero, every tensor decayed

  void get_gradients(float* dst);
  void set_optimizer_state(const float* m, const float* v, int64_t step);
  void get_optimizer_state(float* m, float* v, int64_t* step);
  void set_decay_mask(const std::vector<uint8_t>& mask);
  void set_seed(uint64_t seed);
  void set_dropout_call(uint64_t call) { calls_ = call; }
  // Activation recomputation (engine.h set_recompute): 0 keeps every activation for the backward; 1 keeps
  // one layer's GELU output and recomputes it from the pre-activation in the backward; 2 also recomputes
  // the LayerNorm outputs from the residual stream and the saved statistics (bit for bit the forward's).
  // level 0..2, checked by the engine.
  void set_recompute(int level);

  void forward(const int32_t* tokens, int B, int T_, float* logits);
  float loss(const int32_t* tokens, const int32_t* targets, int B, int T_);
  float forward_backward(const int32_t* tokens, const int32_t* targets, int B, int T_, bool train, float loss_scale,
                         bool accumulate);
  float optimizer_step(const AdamWParams& p);
  // engine.h train_step: the micro-batches' forward_backward and the optimizer queued with one wait at the end.
  // Outside a group only (a group's reductions are issued and waited for by the host: the engine's default).
  StepResult train_step(const int32_t* tokens, const int32_t* targets, int micro, int B, int T_,
                        const AdamWParams& p);
  // engine.h train_steps: every step queued before the one before it has ended, one wait at the end.
  void train_steps(const int32_t* tokens, const int32_t* targets, int steps, int micro, int B, int T_,
                   const AdamWParams* p, const uint64_t* seeds, StepResult* out);

  // Data parallel (engine.h join_group; gpt_dp.cu): the moments shrink to this rank's compact shard
  // (m_, v_ hold shard_size floats), gradients stay whole (the backward writes them all), the fp32 master
  // parameters stay whole and are all-gathered after each step.
  void join_group(std::shared_ptr<Collective> group, const ShardPlan& plan, DType grad_dtype);
  void set_grad_sync(bool on) { grad_sync_ = on; }
  bool in_group() const { return group_ != nullptr; }

 private:
  float* G(int64_t off) { return off < 0 ? nullptr : grads_.p + off; }

  void upload(DBuf<int32_t>& dst, HostBuf<int32_t>& stage, const int32_t* src, size_t n);
  void upload_tokens(const int32_t* tok, const int32_t* tgt, int64_t BT);
  void upload_buckets();
  float read_mean_loss(int64_t BT);
  // train_step and train_steps: `steps` steps (set_seed(seeds[i]) first where seeds is given), one wait.
  void run_steps(const int32_t* tokens, const int32_t* targets, int steps, int micro, int B, int T_,
                 const AdamWParams* p, const uint64_t* seeds, StepResult* out);

  // Activation buffers for B x T rows (grown, never shrunk). full_logits: all B*T rows of logits at once
  // (forward()); else one classifier chunk of rows (loss and forward_backward).
  void ensure_acts(int B, int T_, bool backward, bool full_logits = false);
  int64_t classifier_chunk(int64_t BT) const;
  // The classifier over the final LayerNorm's output, chunk by chunk of rows, so that only one chunk of
  // [rows, V] logits exists: logits, the loss per row (losses_), and with backward the logits' gradient
  // (times dloss) straight into the head's weight gradient and the LayerNorm output's gradient (dc1_).
  // accumulate: the head's weight gradient is added to (else the first chunk overwrites it).
  void classify(int64_t BT, float dloss, bool backward, bool accumulate);
  // The per-layer activation buffers, one layer's slot when it is recomputed (recompute_).
  T* ln1_at(int l) { return ln1_.p + (recompute_ >= 2 ? 0 : (size_t)l * B_ * T_cur_ * cfg_.n_embd); }
  T* ln2_at(int l) { return ln2_.p + (recompute_ >= 2 ? 0 : (size_t)l * B_ * T_cur_ * cfg_.n_embd); }
  T* act_at(int l) { return fcact_.p + (recompute_ >= 1 ? 0 : (size_t)l * B_ * T_cur_ * cfg_.hidden()); }
  float* st(int l, int which) { return stats_.p + ((size_t)l * 4 + which) * (size_t)B_ * T_cur_; }
  float* lnf_stat(int which) { return stats_.p + ((size_t)gpt_.cfg.n_layer * 4 + which) * (size_t)B_ * T_cur_; }

  bool flash_ok() const;
  void attn_forward(T* out, float* lse, const T* qkv, int B, int T_, float p, uint64_t seed);
  void attn_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, int B, int T_, float p,
                     uint64_t seed);
  // forward_backward / optimizer_step without the wait: the loss (norm) is copied to loss_out (norm_out), pinned
  // host memory, when the GPU gets there. Tokens checked by the caller; a second call may follow at once (its
  // uploads wait for the staging buffers: tokens_copied_, buckets_copied_).
  void enqueue_forward_backward(const int32_t* tokens, const int32_t* targets, int B, int T_, bool train,
                                float loss_scale, bool accumulate, float* loss_out);
  void enqueue_optimizer_step(const AdamWParams& p, float* norm_out);
  // Forward of the B x T tokens in tokens_ up to the final LayerNorm (lnf_; activations kept for the backward).
  void run_forward(int B, int T_, float p, uint64_t call, bool backward, bool full_logits = false);
  // Backward from the final LayerNorm output's gradient (dc1_, written by classify) down to the residual
  // stream's gradient at the embeddings (dres_; their backward is forward_backward's): the linear layers'
  // weight gradients overwritten unless accumulate, every other gradient added to (zero_spans_ cleared them).
  void run_backward(int B, int T_, float p, uint64_t call, bool accumulate);
  // The train step's forward and backward as a CUDA graph (forward_backward): MYPT_TRAIN_GRAPH=0 turns it off
  // (for timing the difference); step_key is what a captured step depends on.
  static bool graphs_on();
  std::vector<uint64_t> step_key(int B, int T_, float loss_scale, bool accumulate);
  GraphGuard step_graph_[2];  // [accumulate]
  std::vector<uint64_t> step_graph_key_[2];

  GptModel<T>& gpt_;
  // shorthands for the model's fixed parts (made before this object and kept for its life)
  const ModelConfig& cfg_;
  const ParamLayout& layout_;
  const cudaStream_t s_;
  Gemm* const gemm_;
  const std::vector<LayerOff>& L_;
  const int64_t wte_, wpe_, lnfw_, lnfb_, headw_, headb_;
  void use() { gpt_.use(); }
  // the host waits for the stream (in a group: watching for failed peers, nccl_collective.cuh)
  void sync() {
    if (group_) group_->synchronize(s_);
    else gpt_.sync();
  }
  // data parallel (gpt_dp.cu)
  void grads_final(int k);  // the backward finished ready point k (engine/shard_plan.h)
  void reduce_bucket(const Bucket& b);
  float optimizer_step_dp(const AdamWParams& p);
  void build_dp_tables();  // the AdamW starts/decay tables of each owned range
  void get_moments_dp(float* m, float* v);
  const T* W(int64_t off) const { return gpt_.W(off); }
  DBuf<float> grads_, m_, v_;
  DBuf<int64_t> starts_;
  DBuf<uint8_t> decay_;
  std::vector<uint8_t> decay_host_;
  DBuf<double> norm_scratch_;
  DBuf<int64_t> zero_spans_;  // (offset, length) pairs of the gradients added to from zero (constructor)
  DBuf<float> scalars_;  // [0] mean loss, [1] gradient norm
  HostBuf<float> h_results_;  // pinned: losses and the norm read back (train_step, forward_backward, optimizer_step)
  int64_t step_ = 0;
  uint64_t seed_ = 0, calls_ = 0;
  int B_ = 0, T_cur_ = 0;
  int recompute_ = 0;
  int64_t chunk_bytes_ = 512ll << 20;  // classifier_chunk
  DBuf<int32_t> tokens_, targets_, b_tok_, b_start_, b_pos_;
  EncoderBuckets buckets_;
  HostBuf<int32_t> h_tokens_, h_targets_, h_btok_, h_bstart_, h_bpos_;
  StreamMark tokens_copied_, buckets_copied_;  // after the last copies out of h_tokens_/h_targets_, h_b*_
  DBuf<T> res_, ln1_, att_, xmid_, ln2_, qkv_, fcpre_, fcact_, lnf_, tmp_, logits_;
  DBuf<float> stats_, lse_, losses_, host_f32_;
  DBuf<T> dres_, dc1_, dc2_, dbig_;
  DBuf<float> colsum_, attn_scratch_;
  // data parallel
  std::shared_ptr<Collective> group_;
  ShardPlan plan_;
  DType grad_dtype_ = DType::F32;
  std::vector<int64_t> ready_;
  BucketIssuer issuer_;
  bool grad_sync_ = false;
  std::vector<ShardRange> owned_;
  std::vector<int> range_nt_;          // tensors overlapping each owned range
  std::vector<int64_t> range_table_;   // where each range's starts (and decay flags) begin in the tables
  DBuf<int64_t> dp_starts_;
  DBuf<uint8_t> dp_decay_;
  DBuf<bf16> comm16_;                  // the gradients in bf16, for a bf16 reduction
  DBuf<double> sumsq_;
  DBuf<float> gather_;                 // every rank's shard, for get_optimizer_state
};

}  // namespace cuda
}  // namespace mypt
