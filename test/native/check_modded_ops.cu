// Checks every kernel of cuda/modded_ops.cuh (the modded-nanogpt forward pass) against the CPU op it
// mirrors (binding/cpu/modded_ops.h, modded_mask.h), for T = fp32 and bf16:
//   modded_embed_norm   gathered embedding rows through modded::rmsnorm (x and x0)
//   modded_mix          with / without skip, norm_h on / off (off: h == x), and the updated x
//   modded_residual     every combination of delta / save / h null or not (x, save, h)
//   modded_qkv_prepare  per-head modded::rmsnorm + modded::rotary of q and k, v (v_norm, value embeddings
//                       or not), the cache rows pos0.. and no other cache row written; D = 16 .. 256
//   modded_attention    modded::masked_attention over modded::visible_keys: causal, documents, block
//                       windows, a chunk after a cache, one decoded token against a cache, and key
//                       ranges with gaps (visible_keys merges touching ones); D = 16 .. 256; 1 and 3
//                       rows take the few-query kernel (8 warps, 4 keys at a time), more the other
//   modded_relu_square  modded::relu_square
//   modded_softcap      the four kinds (modded::SoftCap) against their formulas
//
//   check_modded_ops [--seed N]
//
// Every case draws fresh random inputs (the run's seed is printed; --seed repeats a run), poisons outputs
// with NaN before the launch, and prints ||gpu - ref|| / ||ref||. bf16 cases round the inputs to bf16
// first and run the CPU op on the rounded values. Tolerances: outputs stored as T 1e-5 (fp32) / 1e-2
// (bf16); fp32 outputs (x, x0, save, logits) 1e-5 in both. NaN never passes. Exit status 1 on failure.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "check_harness.cuh"
#include "common.cuh"
#include "engine/engine.h"
#include "engine/modded.h"
#include "engine/modded_mask.h"
#include "modded_ops.cuh"
#include "cpu/modded_ops.h"

using namespace mypt;
using namespace mypt::cuda;
static const float kEps = FLT_EPSILON;  // F.rms_norm(eps=None) on fp32 / bf16
static const double kTolF32 = 1e-5;     // outputs that are fp32 whatever T is (x, x0, save, logits)

static float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(g_rng); }
static Ints randints(size_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  Ints v(n);
  for (auto& x : v) x = d(g_rng);
  return v;
}
static Ints to_i32(const std::vector<int64_t>& v) { return Ints(v.begin(), v.end()); }
static std::string S(int64_t v) { return std::to_string(v); }

// ---------------- x = x0 = norm(embed[tokens]) ----------------
template <typename T>
static void check_embed_norm(int n, int d, int V) {
  const Vec embed = prep<T>(randn((size_t)V * d));
  const Ints tok = randints(n, 0, V - 1);
  Vec ref((size_t)n * d);
  for (int t = 0; t < n; t++) std::copy_n(embed.begin() + (size_t)tok[t] * d, d, ref.begin() + (size_t)t * d);
  modded::rmsnorm(ref.data(), ref.data(), n, d, kEps);
  Dev<T> de(embed);
  Dev<int32_t> dt(tok);
  Dev<float> dx((size_t)n * d), dx0((size_t)n * d);
  modded_embed_norm<T>(dx.p, dx0.p, dt.p, de.p, n, d, kEps, 0);
  const std::string tag = tname<T>() + " n=" + S(n) + " d=" + S(d);
  report("embed_norm x  " + tag, rel_err(dx.get(), ref), kTolF32);
  report("embed_norm x0 " + tag, rel_err(dx0.get(), ref), kTolF32);
}

