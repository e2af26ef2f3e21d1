// Checks the GPU attention kernels (cuda/attention.cuh) against a double-precision CPU reference of
// mypt::cpu::attention_forward / attention_backward (binding/cpu/ops.h; when built with
// -DMYPT_WITH_CPU_OPS the real CPU op is checked against the same reference too), then times the bf16
// path at the ANCHORS.md shapes.
//
//   check_attention            all checks, then the timings
//   check_attention --quick    small shapes only, no timings (for compute-sanitizer)
//   check_attention --no-bench all checks, no timings
//
// Each case draws fresh random inputs (the seed is printed), poisons every output with NaN before the
// launch, and reports ||gpu - ref|| / ||ref|| for out, lse, dq, dk, dv. Pass: fp32 path < 1e-4 (far under
// 1e-3), bf16 path < 1e-2, no NaN anywhere. Exit status 1 when any case fails.
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

// ---- double-precision reference (the math of cpu_ops.h) ----
static void ref_forward(std::vector<double>& out, std::vector<double>& lse, const std::vector<float>& qkv, int B,
                        int T, int C, int H, double scale, float p, uint64_t seed, uint64_t offset) {
  const int D = C / H;
  out.assign((size_t)B * T * C, 0.0);
  lse.assign((size_t)B * H * T, 0.0);
  std::vector<double> s(T);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < T; ++i) {
        const float* q = &qkv[((size_t)b * T + i) * 3 * C + h * D];
        double mx = -INFINITY;
        for (int j = 0; j <= i; ++j) {
          const float* k = &qkv[((size_t)b * T + j) * 3 * C + C + h * D];
          double acc = 0;
          for (int d = 0; d < D; ++d) acc += (double)q[d] * k[d];
          s[j] = acc * scale;
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (int j = 0; j <= i; ++j) sum += std::exp(s[j] - mx);
        lse[((size_t)b * H + h) * T + i] = mx + std::log(sum);
        double* o = &out[((size_t)b * T + i) * C + h * D];
        for (int j = 0; j <= i; ++j) {
          double pr = std::exp(s[j] - mx) / sum;
          if (p > 0.f)
            pr = dropout_keep(seed, offset + (((uint64_t)b * H + h) * T + i) * T + j, p) ? pr / (1.0 - p) : 0.0;
          const float* v = &qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * D];
          for (int d = 0; d < D; ++d) o[d] += pr * v[d];
        }
      }
}

static void ref_backward(std::vector<double>& dqkv, const std::vector<float>& dout, const std::vector<float>& qkv,
                         int B, int T, int C, int H, double scale, float p, uint64_t seed, uint64_t offset) {
  const int D = C / H;
  dqkv.assign((size_t)B * T * 3 * C, 0.0);
  std::vector<double> P(T), dP(T), z(T);
  auto row = [&](int b, int t) { return &qkv[((size_t)b * T + t) * 3 * C]; };
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < T; ++i) {
        const float* q = row(b, i) + h * D;
        const float* go = &dout[((size_t)b * T + i) * C + h * D];
        double mx = -INFINITY;
        for (int j = 0; j <= i; ++j) {
          const float* k = row(b, j) + C + h * D;
          double acc = 0;
          for (int d = 0; d < D; ++d) acc += (double)q[d] * k[d];
          P[j] = acc * scale;
          mx = std::max(mx, P[j]);
        }
        double sum = 0;
        for (int j = 0; j <= i; ++j) sum += (P[j] = std::exp(P[j] - mx));
        double Dsum = 0;  // sum_j dP_j * P_j  (= dout_i . out_i)
        for (int j = 0; j <= i; ++j) {
          P[j] /= sum;
          z[j] = p > 0.f ? (dropout_keep(seed, offset + (((uint64_t)b * H + h) * T + i) * T + j, p) ? 1.0 / (1.0 - p) : 0.0)
                         : 1.0;
          const float* v = row(b, j) + 2 * C + h * D;
          double acc = 0;
          for (int d = 0; d < D; ++d) acc += (double)go[d] * v[d];
          dP[j] = acc * z[j];
          Dsum += dP[j] * P[j];
          double* dv = &dqkv[((size_t)b * T + j) * 3 * C + 2 * C + h * D];
          for (int d = 0; d < D; ++d) dv[d] += P[j] * z[j] * go[d];
        }
        double* dq = &dqkv[((size_t)b * T + i) * 3 * C + h * D];
        for (int j = 0; j <= i; ++j) {
          const double ds = P[j] * (dP[j] - Dsum) * scale;
          const float* k = row(b, j) + C + h * D;
          double* dk = &dqkv[((size_t)b * T + j) * 3 * C + C + h * D];
          for (int d = 0; d < D; ++d) {
            dq[d] += ds * k[d];
            dk[d] += ds * q[d];
          }
        }
      }
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
  double scale_mul;  // scale = scale_mul / sqrt(D)
};

