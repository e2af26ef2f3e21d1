// The CUDA GPT (engine/engine.h's model, the same as the CPU's binding/cpu/gpt.cc) is three parts:
//   GptModel<T>   (this file)    what training and decoding share: the device, the stream, the GEMM
//                                context, the fp32 master parameters (split in bf16), the offsets of
//                                every tensor, and the MLP up-projection both paths run
//   GptTrainer<T> (gpt_train.cuh)   batched forward, loss, backward, AdamW
//   GptDecoder<T> (gpt_decode.cuh)  KV-cache generation, sampling on the GPU, a CUDA graph per token
// and CudaEngine<T> (gpt_engine.cu) puts them behind the Engine interface.
//
// Storage: the fp32 master parameters (canonical layout) in one buffer that every kernel reads
// (Precision::FP32), or in bf16 split in two halves (masters.cuh): `work`, the bf16 weights every kernel
// reads, and `lo`, the low halves that make them the exact fp32 masters again (4 bytes a parameter, not
// 4 + 2 for fp32 masters beside a bf16 copy). The host sees fp32 only (set_masters, get_masters). One stream per
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
#include "masters.cuh"

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
  // where the masters live, for AdamW and the collectives
  Masters masters() {
    if (is_bf16_t<T>()) return {nullptr, (bf16*)work.p, lo.p};
    return {params.p, nullptr, nullptr};
  }
  // every master from / to fp32 host memory (layout.total floats), through a device stage of at most 64 MB;
  // both wait for the copies
  void set_masters(const float* src);
  void get_masters(float* dst);

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
  DBuf<float> params;  // the fp32 masters (Precision::FP32 only)
  DBuf<bf16> work;      // bf16: the masters' upper halves (masters.cuh), the weights every kernel reads
  DBuf<uint16_t> lo;    // bf16: the masters' lower halves
  int64_t wte = -1, wpe = -1, lnfw = -1, lnfb = -1, headw = -1, headb = -1;
  std::vector<LayerOff> L;

 private:
  void bind_offsets();
};

}  // namespace cuda
}  // namespace mypt
