// Device discovery for the CUDA backend. cudart is linked statically and loads the driver itself, so
// on a machine without a driver or GPU these calls fail with an error code, which becomes the reason.
#include <cuda_runtime.h>

#include <string>

#include "cuda_backend.h"

namespace mypt {
namespace cuda {

Discovery discover() {
  Discovery out;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    out.reason = std::string("no usable CUDA driver or GPU: ") + cudaGetErrorString(e);
    cudaGetLastError();
    return out;
  }
  for (int i = 0; i < n; i++) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    DeviceInfo d;
    d.name = p.name;
    d.memory_bytes = (int64_t)p.totalGlobalMem;
    d.cc_major = p.major;
    d.cc_minor = p.minor;
    d.multiprocessors = p.multiProcessorCount;
    out.devices.push_back(d);
  }
  if (out.devices.empty()) out.reason = "no CUDA GPU found";
  return out;
}

}  // namespace cuda
}  // namespace mypt
