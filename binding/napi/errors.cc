#include "napi/errors.h"

#include <new>

#include "engine/collective.h"
#include "engine/errors.h"

namespace mypt_binding {

ErrorInfo describe(const std::exception& e, Site site) {
  if (const auto* c = dynamic_cast<const CodedError*>(&e)) return {c->code, e.what()};
  if (dynamic_cast<const mypt::OutOfMemory*>(&e)) return {"E_OUT_OF_MEMORY", e.what()};
  if (dynamic_cast<const std::bad_alloc*>(&e))
    return {"E_OUT_OF_MEMORY", std::string("out of host memory (an allocation failed: ") + e.what() + ")"};
  if (dynamic_cast<const mypt::Unsupported*>(&e)) return {"E_UNSUPPORTED", e.what()};
  if (dynamic_cast<const mypt::BackendUnavailable*>(&e)) return {"E_NO_CUDA", e.what()};
  if (dynamic_cast<const mypt::GroupFailure*>(&e)) return {"E_DISTRIBUTED", e.what()};
  if (dynamic_cast<const std::invalid_argument*>(&e))
    return {site == Site::Constructor ? "E_BAD_CONFIG" : "E_BAD_ARGUMENT", e.what()};
  return {"E_NATIVE", e.what()};
}

Napi::Error to_js(Napi::Env env, const ErrorInfo& info) {
  Napi::Error err = Napi::Error::New(env, info.message);
  err.Set("code", Napi::String::New(env, info.code));
  return err;
}

}  // namespace mypt_binding
