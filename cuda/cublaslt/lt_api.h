// The C interface between the CUDA backend and the optional cuBLASLt plugin (mypt_cublaslt.so).
//
// The plugin is built only where cuBLASLt exists and is opened with dlopen at run time
// (cuda/cublaslt_loader.cc), so the addon itself never links cuBLAS. One call computes, in cuBLAS column-major terms,
//   D[m, n] = op(A)[m, k] @ op(B)[k, n] (+ beta * D) (+ bias[m]) then the epilogue,
// op(X) = X^T when trans is set; fp32 accumulation always (no TF32).
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

#define MYPT_LT_ABI 1

enum { MYPT_LT_F32 = 0, MYPT_LT_BF16 = 1 };
enum {
  MYPT_LT_EPI_NONE = 0,
  MYPT_LT_EPI_GELU_TANH = 1,   // aux[m, n] = pre-activation, D = gelu_tanh(pre)
  MYPT_LT_EPI_DGELU_TANH = 2   // D = (A @ B) * gelu_tanh'(aux)   (bias must be null)
};

typedef struct mypt_lt_gemm_args {
  void* d;
  int d_type;               // MYPT_LT_F32 | MYPT_LT_BF16
  const void* a;
  const void* b;
  int ab_type;              // MYPT_LT_F32 | MYPT_LT_BF16
  int transa, transb;
  int m, n, k;
  int lda, ldb, ldd;
  const void* bias;         // [m], same type as D, or null
  float beta;               // 0: overwrite D, 1: accumulate into D
  int epilogue;             // MYPT_LT_EPI_*
  void* aux;                // epilogue auxiliary [m, n] (ld = ldd), same type as D
  void* workspace;          // device memory owned by the caller
  unsigned long long workspace_bytes;
  void* stream;             // cudaStream_t
} mypt_lt_gemm_args;

typedef struct mypt_lt_api {
  int abi;                                                     // MYPT_LT_ABI
  void* (*create)(char* err, int errlen);                      // null on failure (err filled)
  void (*destroy)(void* ctx);
  int (*gemm)(void* ctx, const mypt_lt_gemm_args* args, char* err, int errlen);  // 0 on success
} mypt_lt_api;

const mypt_lt_api* mypt_lt_get_api(void);

#ifdef __cplusplus
}
#endif
