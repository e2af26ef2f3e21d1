// Byte-level BPE (bpe.h): the pre-tokenizer, the rank tables, the merge loop, the parallel drivers.
#include "text/bpe.h"

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <cstring>
#include <exception>
#include <new>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>

#include "text/unicode_tables.h"

namespace mypt_text {
namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;

// ---- code-point classes -------------------------------------------------------------------------------

enum : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kSpace = 3 };

// class of every code point in two stages: block = stage1[cp >> 8], class = blocks[block * 256 + (cp & 255)];
// the 4352 blocks of 256 code points share a few hundred distinct contents.
struct ClassTable {
  uint16_t stage1[0x110000 >> 8];
  std::vector<uint8_t> blocks;
  uint8_t get(uint32_t cp) const { return blocks[(size_t)stage1[cp >> 8] << 8 | (cp & 255)]; }
};

template <size_t N>
void paint(std::vector<uint8_t>& cls, const CodeRange (&ranges)[N], uint8_t c) {
  for (const CodeRange& r : ranges)
    for (uint32_t cp = r.lo; cp <= r.hi; cp++) cls[cp] = c;
}

ClassTable* build_table(Pattern pattern) {
  std::vector<uint8_t> cls(0x110000, kOther);
  paint(cls, kLetterRanges, kLetter);
  paint(cls, kNumberRanges, kNumber);
  paint(cls, kWhiteSpaceRanges, kSpace);
  if (pattern == Pattern::kGpt2Js) {
    for (uint32_t cp : kEcmaScriptSpaceAdded) cls[cp] = kSpace;
    for (uint32_t cp : kEcmaScriptSpaceRemoved) cls[cp] = kOther;  // U+0085 is a control (Cc): "other"
  }
  auto* t = new ClassTable();
  std::unordered_map<std::string, uint16_t> seen;
  for (uint32_t b = 0; b < (0x110000 >> 8); b++) {
    std::string key((const char*)&cls[b << 8], 256);
    auto it = seen.find(key);
    if (it == seen.end()) {
      it = seen.emplace(key, (uint16_t)(t->blocks.size() >> 8)).first;
      t->blocks.insert(t->blocks.end(), key.begin(), key.end());
    }
    t->stage1[b] = it->second;
  }
  return t;
}

const ClassTable& class_table(Pattern pattern) {
  static const ClassTable* gpt2 = build_table(Pattern::kGpt2);  // built once, kept for the process
  static const ClassTable* js = build_table(Pattern::kGpt2Js);
  return pattern == Pattern::kGpt2Js ? *js : *gpt2;
}

