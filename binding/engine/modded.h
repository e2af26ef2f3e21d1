// The modded-nanogpt models (KellerJordan/modded-nanogpt: small "S2" train_gpt.py and medium "M1"
// train_gpt_medium.py), for inference: forward(tokens) -> logits and generation. This file is the
// backend-neutral part: the config, the named weights and the runner interface; the CPU runner is
// binding/cpu/modded.h, the GPU one cuda/modded_runner.cu.
//
// The file holds only weights; the computation lives in the training script, so it is given here as
// data (ModdedConfig). small_config / medium_config build each script's switches; the exact passes are
// in shared/reference/MODDED.md. With x0 = norm(embed[idx]) and s = scalars:
//   for i in layers:
//     skip (UNet: i >= L/2 adds s[i-L/2] * pop();  Map: i in map adds s[map[i]] * outs[map[i]])
//     x = s[L+2i] x + s[L+2i+1] x0
//     if attention: h = attn_input_norm ? norm(x) : x; q,k,v = h @ qkv^T; q,k = rotary(norm(q), norm(k));
//                   v = v_norm ? norm(v) : v;  v = s[3L+2i] v + s[3L+2i+1] ve_i (or s[3L+2i] v);
//                   x += causal_softmax(scale q k^T) v @ o^T
//     x += relu(norm(x) @ fc^T)^2 @ proj^T;  UNet pushes x after layers i < L/2, Map keeps every x
//   z = norm(x) @ lm_head^T; logits = softcap(z)
// Attention follows the scripts' block mask (modded_mask.h): causal, the document mask (EOT 50256 starts
// a document) and the block-granular sliding window of each layer at its end-of-training size (small:
// 14 / 7 blocks of 128 tokens, long on layers 0, 4, 7, 11; medium: 27 / 13, long on 0, 4, 11, 15).
#pragma once
#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mypt {
namespace modded {

enum class SoftCap {
  Sigmoid30Scaled = 0,  // 30 * sigmoid(z / (7.5 * sqrt(dim)))   S1b/S2 (from 2025-02-10)
  Sigmoid30 = 1,        // 30 * sigmoid(z / 7.5)                  S0/early S1, S3
  Algebraic15 = 2,      // 15 * z / sqrt(z^2 + 225)               M1 (medium)
  None = 3,             // z
};

enum class SkipKind {
  UNet = 0,  // S2: the first L/2 block outputs are pushed, layers i >= L/2 pop with weight s[i - L/2]
  Map = 1,   // M1: layer i adds s[skip_from[i]] * (output of block skip_from[i]) when skip_from[i] >= 0
};

// One record, one comment per field.
struct ModdedConfig {
  int n_layer = 12;                 // L
  int dim = 768;                    // d (residual width)
  int n_head = 6;                   // H
  int head_dim = 128;               // D; H * D is the attention width (hdim)
  int mlp_hidden = 3072;            // 4 d
  int embed_rows = 50304;           // rows of embed.weight and value_embeds.*.weight
  int head_rows = 50304;            // rows of lm_head (padded vocab: a multiple of 128)
  int n_value_embeds = 3;           // value_embeds.{0..n-1}
  int scalars_len = 60;             // >= 5L (small may carry padding after 5L)
  std::vector<int> ve_index;        // per layer: which value embedding is mixed into v, -1 for none
  std::vector<uint8_t> has_attn;    // per layer: 0 for the layer without attention (7)
  bool attn_input_norm = true;      // S2: attention reads norm(x); M1 reads x
  bool v_norm = false;              // M1: v = norm(v) before the value mixing
  SkipKind skip = SkipKind::UNet;
  std::vector<int> skip_from;       // Map: per layer, the block whose output is added, or -1
  SoftCap softcap = SoftCap::Sigmoid30Scaled;
  float attn_scale = 0.12f;         // multiplier of q k^T (not 1/sqrt(D))
  float norm_eps = FLT_EPSILON;     // F.rms_norm(eps=None) on bf16/fp32 inputs: float32 machine epsilon
  float rope_base = 1024.0f;        // freq_j = (1/rope_base)^(j/(D/4-1))
  int doc_token = -1;               // document mask: this id starts a new document (both scripts: 50256,
                                    // when the embedding has that row); -1: plain causal
  int attn_block = 128;             // tokens per block of the sliding window
  std::vector<int> window_blocks;   // per layer: the window in blocks; 0 for none

