// Checks every kernel of the CUDA backend against the CPU op of binding/cpu/ops.h, then the whole
// CUDA engine against the CPU engine, then (unless --quick / --no-bench) times the kernels and the
// training step at the ANCHORS.md shapes.
//
//   check_cuda_ops              everything
//   check_cuda_ops --quick      small shapes, no timings (for compute-sanitizer)
//   check_cuda_ops --no-bench   all checks, no timings
//   check_cuda_ops --bench-only timings only
//
// Every case draws fresh random inputs (the run's seed is printed), poisons outputs with NaN before the
// launch, and prints ||gpu - ref|| / ||ref||. bf16 cases round the inputs to bf16 first and run the CPU
// op on the rounded values, so the error is the kernel's own. Tolerances: fp32 arithmetic 1e-5 (ops;
// whole model 1e-4), bf16 1e-2 (ops) / 3e-2 (whole model); NaN never passes. Exit status 1 on failure.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "activation.cuh"
#include "adamw.cuh"
#include "attention_rows.cuh"
#include "classifier.cuh"
#include "common.cuh"
#include "cpu/backend.h"
#include "cuda_backend.h"
#include "check_harness.cuh"
#include "cpu/ops.h"
#include "engine/dropout.h"
#include "dropout_ops.cuh"
#include "decode_pass.cuh"
#include "encoder.cuh"
#include "engine/engine.h"
#include "gemv.cuh"
#include "linear.cuh"
#include "engine/init.h"
#include "layernorm.cuh"
#include "sampling.cuh"
#include "engine/sampling.h"

using namespace mypt;
using namespace mypt::cuda;
static bool g_quick = false;

static std::string shp(std::initializer_list<int64_t> d) {
  std::string s = "[";
  for (auto x : d) s += (s.size() > 1 ? "," : "") + std::to_string(x);
  return s + "]";
}

// ---------------- GEMM ----------------
template <typename T>
static void check_gemm(Gemm& g, const char* path, int M, int K, int N, bool bias) {
  const Vec inp = prep<T>(randn((size_t)M * K)), w = prep<T>(randn((size_t)N * K, 0.1f));
  const Vec b = prep<T>(randn(N)), dout = prep<T>(randn((size_t)M * N));
  Vec ref((size_t)M * N);
  cpu::matmul_forward(ref.data(), inp.data(), w.data(), bias ? b.data() : nullptr, M, K, N);
  Dev<T> di(inp), dw(w), db(b), dout_d(dout), dy((size_t)M * N);
  linear_forward<T>(g, dy.p, di.p, dw.p, bias ? db.p : nullptr, M, K, N, 0);
  const std::string tag = std::string(path) + " " + tname<T>() + " " + shp({M, K, N});
  report("gemm forward" + std::string(bias ? "+bias " : " ") + tag, rel_err(dy.get(), ref), tol_op<T>());
  // backward: dinp (overwrite) and dweight (accumulate onto a random start)
  Vec dinp_ref((size_t)M * K, 0.0f), dw0 = randn((size_t)N * K), dw_ref = dw0;
  cpu::matmul_backward(dinp_ref.data(), dw_ref.data(), nullptr, dout.data(), inp.data(), w.data(), M, K, N);
  Dev<T> ddi((size_t)M * K);
  Dev<float> ddw(dw0);
  linear_backward_input<T>(g, ddi.p, dout_d.p, dw.p, M, K, N, 0);
  linear_backward_weight<T>(g, ddw.p, dout_d.p, di.p, M, K, N, true, 0);
  report("gemm backward input  " + tag, rel_err(ddi.get(), dinp_ref), tol_op<T>());
  Vec dwdelta_ref(dw_ref.size()), got = ddw.get(), gotdelta(dw_ref.size());
  for (size_t i = 0; i < dw_ref.size(); i++) { dwdelta_ref[i] = dw_ref[i] - dw0[i]; gotdelta[i] = got[i] - dw0[i]; }
  report("gemm backward weight (+=) " + tag, rel_err(gotdelta, dwdelta_ref), sizeof(T) == 2 ? 1e-2 : 1e-5);
  // weight and bias gradient together (the bias's by a column sum)
  {
    Vec db0 = randn(N), dbr = db0, dwr2 = dw0;
    cpu::matmul_backward(nullptr, dwr2.data(), dbr.data(), dout.data(), inp.data(), w.data(), M, K, N);
    Dev<float> ddw2(dw0), ddb(db0), cs(colsum_scratch_floats(M, N));
    linear_backward_weight_bias<T>(g, ddw2.p, ddb.p, dout_d.p, di.p, M, K, N, true, cs.p, 0);
    Vec gb = ddb.get(), d1(N), d2(N);
    for (int i = 0; i < N; i++) { d1[i] = gb[i] - db0[i]; d2[i] = dbr[i] - db0[i]; }
    Vec gw = ddw2.get(), e1(gw.size()), e2(gw.size());
    for (size_t i = 0; i < gw.size(); i++) { e1[i] = gw[i] - dw0[i]; e2[i] = dwr2[i] - dw0[i]; }
    report("gemm backward weight+bias (+=) dbias " + tag, rel_err(d1, d2), sizeof(T) == 2 ? 1e-2 : 1e-5);
    report("gemm backward weight+bias (+=) dweight " + tag, rel_err(e1, e2), sizeof(T) == 2 ? 1e-2 : 1e-5);
  }
  // fused GELU-tanh epilogue forward and its gradient epilogue
  if (N % 8 == 0 && K % 8 == 0) {
    Vec pre_ref((size_t)M * N), act_ref((size_t)M * N);
    cpu::matmul_forward(pre_ref.data(), inp.data(), w.data(), b.data(), M, K, N);
    cpu::gelu_tanh_forward(act_ref.data(), pre_ref.data(), (int64_t)M * N);
    Dev<T> dpre((size_t)M * N), dact((size_t)M * N);
    linear_forward<T>(g, dact.p, di.p, dw.p, db.p, M, K, N, 0, Epilogue::GeluTanh, dpre.p);
    report("gemm +bias+gelu_tanh epilogue (act) " + tag, rel_err(dact.get(), act_ref), tol_op<T>());
    report("gemm +bias+gelu_tanh epilogue (pre) " + tag, rel_err(dpre.get(), pre_ref), tol_op<T>());
    // D[M, K] = (dout2[M, N'] @ w2[N', K]) * gelu'(aux[M, K]) with N' = N
    const Vec aux = prep<T>(randn((size_t)M * K));
    Vec prod((size_t)M * K, 0.0f), dref((size_t)M * K);
    cpu::matmul_backward(prod.data(), nullptr, nullptr, dout.data(), inp.data(), w.data(), M, K, N);
    cpu::gelu_tanh_backward(dref.data(), aux.data(), prod.data(), (int64_t)M * K);
    Dev<T> daux(aux), dd((size_t)M * K);
    linear_backward_input<T>(g, dd.p, dout_d.p, dw.p, M, K, N, 0, Epilogue::DGeluTanh, daux.p);
    report("gemm dgelu_tanh epilogue " + tag, rel_err(dd.get(), dref), tol_op<T>());
  }
}

// ---------------- LayerNorm ----------------
template <typename T>
static void check_layernorm(int BT, int C, float p, bool with_bias) {
  const Vec a = prep<T>(randn((size_t)BT * C)), b = prep<T>(randn((size_t)BT * C));
  const Vec w = prep<T>(randn(C, 0.5f)), bi = prep<T>(randn(C, 0.5f));
  const uint64_t seed = g_rng();
  // reference: residual = a + dropout(b), rounded to T as the kernel stores it
  Vec br = b, res((size_t)BT * C);
  cpu::dropout_forward(br.data(), b.data(), (int64_t)BT * C, p, seed, 0);
  for (size_t i = 0; i < res.size(); i++) res[i] = a[i] + br[i];
  res = prep<T>(res);
  Vec out((size_t)BT * C), mean(BT), rstd(BT);
  cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), res.data(), w.data(), with_bias ? bi.data() : nullptr, BT,
                         C, 1e-5f);
  Dev<T> da(a), db(b), dw(w), dbi(bi), dres((size_t)BT * C), dout((size_t)BT * C);
  Dev<float> dmean(BT), drstd(BT);
  residual_layernorm_forward<T>(dres.p, dout.p, dmean.p, drstd.p, da.p, db.p, dw.p, with_bias ? dbi.p : nullptr, BT, C,
                                1e-5f, p, seed, 0);
  const std::string tag = std::string(tname<T>()) + " " + shp({BT, C}) + " p=" + std::to_string(p).substr(0, 4);
  report("residual+layernorm forward (residual) " + tag, rel_err(dres.get(), res), tol_op<T>());
  report("residual+layernorm forward (out) " + tag, rel_err(dout.get(), out), tol_op<T>());
  report("residual+layernorm forward (mean, rstd) " + tag,
         std::max(rel_err(dmean.get(), mean), rel_err(drstd.get(), rstd)), 1e-5);
  // backward onto random starting values (it accumulates)
  const Vec dy = prep<T>(randn((size_t)BT * C)), dinp0 = prep<T>(randn((size_t)BT * C));
  const Vec dw0 = randn(C), db0 = randn(C);
  Vec dinp = dinp0, dwr = dw0, dbr = db0;
  cpu::layernorm_backward(dinp.data(), dwr.data(), dbr.data(), dy.data(), res.data(), w.data(), mean.data(),
                          rstd.data(), BT, C);
  Dev<T> ddy(dy), ddinp(dinp0);
  const Vec ds0 = randn(C);
  Dev<float> ddw(dw0), ddb(db0), dds(ds0), scratch(layernorm_scratch_floats(BT, C));
  // the backward reads the forward's statistics (fp32): use the reference ones so only the backward is tested
  dmean.upload(mean);
  drstd.upload(rstd);
  Dev<T> dres2(res);
  layernorm_backward<T>(ddinp.p, ddw.p, ddb.p, dds.p, ddy.p, dres2.p, dw.p, dmean.p, drstd.p, BT, C, scratch.p, 0);
  auto delta = [](const Vec& x, const Vec& x0) { Vec d(x.size()); for (size_t i = 0; i < x.size(); i++) d[i] = x[i] - x0[i]; return d; };
  // bf16 stores dinp0 + delta rounded: compare whole values there (the delta alone would be judged
  // against rounding of the much larger dinp0)
  if (sizeof(T) == 2) report("layernorm backward (dinp +=) " + tag, rel_err(ddinp.get(), prep<T>(dinp)), tol_op<T>());
  else report("layernorm backward (dinp +=) " + tag, rel_err(delta(ddinp.get(), dinp0), delta(dinp, dinp0)), tol_op<T>());
  report("layernorm backward (dweight +=) " + tag, rel_err(delta(ddw.get(), dw0), delta(dwr, dw0)), sizeof(T) == 2 ? 1e-2 : 1e-5);
  report("layernorm backward (dbias +=) " + tag, rel_err(delta(ddb.get(), db0), delta(dbr, db0)), sizeof(T) == 2 ? 1e-2 : 1e-5);
  // dsum += column sums of dinp as stored (the kernel's own stored values, so only the sum is judged)
  {
    const Vec got = ddinp.get();
    Vec sref = ds0;
    for (int r = 0; r < BT; r++) for (int c = 0; c < C; c++) sref[c] += got[(size_t)r * C + c];
    report("layernorm backward (dsum += column sums of dinp) " + tag, rel_err(delta(dds.get(), ds0), delta(sref, ds0)), 1e-5);
  }
  // column sum (a bias gradient), overwrite mode
  Vec cref(C, 0.0f);
  for (int r = 0; r < BT; r++) for (int c = 0; c < C; c++) cref[c] += dy[(size_t)r * C + c];
  Dev<float> dcs(C);
  column_sum<T>(dcs.p, ddy.p, BT, C, false, scratch.p, 0);
  report("column_sum (bias gradient) " + tag, rel_err(dcs.get(), cref), 1e-5);
}

