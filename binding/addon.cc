// The N-API entry: registers the functions and classes of the binding. No math here.
#include <napi.h>

#include "engine.h"

void RegisterModded(Napi::Env env, Napi::Object exports);  // modded_binding.cc

namespace {

Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("cpu", true);
  auto devs = mypt::cuda::devices();
  out.Set("cuda", !devs.empty());
  out.Set("cudaReason", mypt::cuda::reason());
  Napi::Array arr = Napi::Array::New(env, devs.size());
  for (size_t i = 0; i < devs.size(); i++) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", (double)i);
    d.Set("name", devs[i].name);
    d.Set("memoryBytes", (double)devs[i].memory_bytes);
    d.Set("computeCapability", std::to_string(devs[i].cc_major) + "." + std::to_string(devs[i].cc_minor));
    d.Set("multiprocessors", devs[i].multiprocessors);
    arr.Set((uint32_t)i, d);
  }
  out.Set("devices", arr);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("backends", Napi::Function::New(env, Backends, "backends"));
  RegisterModded(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(mypt_native, Init)
