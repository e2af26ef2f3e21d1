// decode_pass (decode_pass.cuh): one decode pass over one sequence's cache.
#include "decode_pass.cuh"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "attention_rows.cuh"
#include "encoder.cuh"
#include "gemv.cuh"
#include "layernorm.cuh"
#include "linear.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

namespace {

// Whether the few-row pass can take this model: its rows fit the GEMV's shared memory, and every GEMV input
// row and the weights it reads with 16-byte loads (LayerNorm weights and embeddings included) are 16-byte aligned.
// MYPT_DECODE_FUSED=0 turns it off (for timing the difference, or to rule it out).
template <typename T>
bool fusable(const GptModel<T>& gpt) {
  static const bool off = !env_switch("MYPT_DECODE_FUSED", true);
  if (off || gpt.cfg.n_embd % 8 != 0 || gpt.cfg.hidden() % 8 != 0) return false;
  if ((int64_t)kGemvMaxRows * gpt.cfg.hidden() > kGemvMaxInputs) return false;
  const auto aligned = [](int64_t off) { return off < 0 || (off * (int64_t)sizeof(T)) % 16 == 0; };
  if (!(aligned(gpt.headw) && aligned(gpt.wte) && aligned(gpt.wpe))) return false;
  for (const LayerOff& w : gpt.L)
    if (!(aligned(w.ln1w) && aligned(w.ln1b) && aligned(w.ln2w) && aligned(w.ln2b) && aligned(w.qkvw) &&
          aligned(w.projw) && aligned(w.fcw) && aligned(w.mlpw)))
      return false;
  return true;
}

// Whether the few-row pass takes the attention's output projection inside the attention kernel (four kernels
// a layer instead of five): the buffers have room for the heads' parts, the head's slice of the projection
// fits the block's shared memory, and MYPT_DECODE_PROJ is not 0 (for timing the difference).
template <typename T>
bool proj_in_attention(const GptModel<T>& gpt, const DecodeBufs<T>& b) {
  static const bool off = !env_switch("MYPT_DECODE_PROJ", true);
  const int hs = gpt.cfg.head_size();
  return !off && b.parts && hs % 8 == 0 && hs <= 256 &&
         attention_proj_decode_smem<T>(gpt.cfg.n_embd, hs) + 16 * 1024 <= device_props().smem_optin;
}

// The few-row pass: four kernels a layer (five where the projection stays out of the attention), each GEMV
// with the LayerNorm before it or the residual add or KV-cache write after it (gemv.cuh), each launched to
// start while the one before ends (pdl.cuh), after the token embeddings' kernel; the head's GEMV also finds
// the row's largest logit when the next token is sampled after it (sample).
template <typename T>
void decode_fused(GptModel<T>& gpt, const DecodeBufs<T>& b, T* kcache, T* vcache, const int32_t* tok, int n, int pos0,
                  int32_t* pos_dev, const HeadSample* sample) {
  const ModelConfig& c = gpt.cfg;
  const int C = c.n_embd, F = c.hidden(), V = c.vocab_size, L = c.n_layer, H = c.n_head, hs = c.head_size();
  const size_t cache = (size_t)c.block_size * C;
  const cudaStream_t s = gpt.s;
  T* x = b.x;
  T* x2 = b.x + (size_t)n * C;
  const bool in_attn = proj_in_attention(gpt, b);
  // the token embeddings by their own kernel, unless the pass before left them (chained; formed in the first QKV
  // GEMV instead (6073b69), the GEMV's extra branch alone cost 4-5%: H100, 2026-12-07, 2,887-2,913 tokens/s
  // greedy against 3,041-3,053 without it)
  if (!(sample && sample->chained)) encoder_forward<T>(x, tok, gpt.W(gpt.wte), gpt.W(gpt.wpe), 1, n, C, pos0, s, pos_dev);
  for (int l = 0; l < L; l++) {
    const LayerOff& w = gpt.L[l];
    T* kc = kcache + l * cache;
    T* vc = vcache + l * cache;
    GemvOp<T> qkv;  // qkv = LN1(x) W^T + b, keys and values also into the cache
    qkv.out = b.qkv; qkv.inp = x; qkv.w = gpt.W(w.qkvw); qkv.bias = gpt.W(w.qkvb); qkv.M = n; qkv.K = C; qkv.N = 3 * C;
    qkv.ln_w = gpt.W(w.ln1w); qkv.ln_b = gpt.W(w.ln1b); qkv.eps = c.ln_eps;
    qkv.kc = kc; qkv.vc = vc; qkv.pos_dev = pos_dev; qkv.pos0 = pos0;
    gemv_forward(qkv, s);
    AttnView<T> v{b.qkv, 0, 3 * (int64_t)C, kc, 0, C, vc, 0, C, b.att, 0, C};
    GemvOp<T> up;  // act = activation(pre), pre = LN2(x2) fc^T + b
    if (in_attn) {
      // the heads' parts of att W^T; x2 = x + their sum + b, formed (and stored) by the next GEMV
      attention_proj_decode<T>(v, b.parts, gpt.W(w.projw), C, n, H, hs, pos0, c.scale(), s, pos_dev);
      up.inp = x; up.parts = b.parts; up.nparts = H; up.pbias = gpt.W(w.projb); up.out2 = x2;
    } else {
      attention_rows_forward<T>(v, nullptr, 1, n, H, hs, pos0, c.scale(), 0.0f, 0, s, pos_dev);
      GemvOp<T> proj;  // x2 = x + att W^T + b
      proj.out = x2; proj.inp = b.att; proj.w = gpt.W(w.projw); proj.bias = gpt.W(w.projb); proj.M = n; proj.K = C;
      proj.N = C; proj.res = x;
      gemv_forward(proj, s);
      up.inp = x2;
    }
    up.out = b.act; up.aux = b.pre; up.act = 1 + (int)c.activation; up.w = gpt.W(w.fcw);
    up.bias = gpt.W(w.fcb); up.M = n; up.K = C; up.N = F; up.ln_w = gpt.W(w.ln2w); up.ln_b = gpt.W(w.ln2b);
    up.eps = c.ln_eps;
    gemv_forward(up, s);
    GemvOp<T> down;  // x = x2 + act mlp^T + b
    down.out = x; down.inp = b.act; down.w = gpt.W(w.mlpw); down.bias = gpt.W(w.mlpb); down.M = n; down.K = F;
    down.N = C; down.res = x2;
    gemv_forward(down, s);
  }
  // the final LayerNorm of the last row (one launch: in the head's prologue every one of its thousands of
  // blocks would redo it; an ordinary launch, since in the chain of dependent launches it measured slower, H100
  // 2,740-2,746 tokens/s greedy against 2,806-2,809), then its logits as fp32
  residual_layernorm_forward<T>(nullptr, b.ln, b.mean, b.rstd, x + (size_t)(n - 1) * C, nullptr, gpt.W(gpt.lnfw),
                                gpt.W(gpt.lnfb), 1, C, c.ln_eps, 0.0f, 0, s);
  GemvOp<T> head;
  head.out_f = b.logits; head.inp = b.ln; head.w = gpt.W(gpt.headw); head.bias = gpt.W(gpt.headb); head.K = C;
  head.N = V;
  if (sample) head.best = (unsigned long long*)sample->scratch;
  gemv_forward(head, s);
}

}  // namespace

