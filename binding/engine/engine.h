// The backend interface: one GPT (config + canonical parameter buffer) on one device.
//
// Every method is synchronous and may throw std::exception (the binding turns it into a JS error);
// none exits the process. Backends make engines (engine/backend.h). Host pointers are always fp32 in the canonical layout of config.h
// (ParamLayout::total floats) or int32 tokens laid out [B, T] row-major.
// The CPU backend (binding/cpu/) is the reference the CUDA backend (cuda/) is checked against.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/collective.h"
#include "engine/config.h"
#include "engine/shard_plan.h"

namespace mypt {

class Decoder;  // engine/decoder.h

// torch.optim.AdamW semantics, one step:
//   t += 1; p -= lr * wd * p  (only tensors whose decay flag is set)
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Before it, when grad_clip > 0, torch.nn.utils.clip_grad_norm_: norm = ||g||_2 over every parameter,
//   g *= min(1, grad_clip / (norm + 1e-6)).
struct AdamWParams {
  float lr = 3e-4f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.01f;
  float grad_clip = 0.0f;  // <= 0: no clipping (the norm is still computed and returned)
};

struct StepResult {
  float loss = 0.0f;       // mean cross-entropy of the batch (before the update)
  float grad_norm = 0.0f;  // global L2 norm of the gradients before clipping
};

// Sampling for generation: logits / temperature -> keep top_k -> keep the smallest set whose
// probability reaches top_p -> sample. temperature <= 0 is greedy (argmax).
struct SampleParams {
  float temperature = 1.0f;
  int top_k = 0;        // 0: off
  float top_p = 1.0f;   // 1: off
  uint64_t seed = 0;
};

enum class Precision { FP32 = 0, BF16 = 1 };

struct DeviceInfo {
  std::string name;
  int64_t memory_bytes = 0;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const ParamLayout& layout() const = 0;
  virtual std::string device() const = 0;  // "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3)"

  // Host memory for the buffers below, freed by the returned function (which outlives the engine): page-locked
  // where the device copies from it at full speed without a bounce buffer (CUDA), else ordinary (malloc).
  // Null p when no memory could be had.
  struct HostBlock {
    void* p = nullptr;
    void (*release)(void*) = nullptr;
  };
  virtual HostBlock alloc_host(size_t bytes);

  // Parameters, gradients and optimizer state as host fp32 buffers of layout().total floats.
  virtual void set_parameters(const float* src) = 0;
  virtual void get_parameters(float* dst) = 0;
  virtual void get_gradients(float* dst) = 0;
  virtual void set_optimizer_state(const float* m, const float* v, int64_t step) = 0;
  virtual void get_optimizer_state(float* m, float* v, int64_t* step) = 0;
  // Per canonical tensor (layout().params order): apply weight decay to it or not. Default: all.
  virtual void set_decay_mask(const std::vector<uint8_t>& mask) = 0;
  // Seeds the dropout generator (counter-based: the mask is a function of seed, call count and position).
  virtual void set_seed(uint64_t seed) = 0;
  // The next training forward pass is dropout call `call` of the current seed (set_seed starts at 0). A
  // rank of a data-parallel group starts at the global index of its first micro-batch, so its masks are
  // those a single process draws for the same micro-batch (engine/data_parallel.h).
  virtual void set_dropout_call(uint64_t call) = 0;
  // Activation recomputation for the backward (llm.c's): 0 keeps every activation; 1 recomputes the MLP's
  // activation output from its input; 2 also the LayerNorm outputs. Less memory, a little more compute,
  // the same gradients bit for bit where the forward's kernels are the ones recomputing (exact GELU, ReLU);
  // with tanh-GELU fused into the GEMM's epilogue the recomputed activation differs by rounding. Backends
  // that keep their activations otherwise (the CPU) accept the level and change nothing. Throws
  // std::invalid_argument outside 0..2.
  virtual void set_recompute(int level);

