// The elementwise and row-wise CPU ops of cpu_ops.h: LayerNorm, activations, cross-entropy, dropout,
// the gradient norm and AdamW. (matmul: cpu_matmul.cc; attention: cpu_attention.cc.)
// Reductions across rows use fixed blocks summed in order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_ops.h"
#include "dropout.h"
#include "simd.h"
#include "threads.h"

namespace mypt {
namespace cpu {
namespace {

constexpr int64_t kRowBlock = 32;       // rows per partial sum in LayerNorm's weight gradient
constexpr int64_t kElemGrain = 16384;   // elements per task for elementwise ops

// mean and rstd of one row, in double (PyTorch: biased variance, rstd = 1/sqrt(var + eps))
void row_moments(const float* x, int C, float eps, float* mean, float* rstd) {
  double s = 0.0;
  for (int i = 0; i < C; i++) s += x[i];
  const double m = s / C;
  double v = 0.0;
  for (int i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
  *mean = (float)m;
  *rstd = (float)(1.0 / std::sqrt(v / C + eps));
}

MYPT_CLONES void layernorm_rows(float* out, float* mean, float* rstd, const float* inp, const float* w,
                                const float* b, int64_t r0, int64_t r1, int C, float eps) {
  for (int64_t r = r0; r < r1; r++) {
    const float* x = inp + r * C;
    float* y = out + r * C;
    row_moments(x, C, eps, mean + r, rstd + r);
    const float m = mean[r], s = rstd[r];
    for (int i = 0; i < C; i++) y[i] = (x[i] - m) * s * w[i] + (b ? b[i] : 0.0f);
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
    float dmean = 0.0f, dnorm_mean = 0.0f;
    for (int i = 0; i < C; i++) {
      const float n = (x[i] - m) * s, dn = w[i] * g[i];
      dmean += dn;
      dnorm_mean += dn * n;
    }
    dmean /= C;
    dnorm_mean /= C;
    float* dx = dinp + r * C;
    for (int i = 0; i < C; i++) {
      const float n = (x[i] - m) * s;
      dx[i] += (w[i] * g[i] - dmean - n * dnorm_mean) * s;
      pw[i] += n * g[i];
      if (pb) pb[i] += g[i];
    }
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

template <class F>
void elementwise(int64_t N, F&& f) {
  parallel_for(N, kElemGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) f(i);
  });
}

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kKappa = 0.044715f;

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

// x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2));  d/dx = Phi(x) + x phi(x)
void gelu_forward(float* out, const float* inp, int64_t N) {
  elementwise(N, [&](int64_t i) { out[i] = 0.5f * inp[i] * (1.0f + std::erf(inp[i] * kInvSqrt2)); });
}
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t N) {
  elementwise(N, [&](int64_t i) {
    const float x = inp[i];
    const float cdf = 0.5f * (1.0f + std::erf(x * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x * x);
    dinp[i] = dout[i] * (cdf + x * pdf);
  });
}

// 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
void gelu_tanh_forward(float* out, const float* inp, int64_t N) {
  elementwise(N, [&](int64_t i) {
    const float x = inp[i];
    out[i] = 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + kKappa * x * x * x)));
  });
}
void gelu_tanh_backward(float* dinp, const float* inp, const float* dout, int64_t N) {
  elementwise(N, [&](int64_t i) {
    const float x = inp[i];
    const float t = std::tanh(kSqrt2OverPi * (x + kKappa * x * x * x));
    const float du = kSqrt2OverPi * (1.0f + 3.0f * kKappa * x * x);
    dinp[i] = dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
  });
}

void relu_forward(float* out, const float* inp, int64_t N) {
  elementwise(N, [&](int64_t i) { out[i] = inp[i] > 0.0f ? inp[i] : 0.0f; });
}
void relu_backward(float* dinp, const float* inp, const float* dout, int64_t N) {
  elementwise(N, [&](int64_t i) { dinp[i] = inp[i] > 0.0f ? dout[i] : 0.0f; });
}

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
  elementwise(N, [&](int64_t i) { out[i] = dropout_keep(seed, offset + i, p) ? inp[i] * scale : 0.0f; });
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
