// Device discovery for the CUDA backend, and what a failed CUDA call becomes (common.cuh). cudart is
// linked statically and loads the driver itself, so on a machine without a driver or GPU these calls
// fail with an error code, which becomes the reason.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "common.cuh"
#include "cuda_backend.h"
#include "engine/errors.h"
#include "pdl.cuh"

namespace mypt {
namespace cuda {

bool pdl_enabled() {
  static const bool off = env_switch("MYPT_NO_PDL", false);
  return !off && device_props().cc >= 90;
}

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

namespace {

// "; 1.20 GiB (...) of 79.10 GiB (...) free on cuda:0", or "" when the device cannot say.
std::string free_memory_note() {
  int dev = 0;
  size_t free_b = 0, total_b = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return "";
  }
  return "; " + format_bytes(free_b) + " of " + format_bytes(total_b) + " free on cuda:" + std::to_string(dev);
}

[[noreturn]] void throw_out_of_memory(const std::string& what) {
  cudaGetLastError();  // an allocation failure is not sticky: clear it, or the next launch check reports it
  throw OutOfMemory("CUDA out of memory: " + what + free_memory_note());
}

}  // namespace

void throw_cuda_error(cudaError_t e, const char* what, const char* file, int line) {
  const std::string where = std::string(what) + " (" + file + ":" + std::to_string(line) + "): " + cudaGetErrorString(e);
  if (e == cudaErrorMemoryAllocation) throw_out_of_memory(where);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || discover().devices.empty())
    throw BackendUnavailable("no usable CUDA GPU: CUDA error in " + where);
  throw std::runtime_error("CUDA error in " + where);
}

const DeviceProps& device_props() {
  static DeviceProps props[64];
  static std::once_flag once[64];
  static const DeviceProps unknown;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
    cudaGetLastError();
    return unknown;
  }
  std::call_once(once[dev], [dev] {
    DeviceProps& p = props[dev];
    int sms = 0, major = 0, minor = 0, coop = 0, smem = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess && sms > 0) p.sms = sms;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev);
    cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    cudaGetLastError();
    p.cc = major * 10 + minor;
    p.cooperative = coop != 0;
    p.smem_optin = (size_t)smem;
  });
  return props[dev];
}

void allow_dynamic_smem(const void* kernel, size_t bytes, const char* what) {
  static std::mutex mu;
  static std::map<std::pair<int, const void*>, size_t> most;  // (device, kernel) -> its dynamic limit, bytes
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  size_t limit = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = most.find({dev, kernel});
    if (it == most.end()) {
      cudaFuncAttributes a{};
      check_cuda(cudaFuncGetAttributes(&a, kernel), what, __FILE__, __LINE__);
      const size_t optin = device_props().smem_optin;
      limit = optin > a.sharedSizeBytes ? optin - a.sharedSizeBytes : 0;
      if (limit > 48 * 1024)
        check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)limit), what,
                   __FILE__, __LINE__);
      else
        limit = 48 * 1024 - std::min<size_t>(a.sharedSizeBytes, 48 * 1024);  // the default (or unknown) limit
      it = most.emplace(std::make_pair(dev, kernel), limit).first;
    }
    limit = it->second;
  }
  if (bytes > limit)
    throw std::runtime_error(std::string(what) + ": a block needs " + std::to_string(bytes) +
                             " bytes of shared memory; this GPU allows " + std::to_string(limit));
}

static std::atomic<uint64_t> g_allocations{0};
static std::atomic<int64_t> g_allocated_bytes{0};

uint64_t allocation_count() { return g_allocations.load(); }
int64_t allocated_bytes() { return g_allocated_bytes.load(); }

void cuda_free(void* p, size_t bytes) {
  if (!p) return;
  cudaFree(p);
  g_allocated_bytes -= (int64_t)bytes;
}

void* cuda_malloc(size_t bytes, const char* what) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) throw_out_of_memory(std::string(what) + " asked for " + format_bytes(bytes));
  check_cuda(e, "cudaMalloc", __FILE__, __LINE__);
  g_allocations++;
  g_allocated_bytes += (int64_t)bytes;
  return p;
}

void* cuda_malloc_host(size_t bytes, const char* what) {
  void* p = nullptr;
  const cudaError_t e = cudaMallocHost(&p, bytes);
  if (e == cudaErrorMemoryAllocation)
    throw_out_of_memory(std::string(what) + " asked for " + format_bytes(bytes) + " of page-locked host memory");
  check_cuda(e, "cudaMallocHost", __FILE__, __LINE__);
  return p;
}

}  // namespace cuda
}  // namespace mypt
