// The modded-nanogpt attention mask as key ranges (modded_mask.h states the rules).
#include "engine/modded_mask.h"

#include <algorithm>

namespace mypt {
namespace modded {

KeyRanges visible_keys(const int32_t* docs, int64_t N, int64_t pos0, int64_t seq_end, int block, int window_blocks) {
  KeyRanges kr;
  kr.first.reserve(N + 1);
  std::vector<int64_t> full, partial;
  int64_t doc_start = pos0;  // keys of p's document: [doc_start, p], contiguous because docs never decrease
  while (doc_start > 0 && docs[doc_start - 1] == docs[pos0]) doc_start--;  // once; then it only moves forward
  for (int64_t n = 0; n < N; n++) {
    kr.first.push_back((int64_t)kr.begin.size());
    const int64_t p = pos0 + n;
    const int64_t end = std::max(seq_end, p);
    if (p > pos0 && docs[p] != docs[p - 1]) doc_start = p;
    if (window_blocks <= 0) {
      kr.begin.push_back(doc_start);
      kr.end.push_back(p + 1);
      continue;
    }
    const int64_t B = block, qb = p / B;
    auto low = [&](int64_t b) { return docs[b * B]; };
    auto high = [&](int64_t b) { return docs[std::min((b + 1) * B - 1, end)]; };
    full.clear();
    partial.clear();
    for (int64_t kb = qb; kb >= 0; kb--) {  // latest first
      const bool any = low(qb) <= high(kb) && high(qb) >= low(kb);
      const bool all = kb < qb && low(qb) == high(kb) && high(qb) == low(kb);
      if (all) full.push_back(kb);
      else if (any) partial.push_back(kb);
    }
    const int64_t F = (int64_t)full.size();
    const int64_t keepF = std::min<int64_t>(F, std::max<int64_t>(window_blocks - 1, 0));
    const int64_t keepP = std::min<int64_t>((int64_t)partial.size(), std::max<int64_t>(window_blocks - F, 1));
    std::vector<std::pair<int64_t, int64_t>> r;
    for (int64_t i = 0; i < keepF; i++) r.emplace_back(full[i] * B, (full[i] + 1) * B);
    for (int64_t i = 0; i < keepP; i++) {
      // mask_mod inside a partial block: j <= p and docs[j] == docs[p]
      const int64_t lo = std::max(partial[i] * B, doc_start), hi = std::min((partial[i] + 1) * B, p + 1);
      if (lo < hi) r.emplace_back(lo, hi);
    }
    std::sort(r.begin(), r.end());
    for (auto& [a, b] : r) {
      if (!kr.end.empty() && (int64_t)kr.begin.size() > kr.first.back() && kr.end.back() == a) {
        kr.end.back() = b;  // merge touching ranges
      } else {
        kr.begin.push_back(a);
        kr.end.push_back(b);
      }
    }
  }
  kr.first.push_back((int64_t)kr.begin.size());
  return kr;
}

}  // namespace modded
}  // namespace mypt
