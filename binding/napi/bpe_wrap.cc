// The native byte-level BPE (binding/text/bpe.h) as the addon's `Bpe` class.
//
//   new Bpe(tokenBytes: Uint8Array, offsets: Uint32Array, pattern: 'gpt2' | 'gpt2-js',
//           options?: { special?: ArrayLike<number> })
//       id i is tokenBytes[offsets[i], offsets[i+1]) (offsets has vocabulary size + 1 entries; an empty
//       entry is an unused id); `special` ids only decode. 'gpt2': tiktoken's ids (\s = Unicode
//       White_Space); 'gpt2-js': js-tiktoken's ids (\s = JavaScript's /\s/u: U+FEFF a space, U+0085 not).
//   bpe.encode(text: string | Uint8Array): Uint32Array                       on this thread
//   bpe.encodeAsync(text: string | Uint8Array, threads?: number): Promise<Uint32Array>
//   bpe.encodeBatchAsync(docs: (string | Uint8Array)[], opts?: { threads?: number }):
//       Promise<{ ids: Uint32Array; docOffsets: Float64Array }>               docOffsets: docs.length + 1
//   bpe.decode(ids: Uint32Array | Int32Array | number[]): Uint8Array
//   bpe.pieces(text: string | Uint8Array): Uint32Array                       the pre-tokenizer's piece ends
//   bpe.vocabSize: number; bpe.pattern: string; bpe.unicodeVersion: string (of the letter/number/space tables)
// Strings are encoded as UTF-8 (lone surrogates become U+FFFD); bytes are taken as they are (invalid
// UTF-8 is encoded byte by byte: bpe.h). The async calls run off the main thread (threads: 0 or absent =
// all cores); a Uint8Array given to them is read in place and must not change until the Promise settles.
// Strings are copied on the main thread first (N-API cannot read them elsewhere): pass Buffers for big
// corpora. Bad input throws (or rejects with) an Error whose code is E_BAD_ARGUMENT.
#include <napi.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "napi/errors.h"
#include "napi/job.h"
#include "text/bpe.h"

namespace mypt_binding {
namespace {

[[noreturn]] void throw_bad(Napi::Env env, const std::string& msg, bool type_error = false) {
  Napi::Error err = type_error ? Napi::TypeError::New(env, msg) : Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, "E_BAD_ARGUMENT"));
  throw err;
}

// Runs body; a C++ exception leaves as the binding's one mapping says (napi/errors.h).
template <class F>
Napi::Value guarded(Napi::Env env, F&& body) {
  return guard(env, std::forward<F>(body));
}

bool is_bytes(const Napi::Value& v) {
  if (!v.IsTypedArray()) return false;
  const napi_typedarray_type t = v.As<Napi::TypedArray>().TypedArrayType();
  return t == napi_uint8_array || t == napi_uint8_clamped_array;
}

// A text argument: a string's UTF-8 (copied, into big_alloc memory) or a Uint8Array's bytes (read in place).
struct Text {
  std::unique_ptr<uint8_t, void (*)(void*) noexcept> owned{nullptr, mypt_text::big_free};
  const uint8_t* bytes = nullptr;
  size_t size = 0;
  const uint8_t* data() const { return bytes; }
};

Text text_arg(const Napi::Value& v, const std::string& what) {
  Text t;
  if (v.IsString()) {
    size_t len = 0, got = 0;
    NAPI_THROW_IF_FAILED(v.Env(), napi_get_value_string_utf8(v.Env(), v, nullptr, 0, &len), t);
    t.owned.reset(static_cast<uint8_t*>(mypt_text::big_alloc(len + 1)));
    NAPI_THROW_IF_FAILED(v.Env(), napi_get_value_string_utf8(v.Env(), v, (char*)t.owned.get(), len + 1, &got), t);
    t.bytes = t.owned.get();
    t.size = got;
  } else if (is_bytes(v)) {
    auto a = v.As<Napi::Uint8Array>();
    t.bytes = a.ElementLength() ? a.Data() : (const uint8_t*)"";
    t.size = a.ElementLength();
  } else {
    throw_bad(v.Env(), what + " must be a string or a Uint8Array", true);
  }
  return t;
}

int threads_arg(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return 0;
  if (!v.IsNumber()) throw_bad(v.Env(), "threads must be a number", true);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 1024) || d != (double)(int)d)
    throw_bad(v.Env(), "threads must be an integer from 0 (all cores) to 1024, not " + v.ToString().Utf8Value());
  return (int)d;
}

// Token ids: a Uint32Array read in place, or a checked copy of an Int32Array or an array of numbers.
struct IdsArg {
  std::vector<uint32_t> owned;
  const uint32_t* data = nullptr;
  size_t size = 0;
};

