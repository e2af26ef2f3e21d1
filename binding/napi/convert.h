// Conversions between JS values and the engine's plain structs (main thread only).
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "engine/data.h"
#include "engine/engine.h"

namespace mypt_binding {

mypt::ModelConfig to_config(const Napi::Object& o);
mypt::AdamWParams to_adamw(const Napi::Object& o);
mypt::SampleParams to_sample(const Napi::Object& o);
mypt::Split to_split(const Napi::Value& v);
// An integer in [0, 2^53] (a JS safe integer: seeds, counters, offsets); std::invalid_argument otherwise.
uint64_t to_u53(const Napi::Value& v, const std::string& what);
// An integer in [1, 2^31); std::invalid_argument otherwise.
int to_positive_int(const Napi::Value& v, const std::string& what);
// a copy of an Int32Array argument's elements
std::vector<int32_t> to_ints(const Napi::Value& v, const char* what);
// a Float32Array that owns `v`'s memory (no copy)
Napi::Float32Array to_float32(Napi::Env env, std::vector<float>&& v);
Napi::Object step_result(Napi::Env env, const mypt::StepResult& r);

}  // namespace mypt_binding
