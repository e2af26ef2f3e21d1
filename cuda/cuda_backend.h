// The CUDA backend's entry points: its Backend for the registry (engine/backend.h), device discovery, and
// the factories the native test programs call directly. A plain C++ header (no CUDA types), so the
// composition root (binding/backends.cc) is compiled by the host compiler.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"

namespace mypt {
namespace cuda {

std::unique_ptr<Backend> make_backend();

// Device discovery (cuda/device.cu). Never throws: without a driver or a GPU, devices is empty and
// reason says why.
struct Discovery {
  std::vector<DeviceInfo> devices;
  std::string reason;  // "" when at least one device is usable
};
Discovery discover();

std::unique_ptr<Engine> make_engine(const ModelConfig& cfg, int device, Precision precision);  // cuda/gpt_engine.cu
std::unique_ptr<modded::ModdedRunner> make_modded(modded::ModdedWeights weights, int device,
                                                  Precision precision);  // cuda/modded_runner.cu
OpBenchResult bench_op(const OpBenchRequest& req);                       // cuda/bench_ops.cu
int64_t allocated_bytes();  // the device bytes held through cuda_malloc now (common.cuh; cuda/device.cu)

}  // namespace cuda
}  // namespace mypt
