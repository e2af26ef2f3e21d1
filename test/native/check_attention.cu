// Checks the GPU attention kernels (cuda/attention.cuh) against a double-precision CPU reference of
// mypt::cpu::attention_forward / attention_backward (binding/cpu/ops.h; when built with
// -DMYPT_WITH_CPU_OPS the real CPU op is checked against the same reference too), then times the bf16
// paths at the ANCHORS.md shapes and the longer / wider ones of issue #15.
//
//   check_attention            all checks, then the timings
//   check_attention --quick    small shapes only, no timings (for compute-sanitizer)
//   check_attention --no-bench all checks, no timings
//   check_attention --bench-only  the timings only
//   check_attention --bench B H T D [fwd_variants bwd_variants]   one timing row
//   --sm90-variants N          check (and time) tile variants 0..N-1 of the Hopper path, not only 0
//   --use-variant F B          the Hopper path's forward / backward variants of the BENCH lines (default:
//                              the library's defaults)
//
// bf16 cases run on every path the device has: "sm90" (the Hopper wgmma/TMA kernels of
// cuda/attention_sm90.cu, on cc 9.x for D = 64, 128) and "mma" (the mma.sync kernels of attention.cu, the
// fallback, forced with detail::attention_sm90_mode(0)); non-causal cases run on sm90 only. Each case
// draws fresh random inputs (the seed is printed), poisons every output (and the scratch) with NaN before
// each launch, and reports ||gpu - ref|| / ||ref|| for out, lse, dq, dk, dv. Pass: fp32 path < 1e-4 (far
// under 1e-3), bf16 paths < 1e-2, no NaN anywhere. Exit status 1 when any case fails. The last lines
// give the worst error of each tensor on each path.
//
// Timings: medians of CUDA-event times; FLOPs counted as anchor_bench.py does: causal forward
// 4*B*H*T*T*D / 2 (the causal half of the two T x T x D products), forward + backward 3.5 times that;
// non-causal twice those.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "attention.cuh"
#include "engine/dropout.h"
#ifdef MYPT_WITH_CPU_OPS
#include "cpu/ops.h"
#endif

namespace mypt {
namespace cuda {
namespace detail {
void attention_tune(int fwd_variant, int bwd_variant);
void attention_sm90_mode(int mode);
bool attention_sm90_active(int D);
}  // namespace detail
namespace sm90 {
void attention_tune(int fwd_variant, int bwd_variant);
}
}  // namespace cuda
}  // namespace mypt

#define CK(x)                                                                                  \
  do {                                                                                         \
    cudaError_t e_ = (x);                                                                      \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, \
                   __LINE__, #x);                                                              \
      std::exit(2);                                                                            \
    }                                                                                          \
  } while (0)

using bf16 = __nv_bfloat16;
using mypt::dropout_keep;

// ---- double-precision reference (the math of cpu_ops.h; causal = false: every key for every query) ----
// Rows are independent in the forward and in the two passes of the backward, so they run on all cores.
template <typename F>
static void parallel_rows(int64_t n, F f) {  // f(row) for row in [0, n)
  const int nt = std::max(1u, std::min(64u, std::thread::hardware_concurrency()));
  if (n < 64 || nt == 1) {
    for (int64_t r = 0; r < n; ++r) f(r);
    return;
  }
  std::vector<std::thread> th;
  for (int t = 0; t < nt; ++t)
    th.emplace_back([&, t] {
      for (int64_t r = t; r < n; r += nt) f(r);
    });
  for (auto& x : th) x.join();
}

static double dotf(const float* a, const float* b, int D) {
  double acc = 0;
  for (int d = 0; d < D; ++d) acc += (double)a[d] * b[d];
  return acc;
}

