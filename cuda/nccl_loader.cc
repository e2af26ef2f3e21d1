#include "nccl_loader.h"

#include <dlfcn.h>
#include <glob.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace mypt {
namespace cuda {
namespace {

const char* const kLib = "libnccl.so.2";

struct Loaded {
  NcclApi api{};
  bool ok = false;
  std::string why, version, path;
};

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

std::vector<std::string> glob_all(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; i++) out.push_back(g.gl_pathv[i]);
  globfree(&g);
  return out;
}

// Where pip puts NCCL: the site-packages of the Python prefixes this process can know of.
std::vector<std::string> python_candidates() {
  std::vector<std::string> prefixes;
  for (const char* v : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char* p = getenv(v)) prefixes.push_back(p);
  if (const char* path = getenv("PATH")) {
    std::string s = path;
    size_t at = 0;
    while (at <= s.size()) {
      const size_t colon = s.find(':', at);
      const std::string dir = s.substr(at, colon == std::string::npos ? std::string::npos : colon - at);
      if (!dir.empty() && exists(dir + "/python3")) {
        const size_t slash = dir.find_last_of('/');
        if (slash != std::string::npos && slash > 0) prefixes.push_back(dir.substr(0, slash));
      }
      if (colon == std::string::npos) break;
      at = colon + 1;
    }
  }
  if (const char* home = getenv("HOME")) prefixes.push_back(std::string(home) + "/.local");
  prefixes.push_back("/usr/local");
  prefixes.push_back("/usr");
  std::vector<std::string> out;
  for (const std::string& p : prefixes)
    for (const char* pk : {"site-packages", "dist-packages"})
      for (const std::string& f : glob_all(p + "/lib/python3*/" + pk + "/nvidia/nccl/lib/" + kLib)) out.push_back(f);
  return out;
}

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
  std::vector<std::string> tries;
  if (const char* p = getenv("MYPT_NCCL_LIB")) {
    tries.push_back(is_dir(p) ? std::string(p) + "/" + kLib : std::string(p));
  } else {
    tries.push_back(kLib);  // the dynamic loader's own search
    for (const char* v : {"CUDA_HOME", "CUDA_PATH"})
      if (const char* c = getenv(v)) tries.push_back(std::string(c) + "/lib64/" + kLib);
    tries.push_back(std::string("/usr/local/cuda/lib64/") + kLib);
    for (const std::string& f : python_candidates()) tries.push_back(f);
  }
  void* h = nullptr;
  std::string errors;
  for (const std::string& t : tries) {
    if (t.find('/') != std::string::npos && !exists(t)) continue;
    h = dlopen(t.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (h) {
      L.path = t;
      break;
    }
    const char* e = dlerror();
    if (t.find('/') != std::string::npos) errors += std::string("; ") + (e ? e : t);
  }
  if (!h) {
    L.why = getenv("MYPT_NCCL_LIB")
                ? std::string("cannot open MYPT_NCCL_LIB=") + getenv("MYPT_NCCL_LIB") +
                      (errors.empty() ? std::string(": no such file") : errors)
                : std::string(kLib) +
                      " was not found (library path, CUDA's lib64, pip's nvidia-nccl packages); set MYPT_NCCL_LIB" + errors;
    return L;
  }
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