// ASCII classes (the same under both patterns)
struct AsciiClasses {
  uint8_t c[128];
  constexpr AsciiClasses() : c() {
    for (int i = 0; i < 128; i++) {
      c[i] = kOther;
      if ((i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z')) c[i] = kLetter;
      if (i >= '0' && i <= '9') c[i] = kNumber;
      if ((i >= 9 && i <= 13) || i == ' ') c[i] = kSpace;
    }
  }
};
constexpr AsciiClasses kAscii;

// ---- UTF-8 ---------------------------------------------------------------------------------------------

constexpr uint32_t kInvalid = 0xFFFFFFFFu;

// The code point at s[i] and its length; kInvalid (length 1) where s[i] does not start a well-formed
// sequence (Unicode's table 3-7: no overlongs, no surrogates, nothing above U+10FFFF, nothing truncated).
inline uint32_t decode_utf8(const uint8_t* s, size_t n, size_t i, size_t& len) {
  const uint8_t b0 = s[i];
  if (b0 < 0x80) {
    len = 1;
    return b0;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
      len = 2;
      return (uint32_t)(b0 & 0x1F) << 6 | (s[i + 1] & 0x3F);
    }
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (i + 2 < n) {
      const uint8_t b1 = s[i + 1], b2 = s[i + 2];
      const uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
      if (b1 >= lo && b1 <= hi && (b2 & 0xC0) == 0x80) {
        len = 3;
        return (uint32_t)(b0 & 0x0F) << 12 | (uint32_t)(b1 & 0x3F) << 6 | (b2 & 0x3F);
      }
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (i + 3 < n) {
      const uint8_t b1 = s[i + 1], b2 = s[i + 2], b3 = s[i + 3];
      const uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
      if (b1 >= lo && b1 <= hi && (b2 & 0xC0) == 0x80 && (b3 & 0xC0) == 0x80) {
        len = 4;
        return (uint32_t)(b0 & 0x07) << 18 | (uint32_t)(b1 & 0x3F) << 12 | (uint32_t)(b2 & 0x3F) << 6 | (b3 & 0x3F);
      }
    }
  }
  len = 1;
  return kInvalid;
}

// ---- hashing -------------------------------------------------------------------------------------------

inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint32_t load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t mum(uint64_t a, uint64_t b) {
  const __uint128_t r = (__uint128_t)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}
constexpr uint64_t kK0 = 0xa0761d6478bd642full, kK1 = 0xe7037ed1a0b428dbull, kK2 = 0x8ebc6af09c88c6e3ull;

// The first min(n, 8) bytes of p as a little-endian number, zero above them (reads only p[0, n)).
inline uint64_t head_bytes(const uint8_t* p, size_t n) {
  if (n >= 8) return load64(p);
  if (n >= 4) return (uint64_t)load32(p) | (uint64_t)load32(p + n - 4) << (8 * (n - 4));
  uint64_t v = 0;
  if (n > 0) v = p[0];
  if (n > 1) v |= (uint64_t)p[1] << 8;
  if (n > 2) v |= (uint64_t)p[2] << 16;
  return v;
}

// a <= 8-byte-at-a-time comparison of two byte strings of length n (reads only [0, n) of each)
inline bool same_bytes(const uint8_t* a, const uint8_t* b, size_t n) {
  if (n < 8) return head_bytes(a, n) == head_bytes(b, n);
  size_t i = 0;
  for (; i + 8 < n; i += 8)
    if (load64(a + i) != load64(b + i)) return false;
  return load64(a + n - 8) == load64(b + n - 8);
}

// A piece (or token) as the hash tables look it up: its bytes, first 8 bytes and hash (wyhash-style).
struct Key {
  const uint8_t* p;
  size_t n;
  uint64_t head, hash;
  Key(const uint8_t* bytes, size_t len) : p(bytes), n(len), head(head_bytes(bytes, len)) {
    uint64_t seed = kK0 ^ len, b = 0;
    if (len > 8) {
      const uint8_t* q = bytes + 8;
      size_t i = len - 8;
      for (; i > 8; i -= 8, q += 8) seed = mum(load64(q) ^ kK1, seed ^ kK2);
      b = load64(q + i - 8);  // the last 8 bytes
    }
    hash = mum(kK1 ^ len, mum(head ^ kK1, b ^ seed) ^ kK2);
  }
};

inline uint64_t next_pow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace

// ---- the tables ----------------------------------------------------------------------------------------

struct Bpe::Impl {
  Pattern pattern;
  const ClassTable* classes;
  std::vector<uint8_t> bytes;     // all token bytes
  std::vector<uint32_t> offsets;  // id i: bytes[offsets[i], offsets[i+1])
  uint32_t byte_id[256];          // the id of each single byte

  // bytes -> id over the mergeable tokens, by open addressing; a slot holds the token's first 8 bytes and
  // length, so that most lookups (tokens of up to 8 bytes) read nothing else.
  struct TokenSlot {
    uint64_t head;
    uint32_t id;  // kNone: empty
    uint32_t len;
  };
  std::vector<TokenSlot> token_slots;
  uint64_t token_mask = 0;

  // (left id, right id) -> id of their concatenation, for every token that splits into two tokens: a merge
  // of two parts (always tokens) is exactly a lookup here. Key = left << 32 | right.
  struct PairSlot {
    uint64_t key;
    uint32_t id;
  };
  std::vector<PairSlot> pair_slots;
  uint64_t pair_mask = 0;

  uint32_t find_token(const Key& k) const {
    for (uint64_t i = k.hash & token_mask;; i = (i + 1) & token_mask) {
      const TokenSlot& s = token_slots[i];
      if (s.id == kNone) return kNone;
      if (s.head == k.head && s.len == k.n &&
          (k.n <= 8 || same_bytes(&bytes[offsets[s.id] + 8], k.p + 8, k.n - 8)))
        return s.id;
    }
  }
  static uint64_t pair_hash(uint64_t key) { return mum(key ^ kK1, kK2); }
  uint32_t find_pair(uint32_t a, uint32_t b) const {
    const uint64_t key = (uint64_t)a << 32 | b;
    for (uint64_t i = pair_hash(key) & pair_mask;; i = (i + 1) & pair_mask) {
      const PairSlot& s = pair_slots[i];
      if (s.key == key) return s.id;
      if (s.key == ~0ull) return kNone;
    }
  }

  // ---- the pre-tokenizer ----

  inline uint8_t class_at(const uint8_t* s, size_t n, size_t i, size_t& len) const {
    const uint8_t b = s[i];
    if (b < 0x80) {
      len = 1;
      return kAscii.c[b];
    }
    const uint32_t cp = decode_utf8(s, n, i, len);
    return cp == kInvalid ? (uint8_t)kOther : classes->get(cp);
  }

  // the end of the run of class k that continues at j
  inline size_t run_end(const uint8_t* s, size_t n, size_t j, uint8_t k) const {
    while (j < n) {
      const uint8_t b = s[j];
      if (b < 0x80) {
        if (kAscii.c[b] != k) break;
        j++;
        continue;
      }
      size_t len;
      if (class_at(s, n, j, len) != k) break;
      j += len;
    }
    return j;
  }

  // The end of the piece that starts at i < n (the pattern's alternatives in order).
  size_t piece_end(const uint8_t* s, size_t n, size_t i) const {
    const uint8_t c = s[i];
    // 's|'t|'re|'ve|'m|'ll|'d
    if (c == '\'' && i + 1 < n) {
      const uint8_t d = s[i + 1];
      if (d == 's' || d == 't' || d == 'm' || d == 'd') return i + 2;
      if (i + 2 < n) {
        const uint8_t e = s[i + 2];
        if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) return i + 3;
      }
    }
    size_t len;
    uint8_t k;
    size_t j;
    if (c == ' ' && i + 1 < n && (k = class_at(s, n, i + 1, len)) != kSpace) {
      j = i + 1 + len;  // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+" with the space
    } else {
      k = class_at(s, n, i, len);
      j = i + len;
    }
    if (k != kSpace) return run_end(s, n, j, k);
    // \s+(?!\S): a whitespace run that ends the text is one piece; one followed by a non-space leaves its
    // last code point to the next piece. \s+: a run of one code point followed by a non-space.
    size_t last = i;
    while (j < n) {
      const uint8_t b = s[j];
      size_t l;
      if (b < 0x80) {
        if (kAscii.c[b] != kSpace) break;
        l = 1;
      } else if (class_at(s, n, j, l) != kSpace) {
        break;
      }
      last = j;
      j += l;
    }
    if (j == n) return n;
    return last > i ? last : j;
  }

  // The class of the code point that ends right before p (0 < p), and whether p starts a code point.
  bool unit_before(const uint8_t* s, size_t n, size_t p, uint8_t& cls, uint8_t& byte) const {
    byte = s[p - 1];
    cls = kOther;  // a byte of invalid UTF-8, unless found otherwise
    for (size_t k = 1; k <= 4 && k <= p; k++) {
      const size_t q = p - k;
      const uint8_t b = s[q];
      if ((b & 0xC0) == 0x80) continue;  // a continuation byte: look further back
      if (b < 0x80) {
        if (k == 1) cls = kAscii.c[b];
        return true;
      }
      size_t len;
      const uint32_t cp = decode_utf8(s, n, q, len);
      if (cp == kInvalid) return true;
      if (len > k) return false;  // p is inside this code point
      if (len == k) cls = classes->get(cp);
      return true;
    }
    return true;
  }

  bool is_cut(const uint8_t* s, size_t n, size_t p) const {
    uint8_t a, prev;
    if (!unit_before(s, n, p, a, prev)) return false;
    size_t len;
    const uint8_t b = class_at(s, n, p, len);
    if (a != kSpace && b == kSpace) return true;
    if (a == kLetter) return b != kLetter;
    if (a == kNumber) return b != kNumber;
    if (a == kOther && prev != '\'') return b == kLetter || b == kNumber;
    return false;
  }

  size_t next_safe_cut(const uint8_t* s, size_t n, size_t from) const {
    for (size_t p = std::max<size_t>(from, 1); p < n; p++)
      if (is_cut(s, n, p)) return p;
    return n;
  }
};

namespace {

// ---- one thread's encoder: the piece cache and the merge scratch ---------------------------------------

// A 4-way set-associative cache of merged pieces (at most 32 bytes) and their ids (at most 5), a slot per
// cache line, the oldest slot of a set replaced. Pieces that are tokens do not need it (one lookup in the
// token table); a merge costs a microsecond or two.
struct alignas(64) CacheSlot {
  uint64_t head;  // the first 8 bytes of key, as Key::head
  uint8_t klen;   // 0: empty
  uint8_t nids;
  uint8_t victim;  // in a set's first slot: the way to replace next
  uint8_t pad;
  uint32_t ids[5];
  uint8_t key[32];
};
constexpr size_t kWays = 4;
static_assert(sizeof(CacheSlot) == 64, "one cache line");
constexpr size_t kCacheKey = 32, kCacheIds = 5;
constexpr size_t kSmallMerge = 64;  // pieces up to this many bytes merge by scanning, longer ones with a heap

class Encoder {
 public:
  // cache_slots: a power of two >= kWays, or 0 for none
  Encoder(const Bpe::Impl& t, size_t cache_slots) : t_(t) {
    if (cache_slots) {
      cache_.reset(new CacheSlot[cache_slots]);
      std::memset((void*)cache_.get(), 0, cache_slots * sizeof(CacheSlot));
      cache_mask_ = cache_slots / kWays - 1;
    }
  }