// ---------------- x = l0 (x + w skip) + l1 x0; h = norm_h ? norm(x) : x ----------------
template <typename T>
static void check_mix(int n, int d, bool skip, bool norm_h) {
  const size_t N = (size_t)n * d;
  const Vec x = randn(N), x0 = randn(N), sk = randn(N);
  const float w = uniform(-1.0f, 1.0f), l0 = uniform(0.5f, 1.5f), l1 = uniform(-0.5f, 0.5f);
  Vec xr(N), hr(N);
  for (size_t i = 0; i < N; i++) {
    float v = x[i];
    if (skip) v += w * sk[i];
    xr[i] = l0 * v + l1 * x0[i];
  }
  if (norm_h) modded::rmsnorm(hr.data(), xr.data(), n, d, kEps);
  else hr = xr;
  Dev<float> dx(x), dx0(x0), dsk(sk);
  Dev<T> dh(N);
  modded_mix<T>(dx.p, dh.p, dx0.p, skip ? dsk.p : nullptr, w, l0, l1, norm_h, n, d, kEps, 0);
  const Vec gx = dx.get(), gh = dh.get();
  const std::string tag = tname<T>() + " n=" + S(n) + " d=" + S(d) + (skip ? " skip" : " no-skip") +
                          (norm_h ? " h=norm(x)" : " h=x");
  report("mix x " + tag, rel_err(gx, xr), kTolF32);
  report("mix h " + tag, rel_err(gh, hr), tol_op<T>());
  if (!norm_h) report_exact("mix h == x (as " + tname<T>() + ") " + tag, gh == prep<T>(gx));
}

// ---------------- x += delta; save = x; h = norm(x) ----------------
template <typename T>
static void check_residual(int n, int d, bool delta, bool save, bool h) {
  const size_t N = (size_t)n * d;
  const Vec x = randn(N), dl = prep<T>(randn(N));
  Vec xr = x, hr(N);
  if (delta)
    for (size_t i = 0; i < N; i++) xr[i] += dl[i];
  modded::rmsnorm(hr.data(), xr.data(), n, d, kEps);
  Dev<float> dx(x), dsave(N);
  Dev<T> ddl(dl), dh(N);
  modded_residual<T>(dx.p, delta ? ddl.p : nullptr, save ? dsave.p : nullptr, h ? dh.p : nullptr, n, d, kEps, 0);
  const std::string tag = tname<T>() + " n=" + S(n) + " d=" + S(d) + (delta ? " delta" : " -") +
                          (save ? " save" : " -") + (h ? " h" : " -");
  report("residual x " + tag, rel_err(dx.get(), xr), kTolF32);
  if (save) report("residual save " + tag, rel_err(dsave.get(), xr), kTolF32);
  if (h) report("residual h " + tag, rel_err(dh.get(), hr), tol_op<T>());
}

// ---------------- q, k, v of qkv[n, 3, H, D] into q[n, HD] and the caches [capacity, HD] ----------------
template <typename T>
static void check_qkv_prepare(int n, int H, int D, int pos0, bool v_norm, bool with_ve) {
  const int HD = H * D, V = 11, cap = pos0 + n + 3;
  const float base = 1024.0f, a0 = uniform(-1.5f, 1.5f), a1 = uniform(-1.5f, 1.5f);
  const Vec qkv = prep<T>(randn((size_t)n * 3 * HD)), ve = prep<T>(randn((size_t)V * HD));
  const Ints tok = randints(n, 0, V - 1);
  // reference: q = qkv[:, 0:HD], k = qkv[:, HD:2HD], v = qkv[:, 2HD:3HD]
  Vec q((size_t)n * HD), k(q.size()), v(q.size());
  for (int t = 0; t < n; t++) {
    const float* row = qkv.data() + (size_t)t * 3 * HD;
    std::copy_n(row, HD, q.begin() + (size_t)t * HD);
    std::copy_n(row + HD, HD, k.begin() + (size_t)t * HD);
    std::copy_n(row + 2 * HD, HD, v.begin() + (size_t)t * HD);
  }
  modded::rmsnorm(q.data(), q.data(), (int64_t)n * H, D, kEps);
  modded::rmsnorm(k.data(), k.data(), (int64_t)n * H, D, kEps);
  modded::rotary(q.data(), n, H, D, pos0, base);
  modded::rotary(k.data(), n, H, D, pos0, base);
  if (v_norm) modded::rmsnorm(v.data(), v.data(), (int64_t)n * H, D, kEps);
  for (int t = 0; t < n; t++)
    for (int i = 0; i < HD; i++) {
      float& y = v[(size_t)t * HD + i];
      y = with_ve ? a0 * y + a1 * ve[(size_t)tok[t] * HD + i] : a0 * y;
    }
  Vec freqs(D / 2);
  modded::rotary_freqs(freqs.data(), D, base);

  Dev<T> dqkv(qkv), dve(ve), dq((size_t)n * HD), dkc((size_t)cap * HD), dvc((size_t)cap * HD);
  Dev<int32_t> dtok(tok);
  Dev<float> dfreqs(freqs);
  // odd positions (37) go through device memory, as generation's CUDA graph passes them; the others by value
  const bool on_device = pos0 % 2 == 1;
  Dev<int32_t> dpos(Ints{pos0});
  modded_qkv_prepare<T>(dq.p, dkc.p, dvc.p, dqkv.p, dtok.p, with_ve ? dve.p : nullptr, dfreqs.p, a0, a1, v_norm, n,
                        H, D, on_device ? -12345 : pos0, on_device ? dpos.p : nullptr, kEps, 0);
  const Vec gk = dkc.get(), gv = dvc.get();
  const size_t w0 = (size_t)pos0 * HD, w1 = (size_t)(pos0 + n) * HD;  // the rows written
  bool untouched = true;  // every other cache row still holds the NaN poison
  for (size_t i = 0; i < gk.size(); i++)
    if ((i < w0 || i >= w1) && (!std::isnan(gk[i]) || !std::isnan(gv[i]))) untouched = false;
  const std::string tag = tname<T>() + " n=" + S(n) + " H=" + S(H) + " D=" + S(D) + " pos0=" + S(pos0) +
                          (v_norm ? " v_norm" : "") + (with_ve ? " ve" : " no-ve");
  report("qkv_prepare q " + tag, rel_err(dq.get(), q), tol_op<T>());
  report("qkv_prepare kc " + tag, rel_err(Vec(gk.begin() + w0, gk.begin() + w1), k), tol_op<T>());
  report("qkv_prepare vc " + tag, rel_err(Vec(gv.begin() + w0, gv.begin() + w1), v), tol_op<T>());
  report_exact("qkv_prepare cache rows outside pos0..pos0+n-1 untouched " + tag, untouched);
}

