// Choosing the next token from a row of logits (engine.h SampleParams), on the host.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/engine.h"

namespace mypt {

// A small seeded generator (splitmix64 over a counter).
struct Rng {
  uint64_t seed, count = 0;
  explicit Rng(uint64_t s) : seed(s) {}
  uint64_t next();
  double uniform();                // [0, 1), 53 bits
  uint64_t below(uint64_t n);      // uniform in [0, n)
};

// logits / temperature -> keep the top_k largest -> keep the smallest prefix (by probability, descending)
// whose mass reaches top_p -> draw from the renormalised distribution. temperature <= 0: argmax (first
// maximum, as torch.argmax). `scratch` is reused between calls.
int32_t sample_token(const float* logits, int V, const SampleParams& sp, Rng& rng, std::vector<float>& scratch);

}  // namespace mypt