  // none for short texts (a prompt), up to 16384 slots (1 MiB) for a corpus
  static size_t cache_slots_for(size_t n) { return n < 1024 ? 0 : std::min<size_t>(16384, next_pow2(n / 64)); }

  void encode(const uint8_t* s, size_t n, Ids& out) {
    const size_t want = out.size() + n / 3 + 8;
    if (out.capacity() < want) out.reserve(std::max(want, out.capacity() * 2));
    for (size_t i = 0; i < n;) {
      const size_t e = t_.piece_end(s, n, i);
      piece(s + i, e - i, out);
      i = e;
    }
  }

  // A piece that is a token is that token; others are merged, and the merge is cached.
  void piece(const uint8_t* p, size_t n, Ids& out) {
    if (n == 1) {
      out.push_back(t_.byte_id[p[0]]);
      return;
    }
    const Key k(p, n);
    const uint32_t id = t_.find_token(k);
    if (id != kNone) {
      out.push_back(id);
      return;
    }
    CacheSlot* set = nullptr;
    if (cache_ && n <= kCacheKey) {
      set = &cache_[(k.hash & cache_mask_) * kWays];
      for (size_t w = 0; w < kWays; w++) {
        const CacheSlot& slot = set[w];
        if (slot.klen == n && slot.head == k.head && (n <= 8 || same_bytes(slot.key + 8, p + 8, n - 8))) {
          for (uint32_t i = 0; i < slot.nids; i++) out.push_back(slot.ids[i]);
          return;
        }
      }
    }
    const size_t start = out.size();
    if (n <= kSmallMerge) merge_small(p, n, out);
    else merge_heap(p, n, out);
    const size_t m = out.size() - start;
    if (set && m <= kCacheIds) {
      CacheSlot* slot = &set[set[0].victim];
      set[0].victim = (uint8_t)((set[0].victim + 1) % kWays);
      slot->head = k.head;
      slot->klen = (uint8_t)n;
      slot->nids = (uint8_t)m;
      std::memcpy(slot->key, p, n);
      std::memcpy(slot->ids, out.data() + start, m * sizeof(uint32_t));
    }
  }

