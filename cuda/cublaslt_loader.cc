#include "cublaslt_loader.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <string>

#include "lib_search.h"

namespace mypt {
namespace cuda {

namespace {

std::string s_lib_path;  // the libcublasLt in use

// The plugin's libcublasLt (its major version is the CUDA toolkit's it was built with).
LibrarySearch cublaslt_search() {
  return {"libcublasLt.so." + std::to_string(CUDART_VERSION / 1000), "MYPT_CUBLASLT_LIB",
          {"nvidia/cublas/lib", "nvidia/cu" + std::to_string(CUDART_VERSION / 1000) + "/lib"}};
}

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
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    why = path + " is not there: this build has no cuBLASLt plugin (it is built where cuBLAS's headers and "
                 "libraries are found at build time)";
    return nullptr;
  }
  // libcublasLt first, from where lib_search.h finds it (pip's nvidia-cublas, torch, CUDA's lib64): the
  // plugin's dependency on it by soname is then met by the library already loaded.
  std::string lib_why;
  void* lib = open_library(cublaslt_search(), s_lib_path, lib_why);
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) {
    const char* e = dlerror();
    why = std::string("cannot open ") + path + ": " + (e ? e : "unknown error");
    if (!lib) why = lib_why + " (" + why + ")";
    s_lib_path.clear();
    return nullptr;
  }
  if (!lib) {  // the plugin found it by itself (its RUNPATH): report which file
    const std::string soname = cublaslt_search().soname;
    if (void* l = dlopen(soname.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
      char where[4096] = {0};
      if (dlinfo(l, RTLD_DI_ORIGIN, where) == 0 && where[0]) s_lib_path = std::string(where) + "/" + soname;
      dlclose(l);
    }
  }
  typedef const mypt_lt_api* (*get_fn)(void);
  get_fn get = (get_fn)dlsym(h, "mypt_lt_get_api");
  const mypt_lt_api* api = get ? get() : nullptr;
  if (!api || api->abi != MYPT_LT_ABI) {
    why = path + " is not a compatible mypt cuBLASLt plugin";
    s_lib_path.clear();
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

std::string cublaslt_path() {
  std::string why;
  return cublaslt_plugin(why) ? s_lib_path : "";
}

}  // namespace cuda
}  // namespace mypt
