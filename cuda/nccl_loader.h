// The loader of NCCL (libnccl.so.2), for data-parallel training on several GPUs (nccl_collective.h).
//
// Opened once, on first use, with dlopen, so the addon neither links NCCL nor needs its headers
// (nccl_api.h declares what is called): where NCCL is missing, everything but multi-GPU training works,
// and backends() says why NCCL is not there. Found by the search of lib_search.h (MYPT_NCCL_LIB, the
// loader's path, CUDA's lib64, pip's nvidia-nccl-cu12 / -cu13 and torch/lib); MYPT_NCCL=0 turns it off.
// RTLD_DEEPBIND, as for cuBLASLt (cublaslt_loader.cc): inside node, NVIDIA's libraries must resolve
// their symbols in their own dependencies, not in the ~47k symbols node exports (its bundled zlib among
// them). Before opening it, NCCL_NVLS_ENABLE=0 is set unless the environment says otherwise: NVLink
// multicast stays off (on shared hosts a program using it can put the GPUs out of service).
#pragma once
#include <string>

#include "nccl_api.h"

namespace mypt {
namespace cuda {

// NCCL's entry points, or nullptr with `why` saying why not. Thread-safe; the first call opens it.
const NcclApi* nccl_api(std::string& why);
// "2.21.5" (the loaded library's), or "" when NCCL is not loaded.
std::string nccl_version();
// The file NCCL was loaded from ("" when it was not).
std::string nccl_path();

}  // namespace cuda
}  // namespace mypt
