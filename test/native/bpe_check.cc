// Checks and times binding/text/bpe.h without Node (built with -DMYPT_NATIVE_TESTS=ON).
//
//   bpe_check RANKS [TEXT...]
// RANKS: js-tiktoken's gpt2 ranks module (node_modules/js-tiktoken/dist/ranks/gpt2.cjs). Checks, on each
// TEXT and on generated text: the heap merge equals the scanning merge, every safe cut splits the pieces
// exactly, the parallel ids equal the sequential ones, decode(encode(x)) == x. Then prints MB/s of one and
// of all threads on each TEXT. Exit status 1 on the first failure. (The ids themselves are checked against
// js-tiktoken by test/bpe-native.test.js.)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "text/bpe.h"

using mypt_text::Bpe;

namespace {

int failures = 0;
#define CHECK(cond, ...)                         \
  do {                                           \
    if (!(cond)) {                               \
      std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);         \
      std::fprintf(stderr, "\n");                \
      failures++;                                \
    }                                            \
  } while (0)

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<uint8_t> base64(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    const int v = val(c);
    if (v < 0) continue;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back((uint8_t)(acc >> bits));
    }
  }
  return out;
}

// js-tiktoken's format: "bpe_ranks":"NAME OFFSET B64 B64 ...\n..." (ids OFFSET, OFFSET+1, ...), and
// "special_tokens":{"TEXT":ID,...}
std::unique_ptr<Bpe> load_ranks(const std::string& path, mypt_text::Pattern pattern) {
  const std::string src = read_file(path);
  std::vector<std::vector<uint8_t>> tokens;
  auto put = [&](size_t id, std::vector<uint8_t> bytes) {
    if (tokens.size() <= id) tokens.resize(id + 1);
    tokens[id] = std::move(bytes);
  };
  size_t at = src.find("\"bpe_ranks\":\"");
  if (at == std::string::npos) {
    std::fprintf(stderr, "%s: no bpe_ranks\n", path.c_str());
    std::exit(2);
  }
  at += 13;
  const std::string ranks = src.substr(at, src.find('"', at) - at);
  std::vector<std::string> lines;
  for (size_t b = 0; b < ranks.size();) {
    size_t e = ranks.find("\\n", b);
    if (e == std::string::npos) e = ranks.size();
    lines.push_back(ranks.substr(b, e - b));
    b = e + 2;
  }
  for (const std::string& line : lines) {
    std::istringstream in(line);
    std::string name, word;
    size_t offset;
    if (!(in >> name >> offset)) continue;
    for (size_t i = 0; in >> word; i++) put(offset + i, base64(word));
  }
  std::vector<uint32_t> special;
  size_t sp = src.find("\"special_tokens\":{");
  if (sp != std::string::npos) {
    sp += 18;
    const size_t end = src.find('}', sp);
    while (sp < end) {
      const size_t k0 = src.find('"', sp), k1 = src.find('"', k0 + 1);
      if (k0 >= end) break;
      const std::string text = src.substr(k0 + 1, k1 - k0 - 1);
      const size_t colon = src.find(':', k1);
      const size_t id = std::stoul(src.substr(colon + 1));
      put(id, std::vector<uint8_t>(text.begin(), text.end()));
      special.push_back((uint32_t)id);
      sp = src.find(',', colon);
      if (sp == std::string::npos) break;
      sp++;
    }
  }
  std::vector<uint8_t> bytes;
  std::vector<uint32_t> offsets{0};
  for (const auto& t : tokens) {
    bytes.insert(bytes.end(), t.begin(), t.end());
    offsets.push_back((uint32_t)bytes.size());
  }
  return std::make_unique<Bpe>(bytes.data(), bytes.size(), offsets.data(), tokens.size(), pattern, special.data(),
                               special.size());
}

