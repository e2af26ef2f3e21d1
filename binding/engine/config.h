// The model configuration and the canonical parameter layout shared by every backend.
//
// The engine knows nothing of files or formats: TypeScript maps each on-disk format's names and shapes
// to and from the canonical layout below (MyPT's per-head q/k/v become one fused [3C, C] matrix, Q rows
// then K rows then V rows, head-major, exactly nanoGPT's c_attn.weight).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mypt {

enum class Activation { ReLU = 0, GELU = 1, GELUTanh = 2 };

// One record, one comment per field. Defaults are MyPT's lecture GPT.
struct ModelConfig {
  int vocab_size = 65;        // V
  int block_size = 256;       // longest context; wpe has this many rows
  int n_layer = 6;            // L
  int n_head = 6;             // H; head_size = n_embd / n_head
  int n_embd = 384;           // C
  int mlp_hidden = 0;         // 0 means 4 * C
  float dropout = 0.0f;       // attention probabilities, after attn proj, after mlp proj (and embeddings if embd_dropout)
  Activation activation = Activation::ReLU;
  bool qkv_bias = false;      // bias on the fused q/k/v projection (MyPT: config.bias)
  bool proj_bias = true;      // bias on the attention output projection
  bool mlp_bias = true;       // bias on both MLP projections
  bool ln_bias = true;        // LayerNorm has a bias (shift)
  bool tied_head = false;     // logits = ln_f(x) @ wte^T (no head.weight tensor)
  bool head_bias = true;      // head.bias [V] (MyPT has it, GPT-2 not)
  bool embd_dropout = false;  // dropout after tok + pos (nanoGPT's transformer.drop)
  float attn_scale = 0.0f;    // multiplier of q k^T; 0 means head_size^-0.5
  float ln_eps = 1e-5f;

  int head_size() const { return n_embd / n_head; }
  int hidden() const { return mlp_hidden > 0 ? mlp_hidden : 4 * n_embd; }
  float scale() const;
  // Throws std::invalid_argument naming the field when a value is out of range.
  void validate() const;
};

// One tensor of the canonical layout.
struct ParamInfo {
  std::string name;            // canonical name, e.g. "h.3.attn.qkv.weight"
  std::vector<int64_t> shape;  // PyTorch [rows, cols]
  int64_t offset = 0;          // in floats, inside the one contiguous parameter buffer
  int64_t numel = 0;
  bool is_matrix = false;      // >= 2 dims (nanoGPT decays only these)
};

// Canonical names, in buffer order (C = n_embd, V = vocab_size, F = hidden):
//   wte [V,C]  wpe [block_size,C]
//   per layer i: h.i.ln1.weight [C] (+ .bias)   h.i.attn.qkv.weight [3C,C] (+ .bias [3C])
//                h.i.attn.proj.weight [C,C] (+ .bias)   h.i.ln2.weight [C] (+ .bias)
//                h.i.mlp.fc.weight [F,C] (+ .bias [F])   h.i.mlp.proj.weight [C,F] (+ .bias [C])
//   lnf.weight [C] (+ .bias)   head.weight [V,C] unless tied   head.bias [V] if head_bias
struct ParamLayout {
  std::vector<ParamInfo> params;
  int64_t total = 0;  // floats
  explicit ParamLayout(const ModelConfig& cfg);
  const ParamInfo* find(const std::string& name) const;  // nullptr when absent
};

}  // namespace mypt
