#include "napi/convert.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace mypt_binding {
namespace {

double num(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}
bool flag(const Napi::Object& o, const char* key) { return o.Get(key).ToBoolean().Value(); }

}  // namespace

mypt::ModelConfig to_config(const Napi::Object& o) {
  mypt::ModelConfig c;
  c.vocab_size = (int)num(o, "vocab_size");
  c.block_size = (int)num(o, "block_size");
  c.n_layer = (int)num(o, "n_layer");
  c.n_head = (int)num(o, "n_head");
  c.n_embd = (int)num(o, "n_embd");
  c.mlp_hidden = (int)num(o, "mlp_hidden");
  c.dropout = (float)num(o, "dropout");
  const std::string act = o.Get("activation").ToString().Utf8Value();
  c.activation = act == "gelu" ? mypt::Activation::GELU
                 : act == "gelu_tanh" ? mypt::Activation::GELUTanh
                                      : mypt::Activation::ReLU;
  c.qkv_bias = flag(o, "qkv_bias");
  c.proj_bias = flag(o, "proj_bias");
  c.mlp_bias = flag(o, "mlp_bias");
  c.ln_bias = flag(o, "ln_bias");
  c.tied_head = flag(o, "tied_head");
  c.head_bias = flag(o, "head_bias");
  c.embd_dropout = flag(o, "embd_dropout");
  c.attn_scale = (float)num(o, "attn_scale");
  c.ln_eps = (float)num(o, "ln_eps");
  return c;
}

mypt::AdamWParams to_adamw(const Napi::Object& o) {
  mypt::AdamWParams p;
  p.lr = (float)num(o, "lr");
  p.weight_decay = (float)num(o, "weight_decay");
  p.beta1 = (float)num(o, "beta1");
  p.beta2 = (float)num(o, "beta2");
  p.eps = (float)num(o, "eps");
  p.grad_clip = (float)num(o, "grad_clip");
  return p;
}

mypt::SampleParams to_sample(const Napi::Object& o) {
  mypt::SampleParams s;
  s.temperature = (float)num(o, "temperature");
  s.top_k = (int)num(o, "top_k");
  s.top_p = (float)num(o, "top_p");
  s.seed = (uint64_t)num(o, "seed");
  return s;
}

mypt::Split to_split(const Napi::Value& v) {
  return v.ToString().Utf8Value() == "val" ? mypt::Split::Val : mypt::Split::Train;
}

uint64_t to_u53(const Napi::Value& v, const std::string& what) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.0;
  if (!(d >= 0.0 && d <= 9007199254740992.0 && d == std::floor(d)))
    throw std::invalid_argument(what + " must be an integer in [0, 2^53]");
  return (uint64_t)d;
}

int to_positive_int(const Napi::Value& v, const std::string& what) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 0.0;
  if (!(d >= 1.0 && d < 2147483648.0 && d == std::floor(d))) throw std::invalid_argument(what + " must be a positive integer");
  return (int)d;
}

std::vector<int32_t> to_ints(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an Int32Array");
  auto a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Float32Array to_float32(Napi::Env env, std::vector<float>&& v) {
  if (v.empty()) return Napi::Float32Array::New(env, 0);
  auto* owned = new std::vector<float>(std::move(v));
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, owned->data(), owned->size() * sizeof(float),
      [](Napi::Env, void*, std::vector<float>* p) { delete p; }, owned);
  return Napi::Float32Array::New(env, owned->size(), ab, 0);
}

Napi::Object step_result(Napi::Env env, const mypt::StepResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  o.Set("gradNorm", r.grad_norm);
  return o;
}

}  // namespace mypt_binding