  // tiktoken's byte_pair_merge: parts in an array, the lowest-ranked adjacent pair (leftmost on a tie)
  // merged until none is a token. O(n^2), the fastest for the short pieces of ordinary text (encode uses it up
  // to kSmallMerge bytes).
  void merge_small(const uint8_t* p, size_t n, Ids& out) {
    uint32_t tok_small[kSmallMerge], pr_small[kSmallMerge];
    uint32_t *tok = tok_small, *pr = pr_small;
    if (n > kSmallMerge) {  // only merge_for_test merges long pieces this way
      tok_.resize(n);
      next_.resize(n);
      tok = tok_.data();
      pr = next_.data();
    }
    size_t m = n;
    for (size_t i = 0; i < n; i++) tok[i] = t_.byte_id[p[i]];
    for (size_t i = 0; i + 1 < m; i++) pr[i] = t_.find_pair(tok[i], tok[i + 1]);
    while (m > 1) {
      uint32_t best = kNone;
      size_t bi = 0;
      for (size_t i = 0; i + 1 < m; i++)
        if (pr[i] < best) {
          best = pr[i];
          bi = i;
        }
      if (best == kNone) break;
      tok[bi] = best;
      for (size_t i = bi + 1; i + 1 < m; i++) tok[i] = tok[i + 1];
      for (size_t i = bi + 1; i + 2 < m; i++) pr[i] = pr[i + 1];
      m--;
      if (bi > 0) pr[bi - 1] = t_.find_pair(tok[bi - 1], tok[bi]);
      if (bi + 1 < m) pr[bi] = t_.find_pair(tok[bi], tok[bi + 1]);
    }
    out.insert(out.end(), tok, tok + m);
  }

