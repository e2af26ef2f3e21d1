// The CPU backend's entry points: its Backend for the registry (engine/backend.h), and the factories
// the native test programs call directly.
#pragma once
#include <memory>

#include "engine/backend.h"

namespace mypt {
namespace cpu {

std::unique_ptr<Backend> make_backend();

std::unique_ptr<Engine> make_engine(const ModelConfig& cfg);                  // cpu/engine.h
std::unique_ptr<modded::ModdedRunner> make_modded(modded::ModdedWeights weights);  // cpu/modded.h
OpBenchResult bench_op(const OpBenchRequest& req);                            // cpu/bench.cc

}  // namespace cpu
}  // namespace mypt
