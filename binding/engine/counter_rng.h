// The counter-based generator of training batches and dropout seeds: the C++ port of src/data/batches.ts
// (CounterRng, dropoutSeed), bit for bit. A generator is a pure function of (seed, stream, counter), so
// the batch of training step s is the same in a resumed run as in an uninterrupted one, and the same in
// TypeScript and here (test/native-data.test.js compares them).
//
// TypeScript numbers are doubles: seeds and counters up to 2^53 are split into a high and a low 32-bit
// word (Math.floor(x / 2^32) and x >>> 0); all other arithmetic is on 32-bit words (Math.imul, >>>),
// which uint32_t reproduces exactly.
#pragma once
#include <cmath>
#include <cstdint>

namespace mypt {

// Streams of the trainer (src/data/batches.ts STREAM_*).
enum : uint32_t { kStreamTrain = 1, kStreamEvalTrain = 2, kStreamEvalVal = 3, kStreamDropout = 4 };

// mix32: a 32-bit integer hash (two multiply-xorshift rounds).
inline uint32_t mix32(uint32_t x) {
  x = (x ^ (x >> 16)) * 0x7feb352du;
  x = (x ^ (x >> 15)) * 0x846ca68bu;
  return x ^ (x >> 16);
}

// sfc32 seeded through mix32 from (seed, stream, counter), 12 outputs discarded.
class CounterRng {
 public:
  CounterRng(uint64_t seed, uint32_t stream, uint64_t counter) {
    const uint32_t s = mix32((uint32_t)seed ^ mix32((uint32_t)(seed >> 32)));
    a_ = mix32(s ^ 0x9e3779b9u);
    b_ = mix32(a_ ^ mix32(stream));
    c_ = mix32(b_ ^ mix32((uint32_t)counter));
    d_ = mix32(c_ ^ mix32((uint32_t)(counter >> 32)) ^ 1u);
    for (int i = 0; i < 12; i++) next32();
  }

  uint32_t next32() {
    const uint32_t t = a_ + b_ + d_;
    d_ += 1;
    a_ = b_ ^ (b_ >> 9);
    b_ = c_ + (c_ << 3);
    c_ = (c_ << 21) | (c_ >> 11);
    c_ += t;
    return t;
  }

  // 53 random bits: the first draw's 32 bits on top of the second draw's top 21.
  uint64_t next53() {
    const uint64_t hi = next32();
    const uint64_t lo = next32() >> 11;
    return hi * 2097152u + lo;
  }

  // Uniform integer in [0, n): min(n - 1, floor(u * n)) with u = next53() / 2^53, in doubles as
  // TypeScript computes it (n <= 2^53).
  uint64_t below(uint64_t n) {
    const double u = (double)next53() / 9007199254740992.0;
    const double i = std::floor(u * (double)n);
    const double last = (double)n - 1.0;
    return (uint64_t)(i < last ? i : last);
  }

 private:
  uint32_t a_, b_, c_, d_;
};

// The dropout seed of training step `step` (53 bits): dropoutSeed(seed, step) of src/data/batches.ts.
inline uint64_t dropout_seed(uint64_t seed, uint64_t step) { return CounterRng(seed, kStreamDropout, step).next53(); }

}  // namespace mypt
