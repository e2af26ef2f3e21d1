#include "napi/model_wrap.h"

#include <cmath>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/data_parallel.h"
#include "engine/init.h"
#include "engine/shard_plan.h"
#include "napi/convert.h"
#include "napi/group_wrap.h"
#include "napi/tokens.h"

namespace mypt_binding {
namespace {

// Runs a synchronous body on the main thread in the model's turn; C++ errors become JS errors (errors.h).
template <class F>
Napi::Value sync(Napi::Env env, const std::shared_ptr<ModelState>& st, F&& body) {
  return guard(env, [&]() -> Napi::Value {
    Serial::Turn turn(st->serial, st->serial.ticket());
    return body(st->live());
  });
}

// Queues `work(engine, emit)` for the model's next turn; `done` makes the resolved value.
template <class R, class W, class D>
Napi::Value async(const Napi::CallbackInfo& info, const std::shared_ptr<ModelState>& st, W work, D done,
                  Napi::Function on_progress = Napi::Function()) {
  const uint64_t ticket = st->serial.ticket();
  return Job<R>::Start(
      info.Env(), info.This().As<Napi::Object>(),
      [st, ticket, work](const Emit& emit) {
        Serial::Turn turn(st->serial, ticket);
        return work(st->live(), emit);
      },
      done, on_progress);
}

Napi::Value number(Napi::Env env, float& v) { return Napi::Number::New(env, v); }
Napi::Value number_d(Napi::Env env, double& v) { return Napi::Number::New(env, v); }

bool given(const Napi::Object& o, const char* key) { return o.Has(key) && !o.Get(key).IsUndefined(); }

Napi::Array shape_of(Napi::Env env, const std::vector<int64_t>& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); i++) a.Set((uint32_t)i, (double)shape[i]);
  return a;
}

void check_length(const Napi::Value& v, size_t want, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      v.As<Napi::TypedArray>().ElementLength() != want)
    throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a Float32Array of " + std::to_string(want) +
                                            " values");
}

// The Float32Array of `n` values a getter fills: info[i] when given (checked), else a new one.
Napi::Float32Array out_array(const Napi::CallbackInfo& info, size_t i, size_t n, const char* what) {
  if (info.Length() > i && !info[i].IsUndefined()) {
    check_length(info[i], n, what);
    return info[i].As<Napi::Float32Array>();
  }
  return Napi::Float32Array::New(info.Env(), n);
}

}  // namespace

mypt::Engine& ModelState::live() {
  if (disposed.load() || !engine) throw CodedError("E_DISPOSED", "the model was disposed");
  return *engine;
}

Napi::Function NativeModel::Define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {InstanceMethod("info", &NativeModel::Info),
                      InstanceMethod("allocHost", &NativeModel::AllocHost),
                      InstanceMethod("getParameters", &NativeModel::GetParameters),
                      InstanceMethod("setParameters", &NativeModel::SetParameters),
                      InstanceMethod("getGradients", &NativeModel::GetGradients),
                      InstanceMethod("getOptimizerState", &NativeModel::GetOptimizerState),
                      InstanceMethod("setOptimizerState", &NativeModel::SetOptimizerState),
                      InstanceMethod("setDecayMask", &NativeModel::SetDecayMask),
                      InstanceMethod("setSeed", &NativeModel::SetSeed),
                      InstanceMethod("setRecompute", &NativeModel::SetRecompute),
                      InstanceMethod("initParameters", &NativeModel::InitParameters),
                      InstanceMethod("setData", &NativeModel::SetData),
                      InstanceMethod("forward", &NativeModel::Forward),
                      InstanceMethod("loss", &NativeModel::Loss),
                      InstanceMethod("forwardBackward", &NativeModel::ForwardBackward),
                      InstanceMethod("optimizerStep", &NativeModel::OptimizerStep),
                      InstanceMethod("trainStep", &NativeModel::TrainStep),
                      InstanceMethod("trainBatch", &NativeModel::TrainBatch),
                      InstanceMethod("trainBatches", &NativeModel::TrainBatches),
                      InstanceMethod("estimateLoss", &NativeModel::EstimateLoss),
                      InstanceMethod("joinGroup", &NativeModel::JoinGroup),
                      InstanceMethod("generate", &NativeModel::Generate),
                      InstanceMethod("cancel", &NativeModel::Cancel),
                      InstanceMethod("openDecoder", &NativeModel::OpenDecoder),
                      InstanceMethod("decoderSubmit", &NativeModel::DecoderSubmit),
                      InstanceMethod("decoderCancel", &NativeModel::DecoderCancel),
                      InstanceMethod("decoderRun", &NativeModel::DecoderRun),
                      InstanceMethod("dispose", &NativeModel::Dispose)});
}

