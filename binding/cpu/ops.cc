// The elementwise and row-wise CPU ops of cpu/ops.h: LayerNorm, activations, cross-entropy, dropout,
// the gradient norm and AdamW. (matmul: cpu_matmul.cc; attention: cpu_attention.cc.)
// Reductions across rows use fixed blocks summed in order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/ops.h"
#include "engine/dropout.h"
#include "cpu/simd.h"
#include "engine/threads.h"

namespace mypt {
namespace cpu {
namespace {

constexpr int64_t kRowBlock = 32;       // rows per partial sum in LayerNorm's weight gradient
constexpr int64_t kElemGrain = 16384;   // elements per task for elementwise ops
constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kKappa = 0.044715f;

// sum of f(0..C-1) in 16 independent lanes (vectorisable without reassociating a single sum)
template <class F>
static inline __attribute__((always_inline)) float lanes(int C, F f) {
  float lane[16] = {0};
  int i = 0;
  for (; i + 16 <= C; i += 16)
    for (int l = 0; l < 16; l++) lane[l] += f(i + l);
  float total = 0.0f;
  for (; i < C; i++) total += f(i);
  for (int l = 0; l < 16; l++) total += lane[l];
  return total;
}

// per row: mean, rstd = 1/sqrt(biased var + eps) (two passes, as PyTorch), y = (x - mean) rstd w + b
MYPT_CLONES void layernorm_rows(float* out, float* mean, float* rstd, const float* inp, const float* w,
                                const float* b, int64_t r0, int64_t r1, int C, float eps) {
  for (int64_t r = r0; r < r1; r++) {
    const float* x = inp + r * C;
    float* y = out + r * C;
    const float m = lanes(C, [&](int i) { return x[i]; }) / C;
    const float v = lanes(C, [&](int i) { return (x[i] - m) * (x[i] - m); }) / C;
    const float s = 1.0f / std::sqrt(v + eps);
    mean[r] = m;
    rstd[r] = s;
    if (b)
      for (int i = 0; i < C; i++) y[i] = (x[i] - m) * s * w[i] + b[i];
    else
      for (int i = 0; i < C; i++) y[i] = (x[i] - m) * s * w[i];
  }
}

// dinp rows of [r0, r1); partial dweight/dbias of those rows into pw/pb
MYPT_CLONES void layernorm_back_rows(float* dinp, float* pw, float* pb, const float* dout, const float* inp,
                                     const float* w, const float* mean, const float* rstd, int64_t r0,
                                     int64_t r1, int C) {
  for (int64_t r = r0; r < r1; r++) {
    const float* x = inp + r * C;
    const float* g = dout + r * C;
    const float m = mean[r], s = rstd[r];
    const float dmean = lanes(C, [&](int i) { return w[i] * g[i]; }) / C;
    const float dnorm_mean = lanes(C, [&](int i) { return w[i] * g[i] * (x[i] - m) * s; }) / C;
    float* dx = dinp + r * C;
    for (int i = 0; i < C; i++) {
      const float n = (x[i] - m) * s;
      dx[i] += (w[i] * g[i] - dmean - n * dnorm_mean) * s;
      pw[i] += n * g[i];
    }
    if (pb)
      for (int i = 0; i < C; i++) pb[i] += g[i];
  }
}

MYPT_CLONES void adamw_span(float* p, float* m, float* v, const float* g, int64_t n, float decay_mul,
                            float b1, float one_b1, float b2, float one_b2, float step_size, float bc2_sqrt,
                            float eps, float grad_scale) {
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i] * grad_scale;
    p[i] *= decay_mul;
    m[i] = m[i] * b1 + gi * one_b1;
    v[i] = v[i] * b2 + gi * gi * one_b2;
    p[i] -= step_size * (m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps));
  }
}