void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s += (char)cp;
  } else if (cp < 0x800) {
    s += (char)(0xC0 | cp >> 6);
    s += (char)(0x80 | (cp & 63));
  } else if (cp < 0x10000) {
    s += (char)(0xE0 | cp >> 12);
    s += (char)(0x80 | (cp >> 6 & 63));
    s += (char)(0x80 | (cp & 63));
  } else {
    s += (char)(0xF0 | cp >> 18);
    s += (char)(0x80 | (cp >> 12 & 63));
    s += (char)(0x80 | (cp >> 6 & 63));
    s += (char)(0x80 | (cp & 63));
  }
}

// Text that exercises every rule: words, contractions in both cases, digits, whitespace of every kind,
// non-Latin scripts, emoji, random bytes (some of them invalid UTF-8).
std::string generated_text(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const char* words[] = {"the", "The", "'s", "'S", "'ll", "'LL", "'re", "'ve", "'d", "'m", "'t", "'x", "'", "don't",
                         "12345", "3.14", "<|endoftext|>", "!!", "...", "--", "\"", "(", ")", "hello", "world"};
  const uint32_t spaces[] = {' ', ' ', ' ', '\t', '\n', '\r', 0x0B, 0x0C, 0x85, 0xA0, 0x1680, 0x2003, 0x2028, 0x3000, 0xFEFF};
  const uint32_t others[] = {0x00E9, 0x0416, 0x05D0, 0x0627, 0x0915, 0x0E01, 0x4E2D, 0x65E5, 0xAC00, 0x0661, 0x0967,
                             0x2160, 0x00B2, 0x1F600, 0x1F469, 0x200D, 0x2764, 0xFE0F, 0x0301, 0x3002, 0x201C, 0x2019,
                             0x10400, 0x20000, 0x1D7CE};
  std::string s;
  while (s.size() < n) {
    switch (rng() % 6) {
      case 0:
      case 1: s += words[rng() % (sizeof(words) / sizeof(*words))]; break;
      case 2:
        for (int k = rng() % 4; k >= 0; k--) append_utf8(s, spaces[rng() % (sizeof(spaces) / sizeof(*spaces))]);
        break;
      case 3:
        for (int k = rng() % 5; k >= 0; k--) append_utf8(s, others[rng() % (sizeof(others) / sizeof(*others))]);
        break;
      case 4: s += ' '; s += words[rng() % 3]; break;
      default:
        if (rng() % 8 == 0) s += (char)(rng() % 256);  // sometimes invalid UTF-8
        else s += (char)(32 + rng() % 95);
    }
  }
  return s;
}

std::vector<uint32_t> pieces(const Bpe& bpe, const std::string& s, size_t from = 0, size_t to = std::string::npos) {
  if (to == std::string::npos) to = s.size();
  std::vector<uint32_t> ends;
  bpe.split((const uint8_t*)s.data() + from, to - from, ends);
  for (auto& e : ends) e += (uint32_t)from;
  return ends;
}

