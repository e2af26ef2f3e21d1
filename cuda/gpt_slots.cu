// GptSlots (gpt_slots.cuh): the multi-slot decoder of the CUDA GPT.
#include "gpt_slots.cuh"

#include <stdexcept>
#include <string>

#include "decode_pass.cuh"
#include "encoder.cuh"
#include "engine/errors.h"
#include "layernorm.cuh"
#include "linear.cuh"
#include "sampling.cuh"

namespace mypt {
namespace cuda {

namespace {

// x[r, :] = wte[tok[r], :] + wpe[pos[r], :]
template <typename T>
__global__ void slots_embed(T* x, const int32_t* tok, const int32_t* pos, const T* wte, const T* wpe, int C) {
  const int r = blockIdx.x;
  const T* e = wte + (int64_t)tok[r] * C;
  const T* p = wpe + (int64_t)pos[r] * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) x[(int64_t)r * C + c] = embed_value(e[c], p[c]);
}

// the key and value of row r (qkv[r, C:2C], qkv[r, 2C:3C]) into its slot's cache of layer l at its position
template <typename T>
__global__ void slots_kv_append(T* kc, T* vc, const T* qkv, const int32_t* slot, const int32_t* pos, int C,
                                int64_t slot_stride, int64_t layer_off) {
  const int r = blockIdx.x;
  const int64_t at = slot[r] * slot_stride + layer_off + (int64_t)pos[r] * C;
  const T* q = qkv + (int64_t)r * 3 * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    kc[at + c] = q[C + c];
    vc[at + c] = q[2 * C + c];
  }
}

// Row r, head h (one block each): scores against keys 0..pos[r] of its slot's cache (shared memory,
// `block` floats), softmax, out = sum_j p_j v_j. fp32 math.
template <typename T>
__global__ void slots_attention(T* out, const T* qkv, const T* kc, const T* vc, const int32_t* slot,
                                const int32_t* pos, int C, int hs, float scale, int64_t slot_stride, int64_t layer_off) {
  extern __shared__ float sh[];  // [pos + 1] scores, then 32 for the reductions
  const int r = blockIdx.x, h = blockIdx.y, n = pos[r] + 1;
  float* score = sh;
  float* tmp = sh + n;
  const T* q = qkv + (int64_t)r * 3 * C + h * hs;
  const int64_t base = slot[r] * slot_stride + layer_off + h * hs;
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const T* k = kc + base + (int64_t)j * C;
    float s = 0.0f;
    for (int d = 0; d < hs; d++) s += to_f(q[d]) * to_f(k[d]);
    score[j] = s * scale;
  }
  __syncthreads();
  float m = -INFINITY;
  for (int j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, score[j]);
  m = block_max(m, tmp);
  float l = 0.0f;
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const float e = __expf(score[j] - m);
    score[j] = e;
    l += e;
  }
  l = block_sum(l, tmp);
  __syncthreads();
  const float inv = 1.0f / l;
  for (int d = threadIdx.x; d < hs; d += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j < n; j++) acc += score[j] * to_f(vc[base + (int64_t)j * C + d]);
    out[(int64_t)r * C + h * hs + d] = from_f<T>(acc * inv);
  }
}

// dst[i, :] = src[idx[i], :]
template <typename T>
__global__ void gather_rows(T* dst, const T* src, const int32_t* idx, int C) {
  const int i = blockIdx.x;
  for (int c = threadIdx.x; c < C; c += blockDim.x) dst[(int64_t)i * C + c] = src[(int64_t)idx[i] * C + c];
}

}  // namespace

template <typename T>
GptSlots<T>::GptSlots(GptModel<T>& gpt, int slots) : gpt_(gpt) {
  if (slots < 1) throw std::invalid_argument("a decoder needs at least 1 slot, got " + std::to_string(slots));
  // slots_attention keeps a row's scores in shared memory: block_size + 64 floats within the default 48 KiB
  if (((size_t)gpt.cfg.block_size + 64) * sizeof(float) > 48 * 1024)
    throw Unsupported("the GPU's batched decoder takes a block_size up to 12224, not " + std::to_string(gpt.cfg.block_size));
  slots_.resize(slots);
}

template <typename T>
void GptSlots<T>::check_prompt(const int32_t* prompt, int n) const {
  if (n < 1) throw std::invalid_argument("the prompt must hold at least one token");
  gpt_.check_tokens(prompt, n, "prompt token");
}

