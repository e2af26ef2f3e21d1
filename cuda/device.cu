// Device discovery for the CUDA backend. cudart is linked statically and loads the driver itself, so
// on a machine without a driver or GPU these calls fail with an error code, which becomes reason().
#include <cuda_runtime.h>

#include <string>

#include "engine/engine.h"

namespace mypt {
namespace cuda {

static std::string g_reason;

std::vector<DeviceInfo> devices() {
  std::vector<DeviceInfo> out;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    g_reason = std::string("no usable CUDA driver or GPU: ") + cudaGetErrorString(e);
    cudaGetLastError();
    return out;
  }
  for (int i = 0; i < n; i++) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.name = p.name;
    d.memory_bytes = (int64_t)p.totalGlobalMem;
    d.cc_major = p.major;
    d.cc_minor = p.minor;
    d.multiprocessors = p.multiProcessorCount;
    out.push_back(d);
  }
  if (out.empty() && g_reason.empty()) g_reason = "no CUDA GPU found";
  return out;
}

bool available() { return !devices().empty(); }

std::string reason() {
  if (available()) return "";
  return g_reason;
}

}  // namespace cuda
}  // namespace mypt
