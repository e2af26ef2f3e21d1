#include "napi/group_wrap.h"

#include <cstring>
#include <stdexcept>
#include <vector>

#include "engine/backend.h"
#include "engine/shard_plan.h"
#include "napi/convert.h"
#include "napi/errors.h"

namespace mypt_binding {
namespace {

// marks the JS objects that are NativeGroups (NativeGroup::Of)
const napi_type_tag kGroupTag = {0x6d79707467726f75ULL, 0x7000000000000001ULL};

mypt::CollOp to_op(const std::string& s) {
  if (s == "all_reduce") return mypt::CollOp::AllReduce;
  if (s == "reduce_scatter") return mypt::CollOp::ReduceScatter;
  if (s == "all_gather") return mypt::CollOp::AllGather;
  if (s == "broadcast") return mypt::CollOp::Broadcast;
  throw std::invalid_argument("unknown collective '" + s + "'");
}

// a copy of a typed array's bytes, and its element type
struct Payload {
  std::vector<uint8_t> bytes;
  mypt::DType type = mypt::DType::F32;
  int64_t count = 0;
  napi_typedarray_type js = napi_float32_array;
};

Payload payload_of(const Napi::Value& v) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(v.Env(), "a collective needs a Float32Array, Float64Array or Uint16Array");
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  Payload p;
  p.js = a.TypedArrayType();
  if (p.js == napi_float32_array) p.type = mypt::DType::F32;
  else if (p.js == napi_float64_array) p.type = mypt::DType::F64;
  else if (p.js == napi_uint16_array) p.type = mypt::DType::BF16;
  else throw Napi::TypeError::New(v.Env(), "a collective needs a Float32Array, Float64Array or Uint16Array");
  p.count = (int64_t)a.ElementLength();
  const uint8_t* src = (const uint8_t*)a.ArrayBuffer().Data() + a.ByteOffset();
  p.bytes.assign(src, src + a.ByteLength());
  return p;
}

Napi::Value typed_of(Napi::Env env, Payload& p) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, p.bytes.size());
  if (!p.bytes.empty()) std::memcpy(ab.Data(), p.bytes.data(), p.bytes.size());
  if (p.js == napi_float64_array) return Napi::Float64Array::New(env, (size_t)p.count, ab, 0);
  if (p.js == napi_uint16_array) return Napi::Uint16Array::New(env, (size_t)p.count, ab, 0);
  return Napi::Float32Array::New(env, (size_t)p.count, ab, 0);
}

int int_field(const Napi::Object& o, const char* k, int lo, int hi) {
  Napi::Value v = o.Get(k);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1e300;
  if (!(d >= lo && d <= hi && d == (double)(int64_t)d))
    throw std::invalid_argument(std::string("group: ") + k + " must be an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
  return (int)d;
}

// groupId(device) -> Uint8Array: a new group's id, made on rank 0 (engine/backend.h collective_id)
Napi::Value GroupId(const Napi::CallbackInfo& info) {
  const std::string device = info[0].ToString().Utf8Value();
  return guard(info.Env(), [&]() -> Napi::Value {
    const std::vector<uint8_t> id = mypt::collective_id(device);
    auto a = Napi::Uint8Array::New(info.Env(), id.size());
    std::memcpy(a.Data(), id.data(), id.size());
    return a;
  });
}

Napi::Array int_array(Napi::Env env, const std::vector<int64_t>& xs) {
  Napi::Array a = Napi::Array::New(env, xs.size());
  for (size_t i = 0; i < xs.size(); i++) a.Set((uint32_t)i, (double)xs[i]);
  return a;
}

Napi::Object range_object(Napi::Env env, int64_t begin, int64_t end, int64_t local) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("begin", (double)begin);
  o.Set("end", (double)end);
  o.Set("local", (double)local);
  return o;
}

// shardPlan(config, rank, world, bucketFloats) -> the plan of engine/shard_plan.h and the ready points
Napi::Value ShardPlanOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const mypt::ModelConfig cfg = to_config(info[0].As<Napi::Object>());
    cfg.validate();
    const mypt::ParamLayout layout(cfg);
    const std::vector<int64_t> ready = mypt::backward_ready_points(cfg, layout);
    const mypt::ShardPlan p = mypt::ShardPlan::make(layout.total, ready, info[1].ToNumber().Int32Value(),
                                                    info[2].ToNumber().Int32Value(),
                                                    (int64_t)info[3].ToNumber().DoubleValue());
    Napi::Object o = Napi::Object::New(env);
    o.Set("total", (double)p.total);
    o.Set("ready", int_array(env, ready));
    o.Set("shardSize", (double)p.shard_size);
    Napi::Array buckets = Napi::Array::New(env, p.buckets.size());
    for (size_t i = 0; i < p.buckets.size(); i++) {
      Napi::Object b = range_object(env, p.buckets[i].begin, p.buckets[i].end, p.buckets[i].local);
      b.Set("slice", (double)p.buckets[i].slice);
      buckets.Set((uint32_t)i, b);
    }
    o.Set("buckets", buckets);
    Napi::Array rep = Napi::Array::New(env, p.replicated.size());
    for (size_t i = 0; i < p.replicated.size(); i++)
      rep.Set((uint32_t)i, range_object(env, p.replicated[i].begin, p.replicated[i].end, p.replicated[i].local));
    o.Set("replicated", rep);
    const std::vector<mypt::ShardRange> own = p.owned();
    Napi::Array owned = Napi::Array::New(env, own.size());
    for (size_t i = 0; i < own.size(); i++) {
      Napi::Object r = range_object(env, own[i].begin, own[i].end, own[i].local);
      r.Set("replicated", own[i].replicated);
      owned.Set((uint32_t)i, r);
    }
    o.Set("owned", owned);
    return o;
  });
}

}  // namespace

