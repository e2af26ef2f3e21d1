// Placeholder until the CUDA engine lands: the backend reports devices, but cannot build a model yet.
#include <stdexcept>

#include "engine.h"

namespace mypt {
namespace cuda {
std::unique_ptr<Engine> make_engine(const ModelConfig&, int, Precision) {
  throw std::runtime_error("the CUDA engine is not implemented in this build yet; use --device cpu");
}
}  // namespace cuda
}  // namespace mypt
