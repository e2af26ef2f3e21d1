// The CUDA GPT (engine/engine.h's model, the same as the CPU's binding/cpu/gpt.cc) is three parts:
//   GptModel<T>   (this file)    what training and decoding share: the device, the stream, the GEMM
//                                context, the fp32 master parameters and their working copy in T, the
//                                offsets of every tensor, and the MLP up-projection both paths run
//   GptTrainer<T> (gpt_train.cuh)   batched forward, loss, backward, AdamW
//   GptDecoder<T> (gpt_decode.cuh)  KV-cache generation, sampling on the GPU, a CUDA graph per token
// and CudaEngine<T> (gpt_engine.cu) puts them behind the Engine interface.
//
// Storage: fp32 master parameters (canonical layout, one buffer) and a working copy in the activation
// type T that every kernel reads (bf16; in Precision::FP32 the masters themselves). One stream per
// model; callers set the device first (use()) since calls may come from any thread, and synchronize
// before returning host values.
#pragma once
#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <vector>

#include "activation.cuh"
#include "buffers.cuh"
#include "common.cuh"
#include "engine/config.h"
#include "linear.cuh"

namespace mypt {
namespace cuda {

template <typename T>
constexpr bool is_bf16_t() {
  return sizeof(T) == 2;
}

// Offsets of one block's tensors in the parameter buffer (-1 where the config has no such tensor).
struct LayerOff {
  int64_t ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fcw, fcb, mlpw, mlpb;
};

template <typename T>
struct GptModel {
  // Checks the config and the device index (std::invalid_argument), makes the stream and the GEMM
  // context, allocates the parameters (zero).
  GptModel(const ModelConfig& cfg, int device);
  ~GptModel();
  GptModel(const GptModel&) = delete;
  GptModel& operator=(const GptModel&) = delete;

  void use() { CUDA_CHECK(cudaSetDevice(dev)); }
  void sync() { CUDA_CHECK(cudaStreamSynchronize(s)); }

  const T* wp() const { return is_bf16_t<T>() ? (const T*)work.p : (const T*)params.p; }
  const T* W(int64_t off) const { return off < 0 ? nullptr : wp() + off; }
  // the working copy from the masters (bf16 only)
  void refresh_work();

  void check_shape(int B, int T_) const;
  void check_tokens(const int32_t* tokens, int64_t n, const char* what) const;

  bool fuse_gelu() const { return cfg.activation == Activation::GELUTanh && cfg.hidden() % 16 == 0; }
  // MLP up-projection and activation: act = act(pre), pre = inp @ fc^T + b.
  void mlp_up(T* act, T* pre, const T* inp, const LayerOff& w, int64_t rows);

  ModelConfig cfg;
  ParamLayout layout;
  int dev;
  std::string name;  // the device's
  cudaStream_t s = nullptr;
  std::unique_ptr<Gemm> gemm;
  DBuf<float> params;
  DBuf<unsigned char> work;  // bf16 working copy (bf16 mode only)
  int64_t wte = -1, wpe = -1, lnfw = -1, lnfb = -1, headw = -1, headb = -1;
  std::vector<LayerOff> L;

 private:
  void bind_offsets();
};

}  // namespace cuda
}  // namespace mypt