static void ref_forward(std::vector<double>& out, std::vector<double>& lse, const std::vector<float>& qkv, int B,
                        int T, int C, int H, double scale, float p, uint64_t seed, uint64_t offset, bool causal = true) {
  const int D = C / H;
  out.assign((size_t)B * T * C, 0.0);
  lse.assign((size_t)B * H * T, 0.0);
  parallel_rows((int64_t)B * H * T, [&](int64_t r) {
    const int i = (int)(r % T), h = (int)((r / T) % H), b = (int)(r / ((int64_t)T * H));
    const int jn = causal ? i + 1 : T;
    std::vector<double> s(jn);
    const float* q = &qkv[((size_t)b * T + i) * 3 * C + h * D];
    double mx = -INFINITY;
    for (int j = 0; j < jn; ++j) {
      s[j] = dotf(q, &qkv[((size_t)b * T + j) * 3 * C + C + h * D], D) * scale;
      mx = std::max(mx, s[j]);
    }
    double sum = 0;
    for (int j = 0; j < jn; ++j) sum += std::exp(s[j] - mx);
    lse[((size_t)b * H + h) * T + i] = mx + std::log(sum);
    double* o = &out[((size_t)b * T + i) * C + h * D];
    for (int j = 0; j < jn; ++j) {
      double pr = std::exp(s[j] - mx) / sum;
      if (p > 0.f)
        pr = dropout_keep(seed, offset + (((uint64_t)b * H + h) * T + i) * T + j, p) ? pr / (1.0 - p) : 0.0;
      const float* v = &qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * D];
      for (int d = 0; d < D; ++d) o[d] += pr * v[d];
    }
  });
}

// Pass 1 (per query row i): lse_i, Dsum_i = sum_j dP_ij P_ij (= dout_i . out_i), dq_i.
// Pass 2 (per key row j): dk_j = sum_i dS_ij q_i, dv_j = sum_i P_ij Z_ij dout_i, P and dS recomputed.
static void ref_backward(std::vector<double>& dqkv, const std::vector<float>& dout, const std::vector<float>& qkv,
                         int B, int T, int C, int H, double scale, float p, uint64_t seed, uint64_t offset,
                         bool causal = true) {
  const int D = C / H;
  dqkv.assign((size_t)B * T * 3 * C, 0.0);
  std::vector<double> lse((size_t)B * H * T), dsum((size_t)B * H * T);
  auto row = [&](int b, int t) { return &qkv[((size_t)b * T + t) * 3 * C]; };
  auto zf = [&](int b, int h, int i, int j) {
    return p > 0.f ? (dropout_keep(seed, offset + (((uint64_t)b * H + h) * T + i) * T + j, p) ? 1.0 / (1.0 - p) : 0.0)
                   : 1.0;
  };
  parallel_rows((int64_t)B * H * T, [&](int64_t r) {
    const int i = (int)(r % T), h = (int)((r / T) % H), b = (int)(r / ((int64_t)T * H));
    const int jn = causal ? i + 1 : T;
    std::vector<double> P(jn), dP(jn);
    const float* q = row(b, i) + h * D;
    const float* go = &dout[((size_t)b * T + i) * C + h * D];
    double mx = -INFINITY;
    for (int j = 0; j < jn; ++j) {
      P[j] = dotf(q, row(b, j) + C + h * D, D) * scale;
      mx = std::max(mx, P[j]);
    }
    double sum = 0;
    for (int j = 0; j < jn; ++j) sum += (P[j] = std::exp(P[j] - mx));
    const size_t w = ((size_t)b * H + h) * T + i;
    lse[w] = mx + std::log(sum);
    double Ds = 0;
    for (int j = 0; j < jn; ++j) {
      P[j] /= sum;
      dP[j] = dotf(go, row(b, j) + 2 * C + h * D, D) * zf(b, h, i, j);
      Ds += dP[j] * P[j];
    }
    dsum[w] = Ds;
    double* dq = &dqkv[((size_t)b * T + i) * 3 * C + h * D];
    for (int j = 0; j < jn; ++j) {
      const double ds = P[j] * (dP[j] - Ds) * scale;
      const float* k = row(b, j) + C + h * D;
      for (int d = 0; d < D; ++d) dq[d] += ds * k[d];
    }
  });
  parallel_rows((int64_t)B * H * T, [&](int64_t r) {
    const int j = (int)(r % T), h = (int)((r / T) % H), b = (int)(r / ((int64_t)T * H));
    const float* k = row(b, j) + C + h * D;
    const float* v = row(b, j) + 2 * C + h * D;
    double* dk = &dqkv[((size_t)b * T + j) * 3 * C + C + h * D];
    double* dv = dk + C;
    for (int i = causal ? j : 0; i < T; ++i) {
      const size_t w = ((size_t)b * H + h) * T + i;
      const float* q = row(b, i) + h * D;
      const float* go = &dout[((size_t)b * T + i) * C + h * D];
      const double P = std::exp(dotf(q, k, D) * scale - lse[w]);
      const double z = zf(b, h, i, j);
      const double dP = dotf(go, v, D) * z;
      const double ds = P * (dP - dsum[w]) * scale;
      for (int d = 0; d < D; ++d) {
        dk[d] += ds * q[d];
        dv[d] += P * z * go[d];
      }
    }
  });
}