IdsArg ids_arg(const Napi::Value& v) {
  const Napi::Env env = v.Env();
  IdsArg r;
  std::vector<uint32_t>& ids = r.owned;
  auto done = [&]() -> IdsArg {
    r.data = ids.data();
    r.size = ids.size();
    return std::move(r);
  };
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_uint32_array) {
      auto a = v.As<Napi::Uint32Array>();
      r.data = a.Data();
      r.size = a.ElementLength();
      return r;
    }
    if (ta.TypedArrayType() == napi_int32_array) {
      auto a = v.As<Napi::Int32Array>();
      ids.resize(a.ElementLength());
      for (size_t i = 0; i < ids.size(); i++) {
        if (a[i] < 0) throw_bad(env, "token id " + std::to_string(a[i]) + " at position " + std::to_string(i) + " is negative");
        ids[i] = (uint32_t)a[i];
      }
      return done();
    }
  } else if (v.IsArray()) {
    auto a = v.As<Napi::Array>();
    ids.resize(a.Length());
    for (uint32_t i = 0; i < a.Length(); i++) {
      const Napi::Value x = a.Get(i);
      const double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0 && d < 4294967296.0) || d != (double)(uint32_t)d)
        throw_bad(env, "token id " + x.ToString().Utf8Value() + " at position " + std::to_string(i) +
                           " is not a non-negative integer");
      ids[i] = (uint32_t)d;
    }
    return done();
  }
  throw_bad(env, "ids must be a Uint32Array, an Int32Array or an array of numbers", true);
}

// The ids as a Uint32Array: a long vector's own memory handed to an external ArrayBuffer (no copy of what may
// be hundreds of MB), else a copy (also where external buffers are not allowed, e.g. in a V8 sandbox).
template <class V>
Napi::Uint32Array to_js(Napi::Env env, V& ids) {
  const size_t n = ids.size();
  if (n >= 16384) {  // small arrays are copied: cheaper than an external buffer's bookkeeping
    if (ids.capacity() > n + n / 4) ids.shrink_to_fit();  // do not keep much more than the ids alive
    auto* owned = new V(std::move(ids));
    napi_value ab;
    const napi_status st = napi_create_external_arraybuffer(
        env, owned->data(), n * sizeof(uint32_t), [](napi_env, void*, void* hint) { delete static_cast<V*>(hint); },
        owned, &ab);
    if (st == napi_ok) return Napi::Uint32Array::New(env, n, Napi::ArrayBuffer(env, ab), 0);
    ids = std::move(*owned);
    delete owned;
    if (st != napi_no_external_buffers_allowed) NAPI_THROW_IF_FAILED(env, st, Napi::Uint32Array());
  }
  auto out = Napi::Uint32Array::New(env, n);
  if (n) std::memcpy(out.Data(), ids.data(), n * sizeof(uint32_t));
  return out;
}

