// The optimizer step over every parameter, in two launches plus one tiny one, no host round trip.
//
// global_norm: norm_out[0] = sqrt(sum g^2) over grad[0..N) (fp32 result of a fixed-order double sum:
//   fixed 1024-block partials, then one block; deterministic). `scratch` needs 1024 doubles.
// adamw_update (torch.optim.AdamW + clip_grad_norm_, engine.h): with the norm read on the device,
//   c = clip > 0 ? min(1, clip / (norm + 1e-6)) : 1;  g = grad * c
//   p *= 1 - lr * wd   (elements of tensors whose decay flag is set)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^t)) * (m / (sqrt(v) / sqrt(1 - b2^t) + eps))   (the CPU's operation order)
//   param (the masters: fp32, or split as a bf16 model holds them, masters.cuh), m, v overwritten.
//   Tensor boundaries: tensor k spans [starts[k], starts[k+1]) (starts has n_tensors + 1 entries,
//   device memory); decay[k] in {0, 1}. grad_scale multiplies the clipped gradient (a data-parallel
//   step passes 1 / world: the gradients are sums over ranks). A range of a larger buffer is updated by
//   passing its pointers (param.at(begin)) and a starts table relative to its first element (begin a
//   multiple of 4; 16-byte aligned buffers).
// sum_squares_add: acc[0] += sum x^2 over x[0..n) (double, fixed order; `scratch` needs 1024 doubles).
// zero_spans: buf[off_k, off_k + len_k) = 0 for each of the n spans given as (off_k, len_k) pairs in device
//   memory, len_k <= kZeroSpan (the gradients that a step's first writer adds to instead of overwriting).
// norm_from_sumsq: norm_out[0] = sqrt(sumsq[0]) * scale (fp32), as global_norm's result.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "masters.cuh"

namespace mypt {
namespace cuda {

void global_norm(float* norm_out, const float* grad, int64_t N, double* scratch, cudaStream_t s);

void adamw_update(const Masters& param, float* m, float* v, const float* grad, int64_t N,
                  const int64_t* starts, const uint8_t* decay, int n_tensors, float lr, float beta1, float beta2,
                  float eps, float weight_decay, int64_t t, const float* norm, float grad_clip, cudaStream_t s,
                  float grad_scale = 1.0f);

void sum_squares_add(double* acc, const float* x, int64_t n, double* scratch, cudaStream_t s);
constexpr int64_t kZeroSpan = 4096;
void zero_spans(float* buf, const int64_t* spans, int n, cudaStream_t s);
void norm_from_sumsq(float* norm_out, const double* sumsq, double scale, cudaStream_t s);

}  // namespace cuda
}  // namespace mypt
