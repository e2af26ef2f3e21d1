// The parts of the addon's exports, each defined in its own file; addon.cc's Init calls them all.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>

namespace mypt_binding {

void RegisterModded(Napi::Env env, Napi::Object exports);  // modded_wrap.cc: ModdedModel
void RegisterBench(Napi::Env env, Napi::Object exports);   // bench_wrap.cc: benchOp, deviceMemory
void RegisterTokens(Napi::Env env, Napi::Object exports);  // tokens.cc: mapTokens, sampleBatch
void RegisterBpe(Napi::Env env, Napi::Object exports);     // bpe_wrap.cc: Bpe (GPT-2 byte-level BPE)

// Native models alive now: a model's state (its engine, token data, decoder) counts from its creation until
// it is freed, when the handle is disposed (or collected) and its last call has ended. liveHandles()
// reports them (addon.cc), so a test can check that dispose frees what it should.
extern std::atomic<int64_t> live_models, live_modded_models;

}  // namespace mypt_binding
