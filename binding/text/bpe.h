// Byte-level BPE over a rank table, with GPT-2's pre-tokenizer written by hand: the ids of tiktoken's
// encode_ordinary (special-token text is ordinary text). Plain C++17, no Node headers; the model engine
// knows nothing of it (binding/napi/bpe_wrap.cc exposes it to JavaScript).
//
// The vocabulary: id i is the byte string bytes[offsets[i], offsets[i+1]); its rank (merge priority) is i,
// as in tiktoken, where a token's rank is its id. Empty entries are ids no token has (gaps); ids listed as
// special (e.g. <|endoftext|>) only decode. Every single byte must be a token (byte-level BPE).
//
// Encoding, as tiktoken does it:
//  1. the pre-tokenizer cuts the text into pieces by the pattern (Pattern::kGpt2)
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     leftmost-first, as a backtracking regex reads it: contractions are lower case only; ` ?` is one
//     U+0020; a whitespace run followed by a non-space leaves its last code point to the next piece (which
//     is how " word" keeps its space), unless the run is that one code point (then the final `\s+` takes it).
//  2. a piece that is a token is that token; otherwise its bytes are merged by byte_pair_merge: the
//     adjacent pair whose concatenation has the lowest rank is merged first, the leftmost on a tie.
//
// Classes (binding/text/unicode_tables.h, generated from Node's Unicode data): \p{L}, \p{N}, and for \s the
// Unicode White_Space property, which is what tiktoken's Rust regex means by \s. Pattern::kGpt2Js reads \s
// as JavaScript's /\s/u instead (U+FEFF is a space, U+0085 is not): the ids of js-tiktoken.
//
// Input is UTF-8. Invalid UTF-8 (a byte that does not start a well-formed sequence: a stray continuation
// byte, an overlong form, an encoded surrogate, a code point above U+10FFFF, a truncated sequence) is read
// one byte at a time, each byte a code point of class "other" (neither letter, number nor space, like
// U+FFFD). Its bytes are kept as they are and encoded by the byte-level BPE, so decode(encode(b)) == b for
// any bytes b. (Replacing it with U+FFFD first, as Buffer.toString() does, gives the same piece boundaries
// but the ids of EF BF BD instead of the raw bytes.)
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mypt_text {

enum class Pattern {
  kGpt2,    // tiktoken's gpt2 / r50k_base / p50k_base pattern, \s = Unicode White_Space (tiktoken's ids)
  kGpt2Js,  // the same pattern with \s = JavaScript's /\s/u (js-tiktoken's ids)
};

// "gpt2" | "gpt2-js"; throws std::invalid_argument for anything else
Pattern pattern_from_name(const std::string& name);

// Memory for big arrays (the ids of a corpus, a corpus's UTF-8): from 2 MiB up on transparent huge pages
// where the kernel offers them (madvise; it may not), else malloc. Each fresh 4 KiB page costs a page fault
// when first written, and on some virtual machines faulting in the ids costs more than computing them.
// big_free frees either kind.
void* big_alloc(size_t bytes);
void big_free(void* p) noexcept;

template <class T>
struct BigAllocator {
  using value_type = T;
  BigAllocator() = default;
  template <class U>
  BigAllocator(const BigAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(big_alloc(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { big_free(p); }
  template <class U>
  bool operator==(const BigAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const BigAllocator<U>&) const { return false; }
};
using Ids = std::vector<uint32_t, BigAllocator<uint32_t>>;

struct ByteSpan {
  const uint8_t* data;
  size_t size;
};

class Bpe {
 public:
  // Throws std::invalid_argument for a table that is not a byte-level BPE vocabulary (offsets not
  // increasing, a missing single byte, a byte string given twice, a special id out of range).
  Bpe(const uint8_t* bytes, size_t nbytes, const uint32_t* offsets, size_t nids, Pattern pattern,
      const uint32_t* special = nullptr, size_t nspecial = 0);
  ~Bpe();
  Bpe(const Bpe&) = delete;
  Bpe& operator=(const Bpe&) = delete;

  size_t vocab_size() const;  // ids 0 .. vocab_size()-1 (gaps included)
  Pattern pattern() const;

  // Appends the ids of text to out, on the calling thread.
  void encode(const uint8_t* text, size_t n, Ids& out) const;

  // The ids of text, on up to `threads` threads (0: all cores; the calling thread is one of them). A long
  // text is cut at piece boundaries that do not depend on what comes before them (next_safe_cut), so the
  // ids equal encode()'s.
  Ids encode_parallel(const uint8_t* text, size_t n, int threads) const;

  // The ids of many documents, concatenated in order; doc_offsets gets ndocs + 1 entries (document d's ids
  // are ids[doc_offsets[d], doc_offsets[d+1])). Each document is encoded on its own (a piece never spans
  // two documents); small ones are grouped and long ones cut, over up to `threads` threads.
  void encode_batch(const ByteSpan* docs, size_t ndocs, int threads, Ids& ids,
                    std::vector<uint64_t>& doc_offsets) const;

  // Appends the bytes of ids to out; throws std::invalid_argument for an id >= vocab_size() (a gap
  // decodes to nothing).
  void decode(const uint32_t* ids, size_t n, std::vector<uint8_t>& out) const;

  // The pre-tokenizer alone: appends the end offset of every piece of text (tests and diagnostics).
  void split(const uint8_t* text, size_t n, std::vector<uint32_t>& ends) const;

  // The first position p >= from where the text can be cut: the pieces of text[0, n) are those of
  // text[0, p) followed by those of text[p, n). Returns n when there is none. Positions p found: after a
  // non-space code point before an ASCII space/newline/tab, after a letter before a non-letter, after a
  // number before a non-number, after a non-apostrophe "other" before a letter or number.
  size_t next_safe_cut(const uint8_t* text, size_t n, size_t from) const;

  // byte_pair_merge of one piece of any length with either algorithm, the scanning one (heap = false) or
  // the heap (tests: both must give the same ids). The ids are those of the merge alone, without the
  // whole-piece lookup encode() does first.
  void merge_for_test(const uint8_t* piece, size_t n, bool heap, std::vector<uint32_t>& out) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

int default_text_threads();       // the cores this process may run on
const char* unicode_version();    // of the class tables (unicode_tables.h), e.g. "17.0"

}  // namespace mypt_text
