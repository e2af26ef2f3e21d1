// The engine's own exception types, for failures a caller handles differently from a plain error.
// Everything else the engine throws is std::invalid_argument (a bad argument or config, named in the
// message) or std::runtime_error. The N-API layer maps each type to one JS error code (napi/errors.h).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace mypt {

// An allocation failed: host memory (std::bad_alloc, rethrown with the size where it is known) or device
// memory. The message says how many bytes were asked for and, on a GPU, how much was free, when known.
struct OutOfMemory : std::runtime_error {
  explicit OutOfMemory(const std::string& what) : std::runtime_error(what) {}
};

// The backend a call names cannot run here: not compiled into this build, no driver, no usable device.
struct BackendUnavailable : std::runtime_error {
  explicit BackendUnavailable(const std::string& what) : std::runtime_error(what) {}
};

// A valid request this backend does not do (e.g. a multi-slot decoder).
struct Unsupported : std::runtime_error {
  explicit Unsupported(const std::string& what) : std::runtime_error(what) {}
};

// "1.50 GiB (1610612736 bytes)": a byte count for messages.
std::string format_bytes(uint64_t bytes);

// Runs alloc() and turns a std::bad_alloc into OutOfMemory naming `what` and the bytes asked for.
template <class F>
auto host_alloc(const char* what, uint64_t bytes, F&& alloc) -> decltype(alloc()) {
  try {
    return alloc();
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(std::string("out of host memory: ") + what + " asked for " + format_bytes(bytes));
  }
}

}  // namespace mypt
