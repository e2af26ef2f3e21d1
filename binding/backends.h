// The composition root: the one place that knows which backends this build has (binding/backends.cc).
#pragma once

namespace mypt {

// Registers every backend compiled into this build with the engine's registry (engine/backend.h), and
// the reason for each one left out. Idempotent and thread-safe; the addon calls it when it loads.
void register_builtin_backends();

}  // namespace mypt
