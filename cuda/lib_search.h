// One search for the CUDA libraries opened at run time (cuBLASLt under the cuBLASLt plugin, NCCL): the
// places a user's machine has them, in order:
//   1. the override variable (MYPT_CUBLASLT_LIB, MYPT_NCCL_LIB): the library file, or a folder holding it;
//      when set, only it is tried;
//   2. the soname as the dynamic loader finds it (LD_LIBRARY_PATH, ldconfig's folders, the RUNPATH);
//   3. CUDA's library folders: $CUDA_HOME/lib64, $CUDA_PATH/lib64, /usr/local/cuda/lib64;
//   4. the Python packages of NVIDIA and PyTorch (pip's nvidia-cublas-cu12, nvidia-nccl-cu12, torch):
//      <site>/nvidia/<pkg>/lib/ and <site>/torch/lib/ for every folder of $PYTHONPATH and every
//      <prefix>/lib/python3.*/{site,dist}-packages of $VIRTUAL_ENV, $CONDA_PREFIX, each python3 on the
//      PATH, ~/.local, /usr/local and /usr.
// Opened with RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND (inside node, NVIDIA's libraries must resolve their
// symbols in their own dependencies, not in the symbols node exports: cublaslt_loader.cc).
#pragma once
#include <string>
#include <vector>

namespace mypt {
namespace cuda {

struct LibrarySearch {
  std::string soname;                    // "libnccl.so.2"
  const char* override_var;              // "MYPT_NCCL_LIB"
  std::vector<std::string> pip_folders;  // under site-packages: {"nvidia/nccl/lib"}
};

// Every place to try, in order (names without a '/' go to the dynamic loader's own search).
std::vector<std::string> library_candidates(const LibrarySearch& s);

// The first candidate that opens: its handle and `path`, or nullptr and `why` (what was tried and failed).
void* open_library(const LibrarySearch& s, std::string& path, std::string& why);

}  // namespace cuda
}  // namespace mypt
