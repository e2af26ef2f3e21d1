// NativeModel's continuous batching (engine/decoder.h), four calls:
//   openDecoder(slots)                     the backend's multi-slot decoder (E_UNSUPPORTED where it has none)
//   decoderSubmit(id, prompt, opts) -> bool  queue a request; true: no run is going on, start one
//   decoderCancel(id)                      end a request at the next step
//   decoderRun(onInt) -> Promise           steps until nothing is left; onInt gets (id, token) pairs as two
//                                          calls, token -1 when request id is finished
// Submit and cancel do not wait for the model's turn (the run holds it): the Batcher is thread-safe.
#include <memory>

#include "napi/convert.h"
#include "napi/errors.h"
#include "napi/job.h"
#include "napi/model_wrap.h"

namespace mypt_binding {

namespace {
mypt::Batcher& batcher_of(ModelState& st) {
  if (!st.batcher) throw CodedError("E_BAD_ARGUMENT", "openDecoder() first");
  return *st.batcher;
}
}  // namespace

Napi::Value NativeModel::OpenDecoder(const Napi::CallbackInfo& info) {
  auto st = state();
  const int slots = info[0].ToNumber().Int32Value();
  return guard(info.Env(), [&]() -> Napi::Value {
    Serial::Turn turn(st->serial, st->serial.ticket());
    st->batcher = std::make_unique<mypt::Batcher>(st->live().make_decoder(slots));
    return Napi::Number::New(info.Env(), st->batcher->slots());
  });
}

Napi::Value NativeModel::DecoderSubmit(const Napi::CallbackInfo& info) {
  auto st = state();
  const int32_t id = info[0].ToNumber().Int32Value();
  auto prompt = to_ints(info[1], "prompt");
  Napi::Object o = info[2].As<Napi::Object>();
  const int max_new = o.Get("max_new_tokens").ToNumber().Int32Value();
  const mypt::SampleParams sp = to_sample(o);
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Boolean::New(info.Env(), batcher_of(*st).submit(id, std::move(prompt), max_new, sp));
  });
}

Napi::Value NativeModel::DecoderCancel(const Napi::CallbackInfo& info) {
  auto st = state();
  const int32_t id = info[0].ToNumber().Int32Value();
  return guard(info.Env(), [&]() -> Napi::Value {
    batcher_of(*st).cancel(id);
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::DecoderRun(const Napi::CallbackInfo& info) {
  auto st = state();
  Napi::Function on_int = info[0].As<Napi::Function>();
  const uint64_t ticket = st->serial.ticket();
  return Job<int>::Start(
      info.Env(), info.This().As<Napi::Object>(),
      [st, ticket](const Emit& emit) {
        Serial::Turn turn(st->serial, ticket);
        st->live();  // E_DISPOSED
        batcher_of(*st).run(emit, [&] { return st->disposed.load(); });
        return 0;
      },
      [](Napi::Env env, int&) -> Napi::Value { return env.Undefined(); }, on_int);
}

}  // namespace mypt_binding