// ---------------- embeddings ----------------
template <typename T>
static void check_encoder(int B, int T_, int C, int V) {
  std::vector<int32_t> tok((size_t)B * T_);
  for (auto& t : tok) t = randint(0, std::min(V - 1, 20));  // repeats on purpose
  const Vec wte = prep<T>(randn((size_t)V * C)), wpe = prep<T>(randn((size_t)T_ * C));
  Vec ref((size_t)B * T_ * C);
  for (int r = 0; r < B * T_; r++)
    for (int c = 0; c < C; c++) ref[(size_t)r * C + c] = wte[(size_t)tok[r] * C + c] + wpe[(size_t)(r % T_) * C + c];
  Dev<T> dwte(wte), dwpe(wpe), dout((size_t)B * T_ * C);
  Dev<int32_t> dtok(tok.size());
  CUDA_CHECK(cudaMemcpy(dtok.p, tok.data(), tok.size() * 4, cudaMemcpyHostToDevice));
  encoder_forward<T>(dout.p, dtok.p, dwte.p, dwpe.p, B, T_, C, 0, 0);
  const std::string tag = std::string(tname<T>()) + " " + shp({B, T_, C, V});
  report("encoder forward " + tag, rel_err(dout.get(), prep<T>(ref)), tol_op<T>());
  const Vec dy = prep<T>(randn((size_t)B * T_ * C));
  Vec gte((size_t)V * C, 0.0f), gpe((size_t)T_ * C, 0.0f);
  for (int r = 0; r < B * T_; r++)
    for (int c = 0; c < C; c++) {
      gte[(size_t)tok[r] * C + c] += dy[(size_t)r * C + c];
      gpe[(size_t)(r % T_) * C + c] += dy[(size_t)r * C + c];
    }
  EncoderBuckets bk;
  bk.build(tok.data(), (int64_t)tok.size());
  Dev<int32_t> bt(bk.tokens.size()), bs(bk.start.size()), bp(bk.positions.size());
  CUDA_CHECK(cudaMemcpy(bt.p, bk.tokens.data(), bk.tokens.size() * 4, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(bs.p, bk.start.data(), bk.start.size() * 4, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(bp.p, bk.positions.data(), bk.positions.size() * 4, cudaMemcpyHostToDevice));
  Dev<T> ddy(dy);
  Dev<float> dgte(Vec((size_t)V * C, 0.0f)), dgpe(Vec((size_t)T_ * C, 0.0f));
  encoder_backward<T>(dgte.p, dgpe.p, ddy.p, bt.p, bs.p, bp.p, (int)bk.tokens.size(), B, T_, C, 0);
  report("encoder backward (dwte) " + tag, rel_err(dgte.get(), gte), 1e-5);
  report("encoder backward (dwpe) " + tag, rel_err(dgpe.get(), gpe), 1e-5);
}

// ---------------- activations, dropout ----------------

// The GELUs where 1 + erf and 1 + tanh would cancel (x < 0) and beyond, fp32, each element against the math
// in double: the largest relative error of an element, for the kernels and for the CPU ops they mirror.
static void check_activation_tails() {
  Vec x, dy;
  for (float v = -9.0f; v <= 4.0f; v += 0.125f)
    if (std::fabs(v) >= 0.5f) { x.push_back(v); dy.push_back(1.0f); }
  const int64_t N = (int64_t)x.size();
  const auto worst = [](const Vec& got, const std::vector<double>& ref) {
    double e = 0;
    for (size_t i = 0; i < ref.size(); i++) e = std::max(e, std::fabs(got[i] - ref[i]) / std::fabs(ref[i]));
    return e;
  };
  const double k = std::sqrt(2.0 / M_PI), kap = 0.044715;
  for (int a = 1; a < 3; a++) {
    std::vector<double> y(N), g(N);
    for (int64_t i = 0; i < N; i++) {
      const double v = x[i];
      if (a == 1) {
        const double cdf = 0.5 * std::erfc(-v / std::sqrt(2.0));
        y[i] = v * cdf;
        g[i] = cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
      } else {
        // 0.5 v (1 + tanh u) as v sigmoid(2u): 1 + tanh u is 0 in double too from u = -19 on
        const double u = k * (v + kap * v * v * v), sg = 1.0 / (1.0 + std::exp(-2.0 * u));
        y[i] = v * sg;
        g[i] = sg + 2.0 * v * sg * (1.0 / (1.0 + std::exp(2.0 * u))) * k * (1.0 + 3.0 * kap * v * v);
      }
    }
    Vec cy(N), cg(N);
    if (a == 1) { cpu::gelu_forward(cy.data(), x.data(), N); cpu::gelu_backward(cg.data(), x.data(), dy.data(), N); }
    else { cpu::gelu_tanh_forward(cy.data(), x.data(), N); cpu::gelu_tanh_backward(cg.data(), x.data(), dy.data(), N); }
    Dev<float> dx_(x), ddy(dy), dout(N), ddx(N);
    activation_forward<float>((Activation)a, dout.p, dx_.p, N, 0);
    activation_backward<float>((Activation)a, ddx.p, dx_.p, ddy.p, N, 0);
    const std::string tag = std::string(a == 1 ? "gelu" : "gelu_tanh") + " x in [-9, 4]";
    report("activation tails forward (kernel) " + tag, worst(dout.get(), y), 1e-5);
    report("activation tails backward (kernel) " + tag, worst(ddx.get(), g), 1e-5);
    report("activation tails forward (cpu op) " + tag, worst(cy, y), 1e-5);
    report("activation tails backward (cpu op) " + tag, worst(cg, g), 1e-5);
  }
}
template <typename T>
static void check_activations(int64_t N) {
  const Vec x = prep<T>(randn(N, 2.0f)), dy = prep<T>(randn(N));
  const char* names[3] = {"relu", "gelu", "gelu_tanh"};
  for (int a = 0; a < 3; a++) {
    Vec y(N), dx(N);
    if (a == 0) { cpu::relu_forward(y.data(), x.data(), N); cpu::relu_backward(dx.data(), x.data(), dy.data(), N); }
    if (a == 1) { cpu::gelu_forward(y.data(), x.data(), N); cpu::gelu_backward(dx.data(), x.data(), dy.data(), N); }
    if (a == 2) { cpu::gelu_tanh_forward(y.data(), x.data(), N); cpu::gelu_tanh_backward(dx.data(), x.data(), dy.data(), N); }
    Dev<T> dx_(x), ddy(dy), dout(N), ddx(N);
    activation_forward<T>((Activation)a, dout.p, dx_.p, N, 0);
    activation_backward<T>((Activation)a, ddx.p, dx_.p, ddy.p, N, 0);
    const std::string tag = std::string(names[a]) + " " + tname<T>() + " N=" + std::to_string(N);
    report("activation forward " + tag, rel_err(dout.get(), y), tol_op<T>());
    report("activation backward " + tag, rel_err(ddx.get(), dx), tol_op<T>());
    // the same backward as M rows of N with the bias gradient: dbias += column sums of dinp as stored
    for (int Ncol : {8, 24, 776, 7}) {
      if (N % Ncol != 0) continue;
      const int64_t M = N / Ncol;
      const Vec db0 = randn(Ncol);
      Dev<T> ddx2(N);
      Dev<float> ddb(db0), cs(colsum_scratch_floats(M, Ncol));
      activation_backward_bias<T>((Activation)a, ddx2.p, dx_.p, ddy.p, M, Ncol, ddb.p, cs.p, 0);
      const Vec got = ddx2.get();
      Vec bref = db0;
      for (int64_t r = 0; r < M; r++) for (int c = 0; c < Ncol; c++) bref[c] += got[r * Ncol + c];
      const std::string t2 = std::string(names[a]) + " " + tname<T>() + " " + shp({(int)M, Ncol});
      report("activation backward + bias gradient (dinp) " + t2, rel_err(got, dx), tol_op<T>());
      auto d = [](Vec x, const Vec& x0) { for (size_t i = 0; i < x.size(); i++) x[i] -= x0[i]; return x; };
      report("activation backward + bias gradient (dbias +=) " + t2, rel_err(d(ddb.get(), db0), d(bref, db0)), 1e-5);
    }
  }
  const float p = 0.2f;
  const uint64_t seed = g_rng(), off = g_rng() % 1000;
  Vec y(N);
  cpu::dropout_forward(y.data(), x.data(), N, p, seed, off);
  Dev<T> dx_(x), dout(N);
  dropout_apply<T>(dout.p, dx_.p, N, p, seed, off, 0);
  report(std::string("dropout (same mask as CPU) ") + tname<T>() + " N=" + std::to_string(N), rel_err(dout.get(), y),
         tol_op<T>());
}

// ---------------- GEMV with a fused activation (generation's MLP up-projection) ----------------
// aux = inp @ w^T + b rounded to T, out = act(aux): the unfused linear + activation on the CPU.
template <typename T>
static void check_gemv_activation(int M, int K, int N) {
  const Vec inp = prep<T>(randn((size_t)M * K)), w = prep<T>(randn((size_t)N * K, 0.1f)), b = prep<T>(randn(N));
  Vec pre((size_t)M * N);
  cpu::matmul_forward(pre.data(), inp.data(), w.data(), b.data(), M, K, N);
  const Vec pre_t = prep<T>(pre);
  const char* names[3] = {"relu", "gelu", "gelu_tanh"};
  for (int a = 0; a < 3; a++) {
    Vec y((size_t)M * N);
    const int64_t n = (int64_t)M * N;
    if (a == 0) cpu::relu_forward(y.data(), pre_t.data(), n);
    if (a == 1) cpu::gelu_forward(y.data(), pre_t.data(), n);
    if (a == 2) cpu::gelu_tanh_forward(y.data(), pre_t.data(), n);
    Dev<T> di(inp), dw(w), db(b), dout((size_t)M * N), daux((size_t)M * N);
    gemv_forward<T>(dout.p, daux.p, di.p, dw.p, db.p, M, K, N, 1 + a, 0);
    const std::string tag = std::string(names[a]) + " " + tname<T>() + " " + shp({M, K, N});
    report("gemv +bias+" + tag + " (pre)", rel_err(daux.get(), pre), tol_op<T>());
    report("gemv +bias+" + tag + " (act)", rel_err(dout.get(), y), tol_op<T>());
  }
}

// ---------------- GEMV with generation's fusions (gemv.cuh's GemvOp) ----------------
// qkv = LN(x) @ w^T + b with the keys and values also into a cache row; y = r + (x @ w^T + b rounded to T):
// the CPU's layernorm (its output rounded to T), matmul and residual add, and the cache rows as kv_append.
template <typename T>
static void check_gemv_fused(int M, int C) {
  const Vec x = prep<T>(randn((size_t)M * C, 2.0f)), lw = prep<T>(randn(C)), lb = prep<T>(randn(C));
  const Vec w = prep<T>(randn((size_t)3 * C * C, 0.1f)), b = prep<T>(randn(3 * C));
  Vec ln((size_t)M * C), mean(M), rstd(M), qkv((size_t)M * 3 * C);
  cpu::layernorm_forward(ln.data(), mean.data(), rstd.data(), x.data(), lw.data(), lb.data(), M, C, 1e-5f);
  cpu::matmul_forward(qkv.data(), prep<T>(ln).data(), w.data(), b.data(), M, C, 3 * C);
  const int pos = 5, rows = pos + M + 2;
  Dev<T> dx(x), dlw(lw), dlb(lb), dw(w), db(b), dout((size_t)M * 3 * C), dk((size_t)rows * C), dv((size_t)rows * C);
  Dev<int32_t> dpos(Ints{pos});
  GemvOp<T> op;
  op.out = dout.p; op.inp = dx.p; op.w = dw.p; op.bias = db.p; op.M = M; op.K = C; op.N = 3 * C;
  op.ln_w = dlw.p; op.ln_b = dlb.p; op.eps = 1e-5f; op.kc = dk.p; op.vc = dv.p; op.pos_dev = dpos.p;
  CUDA_CHECK(cudaMemset(dk.p, 0, (size_t)rows * C * sizeof(T)));
  CUDA_CHECK(cudaMemset(dv.p, 0, (size_t)rows * C * sizeof(T)));
  gemv_forward(op, 0);
  const std::string tag = std::string(tname<T>()) + " " + shp({M, C, 3 * C});
  report("gemv LayerNorm prologue " + tag, rel_err(dout.get(), qkv), tol_op<T>());
  const Vec kc = dk.get(), vc = dv.get();
  Vec kref((size_t)rows * C, 0.0f), vref((size_t)rows * C, 0.0f), kgot(kc), vgot(vc);
  const Vec got = dout.get();
  for (int m = 0; m < M; m++)
    for (int c = 0; c < C; c++) {
      kref[(size_t)(pos + m) * C + c] = qkv[(size_t)m * 3 * C + C + c];
      vref[(size_t)(pos + m) * C + c] = qkv[(size_t)m * 3 * C + 2 * C + c];
      // the cache holds exactly the stored qkv values
      if (kc[(size_t)(pos + m) * C + c] != got[(size_t)m * 3 * C + C + c] ||
          vc[(size_t)(pos + m) * C + c] != got[(size_t)m * 3 * C + 2 * C + c])
        kgot[0] = NAN;
    }
  report("gemv KV-cache epilogue (keys) " + tag, rel_err(kgot, kref), tol_op<T>());
  report("gemv KV-cache epilogue (values) " + tag, rel_err(vgot, vref), tol_op<T>());
  // the residual epilogue: y = r + rounded(x w[:C]^T + b[:C])
  const Vec r = prep<T>(randn((size_t)M * C));
  Vec p((size_t)M * C);
  cpu::matmul_forward(p.data(), x.data(), w.data(), b.data(), M, C, C);
  const Vec pt = prep<T>(p);
  Vec y((size_t)M * C);
  for (size_t i = 0; i < y.size(); i++) y[i] = r[i] + pt[i];
  Dev<T> dr(r), dy((size_t)M * C);
  GemvOp<T> res;
  res.out = dy.p; res.inp = dx.p; res.w = dw.p; res.bias = db.p; res.M = M; res.K = C; res.N = C; res.res = dr.p;
  gemv_forward(res, 0);
  report("gemv residual epilogue " + std::string(tname<T>()) + " " + shp({M, C, C}), rel_err(dy.get(), y), tol_op<T>());
}

// ---------------- one token as one kernel (decode_persistent.cuh) ----------------
// The persistent pass beside decode_pass's few-row kernels, token after token on two caches filled by the
// same prompt: each step's logits agree (the attention's partial softmaxes are merged in another order, so
// to a tolerance), layer 0's new keys and values are equal bit for bit (their LayerNorm and sums are the
// kernels'), and the device position advances by one. Steps alternate the host and the device position,
// cross several 32-key chunks, and the last ones replay a CUDA graph of the pass.
template <typename T>
static void check_decode_persistent(const ModelConfig& cfg, const char* name, int n_prompt, int steps) {
  const std::string tag = std::string(name) + " " + tname<T>() + " " + shp({cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.vocab_size});
  cuda::GptModel<T> gpt(cfg, 0);
  if (!cuda::PersistentScratch().fits(gpt)) {
    report_exact("decode persistent " + tag, false, "the persistent pass does not take the model here");
    return;
  }
  ParamLayout lay(cfg);
  Vec params(lay.total);
  init_parameters(cfg, lay, InitKind::GPT2, g_rng(), params.data());
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (auto& v : params) v += nd(g_rng);  // biases and LayerNorms away from 0 and 1
  gpt.set_masters(params.data());
  const int C = cfg.n_embd, F = cfg.hidden(), V = cfg.vocab_size, blk = cfg.block_size, L = cfg.n_layer;
  const size_t cache = (size_t)L * blk * C;
  struct Side {
    Dev<T> x, ln, att, tmp, qkv, pre, act, lrow, k, v;
    Dev<float> stats, logits;
    cuda::PersistentScratch ps;
    Side(size_t rows, int C, int F, int V, size_t cache)
        : x(2 * rows * C), ln(rows * C), att(rows * C), tmp(rows * C), qkv(rows * 3 * C), pre(rows * F), act(rows * F),
          lrow(V), k(cache), v(cache), stats(2 * rows), logits(V) {}
    cuda::DecodeBufs<T> bufs(size_t rows) {
      cuda::DecodeBufs<T> b{x.p, ln.p, att.p, tmp.p, qkv.p, pre.p, act.p, lrow.p, stats.p, stats.p + rows, logits.p};
      b.persist = &ps;
      return b;
    }
  };
  Side A(blk, C, F, V, cache), B(blk, C, F, V, cache);
  Ints prompt(n_prompt);
  for (auto& t : prompt) t = randint(0, V - 1);
  Dev<int32_t> dprompt(prompt), dtok(Ints{0}), dpos(Ints{0});
  for (Side* s : {&A, &B})
    cuda::decode_pass<T>(gpt, s->bufs(blk), s->k.p, s->v.p, dprompt.p, n_prompt, 0, nullptr, cuda::DecodePath::Kernels);
  double worst = 0;
  bool layer0_exact = true, pos_ok = true;
  cuda::GraphGuard graph;
  const int graph_steps = 3;
  for (int i = 0; i < steps; i++) {
    const int pos = n_prompt + i;
    const int32_t tok = randint(0, V - 1);
    CUDA_CHECK(cudaMemcpy(dtok.p, &tok, 4, cudaMemcpyHostToDevice));
    cuda::decode_pass<T>(gpt, A.bufs(1), A.k.p, A.v.p, dtok.p, 1, pos, nullptr, cuda::DecodePath::Kernels);
    const bool on_device = i % 2 == 1 || i >= steps - graph_steps;
    if (on_device) CUDA_CHECK(cudaMemcpy(dpos.p, &pos, 4, cudaMemcpyHostToDevice));
    const auto run = [&] {
      cuda::decode_pass<T>(gpt, B.bufs(1), B.k.p, B.v.p, dtok.p, 1, pos, on_device ? dpos.p : nullptr,
                           cuda::DecodePath::Persistent);
    };
    if (i >= steps - graph_steps) {
      if (!graph.exec) graph.capture(gpt.s, cudaStreamCaptureModeRelaxed, run);
      CUDA_CHECK(cudaGraphLaunch(graph.exec, gpt.s));
    } else {
      run();
    }
    gpt.sync();
    worst = std::max(worst, rel_err(B.logits.get(), A.logits.get()));
    const Vec ka = A.k.get(), kb = B.k.get(), va = A.v.get(), vb = B.v.get();
    for (int c = 0; c < C; c++)
      if (ka[(size_t)pos * C + c] != kb[(size_t)pos * C + c] || va[(size_t)pos * C + c] != vb[(size_t)pos * C + c])
        layer0_exact = false;
    if (on_device) {
      int32_t after = -1;
      CUDA_CHECK(cudaMemcpy(&after, dpos.p, 4, cudaMemcpyDeviceToHost));
      pos_ok = pos_ok && after == pos + 1;
    }
  }
  // the whole caches after the last step (every layer's rows, to the tolerance)
  report("decode persistent logits, " + std::to_string(steps) + " tokens after " + std::to_string(n_prompt) + " " + tag,
         worst, sizeof(T) == 2 ? 2e-2 : 1e-5);
  const int rows = n_prompt + steps;  // each layer's rows written so far (the rest is unwritten)
  const auto written = [&](const Vec& c) {
    Vec w;
    for (int l = 0; l < L; l++) w.insert(w.end(), c.begin() + (size_t)l * blk * C, c.begin() + ((size_t)l * blk + rows) * C);
    return w;
  };
  report("decode persistent KV caches after the tokens " + tag,
         rel_err(written(B.k.get()), written(A.k.get())) + rel_err(written(B.v.get()), written(A.v.get())),
         sizeof(T) == 2 ? 2e-2 : 1e-5);
  report_exact("decode persistent layer-0 keys and values bit for bit " + tag, layer0_exact);
  report_exact("decode persistent advances the device position " + tag, pos_ok);
}

// ---------------- classifier ----------------
template <typename T>
static void check_classifier(int BT, int V) {
  const Vec logits = prep<T>(randn((size_t)BT * V, 3.0f));
  std::vector<int32_t> tg(BT);
  for (auto& t : tg) t = randint(0, V - 1);
  const float dloss = 1.0f / BT;
  Vec losses(BT), dlog((size_t)BT * V);
  const float mref = cpu::crossentropy_forward_backward(losses.data(), dlog.data(), logits.data(), tg.data(), BT, V, dloss);
  Dev<T> dl(logits);
  Dev<float> dlosses(BT), dmean(1);
  Dev<int32_t> dt(BT);
  CUDA_CHECK(cudaMemcpy(dt.p, tg.data(), BT * 4, cudaMemcpyHostToDevice));
  crossentropy_forward_backward<T>(dlosses.p, dl.p, dt.p, BT, V, dloss, true, 0);
  mean_loss(dmean.p, dlosses.p, BT, 0);
  const std::string tag = std::string(tname<T>()) + " " + shp({BT, V});
  report("crossentropy losses " + tag, rel_err(dlosses.get(), losses), 1e-5);
  report("crossentropy mean loss " + tag, rel_err(dmean.get(), Vec{mref}), 1e-5);
  report("crossentropy dlogits (in place) " + tag, rel_err(dl.get(), dlog), tol_op<T>());
}

// ---------------- AdamW + global norm ----------------
static void check_adamw(const std::vector<int64_t>& sizes, float clip) {
  std::vector<int64_t> starts{0};
  for (auto s : sizes) starts.push_back(starts.back() + s);
  const int64_t N = starts.back();
  std::vector<uint8_t> decay(sizes.size());
  for (auto& d : decay) d = (uint8_t)randint(0, 1);
  Vec p = randn(N), m = randn(N, 0.01f), v = randn(N, 0.01f), g = randn(N, 0.5f);
  for (auto& x : v) x = std::fabs(x);
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
  const int64_t t = 7;
  const float norm_ref = (float)std::sqrt(cpu::sum_squares(g.data(), N));
  float scale = 1.0f;
  if (clip > 0 && clip / (norm_ref + 1e-6f) < 1.0f) scale = clip / (norm_ref + 1e-6f);
  Vec pr = p, mr = m, vr = v;
  for (size_t k = 0; k < sizes.size(); k++)
    cpu::adamw_update(pr.data() + starts[k], mr.data() + starts[k], vr.data() + starts[k], g.data() + starts[k], sizes[k],
                      lr, b1, b2, eps, decay[k] ? wd : 0.0f, t, scale);
  Dev<float> dp(p), dm(m), dv(v), dg(g), dnorm(1);
  Dev<double> scratch(1024);
  Dev<int64_t> dst(starts.size());
  Dev<uint8_t> ddec(decay.size());
  CUDA_CHECK(cudaMemcpy(dst.p, starts.data(), starts.size() * 8, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(ddec.p, decay.data(), decay.size(), cudaMemcpyHostToDevice));
  global_norm(dnorm.p, dg.p, N, scratch.p, 0);
  adamw_update(Masters{dp.p}, dm.p, dv.p, dg.p, N, dst.p, ddec.p, (int)sizes.size(), lr, b1, b2, eps, wd, t, dnorm.p, clip, 0);
  const std::string tag = "N=" + std::to_string(N) + " tensors=" + std::to_string(sizes.size()) + " clip=" + std::to_string(clip).substr(0, 3);
  report("global grad norm " + tag, rel_err(dnorm.get(), Vec{norm_ref}), 1e-6);
  // compare the update (p - p0) so the error is relative to what AdamW changed
  auto delta = [&](const Vec& x, const Vec& x0) { Vec d(x.size()); for (size_t i = 0; i < x.size(); i++) d[i] = x[i] - x0[i]; return d; };
  const Vec pg = dp.get();
  report("adamw params " + tag, rel_err(pg, pr), 1e-6);
  // the update alone: fp32 rounding of p (ulp ~1e-7 of |p|) against a change of ~lr limits this to ~1e-4
  report("adamw param update (p - p0) " + tag, rel_err(delta(pg, p), delta(pr, p)), 1e-3);
  report("adamw m, v " + tag, std::max(rel_err(dm.get(), mr), rel_err(dv.get(), vr)), 1e-6);
  // the same step on split masters (a bf16 model's): joined, they are the fp32 run's masters bit for bit,
  // and the upper halves are those masters in bf16 (ties away from zero: RNE's value but at exact ties)
  Dev<bf16> hi(N);
  Dev<uint16_t> lo(N);
  Dev<float> p0(p), m2(m), v2(v), joined(N);
  split_masters(hi.p, lo.p, p0.p, N, 0);
  adamw_update(Masters{nullptr, hi.p, lo.p}, m2.p, v2.p, dg.p, N, dst.p, ddec.p, (int)sizes.size(), lr, b1, b2, eps, wd,
               t, dnorm.p, clip, 0);
  join_masters(joined.p, hi.p, lo.p, N, 0);
  const Vec pj = joined.get();
  report_exact("adamw split masters, joined = fp32 masters " + tag, std::memcmp(pj.data(), pg.data(), N * 4) == 0);
  report_exact("adamw split masters, m and v = fp32 run's " + tag,
               m2.get() == dm.get() && v2.get() == dv.get());
  // the upper halves: the split of those masters (masters.cuh's rounding, checked against RNE in check_masters)
  std::vector<uint16_t> hb(N);
  CUDA_CHECK(cudaMemcpy(hb.data(), hi.p, N * 2, cudaMemcpyDeviceToHost));
  int64_t bad = 0;
  for (int64_t i = 0; i < N; i++) {
    uint32_t b;
    std::memcpy(&b, &pg[i], 4);
    uint16_t h, l;
    split_master_bits(b, h, l);
    bad += h != hb[i];
  }
  report_exact("adamw split masters, upper halves = bf16 of the fp32 run's masters " + tag, bad == 0,
               std::to_string(bad) + " differ");
}

// AdamW on a range of a larger buffer (Masters::at, as the data-parallel step updates a rank's slices): the
// range's split masters end as the same update of a buffer of their own, and the elements around it are untouched.
static void check_adamw_range() {
  const int64_t N = 4096, begin = 1028, n = 2000;
  Vec p = randn(N), m = randn(N, 0.01f), v = randn(N, 0.01f), g = randn(N, 0.5f);
  for (auto& x : v) x = std::fabs(x);
  Vec pr(p.begin() + begin, p.begin() + begin + n), mr(m.begin() + begin, m.begin() + begin + n),
      vr(v.begin() + begin, v.begin() + begin + n), gr(g.begin() + begin, g.begin() + begin + n);
  const std::vector<int64_t> starts{0, n / 2, n};
  const std::vector<uint8_t> decay{1, 0};
  Dev<int64_t> dst(3);
  Dev<uint8_t> ddec(2);
  CUDA_CHECK(cudaMemcpy(dst.p, starts.data(), 24, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(ddec.p, decay.data(), 2, cudaMemcpyHostToDevice));
  Dev<float> norm(Vec{1.0f});
  const auto run = [&](const Vec& p0, Vec& mm, Vec& vv, const Vec& gg, int64_t at, int64_t len) {
    const int64_t total = (int64_t)p0.size();
    Dev<float> w(p0), dm(mm), dv(vv), dg(gg), back(total);
    Dev<bf16> hi(total);
    Dev<uint16_t> lo(total);
    split_masters(hi.p, lo.p, w.p, total, 0);
    adamw_update(Masters{nullptr, hi.p, lo.p}.at(at), dm.p + at, dv.p + at, dg.p + at, len, dst.p, ddec.p, 2, 1e-3f,
                 0.9f, 0.95f, 1e-8f, 0.1f, 3, norm.p, 0.0f, 0);
    join_masters(back.p, hi.p, lo.p, total, 0);
    mm = dm.get();
    vv = dv.get();
    return back.get();
  };
  Vec m1 = m, v1 = v, m2 = mr, v2 = vr;
  const Vec whole = run(p, m1, v1, g, begin, n), alone = run(pr, m2, v2, gr, 0, n);
  bool inside = true, outside = true;
  for (int64_t i = 0; i < N; i++) {
    const bool in = i >= begin && i < begin + n;
    if (in) inside = inside && std::memcmp(&whole[i], &alone[i - begin], 4) == 0 && m1[i] == m2[i - begin] && v1[i] == v2[i - begin];
    else outside = outside && std::memcmp(&whole[i], &p[i], 4) == 0 && m1[i] == m[i];
  }
  report_exact("adamw split masters at an offset (Masters::at 1028, 2000 of 4096) = the range alone", inside);
  report_exact("adamw split masters at an offset: the elements around the range untouched", outside);
}

// GptModel::set_masters / get_masters on a bf16 model larger than their 16M-float device stage: every
// parameter set as an fp32 pattern comes back bit for bit, and the bf16 weights the kernels read are the
// upper halves of the split.
static void check_masters_staged() {
  ModelConfig cfg;  // GPT-2's tensors at 384 wide, one layer: about 21M parameters, 2 stages
  cfg.vocab_size = 50304; cfg.block_size = 64; cfg.n_layer = 1; cfg.n_head = 6; cfg.n_embd = 384; cfg.dropout = 0.0f;
  cfg.activation = Activation::GELUTanh; cfg.qkv_bias = cfg.proj_bias = cfg.mlp_bias = cfg.ln_bias = true;
  cfg.tied_head = true; cfg.head_bias = false;
  cuda::GptModel<bf16> gpt(cfg, 0);
  const int64_t N = gpt.layout.total;
  std::vector<uint32_t> bits((size_t)N);
  std::uniform_int_distribution<uint32_t> any(0, 0xffffffffu);
  for (auto& b : bits) {
    b = any(g_rng);
    if ((b & 0x7f800000u) == 0x7f800000u) b &= 0xbfffffffu;  // finite patterns
  }
  for (int64_t i = 0; i < N; i += 5) bits[i] = (bits[i] & 0xffff0000u) | 0x8000u;  // ties
  std::vector<float> in((size_t)N), out((size_t)N);
  std::memcpy(in.data(), bits.data(), N * 4);
  gpt.set_masters(in.data());
  gpt.get_masters(out.data());
  std::vector<uint16_t> hw((size_t)N);
  CUDA_CHECK(cudaMemcpy(hw.data(), gpt.work.p, N * 2, cudaMemcpyDeviceToHost));
  int64_t bad = 0, bad_hi = 0;
  for (int64_t i = 0; i < N; i++) {
    uint32_t o;
    std::memcpy(&o, &out[i], 4);
    bad += o != bits[i];
    uint16_t h, l;
    split_master_bits(bits[i], h, l);
    bad_hi += h != hw[i];
  }
  const std::string tag = std::to_string(N) + " parameters, " + std::to_string((N + (16 << 20) - 1) / (16 << 20)) + " stages";
  report_exact("split masters: set_masters then get_masters bit for bit, " + tag, bad == 0, std::to_string(bad) + " differ");
  report_exact("split masters: the model's bf16 weights are the upper halves, " + tag, bad_hi == 0,
               std::to_string(bad_hi) + " differ");
}

// ---------------- split masters (masters.cuh) ----------------
// join(split(x)) = x for every pattern but NaN (which stays NaN in both); the upper half is x rounded to bf16
// to nearest (CUDA's __float2bfloat16_rn) except at exact ties, which go away from zero.
static void check_masters() {
  std::vector<uint32_t> bits;
  std::uniform_int_distribution<uint32_t> any(0, 0xffffffffu);
  for (int i = 0; i < 1 << 20; i++) bits.push_back(any(g_rng));
  for (uint32_t b : {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffffffffu,
                     0x7f7fffffu, 0xff7fffffu, 0x7f7f8000u, 0x00008000u, 0x80018000u, 0x3f808000u, 0x3f818000u,
                     0xbf808000u, 0xbf818000u, 0x0000ffffu, 0x3f807fffu, 0x3f808001u, 0x7fff8000u})
    bits.push_back(b);
  const int64_t n = (int64_t)bits.size();
  float* w = nullptr;
  CUDA_CHECK(cudaMalloc(&w, n * 4));
  CUDA_CHECK(cudaMemcpy(w, bits.data(), n * 4, cudaMemcpyHostToDevice));
  Dev<bf16> hi(n);
  Dev<uint16_t> lo(n);
  Dev<float> back(n);
  split_masters(hi.p, lo.p, w, n, 0);
  join_masters(back.p, hi.p, lo.p, n, 0);
  std::vector<uint16_t> h(n), l(n);
  std::vector<uint32_t> j(n);
  CUDA_CHECK(cudaMemcpy(h.data(), hi.p, n * 2, cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(l.data(), lo.p, n * 2, cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(j.data(), back.p, n * 4, cudaMemcpyDeviceToHost));
  cudaFree(w);
  int64_t bad_join = 0, bad_hi = 0, bad_nan = 0, ties = 0;
  for (int64_t i = 0; i < n; i++) {
    float x;
    std::memcpy(&x, &bits[i], 4);
    const bool nan = std::isnan(x);
    float hx, jx;
    const uint32_t hb = (uint32_t)h[i] << 16;
    std::memcpy(&hx, &hb, 4);
    std::memcpy(&jx, &j[i], 4);
    if (nan) {
      bad_nan += !(std::isnan(hx) && std::isnan(jx));
      continue;
    }
    bad_join += j[i] != bits[i] || l[i] != (bits[i] & 0xffffu);
    const __nv_bfloat16 rn = __float2bfloat16_rn(x);
    uint16_t rb;
    std::memcpy(&rb, &rn, 2);
    if ((bits[i] & 0xffffu) == 0x8000u) {  // a tie: the larger magnitude of the two neighbours
      ties++;
      bad_hi += !(std::fabs(hx) > std::fabs(x) || (std::isinf(hx) && std::isinf(x)));
    } else {
      bad_hi += h[i] != rb;
    }
  }
  report_exact("split masters: join(split(x)) = x, " + std::to_string(n) + " patterns", bad_join == 0,
               std::to_string(bad_join) + " differ");
  report_exact("split masters: upper half = bf16 round-to-nearest (" + std::to_string(ties) + " ties away from 0)",
               bad_hi == 0, std::to_string(bad_hi) + " differ");
  report_exact("split masters: NaN stays NaN", bad_nan == 0, std::to_string(bad_nan) + " lost");
}

// ---------------- warp-per-row attention (generation, and training where flash does not apply) ----------------
template <typename T>
static void check_attention_rows(int B, int T_, int C, int H, float p) {
  const int hs = C / H;
  const float scale = 1.0f / std::sqrt((float)hs);
  const Vec qkv = prep<T>(randn((size_t)B * T_ * 3 * C));
  const uint64_t seed = g_rng();
  Vec out((size_t)B * T_ * C), lse((size_t)B * H * T_);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), B, T_, C, H, scale, p, seed, 0);
  Dev<T> dqkv(qkv), dout((size_t)B * T_ * C);
  Dev<float> dlse((size_t)B * H * T_), scratch((size_t)B * H * T_);
  const int64_t C3 = 3 * (int64_t)C;
  AttnView<T> v{dqkv.p, T_ * C3, C3, dqkv.p + C, T_ * C3, C3, dqkv.p + 2 * C, T_ * C3, C3, dout.p, (int64_t)T_ * C, C};
  const std::string tag = std::string(tname<T>()) + " " + shp({B, T_, C, H}) + " p=" + std::to_string(p).substr(0, 3);
  for (int mode = 1; mode <= 2; mode++) {
    dout.poison();
    dlse.poison();
    attention_rows_forward<T>(v, dlse.p, B, T_, H, hs, 0, scale, p, seed, 0, nullptr, mode);
    const std::string m = mode == 1 ? "warp/row" : "split-keys";
    report("attention_rows forward " + m + " (out) " + tag, rel_err(dout.get(), out), tol_op<T>());
    report("attention_rows forward " + m + " (lse) " + tag, rel_err(dlse.get(), lse), 1e-5);
  }
  const Vec dy = prep<T>(randn((size_t)B * T_ * C));
  const Vec outr = prep<T>(out);
  Vec dq((size_t)B * T_ * 3 * C);
  cpu::attention_backward(dq.data(), dy.data(), qkv.data(), outr.data(), lse.data(), B, T_, C, H, scale, p, seed, 0);
  Dev<T> ddy(dy), dout2(outr), ddq((size_t)B * T_ * 3 * C);
  dlse.upload(lse);
  attention_rows_backward<T>(ddq.p, ddy.p, dqkv.p, dout2.p, dlse.p, B, T_, C, H, scale, p, seed, scratch.p, 0);
  report("attention_rows backward (dqkv) " + tag, rel_err(ddq.get(), dq), tol_op<T>());
  // decode: n new queries at pos0 against a cache
  const int pos0 = T_ / 2, n = T_ - pos0;
  Vec kc((size_t)T_ * C), vc((size_t)T_ * C);
  for (int j = 0; j < T_; j++)
    for (int c = 0; c < C; c++) {
      kc[(size_t)j * C + c] = qkv[(size_t)j * C3 + C + c];
      vc[(size_t)j * C + c] = qkv[(size_t)j * C3 + 2 * C + c];
    }
  Vec dec((size_t)n * C);
  cpu::attention_decode(dec.data(), qkv.data() + (size_t)pos0 * C3, kc.data(), vc.data(), n, pos0, C, H, scale);
  Dev<T> dkc(kc), dvc(vc), ddec((size_t)n * C);
  AttnView<T> v2{dqkv.p + (size_t)pos0 * C3, 0, C3, dkc.p, 0, C, dvc.p, 0, C, ddec.p, 0, C};
  attention_rows_forward<T>(v2, nullptr, 1, n, H, hs, pos0, scale, 0.0f, 0, 0);
  report("attention_rows decode (KV cache) " + tag, rel_err(ddec.get(), dec), tol_op<T>());
  // the same through kv_append and a device-side position (what the generation graph does)
  Dev<T> kc2((size_t)T_ * C), vc2((size_t)T_ * C), ddec2((size_t)n * C);
  Dev<int32_t> dpos(1);
  CUDA_CHECK(cudaMemcpy(kc2.p, dkc.p, (size_t)pos0 * C * sizeof(T), cudaMemcpyDeviceToDevice));
  CUDA_CHECK(cudaMemcpy(vc2.p, dvc.p, (size_t)pos0 * C * sizeof(T), cudaMemcpyDeviceToDevice));
  CUDA_CHECK(cudaMemcpy(dpos.p, &pos0, 4, cudaMemcpyHostToDevice));
  kv_append<T>(kc2.p, vc2.p, dqkv.p + (size_t)pos0 * C3, n, C, 0, dpos.p, 0);
  AttnView<T> v3{dqkv.p + (size_t)pos0 * C3, 0, C3, kc2.p, 0, C, vc2.p, 0, C, ddec2.p, 0, C};
  attention_rows_forward<T>(v3, nullptr, 1, n, H, hs, 0, scale, 0.0f, 0, 0, dpos.p);
  advance_position(dpos.p, n, 0);
  int32_t pos_after = -1;
  CUDA_CHECK(cudaMemcpy(&pos_after, dpos.p, 4, cudaMemcpyDeviceToHost));
  report("attention_rows decode, kv_append + device position " + tag,
         pos_after == T_ ? rel_err(ddec2.get(), dec) : NAN, tol_op<T>());
}

// ---------------- sampling ----------------
static void check_sampling(int V) {
  int same = 0, total = 0;
  Dev<float> dl(V);
  Dev<int32_t> did(1);
  std::vector<float> scratch;
  const float temps[] = {0.0f, 1.0f, 0.8f, 1.3f};
  const int topks[] = {0, 1, 5, 50};
  const float topps[] = {1.0f, 0.9f, 0.5f};
  for (int trial = 0; trial < (g_quick ? 6 : 24); trial++) {
    const Vec logits = randn(V, 2.0f);
    dl.upload(logits);
    SampleParams sp;
    sp.temperature = temps[trial % 4];
    sp.top_k = topks[(trial / 4) % 4];
    sp.top_p = topps[trial % 3];
    sp.seed = g_rng();
    const uint64_t counter = (uint64_t)trial;
    Rng rng(sp.seed);
    rng.count = counter;
    const int32_t cpu_id = sample_token(logits.data(), V, sp, rng, scratch);
    sample_token(did.p, dl.p, V, sp.temperature, sp.top_k, sp.top_p, sp.seed, counter, 0);
    int32_t gid = -1;
    CUDA_CHECK(cudaMemcpy(&gid, did.p, 4, cudaMemcpyDeviceToHost));
    total++;
    if (gid == cpu_id) same++;
  }
  report_exact("sampling (temperature/top-k/top-p) same id as CPU, V=" + std::to_string(V), same >= total - 1,
               std::to_string(same) + "/" + std::to_string(total) + " identical");
  // the counter read on the device (a graph's replays): the same draw as the counter passed by value, and
  // the counter advanced by one for a draw, left as it is for argmax
  uint64_t* dctr = nullptr;
  CUDA_CHECK(cudaMalloc(&dctr, 8));
  bool ok = true;
  for (float temp : {1.0f, 0.0f}) {
    for (uint64_t c : {7ull, 8ull}) {
      int32_t by_value = -1, by_device = -2;
      uint64_t after = 0;
      sample_token(did.p, dl.p, V, temp, 0, 1.0f, 99, c, 0);
      CUDA_CHECK(cudaMemcpy(&by_value, did.p, 4, cudaMemcpyDeviceToHost));
      CUDA_CHECK(cudaMemcpy(dctr, &c, 8, cudaMemcpyHostToDevice));
      sample_token(did.p, dl.p, V, temp, 0, 1.0f, 99, 0, 0, dctr);
      CUDA_CHECK(cudaMemcpy(&by_device, did.p, 4, cudaMemcpyDeviceToHost));
      CUDA_CHECK(cudaMemcpy(&after, dctr, 8, cudaMemcpyDeviceToHost));
      ok = ok && by_value == by_device && after == (temp > 0.0f ? c + 1 : c);
    }
  }
  cudaFree(dctr);
  report_exact("sampling with the counter on the device: same draw, counter advanced per draw, V=" + std::to_string(V),
               ok, "");
  // sample_tokens (the batched decoder's: a block a row, each row its own settings and counter) gives
  // each row the id sample_token gives it alone
  const int R = 12;
  const Vec rows = randn((size_t)R * V, 2.0f);
  Dev<float> drows(rows.size());
  drows.upload(rows);
  std::vector<SampleArgs> args(R);
  for (int r = 0; r < R; r++)
    args[r] = SampleArgs{temps[r % 4], topks[(r / 3) % 4], topps[r % 3], 0, g_rng(), (uint64_t)(7 * r + 1)};
  Dev<SampleArgs> dargs(R);
  CUDA_CHECK(cudaMemcpy(dargs.p, args.data(), R * sizeof(SampleArgs), cudaMemcpyHostToDevice));
  Dev<int32_t> dids(R);
  sample_tokens(dids.p, drows.p, R, V, dargs.p, 0);
  std::vector<int32_t> got(R), alone(R);
  CUDA_CHECK(cudaMemcpy(got.data(), dids.p, R * 4, cudaMemcpyDeviceToHost));
  for (int r = 0; r < R; r++) {
    const SampleArgs& a = args[r];
    sample_token(did.p, drows.p + (size_t)r * V, V, a.temperature, a.top_k, a.top_p, a.seed, a.counter, 0);
    CUDA_CHECK(cudaMemcpy(&alone[r], did.p, 4, cudaMemcpyDeviceToHost));
  }
  int eq = 0;
  for (int r = 0; r < R; r++) eq += got[r] == alone[r];
  report_exact("sample_tokens: " + std::to_string(R) + " rows in one launch, each the id of sample_token alone, V=" +
                   std::to_string(V),
               eq == R, std::to_string(eq) + "/" + std::to_string(R) + " identical");
}

// sample_after_head (decoding's sampling inside the head, sampling.cuh): given the row's packed maximum, the
// id sample_token gives (greedy and plain sampling, many seeds and counters), the counter advanced per draw,
// the position by one, and its scratch left zero for the next token
static void check_sample_after_head(int V) {
  const size_t ns = head_sample_scratch(V);
  Dev<float> dl(V);
  Dev<int32_t> did(1), dpos(1);
  Dev<uint64_t> dctr(1);
  Dev<double> scratch(ns);
  CUDA_CHECK(cudaMemset(scratch.p, 0, ns * sizeof(double)));
  int same = 0, total = 0;
  bool state_ok = true;
  // the next token's embedding (NextEmbedding), fp32 and bf16 four trials each in turn: wte[id] + wpe[pos0 + 1] rounded once,
  // exactly; nothing written in the last trial, whose next position is the block's end
  const int C = 64, block = 80;
  const Vec wte = rounded(randn((size_t)V * C)), wpe = rounded(randn((size_t)block * C));
  Dev<float> wte32(wte), wpe32(wpe), x32(C);
  Dev<bf16> wte16(wte), wpe16(wpe), x16(C);
  bool embed_ok = true;
  const float temps[] = {0.0f, 1.0f, 0.7f, 1.6f};
  const int trials = g_quick ? 8 : 32;
  for (int trial = 0; trial < trials; trial++) {
    const Vec logits = randn(V, 3.0f);
    dl.upload(logits);
    unsigned long long best = 0;
    for (int i = 0; i < V; i++) best = std::max(best, pack_max(logits[i], i));
    CUDA_CHECK(cudaMemcpy(scratch.p, &best, 8, cudaMemcpyHostToDevice));
    const float temp = temps[trial % 4];
    const uint64_t seed = g_rng(), counter = (uint64_t)(trial * 13 + 1);
    const bool edge = trial == trials - 1, bf = (trial / 4) % 2 == 1;
    const int32_t pos0 = edge ? block - 1 : 40 + trial;
    CUDA_CHECK(cudaMemcpy(dctr.p, &counter, 8, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dpos.p, &pos0, 4, cudaMemcpyHostToDevice));
    HeadSample h;
    h.out_id = did.p; h.temperature = temp; h.seed = seed; h.counter_dev = dctr.p; h.scratch = scratch.p;
    NextEmbedding next;
    next.C = C; next.block = block; next.bf16 = bf;
    if (bf) {
      next.x = x16.p; next.wte = wte16.p; next.wpe = wpe16.p;
      x16.poison();
    } else {
      next.x = x32.p; next.wte = wte32.p; next.wpe = wpe32.p;
      x32.poison();
    }
    sample_after_head(h, dl.p, V, dpos.p, 0, &next);
    int32_t fused = -1, alone = -2, pos = 0;
    uint64_t ctr = 0;
    CUDA_CHECK(cudaMemcpy(&fused, did.p, 4, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(&pos, dpos.p, 4, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(&ctr, dctr.p, 8, cudaMemcpyDeviceToHost));
    std::vector<double> left(ns);
    CUDA_CHECK(cudaMemcpy(left.data(), scratch.p, ns * sizeof(double), cudaMemcpyDeviceToHost));
    const Vec x = bf ? x16.get() : x32.get();
    embed_ok = embed_ok && fused >= 0 && fused < V;
    for (int c = 0; c < C && embed_ok; c++) {
      const float sum = wte[(size_t)fused * C + c] + wpe[(size_t)(pos0 + 1) * C + c];
      const float want = bf ? bf16_round(sum) : sum;
      embed_ok = embed_ok && (edge ? std::isnan(x[c]) : x[c] == want);
    }
    sample_token(did.p, dl.p, V, temp, 0, 1.0f, seed, counter, 0);
    CUDA_CHECK(cudaMemcpy(&alone, did.p, 4, cudaMemcpyDeviceToHost));
    total++;
    same += fused == alone;
    state_ok = state_ok && pos == pos0 + 1 && ctr == (temp > 0.0f ? counter + 1 : counter);
    for (double d : left) state_ok = state_ok && d == 0.0;
  }
  report_exact("sample_after_head: the id of sample_token (greedy, plain), V=" + std::to_string(V), same == total,
               std::to_string(same) + "/" + std::to_string(total) + " identical");
  report_exact("sample_after_head: counter, position and scratch left for the next token, V=" + std::to_string(V),
               state_ok, "");
  report_exact("sample_after_head: the next token's embedding (fp32, bf16; none at the block's end), V=" +
                   std::to_string(V), embed_ok, "");
}

// ---------------- whole model ----------------
static ModelConfig small_cfg(bool gpt2, int C, int H, int V, int block, float dropout) {
  ModelConfig c;
  c.vocab_size = V; c.block_size = block; c.n_layer = 2; c.n_head = H; c.n_embd = C; c.dropout = dropout;
  if (gpt2) {
    c.activation = Activation::GELUTanh; c.qkv_bias = c.proj_bias = c.mlp_bias = c.ln_bias = true;
    c.tied_head = true; c.head_bias = false; c.embd_dropout = true;
  } else {
    c.activation = Activation::ReLU; c.qkv_bias = false; c.tied_head = false; c.head_bias = true;
  }
  return c;
}

static void check_model(const ModelConfig& cfg, Precision prec, const char* name, int B, int T_, int steps) {
  const bool bf = prec == Precision::BF16;
  // bf16: activations and matmul inputs are rounded to bf16 at every layer while the CPU keeps fp32
  // activations; with ReLU, pre-activations near 0 can change sign, so allow 5e-2 over all gradients.
  const double tol = bf ? 5e-2 : 1e-4;
  ParamLayout lay(cfg);
  Vec params(lay.total);
  init_parameters(cfg, lay, InitKind::GPT2, g_rng(), params.data());
  auto cpu = cpu::make_engine(cfg);
  std::unique_ptr<Engine> gpu;
  try {
    gpu = cuda::make_engine(cfg, 0, prec);
  } catch (const std::exception& e) {
    report_exact(std::string("model ") + name, false, e.what());
    return;
  }
  // in bf16 mode the GPU computes with bf16 weights: give the CPU the same rounded weights
  const Vec p0 = bf ? rounded(params) : params;
  cpu->set_parameters(p0.data());
  gpu->set_parameters(p0.data());
  std::vector<int32_t> tok((size_t)B * T_), tgt((size_t)B * T_);
  for (auto& t : tok) t = randint(0, cfg.vocab_size - 1);
  for (auto& t : tgt) t = randint(0, cfg.vocab_size - 1);
  const std::string tag = std::string(name) + (bf ? " bf16" : " fp32") + " " + shp({B, T_});
  Vec lc((size_t)B * T_ * cfg.vocab_size), lg(lc.size());
  cpu->forward(tok.data(), B, T_, lc.data());
  gpu->forward(tok.data(), B, T_, lg.data());
  report("model logits " + tag, rel_err(lg, lc), tol);
  const float lossc = cpu->loss(tok.data(), tgt.data(), B, T_), lossg = gpu->loss(tok.data(), tgt.data(), B, T_);
  report("model loss " + tag, std::fabs(lossg - lossc) / std::fabs(lossc), bf ? 1e-2 : 1e-5);
  cpu->forward_backward(tok.data(), tgt.data(), B, T_, false);
  gpu->forward_backward(tok.data(), tgt.data(), B, T_, false);
  Vec gc(lay.total), gg(lay.total);
  cpu->get_gradients(gc.data());
  gpu->get_gradients(gg.data());
  report("model gradients (all) " + tag, rel_err(gg, gc), tol);
  double worst = 0;
  std::string worst_name;
  for (const auto& pi : lay.params) {
    Vec a(gg.begin() + pi.offset, gg.begin() + pi.offset + pi.numel), b(gc.begin() + pi.offset, gc.begin() + pi.offset + pi.numel);
    const double e = rel_err(a, b);
    if (!(e <= worst)) { worst = e; worst_name = pi.name; }
  }
  report("model gradients (worst tensor: " + worst_name + ") " + tag, worst, bf ? 1e-1 : 1e-3);
  // accumulation: a second backward with accumulate doubles the gradients
  gpu->forward_backward(tok.data(), tgt.data(), B, T_, false, 1.0f, true);
  Vec gg2(lay.total), g2ref(lay.total);
  gpu->get_gradients(gg2.data());
  for (size_t i = 0; i < gg.size(); i++) g2ref[i] = 2 * gg[i];
  report("model gradient accumulation " + tag, rel_err(gg2, g2ref), bf ? 1e-2 : 1e-5);
  // training with dropout: same seed, same masks; losses should track
  cpu->set_seed(1234);
  gpu->set_seed(1234);
  AdamWParams ap;
  ap.lr = 1e-3f; ap.weight_decay = 0.1f; ap.grad_clip = 1.0f; ap.beta2 = 0.95f;
  double max_dl = 0, max_dn = 0;
  float first_c = 0, last_c = 0, last_g = 0;
  for (int s = 0; s < steps; s++) {
    for (auto& t : tok) t = randint(0, cfg.vocab_size - 1);
    for (size_t i = 0; i < tgt.size(); i++) tgt[i] = (tok[i] * 7 + 3) % cfg.vocab_size;  // learnable mapping
    StepResult rc = cpu->train_step(tok.data(), tgt.data(), 1, B, T_, ap);
    StepResult rg = gpu->train_step(tok.data(), tgt.data(), 1, B, T_, ap);
    if (s == 0) first_c = rc.loss;
    last_c = rc.loss;
    last_g = rg.loss;
    max_dl = std::max(max_dl, (double)std::fabs(rc.loss - rg.loss) / rc.loss);
    max_dn = std::max(max_dn, (double)std::fabs(rc.grad_norm - rg.grad_norm) / rc.grad_norm);
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "loss %.4f -> cpu %.4f gpu %.4f; max rel loss diff %.1e, grad-norm diff %.1e", first_c,
                last_c, last_g, max_dl, max_dn);
  report_exact("model " + std::to_string(steps) + "-step training tracks CPU " + tag,
               max_dl < (bf ? 5e-2 : 1e-3) && last_c < first_c, buf);
  Vec pc(lay.total), pg(lay.total);
  cpu->get_parameters(pc.data());
  gpu->get_parameters(pg.data());
  Vec dc(lay.total), dg(lay.total);
  for (size_t i = 0; i < pc.size(); i++) { dc[i] = pc[i] - p0[i]; dg[i] = pg[i] - p0[i]; }
  report("model parameters moved alike after training " + tag, rel_err(dg, dc), bf ? 2e-1 : 1e-2);
  // greedy generation with the same weights on both (the GPU's): fp32 must give the CPU's tokens; bf16 too,
  // but for parting ways at a near tie
  cpu->set_parameters(pg.data());
  std::vector<int32_t> prompt(3);
  for (auto& t : prompt) t = randint(0, cfg.vocab_size - 1);
  const int n_new = cfg.block_size + 5;  // runs past the window: exercises the full-window recompute
  std::vector<int32_t> oc, og;
  SampleParams sp;
  sp.temperature = 0.0f;
  cpu->generate(prompt.data(), 3, n_new, sp, [&](int32_t id) { oc.push_back(id); return true; });
  gpu->generate(prompt.data(), 3, n_new, sp, [&](int32_t id) { og.push_back(id); return true; });
  int agree = 0;
  while (agree < (int)std::min(oc.size(), og.size()) && oc[agree] == og[agree]) agree++;
  // bf16 may part ways with the fp32 CPU only at a near tie: where they first differ, the CPU's logit of
  // the GPU's token must lie within 2% of the row's logit range of the CPU's own choice.
  bool tie_ok = agree == n_new;
  std::string why = std::to_string(agree) + "/" + std::to_string(n_new) + " tokens identical before the first difference";
  if (bf && agree < (int)std::min(oc.size(), og.size())) {
    std::vector<int32_t> ctx(prompt);
    ctx.insert(ctx.end(), oc.begin(), oc.begin() + agree);
    if ((int)ctx.size() > cfg.block_size) ctx.erase(ctx.begin(), ctx.end() - cfg.block_size);
    const int n = (int)ctx.size(), V = cfg.vocab_size;
    Vec logits((size_t)n * V);
    cpu->forward(ctx.data(), 1, n, logits.data());
    const float* row = logits.data() + (size_t)(n - 1) * V;
    const float hi = *std::max_element(row, row + V), lo = *std::min_element(row, row + V);
    const float gap = row[oc[agree]] - row[og[agree]];
    tie_ok = gap <= 0.02f * (hi - lo);
    why += "; logit gap there " + std::to_string(gap) + " of range " + std::to_string(hi - lo);
  }
  report_exact("model greedy generation matches CPU " + tag, og.size() == (size_t)n_new && tie_ok, why);
  sp.temperature = 0.9f; sp.top_k = 20; sp.top_p = 0.95f; sp.seed = 42;
  std::vector<int32_t> s1, s2;
  gpu->generate(prompt.data(), 3, 20, sp, [&](int32_t id) { s1.push_back(id); return true; });
  gpu->generate(prompt.data(), 3, 20, sp, [&](int32_t id) { s2.push_back(id); return (int)s2.size() < 20; });
  report_exact("model sampled generation repeats with the same seed " + tag, s1 == s2 && s1.size() == 20, "");
}

// ---------------- timings ----------------
template <typename F>
static float time_ms(F&& f, int reps = 20) {
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; i++) f();
  std::vector<float> ts;
  for (int i = 0; i < reps; i++) {
    CUDA_CHECK(cudaEventRecord(a, 0));
    f();
    CUDA_CHECK(cudaEventRecord(b, 0));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    ts.push_back(ms);
  }
  std::sort(ts.begin(), ts.end());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ts[ts.size() / 2];
}

static void bench() {
  std::printf("\n== timings (median of CUDA-event timings, random inputs) ==\n");
  Gemm lt(true), builtin(false);
  const int shapes[4][3] = {{16384, 768, 2304}, {16384, 768, 3072}, {16384, 3072, 768}, {16384, 768, 50304}};
  for (auto& s : shapes) {
    const int M = s[0], K = s[1], N = s[2];
    Dev<bf16> a(randn((size_t)M * K)), w(randn((size_t)N * K, 0.05f)), y((size_t)M * N);
    const double fl = 2.0 * M * K * N;
    float t1 = lt.using_cublaslt() ? time_ms([&] { linear_forward<bf16>(lt, y.p, a.p, w.p, nullptr, M, K, N, 0); }) : NAN;
    float t2 = time_ms([&] { linear_forward<bf16>(builtin, y.p, a.p, w.p, nullptr, M, K, N, 0); }, 5);
    std::printf("BENCH gemm bf16 %5dx%4d @ %4dx%5d   cuBLASLt %7.3f ms (%5.0f TFLOP/s)   built-in %7.3f ms (%5.0f TFLOP/s)\n",
                M, K, K, N, t1, fl / t1 / 1e9, t2, fl / t2 / 1e9);
  }
  {
    const int64_t N = 124475904;  // GPT-2 124M with the padded vocab
    Dev<float> p(N), m(N), v(N), g(N), norm(1);
    Dev<double> scratch(1024);
    Dev<bf16> hi(N);
    Dev<uint16_t> lo(N);
    Vec h = randn(1 << 20);
    for (int64_t o = 0; o < N; o += h.size()) {
      const size_t c = std::min<int64_t>(h.size(), N - o);
      CUDA_CHECK(cudaMemcpy(p.p + o, h.data(), c * 4, cudaMemcpyHostToDevice));
      CUDA_CHECK(cudaMemcpy(g.p + o, h.data(), c * 4, cudaMemcpyHostToDevice));
    }
    CUDA_CHECK(cudaMemset(m.p, 0, N * 4));
    CUDA_CHECK(cudaMemset(v.p, 0, N * 4));
    std::vector<int64_t> starts{0, N / 3, N / 2, N};
    std::vector<uint8_t> dec{1, 0, 1};
    Dev<int64_t> ds(4);
    Dev<uint8_t> dd(3);
    CUDA_CHECK(cudaMemcpy(ds.p, starts.data(), 32, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dd.p, dec.data(), 3, cudaMemcpyHostToDevice));
    split_masters(hi.p, lo.p, p.p, N, 0);
    const float t = time_ms([&] {
      global_norm(norm.p, g.p, N, scratch.p, 0);
      adamw_update(Masters{nullptr, hi.p, lo.p}, m.p, v.p, g.p, N, ds.p, dd.p, 3, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1,
                   norm.p, 1.0f, 0);
    });
    const double bytes = (double)N * (4 * 4 + 3 * 4 + 4);  // adam r/w (split masters: 4 bytes) + the norm's read of g
    std::printf("BENCH adamw+clip 124M split masters (norm + update)  %7.3f ms (%.2f TB/s effective)\n", t, bytes / t / 1e9);
  }
  // the other kernels of a GPT-2 124M step at their shapes (BT = 16384, C = 768, V = 50304)
  {
    const int BT = 16384, C = 768, V = 50304, F = 3072;
    Dev<bf16> a(randn((size_t)BT * C)), b(randn((size_t)BT * C)), r((size_t)BT * C), o((size_t)BT * C), w(randn(C));
    Dev<float> mean(BT), rstd(BT), dw(Vec(C, 0.0f)), db(Vec(C, 0.0f)), cs(colsum_scratch_floats(BT, V));
    const double bytes_c = (double)BT * C * 2;
    float t = time_ms([&] { residual_layernorm_forward<bf16>(r.p, o.p, mean.p, rstd.p, a.p, b.p, w.p, w.p, BT, C, 1e-5f, 0.0f, 0, 0); });
    std::printf("BENCH residual+layernorm fwd bf16 [16384,768]        %7.3f ms (%.2f TB/s)\n", t, 4 * bytes_c / t / 1e9);
    t = time_ms([&] { layernorm_backward<bf16>(o.p, dw.p, db.p, nullptr, a.p, b.p, w.p, mean.p, rstd.p, BT, C, cs.p, 0); });
    std::printf("BENCH layernorm bwd bf16 [16384,768]                  %7.3f ms (%.2f TB/s)\n", t, 6 * bytes_c / t / 1e9);
    Dev<bf16> big(randn((size_t)BT * F));
    Dev<float> dbias(F);
    t = time_ms([&] { column_sum<bf16>(dbias.p, big.p, BT, F, true, cs.p, 0); });
    std::printf("BENCH bias gradient (column sum) bf16 [16384,3072]   %7.3f ms (%.2f TB/s)\n", t, (double)BT * F * 2 / t / 1e9);
    Dev<bf16> act((size_t)BT * F);
    t = time_ms([&] { activation_forward<bf16>(Activation::GELU, act.p, big.p, (int64_t)BT * F, 0); });
    std::printf("BENCH gelu (exact, unfused) bf16 [16384,3072]        %7.3f ms (%.2f TB/s)\n", t, 2.0 * BT * F * 2 / t / 1e9);
    t = time_ms([&] { activation_backward<bf16>(Activation::GELU, act.p, big.p, act.p, (int64_t)BT * F, 0); });
    std::printf("BENCH gelu backward (exact) bf16 [16384,3072]        %7.3f ms (%.2f TB/s)\n", t, 3.0 * BT * F * 2 / t / 1e9);
    t = time_ms([&] { activation_backward_bias<bf16>(Activation::GELU, act.p, big.p, act.p, BT, F, dbias.p, cs.p, 0); });
    std::printf("BENCH gelu backward + bias grad bf16 [16384,3072]    %7.3f ms (%.2f TB/s)\n", t, 3.0 * BT * F * 2 / t / 1e9);
    t = time_ms([&] { layernorm_backward<bf16>(o.p, dw.p, db.p, dbias.p, a.p, b.p, w.p, mean.p, rstd.p, BT, C, cs.p, 0); });
    std::printf("BENCH layernorm bwd + dinp column sums bf16 [16384,768] %5.3f ms (%.2f TB/s)\n", t, 6 * bytes_c / t / 1e9);
    Dev<bf16> logits(randn((size_t)BT * V));
    Dev<float> losses(BT);
    std::vector<int32_t> tg(BT);
    for (auto& x : tg) x = randint(0, V - 1);
    Dev<int32_t> dt(BT);
    CUDA_CHECK(cudaMemcpy(dt.p, tg.data(), BT * 4, cudaMemcpyHostToDevice));
    t = time_ms([&] { crossentropy_forward_backward<bf16>(losses.p, logits.p, dt.p, BT, V, 1.0f / BT, true, 0); }, 5);
    std::printf("BENCH crossentropy fwd+bwd bf16 [16384,50304]        %7.3f ms (%.2f TB/s)\n", t, 3.0 * BT * V * 2 / t / 1e9);
    EncoderBuckets bk;
    bk.build(tg.data(), BT);
    Dev<int32_t> bt(bk.tokens.size()), bs(bk.start.size()), bp(bk.positions.size());
    CUDA_CHECK(cudaMemcpy(bt.p, bk.tokens.data(), bk.tokens.size() * 4, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(bs.p, bk.start.data(), bk.start.size() * 4, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(bp.p, bk.positions.data(), bk.positions.size() * 4, cudaMemcpyHostToDevice));
    Dev<float> gte((size_t)V * C), gpe((size_t)1024 * C);
    t = time_ms([&] { encoder_backward<bf16>(gte.p, gpe.p, a.p, bt.p, bs.p, bp.p, (int)bk.tokens.size(), 16, 1024, C, 0); });
    std::printf("BENCH embedding bwd bf16 [16,1024,768]                %7.3f ms\n", t);
    auto h0 = std::chrono::steady_clock::now();
    bk.build(tg.data(), BT);
    std::printf("BENCH embedding bucket sort on the host (16384 ids)  %7.3f ms\n",
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - h0).count());
  }
  // GPT-2 124M training step, B=16, T=1024 (bf16, tied head, GELU-tanh, vocab 50304)
  {
    ModelConfig c;
    c.vocab_size = 50304; c.block_size = 1024; c.n_layer = 12; c.n_head = 12; c.n_embd = 768; c.dropout = 0.0f;
    c.activation = Activation::GELUTanh; c.qkv_bias = c.proj_bias = c.mlp_bias = c.ln_bias = true;
    c.tied_head = true; c.head_bias = false;
    ParamLayout lay(c);
    Vec params(lay.total);
    init_parameters(c, lay, InitKind::GPT2, 1, params.data());
    auto e = cuda::make_engine(c, 0, Precision::BF16);
    e->set_parameters(params.data());
    const int B = 16, T_ = 1024;
    std::vector<int32_t> tok((size_t)B * T_), tgt((size_t)B * T_);
    for (auto& t : tok) t = randint(0, 50256);
    for (auto& t : tgt) t = randint(0, 50256);
    AdamWParams ap;
    ap.lr = 6e-4f; ap.beta2 = 0.95f; ap.weight_decay = 0.1f; ap.grad_clip = 1.0f;
    for (int i = 0; i < 3; i++) e->train_step(tok.data(), tgt.data(), 1, B, T_, ap);
    std::vector<double> ts;
    float loss = 0;
    for (int i = 0; i < 10; i++) {
      auto t0 = std::chrono::steady_clock::now();
      loss = e->train_step(tok.data(), tgt.data(), 1, B, T_, ap).loss;
      ts.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ts.begin(), ts.end());
    const double ms = ts[ts.size() / 2];
    auto host_ms = [&](const std::function<void()>& f) {
      std::vector<double> v;
      for (int i = 0; i < 5; i++) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        v.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(v.begin(), v.end());
      return v[2];
    };
    const double t_loss = host_ms([&] { e->loss(tok.data(), tgt.data(), B, T_); });
    const double t_fb = host_ms([&] { e->forward_backward(tok.data(), tgt.data(), B, T_, true); });
    const double t_opt = host_ms([&] { e->optimizer_step(ap); });
    std::printf("BENCH   of which: forward+loss %.1f ms, forward+backward %.1f ms, clip+AdamW %.2f ms\n", t_loss, t_fb, t_opt);
    const double nparams = (double)lay.total - 1024.0 * 768;
    const double flops = (6 * nparams + 12.0 * 12 * 768 * 1024) * B * T_;
    std::printf("BENCH train step GPT-2 124M B=16 T=1024 bf16 (%s)  %7.1f ms  %6.0f k tok/s  MFU %4.1f%%  (loss %.3f)\n",
                e->device().c_str(), ms, B * T_ / ms, 100 * flops / (ms / 1e3) / 989e12, loss);
    // generation: batch 1, KV cache, 200 new tokens
    std::vector<int32_t> prompt{50256};
    SampleParams sp;
    sp.temperature = 1.0f; sp.top_k = 50; sp.seed = 1;
    for (int greedy = 0; greedy < 2; greedy++) {
      if (greedy) sp.temperature = 0.0f;
      int n = 0;
      e->generate(prompt.data(), 1, 20, sp, [&](int32_t) { return true; });
      auto t0 = std::chrono::steady_clock::now();
      e->generate(prompt.data(), 1, 200, sp, [&](int32_t) { n++; return true; });
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("BENCH generate GPT-2 124M batch 1, 200 new tokens (KV cache, %s)  %7.0f tokens/s\n",
                  greedy ? "greedy" : "top-k 50", n / s);
    }
  }
}

int main(int argc, char** argv) {
  bool bench_on = true, checks = true;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--quick") { g_quick = true; bench_on = false; }
    if (a == "--no-bench") bench_on = false;
    if (a == "--bench-only") checks = false;
  }
  const uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  if (!start_checks(seed)) return 0;
  try {
    if (checks) {
      Gemm lt(true), builtin(false);
      std::printf("cuBLASLt plugin: %s\n", lt.using_cublaslt() ? "loaded" : lt.lt_reason().c_str());
      // M <= 4 rows take the GEMV: N 80..2304 (4 or 8 warps a column), 4100 (2), 8200 (1)
      std::vector<std::array<int, 3>> gs = {{7, 13, 5},    {64, 96, 80},    {130, 72, 200},  {1, 768, 2304},
                                            {3, 64, 100},  {4, 96, 80},     {2, 1024, 4100}, {1, 512, 8200}};
      if (!g_quick) gs.push_back({512, 768, 2304});
      for (auto& s : gs) {
        for (Gemm* g : {&lt, &builtin}) {
          if (g == &lt && !lt.using_cublaslt()) continue;
          const char* path = g == &lt ? "cuBLASLt" : "built-in";
          check_gemm<float>(*g, path, s[0], s[1], s[2], true);
          check_gemm<bf16>(*g, path, s[0], s[1], s[2], true);
          check_gemm<bf16>(*g, path, s[0], s[1], s[2], false);
        }
      }
      for (auto s : std::vector<std::array<int, 2>>{{5, 7}, {67, 384}, {300, 770}, {129, 768}, {40, 1024}, {33, 136}, {1, 768}, {3, 1280}}) {
        check_layernorm<float>(s[0], s[1], 0.0f, true);
        check_layernorm<bf16>(s[0], s[1], 0.0f, true);
        check_layernorm<float>(s[0], s[1], 0.25f, false);
        check_layernorm<bf16>(s[0], s[1], 0.25f, true);
      }
      check_encoder<float>(3, 17, 24, 50);
      check_encoder<bf16>(4, 33, 96, 101);
      for (int64_t n : {1, 840, 1000, 31040, 123457}) { check_activations<float>(n); check_activations<bf16>(n); }
      check_activation_tails();
      for (int m : {1, 3}) { check_gemv_activation<float>(m, 768, 3072); check_gemv_activation<bf16>(m, 768, 3072); }
      // each of gemv_forward's shapes: a row in registers (K <= 1024, 2048, 3072, 4096) or streamed past that,
      // one, two or four columns a warp; K = 640: some lanes' third piece and every fourth past K
      for (auto s : std::vector<std::array<int, 3>>{{1, 3072, 768}, {2, 4608, 200}, {4, 768, 9000}, {1, 1024, 2304},
                                                    {2, 2048, 1000}, {3, 4000, 72}, {2, 640, 5000}, {1, 640, 100}}) {
        check_gemv_activation<float>(s[0], s[1], s[2]);
        check_gemv_activation<bf16>(s[0], s[1], s[2]);
      }
      for (int m : {1, 4}) for (int c : {64, 768, 2048}) { check_gemv_fused<float>(m, c); check_gemv_fused<bf16>(m, c); }
      check_classifier<float>(9, 65);
      check_classifier<bf16>(17, 1000);
      check_classifier<float>(4, 50304);
      check_classifier<bf16>(6, 50304);
      check_adamw({5, 1, 300, 7, 1024, 3}, 1.0f);
      check_adamw({4096, 13, 65537}, 0.0f);
      check_adamw({100000, 33}, 1e6f);
      check_masters();
      check_adamw_range();
      check_masters_staged();
      for (auto s : std::vector<std::array<int, 4>>{{1, 5, 16, 2}, {2, 37, 64, 2}, {2, 70, 96, 1}, {1, 40, 192, 3}}) {
        check_attention_rows<float>(s[0], s[1], s[2], s[3], 0.0f);
        check_attention_rows<bf16>(s[0], s[1], s[2], s[3], 0.0f);
        check_attention_rows<float>(s[0], s[1], s[2], s[3], 0.2f);
      }
      check_sampling(65);
      check_sampling(50304);
      check_sample_after_head(65);
      check_sample_after_head(50304);
      check_sample_after_head(70001);
      {
        // GPT-2 (tied, GELU tanh, head size 64); no biases and head size 32 (ReLU, F = 200); head size 128, 3
        // layers; GPT-2 124M's widths and vocabulary (its stage slots, a head of 50257 rows) over 1,000 positions
        ModelConfig g = small_cfg(true, 128, 2, 97, 80, 0.0f);
        ModelConfig nb = small_cfg(false, 96, 3, 80, 72, 0.0f);
        nb.mlp_hidden = 200; nb.proj_bias = nb.mlp_bias = nb.ln_bias = false; nb.head_bias = false;
        ModelConfig h128 = small_cfg(true, 256, 2, 1000, 160, 0.0f);
        h128.n_layer = 3;
        ModelConfig g124 = small_cfg(true, 768, 12, 50257, 1024, 0.0f);
        for (auto* c : {&g, &nb, &h128}) {
          check_decode_persistent<float>(*c, "small", 5, c->block_size - 8);
          check_decode_persistent<bf16>(*c, "small", 5, c->block_size - 8);
        }
        check_decode_persistent<bf16>(g124, "gpt2-124M widths", 900, g_quick ? 12 : 40);
        check_decode_persistent<float>(g124, "gpt2-124M widths", 3, 12);
      }
      const int steps = g_quick ? 3 : 30;
      // head size 16: warp-per-row attention; 64: the flash kernels
      check_model(small_cfg(false, 64, 4, 65, 32, 0.1f), Precision::FP32, "mypt relu hs16", 3, 32, steps);
      check_model(small_cfg(false, 64, 4, 65, 32, 0.1f), Precision::BF16, "mypt relu hs16", 3, 32, steps);
      check_model(small_cfg(true, 128, 2, 97, 48, 0.1f), Precision::FP32, "gpt2 tied gelu_tanh hs64", 2, 40, steps);
      check_model(small_cfg(true, 128, 2, 97, 48, 0.1f), Precision::BF16, "gpt2 tied gelu_tanh hs64", 2, 40, steps);
      {
        ModelConfig c = small_cfg(false, 96, 3, 80, 24, 0.0f);
        c.activation = Activation::GELU;
        c.mlp_hidden = 200;
        check_model(c, Precision::BF16, "gelu-exact hs32 F=200", 2, 24, steps);
      }
    }
    if (bench_on) bench();
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    g_fail++;
  }
  std::printf("\nSUMMARY check_cuda_ops: %d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
