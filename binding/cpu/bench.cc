// cpu::bench_op: times one CPU op (cpu/ops.h) at one shape, on fresh random inputs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "cpu/backend.h"
#include "cpu/ops.h"

namespace mypt {

namespace {

std::vector<float> randn(size_t n, std::mt19937_64& g, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

template <class F>
void time_repeats(OpBenchResult& r, const OpBenchRequest& q, F&& once) {
  for (int i = 0; i < q.warmup; i++) once();
  for (int i = 0; i < q.repeats; i++) {
    auto t0 = std::chrono::steady_clock::now();
    once();
    auto t1 = std::chrono::steady_clock::now();
    r.ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
}

}  // namespace

OpBenchResult cpu::bench_op(const OpBenchRequest& q) {
  if (q.repeats <= 0 || q.warmup < 0) throw std::invalid_argument("bench: repeats must be positive");
  std::mt19937_64 g(q.seed);
  OpBenchResult r;
  auto bytes_of = [](std::initializer_list<size_t> ns) {
    size_t s = 0;
    for (size_t n : ns) s += n * sizeof(float);
    return (int64_t)s;
  };
  if (q.op == "matmul") {
    const int64_t M = q.M, K = q.K, N = q.N;
    if (M <= 0 || K <= 0 || N <= 0) throw std::invalid_argument("bench matmul: M, K, N must be positive");
    auto a = randn(M * K, g), w = randn(N * K, g, 0.02f);
    std::vector<float> out(M * N);
    r.peak_bytes = bytes_of({a.size(), w.size(), out.size()});
    r.flops = 2.0 * M * K * N;
    time_repeats(r, q, [&] { cpu::matmul_forward(out.data(), a.data(), w.data(), nullptr, M, (int)K, (int)N); });
  } else if (q.op == "attention_fwd" || q.op == "attention_fwd_bwd") {
    const int B = (int)q.B, H = (int)q.H, T = (int)q.T, C = (int)(q.H * q.D);
    if (B <= 0 || H <= 0 || T <= 0 || q.D <= 0) throw std::invalid_argument("bench attention: B, H, T, D must be positive");
    auto qkv = randn((size_t)B * T * 3 * C, g), dout = randn((size_t)B * T * C, g);
    std::vector<float> out((size_t)B * T * C), lse((size_t)B * H * T), dqkv(qkv.size());
    const float scale = 1.0f / std::sqrt((float)q.D);
    const bool bwd = q.op == "attention_fwd_bwd";
    r.peak_bytes = bytes_of({qkv.size(), out.size(), lse.size(), bwd ? dqkv.size() + dout.size() : 0});
    r.flops = 2.0 * B * H * (double)T * T * q.D * (bwd ? 3.5 : 1.0);
    time_repeats(r, q, [&] {
      cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, H, scale, 0.0f, 0, 0);
      if (bwd)
        cpu::attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, T, C, H, scale,
                                0.0f, 0, 0);
    });
  } else if (q.op == "adamw") {
    const int64_t N = q.N;
    if (N <= 0) throw std::invalid_argument("bench adamw: N must be positive");
    auto p = randn(N, g), gr = randn(N, g, 1e-3f), m = randn(N, g, 1e-4f), v = randn(N, g, 1e-4f);
    for (auto& x : v) x = x * x;
    r.peak_bytes = bytes_of({p.size(), gr.size(), m.size(), v.size()});
    r.bytes = 28.0 * N;
    int64_t t = 0;
    time_repeats(r, q, [&] {
      double norm = std::sqrt(cpu::sum_squares(gr.data(), N));
      float clip = norm > 1.0 ? (float)(1.0 / (norm + 1e-6)) : 1.0f;
      cpu::adamw_update(p.data(), m.data(), v.data(), gr.data(), N, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.1f, ++t, clip);
    });
  } else if (q.op == "layernorm_fwd_bwd") {
    const int64_t M = q.M;
    const int C = (int)q.K;
    if (M <= 0 || C <= 0) throw std::invalid_argument("bench layernorm: M, K must be positive");
    auto x = randn(M * C, g), w = randn(C, g), b = randn(C, g), dy = randn(M * C, g);
    std::vector<float> y(M * C), mean(M), rstd(M), dx(M * C), dw(C), db(C);
    r.peak_bytes = bytes_of({x.size(), y.size(), dy.size(), dx.size()});
    r.bytes = 4.0 * 5 * M * C;
    time_repeats(r, q, [&] {
      cpu::layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), M, C, 1e-5f);
      std::fill(dx.begin(), dx.end(), 0.0f);
      cpu::layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(), rstd.data(),
                              M, C);
    });
  } else if (q.op == "classifier") {
    const int64_t M = q.M;
    const int V = (int)q.N;
    if (M <= 0 || V <= 0) throw std::invalid_argument("bench classifier: M, N must be positive");
    auto logits = randn(M * V, g);
    std::vector<float> dlogits(M * V), losses(M);
    std::vector<int32_t> targets(M);
    std::uniform_int_distribution<int32_t> u(0, V - 1);
    for (auto& t : targets) t = u(g);
    r.peak_bytes = bytes_of({logits.size(), dlogits.size()});
    r.bytes = 8.0 * M * V;
    time_repeats(r, q, [&] {
      cpu::crossentropy_forward_backward(losses.data(), dlogits.data(), logits.data(), targets.data(), M, V,
                                         1.0f / (float)M);
    });
  } else {
    throw std::invalid_argument("bench: unknown op '" + q.op + "'");
  }
  return r;
}

}  // namespace mypt
