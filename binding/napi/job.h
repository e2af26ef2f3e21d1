// The one async worker of the binding: runs a C++ function on the libuv pool and settles a Promise.
//
//   Job<R>::Start(env, self, work, done [, on_progress])
// work(emit) runs off the main thread and returns R; it may call emit(ids, n) to stream int32 values,
// which reach on_progress(id) on the main thread, all before the Promise settles. done(env, R&) builds
// the resolved value on the main thread. A C++ exception rejects the Promise with an Error whose message
// is e.what() and whose code is CodedError::code, E_BAD_ARGUMENT (std::invalid_argument) or E_NATIVE. `self` (the JS
// object whose native state the work uses) is kept alive until the Job ends.
#pragma once
#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>

namespace mypt_binding {

using Emit = std::function<void(const int32_t*, size_t)>;

// An exception that carries its error code to JavaScript (e.g. E_DISPOSED).
struct CodedError : std::runtime_error {
  std::string code;
  CodedError(std::string c, const std::string& what) : std::runtime_error(what), code(std::move(c)) {}
};

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
    } catch (const CodedError& e) {
      code_ = e.code;
      SetError(e.what());
    } catch (const std::invalid_argument& e) {
      code_ = "E_BAD_ARGUMENT";
      SetError(e.what());
    } catch (const std::exception& e) {
      SetError(e.what());
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
      deferred_.Resolve(done_(Env(), result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    Napi::HandleScope scope(Env());
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", Napi::String::New(Env(), code_));
    deferred_.Reject(err.Value());
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
  std::string code_ = "E_NATIVE";
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