template <typename T>
void GptSlots<T>::join(int slot, const int32_t* prompt, int n, int max_new, const SampleParams& sp) {
  check_prompt(prompt, n);
  Slot& s = slots_.at(slot);
  if (s.active) throw std::logic_error("decoder slot " + std::to_string(slot) + " is taken");
  const ModelConfig& c = gpt_.cfg;
  const size_t cache = (size_t)slots_.size() * c.n_layer * c.block_size * c.n_embd;
  if (kcache_.n < cache) {
    gpt_.use();
    kcache_.ensure(cache);
    vcache_.ensure(cache);
  }
  s.ctx.assign(prompt, prompt + n);
  s.cached = 0;
  s.made = 0;
  s.max_new = max_new;
  s.sp = sp;
  s.draws = 0;
  s.active = max_new > 0;
  forget_alone(slot);
}

template <typename T>
void GptSlots<T>::leave(int slot) {
  slots_.at(slot).active = false;
  forget_alone(slot);
}

// the id and position kept on the device belong to the slot's old sequence
template <typename T>
void GptSlots<T>::forget_alone(int slot) {
  if (tok_slot_ == slot) tok_slot_ = -1;
  if (pos_slot_ == slot) pos_slot_ = -1;
}

// (also on the way out of a failed step: throws nothing)
template <typename T>
void GptSlots<T>::idle() {
  if (graph_.exec || graph_.graph) {
    cudaSetDevice(gpt_.dev);  // the run's thread may not have the model's device current
    graph_.reset();
  }
  graph_slot_ = -1;
}

template <typename T>
void GptSlots<T>::ensure_rows(int rows, int act) {
  const ModelConfig& c = gpt_.cfg;
  const size_t C = c.n_embd, F = c.hidden(), V = c.vocab_size;
  x_.ensure(2 * rows * C);
  ln_.ensure(rows * C);
  qkv_.ensure(rows * 3 * C);
  att_.ensure(rows * C);
  pre_.ensure(rows * F);
  act_.ensure(rows * F);
  tmp_.ensure(rows * C);
  stats_.ensure(2 * (size_t)rows);
  last_.ensure(act * C);
  lrow_.ensure(act * V);
  logits_.ensure(act * V);
  meta_.ensure(3 * (size_t)rows + act);
  ids_.ensure(act);
  args_.ensure(act);
}

template <typename T>
void GptSlots<T>::step(int32_t* out) {
  int act = 0, alone = -1;
  for (int i = 0; i < (int)slots_.size(); i++) {
    out[i] = -1;
    if (slots_[i].active) {
      act++;
      alone = i;
    }
  }
  if (act == 0) return;
  if (act == 1) return step_alone(alone, out);
  tok_slot_ = pos_slot_ = -1;  // the batched step moves every slot on without them
  step_batched(out);
}