  // The same merges for long pieces in O(n log n): parts in a linked list, candidate pairs in a min-heap
  // keyed by (rank, start byte); an entry is stale once its pair no longer gives that rank (a pair's bytes
  // only grow, and a longer byte string is another token), and stale entries are skipped.
  void merge_heap(const uint8_t* p, size_t n, Ids& out) {
    tok_.resize(n);
    next_.resize(n);
    prev_.resize(n);
    heap_.clear();
    for (size_t i = 0; i < n; i++) {
      tok_[i] = t_.byte_id[p[i]];
      next_[i] = (uint32_t)(i + 1);
      prev_[i] = i == 0 ? kNone : (uint32_t)(i - 1);
    }
    auto push = [&](uint32_t pos) {
      const uint32_t q = next_[pos];
      if (q >= n) return;
      const uint32_t r = t_.find_pair(tok_[pos], tok_[q]);
      if (r == kNone) return;
      heap_.push_back((uint64_t)r << 32 | pos);
      std::push_heap(heap_.begin(), heap_.end(), std::greater<uint64_t>());
    };
    for (uint32_t i = 0; i + 1 < n; i++) push(i);
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<uint64_t>());
      const uint64_t top = heap_.back();
      heap_.pop_back();
      const uint32_t r = (uint32_t)(top >> 32), pos = (uint32_t)top;
      if (tok_[pos] == kNone) continue;  // merged into its left neighbour
      const uint32_t q = next_[pos];
      if (q >= n || t_.find_pair(tok_[pos], tok_[q]) != r) continue;
      tok_[pos] = r;
      tok_[q] = kNone;
      next_[pos] = next_[q];
      if (next_[q] < n) prev_[next_[q]] = pos;
      if (prev_[pos] != kNone) push(prev_[pos]);
      push(pos);
    }
    for (uint32_t i = 0; i < n; i = next_[i]) out.push_back(tok_[i]);
  }