// ---------------- attention of N queries over key ranges of a cache of P rows ----------------
template <typename T>
static void check_attention_on(const std::string& tag, const modded::KeyRanges& kr, int N, int P, int H, int D) {
  const int HD = H * D;
  const float scale = 0.12f;
  const Vec q = prep<T>(randn((size_t)N * HD)), kc = prep<T>(randn((size_t)P * HD)), vc = prep<T>(randn((size_t)P * HD));
  Vec ref((size_t)N * HD);
  modded::masked_attention(ref.data(), q.data(), kc.data(), vc.data(), kr, N, H, D, scale);
  Dev<T> dq(q), dk(kc), dv(vc), dout((size_t)N * HD);
  Dev<int32_t> dfirst(to_i32(kr.first)), dbegin(to_i32(kr.begin)), dend(to_i32(kr.end));
  modded_attention<T>(dout.p, dq.p, dk.p, dv.p, dfirst.p, dbegin.p, dend.p, N, H, D, scale, 0);
  report("attention " + tag + " " + tname<T>() + " H=" + S(H) + " D=" + S(D) + " ranges=" + S((int64_t)kr.begin.size()),
         rel_err(dout.get(), ref), tol_op<T>());
}

// The queries at pos0..pos0+N-1 with modded::visible_keys: docs = cumsum of "is a document token" (EOT).
template <typename T>
static void check_attention(const char* what, int N, int pos0, int H, int D, float doc_p, int block, int window) {
  Ints docs(pos0 + N);
  std::bernoulli_distribution is_doc(doc_p);
  int c = 0;
  for (auto& x : docs) {
    c += is_doc(g_rng) ? 1 : 0;
    x = c;
  }
  const modded::KeyRanges kr = modded::visible_keys(docs.data(), N, pos0, pos0 + N - 1, block, window);
  check_attention_on<T>(std::string(what) + " N=" + S(N) + " pos0=" + S(pos0) + " eots=" + S(c) + " block=" +
                            S(block) + " W=" + S(window),
                        kr, N, pos0 + N, H, D);
}

// visible_keys merges touching ranges (one range per query); the kernel takes any: three with gaps,
// [0, a) [b, c) [d, p + 1) for the query at p (pos0 >= 10).
template <typename T>
static void check_attention_gaps(int N, int pos0, int H, int D) {
  auto pick = [](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g_rng); };
  modded::KeyRanges kr;
  for (int t = 0; t < N; t++) {
    const int p = pos0 + t, a = pick(1, p / 4), b = pick(a + 1, p / 2), c = pick(b + 1, 3 * p / 4), d = pick(c + 1, p);
    kr.first.push_back((int64_t)kr.begin.size());
    kr.begin.insert(kr.begin.end(), {0, b, d});
    kr.end.insert(kr.end.end(), {a, c, p + 1});
  }
  kr.first.push_back((int64_t)kr.begin.size());
  check_attention_on<T>("3 ranges with gaps N=" + S(N) + " pos0=" + S(pos0), kr, N, pos0 + N, H, D);
}

