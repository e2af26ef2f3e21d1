// benchOp(request) -> Promise<{ ms: number[], flops, bytes, peakBytes }>: times one op (bench.h) off the
// main thread on the CPU or CUDA backend. deviceMemory(device, index) -> { freeBytes, totalBytes,
// allocatedBytes? } | null: a device's memory as its driver sees it now, and the bytes the engines hold
// through their own allocations (engine/backend.h DeviceMemory), null where the backend cannot say.
#include <napi.h>

#include "engine/backend.h"
#include "napi/errors.h"
#include "napi/exports.h"
#include "napi/job.h"

namespace mypt_binding {
namespace {

int64_t get_int(const Napi::Object& o, const char* k, int64_t dflt = 0) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? (int64_t)v.As<Napi::Number>().DoubleValue() : dflt;
}

Napi::Value BenchOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "benchOp(request): request must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  mypt::OpBenchRequest q;
  q.op = o.Get("op").ToString().Utf8Value();
  const std::string device = o.Has("device") ? o.Get("device").ToString().Utf8Value() : "cpu";
  q.M = get_int(o, "M"), q.K = get_int(o, "K"), q.N = get_int(o, "N");
  q.B = get_int(o, "B"), q.H = get_int(o, "H"), q.T = get_int(o, "T"), q.D = get_int(o, "D");
  q.warmup = (int)get_int(o, "warmup", 3), q.repeats = (int)get_int(o, "repeats", 10);
  q.seed = (uint64_t)get_int(o, "seed", 1);
  const std::string prec = o.Has("precision") ? o.Get("precision").ToString().Utf8Value() : "bf16";
  q.precision = prec == "fp32" ? mypt::Precision::FP32 : mypt::Precision::BF16;
  if (device != "cpu" && device != "cuda") throw Napi::TypeError::New(env, "benchOp: device must be 'cpu' or 'cuda'");
  return Job<mypt::OpBenchResult>::Start(
      env, Napi::Object::New(env),
      [q, device](const Emit&) { return mypt::bench_op(device, q); },
      [](Napi::Env env, mypt::OpBenchResult& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        Napi::Array ms = Napi::Array::New(env, r.ms.size());
        for (size_t i = 0; i < r.ms.size(); i++) ms.Set((uint32_t)i, r.ms[i]);
        out.Set("ms", ms);
        out.Set("flops", r.flops);
        out.Set("bytes", r.bytes);
        out.Set("peakBytes", (double)r.peak_bytes);
        return out;
      });
}

Napi::Value DeviceMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "deviceMemory(device, index): device must be a string and index a number");
  const std::string device = info[0].As<Napi::String>().Utf8Value();
  const int index = info[1].As<Napi::Number>().Int32Value();
  const mypt::DeviceMemory m = guard(env, [&] { return mypt::device_memory(device, index); });
  if (m.free_bytes < 0 || m.total_bytes < 0) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("freeBytes", (double)m.free_bytes);
  out.Set("totalBytes", (double)m.total_bytes);
  if (m.allocated_bytes >= 0) out.Set("allocatedBytes", (double)m.allocated_bytes);
  return out;
}

}  // namespace

void RegisterBench(Napi::Env env, Napi::Object exports) {
  exports.Set("benchOp", Napi::Function::New(env, BenchOp, "benchOp"));
  exports.Set("deviceMemory", Napi::Function::New(env, DeviceMemory, "deviceMemory"));
}

}  // namespace mypt_binding
