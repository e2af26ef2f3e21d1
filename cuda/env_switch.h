// A switch from the environment, for timing one choice against another or ruling one out: whether `name` is
// on (set to anything but "0"), or `unset` where it is not set or empty. Read at each call (callers that ask
// per launch keep the answer). Plain C++, inline: the addon's CUDA sources and the cuBLASLt plugin (a library
// of its own, opened at run time) both include it.
#pragma once

#include <cstdlib>
#include <cstring>

namespace mypt {
namespace cuda {

inline bool env_switch(const char* name, bool unset) {
  const char* v = std::getenv(name);
  return v && *v ? std::strcmp(v, "0") != 0 : unset;
}

}  // namespace cuda
}  // namespace mypt
