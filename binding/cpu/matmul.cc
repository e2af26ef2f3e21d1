// matmul_forward / matmul_backward (cpu/ops.h): PyTorch's F.linear and its gradients, through gemm.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/ops.h"
#include "cpu/gemm.h"
#include "cpu/simd.h"
#include "engine/threads.h"

namespace mypt {
namespace cpu {
namespace {

constexpr int64_t kFewRows = 4;  // up to this many rows (generation) skip the packing of gemm

// out[r, j] = inp[r] . weight[j] (+ bias[j]) for columns [j0, j1): 16 independent lanes per dot product
MYPT_CLONES void dot_rows(float* out, const float* inp, const float* weight, const float* bias, int64_t rows,
                          int C, int OC, int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; j++) {
    const float* w = weight + j * C;
    for (int64_t r = 0; r < rows; r++) {
      const float* x = inp + r * C;
      float lane[16] = {0};
      int c = 0;
      for (; c + 16 <= C; c += 16)
        for (int l = 0; l < 16; l++) lane[l] += x[c + l] * w[c + l];
      float s = bias ? bias[j] : 0.0f;
      for (; c < C; c++) s += x[c] * w[c];
      for (int l = 0; l < 16; l++) s += lane[l];
      out[r * OC + j] = s;
    }
  }
}

}  // namespace

// out[BT, OC] = inp[BT, C] @ weight[OC, C]^T + bias   (out starts as the bias, then accumulates)
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t BT, int C,
                    int OC) {
  if (BT <= kFewRows) {
    parallel_for(OC, 64, [&](int64_t b, int64_t e) { dot_rows(out, inp, weight, bias, BT, C, OC, b, e); });
    return;
  }
  if (bias) {
    parallel_for(BT, 64, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; r++) std::memcpy(out + r * OC, bias, OC * sizeof(float));
    });
  }
  gemm(out, OC, MatView{inp, C, 1}, MatView{weight, 1, C}, BT, OC, C, bias != nullptr);
}

void matmul_forward_rows(float* out, const float* inp, const float* weight, const float* bias, int64_t rows,
                         int C, int OC) {
  parallel_for(OC, 64, [&](int64_t b, int64_t e) { dot_rows(out, inp, weight, bias, rows, C, OC, b, e); });
}

// dinp += dout @ weight;  dweight += dout^T @ inp;  dbias += column sums of dout
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t BT, int C, int OC) {
  if (dinp) gemm(dinp, C, MatView{dout, OC, 1}, MatView{weight, C, 1}, BT, C, OC, true);
  if (dweight) gemm(dweight, C, MatView{dout, 1, OC}, MatView{inp, C, 1}, OC, C, BT, true);
  if (dbias) {
    // column blocks of 64, rows summed in order: the same result for any thread count
    parallel_for((OC + 63) / 64, 1, [&](int64_t b, int64_t e) {
      for (int64_t blk = b; blk < e; blk++) {
        const int64_t j0 = blk * 64, n = std::min<int64_t>(64, OC - j0);
        float acc[64] = {0};
        for (int64_t r = 0; r < BT; r++) {
          const float* row = dout + r * OC + j0;
          for (int64_t j = 0; j < n; j++) acc[j] += row[j];
        }
        for (int64_t j = 0; j < n; j++) dbias[j0 + j] += acc[j];
      }
    });
  }
}

}  // namespace cpu
}  // namespace mypt
