// Embedding kernels; contract in encoder.cuh.
#include <algorithm>
#include <numeric>

#include "encoder.cuh"

namespace mypt {
namespace cuda {

void EncoderBuckets::build(const int32_t* tok, int64_t BT) {
  positions.resize(BT);
  std::iota(positions.begin(), positions.end(), 0);
  std::stable_sort(positions.begin(), positions.end(), [&](int32_t a, int32_t b) { return tok[a] < tok[b]; });
  tokens.clear();
  start.clear();
  for (int64_t i = 0; i < BT; i++) {
    if (i == 0 || tok[positions[i]] != tok[positions[i - 1]]) {
      tokens.push_back(tok[positions[i]]);
      start.push_back((int32_t)i);
    }
  }
  start.push_back((int32_t)BT);
}

namespace {

template <typename T>
__global__ void encoder_forward_kernel(T* out, const int32_t* tokens, const T* wte, const T* wpe, int64_t BT,
                                       int T_, int C, int pos0, const int32_t* pos_dev) {
  if (pos_dev) pos0 = *pos_dev;
  const int64_t N = BT * C;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t row = i / C;
    const int c = (int)(i % C);
    const int t = (int)(row % T_);
    out[i] = embed_value(wte[(int64_t)tokens[row] * C + c], wpe[(int64_t)(pos0 + t) * C + c]);
  }
}

template <typename T>
__global__ void encoder_backward_wte_kernel(float* dwte, const T* dout, const int32_t* btok, const int32_t* bstart,
                                            const int32_t* positions, int C) {
  const int u = blockIdx.x;
  const int c = blockIdx.y * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float s = 0.0f;
  for (int i = bstart[u]; i < bstart[u + 1]; i++) s += to_f(dout[(int64_t)positions[i] * C + c]);
  dwte[(int64_t)btok[u] * C + c] += s;
}

template <typename T>
__global__ void encoder_backward_wpe_kernel(float* dwpe, const T* dout, int B, int T_, int C) {
  const int t = blockIdx.x;
  const int c = blockIdx.y * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float s = 0.0f;
  for (int b = 0; b < B; b++) s += to_f(dout[((int64_t)b * T_ + t) * C + c]);
  dwpe[(int64_t)t * C + c] += s;
}

}  // namespace

template <typename T>
void encoder_forward(T* out, const int32_t* tokens, const T* wte, const T* wpe, int B, int T_, int C, int pos0,
                     cudaStream_t s, const int32_t* pos_dev) {
  const int64_t N = (int64_t)B * T_ * C;
  if (N <= 0) return;
  int64_t g = std::min<int64_t>((N + 255) / 256, 65536);
  encoder_forward_kernel<T><<<(unsigned)g, 256, 0, s>>>(out, tokens, wte, wpe, (int64_t)B * T_, T_, C, pos0, pos_dev);
  CUDA_CHECK_LAUNCH("encoder_forward");
}

template <typename T>
void encoder_backward(float* dwte, float* dwpe, const T* dout, const int32_t* d_bucket_tokens,
                      const int32_t* d_bucket_start, const int32_t* d_positions, int U, int B, int T_, int C,
                      cudaStream_t s) {
  if (U > 0) {
    dim3 grid((unsigned)U, ceil_div(C, 128));
    encoder_backward_wte_kernel<T><<<grid, 128, 0, s>>>(dwte, dout, d_bucket_tokens, d_bucket_start, d_positions, C);
    CUDA_CHECK_LAUNCH("encoder_backward (wte)");
  }
  if (dwpe && T_ > 0) {
    dim3 grid((unsigned)T_, ceil_div(C, 128));
    encoder_backward_wpe_kernel<T><<<grid, 128, 0, s>>>(dwpe, dout, B, T_, C);
    CUDA_CHECK_LAUNCH("encoder_backward (wpe)");
  }
}

#define INST(T)                                                                                              \
  template void encoder_forward<T>(T*, const int32_t*, const T*, const T*, int, int, int, int, cudaStream_t, const int32_t*); \
  template void encoder_backward<T>(float*, float*, const T*, const int32_t*, const int32_t*, const int32_t*, \
                                    int, int, int, int, cudaStream_t);
INST(float)
INST(bf16)
#undef INST

}  // namespace cuda
}  // namespace mypt
