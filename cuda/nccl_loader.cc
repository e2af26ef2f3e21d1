#include "nccl_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "lib_search.h"

namespace mypt {
namespace cuda {
namespace {

const char* const kLib = "libnccl.so.2";

struct Loaded {
  NcclApi api{};
  bool ok = false;
  std::string why, version, path;
};

template <class F>
bool sym(void* h, const char* name, F& out) {
  out = (F)dlsym(h, name);
  return out != nullptr;
}

Loaded open_nccl() {
  Loaded L;
  const char* off = getenv("MYPT_NCCL");
  if (off && std::string(off) == "0") {
    L.why = "disabled by MYPT_NCCL=0";
    return L;
  }
  // NVLink multicast off unless the environment decided (nccl_loader.h)
  setenv("NCCL_NVLS_ENABLE", "0", 0);
  void* h = open_library({kLib, "MYPT_NCCL_LIB", {"nvidia/nccl/lib"}}, L.path, L.why);
  if (!h) return L;
  NcclApi& a = L.api;
  const bool ok = sym(h, "ncclGetVersion", a.GetVersion) && sym(h, "ncclGetUniqueId", a.GetUniqueId) &&
                  sym(h, "ncclCommInitRank", a.CommInitRank) && sym(h, "ncclCommDestroy", a.CommDestroy) &&
                  sym(h, "ncclCommAbort", a.CommAbort) && sym(h, "ncclCommGetAsyncError", a.CommGetAsyncError) &&
                  sym(h, "ncclGetErrorString", a.GetErrorString) && sym(h, "ncclAllReduce", a.AllReduce) &&
                  sym(h, "ncclReduceScatter", a.ReduceScatter) && sym(h, "ncclAllGather", a.AllGather) &&
                  sym(h, "ncclBroadcast", a.Broadcast);
  sym(h, "ncclGetLastError", a.GetLastError);  // optional
  if (!ok) {
    L.why = L.path + " lacks an NCCL function mypt-native needs (NCCL 2.10 or newer is needed)";
    return L;
  }
  int v = 0;
  if (a.GetVersion(&v) != ncclSuccess) {
    L.why = L.path + ": ncclGetVersion failed";
    return L;
  }
  // NCCL_VERSION_CODE: major * 10000 + minor * 100 + patch since 2.9 (major * 1000 + ... before)
  const int major = v >= 10000 ? v / 10000 : v / 1000;
  const int minor = v >= 10000 ? (v / 100) % 100 : (v / 100) % 10;
  const int patch = v % 100;
  L.version = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  if (major < 2 || (major == 2 && minor < 10)) {
    L.why = L.path + " is NCCL " + L.version + "; 2.10 or newer is needed (bf16 reductions)";
    return L;
  }
  L.ok = true;
  return L;
}

const Loaded& loaded() {
  static const Loaded L = open_nccl();
  return L;
}

}  // namespace

const NcclApi* nccl_api(std::string& why) {
  const Loaded& L = loaded();
  why = L.why;
  return L.ok ? &L.api : nullptr;
}

std::string nccl_version() { return loaded().ok ? loaded().version : ""; }
std::string nccl_path() { return loaded().ok ? loaded().path : ""; }

}  // namespace cuda
}  // namespace mypt
