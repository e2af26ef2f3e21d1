// Matrix products of the CUDA backend, in cuBLAS column-major terms:
//   D[m, n] (= | +=) op(A)[m, k] @ op(B)[k, n]  (+ bias[m])  then an optional epilogue,
//   op(X)(i, l) = trans ? X[i * ld + l] : X[l * ld + i];   D(i, j) = D[j * ldd + i].
// Operands are bf16 (fp32 accumulation) or fp32 (fp32 arithmetic, no TF32). D is fp32 or the operand type;
// bias has D's type. Epilogues: GELU-tanh (aux = pre-activation, D = gelu_tanh(pre)) and its gradient
// (D = product * gelu_tanh'(aux)).
// Runs through the cuBLASLt plugin (cublaslt_loader.h) when it can be opened, else through the built-in
// tensor-core (bf16, WMMA) or SIMT (fp32) kernels; both paths compute the same function. The layers
// call it through the row-major helpers of linear.cuh.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "common.cuh"

namespace mypt {
namespace cuda {

enum class Epilogue { None = 0, GeluTanh = 1, DGeluTanh = 2 };

struct GemmArgs {
  void* d = nullptr;
  bool d_bf16 = false;
  const void* a = nullptr;
  const void* b = nullptr;
  bool ab_bf16 = false;
  bool transa = false, transb = false;
  int m = 0, n = 0, k = 0;
  int lda = 0, ldb = 0, ldd = 0;
  const void* bias = nullptr;
  bool accumulate = false;
  Epilogue epilogue = Epilogue::None;
  void* aux = nullptr;
};

// One per engine (owns the plugin context and the cuBLASLt workspace).
class Gemm {
 public:
  // use_lt: try the plugin (it is still skipped when MYPT_CUBLASLT=0 or it cannot be opened).
  explicit Gemm(bool use_lt = true);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;
  void run(const GemmArgs& a, cudaStream_t stream);
  bool using_cublaslt() const { return ctx_ != nullptr; }
  // Why the plugin is not used ("" when it is).
  const std::string& lt_reason() const { return lt_reason_; }

 private:
  std::string lt_gemm(const GemmArgs& a, cudaStream_t s);
  void* ctx_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::string lt_reason_;
};

}  // namespace cuda
}  // namespace mypt
