// decode_pass (decode_pass.cuh): one decode pass over one sequence's cache.
#include "decode_pass.cuh"

#include "attention_rows.cuh"
#include "encoder.cuh"
#include "layernorm.cuh"
#include "linear.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

template <typename T>
void decode_pass(GptModel<T>& gpt, const DecodeBufs<T>& b, T* kcache, T* vcache, const int32_t* tok, int n, int pos0,
                 int32_t* pos_dev) {
  const ModelConfig& c = gpt.cfg;
  const int C = c.n_embd, F = c.hidden(), V = c.vocab_size, L = c.n_layer, H = c.n_head, hs = c.head_size();
  const size_t cache = (size_t)c.block_size * C;
  const float eps = c.ln_eps;
  const cudaStream_t s = gpt.s;
  T* x = b.x;
  T* x2 = b.x + (size_t)n * C;
  encoder_forward<T>(x, tok, gpt.W(gpt.wte), gpt.W(gpt.wpe), 1, n, C, pos0, s, pos_dev);
  residual_layernorm_forward<T>(nullptr, b.ln, b.mean, b.rstd, x, nullptr, gpt.W(gpt.L[0].ln1w), gpt.W(gpt.L[0].ln1b), n,
                                C, eps, 0.0f, 0, s);
  for (int l = 0; l < L; l++) {
    const LayerOff& w = gpt.L[l];
    T* kc = kcache + l * cache;
    T* vc = vcache + l * cache;
    linear_forward<T>(*gpt.gemm, b.qkv, b.ln, gpt.W(w.qkvw), gpt.W(w.qkvb), n, C, 3 * C, s);
    kv_append<T>(kc, vc, b.qkv, n, C, pos0, pos_dev, s);
    AttnView<T> v{b.qkv, 0, 3 * (int64_t)C, kc, 0, C, vc, 0, C, b.att, 0, C};
    attention_rows_forward<T>(v, nullptr, 1, n, H, hs, pos0, c.scale(), 0.0f, 0, s, pos_dev);
    linear_forward<T>(*gpt.gemm, b.tmp, b.att, gpt.W(w.projw), gpt.W(w.projb), n, C, C, s);
    residual_layernorm_forward<T>(x2, b.ln, b.mean, b.rstd, x, b.tmp, gpt.W(w.ln2w), gpt.W(w.ln2b), n, C, eps, 0.0f, 0, s);
    gpt.mlp_up(b.act, b.pre, b.ln, w, n);
    linear_forward<T>(*gpt.gemm, b.tmp, b.act, gpt.W(w.mlpw), gpt.W(w.mlpb), n, F, C, s);
    const bool last = l + 1 == L;
    residual_layernorm_forward<T>(x, b.ln, b.mean, b.rstd, x2, b.tmp, last ? gpt.W(gpt.lnfw) : gpt.W(gpt.L[l + 1].ln1w),
                                  last ? gpt.W(gpt.lnfb) : gpt.W(gpt.L[l + 1].ln1b), n, C, eps, 0.0f, 0, s);
  }
  // logits of the last row only
  linear_forward<T>(*gpt.gemm, b.lrow, b.ln + (size_t)(n - 1) * C, gpt.W(gpt.headw), gpt.W(gpt.headb), 1, C, V, s);
  convert<float, T>(b.logits, b.lrow, V, s);
  if (pos_dev) advance_position(pos_dev, n, s);
}

template void decode_pass<float>(GptModel<float>&, const DecodeBufs<float>&, float*, float*, const int32_t*, int, int,
                                 int32_t*);
template void decode_pass<bf16>(GptModel<bf16>&, const DecodeBufs<bf16>&, bf16*, bf16*, const int32_t*, int, int,
                                int32_t*);

}  // namespace cuda
}  // namespace mypt
