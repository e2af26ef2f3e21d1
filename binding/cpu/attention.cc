// Causal self-attention on the CPU (cpu/ops.h: attention_forward / attention_backward).
//
// One task per (batch row b, head h), walking blocks of kQB queries; a block's scores against the keys
// it can see ([kQB, <= T], discarded after the block: never a T x T matrix) go through gemm, reading
// q, k, v in place in the fused qkv rows. The forward saves lse = logsumexp of each scaled score row;
// the backward recomputes P = exp(S - lse):
//   P~ = P * keep / (1 - p)       (dropout on the probabilities),  out_i = sum_j P~_ij v_j
//   dV += P~^T dO;  dP = (dO V^T) * keep / (1 - p);  D_i = dO_i . out_i
//   dS = P (dP - D) scale;  dQ = dS K;  dK += dS^T Q
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/ops.h"
#include "engine/dropout.h"
#include "cpu/gemm.h"
#include "cpu/simd.h"
#include "engine/threads.h"

namespace mypt {
namespace cpu {
namespace {

constexpr int kQB = 64;  // queries per block

struct Head {
  int B, T, C, H, hs;
  float scale, p;
  uint64_t seed, offset;
  int64_t C3() const { return 3 * (int64_t)C; }
  // the scaled keep factor of probability (b, h, i, j): keep / (1 - p), or 1 without dropout
  float keep(int b, int h, int i, int j) const {
    if (p <= 0.0f) return 1.0f;
    uint64_t idx = offset + (((uint64_t)(b * H + h) * T + i) * T + j);
    return dropout_keep(seed, idx, p) ? 1.0f / (1.0f - p) : 0.0f;
  }
};

// S[bq, n] = scale * Q[i0 .. i0+bq) K[0 .. n)^T, then the causal mask (-inf where j > i)
void block_scores(float* S, const float* q, const float* k, int i0, int bq, int n, const Head& a) {
  gemm(S, n, MatView{q, a.C3(), 1}, MatView{k, 1, a.C3()}, bq, n, a.hs, false);
  for (int r = 0; r < bq; r++) {
    float* row = S + (int64_t)r * n;
    for (int j = 0; j < n; j++) row[j] = j <= i0 + r ? row[j] * a.scale : -INFINITY;
  }
}

// forward of one (b, h): out and lse
void head_forward(float* out, float* lse, const float* qkv, int b, int h, const Head& a, std::vector<float>& S) {
  const int T = a.T;
  const float* base = qkv + (int64_t)b * T * a.C3() + h * a.hs;  // q of row 0; k at +C, v at +2C
  for (int i0 = 0; i0 < T; i0 += kQB) {
    const int bq = std::min(kQB, T - i0), n = i0 + bq;
    S.resize((size_t)bq * n);
    block_scores(S.data(), base + i0 * a.C3(), base + a.C, i0, bq, n, a);
    for (int r = 0; r < bq; r++) {
      float* row = S.data() + (int64_t)r * n;
      const int i = i0 + r;
      float m = -INFINITY;
      for (int j = 0; j <= i; j++) m = std::max(m, row[j]);
      float sum = 0.0f;
      for (int j = 0; j < n; j++) {
        row[j] = j <= i ? std::exp(row[j] - m) : 0.0f;
        sum += row[j];
      }
      lse[((int64_t)b * a.H + h) * T + i] = m + std::log(sum);
      const float inv = 1.0f / sum;
      for (int j = 0; j <= i; j++) row[j] *= inv * a.keep(b, h, i, j);
    }
    // out[i0 .. i0+bq) = P~ V
    gemm(out + ((int64_t)b * T + i0) * a.C + h * a.hs, a.C, MatView{S.data(), n, 1},
         MatView{base + 2 * a.C, a.C3(), 1}, bq, a.hs, n, false);
  }
}

// backward of one (b, h): its q, k, v columns of dqkv
void head_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b,
                   int h, const Head& a, std::vector<float>& P, std::vector<float>& dP) {
  const int T = a.T, hs = a.hs;
  const int64_t C3 = a.C3();
  const float* base = qkv + (int64_t)b * T * C3 + h * hs;
  float* dbase = dqkv + (int64_t)b * T * C3 + h * hs;
  const float* dO = dout + (int64_t)b * T * a.C + h * hs;
  const float* O = out + (int64_t)b * T * a.C + h * hs;
  for (int j = 0; j < T; j++) {  // dK and dV accumulate over the query blocks
    std::memset(dbase + j * C3 + a.C, 0, sizeof(float) * hs);
    std::memset(dbase + j * C3 + 2 * a.C, 0, sizeof(float) * hs);
  }
  for (int i0 = 0; i0 < T; i0 += kQB) {
    const int bq = std::min(kQB, T - i0), n = i0 + bq;
    P.resize((size_t)bq * n);
    dP.resize((size_t)bq * n);
    block_scores(P.data(), base + i0 * C3, base + a.C, i0, bq, n, a);
    // dP~ = dO V^T
    gemm(dP.data(), n, MatView{dO + (int64_t)i0 * a.C, a.C, 1}, MatView{base + 2 * a.C, 1, C3}, bq, n, hs, false);
    for (int r = 0; r < bq; r++) {
      const int i = i0 + r;
      float* p = P.data() + (int64_t)r * n;
      float* dp = dP.data() + (int64_t)r * n;
      const float l = lse[((int64_t)b * a.H + h) * T + i];
      float D = 0.0f;
      for (int d = 0; d < hs; d++) D += dO[(int64_t)i * a.C + d] * O[(int64_t)i * a.C + d];
      for (int j = 0; j < n; j++) {
        if (j > i) {
          p[j] = 0.0f;
          dp[j] = 0.0f;
          continue;
        }
        const float pj = std::exp(p[j] - l), f = a.keep(b, h, i, j);
        p[j] = pj * f;                            // P~, for dV
        dp[j] = pj * (dp[j] * f - D) * a.scale;  // dS
      }
    }
    // dV[0, n) += P~^T dO;  dQ = dS K;  dK[0, n) += dS^T Q
    gemm(dbase + 2 * a.C, C3, MatView{P.data(), 1, n}, MatView{dO + (int64_t)i0 * a.C, a.C, 1}, n, hs, bq, true);
    gemm(dbase + i0 * C3, C3, MatView{dP.data(), n, 1}, MatView{base + a.C, C3, 1}, bq, hs, n, false);
    gemm(dbase + a.C, C3, MatView{dP.data(), 1, n}, MatView{base + i0 * C3, C3, 1}, n, hs, bq, true);
  }
}

// one query row against cached keys/values 0..last of one head
MYPT_CLONES void head_decode(float* o, const float* q, const float* kc, const float* vc, int last, int C, int hs,
                             float scale, float* s) {
  float m = -INFINITY;
  for (int j = 0; j <= last; j++) {
    const float* k = kc + (int64_t)j * C;
    float lane[16] = {0}, a = 0.0f;  // 16 lanes: a vectorisable dot product
    int d = 0;
    for (; d + 16 <= hs; d += 16)
      for (int l = 0; l < 16; l++) lane[l] += q[d + l] * k[d + l];
    for (; d < hs; d++) a += q[d] * k[d];
    for (int l = 0; l < 16; l++) a += lane[l];
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
#pragma GCC ivdep
    for (int d = 0; d < hs; d++) o[d] += pj * v[d];
  }
}

}  // namespace

void attention_forward(float* out, float* lse, const float* qkv, int B, int T, int C, int H, float scale,
                       float dropout_p, uint64_t dropout_seed, uint64_t dropout_offset) {
  const Head a{B, T, C, H, C / H, scale, dropout_p, dropout_seed, dropout_offset};
  parallel_for((int64_t)B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> S;
    for (int64_t t = begin; t < end; t++) head_forward(out, lse, qkv, (int)(t / H), (int)(t % H), a, S);
  });
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                        int B, int T, int C, int H, float scale, float dropout_p, uint64_t dropout_seed,
                        uint64_t dropout_offset) {
  const Head a{B, T, C, H, C / H, scale, dropout_p, dropout_seed, dropout_offset};
  parallel_for((int64_t)B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> P, dP;
    for (int64_t t = begin; t < end; t++)
      head_backward(dqkv, dout, qkv, out, lse, (int)(t / H), (int)(t % H), a, P, dP);
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
