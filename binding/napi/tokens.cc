#include "napi/tokens.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "napi/convert.h"
#include "napi/errors.h"
#include "napi/exports.h"

namespace mypt_binding {
namespace {

// Marks the objects made by TokenMap's constructor (a safe check before unwrapping one).
constexpr napi_type_tag kTokenMapTag = {0x6d797074746f6b6eULL, 0x6d61700000000001ULL};

// One read-only mapping of a token file, unmapped when its last owner lets go.
struct MappedTokens {
  void* base = MAP_FAILED;  // what mmap returned (page-aligned, below `data`)
  size_t mapped = 0;
  const void* data = nullptr;
  int64_t count = 0;
  mypt::TokenType type = mypt::TokenType::Uint16;
  std::string path;
  ~MappedTokens() {
    if (base != MAP_FAILED) munmap(base, mapped);
  }
};

std::string errno_text() { return std::strerror(errno); }

std::shared_ptr<MappedTokens> map_tokens(const std::string& path, uint64_t byte_offset, uint64_t count,
                                         mypt::TokenType type) {
  const uint64_t elem = type == mypt::TokenType::Int32 ? 4 : 2;
  if (count < 1) throw std::invalid_argument("mapTokens: count must be at least 1 (" + path + ")");
  if (byte_offset % elem)
    throw std::invalid_argument("mapTokens: byteOffset " + std::to_string(byte_offset) + " of " + path +
                                " is not a multiple of the token size (" + std::to_string(elem) + " bytes)");
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw CodedError("E_IO", "cannot open " + path + ": " + errno_text());
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) throw CodedError("E_IO", "cannot stat " + path + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) throw CodedError("E_BAD_FILE", path + " is not a regular file");
  const uint64_t need = byte_offset + count * elem;
  if ((uint64_t)st.st_size < need)
    throw CodedError("E_BAD_FILE", path + " holds " + std::to_string((uint64_t)st.st_size) + " bytes; " +
                                       std::to_string(count) + " tokens of " + std::to_string(elem) +
                                       " bytes from byte " + std::to_string(byte_offset) + " need " +
                                       std::to_string(need));
  const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  const uint64_t start = byte_offset / page * page;
  auto m = std::make_shared<MappedTokens>();
  m->mapped = (size_t)(need - start);
  m->base = mmap(nullptr, m->mapped, PROT_READ, MAP_SHARED, fd, (off_t)start);
  if (m->base == MAP_FAILED) throw CodedError("E_IO", "cannot map " + path + ": " + errno_text());
  madvise(m->base, m->mapped, MADV_RANDOM);  // batches read scattered windows: no read-ahead
#ifdef MADV_NOHUGEPAGE
  madvise(m->base, m->mapped, MADV_NOHUGEPAGE);  // no 2 MB pages for 512-byte windows
#endif
  m->data = (const char*)m->base + (byte_offset - start);
  m->count = (int64_t)count;
  m->type = type;
  m->path = path;
  return m;
}

class TokenMap : public Napi::ObjectWrap<TokenMap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TokenMap",
                       {InstanceAccessor<&TokenMap::Length>("length"), InstanceAccessor<&TokenMap::Dtype>("dtype"),
                        InstanceAccessor<&TokenMap::Path>("path"), InstanceMethod<&TokenMap::Close>("close"),
                        InstanceMethod<&TokenMap::Release>("release")});
  }

  // new TokenMap(path, byteOffset, count, dtype): mapTokens' work (the JS entry is mapTokens).
  explicit TokenMap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TokenMap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "mapTokens: path must be a string");
    guard(env, [&] {
      const std::string path = info[0].As<Napi::String>().Utf8Value();
      const uint64_t offset = to_u53(info[1], "mapTokens: byteOffset");
      const uint64_t count = to_u53(info[2], "mapTokens: count");
      const std::string dtype = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
      if (dtype != "uint16" && dtype != "int32")
        throw std::invalid_argument("mapTokens: dtype must be 'uint16' or 'int32' (got '" + dtype + "')");
      map_ = map_tokens(path, offset, count, dtype == "int32" ? mypt::TokenType::Int32 : mypt::TokenType::Uint16);
      length_ = map_->count;
      dtype_ = dtype;
      path_ = path;
    });
    info.This().As<Napi::Object>().TypeTag(&kTokenMapTag);
  }

  // The mapped tokens, sharing the mapping; E_DISPOSED once closed.
  mypt::TokenView view() const {
    if (!map_) throw CodedError("E_DISPOSED", "the token map of " + path_ + " was closed");
    mypt::TokenView v;
    v.data = map_->data;
    v.length = map_->count;
    v.type = map_->type;
    v.owner = std::shared_ptr<const void>(map_, map_->data);
    v.source = path_;
    return v;
  }

 private:
  Napi::Value Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)length_); }
  Napi::Value Dtype(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), dtype_); }
  Napi::Value Path(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), path_); }
  // Drops this handle's reference; models that hold the data keep the mapping until they let go.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    map_.reset();
    return info.Env().Undefined();
  }

  // Unmaps the pages read so far from this process (madvise MADV_DONTNEED; they stay in the page cache and
  // fault back in when read again): the kernel maps whole large folios around each window read, so without
  // this the resident size of a long run grows toward the file's size. Safe while a step reads the mapping.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    if (map_) madvise(map_->base, map_->mapped, MADV_DONTNEED);
    return info.Env().Undefined();
  }

  std::shared_ptr<MappedTokens> map_;
  int64_t length_ = 0;
  std::string dtype_, path_;
};