// ---- helpers ----
struct Err {
  double rel;
  bool nan;
};
template <typename F>
static Err rel_err(size_t n, F get_pair) {  // get_pair(i, &gpu, &ref) -> bool (include)
  double num = 0, den = 0;
  bool nan = false;
  for (size_t i = 0; i < n; ++i) {
    double g, r;
    if (!get_pair(i, &g, &r)) continue;
    if (!std::isfinite(g)) nan = true;
    num += (g - r) * (g - r);
    den += r * r;
  }
  return {den > 0 ? std::sqrt(num / den) : std::sqrt(num), nan};
}

static float bf(bf16 x) { return __bfloat162float(x); }

struct Case {
  int B, T, H, D;
  float p;
  double scale_mul;    // scale = scale_mul / sqrt(D)
  bool causal = true;
  bool f32 = true;     // also check the fp32 kernels (causal only)
};

static int g_fail = 0;
static int g_sm90_variants = 1;  // --sm90-variants N: check tile variants 0..N-1 of the Hopper path
static int g_use_f = -1, g_use_b = -1;  // --use-variant F B: the Hopper variants of the BENCH lines (-1: defaults)
// worst relative error per path (0 f32, 1 mma, 2 sm90) and tensor (out lse dq dk dv)
static double g_worst[3][5];
static const char* kTensor[5] = {"out", "lse", "dq", "dk", "dv"};
static const char* kPath[3] = {"f32", "mma", "sm90"};

static void report(int path, int tensor, Err e, double tol) {
  const bool ok = !e.nan && e.rel < tol;
  if (!ok) ++g_fail;
  g_worst[path][tensor] = std::max(g_worst[path][tensor], e.nan ? INFINITY : e.rel);
  std::printf("  %-4s %-5s rel %.3e %s%s\n", kPath[path], kTensor[tensor], e.rel, e.nan ? "NaN " : "", ok ? "ok" : "FAIL");
}

template <typename T>
static T* dalloc(size_t n) {
  T* p;
  CK(cudaMalloc(&p, n * sizeof(T)));
  CK(cudaMemset(p, 0xff, n * sizeof(T)));  // NaN poison (bf16 and fp32)
  return p;
}