// Elementwise kernels over one span (the pool cuts the whole range into spans). Compiled per ISA;
// each element reads and writes only itself, so in place is fine (ivdep).
#define MYPT_SPAN(name, body)                                                                      \
  MYPT_CLONES void name(float* out, const float* a, const float* b, int64_t n) {                   \
    _Pragma("GCC ivdep") for (int64_t i = 0; i < n; i++) { body; }                                \
  }

// out = f(a [, b]) over N elements, in parallel spans
void spans(void (*fn)(float*, const float*, const float*, int64_t), float* out, const float* a, const float* b,
           int64_t N) {
  parallel_for(N, kElemGrain, [=](int64_t s, int64_t e) { fn(out + s, a + s, b ? b + s : nullptr, e - s); });
}


// gelu: x * Phi(x), Phi(x) = 0.5 (1 + erf(x / sqrt 2)) = 0.5 erfc(-x / sqrt 2);  d/dx = Phi(x) + x phi(x).
// Phi through erfc: 1 + erf cancels for negative x (x = -3 keeps about 4 of float's 7 digits).
MYPT_SPAN(gelu_span, out[i] = 0.5f * a[i] * std::erfc(-a[i] * kInvSqrt2))
MYPT_SPAN(gelu_back_span, {
  const float x = a[i];
  const float cdf = 0.5f * std::erfc(-x * kInvSqrt2);
  const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x * x);
  out[i] = b[i] * (cdf + x * pdf);
})
// gelu_tanh: 0.5 x (1 + tanh(u)) = x s, u = sqrt(2/pi) (x + 0.044715 x^3), s = sigmoid(2u) = 1 / (1 + e^-2u);
// d/dx = s + 2 x s (1 - s) u', with 1 - s = sigmoid(-2u). (1 + tanh u and 1 - tanh^2 u cancel for large |u|.)
MYPT_SPAN(gelu_tanh_span, {
  const float u = kSqrt2OverPi * (a[i] + kKappa * a[i] * a[i] * a[i]);
  out[i] = a[i] / (1.0f + std::exp(-2.0f * u));
})
MYPT_SPAN(gelu_tanh_back_span, {
  const float x = a[i];
  const float u = kSqrt2OverPi * (x + kKappa * x * x * x);
  const float s = 1.0f / (1.0f + std::exp(-2.0f * u));
  const float sc = 1.0f / (1.0f + std::exp(2.0f * u));
  const float du = kSqrt2OverPi * (1.0f + 3.0f * kKappa * x * x);
  out[i] = b[i] * (s + 2.0f * x * s * sc * du);
})
MYPT_SPAN(relu_span, out[i] = a[i] > 0.0f ? a[i] : 0.0f)
MYPT_SPAN(relu_back_span, out[i] = a[i] > 0.0f ? b[i] : 0.0f)
MYPT_SPAN(add_span, out[i] = a[i] + b[i])

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t BT, int C, float eps) {
  parallel_for(BT, 16, [&](int64_t b, int64_t e) { layernorm_rows(out, mean, rstd, inp, weight, bias, b, e, C, eps); });
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t BT, int C) {
  const int64_t nb = (BT + kRowBlock - 1) / kRowBlock;
  std::vector<float> part((size_t)nb * C * (dbias ? 2 : 1), 0.0f);
  parallel_for(nb, 1, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; blk++) {
      float* pw = part.data() + blk * C;
      float* pb = dbias ? part.data() + (nb + blk) * C : nullptr;
      layernorm_back_rows(dinp, pw, pb, dout, inp, weight, mean, rstd, blk * kRowBlock,
                          std::min(BT, (blk + 1) * kRowBlock), C);
    }
  });
  for (int64_t blk = 0; blk < nb; blk++)
    for (int i = 0; i < C; i++) {
      dweight[i] += part[blk * C + i];
      if (dbias) dbias[i] += part[(nb + blk) * C + i];
    }
}


