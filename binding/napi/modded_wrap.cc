// N-API wrapper of the modded-nanogpt model (engine/modded.h). No math here.
//
//   new ModdedModel(config, weights, placement?)
//                                      config: { preset: 'small'|'medium', n_layer, dim, n_head, head_dim,
//                                      embed_rows, head_rows, scalars_len, ...optional overrides }
//                                      weights: { name: Float32Array | Uint16Array (bfloat16 bits) }
//                                      (ModdedModel::weight_names), copied (bf16 widened to fp32)
//                                      placement: { device: 'cpu'|'cuda', index, precision: 'bf16'|'fp32' }
//                                      (cuda: the weights go to the GPU and the host copy is freed)
//   .device() -> "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3, bf16)"
//   .config() -> the resolved config (every switch explicit)
//   .forward(Int32Array) -> Promise<Float32Array [T * head_rows]>           (worker thread)
//   .generate(Int32Array, { max_new_tokens, temperature, top_k, top_p, seed, vocab_limit }, onToken?)
//       -> Promise<Int32Array> of new ids; onToken(id) is called on the main thread as they come
//   .stop()  asks a running generate to finish after the current token
//   .dispose()  safe at any time: calls already made stop after their current token and the model is
//               freed when they return; later calls reject with E_DISPOSED
// Calls run one at a time, in the order they were made (job.h: Job and Serial, as NativeModel).
#include <napi.h>

#include <atomic>
#include <memory>
#include <stdexcept>

#include "engine/backend.h"
#include "engine/modded.h"
#include "napi/errors.h"
#include "napi/exports.h"
#include "napi/job.h"

namespace {

using mypt_binding::guard;
using mypt_binding::Site;
using mypt::modded::ModdedConfig;
using mypt::modded::ModdedWeights;
using mypt::modded::ModdedRunner;
using mypt::modded::ModdedSample;
using mypt::modded::SkipKind;
using mypt::modded::SoftCap;

const char* kSoftcaps[] = {"sigmoid30_scaled", "sigmoid30", "algebraic15", "none"};

int IntField(const Napi::Object& o, const char* k) {
  Napi::Value v = o.Get(k);
  if (!v.IsNumber()) throw std::invalid_argument(std::string("modded config: '") + k + "' must be a number");
  return v.As<Napi::Number>().Int32Value();
}

std::vector<int> IntList(const Napi::Value& v, const char* k) {
  if (!v.IsArray()) throw std::invalid_argument(std::string("modded config: '") + k + "' must be an array");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    out[i] = e.IsBoolean() ? (e.As<Napi::Boolean>().Value() ? 1 : 0) : e.As<Napi::Number>().Int32Value();
  }
  return out;
}

ModdedConfig ConfigFromJs(const Napi::Object& o) {
  const std::string preset = o.Get("preset").IsString() ? o.Get("preset").As<Napi::String>().Utf8Value() : "";
  if (preset != "small" && preset != "medium")
    throw std::invalid_argument("modded config: 'preset' must be 'small' or 'medium'");
  auto make = preset == "small" ? mypt::modded::small_config : mypt::modded::medium_config;
  ModdedConfig c = make(IntField(o, "n_layer"), IntField(o, "dim"), IntField(o, "n_head"), IntField(o, "head_dim"),
                        IntField(o, "embed_rows"), IntField(o, "head_rows"), IntField(o, "scalars_len"));
  if (o.Has("mlp_hidden")) c.mlp_hidden = IntField(o, "mlp_hidden");
  if (o.Has("attn_input_norm")) c.attn_input_norm = o.Get("attn_input_norm").ToBoolean();
  if (o.Has("v_norm")) c.v_norm = o.Get("v_norm").ToBoolean();
  if (o.Has("attn_scale")) c.attn_scale = o.Get("attn_scale").As<Napi::Number>().FloatValue();
  if (o.Has("norm_eps")) c.norm_eps = o.Get("norm_eps").As<Napi::Number>().FloatValue();
  if (o.Has("rope_base")) c.rope_base = o.Get("rope_base").As<Napi::Number>().FloatValue();
  if (o.Has("doc_token")) c.doc_token = IntField(o, "doc_token");
  if (o.Has("attn_block")) c.attn_block = IntField(o, "attn_block");
  if (o.Has("long_window_blocks")) mypt::modded::set_window_pattern(c, preset == "medium", IntField(o, "long_window_blocks"));
  if (o.Has("window_blocks")) c.window_blocks = IntList(o.Get("window_blocks"), "window_blocks");
  if (o.Has("ve_index")) c.ve_index = IntList(o.Get("ve_index"), "ve_index");
  if (o.Has("has_attn")) {
    auto v = IntList(o.Get("has_attn"), "has_attn");
    c.has_attn.assign(v.begin(), v.end());
  }
  if (o.Has("skip")) {
    const std::string s = o.Get("skip").ToString().Utf8Value();
    if (s != "unet" && s != "map") throw std::invalid_argument("modded config: 'skip' must be 'unet' or 'map'");
    c.skip = s == "unet" ? SkipKind::UNet : SkipKind::Map;
  }
  if (o.Has("skip_from")) c.skip_from = IntList(o.Get("skip_from"), "skip_from");
  if (o.Has("softcap")) {
    const std::string s = o.Get("softcap").ToString().Utf8Value();
    int k = -1;
    for (int i = 0; i < 4; i++)
      if (s == kSoftcaps[i]) k = i;
    if (k < 0)
      throw std::invalid_argument("modded config: 'softcap' must be sigmoid30_scaled, sigmoid30, algebraic15 or none");
    c.softcap = (SoftCap)k;
  }
  c.validate();
  return c;
}

