// The composition root (backends.h). An explicit call rather than self-registering static objects: the
// backends are static libraries, from which the linker would drop an object nothing refers to, and a
// reader finds here, in one place, what the build holds.
#include "backends.h"

#include <mutex>

#include "cpu/backend.h"
#include "engine/backend.h"
#ifdef MYPT_WITH_CUDA
#include "cuda_backend.h"
#endif

namespace mypt {

void register_builtin_backends() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_backend(cpu::make_backend());
#ifdef MYPT_WITH_CUDA
    register_backend(cuda::make_backend());
#else
    register_absent_backend("cuda", "built without CUDA (no nvcc at build time, or MYPT_CUDA=off)");
#endif
  });
}

}  // namespace mypt
