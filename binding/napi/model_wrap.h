// NativeModel: the JS handle of one Engine (plus its token data). Every method's arguments were checked
// by src/model.ts; calls run in the order they were made (job.h Serial); dispose() is safe at any time.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "engine/collective.h"
#include "engine/data.h"
#include "engine/decoder.h"
#include "engine/engine.h"
#include "napi/exports.h"
#include "napi/job.h"

namespace mypt_binding {

// What the handle and its in-flight jobs share; freed when the last of them lets go.
struct ModelState {
  std::unique_ptr<mypt::Engine> engine;
  mypt::TokenData data;
  // trainBatch / estimateLoss without an explicit seed, step or counter use these (the TypeScript layer
  // of today calls them that way): the seed of the last setSeed, and counts since then.
  uint64_t seed = 0, auto_step = 0, auto_eval = 0;
  Serial serial;
  std::atomic<bool> disposed{false};
  std::atomic<uint64_t> cancel_epoch{0};  // generations started before an increment stop
  int64_t external_bytes = 0;
  // the data-parallel group this model joined (joinGroup), or null; read and written in the model's turn
  std::shared_ptr<mypt::Collective> group;
  // continuous batching (openDecoder, napi/decoder_wrap.cc); declared after engine, so freed before it
  std::unique_ptr<mypt::Batcher> batcher;
  mypt::Engine& live();  // the engine, or CodedError E_DISPOSED
  ModelState() { live_models++; }
  ~ModelState() { live_models--; }
  ModelState(const ModelState&) = delete;
  ModelState& operator=(const ModelState&) = delete;
};

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Define(Napi::Env env);
  NativeModel(const Napi::CallbackInfo& info);  // (config, device 'cpu'|'cuda', deviceIndex, precision)
  ~NativeModel() override;

 private:
  std::shared_ptr<ModelState> state();  // throws E_DISPOSED

  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value AllocHost(const Napi::CallbackInfo& info);
  Napi::Value GetParameters(const Napi::CallbackInfo& info);
  Napi::Value SetParameters(const Napi::CallbackInfo& info);
  Napi::Value GetGradients(const Napi::CallbackInfo& info);
  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info);
  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info);
  Napi::Value SetDecayMask(const Napi::CallbackInfo& info);
  Napi::Value SetSeed(const Napi::CallbackInfo& info);
  Napi::Value SetRecompute(const Napi::CallbackInfo& info);
  Napi::Value InitParameters(const Napi::CallbackInfo& info);
  Napi::Value SetData(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Loss(const Napi::CallbackInfo& info);
  Napi::Value ForwardBackward(const Napi::CallbackInfo& info);
  Napi::Value OptimizerStep(const Napi::CallbackInfo& info);
  Napi::Value TrainStep(const Napi::CallbackInfo& info);
  Napi::Value TrainBatch(const Napi::CallbackInfo& info);
  Napi::Value TrainBatches(const Napi::CallbackInfo& info);
  Napi::Value EstimateLoss(const Napi::CallbackInfo& info);
  Napi::Value JoinGroup(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  // napi/decoder_wrap.cc
  Napi::Value OpenDecoder(const Napi::CallbackInfo& info);
  Napi::Value DecoderSubmit(const Napi::CallbackInfo& info);
  Napi::Value DecoderCancel(const Napi::CallbackInfo& info);
  Napi::Value DecoderRun(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<ModelState> st_;
  Napi::Env env_;
};

}  // namespace mypt_binding