static void check_case(const Case& c, std::mt19937_64& rng) {
  const int B = c.B, T = c.T, H = c.H, D = c.D, C = H * D;
  const double scale = c.scale_mul / std::sqrt((double)D);
  const uint64_t seed = rng(), offset = rng() % 100000;
  std::normal_distribution<float> nd(0.f, 1.f);
  const size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, nlse = (size_t)B * H * T;
  std::vector<float> qkv(nqkv), dout(nout);
  for (auto& x : qkv) x = nd(rng);
  for (auto& x : dout) x = nd(rng);
  std::printf("case B=%d T=%d H=%d D=%d p=%.2f scale=%.4f %s\n", B, T, H, D, c.p, scale, c.causal ? "causal" : "non-causal");

  // fp32 path: the reference sees the same fp32 inputs
  if (c.f32 && c.causal) {
    std::vector<double> rout, rlse, rd;
    ref_forward(rout, rlse, qkv, B, T, C, H, scale, c.p, seed, offset);
    ref_backward(rd, dout, qkv, B, T, C, H, scale, c.p, seed, offset);
#ifdef MYPT_WITH_CPU_OPS
    {  // the CPU op against the same reference
      std::vector<float> cout_(nout), clse(nlse), cd(nqkv);
      mypt::cpu::attention_forward(cout_.data(), clse.data(), qkv.data(), B, T, C, H, (float)scale, c.p, seed, offset);
      mypt::cpu::attention_backward(cd.data(), dout.data(), qkv.data(), cout_.data(), clse.data(), B, T, C, H,
                                    (float)scale, c.p, seed, offset);
      auto cpu_rep = [&](const char* what, Err e) {
        const bool ok = !e.nan && e.rel < 1e-4;
        if (!ok) ++g_fail;
        std::printf("  cpu  %-5s rel %.3e %s%s\n", what, e.rel, e.nan ? "NaN " : "", ok ? "ok" : "FAIL");
      };
      cpu_rep("out", rel_err(nout, [&](size_t i, double* g, double* r) { *g = cout_[i]; *r = rout[i]; return true; }));
      cpu_rep("lse", rel_err(nlse, [&](size_t i, double* g, double* r) { *g = clse[i]; *r = rlse[i]; return true; }));
      cpu_rep("dqkv", rel_err(nqkv, [&](size_t i, double* g, double* r) { *g = cd[i]; *r = rd[i]; return true; }));
    }
#endif
    float *d_qkv = dalloc<float>(nqkv), *d_out = dalloc<float>(nout), *d_lse = dalloc<float>(nlse),
          *d_dout = dalloc<float>(nout), *d_dqkv = dalloc<float>(nqkv);
    float* d_scr = dalloc<float>(mypt::cuda::attention_backward_scratch_bytes(B, T, C, H) / 4);
    CK(cudaMemcpy(d_qkv, qkv.data(), nqkv * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_dout, dout.data(), nout * 4, cudaMemcpyHostToDevice));
    mypt::cuda::attention_forward_f32(d_out, d_lse, d_qkv, B, T, C, H, (float)scale, c.p, seed, offset, 0);
    mypt::cuda::attention_backward_f32(d_dqkv, d_dout, d_qkv, d_out, d_lse, B, T, C, H, (float)scale, c.p, seed,
                                       offset, d_scr, 0);
    CK(cudaDeviceSynchronize());
    std::vector<float> gout(nout), glse(nlse), gd(nqkv);
    CK(cudaMemcpy(gout.data(), d_out, nout * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(glse.data(), d_lse, nlse * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(gd.data(), d_dqkv, nqkv * 4, cudaMemcpyDeviceToHost));
    report(0, 0, rel_err(nout, [&](size_t i, double* g, double* r) { *g = gout[i]; *r = rout[i]; return true; }), 1e-4);
    report(0, 1, rel_err(nlse, [&](size_t i, double* g, double* r) { *g = glse[i]; *r = rlse[i]; return true; }), 1e-4);
    for (int part = 0; part < 3; ++part)
      report(0, 2 + part,
             rel_err(nqkv, [&](size_t i, double* g, double* r) {
               *g = gd[i]; *r = rd[i];
               return (int)((i % (3 * C)) / C) == part;
             }), 1e-4);
    cudaFree(d_qkv); cudaFree(d_out); cudaFree(d_lse); cudaFree(d_dout); cudaFree(d_dqkv); cudaFree(d_scr);
  }

  // bf16 paths: inputs rounded to bf16; the reference sees the rounded values
  {
    std::vector<bf16> hq(nqkv), hd(nout);
    std::vector<float> qr(nqkv), dr(nout);
    for (size_t i = 0; i < nqkv; ++i) { hq[i] = __float2bfloat16(qkv[i]); qr[i] = bf(hq[i]); }
    for (size_t i = 0; i < nout; ++i) { hd[i] = __float2bfloat16(dout[i]); dr[i] = bf(hd[i]); }
    std::vector<double> rout, rlse, rd;
    ref_forward(rout, rlse, qr, B, T, C, H, scale, c.p, seed, offset, c.causal);
    ref_backward(rd, dr, qr, B, T, C, H, scale, c.p, seed, offset, c.causal);
    bf16 *d_qkv = dalloc<bf16>(nqkv), *d_out = dalloc<bf16>(nout), *d_dout = dalloc<bf16>(nout),
         *d_dqkv = dalloc<bf16>(nqkv);
    float* d_lse = dalloc<float>(nlse);
    const size_t nscr = mypt::cuda::attention_backward_scratch_bytes(B, T, C, H) / 4;
    float* d_scr = dalloc<float>(nscr);
    CK(cudaMemcpy(d_qkv, hq.data(), nqkv * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_dout, hd.data(), nout * 2, cudaMemcpyHostToDevice));
    // sm90 (each tile variant, g_sm90_variants of them), then the mma.sync fallback
    for (int run = 0; run <= g_sm90_variants; ++run) {
      const int path = run < g_sm90_variants ? 2 : 1;
      mypt::cuda::detail::attention_sm90_mode(path == 2 ? 1 : 0);
      if (path == 2 && !mypt::cuda::detail::attention_sm90_active(D)) continue;
      if (path == 1 && !c.causal) continue;
      if (path == 2) {  // one run: the defaults; several: variants 0..N-1
        const int v = g_sm90_variants > 1 ? run : -1;
        mypt::cuda::sm90::attention_tune(v, v);
        if (g_sm90_variants > 1) std::printf("  sm90 variant %d\n", run);
      }
      CK(cudaMemset(d_out, 0xff, nout * 2));
      CK(cudaMemset(d_dqkv, 0xff, nqkv * 2));
      CK(cudaMemset(d_lse, 0xff, nlse * 4));
      CK(cudaMemset(d_scr, 0xff, nscr * 4));
      mypt::cuda::attention_forward_bf16_masked(d_out, d_lse, d_qkv, B, T, C, H, (float)scale, c.p, seed, offset,
                                                c.causal, 0);
      mypt::cuda::attention_backward_bf16_masked(d_dqkv, d_dout, d_qkv, d_out, d_lse, B, T, C, H, (float)scale, c.p,
                                                 seed, offset, c.causal, d_scr, 0);
      CK(cudaDeviceSynchronize());
      std::vector<bf16> gout(nout), gd(nqkv);
      std::vector<float> glse(nlse);
      CK(cudaMemcpy(gout.data(), d_out, nout * 2, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(glse.data(), d_lse, nlse * 4, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(gd.data(), d_dqkv, nqkv * 2, cudaMemcpyDeviceToHost));
      report(path, 0, rel_err(nout, [&](size_t i, double* g, double* r) { *g = bf(gout[i]); *r = rout[i]; return true; }), 1e-2);
      report(path, 1, rel_err(nlse, [&](size_t i, double* g, double* r) { *g = glse[i]; *r = rlse[i]; return true; }), 1e-2);
      for (int part = 0; part < 3; ++part)
        report(path, 2 + part,
               rel_err(nqkv, [&](size_t i, double* g, double* r) {
                 *g = bf(gd[i]); *r = rd[i];
                 return (int)((i % (3 * C)) / C) == part;
               }), 1e-2);
    }
    mypt::cuda::detail::attention_sm90_mode(-1);
    mypt::cuda::sm90::attention_tune(-1, -1);
    cudaFree(d_qkv); cudaFree(d_out); cudaFree(d_lse); cudaFree(d_dout); cudaFree(d_dqkv); cudaFree(d_scr);
  }
}

// Finite-difference check of the reference backward against the reference forward (no GPU needed):
// L = sum(out * dout); dL/dqkv at random entries by central differences.
static int ref_selftest() {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  int bad = 0;
  for (int causal = 1; causal >= 0; --causal)
    for (float p : {0.f, 0.2f}) {
      const int B = 2, T = 9, H = 2, D = 4, C = H * D;
      const double scale = 0.7;
      std::vector<float> qkv((size_t)B * T * 3 * C), dout((size_t)B * T * C);
      for (auto& x : qkv) x = nd(rng);
      for (auto& x : dout) x = nd(rng);
      std::vector<double> out, lse, d;
      ref_backward(d, dout, qkv, B, T, C, H, scale, p, 11, 5, causal);
      auto loss = [&] {
        ref_forward(out, lse, qkv, B, T, C, H, scale, p, 11, 5, causal);
        double L = 0;
        for (size_t i = 0; i < out.size(); ++i) L += out[i] * dout[i];
        return L;
      };
      double maxerr = 0;
      for (size_t i = 0; i < qkv.size(); ++i) {
        const float x = qkv[i], eps = 1e-2f;
        qkv[i] = x + eps; const double lp = loss();
        qkv[i] = x - eps; const double lm = loss();
        qkv[i] = x;
        const double fd = (lp - lm) / (2.0 * eps);
        maxerr = std::max(maxerr, std::fabs(fd - d[i]) / (1.0 + std::fabs(d[i])));
      }
      std::printf("reference self-test %s p=%.1f: max |fd - grad| / (1 + |grad|) = %.2e %s\n",
                  causal ? "causal" : "non-causal", p, maxerr, maxerr < 1e-3 ? "ok" : "FAIL");
      if (maxerr >= 1e-3) ++bad;
    }
  return bad;
}

// ---- timing ----
template <typename F>
static float median_ms(F fn, int reps = 40) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (int i = 0; i < 5; ++i) fn();
  CK(cudaDeviceSynchronize());
  std::vector<float> ts;
  for (int i = 0; i < reps; ++i) {
    CK(cudaEventRecord(a));
    fn();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms;
    CK(cudaEventElapsedTime(&ms, a, b));
    ts.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

// One timing row: for each path (sm90 where active, then mma), the forward and forward + backward
// medians. Variants: nfv / nbv tile variants of each path are timed first (the BENCH line uses the
// defaults, variant 0). Machine-readable lines: "BENCH path B H T D causal fwd_ms fwdbwd_ms".
static void bench(int B, int H, int T, int D, bool causal, std::mt19937_64& rng, int nfv, int nbv, int mfv = 1,
                  int mbv = 1) {
  const int C = H * D;
  const size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, nlse = (size_t)B * H * T;
  std::vector<bf16> hq(nqkv), hd(nout);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& x : hq) x = __float2bfloat16(nd(rng));
  for (auto& x : hd) x = __float2bfloat16(nd(rng));
  bf16 *d_qkv = dalloc<bf16>(nqkv), *d_out = dalloc<bf16>(nout), *d_dout = dalloc<bf16>(nout),
       *d_dqkv = dalloc<bf16>(nqkv);
  float* d_lse = dalloc<float>(nlse);
  float* d_scr = dalloc<float>(mypt::cuda::attention_backward_scratch_bytes(B, T, C, H) / 4);
  CK(cudaMemcpy(d_qkv, hq.data(), nqkv * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(d_dout, hd.data(), nout * 2, cudaMemcpyHostToDevice));
  const float scale = 1.f / std::sqrt((float)D);
  auto fwd = [&] {
    mypt::cuda::attention_forward_bf16_masked(d_out, d_lse, d_qkv, B, T, C, H, scale, 0.f, 1, 0, causal, 0);
  };
  auto bwd = [&] {
    mypt::cuda::attention_backward_bf16_masked(d_dqkv, d_dout, d_qkv, d_out, d_lse, B, T, C, H, scale, 0.f, 1, 0,
                                               causal, d_scr, 0);
  };
  const double fl = 4.0 * B * H * (double)T * T * D / (causal ? 2 : 1);  // forward FLOPs (anchor_bench.py's count)
  for (int path = 2; path >= 1; --path) {
    mypt::cuda::detail::attention_sm90_mode(path == 2 ? 1 : 0);
    if (path == 2 && !mypt::cuda::detail::attention_sm90_active(D)) continue;
    if (path == 1 && !causal) continue;
    auto tune = [&](int f, int b) {
      if (path == 2) mypt::cuda::sm90::attention_tune(f, b);
      else mypt::cuda::detail::attention_tune(f, b);
    };
    const int nf = path == 2 ? nfv : mfv, nb = path == 2 ? nbv : mbv;
    for (int v = 0; v < nf && nf > 1; ++v) {
      tune(v, 0);
      const float ms = median_ms(fwd);
      std::printf("  %s B%d H%d T%d D%d fwd variant %d: %.4f ms %.1f TFLOP/s\n", kPath[path], B, H, T, D, v, ms, fl / ms / 1e9);
    }
    for (int v = 0; v < nb && nb > 1; ++v) {
      tune(0, v);
      fwd();
      const float ms = median_ms(bwd);
      std::printf("  %s B%d H%d T%d D%d bwd variant %d: %.4f ms %.1f TFLOP/s\n", kPath[path], B, H, T, D, v, ms, 2.5 * fl / ms / 1e9);
    }
    if (path == 2) tune(g_use_f, g_use_b);
    else tune(0, 0);
    const float f = median_ms(fwd);
    const float fb = median_ms([&] { fwd(); bwd(); });
    std::printf("BENCH %s %d %d %d %d %d %.4f %.4f   # fwd %.1f TFLOP/s, fwd+bwd %.1f TFLOP/s\n", kPath[path], B, H,
                T, D, causal ? 1 : 0, f, fb, fl / f / 1e9, 3.5 * fl / fb / 1e9);
    std::fflush(stdout);
  }
  mypt::cuda::detail::attention_sm90_mode(-1);
  cudaFree(d_qkv); cudaFree(d_out); cudaFree(d_lse); cudaFree(d_dout); cudaFree(d_dqkv); cudaFree(d_scr);
}

int main(int argc, char** argv) {
  bool quick = false, no_bench = false, bench_only = false;
  int nfv = 1, nbv = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--sm90-variants") && i + 1 < argc) g_sm90_variants = nfv = nbv = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--use-variant") && i + 2 < argc) g_use_f = std::atoi(argv[i + 1]), g_use_b = std::atoi(argv[i + 2]);
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--no-bench")) no_bench = true;
    if (!std::strcmp(argv[i], "--bench-only")) bench_only = true;
    if (!std::strcmp(argv[i], "--defaults-only")) nfv = nbv = 1;
  }
  if (argc > 1 && !std::strcmp(argv[1], "--ref-selftest")) return ref_selftest() ? 1 : 0;
  if (argc > 5 && !std::strcmp(argv[1], "--bench")) {  // --bench B H T D [fwd_variants bwd_variants]
    std::mt19937_64 r(1);
    bench(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]), true, r,
          argc > 6 ? std::atoi(argv[6]) : 1, argc > 7 ? std::atoi(argv[7]) : 1);
    return 0;
  }
  const uint64_t s0 = std::chrono::high_resolution_clock::now().time_since_epoch().count();
  std::mt19937_64 rng(s0);
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device %s (%d SMs, cc %d.%d), input seed %llu, Hopper path %s\n", prop.name, prop.multiProcessorCount,
              prop.major, prop.minor, (unsigned long long)s0,
              mypt::cuda::detail::attention_sm90_active(64) ? "active" : "not available");
  std::vector<Case> cases;
  if (quick) {
    cases = {{1, 17, 2, 32, 0.1f, 1.0},          {1, 70, 1, 64, 0.f, 1.0},           {1, 40, 1, 128, 0.1f, 1.0},
             {2, 130, 2, 64, 0.1f, 1.0},         {1, 200, 1, 128, 0.f, 1.0, false},  {1, 77, 2, 64, 0.1f, 1.0, false}};
  } else if (!bench_only) {
    cases = {{2, 1, 4, 64, 0.f, 1.0},     {1, 17, 3, 32, 0.1f, 1.0},   {2, 64, 2, 128, 0.f, 1.0},
             {3, 100, 2, 64, 0.1f, 1.0},  {1, 256, 4, 32, 0.f, 1.0},   {2, 1000, 2, 64, 0.1f, 1.0},
             {1, 1000, 2, 128, 0.f, 1.0}, {4, 256, 3, 128, 0.1f, 1.0}, {1, 333, 1, 64, 0.f, 2.5},
             {5, 129, 3, 32, 0.f, 0.125}, {1, 1000, 1, 32, 0.1f, 1.0}, {2, 200, 2, 128, 0.f, 3.0},
             // issue #15: odd T, T below a tile, T not a multiple of 64/128, B = 1, non-causal, the
             // largest T timed (bf16 paths only there)
             {1, 63, 2, 128, 0.f, 1.0},   {3, 191, 2, 64, 0.1f, 1.0},  {1, 129, 1, 128, 0.1f, 1.5},
             {2, 300, 2, 64, 0.1f, 1.0, false},   {1, 1000, 2, 128, 0.f, 1.0, false},
             {1, 77, 3, 64, 0.f, 2.0, false},     {3, 129, 1, 128, 0.1f, 1.0, false},
             {1, 8192, 1, 64, 0.f, 1.0, true, false},  {1, 8192, 1, 128, 0.1f, 1.0, true, false}};
    // and a few random shapes each run
    std::uniform_int_distribution<int> uT(1, 700), uB(1, 3), uH(1, 3), u2(0, 1);
    for (int k = 0; k < 4; ++k)
      cases.push_back({uB(rng), uT(rng), uH(rng), u2(rng) ? 64 : 128, u2(rng) ? 0.1f : 0.f, 1.0, (bool)u2(rng), false});
  }
  for (const auto& c : cases) check_case(c, rng);
  if (!cases.empty()) {
    std::printf("CHECKS %s: %d failure(s) over %zu cases\n", g_fail ? "FAILED" : "passed", g_fail, cases.size());
    std::printf("WORST relative error per path:");
    for (int t = 0; t < 5; ++t) std::printf(" %9s", kTensor[t]);
    std::printf("\n");
    for (int pth = 0; pth < 3; ++pth) {
      std::printf("WORST %-4s                        ", kPath[pth]);
      for (int t = 0; t < 5; ++t) std::printf(" %9.3e", g_worst[pth][t]);
      std::printf("\n");
    }
  }
  if (!quick && !no_bench) {
    const int shapes[][4] = {{16, 12, 1024, 64}, {4, 12, 4096, 64}, {16, 6, 1024, 128}, {8, 12, 2048, 64},
                             {4, 12, 8192, 64},  {16, 16, 1024, 128}, {8, 16, 2048, 128}};
    for (const auto& s : shapes) bench(s[0], s[1], s[2], s[3], true, rng, nfv, nbv);
    bench(16, 12, 1024, 64, false, rng, 1, 1);
  }
  return g_fail ? 1 : 0;
}