 private:
  const Bpe::Impl& t_;
  std::unique_ptr<CacheSlot[]> cache_;
  uint64_t cache_mask_ = 0;
  std::vector<uint32_t> tok_, next_, prev_;
  std::vector<uint64_t> heap_;
};

// Runs body(encoder, unit) for units 0..count-1 on `threads` threads (this one included), each with its own
// Encoder; the first exception is rethrown here once all threads have stopped.
template <class F>
void run_units(const Bpe::Impl& t, int threads, size_t count, size_t cache_slots, F body) {
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto worker = [&] {
    try {
      Encoder enc(t, cache_slots);
      for (size_t u; (u = next.fetch_add(1)) < count;) body(enc, u);
    } catch (...) {
      std::lock_guard<std::mutex> lk(error_mu);
      if (!error) error = std::current_exception();
      next.store(count);
    }
  };
  threads = (int)std::max<size_t>(1, std::min<size_t>((size_t)threads, count));
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int i = 1; i < threads; i++) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

// ---- Bpe -----------------------------------------------------------------------------------------------

Pattern pattern_from_name(const std::string& name) {
  if (name == "gpt2") return Pattern::kGpt2;
  if (name == "gpt2-js") return Pattern::kGpt2Js;
  throw std::invalid_argument("unknown pre-tokenizer pattern \"" + name + "\" (expected \"gpt2\" or \"gpt2-js\")");
}

const char* unicode_version() { return kUnicodeVersion; }

int default_text_threads() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return (int)std::max(1u, std::thread::hardware_concurrency());
}

