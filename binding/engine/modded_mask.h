// Which keys each query of the modded-nanogpt attention sees: the scripts' `create_blockmasks`
// (train_gpt.py / train_gpt_medium.py) as key ranges instead of a FlexAttention BlockMask.
//
// docs[t] = number of document tokens (EOT 50256) in tokens[0..t] (cumsum, inclusive). The mask_mod is
// document-causal: key j is visible to query p when j <= p and docs[j] == docs[p]. On top, a
// block-granular sliding window of W blocks of `block` tokens. With qb the query's block and kb < qb:
//   low[b] = docs[first token of b], high[b] = docs[last token of b]
//   any(qb, kb) = kb <= qb and low[qb] <= high[kb] and high[qb] >= low[kb]
//   all(qb, kb) = kb <  qb and low[qb] == high[kb] and high[qb] == low[kb]
//   full = all; partial = any and not all;  F, P = their counts
//   kept: the latest min(F, W - 1) full blocks (every token visible) and the latest
//         min(P, max(W - F, 1)) partial blocks (mask_mod applied), "latest" = highest block index
//   (BlockMask.from_kv_blocks with clamp_max(partial, clamp_min(W - full, 1)) and clamp_max(full, W - 1)).
// The last block of a sequence that is not a multiple of `block` is read as if padded with non-EOT
// tokens (the scripts require a multiple). `seq_end` is the last position whose token is known: the
// whole sequence in a forward pass, the query itself when generating one token at a time (so a
// generated token equals the forward pass of its prefix). W = 0: no window (document-causal only).
#pragma once
#include <cstdint>
#include <vector>

namespace mypt {
namespace modded {

// Key ranges [begin, end) of each query: query n owns begin/end[first[n] .. first[n+1]), ascending.
struct KeyRanges {
  std::vector<int64_t> first, begin, end;
};

// For the N queries at positions pos0..pos0+N-1. docs holds at least pos0+N values (seq_end < pos0+N).
KeyRanges visible_keys(const int32_t* docs, int64_t N, int64_t pos0, int64_t seq_end, int block, int window_blocks);

}  // namespace modded
}  // namespace mypt