NativeModel::NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  st_ = std::make_shared<ModelState>();
  const mypt::ModelConfig cfg = to_config(info[0].As<Napi::Object>());
  const std::string device = info[1].ToString().Utf8Value();
  mypt::Placement where;
  where.backend = device;
  where.device = info[2].ToNumber().Int32Value();
  where.precision = info[3].ToString().Utf8Value() == "fp32" ? mypt::Precision::FP32 : mypt::Precision::BF16;
  st_->engine = guard(env, [&] { return mypt::make_engine(cfg, where); }, Site::Constructor);
  // parameters, gradients and two moments live natively: tell V8 so its heap heuristics see them
  st_->external_bytes = st_->engine->layout().total * 16;
  Napi::MemoryManagement::AdjustExternalMemory(env, st_->external_bytes);
}

NativeModel::~NativeModel() {
  if (st_) {
    st_->disposed = true;
    st_->cancel_epoch++;
    Napi::MemoryManagement::AdjustExternalMemory(env_, -st_->external_bytes);
  }
}

std::shared_ptr<ModelState> NativeModel::state() {
  if (!st_) throw to_js(Env(), {"E_DISPOSED", "the model was disposed"});
  return st_;
}

Napi::Value NativeModel::Info(const Napi::CallbackInfo& info) {
  return sync(info.Env(), state(), [&](mypt::Engine& e) -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    const mypt::ParamLayout& l = e.layout();
    o.Set("numParams", (double)l.total);
    o.Set("device", e.device());
    Napi::Array params = Napi::Array::New(env, l.params.size());
    for (size_t i = 0; i < l.params.size(); i++) {
      Napi::Object p = Napi::Object::New(env);
      p.Set("name", l.params[i].name);
      p.Set("shape", shape_of(env, l.params[i].shape));
      p.Set("offset", (double)l.params[i].offset);
      p.Set("numel", (double)l.params[i].numel);
      p.Set("isMatrix", l.params[i].is_matrix);
      params.Set((uint32_t)i, p);
    }
    o.Set("params", params);
    return o;
  });
}

Napi::Value NativeModel::AllocHost(const Napi::CallbackInfo& info) {
  return sync(info.Env(), state(), [&](mypt::Engine& e) -> Napi::Value {
    Napi::Env env = info.Env();
    const size_t n = (size_t)info[0].ToNumber().Int64Value();
    mypt::Engine::HostBlock b = e.alloc_host(n * sizeof(float));
    if (!b.p) return Napi::Float32Array::New(env, n);
    auto release = b.release;
    Napi::ArrayBuffer buf;
    try {
      buf = Napi::ArrayBuffer::New(env, b.p, n * sizeof(float),
                                   [release](Napi::Env, void* p) { release(p); });
    } catch (const Napi::Error&) {  // runtimes that refuse outside memory: an ordinary array
      release(b.p);
      return Napi::Float32Array::New(env, n);
    }
    return Napi::Float32Array::New(env, n, buf, 0);
  });
}

Napi::Value NativeModel::GetParameters(const Napi::CallbackInfo& info) {
  return sync(info.Env(), state(), [&](mypt::Engine& e) -> Napi::Value {
    auto a = out_array(info, 0, e.layout().total, "parameters");
    e.get_parameters(a.Data());
    return a;
  });
}