  int hdim() const { return n_head * head_dim; }
  // Throws std::invalid_argument naming the field when a value is out of range or lists disagree.
  void validate() const;
};

// The switches of each script at a given size (ve on the first and last three layers, no attention on
// layer 7, skip map {9:6, 10:4, 11:2} for medium: kept where those layers exist).
ModdedConfig small_config(int n_layer, int dim, int n_head, int head_dim, int embed_rows, int head_rows,
                          int scalars_len);
ModdedConfig medium_config(int n_layer, int dim, int n_head, int head_dim, int embed_rows, int head_rows,
                           int scalars_len);

// Each script's long/short window pattern (long W blocks, short W/2) at its own depth (12 small, 16
// medium); other depths get no window (0).
void set_window_pattern(ModdedConfig& c, bool medium, int long_blocks);

// Sampling for generation: logits / temperature -> top_k -> top_p -> sample; temperature <= 0: argmax.
struct ModdedSample {
  float temperature = 1.0f;
  int top_k = 0;       // 0: off
  float top_p = 1.0f;  // 1: off
  uint64_t seed = 0;
  int vocab_limit = 0;  // sample among the first vocab_limit columns (the real vocab); 0: all head_rows
};

// The weights of one model, by name (fp32, PyTorch [rows, cols]):
//   embed [embed_rows, d]   value_embeds.j [embed_rows, d]   scalars [scalars_len]   lm_head [head_rows, d]
//   blocks.i.attn.qkv [3 hdim, d]  blocks.i.attn.o [d, hdim]  (layers with attention only)
//   blocks.i.mlp.fc [mlp_hidden, d]  blocks.i.mlp.proj [d, mlp_hidden]
// A weight is set once it has its size. Runners read the fields directly once check_complete() passed.
class ModdedWeights {
 public:
  explicit ModdedWeights(const ModdedConfig& cfg);  // validates the config
  const ModdedConfig& config() const { return cfg_; }

  // The expected element count of a name, or -1 when the name is not one of this model's.
  int64_t expected_numel(const std::string& name) const;
  std::vector<std::string> weight_names() const;
  // Copies n floats into the named weight; throws std::invalid_argument on an unknown name or count.
  void set_weight(const std::string& name, const float* data, int64_t n);
  // The same from bfloat16 bits (the files' own dtype for most weights: widened exactly to fp32).
  void set_weight_bf16(const std::string& name, const uint16_t* bits, int64_t n);
  // Throws std::invalid_argument listing every weight not yet set.
  void check_complete() const;
  // The named weight as set; throws std::invalid_argument on an unknown name.
  const std::vector<float>& weight(const std::string& name) const;

  struct Layer {
    std::vector<float> qkv, o, fc, proj;
  };
  std::vector<float> embed, lm_head, scalars;
  std::vector<std::vector<float>> value_embeds;
  std::vector<Layer> layers;

 private:
  std::vector<float>* find(const std::string& name);
  std::vector<float>* slot(const std::string& name, int64_t n);  // checked, sized n

  ModdedConfig cfg_;
};

// What runs a modded model (a backend's make_modded, engine/backend.h). Every runner computes the
// function stated at the top of this file.
class ModdedRunner {
 public:
  virtual ~ModdedRunner() = default;
  virtual const ModdedConfig& config() const = 0;
  virtual std::string device() const = 0;  // "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3), bf16"
  // logits[T, head_rows] for tokens[T] (batch of one), every position.
  virtual void forward(const int32_t* tokens, int64_t T, float* logits) = 0;
  // New token ids (prompt excluded); on_token may return false to stop. Uses a KV cache that grows
  // with the sequence (no length limit: rotary positions have none).
  virtual std::vector<int32_t> generate(const int32_t* prompt, int64_t n_prompt, int max_new_tokens,
                                        const ModdedSample& sp, const std::function<bool(int32_t)>& on_token) = 0;
};

// The D/2 rotary frequencies (the half-split "half-truncate RoPE" of the scripts):
//   q = D/4; freq_j = (1/base)^(j/(q-1)) for j < q (torch.linspace(0,1,q) in fp32), freq_j = 0 for q <= j < D/2
void rotary_freqs(float* freqs, int D, float base);

// The first cache capacity of a generation: the prompt plus up to `ahead` new tokens (it then doubles).
inline int64_t first_cache_capacity(int64_t n_prompt, int max_new_tokens, int64_t ahead = 1024) {
  return n_prompt + std::min<int64_t>(max_new_tokens > 0 ? max_new_tokens : 0, ahead);
}

}  // namespace modded
}  // namespace mypt
