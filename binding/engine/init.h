// Seeded parameter initialisation in the canonical layout, on the host (every backend uses it and then
// uploads): the same seed gives the same parameters on the CPU and the GPU.
#pragma once
#include <cstdint>

#include "engine/config.h"

namespace mypt {

enum class InitKind {
  PyTorch = 0,  // nn.Linear weight and bias U(-1/sqrt(in), 1/sqrt(in)), nn.Embedding N(0, 1), LayerNorm 1 / 0
  GPT2 = 1,     // N(0, 0.02) for matrices and embeddings, proj weights N(0, 0.02/sqrt(2 n_layer)), biases 0, LayerNorm 1 / 0
};

// Fills dst (layout.total floats). Draws are a function of (seed, tensor index, element index) only.
void init_parameters(const ModelConfig& cfg, const ParamLayout& layout, InitKind kind, uint64_t seed, float* dst);

}  // namespace mypt
