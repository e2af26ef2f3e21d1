// The loader of the optional cuBLASLt plugin (cuda/cublaslt/, the C interface in cublaslt/lt_api.h).
//
// The plugin is mypt_cublaslt.so next to the binary that holds this code (the addon .node or a test
// program), or MYPT_CUBLASLT_PATH; MYPT_CUBLASLT=0 turns it off. The libcublasLt it runs on is looked
// for by lib_search.h (MYPT_CUBLASLT_LIB, the loader's path, CUDA's lib64, pip's nvidia-cublas, torch/lib). It is opened once, on first use, with
// dlopen, so the addon never links cuBLAS: where the plugin or libcublasLt is missing, the GEMMs run on
// the built-in kernels (gemm.cuh).
#pragma once
#include <string>

#include "cublaslt/lt_api.h"

namespace mypt {
namespace cuda {

// The plugin's API, or nullptr with `why` saying why it is not there. Thread-safe; the first call opens it.
const mypt_lt_api* cublaslt_plugin(std::string& why);
// The libcublasLt file in use ("" when the plugin is not loaded).
std::string cublaslt_path();

}  // namespace cuda
}  // namespace mypt
