// The one async worker of the binding: runs a C++ function on the libuv pool and settles a Promise.
//
//   Job<R>::Start(env, self, work, done [, on_progress])
// work(emit) runs off the main thread and returns R; it may call emit(ids, n) to stream int32 values,
// which reach on_progress(id) on the main thread, all before the Promise settles. done(env, R&) builds
// the resolved value on the main thread. A C++ exception rejects the Promise with the JS error of
// napi/errors.h (its message and code). `self` (the JS object whose native state the work uses) is kept
// alive until the Job ends.
#pragma once
#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>

#include "napi/errors.h"

namespace mypt_binding {

using Emit = std::function<void(const int32_t*, size_t)>;

template <class R>
class Job final : public Napi::AsyncProgressQueueWorker<int32_t> {
 public:
  using Work = std::function<R(const Emit&)>;
  using Done = std::function<Napi::Value(Napi::Env, R&)>;

  static Napi::Promise Start(Napi::Env env, Napi::Object self, Work work, Done done,
                             Napi::Function on_progress = Napi::Function()) {
    auto* job = new Job(env, self, std::move(work), std::move(done), on_progress);
    Napi::Promise p = job->deferred_.Promise();
    job->Queue();
    return p;
  }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    try {
      result_ = work_([&](const int32_t* d, size_t n) { progress.Send(d, n); });
    } catch (const std::exception& e) {
      error_ = describe(e);
      SetError(error_.message);
    } catch (...) {
      error_ = {"E_NATIVE", "an unknown native error"};
      SetError(error_.message);
    }
  }
  void OnProgress(const int32_t* d, size_t n) override {
    if (progress_.IsEmpty()) return;
    Napi::HandleScope scope(Env());
    for (size_t i = 0; i < n; i++) {
      try {
        progress_.Call({Napi::Number::New(Env(), d[i])});
      } catch (const Napi::Error&) {
        // the TypeScript layer catches its callback's errors itself; never let one escape here
      }
    }
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    try {
      deferred_.Resolve(guard(Env(), [&] { return done_(Env(), result_); }));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error&) override {
    Napi::HandleScope scope(Env());
    deferred_.Reject(to_js(Env(), error_).Value());
  }

 private:
  Job(Napi::Env env, Napi::Object self, Work work, Done done, Napi::Function on_progress)
      : Napi::AsyncProgressQueueWorker<int32_t>(env, "mypt-native"),
        deferred_(Napi::Promise::Deferred::New(env)),
        self_(Napi::Persistent(self)),
        work_(std::move(work)),
        done_(std::move(done)) {
    if (!on_progress.IsEmpty()) progress_ = Napi::Persistent(on_progress);
  }

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  Napi::FunctionReference progress_;
  Work work_;
  Done done_;
  R result_{};
  ErrorInfo error_;
};

// Serialises the calls on one model in the order they were made: a caller takes a ticket on the main
// thread, then waits (on whichever thread runs it) until every earlier ticket is done.
class Serial {
 public:
  uint64_t ticket() { return next_++; }  // main thread only
  class Turn {
   public:
    Turn(Serial& s, uint64_t t) : s_(s) {
      std::unique_lock<std::mutex> lk(s_.mu_);
      s_.cv_.wait(lk, [&] { return s_.serving_ == t; });
    }
    ~Turn() {
      {
        std::lock_guard<std::mutex> lk(s_.mu_);
        s_.serving_++;
      }
      s_.cv_.notify_all();
    }

   private:
    Serial& s_;
  };

 private:
  uint64_t next_ = 0, serving_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace mypt_binding
