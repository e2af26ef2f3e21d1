#include "engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "engine/dropout.h"

namespace mypt {

uint64_t Rng::next() { return mix64(seed ^ mix64(count++)); }
double Rng::uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
uint64_t Rng::below(uint64_t n) { return n <= 1 ? 0 : (uint64_t)(((unsigned __int128)next() * n) >> 64); }

int32_t sample_token(const float* logits, int V, const SampleParams& sp, Rng& rng, std::vector<float>& scratch) {
  // NaN compares false with everything and would be sampled as the last id without a word (torch.multinomial
  // raises): say so instead. -inf (a masked logit) is allowed.
  for (int j = 0; j < V; j++) {
    if (std::isnan(logits[j]) || logits[j] == INFINITY)
      throw std::runtime_error("the model produced non-finite logits (NaN or Inf): its weights may hold NaN or Inf values");
  }
  if (sp.temperature <= 0.0f) return (int32_t)(std::max_element(logits, logits + V) - logits);
  // probabilities of logits / temperature
  scratch.resize(V);
  float* p = scratch.data();
  float m = -INFINITY;
  for (int j = 0; j < V; j++) m = std::max(m, logits[j] / sp.temperature);
  // top_k: everything below the k-th largest scaled logit is dropped (ties with it are kept, as torch)
  float kth = -INFINITY;
  if (sp.top_k > 0 && sp.top_k < V) {
    for (int j = 0; j < V; j++) p[j] = logits[j] / sp.temperature;
    std::nth_element(p, p + (sp.top_k - 1), p + V, std::greater<float>());
    kth = p[sp.top_k - 1];
  }
  double sum = 0.0;
  for (int j = 0; j < V; j++) {
    const float l = logits[j] / sp.temperature;
    p[j] = l < kth ? 0.0f : std::exp(l - m);
    sum += p[j];
  }
  for (int j = 0; j < V; j++) p[j] = (float)(p[j] / sum);
  // top_p: the smallest set of most probable tokens whose mass reaches top_p
  if (sp.top_p < 1.0f) {
    std::vector<int> order(V);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    double cum = 0.0;
    int keep = 0;
    while (keep < V && (keep == 0 || cum < sp.top_p)) cum += p[order[keep++]];
    for (int r = keep; r < V; r++) p[order[r]] = 0.0f;
    for (int r = 0; r < keep; r++) p[order[r]] = (float)(p[order[r]] / cum);
  }
  const double u = rng.uniform();
  double acc = 0.0;
  int last = 0;
  for (int j = 0; j < V; j++) {
    if (p[j] <= 0.0f) continue;
    acc += p[j];
    last = j;
    if (u < acc) return j;
  }
  return last;
}

}  // namespace mypt