// one active slot: generate()'s loop body (gpt_decode.cu) on the slot's cache
template <typename T>
void GptSlots<T>::step_alone(int i, int32_t* out) {
  const ModelConfig& c = gpt_.cfg;
  const int C = c.n_embd, F = c.hidden(), V = c.vocab_size, block = c.block_size;
  const cudaStream_t st = gpt_.s;
  Slot& s = slots_[i];
  gpt_.use();
  if (!one_tok_.p) {
    ox_.ensure(2 * (size_t)C);
    oln_.ensure(C);
    oqkv_.ensure(3 * (size_t)C);
    oatt_.ensure(C);
    opre_.ensure(F);
    oact_.ensure(F);
    otmp_.ensure(C);
    olrow_.ensure(V);
    ostats_.ensure(2);
    parts_.ensure(decode_parts_floats(gpt_.cfg));
    ologits_.ensure(V);
    one_pos_.ensure(1);
    one_tok_.ensure(1);
  }
  const int len = (int)s.ctx.size();
  const float* logits;
  if (len <= block && len - s.cached == 1 && tok_slot_ == i) {
    // steady state: one token (the last sampled id, on the device) through the graph
    if (pos_slot_ != i) {
      pos_host_ = s.cached;
      CUDA_CHECK(cudaMemcpyAsync(one_pos_.p, &pos_host_, 4, cudaMemcpyHostToDevice, st));
      pos_slot_ = i;
    }
    DecodeBufs<T> b{ox_.p,   oln_.p,    oatt_.p,   otmp_.p,       oqkv_.p,  opre_.p,
                    oact_.p, olrow_.p, ostats_.p, ostats_.p + 1, ologits_.p};
    b.persist = &persist_;
    b.parts = parts_.p;
    // generate()'s path for this position (decode_pass.cuh), so that the two stay equal bit for bit
    const DecodePath path = decode_path_at(gpt_, b, 1, s.cached);
    if (!graph_.exec || graph_slot_ != i || graph_path_ != path) {
      graph_slot_ = -1;
      graph_.capture(st, cudaStreamCaptureModeRelaxed,
                     [&] { decode_pass<T>(gpt_, b, kslot(i), vslot(i), one_tok_.p, 1, 0, one_pos_.p, path); });
      graph_slot_ = i;
      graph_path_ = path;
    }
    CUDA_CHECK(cudaGraphLaunch(graph_.exec, st));
    logits = b.logits;
  } else {
    // a prompt, a token whose id is on the host, or a window past block_size (recomputed from position 0)
    const int start = len <= block ? s.cached : len - block;
    const int pos0 = len <= block ? s.cached : 0;
    const int n = len - start;
    ensure_rows(n, 1);
    CUDA_CHECK(cudaMemcpyAsync(meta_.p, s.ctx.data() + start, (size_t)n * 4, cudaMemcpyHostToDevice, st));
    DecodeBufs<T> b{x_.p,   ln_.p,   att_.p,   tmp_.p,       qkv_.p,   pre_.p,
                    act_.p, lrow_.p, stats_.p, stats_.p + n, logits_.p};
    b.persist = &persist_;
    parts_.ensure(decode_parts_floats(gpt_.cfg));
    b.parts = parts_.p;
    decode_pass<T>(gpt_, b, kslot(i), vslot(i), meta_.p, n, pos0, nullptr);
    logits = logits_.p;
    pos_slot_ = -1;
  }
  sample_token(one_tok_.p, logits, V, s.sp.temperature, s.sp.top_k, s.sp.top_p, s.sp.seed, s.draws, st);
  if (s.sp.temperature > 0.0f) s.draws++;
  CUDA_CHECK(cudaMemcpyAsync(&id_host_, one_tok_.p, 4, cudaMemcpyDeviceToHost, st));
  gpt_.sync();
  tok_slot_ = i;
  s.cached = len <= block ? len : block;
  s.ctx.push_back(id_host_);
  s.made++;
  out[i] = id_host_;
  if (s.made >= s.max_new) s.active = false;
}

