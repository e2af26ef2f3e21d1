// The one mapping of C++ exceptions to JavaScript errors. Every synchronous call, every async Job and
// every constructor of the binding goes through describe():
//
//   CodedError (thrown by this layer: E_DISPOSED, E_IO, E_BAD_FILE, ...)  -> its own code
//   mypt::OutOfMemory (engine/errors.h), std::bad_alloc                    -> E_OUT_OF_MEMORY
//   mypt::BackendUnavailable (the backend is not built in, or no driver
//     or usable device answers: a CUDA failure where no GPU is usable)     -> E_NO_CUDA
//   mypt::GroupFailure (engine/collective.h: a rank of a data-parallel
//     group failed or timed out, or the group could not be formed)          -> E_DISTRIBUTED
//   std::invalid_argument                                                  -> E_BAD_ARGUMENT, or E_BAD_CONFIG
//                                                                             in a constructor (there the
//                                                                             config is what is wrong)
//   anything else (std::runtime_error, a failed CUDA call, ...)            -> E_NATIVE
//
// The JS error's message is e.what() (std::bad_alloc: "out of host memory ...") and its `code` the code
// above. A Napi::Error (a JS exception already built, e.g. the TypeError of an argument check) passes
// through unchanged.
#pragma once
#include <napi.h>

#include <stdexcept>
#include <string>

namespace mypt_binding {

// An exception that carries its error code to JavaScript.
struct CodedError : std::runtime_error {
  std::string code;
  CodedError(std::string c, const std::string& what) : std::runtime_error(what), code(std::move(c)) {}
};

// Where the exception was thrown: a constructor reports a bad argument as a bad config.
enum class Site { Call, Constructor };

// The code and message of a C++ exception; plain strings, so a worker thread can compute them.
struct ErrorInfo {
  std::string code, message;
};
ErrorInfo describe(const std::exception& e, Site site = Site::Call);

// A JS Error with the message and `code` of info.
Napi::Error to_js(Napi::Env env, const ErrorInfo& info);

// Runs body() on the main thread; a C++ exception leaves as the JS error of describe().
template <class F>
auto guard(Napi::Env env, F&& body, Site site = Site::Call) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw to_js(env, describe(e, site));
  } catch (...) {  // not a std::exception: still a JS error (as Job does), never std::terminate
    throw to_js(env, ErrorInfo{"E_NATIVE", "an unknown native error"});
  }
}

}  // namespace mypt_binding