static int g_fail = 0;

static void report(const char* path, const Case& c, const char* what, Err e, double tol) {
  const bool ok = !e.nan && e.rel < tol;
  if (!ok) ++g_fail;
  std::printf("  %-4s %-5s rel %.3e %s%s\n", path, what, e.rel, e.nan ? "NaN " : "", ok ? "ok" : "FAIL");
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
  std::printf("case B=%d T=%d H=%d D=%d p=%.2f scale=%.4f\n", B, T, H, D, c.p, scale);

  // fp32 path: the reference sees the same fp32 inputs
  {
    std::vector<double> rout, rlse, rd;
    ref_forward(rout, rlse, qkv, B, T, C, H, scale, c.p, seed, offset);
    ref_backward(rd, dout, qkv, B, T, C, H, scale, c.p, seed, offset);
#ifdef MYPT_WITH_CPU_OPS
    {  // the CPU op against the same reference
      std::vector<float> cout_(nout), clse(nlse), cd(nqkv);
      mypt::cpu::attention_forward(cout_.data(), clse.data(), qkv.data(), B, T, C, H, (float)scale, c.p, seed, offset);
      mypt::cpu::attention_backward(cd.data(), dout.data(), qkv.data(), cout_.data(), clse.data(), B, T, C, H,
                                    (float)scale, c.p, seed, offset);
      report("cpu", c, "out", rel_err(nout, [&](size_t i, double* g, double* r) { *g = cout_[i]; *r = rout[i]; return true; }), 1e-4);
      report("cpu", c, "lse", rel_err(nlse, [&](size_t i, double* g, double* r) { *g = clse[i]; *r = rlse[i]; return true; }), 1e-4);
      report("cpu", c, "dqkv", rel_err(nqkv, [&](size_t i, double* g, double* r) { *g = cd[i]; *r = rd[i]; return true; }), 1e-4);
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
    report("f32", c, "out", rel_err(nout, [&](size_t i, double* g, double* r) { *g = gout[i]; *r = rout[i]; return true; }), 1e-4);
    report("f32", c, "lse", rel_err(nlse, [&](size_t i, double* g, double* r) { *g = glse[i]; *r = rlse[i]; return true; }), 1e-4);
    for (int part = 0; part < 3; ++part)
      report("f32", c, part == 0 ? "dq" : part == 1 ? "dk" : "dv",
             rel_err(nqkv, [&](size_t i, double* g, double* r) {
               *g = gd[i]; *r = rd[i];
               return (int)((i % (3 * C)) / C) == part;
             }), 1e-4);
    cudaFree(d_qkv); cudaFree(d_out); cudaFree(d_lse); cudaFree(d_dout); cudaFree(d_dqkv); cudaFree(d_scr);
  }

  // bf16 path: inputs rounded to bf16; the reference sees the rounded values
  {
    std::vector<bf16> hq(nqkv), hd(nout);
    std::vector<float> qr(nqkv), dr(nout);
    for (size_t i = 0; i < nqkv; ++i) { hq[i] = __float2bfloat16(qkv[i]); qr[i] = bf(hq[i]); }
    for (size_t i = 0; i < nout; ++i) { hd[i] = __float2bfloat16(dout[i]); dr[i] = bf(hd[i]); }
    std::vector<double> rout, rlse, rd;
    ref_forward(rout, rlse, qr, B, T, C, H, scale, c.p, seed, offset);
    ref_backward(rd, dr, qr, B, T, C, H, scale, c.p, seed, offset);
    bf16 *d_qkv = dalloc<bf16>(nqkv), *d_out = dalloc<bf16>(nout), *d_dout = dalloc<bf16>(nout),
         *d_dqkv = dalloc<bf16>(nqkv);
    float* d_lse = dalloc<float>(nlse);
    float* d_scr = dalloc<float>(mypt::cuda::attention_backward_scratch_bytes(B, T, C, H) / 4);
    CK(cudaMemcpy(d_qkv, hq.data(), nqkv * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_dout, hd.data(), nout * 2, cudaMemcpyHostToDevice));
    mypt::cuda::attention_forward_bf16(d_out, d_lse, d_qkv, B, T, C, H, (float)scale, c.p, seed, offset, 0);
    mypt::cuda::attention_backward_bf16(d_dqkv, d_dout, d_qkv, d_out, d_lse, B, T, C, H, (float)scale, c.p, seed,
                                        offset, d_scr, 0);
    CK(cudaDeviceSynchronize());
    std::vector<bf16> gout(nout), gd(nqkv);
    std::vector<float> glse(nlse);
    CK(cudaMemcpy(gout.data(), d_out, nout * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(glse.data(), d_lse, nlse * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(gd.data(), d_dqkv, nqkv * 2, cudaMemcpyDeviceToHost));
    report("bf16", c, "out", rel_err(nout, [&](size_t i, double* g, double* r) { *g = bf(gout[i]); *r = rout[i]; return true; }), 1e-2);
    report("bf16", c, "lse", rel_err(nlse, [&](size_t i, double* g, double* r) { *g = glse[i]; *r = rlse[i]; return true; }), 1e-2);
    for (int part = 0; part < 3; ++part)
      report("bf16", c, part == 0 ? "dq" : part == 1 ? "dk" : "dv",
             rel_err(nqkv, [&](size_t i, double* g, double* r) {
               *g = bf(gd[i]); *r = rd[i];
               return (int)((i % (3 * C)) / C) == part;
             }), 1e-2);
    cudaFree(d_qkv); cudaFree(d_out); cudaFree(d_lse); cudaFree(d_dout); cudaFree(d_dqkv); cudaFree(d_scr);
  }
}

// Finite-difference check of the reference backward against the reference forward (no GPU needed):
// L = sum(out * dout); dL/dqkv at random entries by central differences.
static int ref_selftest() {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  int bad = 0;
  for (float p : {0.f, 0.2f}) {
    const int B = 2, T = 9, H = 2, D = 4, C = H * D;
    const double scale = 0.7;
    std::vector<float> qkv((size_t)B * T * 3 * C), dout((size_t)B * T * C);
    for (auto& x : qkv) x = nd(rng);
    for (auto& x : dout) x = nd(rng);
    std::vector<double> out, lse, d;
    ref_backward(d, dout, qkv, B, T, C, H, scale, p, 11, 5);
    auto loss = [&] {
      ref_forward(out, lse, qkv, B, T, C, H, scale, p, 11, 5);
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
    std::printf("reference self-test p=%.1f: max |fd - grad| / (1 + |grad|) = %.2e %s\n", p, maxerr, maxerr < 1e-3 ? "ok" : "FAIL");
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

static void bench(int B, int H, int T, int D, std::mt19937_64& rng, int nfv, int nbv) {
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
  auto fwd = [&] { mypt::cuda::attention_forward_bf16(d_out, d_lse, d_qkv, B, T, C, H, scale, 0.f, 1, 0, 0); };
  auto bwd = [&] {
    mypt::cuda::attention_backward_bf16(d_dqkv, d_dout, d_qkv, d_out, d_lse, B, T, C, H, scale, 0.f, 1, 0, d_scr, 0);
  };
  const double fl = 4.0 * B * H * (double)T * T * D / 2;  // causal forward FLOPs (anchor_bench.py's count)
  float best_f = 1e9, best_b = 1e9;
  int bf_v = 0, bb_v = 0;
  for (int v = 0; v < nfv; ++v) {
    mypt::cuda::detail::attention_tune(v, 0);
    const float ms = median_ms(fwd);
    std::printf("  B%d H%d T%d D%d fwd variant %d: %.4f ms %.1f TFLOP/s\n", B, H, T, D, v, ms, fl / ms / 1e9);
    if (ms < best_f) best_f = ms, bf_v = v;
  }
  for (int v = 0; v < nbv; ++v) {
    mypt::cuda::detail::attention_tune(bf_v, v);
    fwd();
    const float ms = median_ms(bwd);
    std::printf("  B%d H%d T%d D%d bwd variant %d: %.4f ms %.1f TFLOP/s\n", B, H, T, D, v, ms, 2.5 * fl / ms / 1e9);
    if (ms < best_b) best_b = ms, bb_v = v;
  }
  mypt::cuda::detail::attention_tune(bf_v, bb_v);
  const float f = median_ms(fwd);
  const float fb = median_ms([&] { fwd(); bwd(); });
  std::printf("BENCH B%d H%d T%d D%d  fwd %.4f ms (%.1f TFLOP/s)  fwd+bwd %.4f ms (%.1f TFLOP/s)  [variants f%d b%d]\n", B,
              H, T, D, f, fl / f / 1e9, fb, 3.5 * fl / fb / 1e9, bf_v, bb_v);
  mypt::cuda::detail::attention_tune(0, 0);
  cudaFree(d_qkv); cudaFree(d_out); cudaFree(d_lse); cudaFree(d_dout); cudaFree(d_dqkv); cudaFree(d_scr);
}

int main(int argc, char** argv) {
  bool quick = false, no_bench = false;
  int nfv = 3, nbv = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--no-bench")) no_bench = true;
    if (!std::strcmp(argv[i], "--defaults-only")) nfv = nbv = 1;
  }
  if (argc > 1 && !std::strcmp(argv[1], "--ref-selftest")) return ref_selftest() ? 1 : 0;
  if (argc > 5 && !std::strcmp(argv[1], "--bench")) {  // --bench B H T D [fwd_variants bwd_variants]
    std::mt19937_64 r(1);
    bench(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]), r,
          argc > 6 ? std::atoi(argv[6]) : 1, argc > 7 ? std::atoi(argv[7]) : 1);
    return 0;
  }
  const uint64_t s0 = std::chrono::high_resolution_clock::now().time_since_epoch().count();
  std::mt19937_64 rng(s0);
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device %s (%d SMs), input seed %llu\n", prop.name, prop.multiProcessorCount, (unsigned long long)s0);
  std::vector<Case> cases;
  if (quick) {
    cases = {{1, 17, 2, 32, 0.1f, 1.0}, {1, 70, 1, 64, 0.f, 1.0}, {1, 40, 1, 128, 0.1f, 1.0}};
  } else {
    cases = {{2, 1, 4, 64, 0.f, 1.0},     {1, 17, 3, 32, 0.1f, 1.0},   {2, 64, 2, 128, 0.f, 1.0},
             {3, 100, 2, 64, 0.1f, 1.0},  {1, 256, 4, 32, 0.f, 1.0},   {2, 1000, 2, 64, 0.1f, 1.0},
             {1, 1000, 2, 128, 0.f, 1.0}, {4, 256, 3, 128, 0.1f, 1.0}, {1, 333, 1, 64, 0.f, 2.5},
             {5, 129, 3, 32, 0.f, 0.125}, {1, 1000, 1, 32, 0.1f, 1.0}, {2, 200, 2, 128, 0.f, 3.0}};
  }
  for (const auto& c : cases) check_case(c, rng);
  std::printf("CHECKS %s: %d failure(s) over %zu cases\n", g_fail ? "FAILED" : "passed", g_fail, cases.size());
  if (!quick && !no_bench) {
    bench(16, 12, 1024, 64, rng, nfv, nbv);
    bench(4, 12, 4096, 64, rng, nfv, nbv);
    bench(16, 6, 1024, 128, rng, nfv, nbv);
  }
  return g_fail ? 1 : 0;
}