Napi::Array ToJs(Napi::Env env, const std::vector<int>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set((uint32_t)i, v[i]);
  return a;
}

Napi::Object ConfigToJs(Napi::Env env, const ModdedConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("n_layer", c.n_layer);
  o.Set("dim", c.dim);
  o.Set("n_head", c.n_head);
  o.Set("head_dim", c.head_dim);
  o.Set("mlp_hidden", c.mlp_hidden);
  o.Set("embed_rows", c.embed_rows);
  o.Set("head_rows", c.head_rows);
  o.Set("n_value_embeds", c.n_value_embeds);
  o.Set("scalars_len", c.scalars_len);
  o.Set("ve_index", ToJs(env, c.ve_index));
  o.Set("has_attn", ToJs(env, std::vector<int>(c.has_attn.begin(), c.has_attn.end())));
  o.Set("attn_input_norm", c.attn_input_norm);
  o.Set("v_norm", c.v_norm);
  o.Set("skip", c.skip == SkipKind::UNet ? "unet" : "map");
  o.Set("skip_from", ToJs(env, c.skip_from));
  o.Set("softcap", kSoftcaps[(int)c.softcap]);
  o.Set("attn_scale", c.attn_scale);
  o.Set("norm_eps", c.norm_eps);
  o.Set("rope_base", c.rope_base);
  o.Set("doc_token", c.doc_token);
  o.Set("attn_block", c.attn_block);
  o.Set("window_blocks", ToJs(env, c.window_blocks));
  return o;
}

// What a handle's jobs share: they keep it alive until the last one ends, so dispose never frees a model
// under a call made before it (such a call stops after one token); calls made after it reject.
struct ModdedState {
  std::unique_ptr<ModdedRunner> model;
  mypt_binding::Serial serial;
  std::atomic<bool> disposed{false};
  std::atomic<bool> stop{false};
  ModdedRunner& live() {
    if (disposed.load() || !model) throw mypt_binding::CodedError("E_DISPOSED", "this modded model was disposed");
    return *model;
  }
  ModdedState() = default;
  ~ModdedState() {
    if (model) mypt_binding::live_modded_models--;  // counted once made (the constructor, below)
  }
  ModdedState(const ModdedState&) = delete;
  ModdedState& operator=(const ModdedState&) = delete;
};

class ModdedHandle : public Napi::ObjectWrap<ModdedHandle> {
 public:
  static Napi::Function Class(Napi::Env env) {
    return DefineClass(env, "ModdedModel",
                       {InstanceMethod("config", &ModdedHandle::Config), InstanceMethod("device", &ModdedHandle::Device),
                        InstanceMethod("forward", &ModdedHandle::Forward),
                        InstanceMethod("generate", &ModdedHandle::Generate), InstanceMethod("stop", &ModdedHandle::Stop),
                        InstanceMethod("dispose", &ModdedHandle::Dispose)});
  }

