// matmul_forward / matmul_backward (cpu_ops.h): PyTorch's F.linear and its gradients, through gemm.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu_ops.h"
#include "gemm.h"
#include "threads.h"

namespace mypt {
namespace cpu {

// out[BT, OC] = inp[BT, C] @ weight[OC, C]^T + bias   (out starts as the bias, then accumulates)
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t BT, int C,
                    int OC) {
  if (bias) {
    parallel_for(BT, 64, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; r++) std::memcpy(out + r * OC, bias, OC * sizeof(float));
    });
  }
  gemm(out, OC, MatView{inp, C, 1}, MatView{weight, 1, C}, BT, OC, C, bias != nullptr);
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