std::shared_ptr<mypt::Collective> GroupState::live() const {
  if (!group) throw CodedError("E_DISTRIBUTED", "the group is not connected (or was closed)");
  return group;
}

Napi::Function NativeGroup::Define(Napi::Env env) {
  return DefineClass(env, "NativeGroup",
                     {InstanceMethod("connect", &NativeGroup::Connect), InstanceMethod("run", &NativeGroup::Run),
                      InstanceMethod("describe", &NativeGroup::Describe), InstanceMethod("close", &NativeGroup::Close)});
}

NativeGroup::NativeGroup(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeGroup>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "NativeGroup(spec): an object expected");
  Napi::Object o = info[0].As<Napi::Object>();
  info.This().As<Napi::Object>().TypeTag(&kGroupTag);
  st_ = std::make_shared<GroupState>();
  guard(env, [&] {
    st_->backend = o.Get("device").ToString().Utf8Value();
    if (st_->backend != "cpu" && st_->backend != "cuda")
      throw std::invalid_argument("group: device must be 'cpu' or 'cuda'");
    mypt::GroupSpec& s = st_->spec;
    s.world = int_field(o, "world", 1, 1 << 20);
    s.rank = int_field(o, "rank", 0, s.world - 1);
    s.device = int_field(o, "deviceIndex", 0, 1 << 16);
    s.timeout_ms = int_field(o, "timeoutMs", 1, 1 << 30);
    Napi::Value id = o.Get("id");
    if (!id.IsTypedArray() || id.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw std::invalid_argument("group: id must be a Uint8Array (rank 0's groupId)");
    Napi::Uint8Array a = id.As<Napi::Uint8Array>();
    s.id.assign(a.Data(), a.Data() + a.ElementLength());
    s.host = o.Get("host").ToString().Utf8Value();
  }, Site::Constructor);
}

std::shared_ptr<GroupState> NativeGroup::Of(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kGroupTag)) throw Napi::TypeError::New(env, "a NativeGroup expected");
  return Unwrap(v.As<Napi::Object>())->st_;
}

Napi::Value NativeGroup::Connect(const Napi::CallbackInfo& info) {
  auto st = st_;
  const uint64_t ticket = st->serial.ticket();
  return Job<std::string>::Start(
      info.Env(), info.This().As<Napi::Object>(),
      [st, ticket](const Emit&) {
        Serial::Turn turn(st->serial, ticket);
        if (!st->group) st->group = mypt::make_collective(st->backend, st->spec);
        return st->group->describe();
      },
      [](Napi::Env env, std::string& s) -> Napi::Value { return Napi::String::New(env, s); });
}

Napi::Value NativeGroup::Run(const Napi::CallbackInfo& info) {
  auto st = st_;
  const mypt::CollOp op = guard(info.Env(), [&] { return to_op(info[0].ToString().Utf8Value()); });
  auto data = std::make_shared<Payload>(payload_of(info[1]));
  const int root = info[2].IsNumber() ? info[2].ToNumber().Int32Value() : 0;
  const uint64_t ticket = st->serial.ticket();
  return Job<std::shared_ptr<Payload>>::Start(
      info.Env(), info.This().As<Napi::Object>(),
      [st, ticket, op, data, root](const Emit&) {
        Serial::Turn turn(st->serial, ticket);
        auto g = st->live();
        int64_t count = data->count;
        if (op == mypt::CollOp::ReduceScatter || op == mypt::CollOp::AllGather) {
          if (count % g->world() != 0)
            throw std::invalid_argument(std::string(mypt::coll_op_name(op)) + " needs a length that is a multiple of " +
                                        std::to_string(g->world()));
          count /= g->world();
        }
        g->run_host(op, data->bytes.data(), count, data->type, root);
        return data;
      },
      [](Napi::Env env, std::shared_ptr<Payload>& p) -> Napi::Value { return typed_of(env, *p); });
}

Napi::Value NativeGroup::Describe(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), st_->group ? st_->group->describe() : "not connected");
}

// The models that joined keep the group alive until they are disposed; this handle lets go of it.
Napi::Value NativeGroup::Close(const Napi::CallbackInfo& info) {
  st_->group.reset();
  return info.Env().Undefined();
}

void RegisterGroup(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeGroup", NativeGroup::Define(env));
  exports.Set("groupId", Napi::Function::New(env, GroupId, "groupId"));
  exports.Set("shardPlan", Napi::Function::New(env, ShardPlanOf, "shardPlan"));
}

}  // namespace mypt_binding