void check_text(const Bpe& bpe, const std::string& name, const std::string& s, uint64_t seed) {
  const auto* p = (const uint8_t*)s.data();
  mypt_text::Ids seq;
  bpe.encode(p, s.size(), seq);
  std::vector<uint8_t> back;
  bpe.decode(seq.data(), seq.size(), back);
  CHECK(back.size() == s.size() && std::memcmp(back.data(), p, s.size()) == 0, "%s: decode(encode(x)) != x", name.c_str());

  for (int threads : {1, 2, 3, 8}) {
    const auto par = bpe.encode_parallel(p, s.size(), threads);
    CHECK(par == seq, "%s: %d threads: %zu ids, sequential %zu", name.c_str(), threads, par.size(), seq.size());
  }
  // every safe cut is a piece boundary, and cutting there changes no piece
  const auto all = pieces(bpe, s);
  std::mt19937_64 rng(seed);
  for (int k = 0; k < 200 && s.size() > 1; k++) {
    const size_t cut = bpe.next_safe_cut(p, s.size(), rng() % s.size());
    if (cut >= s.size()) continue;
    auto a = pieces(bpe, s, 0, cut), b = pieces(bpe, s, cut);
    a.insert(a.end(), b.begin(), b.end());
    CHECK(a == all, "%s: cutting at %zu changes the pieces", name.c_str(), cut);
  }
  // the heap merge equals the scanning merge on the pieces (and on pieces glued together)
  size_t start = 0;
  for (size_t i = 0; i < all.size() && i < 20000; i++) {
    const size_t len = all[i] - start;
    if (len <= 64) {
      std::vector<uint32_t> a, b;
      bpe.merge_for_test(p + start, len, false, a);
      bpe.merge_for_test(p + start, len, true, b);
      CHECK(a == b, "%s: merges differ on the piece at %zu", name.c_str(), start);
    }
    start = all[i];
  }
  for (int k = 0; k < 300 && s.size() > 64; k++) {
    const size_t len = 2 + rng() % 63, at = rng() % (s.size() - len);
    std::vector<uint32_t> a, b;
    bpe.merge_for_test(p + at, len, false, a);
    bpe.merge_for_test(p + at, len, true, b);
    CHECK(a == b, "%s: merges differ on %zu bytes at %zu", name.c_str(), len, at);
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void bench(const Bpe& bpe, const std::string& name, const std::string& text) {
  std::string big = text;
  while (big.size() < (50u << 20)) big += text;
  const auto* p = (const uint8_t*)big.data();
  const double mb = big.size() / 1e6;
  for (int threads : {1, mypt_text::default_text_threads()}) {
    double best = 1e9;
    size_t n = 0;
    for (int rep = 0; rep < 3; rep++) {
      const auto t0 = std::chrono::steady_clock::now();
      n = bpe.encode_parallel(p, big.size(), threads).size();
      best = std::min(best, seconds_since(t0));
    }
    std::printf("%s x%zu (%.1f MB, %zu tokens): %d thread%s %.1f MB/s\n", name.c_str(), big.size() / text.size(), mb, n,
                threads, threads == 1 ? "" : "s", mb / best);
    if (mypt_text::default_text_threads() == 1) break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bpe_check RANKS [TEXT...]\n");
    return 2;
  }
  for (auto pattern : {mypt_text::Pattern::kGpt2, mypt_text::Pattern::kGpt2Js}) {
    const auto t0 = std::chrono::steady_clock::now();
    auto bpe = load_ranks(argv[1], pattern);
    std::printf("loaded %zu ids (%s) in %.0f ms\n", bpe->vocab_size(), pattern == mypt_text::Pattern::kGpt2 ? "gpt2" : "gpt2-js",
                seconds_since(t0) * 1e3);
    for (uint64_t seed = 1; seed <= 4; seed++) check_text(*bpe, "generated " + std::to_string(seed), generated_text(300000, seed), seed);
    std::string long_word(10000, 'a');
    for (size_t i = 0; i < long_word.size(); i++) long_word[i] = (char)('a' + (i * 7 + i / 13) % 26);
    check_text(*bpe, "long word", " " + long_word + " " + std::string(10000, 'z') + "  \n", 7);
    for (const std::string& w : {long_word, std::string(10000, 'a'), std::string(3000, '!'), generated_text(20000, 9)}) {
      std::vector<uint32_t> a, b;  // the two merge algorithms on long pieces
      bpe->merge_for_test((const uint8_t*)w.data(), w.size(), false, a);
      bpe->merge_for_test((const uint8_t*)w.data(), w.size(), true, b);
      CHECK(a == b, "merges differ on a %zu-byte piece", w.size());
    }
    for (int i = 2; i < argc; i++) check_text(*bpe, argv[i], read_file(argv[i]), 11);
  }
  if (failures) {
    std::printf("%d failure(s)\n", failures);
    return 1;
  }
  std::printf("all checks passed\n");
  auto bpe = load_ranks(argv[1], mypt_text::Pattern::kGpt2);
  for (int i = 2; i < argc; i++) bench(*bpe, argv[i], read_file(argv[i]));
  return 0;
}
