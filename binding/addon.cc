// The N-API entry: registers the functions and classes of the binding. No math here.
#include <napi.h>

#include "dropout.h"
#include "engine.h"
#include "model_wrap.h"

void RegisterModded(Napi::Env env, Napi::Object exports);  // modded_binding.cc
void RegisterBpe(Napi::Env env, Napi::Object exports);     // napi/bpe_wrap.cc
namespace mypt_binding {
void RegisterBench(Napi::Env env, Napi::Object exports);
}

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

// setThreads(n): CPU threads of the whole process (0: all cores); getThreads()
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  mypt::set_cpu_threads(info[0].ToNumber().Int32Value());
  return info.Env().Undefined();
}
Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), mypt::get_cpu_threads()); }

// dropoutMask(n, p, seed, offset) -> Uint8Array: keep flags of dropout.h (checks and cross-backend tests)
Napi::Value DropoutMask(const Napi::CallbackInfo& info) {
  const uint32_t n = info[0].ToNumber().Uint32Value();
  const float p = (float)info[1].ToNumber().DoubleValue();
  const uint64_t seed = (uint64_t)info[2].ToNumber().DoubleValue(), offset = (uint64_t)info[3].ToNumber().DoubleValue();
  auto out = Napi::Uint8Array::New(info.Env(), n);
  for (uint32_t i = 0; i < n; i++) out[i] = mypt::dropout_keep(seed, offset + i, p) ? 1 : 0;
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("backends", Napi::Function::New(env, Backends, "backends"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("dropoutMask", Napi::Function::New(env, DropoutMask, "dropoutMask"));
  exports.Set("NativeModel", mypt_binding::NativeModel::Define(env));
  RegisterModded(env, exports);
  RegisterBpe(env, exports);
  mypt_binding::RegisterBench(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(mypt_native, Init)