struct TokensData {
  Napi::FunctionReference token_map;
};

// mapTokens(path, byteOffset, count, dtype) -> TokenMap
Napi::Value MapTokens(const Napi::CallbackInfo& info) {
  auto* d = info.Env().GetInstanceData<TokensData>();
  return d->token_map.New({info[0], info[1], info[2], info[3]});
}

// sampleBatch(tokens, B, T, seed, stream, counter) -> { x, y }
Napi::Value SampleBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const mypt::TokenView data = token_view(info[0], env.Undefined(), env.Undefined());
    const int B = to_positive_int(info[1], "sampleBatch: B"), T = to_positive_int(info[2], "sampleBatch: T");
    const uint64_t seed = to_u53(info[3], "sampleBatch: seed");
    const uint64_t stream = to_u53(info[4], "sampleBatch: stream");
    if (stream > 0xffffffffULL) throw std::invalid_argument("sampleBatch: stream must fit in 32 bits");
    const uint64_t counter = to_u53(info[5], "sampleBatch: counter");
    auto x = Napi::Int32Array::New(env, (size_t)B * T), y = Napi::Int32Array::New(env, (size_t)B * T);
    mypt::sample_batch(data, "tokens", B, T, seed, (uint32_t)stream, counter, 0, x.Data(), y.Data());
    Napi::Object out = Napi::Object::New(env);
    out.Set("x", x);
    out.Set("y", y);
    return out;
  });
}

}  // namespace

mypt::TokenView token_view(const Napi::Value& tokens, const Napi::Value& start, const Napi::Value& count) {
  mypt::TokenView v;
  const napi_typedarray_type t =
      tokens.IsTypedArray() ? tokens.As<Napi::TypedArray>().TypedArrayType() : napi_float64_array;
  if (t == napi_int32_array) {
    auto a = tokens.As<Napi::Int32Array>();
    v.data = a.Data();
    v.length = (int64_t)a.ElementLength();
    v.type = mypt::TokenType::Int32;
    v.source = "the Int32Array";
  } else if (t == napi_uint16_array) {
    auto a = tokens.As<Napi::Uint16Array>();
    v.data = a.Data();
    v.length = (int64_t)a.ElementLength();
    v.type = mypt::TokenType::Uint16;
    v.source = "the Uint16Array";
  } else if (tokens.IsObject() && tokens.As<Napi::Object>().CheckTypeTag(&kTokenMapTag)) {
    v = TokenMap::Unwrap(tokens.As<Napi::Object>())->view();
  } else {
    throw Napi::TypeError::New(tokens.Env(), "tokens must be an Int32Array, a Uint16Array or a TokenMap");
  }
  if (start.IsUndefined() && count.IsUndefined()) return v;
  const int64_t s = start.IsUndefined() ? 0 : (int64_t)to_u53(start, "start");
  const int64_t n = count.IsUndefined() ? v.length - s : (int64_t)to_u53(count, "count");
  return v.slice(s, n);
}

void RegisterTokens(Napi::Env env, Napi::Object exports) {
  auto* d = new TokensData();
  d->token_map = Napi::Persistent(TokenMap::Define(env));
  env.SetInstanceData<TokensData>(d);
  exports.Set("mapTokens", Napi::Function::New(env, MapTokens, "mapTokens"));
  exports.Set("sampleBatch", Napi::Function::New(env, SampleBatch, "sampleBatch"));
}

}  // namespace mypt_binding
