// The CUDA backend's Engine (engine/engine.h): the same GPT as the CPU engine (binding/cpu/gpt.cc) on one
// GPU, put together from the shared model state, the trainer and the decoder (gpt_model.cuh).
#include <memory>
#include <string>

#include "cuda_backend.h"
#include "gpt_decode.cuh"
#include "gpt_model.cuh"
#include "gpt_slots.cuh"
#include "gpt_train.cuh"

namespace mypt {
namespace cuda {

namespace {

template <typename T>
class CudaEngine final : public Engine {
 public:
  CudaEngine(const ModelConfig& cfg, int device) : gpt_(cfg, device), train_(gpt_), decode_(gpt_) {}

  const ModelConfig& config() const override { return gpt_.cfg; }
  const ParamLayout& layout() const override { return gpt_.layout; }
  std::string device() const override {
    return "cuda:" + std::to_string(gpt_.dev) + " (" + gpt_.name + ", " + (is_bf16_t<T>() ? "bf16" : "fp32") +
           ", gemm " + (gpt_.gemm->using_cublaslt() ? "cuBLASLt" : "built-in") + ")";
  }

  void set_parameters(const float* src) override {
    gpt_.use();
    gpt_.set_masters(src);
  }
  void get_parameters(float* dst) override {
    gpt_.use();
    gpt_.get_masters(dst);
  }
  HostBlock alloc_host(size_t bytes) override {
    gpt_.use();
    void* p = nullptr;
    if (cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocPortable) == cudaSuccess)
      return {p, [](void* q) { cudaFreeHost(q); }};
    cudaGetLastError();  // pinned memory refused (limits): ordinary memory instead
    return Engine::alloc_host(bytes);
  }
  void get_gradients(float* dst) override { train_.get_gradients(dst); }
  void set_optimizer_state(const float* m, const float* v, int64_t step) override {
    train_.set_optimizer_state(m, v, step);
  }
  void get_optimizer_state(float* m, float* v, int64_t* step) override { train_.get_optimizer_state(m, v, step); }
  void set_decay_mask(const std::vector<uint8_t>& mask) override { train_.set_decay_mask(mask); }
  void set_seed(uint64_t seed) override { train_.set_seed(seed); }
  void set_dropout_call(uint64_t call) override { train_.set_dropout_call(call); }
  void set_recompute(int level) override {
    Engine::set_recompute(level);  // the range check
    train_.set_recompute(level);
  }

  void forward(const int32_t* tokens, int B, int T_, float* logits) override { train_.forward(tokens, B, T_, logits); }
  float loss(const int32_t* tokens, const int32_t* targets, int B, int T_) override {
    return train_.loss(tokens, targets, B, T_);
  }
  float forward_backward(const int32_t* tokens, const int32_t* targets, int B, int T_, bool train, float loss_scale,
                         bool accumulate) override {
    return train_.forward_backward(tokens, targets, B, T_, train, loss_scale, accumulate);
  }
  float optimizer_step(const AdamWParams& p) override { return train_.optimizer_step(p); }
  StepResult train_step(const int32_t* tokens, const int32_t* targets, int micro, int B, int T_,
                        const AdamWParams& p) override {
    if (train_.in_group()) return Engine::train_step(tokens, targets, micro, B, T_, p);
    return train_.train_step(tokens, targets, micro, B, T_, p);
  }
  void train_steps(const int32_t* tokens, const int32_t* targets, int steps, int micro, int B, int T_,
                   const AdamWParams* p, const uint64_t* seeds, StepResult* out) override {
    if (train_.in_group()) throw std::invalid_argument("train_steps: a data-parallel group steps one step a call");
    train_.train_steps(tokens, targets, steps, micro, B, T_, p, seeds, out);
  }
  void join_group(std::shared_ptr<Collective> group, const ShardPlan& plan, DType grad_dtype) override {
    train_.join_group(std::move(group), plan, grad_dtype);
  }
  void set_grad_sync(bool on) override { train_.set_grad_sync(on); }
  void generate(const int32_t* prompt, int n_prompt, int max_new_tokens, const SampleParams& sp,
                const std::function<bool(int32_t)>& on_token) override {
    decode_.generate(prompt, n_prompt, max_new_tokens, sp, on_token);
  }
  std::unique_ptr<Decoder> make_decoder(int slots) override { return std::make_unique<GptSlots<T>>(gpt_, slots); }

 private:
  GptModel<T> gpt_;
  GptTrainer<T> train_;
  GptDecoder<T> decode_;
};

}  // namespace

std::unique_ptr<Engine> make_engine(const ModelConfig& cfg, int device, Precision precision) {
  if (precision == Precision::FP32) return std::unique_ptr<Engine>(new CudaEngine<float>(cfg, device));
  return std::unique_ptr<Engine>(new CudaEngine<bf16>(cfg, device));
}

}  // namespace cuda
}  // namespace mypt
