// CPU operations of the modded-nanogpt forward pass; modded_ops.h states the math of each.
#include "cpu/modded_ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/gemm.h"
#include "engine/modded.h"
#include "engine/threads.h"

namespace mypt {
namespace modded {

namespace {
// Dot products of one weight row w[C] with four input rows (x0..x3), eight partial sums each so the
// compiler can vectorise the loop without reassociating a single accumulator.
inline void dot4(float* r, const float* x0, const float* x1, const float* x2, const float* x3, const float* w,
                 int C) {
  float a0[8] = {0}, a1[8] = {0}, a2[8] = {0}, a3[8] = {0};
  int k = 0;
  for (; k + 8 <= C; k += 8) {
    for (int j = 0; j < 8; j++) {
      const float wk = w[k + j];
      a0[j] += x0[k + j] * wk;
      a1[j] += x1[k + j] * wk;
      a2[j] += x2[k + j] * wk;
      a3[j] += x3[k + j] * wk;
    }
  }
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (int j = 0; j < 8; j++) { s0 += a0[j]; s1 += a1[j]; s2 += a2[j]; s3 += a3[j]; }
  for (; k < C; k++) { s0 += x0[k] * w[k]; s1 += x1[k] * w[k]; s2 += x2[k] * w[k]; s3 += x3[k] * w[k]; }
  r[0] = s0; r[1] = s1; r[2] = s2; r[3] = s3;
}

inline float dot1(const float* x, const float* w, int C) {
  float a[8] = {0};
  int k = 0;
  for (; k + 8 <= C; k += 8)
    for (int j = 0; j < 8; j++) a[j] += x[k + j] * w[k + j];
  float s = 0;
  for (int j = 0; j < 8; j++) s += a[j];
  for (; k < C; k++) s += x[k] * w[k];
  return s;
}

// out[N, O] (= or +=) x[N, C] @ W[O, C]^T; threads split the output columns (weight rows), so each
// weight row is read from memory once and reused across every input row.
void linear_impl(float* out, const float* x, const float* W, int64_t N, int C, int O, bool add) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, N * (int64_t)C / 64));
  parallel_for(O, grain, [&](int64_t o0, int64_t o1) {
    float r[4];
    for (int64_t o = o0; o < o1; o++) {
      const float* w = W + o * C;
      int64_t n = 0;
      for (; n + 4 <= N; n += 4) {
        dot4(r, x + n * C, x + (n + 1) * C, x + (n + 2) * C, x + (n + 3) * C, w, C);
        for (int j = 0; j < 4; j++) {
          float& dst = out[(n + j) * O + o];
          dst = add ? dst + r[j] : r[j];
        }
      }
      for (; n < N; n++) {
        float& dst = out[n * O + o];
        const float v = dot1(x + n * C, w, C);
        dst = add ? dst + v : v;
      }
    }
  });
}
}  // namespace

void rmsnorm(float* out, const float* x, int64_t N, int C, float eps) {
  parallel_for(N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * C;
      float* o = out + r * C;
      double ss = 0;
      for (int c = 0; c < C; c++) ss += (double)xr[c] * xr[c];
      const float rstd = 1.0f / std::sqrt((float)(ss / C) + eps);
      for (int c = 0; c < C; c++) o[c] = xr[c] * rstd;
    }
  });
}

// From this many rows on (a prompt, a forward pass) the engine's packed GEMM wins; below it (one row per
// generated token) the row-dot kernel, which reads each weight row once without packing it.
constexpr int64_t kPackedGemmRows = 16;

void linear(float* out, const float* x, const float* W, int64_t N, int C, int O) {
  if (N >= kPackedGemmRows) return cpu::gemm(out, O, {x, C, 1}, {W, 1, C}, N, O, C, false);
  linear_impl(out, x, W, N, C, O, false);
}

void linear_add(float* out, const float* x, const float* W, int64_t N, int C, int O) {
  if (N >= kPackedGemmRows) return cpu::gemm(out, O, {x, C, 1}, {W, 1, C}, N, O, C, true);
  linear_impl(out, x, W, N, C, O, true);
}

void relu_square(float* x, int64_t n) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) {
      const float v = x[i] > 0.0f ? x[i] : 0.0f;
      x[i] = v * v;
    }
  });
}

void rotary(float* x, int64_t N, int H, int D, int64_t pos0, float base) {
  const int half = D / 2;
  std::vector<float> freqs(half);
  rotary_freqs(freqs.data(), D, base);
  parallel_for(N, 16, [&](int64_t n0, int64_t n1) {
    std::vector<float> c(half), s(half);
    for (int64_t n = n0; n < n1; n++) {
      const float pos = (float)(pos0 + n);
      for (int j = 0; j < half; j++) {
        const float th = pos * freqs[j];
        c[j] = std::cos(th);
        s[j] = std::sin(th);
      }
      for (int h = 0; h < H; h++) {
        float* v = x + (n * H + h) * D;
        for (int j = 0; j < half; j++) {
          const float x1 = v[j], x2 = v[j + half];
          v[j] = x1 * c[j] + x2 * s[j];
          v[j + half] = -x1 * s[j] + x2 * c[j];
        }
      }
    }
  });
}

void masked_attention(float* out, const float* q, const float* kc, const float* vc, const KeyRanges& keys, int64_t N,
                      int H, int D, float scale) {
  const int64_t HD = (int64_t)H * D;
  int64_t P = 1;
  for (int64_t e : keys.end) P = std::max(P, e);
  parallel_for(N * H, std::max<int64_t>(1, 4096 / P), [&](int64_t w0, int64_t w1) {
    std::vector<float> att(P);
    for (int64_t w = w0; w < w1; w++) {
      const int64_t n = w / H;
      const int h = (int)(w % H);
      const int64_t r0 = keys.first[n], r1 = keys.first[n + 1];
      const float* qv = q + n * HD + (int64_t)h * D;
      float mx = -INFINITY;
      for (int64_t r = r0; r < r1; r++)
        for (int64_t j = keys.begin[r]; j < keys.end[r]; j++) {
          const float sc = dot1(qv, kc + j * HD + (int64_t)h * D, D) * scale;
          att[j] = sc;
          mx = std::max(mx, sc);
        }
      double sum = 0;
      for (int64_t r = r0; r < r1; r++)
        for (int64_t j = keys.begin[r]; j < keys.end[r]; j++) {
          att[j] = std::exp(att[j] - mx);
          sum += att[j];
        }
      const float inv = (float)(1.0 / sum);
      float* o = out + n * HD + (int64_t)h * D;
      for (int d = 0; d < D; d++) o[d] = 0.0f;
      for (int64_t r = r0; r < r1; r++)
        for (int64_t j = keys.begin[r]; j < keys.end[r]; j++) {
          const float a = att[j] * inv;
          const float* vv = vc + j * HD + (int64_t)h * D;
          for (int d = 0; d < D; d++) o[d] += a * vv[d];
        }
    }
  });
}

}  // namespace modded
}  // namespace mypt