void gelu_forward(float* out, const float* inp, int64_t N) { spans(gelu_span, out, inp, nullptr, N); }
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t N) { spans(gelu_back_span, dinp, inp, dout, N); }
void gelu_tanh_forward(float* out, const float* inp, int64_t N) { spans(gelu_tanh_span, out, inp, nullptr, N); }
void gelu_tanh_backward(float* dinp, const float* inp, const float* dout, int64_t N) {
  spans(gelu_tanh_back_span, dinp, inp, dout, N);
}
void relu_forward(float* out, const float* inp, int64_t N) { spans(relu_span, out, inp, nullptr, N); }
void relu_backward(float* dinp, const float* inp, const float* dout, int64_t N) { spans(relu_back_span, dinp, inp, dout, N); }
void add_forward(float* out, const float* a, const float* b, int64_t N) { spans(add_span, out, a, b, N); }

// loss = logsumexp(l) - l[t];  dl = (softmax(l) - onehot(t)) * dloss, the exps kept in dl meanwhile
float crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                    const int32_t* targets, int64_t BT, int V, float dloss) {
  parallel_for(BT, 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      const float* l = logits + r * V;
      float m = -INFINITY;
      for (int j = 0; j < V; j++) m = std::max(m, l[j]);
      double sum = 0.0;
      float* d = dlogits ? dlogits + r * V : nullptr;
      for (int j = 0; j < V; j++) {
        const float ex = std::exp(l[j] - m);
        sum += ex;
        if (d) d[j] = ex;
      }
      const float lse = m + (float)std::log(sum);
      const int t = targets[r];
      losses[r] = lse - l[t];
      if (d) {
        const float inv = (float)(1.0 / sum);
        for (int j = 0; j < V; j++) d[j] = d[j] * inv * dloss;
        d[t] -= dloss;
      }
    }
  });
  double total = 0.0;
  for (int64_t r = 0; r < BT; r++) total += losses[r];
  return BT > 0 ? (float)(total / BT) : 0.0f;
}

void dropout_forward(float* out, const float* inp, int64_t N, float p, uint64_t seed, uint64_t offset) {
  const float scale = 1.0f / (1.0f - p);
  parallel_for(N, kElemGrain, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) out[i] = dropout_keep(seed, offset + i, p) ? inp[i] * scale : 0.0f;
  });
}
void dropout_backward(float* dinp, const float* dout, int64_t N, float p, uint64_t seed, uint64_t offset) {
  dropout_forward(dinp, dout, N, p, seed, offset);
}

double sum_squares(const float* x, int64_t N) {
  const int64_t nb = (N + kElemGrain - 1) / kElemGrain;
  std::vector<double> part((size_t)nb, 0.0);
  parallel_for(nb, 1, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; blk++) {
      double s = 0.0;
      for (int64_t i = blk * kElemGrain, n = std::min(N, (blk + 1) * kElemGrain); i < n; i++) s += (double)x[i] * x[i];
      part[blk] = s;
    }
  });
  double s = 0.0;
  for (double v : part) s += v;
  return s;
}

// torch.optim.AdamW (single-tensor path): scalars computed in double as Python does, applied in fp32.
void adamw_update(float* param, float* m, float* v, const float* grad, int64_t N, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int64_t t, float grad_scale) {
  const double bc1 = 1.0 - std::pow((double)beta1, (double)t);
  const double bc2 = 1.0 - std::pow((double)beta2, (double)t);
  const float decay_mul = (float)(1.0 - (double)lr * weight_decay);
  const float step_size = (float)(lr / bc1);
  const float bc2_sqrt = (float)std::sqrt(bc2);
  const float one_b1 = (float)(1.0 - beta1), one_b2 = (float)(1.0 - beta2);
  parallel_for(N, kElemGrain, [&](int64_t b, int64_t e) {
    adamw_span(param + b, m + b, v + b, grad + b, e - b, decay_mul, beta1, one_b1, beta2, one_b2, step_size,
               bc2_sqrt, eps, grad_scale);
  });
}

}  // namespace cpu
}  // namespace mypt
