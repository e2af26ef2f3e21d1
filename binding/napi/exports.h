// The parts of the addon's exports, each defined in its own file; addon.cc's Init calls them all.
#pragma once
#include <napi.h>

namespace mypt_binding {

void RegisterModded(Napi::Env env, Napi::Object exports);  // modded_wrap.cc: ModdedModel
void RegisterBench(Napi::Env env, Napi::Object exports);   // bench_wrap.cc: benchOp
void RegisterTokens(Napi::Env env, Napi::Object exports);  // tokens.cc: mapTokens, sampleBatch
void RegisterBpe(Napi::Env env, Napi::Object exports);     // bpe_wrap.cc: Bpe (GPT-2 byte-level BPE)

}  // namespace mypt_binding
