// The N-API entry: registers the functions and classes of the binding. No math here.
#include <napi.h>

#include <atomic>

#include "backends.h"
#include "engine/backend.h"
#include "engine/dropout.h"
#include "engine/threads.h"
#include "napi/errors.h"
#include "napi/exports.h"
#include "napi/group_wrap.h"
#include "napi/model_wrap.h"

namespace mypt_binding {
std::atomic<int64_t> live_models{0}, live_modded_models{0};
}  // namespace mypt_binding

namespace {

// liveHandles() -> { models, moddedModels }: native models not yet freed (exports.h)
Napi::Value LiveHandles(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("models", (double)mypt_binding::live_models.load());
  o.Set("moddedModels", (double)mypt_binding::live_modded_models.load());
  return o;
}

// backends() -> { cpu: true, cuda, cudaReason, devices: [...], cublasLt, cublasLtReason, nccl, ncclReason,
// ncclVersion, cublasLtPath, ncclPath, cudaRuntimeVersion, cudaDriverVersion, cudaArchs }: what the registry's backends report (engine/backend.h); cublasLt and nccl say whether the
// CUDA backend found and opened its cuBLASLt plugin and NCCL (false, with the CUDA backend's reason,
// where there is no CUDA backend).
Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("cpu", true);
  const mypt::BackendStatus cuda = mypt::backend_status("cuda");
  const std::vector<mypt::DeviceInfo>& devs = cuda.devices;
  out.Set("cuda", cuda.available);
  out.Set("cudaReason", cuda.reason);
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
  bool lt = false;
  std::string lt_path, nccl_path;
  std::string lt_reason = cuda.reason.empty() ? "the CUDA backend has no cuBLASLt plugin" : cuda.reason;
  for (const mypt::LibraryStatus& lib : cuda.libraries)
    if (lib.name == "cublasLt") {
      lt = lib.loaded;
      lt_reason = lib.reason;
      lt_path = lib.path;
    }
  out.Set("cublasLt", lt);
  out.Set("cublasLtReason", lt_reason);
  // NCCL, for data-parallel training on several GPUs: opened at run time by the CUDA backend
  bool nccl = false;
  std::string nccl_reason = cuda.reason.empty() ? "the CUDA backend does not load NCCL" : cuda.reason, nccl_version;
  for (const mypt::LibraryStatus& lib : cuda.libraries)
    if (lib.name == "nccl") {
      nccl = lib.loaded;
      nccl_reason = lib.reason;
      nccl_version = lib.version;
      nccl_path = lib.path;
    }
  out.Set("nccl", nccl);
  out.Set("ncclReason", nccl_reason);
  out.Set("ncclVersion", nccl_version);
  out.Set("cublasLtPath", lt_path);
  out.Set("ncclPath", nccl_path);
  // the CUDA runtime built in, the driver's CUDA version, the architectures compiled ("" without CUDA)
  for (const char* k : {"cudaRuntimeVersion", "cudaDriverVersion", "cudaArchs"}) out.Set(k, "");
  for (const auto& kv : cuda.properties) out.Set(kv.first, kv.second);
  return out;
}

// setThreads(n): CPU threads of the whole process (0: all cores); getThreads()
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int n = info[0].ToNumber().Int32Value();
  mypt_binding::guard(info.Env(), [&] { mypt::set_cpu_threads(n); });  // starting threads can fail
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
  mypt::register_builtin_backends();
  exports.Set("backends", Napi::Function::New(env, Backends, "backends"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("liveHandles", Napi::Function::New(env, LiveHandles, "liveHandles"));
  exports.Set("dropoutMask", Napi::Function::New(env, DropoutMask, "dropoutMask"));
  exports.Set("NativeModel", mypt_binding::NativeModel::Define(env));
  mypt_binding::RegisterModded(env, exports);
  mypt_binding::RegisterTokens(env, exports);
  mypt_binding::RegisterBpe(env, exports);
  mypt_binding::RegisterBench(env, exports);
  mypt_binding::RegisterGroup(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(mypt_native, Init)