// ---------------- elementwise ----------------
template <typename T>
static void check_relu_square(int64_t N) {
  const Vec x = prep<T>(randn(N));
  Vec ref = x;
  modded::relu_square(ref.data(), N);
  Dev<T> dx(x);
  modded_relu_square<T>(dx.p, N, 0);
  report("relu_square (in place) " + tname<T>() + " N=" + S(N), rel_err(dx.get(), ref), tol_op<T>());
}

template <typename T>
static void check_softcap(int64_t N, int kind, int dim) {
  const Vec z = prep<T>(randn(N, 40.0f));
  const float s = 1.0f / (7.5f * std::sqrt((float)dim));
  Vec ref(N);
  for (int64_t i = 0; i < N; i++) {
    const float v = z[i];
    ref[i] = kind == 0   ? 30.0f / (1.0f + std::exp(-v * s))
             : kind == 1 ? 30.0f / (1.0f + std::exp(-v / 7.5f))
             : kind == 2 ? 15.0f * v / std::sqrt(v * v + 225.0f)
                         : v;
  }
  Dev<T> dz(z);
  Dev<float> dl(N);
  modded_softcap<T>(dl.p, dz.p, N, kind, dim, 0);
  report("softcap kind " + S(kind) + " " + tname<T>() + " N=" + S(N) + " dim=" + S(dim), rel_err(dl.get(), ref), kTolF32);
}

template <typename T>
static void check_all() {
  for (int d : {20, 256, 768, 1000}) {
    check_embed_norm<T>(1, d, 50);
    check_embed_norm<T>(7, d, 50);
  }
  for (int d : {48, 768, 1100})
    for (int skip = 0; skip < 2; skip++)
      for (int norm_h = 0; norm_h < 2; norm_h++) check_mix<T>(d == 768 ? 1 : 5, d, skip, norm_h);
  for (int d : {40, 768})
    for (int m = 0; m < 8; m++) check_residual<T>(d == 768 ? 1 : 6, d, m & 1, m & 2, m & 4);
  // each D with both pos0, one and several rows, v_norm both ways, ve and not
  const int pn[4][2] = {{0, 6}, {37, 1}, {0, 1}, {37, 5}};
  for (int D : {16, 64, 128, 256})
    for (int i = 0; i < 4; i++) check_qkv_prepare<T>(pn[i][1], D == 256 ? 2 : 3, D, pn[i][0], i & 1, i & 2);
  for (int D : {16, 64, 128, 256}) {
    const int H = D >= 128 ? 2 : 3;
    check_attention<T>("causal", 37, 0, H, D, 0.0f, 4, 0);
    check_attention<T>("documents", 40, 0, H, D, 0.1f, 4, 0);
    check_attention<T>("window", 40, 0, H, D, 0.0f, 4, 2);
    check_attention<T>("window+documents", 42, 0, H, D, 0.1f, 4, 3);
    check_attention<T>("chunk after cache", 8, 30, H, D, 0.1f, 4, 3);
    check_attention<T>("decode causal", 1, 45, H, D, 0.0f, 4, 0);
    check_attention<T>("decode window+documents", 1, 45, H, D, 0.1f, 4, 2);
    check_attention<T>("3 rows after cache (few-query kernel)", 3, 45, H, D, 0.1f, 4, 2);
    check_attention_gaps<T>(6, 10, H, D);
  }
  for (int64_t N : {1, 1000, 123457}) check_relu_square<T>(N);
  for (int kind = 0; kind < 4; kind++) {
    check_softcap<T>(1000, kind, 768);
    check_softcap<T>(70001, kind, 64);
  }
}

int main(int argc, char** argv) {
  uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  for (int i = 1; i + 1 < argc; i++)
    if (std::strcmp(argv[i], "--seed") == 0) seed = std::strtoull(argv[i + 1], nullptr, 10);
  if (!start_checks(seed)) return 0;
  try {
    check_all<float>();
    check_all<bf16>();
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    g_fail++;
  }
  std::printf("\nSUMMARY check_modded_ops: %d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