Napi::Value NativeModel::SetParameters(const Napi::CallbackInfo& info) {
  return sync(info.Env(), state(), [&](mypt::Engine& e) -> Napi::Value {
    check_length(info[0], e.layout().total, "parameters");
    e.set_parameters(info[0].As<Napi::Float32Array>().Data());
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::GetGradients(const Napi::CallbackInfo& info) {
  return sync(info.Env(), state(), [&](mypt::Engine& e) -> Napi::Value {
    auto a = Napi::Float32Array::New(info.Env(), e.layout().total);
    e.get_gradients(a.Data());
    return a;
  });
}

Napi::Value NativeModel::GetOptimizerState(const Napi::CallbackInfo& info) {
  return sync(info.Env(), state(), [&](mypt::Engine& e) -> Napi::Value {
    Napi::Env env = info.Env();
    auto m = out_array(info, 0, e.layout().total, "exp_avg"), v = out_array(info, 1, e.layout().total, "exp_avg_sq");
    int64_t step = 0;
    e.get_optimizer_state(m.Data(), v.Data(), &step);
    Napi::Object o = Napi::Object::New(env);
    o.Set("step", (double)step);
    o.Set("exp_avg", m);
    o.Set("exp_avg_sq", v);
    return o;
  });
}

Napi::Value NativeModel::SetOptimizerState(const Napi::CallbackInfo& info) {
  return sync(info.Env(), state(), [&](mypt::Engine& e) -> Napi::Value {
    check_length(info[0], e.layout().total, "exp_avg");
    check_length(info[1], e.layout().total, "exp_avg_sq");
    e.set_optimizer_state(info[0].As<Napi::Float32Array>().Data(), info[1].As<Napi::Float32Array>().Data(),
                          (int64_t)info[2].ToNumber().DoubleValue());
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::SetDecayMask(const Napi::CallbackInfo& info) {
  return sync(info.Env(), state(), [&](mypt::Engine& e) -> Napi::Value {
    auto a = info[0].As<Napi::Uint8Array>();
    e.set_decay_mask(std::vector<uint8_t>(a.Data(), a.Data() + a.ElementLength()));
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::SetSeed(const Napi::CallbackInfo& info) {
  auto st = state();
  return sync(info.Env(), st, [&](mypt::Engine& e) -> Napi::Value {
    const uint64_t seed = (uint64_t)info[0].ToNumber().DoubleValue();
    e.set_seed(seed);
    st->seed = seed;
    st->auto_step = st->auto_eval = 0;
    return info.Env().Undefined();
  });
}

// setRecompute(level): engine.h set_recompute (0, 1 or 2; checked by the TypeScript layer and the engine)
Napi::Value NativeModel::SetRecompute(const Napi::CallbackInfo& info) {
  return sync(info.Env(), state(), [&](mypt::Engine& e) -> Napi::Value {
    e.set_recompute(info[0].ToNumber().Int32Value());
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::InitParameters(const Napi::CallbackInfo& info) {
  return sync(info.Env(), state(), [&](mypt::Engine& e) -> Napi::Value {
    const auto kind = info[0].ToString().Utf8Value() == "gpt2" ? mypt::InitKind::GPT2 : mypt::InitKind::PyTorch;
    std::vector<float> p((size_t)e.layout().total);
    mypt::init_parameters(e.config(), e.layout(), kind, (uint64_t)info[1].ToNumber().DoubleValue(), p.data());
    e.set_parameters(p.data());
    return info.Env().Undefined();
  });
}

// setData(split, tokens: Int32Array | Uint16Array | TokenMap, start?, count?): typed arrays are copied
// (their ids checked as they are), a TokenMap is shared (its ids are checked window by window).
Napi::Value NativeModel::SetData(const Napi::CallbackInfo& info) {
  auto st = state();
  return sync(info.Env(), st, [&](mypt::Engine& e) -> Napi::Value {
    const mypt::Split split = to_split(info[0]);
    mypt::TokenView view = token_view(info[1], info[2], info[3]);
    if (!view.owner) {
      const std::string what = std::string(mypt::split_name(split)) + " data";
      view = mypt::copy_tokens(view, e.config().vocab_size, what.c_str());
    }
    st->data.set(split, std::move(view));
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::Forward(const Napi::CallbackInfo& info) {
  auto tokens = to_ints(info[0], "tokens");
  const int B = info[1].ToNumber().Int32Value(), T = info[2].ToNumber().Int32Value();
  return async<std::vector<float>>(
      info, state(),
      [tokens, B, T](mypt::Engine& e, const Emit&) {
        std::vector<float> out((size_t)B * T * e.config().vocab_size);
        e.forward(tokens.data(), B, T, out.data());
        return out;
      },
      [](Napi::Env env, std::vector<float>& v) -> Napi::Value { return to_float32(env, std::move(v)); });
}

Napi::Value NativeModel::Loss(const Napi::CallbackInfo& info) {
  auto x = to_ints(info[0], "tokens"), y = to_ints(info[1], "targets");
  const int B = info[2].ToNumber().Int32Value(), T = info[3].ToNumber().Int32Value();
  return async<float>(
      info, state(), [x, y, B, T](mypt::Engine& e, const Emit&) { return e.loss(x.data(), y.data(), B, T); },
      number);
}

Napi::Value NativeModel::ForwardBackward(const Napi::CallbackInfo& info) {
  auto x = to_ints(info[0], "tokens"), y = to_ints(info[1], "targets");
  const int B = info[2].ToNumber().Int32Value(), T = info[3].ToNumber().Int32Value();
  const bool train = info[4].ToBoolean().Value();
  const float scale = (float)info[5].ToNumber().DoubleValue();
  const bool accumulate = info[6].ToBoolean().Value();
  return async<float>(
      info, state(),
      [=](mypt::Engine& e, const Emit&) {
        return e.forward_backward(x.data(), y.data(), B, T, train, scale, accumulate);
      },
      number);
}

Napi::Value NativeModel::OptimizerStep(const Napi::CallbackInfo& info) {
  const mypt::AdamWParams p = to_adamw(info[0].As<Napi::Object>());
  return async<float>(info, state(), [p](mypt::Engine& e, const Emit&) { return e.optimizer_step(p); }, number);
}

Napi::Value NativeModel::TrainStep(const Napi::CallbackInfo& info) {
  auto x = to_ints(info[0], "tokens"), y = to_ints(info[1], "targets");
  const int B = info[2].ToNumber().Int32Value(), T = info[3].ToNumber().Int32Value();
  const mypt::AdamWParams p = to_adamw(info[4].As<Napi::Object>());
  return async<mypt::StepResult>(
      info, state(), [=](mypt::Engine& e, const Emit&) { return e.train_step(x.data(), y.data(), 1, B, T, p); },
      [](Napi::Env env, mypt::StepResult& r) -> Napi::Value { return step_result(env, r); });
}

// trainBatch({ batch_size, block_size, grad_accum, seed?, step?, stop?, lr, ... }): engine/data.h train_batches,
// or in a group engine/data_parallel.h train_batches_dp -> { loss, gradNorm, stop } (stop: some rank asked)
Napi::Value NativeModel::TrainBatch(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto st = state();
  mypt::TrainBatchOptions b;
  b.adamw = to_adamw(o);
  bool stop = false;
  guard(info.Env(), [&] {
    b.batch_size = to_positive_int(o.Get("batch_size"), "batch_size");
    b.block_size = to_positive_int(o.Get("block_size"), "block_size");
    b.grad_accum = given(o, "grad_accum") ? to_positive_int(o.Get("grad_accum"), "grad_accum") : 1;
    b.seed = given(o, "seed") ? to_u53(o.Get("seed"), "seed") : st->seed;
    b.step = given(o, "step") ? to_u53(o.Get("step"), "step") : st->auto_step++;
    stop = o.Get("stop").ToBoolean().Value();
  });
  return async<mypt::DpStepResult>(
      info, st,
      [st, b, stop](mypt::Engine& e, const Emit&) {
        if (st->group) return mypt::train_batches_dp(e, *st->group, st->data, b, stop);
        mypt::DpStepResult r;
        r.step = mypt::train_batches(e, st->data, b);
        r.stop = stop;
        return r;
      },
      [](Napi::Env env, mypt::DpStepResult& r) -> Napi::Value {
        Napi::Object o = step_result(env, r.step);
        o.Set("stop", r.stop);
        return o;
      });
}

// trainBatches({ batch_size, block_size, grad_accum, seed?, step?, lrs, ... }): engine/data.h train_batch_run, the
// steps step .. step + lrs.length - 1 queued as one -> { losses, gradNorms }. Outside a data-parallel group only.
Napi::Value NativeModel::TrainBatches(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto st = state();
  mypt::TrainBatchOptions b;
  b.adamw = to_adamw(o);
  std::vector<float> lrs;
  guard(info.Env(), [&] {
    if (st->group) throw std::invalid_argument("trainBatches: a model in a data-parallel group steps with trainBatch");
    b.batch_size = to_positive_int(o.Get("batch_size"), "batch_size");
    b.block_size = to_positive_int(o.Get("block_size"), "block_size");
    b.grad_accum = given(o, "grad_accum") ? to_positive_int(o.Get("grad_accum"), "grad_accum") : 1;
    b.seed = given(o, "seed") ? to_u53(o.Get("seed"), "seed") : st->seed;
    if (!o.Get("lrs").IsArray()) throw std::invalid_argument("trainBatches: lrs must be an array of learning rates");
    Napi::Array a = o.Get("lrs").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      const Napi::Value v = a.Get(i);
      const double lr = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
      if (!std::isfinite(lr) || lr < 0 || lr > 1e30)
        throw std::invalid_argument("trainBatches: lrs[" + std::to_string(i) + "] is not a learning rate >= 0");
      lrs.push_back((float)lr);
    }
    if (given(o, "step")) {
      b.step = to_u53(o.Get("step"), "step");
    } else {
      b.step = st->auto_step;
      st->auto_step += lrs.size();
    }
  });
  return async<std::vector<mypt::StepResult>>(
      info, st,
      [st, b, lrs](mypt::Engine& e, const Emit&) {
        // the group as it is when the job runs (a joinGroup queued before this call has joined by then)
        if (st->group) throw std::invalid_argument("trainBatches: a model in a data-parallel group steps with trainBatch");
        return mypt::train_batch_run(e, st->data, b, lrs);
      },
      [](Napi::Env env, std::vector<mypt::StepResult>& r) -> Napi::Value {
        Napi::Array losses = Napi::Array::New(env, r.size()), norms = Napi::Array::New(env, r.size());
        for (uint32_t i = 0; i < r.size(); i++) {
          losses.Set(i, r[i].loss);
          norms.Set(i, r[i].grad_norm);
        }
        Napi::Object o = Napi::Object::New(env);
        o.Set("losses", losses);
        o.Set("gradNorms", norms);
        return o;
      });
}

// estimateLoss(split, iters, B, T, seed?, counter0?): engine/data.h estimate_loss
Napi::Value NativeModel::EstimateLoss(const Napi::CallbackInfo& info) {
  const mypt::Split split = to_split(info[0]);
  auto st = state();
  int iters = 0, B = 0, T = 0;
  uint64_t seed = 0, counter0 = 0;
  guard(info.Env(), [&] {
    iters = to_positive_int(info[1], "iters");
    B = to_positive_int(info[2], "batch_size");
    T = to_positive_int(info[3], "block_size");
    seed = info[4].IsUndefined() ? st->seed : to_u53(info[4], "seed");
    if (info[5].IsUndefined()) {
      counter0 = st->auto_eval;
      st->auto_eval += iters;
    } else {
      counter0 = to_u53(info[5], "counter0");
    }
  });
  return async<double>(
      info, st,
      [=](mypt::Engine& e, const Emit&) {
        if (st->group) return mypt::estimate_loss_dp(e, *st->group, st->data, split, iters, B, T, seed, counter0);
        return mypt::estimate_loss(e, st->data, split, iters, B, T, seed, counter0);
      },
      number_d);
}

// joinGroup(group: NativeGroup (connected), { bucketFloats, gradDtype: 'fp32'|'bf16' })
//   -> Promise<{ group, buckets, shardSize }>: engine.h join_group with this rank's plan (engine/shard_plan.h)
Napi::Value NativeModel::JoinGroup(const Napi::CallbackInfo& info) {
  auto st = state();
  std::shared_ptr<GroupState> gs = NativeGroup::Of(info[0]);
  Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(info.Env());
  int64_t bucket_floats = 0;
  mypt::DType dtype = mypt::DType::F32;
  guard(info.Env(), [&] {
    bucket_floats = given(o, "bucketFloats") ? (int64_t)to_u53(o.Get("bucketFloats"), "bucketFloats") : (int64_t)(25 << 20) / 4;
    const std::string d = given(o, "gradDtype") ? o.Get("gradDtype").ToString().Utf8Value() : "fp32";
    if (d != "fp32" && d != "bf16") throw std::invalid_argument("gradDtype must be 'fp32' or 'bf16'");
    dtype = d == "bf16" ? mypt::DType::BF16 : mypt::DType::F32;
  });
  struct Joined {
    std::string group;
    int64_t buckets = 0, shard = 0;
  };
  return async<Joined>(
      info, st,
      [st, gs, bucket_floats, dtype](mypt::Engine& e, const Emit&) {
        std::shared_ptr<mypt::Collective> g = gs->live();
        const mypt::ShardPlan plan = mypt::ShardPlan::make(e.layout().total, mypt::backward_ready_points(e.config(), e.layout()),
                                                           g->rank(), g->world(), bucket_floats);
        e.join_group(g, plan, dtype);
        st->group = g;
        return Joined{g->describe(), (int64_t)plan.buckets.size(), plan.shard_size};
      },
      [](Napi::Env env, Joined& j) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("group", j.group);
        r.Set("buckets", (double)j.buckets);
        r.Set("shardSize", (double)j.shard);
        return r;
      });
}

// generate(prompt: Int32Array, opts, onToken?) -> Promise<Int32Array> of the new ids
Napi::Value NativeModel::Generate(const Napi::CallbackInfo& info) {
  auto prompt = to_ints(info[0], "prompt");
  Napi::Object o = info[1].As<Napi::Object>();
  const int max_new = o.Get("max_new_tokens").ToNumber().Int32Value();
  const mypt::SampleParams sp = to_sample(o);
  Napi::Function on_token = info[2].IsFunction() ? info[2].As<Napi::Function>() : Napi::Function();
  auto st = state();
  const uint64_t epoch = st->cancel_epoch.load();
  return async<std::vector<int32_t>>(
      info, st,
      [=](mypt::Engine& e, const Emit& emit) {
        std::vector<int32_t> ids;
        if (st->cancel_epoch.load() != epoch) return ids;
        e.generate(prompt.data(), (int)prompt.size(), max_new, sp, [&](int32_t id) {
          ids.push_back(id);
          emit(&id, 1);
          return st->cancel_epoch.load() == epoch;
        });
        return ids;
      },
      [](Napi::Env env, std::vector<int32_t>& ids) -> Napi::Value {
        auto a = Napi::Int32Array::New(env, ids.size());
        std::copy(ids.begin(), ids.end(), a.Data());
        return a;
      },
      on_token);
}

Napi::Value NativeModel::Cancel(const Napi::CallbackInfo& info) {
  if (st_) st_->cancel_epoch++;
  return info.Env().Undefined();
}

// Frees the engine now, or when the call in flight ends; later calls reject with E_DISPOSED.
Napi::Value NativeModel::Dispose(const Napi::CallbackInfo& info) {
  if (st_) {
    st_->disposed = true;
    st_->cancel_epoch++;
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -st_->external_bytes);
    st_.reset();
  }
  return info.Env().Undefined();
}

}  // namespace mypt_binding