template <typename T>
DecodePath decode_path_at(const GptModel<T>& gpt, const DecodeBufs<T>& b, int n, int pos) {
  return n == 1 && pos >= kPersistentFrom && b.persist && b.persist->fits(gpt) ? DecodePath::Persistent
                                                                                : DecodePath::Kernels;
}

template <typename T>
bool decode_pass(GptModel<T>& gpt, const DecodeBufs<T>& b, T* kcache, T* vcache, const int32_t* tok, int n, int pos0,
                 int32_t* pos_dev, DecodePath path, const HeadSample* sample) {
  const ModelConfig& c = gpt.cfg;
  const int C = c.n_embd, F = c.hidden(), V = c.vocab_size, L = c.n_layer, H = c.n_head, hs = c.head_size();
  const size_t cache = (size_t)c.block_size * C;
  const float eps = c.ln_eps;
  const cudaStream_t s = gpt.s;
  T* x = b.x;
  T* x2 = b.x + (size_t)n * C;
  if (path == DecodePath::Auto) {
    path = decode_path_at(gpt, b, n, pos0);  // Persistent only where it fits
  } else if (path == DecodePath::Persistent && (n != 1 || !b.persist || !b.persist->fits(gpt))) {
    throw std::invalid_argument("decode_pass: the persistent pass takes one token of a model and device it fits");
  }
  if (path == DecodePath::Persistent) {
    decode_persistent<T>(gpt, *b.persist, x, x2, b.qkv, b.act, b.logits, kcache, vcache, tok, pos0, pos_dev);
    return false;
  }
  if (sample && sample->chained && (n != 1 || !pos_dev))
    throw std::invalid_argument("decode_pass: a chained pass takes one token at the position on the device");
  if (n <= kGemvMaxRows && fusable(gpt)) {
    const HeadSample* h = n == 1 ? sample : nullptr;
    decode_fused(gpt, b, kcache, vcache, tok, n, pos0, pos_dev, h);
    if (h) {
      // which also advances the position, and leaves the next token's embedding in x when chained
      NextEmbedding next;
      if (h->chained) {
        next.x = b.x; next.wte = gpt.W(gpt.wte); next.wpe = gpt.W(gpt.wpe); next.C = C; next.block = c.block_size;
        next.bf16 = std::is_same<T, bf16>::value;
      }
      sample_after_head(*h, b.logits, V, pos_dev, s, &next);
      return true;
    }
    if (pos_dev) advance_position(pos_dev, n, s);
    return false;
  }
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
  return false;
}

template DecodePath decode_path_at<float>(const GptModel<float>&, const DecodeBufs<float>&, int, int);
template DecodePath decode_path_at<bf16>(const GptModel<bf16>&, const DecodeBufs<bf16>&, int, int);
template bool decode_pass<float>(GptModel<float>&, const DecodeBufs<float>&, float*, float*, const int32_t*, int, int,
                                 int32_t*, DecodePath, const HeadSample*);
template bool decode_pass<bf16>(GptModel<bf16>&, const DecodeBufs<bf16>&, bf16*, bf16*, const int32_t*, int, int,
                                int32_t*, DecodePath, const HeadSample*);

}  // namespace cuda
}  // namespace mypt
