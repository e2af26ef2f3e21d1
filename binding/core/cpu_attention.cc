// Causal self-attention on the CPU (cpu_ops.h: attention_forward / attention_backward).
//
// One task per (batch row b, head h). The forward walks the queries one at a time with a score row of
// T floats (never a T x T matrix) and saves lse = logsumexp of each scaled score row; the backward
// recomputes P = exp(S - lse) row by row:
//   P~ = P * keep / (1 - p)       (dropout on the probabilities),  out_i = sum_j P~_ij v_j
//   dV_j += P~_ij dout_i;  dP_ij = (dout_i . v_j) * keep / (1 - p);  D_i = dout_i . out_i
//   dS_ij = P_ij (dP_ij - D_i);  dq_i = scale sum_j dS_ij k_j;  dk_j += scale dS_ij q_i
// K (and V in the backward) are first copied transposed ([hs][T]) so every inner loop is a plain,
// vectorisable sweep over keys or over the head dimension.
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

struct Shape {
  int B, T, C, H, hs;
  float scale, p;
  uint64_t seed, offset;
  // the scaled keep factor of probability (b, h, i, j): keep / (1 - p), or 1 without dropout
  float keep(int b, int h, int i, int j) const {
    if (p <= 0.0f) return 1.0f;
    uint64_t idx = offset + (((uint64_t)(b * H + h) * T + i) * T + j);
    return dropout_keep(seed, idx, p) ? 1.0f / (1.0f - p) : 0.0f;
  }
};

// s[j] = scale * q . k_j for j <= i, with kt = K^T [hs][T]
static inline void scores(float* s, const float* q, const float* kt, int i, int T, int hs, float scale) {
  for (int j = 0; j <= i; j++) s[j] = 0.0f;
  for (int d = 0; d < hs; d++) {
    const float qd = q[d];
    const float* row = kt + (int64_t)d * T;
    for (int j = 0; j <= i; j++) s[j] += qd * row[j];
  }
  for (int j = 0; j <= i; j++) s[j] *= scale;
}

MYPT_CLONES void head_forward(float* out, float* lse, const float* qkv, int b, int h, const Shape& sh,
                              float* kt, float* s) {
  const int T = sh.T, C = sh.C, hs = sh.hs;
  const int64_t C3 = 3 * (int64_t)C;
  const float* base = qkv + (int64_t)b * T * C3;
  for (int j = 0; j < T; j++)
    for (int d = 0; d < hs; d++) kt[(int64_t)d * T + j] = base[j * C3 + C + h * hs + d];
  for (int i = 0; i < T; i++) {
    const float* q = base + i * C3 + h * hs;
    scores(s, q, kt, i, T, hs, sh.scale);
    float m = -INFINITY;
    for (int j = 0; j <= i; j++) m = std::max(m, s[j]);
    float sum = 0.0f;
    for (int j = 0; j <= i; j++) {
      s[j] = std::exp(s[j] - m);
      sum += s[j];
    }
    lse[((int64_t)b * sh.H + h) * T + i] = m + std::log(sum);
    const float inv = 1.0f / sum;
    float* o = out + ((int64_t)b * T + i) * C + h * hs;
    for (int d = 0; d < hs; d++) o[d] = 0.0f;
    for (int j = 0; j <= i; j++) {
      const float pj = s[j] * inv * sh.keep(b, h, i, j);
      const float* v = base + j * C3 + 2 * C + h * hs;
      for (int d = 0; d < hs; d++) o[d] += pj * v[d];
    }
  }
}