class BpeWrap : public Napi::ObjectWrap<BpeWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Bpe",
                       {InstanceMethod("encode", &BpeWrap::Encode),
                        InstanceMethod("encodeAsync", &BpeWrap::EncodeAsync),
                        InstanceMethod("encodeBatchAsync", &BpeWrap::EncodeBatchAsync),
                        InstanceMethod("decode", &BpeWrap::Decode),
                        InstanceMethod("pieces", &BpeWrap::Pieces),
                        InstanceAccessor("vocabSize", &BpeWrap::VocabSize, nullptr),
                        InstanceAccessor("pattern", &BpeWrap::PatternName, nullptr),
                        InstanceAccessor("unicodeVersion", &BpeWrap::UnicodeVersion, nullptr)});
  }

  explicit BpeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpeWrap>(info) {
    Napi::Env env = info.Env();
    if (!is_bytes(info[0])) throw_bad(env, "new Bpe: tokenBytes must be a Uint8Array", true);
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
      throw_bad(env, "new Bpe: offsets must be a Uint32Array", true);
    if (!info[2].IsString()) throw_bad(env, "new Bpe: pattern must be 'gpt2' or 'gpt2-js'", true);
    auto bytes = info[0].As<Napi::Uint8Array>();
    auto offsets = info[1].As<Napi::Uint32Array>();
    if (offsets.ElementLength() < 2) throw_bad(env, "new Bpe: offsets needs the vocabulary size + 1 entries");
    std::vector<uint32_t> special;
    if (info.Length() > 3 && info[3].IsObject()) {
      const Napi::Value sp = info[3].As<Napi::Object>().Get("special");
      if (!sp.IsUndefined()) {
        const IdsArg a = ids_arg(sp);
        special.assign(a.data, a.data + a.size);
      }
    } else if (info.Length() > 3 && !info[3].IsUndefined()) {
      throw_bad(env, "new Bpe: options must be an object", true);
    }
    guarded(env, [&]() -> Napi::Value {
      const std::string name = info[2].As<Napi::String>().Utf8Value();
      bpe_ = std::make_shared<const mypt_text::Bpe>(bytes.ElementLength() ? bytes.Data() : (const uint8_t*)"",
                                                    bytes.ElementLength(), offsets.Data(), offsets.ElementLength() - 1,
                                                    mypt_text::pattern_from_name(name), special.data(), special.size());
      pattern_ = name;
      return env.Undefined();
    });
  }

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    const Text t = text_arg(info[0], "encode: text");
    return guarded(info.Env(), [&]() -> Napi::Value {
      mypt_text::Ids ids;
      bpe_->encode(t.data(), t.size, ids);
      return to_js(info.Env(), ids);
    });
  }

  // keeps this object and `input` alive until the job ends
  Napi::Object holder(Napi::Env env, const Napi::Value& input) {
    Napi::Object h = Napi::Object::New(env);
    h.Set("bpe", Value());
    h.Set("input", input);
    return h;
  }

  Napi::Value EncodeAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto t = std::make_shared<Text>(text_arg(info[0], "encodeAsync: text"));
    const int threads = threads_arg(info[1]);
    auto bpe = bpe_;
    return Job<mypt_text::Ids>::Start(
        env, holder(env, info[0]),
        [bpe, t, threads](const Emit&) { return bpe->encode_parallel(t->data(), t->size, threads); },
        [](Napi::Env env, mypt_text::Ids& ids) -> Napi::Value { return to_js(env, ids); });
  }

  struct Batch {
    mypt_text::Ids ids;
    std::vector<uint64_t> doc_offsets;
  };

  Napi::Value EncodeBatchAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray()) throw_bad(env, "encodeBatchAsync: docs must be an array of strings or Uint8Arrays", true);
    int threads = 0;
    if (info.Length() > 1 && info[1].IsObject()) threads = threads_arg(info[1].As<Napi::Object>().Get("threads"));
    else if (info.Length() > 1 && !info[1].IsUndefined()) throw_bad(env, "encodeBatchAsync: opts must be an object", true);
    auto docs = info[0].As<Napi::Array>();
    auto texts = std::make_shared<std::vector<Text>>(docs.Length());
    Napi::Array buffers = Napi::Array::New(env);  // the Uint8Arrays read in place, kept alive by the job
    for (uint32_t i = 0; i < docs.Length(); i++) {
      const Napi::Value doc = docs.Get(i);
      (*texts)[i] = text_arg(doc, "encodeBatchAsync: docs[" + std::to_string(i) + "]");
      if (!doc.IsString()) buffers.Set(buffers.Length(), doc);
    }
    auto bpe = bpe_;
    return Job<Batch>::Start(
        env, holder(env, buffers),
        [bpe, texts, threads](const Emit&) {
          std::vector<mypt_text::ByteSpan> spans;
          spans.reserve(texts->size());
          for (const Text& t : *texts) spans.push_back({t.data(), t.size});
          Batch b;
          bpe->encode_batch(spans.data(), spans.size(), threads, b.ids, b.doc_offsets);
          return b;
        },
        [](Napi::Env env, Batch& b) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("ids", to_js(env, b.ids));
          auto offs = Napi::Float64Array::New(env, b.doc_offsets.size());
          for (size_t i = 0; i < b.doc_offsets.size(); i++) offs[i] = (double)b.doc_offsets[i];
          out.Set("docOffsets", offs);
          return out;
        });
  }

  Napi::Value Decode(const Napi::CallbackInfo& info) {
    const IdsArg ids = ids_arg(info[0]);
    return guarded(info.Env(), [&]() -> Napi::Value {
      std::vector<uint8_t> bytes;
      bpe_->decode(ids.data, ids.size, bytes);
      auto out = Napi::Uint8Array::New(info.Env(), bytes.size());
      if (!bytes.empty()) std::memcpy(out.Data(), bytes.data(), bytes.size());
      return out;
    });
  }

  Napi::Value Pieces(const Napi::CallbackInfo& info) {
    const Text t = text_arg(info[0], "pieces: text");
    if (t.size > 0xFFFFFFFFu) throw_bad(info.Env(), "pieces: the text is over 4 GiB");
    std::vector<uint32_t> ends;
    bpe_->split(t.data(), t.size, ends);
    return to_js(info.Env(), ends);
  }

  Napi::Value VocabSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)bpe_->vocab_size()); }
  Napi::Value PatternName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), pattern_); }
  Napi::Value UnicodeVersion(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), mypt_text::unicode_version());
  }

  std::shared_ptr<const mypt_text::Bpe> bpe_;
  std::string pattern_;
};

}  // namespace
}  // namespace mypt_binding

// Adds the `Bpe` class to the addon's exports (called from the addon's Init).
namespace mypt_binding {
void RegisterBpe(Napi::Env env, Napi::Object exports) { exports.Set("Bpe", BpeWrap::Define(env)); }
}  // namespace mypt_binding
