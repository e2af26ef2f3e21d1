// The loader of NCCL (libnccl.so.2), for data-parallel training on several GPUs (nccl_collective.h).
//
// Opened once, on first use, with dlopen, so the addon neither links NCCL nor needs its headers
// (nccl_api.h declares what is called): where NCCL is missing, everything but multi-GPU training works,
// and backends() says why NCCL is not there. Looked for, in order:
//   1. MYPT_NCCL_LIB: the library file, or a folder holding libnccl.so.2 (MYPT_NCCL=0 turns NCCL off);
//   2. libnccl.so.2 as the dynamic loader finds it (LD_LIBRARY_PATH, the system's library folders);
//   3. CUDA's library folders: $CUDA_HOME/lib64, $CUDA_PATH/lib64, /usr/local/cuda/lib64;
//   4. the Python packages of NVIDIA and PyTorch (pip's nvidia-nccl-cu12 / -cu13):
//      <prefix>/lib/python3.*/{site,dist}-packages/nvidia/nccl/lib/libnccl.so.2 for the prefixes of
//      $VIRTUAL_ENV, $CONDA_PREFIX, every python3 on the PATH, ~/.local, /usr/local and /usr.
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