MYPT_CLONES void head_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                               const float* lse, int b, int h, const Shape& sh, float* kt, float* vt,
                               float* dk, float* dv, float* s, float* dp) {
  const int T = sh.T, C = sh.C, hs = sh.hs;
  const int64_t C3 = 3 * (int64_t)C;
  const float* base = qkv + (int64_t)b * T * C3;
  float* dbase = dqkv + (int64_t)b * T * C3;
  for (int j = 0; j < T; j++)
    for (int d = 0; d < hs; d++) {
      kt[(int64_t)d * T + j] = base[j * C3 + C + h * hs + d];
      vt[(int64_t)d * T + j] = base[j * C3 + 2 * C + h * hs + d];
    }
  std::memset(dk, 0, sizeof(float) * T * hs);
  std::memset(dv, 0, sizeof(float) * T * hs);
  for (int i = 0; i < T; i++) {
    const float* q = base + i * C3 + h * hs;
    const float* dO = dout + ((int64_t)b * T + i) * C + h * hs;
    const float* o = out + ((int64_t)b * T + i) * C + h * hs;
    float D = 0.0f;
    for (int d = 0; d < hs; d++) D += dO[d] * o[d];
    scores(s, q, kt, i, T, hs, sh.scale);
    const float l = lse[((int64_t)b * sh.H + h) * T + i];
    for (int j = 0; j <= i; j++) s[j] = std::exp(s[j] - l);
    for (int j = 0; j <= i; j++) dp[j] = 0.0f;
    for (int d = 0; d < hs; d++) {
      const float g = dO[d];
      const float* row = vt + (int64_t)d * T;
      for (int j = 0; j <= i; j++) dp[j] += g * row[j];
    }
    float* dq = dbase + i * C3 + h * hs;
    for (int d = 0; d < hs; d++) dq[d] = 0.0f;
    for (int j = 0; j <= i; j++) {
      const float f = sh.keep(b, h, i, j);
      const float pd = s[j] * f;
      const float ds = s[j] * (dp[j] * f - D) * sh.scale;
      const float* k = base + j * C3 + C + h * hs;
      float* dkj = dk + (int64_t)j * hs;
      float* dvj = dv + (int64_t)j * hs;
      for (int d = 0; d < hs; d++) {
        dvj[d] += pd * dO[d];
        dq[d] += ds * k[d];
        dkj[d] += ds * q[d];
      }
    }
  }
  for (int j = 0; j < T; j++) {
    std::memcpy(dbase + j * C3 + C + h * hs, dk + (int64_t)j * hs, sizeof(float) * hs);
    std::memcpy(dbase + j * C3 + 2 * C + h * hs, dv + (int64_t)j * hs, sizeof(float) * hs);
  }
}

// one query row against cached keys/values 0..last of one head
MYPT_CLONES void head_decode(float* o, const float* q, const float* kc, const float* vc, int last, int C, int hs,
                             float scale, float* s) {
  float m = -INFINITY;
  for (int j = 0; j <= last; j++) {
    const float* k = kc + (int64_t)j * C;
    float a = 0.0f;
    for (int d = 0; d < hs; d++) a += q[d] * k[d];
    s[j] = a * scale;
    m = std::max(m, s[j]);
  }
  float sum = 0.0f;
  for (int j = 0; j <= last; j++) {
    s[j] = std::exp(s[j] - m);
    sum += s[j];
  }
  const float inv = 1.0f / sum;
  for (int d = 0; d < hs; d++) o[d] = 0.0f;
  for (int j = 0; j <= last; j++) {
    const float pj = s[j] * inv;
    const float* v = vc + (int64_t)j * C;
    for (int d = 0; d < hs; d++) o[d] += pj * v[d];
  }
}

}  // namespace

void attention_forward(float* out, float* lse, const float* qkv, int B, int T, int C, int H, float scale,
                       float dropout_p, uint64_t dropout_seed, uint64_t dropout_offset) {
  const Shape sh{B, T, C, H, C / H, scale, dropout_p, dropout_seed, dropout_offset};
  parallel_for((int64_t)B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> buf((size_t)sh.hs * T + T);
    for (int64_t t = begin; t < end; t++)
      head_forward(out, lse, qkv, (int)(t / H), (int)(t % H), sh, buf.data(), buf.data() + (size_t)sh.hs * T);
  });
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                        int B, int T, int C, int H, float scale, float dropout_p, uint64_t dropout_seed,
                        uint64_t dropout_offset) {
  const Shape sh{B, T, C, H, C / H, scale, dropout_p, dropout_seed, dropout_offset};
  parallel_for((int64_t)B * H, 1, [&](int64_t begin, int64_t end) {
    const size_t m = (size_t)sh.hs * T;
    std::vector<float> buf(4 * m + 2 * (size_t)T);
    float* p = buf.data();
    for (int64_t t = begin; t < end; t++)
      head_backward(dqkv, dout, qkv, out, lse, (int)(t / H), (int)(t % H), sh, p, p + m, p + 2 * m, p + 3 * m,
                    p + 4 * m, p + 4 * m + T);
  });
}

void attention_decode(float* out, const float* qkv, const float* kcache, const float* vcache, int n, int pos0,
                      int C, int H, float scale) {
  const int hs = C / H;
  parallel_for((int64_t)n * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> s((size_t)pos0 + n);
    for (int64_t t = begin; t < end; t++) {
      const int i = (int)(t / H), h = (int)(t % H);
      head_decode(out + (int64_t)i * C + h * hs, qkv + (int64_t)i * 3 * C + h * hs, kcache + h * hs,
                  vcache + h * hs, pos0 + i, C, hs, scale, s.data());
    }
  });
}

}  // namespace cpu
}  // namespace mypt
