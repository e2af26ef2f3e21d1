// The CPU backend's operations, one function per op. Each is the reference its CUDA kernel is checked
// against (test/native/check_cuda_ops.cu). Arguments: outputs, then inputs, then sizes. Tensors are
// fp32, row-major, contiguous. "+=" means the op accumulates into that output; "=" overwrites.
// BT = B*T rows. Multi-threaded over the process-wide pool (engine/threads.h: set_cpu_threads).
#pragma once
#include <cstdint>

namespace mypt {
namespace cpu {

// out[BT, OC] = inp[BT, C] @ weight[OC, C]^T (+ bias[OC])            (PyTorch F.linear)
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias,
                    int64_t BT, int C, int OC);
// matmul_forward's few-rows path for any number of rows: each row's result is bit for bit the one
// matmul_forward gives that row in a call of at most 4 rows (generation's one token), so a batch of
// sequences decoding one token each matches each sequence decoded alone (cpu/decoder.cc).
void matmul_forward_rows(float* out, const float* inp, const float* weight, const float* bias, int64_t rows,
                         int C, int OC);
// dinp[BT, C] += dout @ weight;  dweight[OC, C] += dout^T @ inp;  dbias[OC] += sum_rows dout
// (dinp, dweight, dbias may each be null: not computed)
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t BT, int C, int OC);

// out = (x - mean) * rstd * weight + bias over the last dim C; mean[BT], rstd[BT] saved (biased var, eps)
// bias may be null (no shift).
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t BT, int C, float eps);
// dinp += ..., dweight += ..., dbias += ... (dbias may be null)
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t BT, int C);

// Causal multi-head attention on the fused qkv[B, T, 3C] (q, k, v blocks of C, head h at h*hs):
//   out[B, T, C] (head-major within C) = softmax(mask(q k^T * scale)) v, with dropout p on the
//   probabilities (scaled by 1/(1-p)); lse[B, H, T] = log-sum-exp of each scaled score row is saved for
//   the backward, which recomputes the probabilities (no T x T matrix is kept).
// dropout_seed/offset feed the counter-based generator (dropout.h): the probability of query i for key j
// in head h of batch row b is kept when dropout_keep(seed, offset + ((b*H + h)*T + i)*T + j, p); p = 0 disables it.
void attention_forward(float* out, float* lse, const float* qkv, int B, int T, int C, int H, float scale,
                       float dropout_p, uint64_t dropout_seed, uint64_t dropout_offset);
// dqkv[B, T, 3C] = gradient (overwritten)
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                        const float* lse, int B, int T, int C, int H, float scale, float dropout_p,
                        uint64_t dropout_seed, uint64_t dropout_offset);

// Attention of n new queries of one sequence against a KV cache (generation), no dropout:
//   query i (q block of qkv row i, row stride 3C) is at position pos0 + i and attends to cached keys and
//   values 0..pos0+i of kcache/vcache [>= pos0 + n, C] (head h at h*hs). out[n, C] (overwritten).
void attention_decode(float* out, const float* qkv, const float* kcache, const float* vcache, int n, int pos0,
                      int C, int H, float scale);

// Elementwise activations over N values; backward: dinp = dout * act'(inp) (overwrites).
void gelu_forward(float* out, const float* inp, int64_t N);        // exact: x * Phi(x) (erf)
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t N);
void gelu_tanh_forward(float* out, const float* inp, int64_t N);   // 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))
void gelu_tanh_backward(float* dinp, const float* inp, const float* dout, int64_t N);
void relu_forward(float* out, const float* inp, int64_t N);
void relu_backward(float* dinp, const float* inp, const float* dout, int64_t N);

// out = a + b over N values (the residual adds); in place is allowed.
void add_forward(float* out, const float* a, const float* b, int64_t N);

// Cross-entropy over V classes per row: losses[BT] = logsumexp(logits) - logits[target];
// when dlogits is non-null, dlogits[BT, V] = (softmax(logits) - onehot(target)) * dloss (overwrites),
// without storing the probabilities. Returns the mean loss.
float crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                    const int32_t* targets, int64_t BT, int V, float dloss);

// Dropout with the counter-based generator: out = inp * keep / (1-p), keep drawn per element index
// (offset + i). In place is allowed.
void dropout_forward(float* out, const float* inp, int64_t N, float p, uint64_t seed, uint64_t offset);
void dropout_backward(float* dinp, const float* dout, int64_t N, float p, uint64_t seed, uint64_t offset);

// Sum of squares of N values (for the global gradient norm).
double sum_squares(const float* x, int64_t N);
// AdamW over N parameters (engine.h states the math). decay: 1 to apply weight decay, per element
// range given by the caller (call once per tensor or per contiguous decayed span).
void adamw_update(float* param, float* m, float* v, const float* grad, int64_t N, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int64_t t, float grad_scale);

}  // namespace cpu
}  // namespace mypt
