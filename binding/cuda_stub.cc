// The CUDA entry points when the addon is built without CUDA (MYPT_CUDA=off or no nvcc).
#ifndef MYPT_WITH_CUDA
#include <stdexcept>

#include "engine/bench.h"
#include "engine/engine.h"
#include "engine/modded.h"

namespace mypt {
namespace cuda {
bool available() { return false; }
std::string reason() { return "built without CUDA (no nvcc at build time, or MYPT_CUDA=off)"; }
std::vector<DeviceInfo> devices() { return {}; }
std::unique_ptr<Engine> make_engine(const ModelConfig&, int, Precision) {
  throw std::runtime_error("this build of mypt-native has no CUDA backend; rebuild with nvcc on the PATH");
}
std::unique_ptr<modded::ModdedRunner> make_modded(modded::ModdedWeights, int, Precision) {
  throw std::runtime_error("this build of mypt-native has no CUDA backend; rebuild with nvcc on the PATH");
}
OpBenchResult bench_op(const OpBenchRequest&) {
  throw std::runtime_error("this build of mypt-native has no CUDA backend");
}
}  // namespace cuda
}  // namespace mypt
#endif