  explicit ModdedHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModdedHandle>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject())
      throw Napi::TypeError::New(env, "ModdedModel(config, weights): two objects expected");
    st_ = std::make_shared<ModdedState>();
    guard(env, [&] {
      ModdedWeights weights(ConfigFromJs(info[0].As<Napi::Object>()));
      Napi::Object w = info[1].As<Napi::Object>();
      Napi::Array names = w.GetPropertyNames();
      for (uint32_t i = 0; i < names.Length(); i++) {
        const std::string name = names.Get(i).ToString().Utf8Value();
        Napi::Value v = w.Get(name);
        const napi_typedarray_type t = v.IsTypedArray() ? v.As<Napi::TypedArray>().TypedArrayType() : napi_int8_array;
        if (t == napi_float32_array) {
          Napi::Float32Array a = v.As<Napi::Float32Array>();
          weights.set_weight(name, a.Data(), (int64_t)a.ElementLength());
        } else if (t == napi_uint16_array) {
          Napi::Uint16Array a = v.As<Napi::Uint16Array>();
          weights.set_weight_bf16(name, a.Data(), (int64_t)a.ElementLength());
        } else {
          throw std::invalid_argument("modded weights: '" + name + "' must be a Float32Array or a Uint16Array of bfloat16 bits");
        }
      }
      weights.check_complete();
      mypt::Placement where;  // default: the CPU (bf16 is the GPU default)
      where.precision = mypt::Precision::BF16;
      if (info.Length() > 2 && info[2].IsObject()) {
        Napi::Object p = info[2].As<Napi::Object>();
        if (p.Has("device")) where.backend = p.Get("device").ToString().Utf8Value();
        if (where.backend != "cpu" && where.backend != "cuda")
          throw std::invalid_argument("modded placement: device must be 'cpu' or 'cuda' (got '" + where.backend + "')");
        where.device = p.Has("index") ? p.Get("index").ToNumber().Int32Value() : 0;
        const std::string prec = p.Has("precision") ? p.Get("precision").ToString().Utf8Value() : "bf16";
        if (prec != "bf16" && prec != "fp32")
          throw std::invalid_argument("modded placement: precision must be 'bf16' or 'fp32' (got '" + prec + "')");
        where.precision = prec == "fp32" ? mypt::Precision::FP32 : mypt::Precision::BF16;
      }
      st_->model = mypt::make_modded(std::move(weights), where);
      mypt_binding::live_modded_models++;
    }, Site::Constructor);
  }

 private:
  ModdedRunner& Live(Napi::Env env) {
    return guard(env, [&]() -> ModdedRunner& { return st_->live(); });
  }
  Napi::Value Config(const Napi::CallbackInfo& info) { return ConfigToJs(info.Env(), Live(info.Env()).config()); }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), Live(info.Env()).device()); }
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    st_->stop.store(true);
    return info.Env().Undefined();
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    st_->disposed.store(true);
    st_->stop.store(true);
    st_ = std::make_shared<ModdedState>();  // the old state goes with its last job
    st_->disposed.store(true);
    return info.Env().Undefined();
  }

  std::shared_ptr<ModdedState> st_;
};

std::vector<int32_t> TokensArg(const Napi::Value& v, Napi::Env env) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, "tokens must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

template <class JsArray, class T>
Napi::Value ToTyped(Napi::Env env, const std::vector<T>& v) {
  JsArray a = JsArray::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

Napi::Value ModdedHandle::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env);
  auto tokens = TokensArg(info[0], env);
  if (tokens.empty()) throw Napi::Error::New(env, "forward: no tokens");
  std::shared_ptr<ModdedState> st = st_;
  const uint64_t ticket = st->serial.ticket();
  return mypt_binding::Job<std::vector<float>>::Start(
      env, info.This().As<Napi::Object>(),
      [st, ticket, tokens](const mypt_binding::Emit&) {
        mypt_binding::Serial::Turn turn(st->serial, ticket);
        ModdedRunner& m = *st->model;  // checked live when the call was made; kept alive by `st`
        std::vector<float> out(tokens.size() * (size_t)m.config().head_rows);
        m.forward(tokens.data(), (int64_t)tokens.size(), out.data());
        return out;
      },
      [](Napi::Env e, std::vector<float>& out) { return ToTyped<Napi::Float32Array>(e, out); });
}

Napi::Value ModdedHandle::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env);
  auto prompt = TokensArg(info[0], env);
  if (prompt.empty()) throw Napi::Error::New(env, "generate: the prompt is empty");
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  auto num = [&](const char* k, double dflt) { return o.Get(k).IsNumber() ? o.Get(k).As<Napi::Number>().DoubleValue() : dflt; };
  ModdedSample sp;
  sp.temperature = (float)num("temperature", 1.0);
  sp.top_k = (int)num("top_k", 0);
  sp.top_p = (float)num("top_p", 1.0);
  sp.seed = (uint64_t)num("seed", 0);
  sp.vocab_limit = (int)num("vocab_limit", 0);
  const int max_new = (int)num("max_new_tokens", 0);
  Napi::Function on_token = info.Length() > 2 && info[2].IsFunction() ? info[2].As<Napi::Function>() : Napi::Function();
  std::shared_ptr<ModdedState> st = st_;
  const uint64_t ticket = st->serial.ticket();
  return mypt_binding::Job<std::vector<int32_t>>::Start(
      env, info.This().As<Napi::Object>(),
      [st, ticket, prompt, max_new, sp](const mypt_binding::Emit& emit) {
        mypt_binding::Serial::Turn turn(st->serial, ticket);
        ModdedRunner& m = *st->model;  // checked live when the call was made; kept alive by `st`
        // its turn: a stop asked for an earlier call does not cut this one short; a dispose does
        if (!st->disposed.load()) st->stop.store(false);
        return m.generate(prompt.data(), (int64_t)prompt.size(), max_new, sp, [&](int32_t id) {
          emit(&id, 1);
          return !st->stop.load();
        });
      },
      [](Napi::Env e, std::vector<int32_t>& ids) { return ToTyped<Napi::Int32Array>(e, ids); }, on_token);
}

}  // namespace

void mypt_binding::RegisterModded(Napi::Env env, Napi::Object exports) {
  exports.Set("ModdedModel", ModdedHandle::Class(env));
}