  // Inference forward (no dropout): logits [B, T, V] into host memory. T <= block_size.
  virtual void forward(const int32_t* tokens, int B, int T, float* logits) = 0;
  // Mean cross-entropy over B*T positions, no dropout, no gradients.
  virtual float loss(const int32_t* tokens, const int32_t* targets, int B, int T) = 0;
  // Forward + backward of the mean loss times loss_scale. Gradients are overwritten, or added to when
  // accumulate is true (gradient accumulation). train: dropout on. Every call with train = true counts
  // as one training forward pass (dropout.h `call`: 0 for the first one after set_seed), whatever the
  // dropout rate; calls with train = false do not count.
  virtual float forward_backward(const int32_t* tokens, const int32_t* targets, int B, int T,
                                 bool train, float loss_scale = 1.0f, bool accumulate = false) = 0;
  // Clip (if asked) and one AdamW update with the current gradients; returns the pre-clip norm.
  virtual float optimizer_step(const AdamWParams& p) = 0;
  // One whole training step over `micro` micro-batches of B x T tokens stored one after the other in tokens
  // and targets (micro * B * T each): forward_backward(train, loss_scale 1 / micro, accumulating from the
  // second on) of each, then optimizer_step. The loss is the micro-batches' mean (summed in double). A device
  // backend runs it without waiting for the device between these parts (the results read at one wait).
  virtual StepResult train_step(const int32_t* tokens, const int32_t* targets, int micro, int B, int T,
                                const AdamWParams& p) {
    if (micro < 1) throw std::invalid_argument("a training step needs at least one micro-batch");
    const int64_t BT = (int64_t)B * T;
    double total = 0.0;
    for (int m = 0; m < micro; m++)
      total += forward_backward(tokens + m * BT, targets + m * BT, B, T, true, 1.0f / micro, m > 0);
    StepResult r;
    r.loss = (float)(total / micro);
    r.grad_norm = optimizer_step(p);
    return r;
  }
  // `steps` training steps, one after the other: step i is set_seed(seeds[i]) and train_step with p[i] on the
  // `micro` micro-batches from offset i * micro * B * T of tokens and targets, its result in out[i]. A
  // device backend queues step i + 1 before step i has ended, so the device never waits for the host between
  // them; the results are the loop's, bit for bit.
  virtual void train_steps(const int32_t* tokens, const int32_t* targets, int steps, int micro, int B, int T,
                           const AdamWParams* p, const uint64_t* seeds, StepResult* out) {
    const int64_t n = (int64_t)micro * B * T;
    for (int i = 0; i < steps; i++) {
      set_seed(seeds[i]);
      out[i] = train_step(tokens + i * n, targets + i * n, micro, B, T, p[i]);
    }
  }

  // ---- data parallel (engine/data_parallel.h drives these; shard_plan.h says who owns what) ----
  // Joins a group with this rank's plan (plan.total == layout().total). The parameters become rank 0's (a
  // broadcast: every rank starts from the same weights); the AdamW moments shrink to this rank's compact
  // shard (those already set are kept for it). From then on:
  //   forward_backward  with set_grad_sync(true), reduce-scatters each bucket of gradients (in grad_dtype)
  //                     as soon as the backward has finished it, overlapping the rest of the backward;
  //   optimizer_step    reduces what is not reduced yet (the replicated ranges by all-reduce), takes the
  //                     MEAN gradient over ranks, computes its global norm from the shards' sums of squares
  //                     (one all-reduce), clips on it, runs AdamW on this rank's shard only, and all-gathers
  //                     the parameters; returns the global pre-clip norm, the same on every rank;
  //   get_optimizer_state  gathers the whole moments (a collective: every rank must call it);
  //   set_optimizer_state  keeps this rank's shard of whole moments;
  //   get_gradients     this rank's own buffer (after a step, only its slices hold reduced values).
  // Default: std::runtime_error (a backend without data-parallel training).
  virtual void join_group(std::shared_ptr<Collective> group, const ShardPlan& plan, DType grad_dtype);
  // The next forward_backward reduces its buckets during the backward (the last micro-batch of a step);
  // reset by optimizer_step. Without it, optimizer_step reduces everything first (no overlap).
  virtual void set_grad_sync(bool on);

  // Generation for one sequence with a KV cache. Calls on_token(id) for each new token; stops early
  // when it returns false. Context longer than block_size is cropped to the last block_size tokens
  // (MyPT/nanoGPT semantics: positions restart, so a full window is recomputed once the cache is full).
  virtual void generate(const int32_t* prompt, int n_prompt, int max_new_tokens, const SampleParams& sp,
                        const std::function<bool(int32_t)>& on_token) = 0;

  // A decoder of `slots` sequences at once (continuous batching, engine/decoder.h), each token of a sequence
  // the one generate() gives it alone. Default: Unsupported (engine/errors.h).
  virtual std::unique_ptr<Decoder> make_decoder(int slots);
};

}  // namespace mypt
