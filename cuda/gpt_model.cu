// GptModel (gpt_model.cuh): the state training and decoding share.
#include "gpt_model.cuh"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "gemv.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

template <typename T>
GptModel<T>::GptModel(const ModelConfig& config, int device)
    : cfg(config), layout((config.validate(), config)), dev(device) {
  int n = 0;
  CUDA_CHECK(cudaGetDeviceCount(&n));
  if (device < 0 || device >= n)
    throw std::invalid_argument("CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(n) +
                                " found)");
  CUDA_CHECK(cudaSetDevice(dev));
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  name = prop.name;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  gemm.reset(new Gemm(true));
  const int64_t N = layout.total;
  if (is_bf16_t<T>()) {  // the split of 0.0f is two zero halves
    work.ensure(N);
    lo.ensure(N);
    CUDA_CHECK(cudaMemsetAsync(work.p, 0, N * 2, s));
    CUDA_CHECK(cudaMemsetAsync(lo.p, 0, N * 2, s));
  } else {
    params.ensure(N);
    CUDA_CHECK(cudaMemsetAsync(params.p, 0, N * 4, s));
  }
  bind_offsets();
  CUDA_CHECK(cudaStreamSynchronize(s));
}

template <typename T>
GptModel<T>::~GptModel() {
  cudaSetDevice(dev);
  cudaStreamSynchronize(s);
  gemm.reset();
  cudaStreamDestroy(s);
}

namespace {
constexpr int64_t kMasterStage = 16 << 20;  // floats of the device stage of set_masters / get_masters (64 MB)
}

template <typename T>
void GptModel<T>::set_masters(const float* src) {
  const int64_t N = layout.total;
  if (!is_bf16_t<T>()) {
    CUDA_CHECK(cudaMemcpyAsync(params.p, src, N * 4, cudaMemcpyHostToDevice, s));
    return sync();
  }
  DBuf<float> stage;
  stage.ensure((size_t)std::min(N, kMasterStage));
  for (int64_t i = 0; i < N; i += kMasterStage) {
    const int64_t n = std::min(kMasterStage, N - i);
    CUDA_CHECK(cudaMemcpyAsync(stage.p, src + i, n * 4, cudaMemcpyHostToDevice, s));
    split_masters(work.p + i, lo.p + i, stage.p, n, s);
  }
  sync();
}

template <typename T>
void GptModel<T>::get_masters(float* dst) {
  const int64_t N = layout.total;
  if (!is_bf16_t<T>()) {
    CUDA_CHECK(cudaMemcpyAsync(dst, params.p, N * 4, cudaMemcpyDeviceToHost, s));
    return sync();
  }
  DBuf<float> stage;
  stage.ensure((size_t)std::min(N, kMasterStage));
  for (int64_t i = 0; i < N; i += kMasterStage) {
    const int64_t n = std::min(kMasterStage, N - i);
    join_masters(stage.p, work.p + i, lo.p + i, n, s);
    CUDA_CHECK(cudaMemcpyAsync(dst + i, stage.p, n * 4, cudaMemcpyDeviceToHost, s));
  }
  sync();
}

template <typename T>
void GptModel<T>::bind_offsets() {
  auto at = [&](const std::string& n) -> int64_t {
    const ParamInfo* p = layout.find(n);
    return p ? p->offset : -1;
  };
  wte = at("wte");
  wpe = at("wpe");
  lnfw = at("lnf.weight");
  lnfb = at("lnf.bias");
  headw = cfg.tied_head ? wte : at("head.weight");
  headb = at("head.bias");
  for (int i = 0; i < cfg.n_layer; i++) {
    const std::string h = "h." + std::to_string(i) + ".";
    L.push_back(LayerOff{at(h + "ln1.weight"), at(h + "ln1.bias"), at(h + "attn.qkv.weight"), at(h + "attn.qkv.bias"),
                          at(h + "attn.proj.weight"), at(h + "attn.proj.bias"), at(h + "ln2.weight"),
                          at(h + "ln2.bias"), at(h + "mlp.fc.weight"), at(h + "mlp.fc.bias"),
                          at(h + "mlp.proj.weight"), at(h + "mlp.proj.bias")});
  }
}

template <typename T>
void GptModel<T>::check_shape(int B, int T_) const {
  if (B < 1) throw std::invalid_argument("batch size must be at least 1, got " + std::to_string(B));
  if (T_ < 1 || T_ > cfg.block_size)
    throw std::invalid_argument("sequence length " + std::to_string(T_) + " is outside 1.." +
                                std::to_string(cfg.block_size) + " (block_size)");
}

template <typename T>
void GptModel<T>::check_tokens(const int32_t* tokens, int64_t n, const char* what) const {
  for (int64_t i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= cfg.vocab_size)
      throw std::invalid_argument(std::string(what) + " id " + std::to_string(tokens[i]) + " at index " +
                                  std::to_string(i) + " is outside the vocabulary 0.." +
                                  std::to_string(cfg.vocab_size - 1));
}

template <typename T>
void GptModel<T>::mlp_up(T* act, T* pre, const T* inp, const LayerOff& w, int64_t rows) {
  const int C = cfg.n_embd, F = cfg.hidden();
  if (fuse_gelu()) {
    linear_forward<T>(*gemm, act, inp, W(w.fcw), W(w.fcb), (int)rows, C, F, s, Epilogue::GeluTanh, pre);
  } else if (gemv_fits(inp, W(w.fcw), (int)rows, C)) {
    // few rows (generation): the activation in the GEMV's epilogue, one launch
    gemv_forward<T>(act, pre, inp, W(w.fcw), W(w.fcb), (int)rows, C, F, 1 + (int)cfg.activation, s);
  } else {
    linear_forward<T>(*gemm, pre, inp, W(w.fcw), W(w.fcb), (int)rows, C, F, s);
    activation_forward<T>(cfg.activation, act, pre, rows * F, s);
  }
}

template struct GptModel<float>;
template struct GptModel<bf16>;

}  // namespace cuda
}  // namespace mypt