template <typename T>
void GptSlots<T>::step_batched(int32_t* out) {
  const ModelConfig& c = gpt_.cfg;
  const int C = c.n_embd, F = c.hidden(), V = c.vocab_size, L = c.n_layer, H = c.n_head, hs = c.head_size();
  const int block = c.block_size, S = (int)slots_.size();
  const float eps = c.ln_eps;
  // the rows of this step: tokens, their slots and positions; the last row of each active slot
  std::vector<int32_t> tok, rslot, rpos, last, order;
  for (int i = 0; i < S; i++) {
    out[i] = -1;
    Slot& s = slots_[i];
    if (!s.active) continue;
    const int len = (int)s.ctx.size();
    const int start = len <= block ? s.cached : len - block;
    const int pos0 = len <= block ? s.cached : 0;
    for (int k = start; k < len; k++) {
      tok.push_back(s.ctx[k]);
      rslot.push_back(i);
      rpos.push_back(pos0 + (k - start));
    }
    last.push_back((int32_t)tok.size() - 1);
    order.push_back(i);
  }
  const int rows = (int)tok.size(), act = (int)order.size();
  if (act == 0) return;
  gpt_.use();
  ensure_rows(rows, act);
  host_meta_.assign(tok.begin(), tok.end());
  host_meta_.insert(host_meta_.end(), rslot.begin(), rslot.end());
  host_meta_.insert(host_meta_.end(), rpos.begin(), rpos.end());
  host_meta_.insert(host_meta_.end(), last.begin(), last.end());
  const cudaStream_t st = gpt_.s;
  CUDA_CHECK(cudaMemcpyAsync(meta_.p, host_meta_.data(), host_meta_.size() * 4, cudaMemcpyHostToDevice, st));
  const int32_t* d_tok = meta_.p;
  const int32_t* d_slot = meta_.p + rows;
  const int32_t* d_pos = meta_.p + 2 * rows;
  const int32_t* d_last = meta_.p + 3 * rows;
  const int64_t slot_stride = (int64_t)L * block * C, layer_stride = (int64_t)block * C;
  T* x = x_.p;
  T* x2 = x_.p + (size_t)rows * C;
  float* mean = stats_.p;
  float* rstd = stats_.p + rows;
  slots_embed<T><<<rows, 256, 0, st>>>(x, d_tok, d_pos, gpt_.W(gpt_.wte), gpt_.W(gpt_.wpe), C);
  CUDA_CHECK_LAUNCH("slots_embed");
  residual_layernorm_forward<T>(nullptr, ln_.p, mean, rstd, x, nullptr, gpt_.W(gpt_.L[0].ln1w), gpt_.W(gpt_.L[0].ln1b),
                                rows, C, eps, 0.0f, 0, st);
  const size_t att_shared = ((size_t)block + 64) * sizeof(float);
  for (int l = 0; l < L; l++) {
    const LayerOff& w = gpt_.L[l];
    linear_forward<T>(*gpt_.gemm, qkv_.p, ln_.p, gpt_.W(w.qkvw), gpt_.W(w.qkvb), rows, C, 3 * C, st);
    slots_kv_append<T><<<rows, 256, 0, st>>>(kcache_.p, vcache_.p, qkv_.p, d_slot, d_pos, C, slot_stride, l * layer_stride);
    CUDA_CHECK_LAUNCH("slots_kv_append");
    slots_attention<T><<<dim3(rows, H), 128, att_shared, st>>>(att_.p, qkv_.p, kcache_.p, vcache_.p, d_slot, d_pos, C, hs,
                                                              c.scale(), slot_stride, l * layer_stride);
    CUDA_CHECK_LAUNCH("slots_attention");
    linear_forward<T>(*gpt_.gemm, tmp_.p, att_.p, gpt_.W(w.projw), gpt_.W(w.projb), rows, C, C, st);
    residual_layernorm_forward<T>(x2, ln_.p, mean, rstd, x, tmp_.p, gpt_.W(w.ln2w), gpt_.W(w.ln2b), rows, C, eps, 0.0f, 0, st);
    gpt_.mlp_up(act_.p, pre_.p, ln_.p, w, rows);
    linear_forward<T>(*gpt_.gemm, tmp_.p, act_.p, gpt_.W(w.mlpw), gpt_.W(w.mlpb), rows, F, C, st);
    const bool lastl = l + 1 == L;
    residual_layernorm_forward<T>(x, ln_.p, mean, rstd, x2, tmp_.p, lastl ? gpt_.W(gpt_.lnfw) : gpt_.W(gpt_.L[l + 1].ln1w),
                                  lastl ? gpt_.W(gpt_.lnfb) : gpt_.W(gpt_.L[l + 1].ln1b), rows, C, eps, 0.0f, 0, st);
  }
  // the head on each slot's last row, then one sample per slot with its own settings, seed and counter
  gather_rows<T><<<act, 256, 0, st>>>(last_.p, ln_.p, d_last, C);
  CUDA_CHECK_LAUNCH("gather_rows");
  linear_forward<T>(*gpt_.gemm, lrow_.p, last_.p, gpt_.W(gpt_.headw), gpt_.W(gpt_.headb), act, C, V, st);
  convert<float, T>(logits_.p, lrow_.p, (int64_t)act * V, st);
  // every slot's sample in one launch (a block a slot; sample_token's arithmetic)
  host_args_.resize(act);
  for (int k = 0; k < act; k++) {
    Slot& s = slots_[order[k]];
    host_args_[k] = SampleArgs{s.sp.temperature, s.sp.top_k, s.sp.top_p, 0, s.sp.seed, s.draws};
    if (s.sp.temperature > 0.0f) s.draws++;
  }
  CUDA_CHECK(cudaMemcpyAsync(args_.p, host_args_.data(), (size_t)act * sizeof(SampleArgs), cudaMemcpyHostToDevice, st));
  sample_tokens(ids_.p, logits_.p, act, V, args_.p, st);
  host_ids_.resize(act);
  CUDA_CHECK(cudaMemcpyAsync(host_ids_.data(), ids_.p, (size_t)act * 4, cudaMemcpyDeviceToHost, st));
  gpt_.sync();
  for (int k = 0; k < act; k++) {
    Slot& s = slots_[order[k]];
    const int len = (int)s.ctx.size();
    s.cached = len <= block ? len : block;
    s.ctx.push_back(host_ids_[k]);
    s.made++;
    out[order[k]] = host_ids_[k];
    if (s.made >= s.max_new) s.active = false;
  }
}

template class GptSlots<float>;
template class GptSlots<bf16>;

}  // namespace cuda
}  // namespace mypt
