#include "cublaslt_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>

namespace mypt {
namespace cuda {

namespace {

// The plugin sits next to the binary that holds this code (the addon .node or a test program).
const mypt_lt_api* open_plugin(std::string& why) {
  const char* off = getenv("MYPT_CUBLASLT");
  if (off && std::string(off) == "0") {
    why = "disabled by MYPT_CUBLASLT=0";
    return nullptr;
  }
  std::string path;
  if (const char* p = getenv("MYPT_CUBLASLT_PATH")) {
    path = p;
  } else {
    Dl_info info;
    if (!dladdr((void*)&open_plugin, &info) || !info.dli_fname) {
      why = "cannot locate the addon's directory";
      return nullptr;
    }
    std::string self = info.dli_fname;
    size_t slash = self.find_last_of('/');
    path = (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/mypt_cublaslt.so";
  }
  // RTLD_DEEPBIND: the plugin and libcublasLt resolve their symbols in their own dependencies before the
  // process's. Node's binary exports its bundled zlib (inflate, crc32, ...) among ~47k symbols; without
  // this, libcublasLt's heuristics bound to those and corrupted the heap inside node (std::bad_alloc from
  // cublasLtMatmulAlgoGetHeuristic, then from V8's GC), while the same calls ran fine in a plain process.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) {
    const char* e = dlerror();
    why = std::string("cannot open ") + path + ": " + (e ? e : "unknown error");
    return nullptr;
  }
  typedef const mypt_lt_api* (*get_fn)(void);
  get_fn get = (get_fn)dlsym(h, "mypt_lt_get_api");
  const mypt_lt_api* api = get ? get() : nullptr;
  if (!api || api->abi != MYPT_LT_ABI) {
    why = path + " is not a compatible mypt cuBLASLt plugin";
    return nullptr;
  }
  return api;
}

}  // namespace

const mypt_lt_api* cublaslt_plugin(std::string& why) {
  static std::string s_why;
  static const mypt_lt_api* s_api = open_plugin(s_why);
  why = s_why;
  return s_api;
}

}  // namespace cuda
}  // namespace mypt