Bpe::Bpe(const uint8_t* bytes, size_t nbytes, const uint32_t* offsets, size_t nids, Pattern pattern,
         const uint32_t* special, size_t nspecial)
    : impl_(new Impl) {
  Impl& t = *impl_;
  if (nids == 0 || nids >= kNone) throw std::invalid_argument("a BPE vocabulary needs 1 to 2^32-2 ids");
  if (offsets[0] != 0 || offsets[nids] != nbytes)
    throw std::invalid_argument("token offsets must start at 0 and end at the length of the token bytes");
  for (size_t i = 0; i < nids; i++)
    if (offsets[i + 1] < offsets[i]) throw std::invalid_argument("token offsets must not decrease (id " + std::to_string(i) + ")");
  t.pattern = pattern;
  t.classes = &class_table(pattern);
  t.bytes.assign(bytes, bytes + nbytes);
  t.offsets.assign(offsets, offsets + nids + 1);
  std::vector<bool> is_special(nids, false);
  for (size_t i = 0; i < nspecial; i++) {
    if (special[i] >= nids) throw std::invalid_argument("special id " + std::to_string(special[i]) + " is out of range");
    is_special[special[i]] = true;
  }

  // bytes -> id
  size_t mergeable = 0;
  for (size_t i = 0; i < nids; i++) mergeable += !is_special[i] && offsets[i + 1] > offsets[i];
  const uint64_t tcap = next_pow2(mergeable * 2 + 16);
  t.token_slots.assign(tcap, Impl::TokenSlot{0, kNone, 0});
  t.token_mask = tcap - 1;
  auto token_at = [&](size_t at, size_t len) { return t.find_token(Key(&t.bytes[at], len)); };
  for (uint32_t id = 0; id < nids; id++) {
    const size_t len = offsets[id + 1] - offsets[id];
    if (is_special[id] || len == 0) continue;
    const Key k(&t.bytes[offsets[id]], len);
    const uint32_t same = t.find_token(k);
    if (same != kNone)
      throw std::invalid_argument("token " + std::to_string(id) + " repeats the bytes of token " + std::to_string(same));
    uint64_t i = k.hash & t.token_mask;
    while (t.token_slots[i].id != kNone) i = (i + 1) & t.token_mask;
    t.token_slots[i] = Impl::TokenSlot{k.head, id, (uint32_t)len};
  }
  for (int b = 0; b < 256; b++) {
    const uint8_t c = (uint8_t)b;
    t.byte_id[b] = t.find_token(Key(&c, 1));
    if (t.byte_id[b] == kNone)
      throw std::invalid_argument("byte " + std::to_string(b) + " is not a token: not a byte-level BPE vocabulary");
  }

  // (left, right) -> id, from every split of every token into two tokens
  std::vector<std::pair<uint64_t, uint32_t>> pairs;
  for (uint32_t id = 0; id < nids; id++) {
    const size_t len = offsets[id + 1] - offsets[id];
    if (is_special[id] || len < 2) continue;
    for (size_t k = 1; k < len; k++) {
      const uint32_t a = token_at(offsets[id], k);
      if (a == kNone) continue;
      const uint32_t b = token_at(offsets[id] + k, len - k);
      if (b != kNone) pairs.emplace_back((uint64_t)a << 32 | b, id);
    }
  }
  const uint64_t pcap = next_pow2(pairs.size() * 2 + 16);
  t.pair_slots.assign(pcap, Impl::PairSlot{~0ull, kNone});
  t.pair_mask = pcap - 1;
  for (const auto& [key, id] : pairs) {
    uint64_t i = Impl::pair_hash(key) & t.pair_mask;
    while (t.pair_slots[i].key != ~0ull) i = (i + 1) & t.pair_mask;
    t.pair_slots[i] = Impl::PairSlot{key, id};
  }
}

Bpe::~Bpe() = default;

size_t Bpe::vocab_size() const { return impl_->offsets.size() - 1; }
Pattern Bpe::pattern() const { return impl_->pattern; }

void Bpe::encode(const uint8_t* text, size_t n, Ids& out) const {
  Encoder enc(*impl_, Encoder::cache_slots_for(n));
  enc.encode(text, n, out);
}

void Bpe::encode_batch(const ByteSpan* docs, size_t ndocs, int threads, Ids& ids,
                       std::vector<uint64_t>& doc_offsets) const {
  if (threads <= 0) threads = default_text_threads();
  size_t total = 0;
  for (size_t d = 0; d < ndocs; d++) total += docs[d].size;
  // Units of work: runs of whole small documents, or a slice of a long one cut at safe places. Many more
  // units than threads (the fast threads take more), none smaller than 64 KiB of text.
  const size_t target = std::max<size_t>(64 << 10, std::min<size_t>(8 << 20, total / ((size_t)threads * 8) + 1));
  struct Unit {
    size_t doc_begin, doc_end;    // documents [doc_begin, doc_end)
    bool slice;                   // or the bytes [byte_begin, byte_end) of document doc_begin
    size_t byte_begin, byte_end;
  };
  std::vector<Unit> units;
  for (size_t d = 0; d < ndocs;) {
    if (docs[d].size >= target) {
      const uint8_t* s = docs[d].data;
      const size_t n = docs[d].size;
      for (size_t b = 0; b < n;) {
        size_t e = n - b <= target + target / 2 ? n : impl_->next_safe_cut(s, n, b + target);
        units.push_back({d, d + 1, true, b, e});
        b = e;
      }
      d++;
      continue;
    }
    size_t e = d, bytes = 0;
    while (e < ndocs && docs[e].size < target && bytes < target) bytes += docs[e++].size;
    units.push_back({d, e, false, 0, 0});
    d = e;
  }
  struct Result {
    Ids ids;
    std::vector<uint64_t> counts;  // per document of the unit
  };
  std::vector<Result> results(units.size());
  const size_t per_thread = total / (size_t)threads + 1;
  run_units(*impl_, threads, units.size(), Encoder::cache_slots_for(per_thread), [&](Encoder& enc, size_t u) {
    const Unit& unit = units[u];
    Result& r = results[u];
    if (unit.slice) {
      enc.encode(docs[unit.doc_begin].data + unit.byte_begin, unit.byte_end - unit.byte_begin, r.ids);
      r.counts.push_back(r.ids.size());
      return;
    }
    for (size_t d = unit.doc_begin; d < unit.doc_end; d++) {
      const size_t before = r.ids.size();
      enc.encode(docs[d].data, docs[d].size, r.ids);
      r.counts.push_back(r.ids.size() - before);
    }
  });
  doc_offsets.assign(ndocs + 1, 0);
  size_t count = 0;
  for (const Result& r : results) count += r.ids.size();
  ids.clear();
  ids.reserve(count);
  for (size_t u = 0; u < units.size(); u++) {
    ids.insert(ids.end(), results[u].ids.begin(), results[u].ids.end());
    Ids().swap(results[u].ids);
    for (size_t k = 0; k < results[u].counts.size(); k++) doc_offsets[units[u].doc_begin + k + 1] += results[u].counts[k];
  }
  for (size_t d = 0; d < ndocs; d++) doc_offsets[d + 1] += doc_offsets[d];
}

Ids Bpe::encode_parallel(const uint8_t* text, size_t n, int threads) const {
  Ids ids;
  std::vector<uint64_t> offsets;
  const ByteSpan doc{text, n};
  encode_batch(&doc, 1, threads, ids, offsets);
  return ids;
}

void Bpe::decode(const uint32_t* ids, size_t n, std::vector<uint8_t>& out) const {
  const Impl& t = *impl_;
  const size_t vocab = vocab_size();
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] >= vocab)
      throw std::invalid_argument("token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                                  " is outside the vocabulary of " + std::to_string(vocab));
    total += t.offsets[ids[i] + 1] - t.offsets[ids[i]];
  }
  size_t at = out.size();
  out.resize(at + total);
  for (size_t i = 0; i < n; i++) {
    const size_t len = t.offsets[ids[i] + 1] - t.offsets[ids[i]];
    std::memcpy(&out[at], &t.bytes[t.offsets[ids[i]]], len);
    at += len;
  }
}

void Bpe::split(const uint8_t* text, size_t n, std::vector<uint32_t>& ends) const {
  for (size_t i = 0; i < n;) {
    i = impl_->piece_end(text, n, i);
    ends.push_back((uint32_t)i);
  }
}

size_t Bpe::next_safe_cut(const uint8_t* text, size_t n, size_t from) const {
  return impl_->next_safe_cut(text, n, from);
}

void Bpe::merge_for_test(const uint8_t* piece, size_t n, bool heap, std::vector<uint32_t>& out) const {
  Encoder enc(*impl_, 0);
  if (n == 0) return;
  Ids ids;
  if (heap) enc.merge_heap(piece, n, ids);
  else enc.merge_small(piece, n, ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

void* big_alloc(size_t bytes) {
  constexpr size_t kHuge = 2u << 20;
  void* p = nullptr;
  if (bytes >= kHuge) {
    const size_t size = (bytes + kHuge - 1) & ~(kHuge - 1);
    if (posix_memalign(&p, kHuge, size) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);  // a hint: no error if the kernel has no transparent huge pages
#endif
    return p;
  }
  p = std::malloc(bytes ? bytes : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

void big_free(void* p) noexcept { std::free(p); }

}  // namespace mypt_text
