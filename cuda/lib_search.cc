#include "lib_search.h"

#include <dlfcn.h>
#include <glob.h>
#include <sys/stat.h>

#include <cstdlib>

namespace mypt {
namespace cuda {
namespace {

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

std::vector<std::string> split_path(const char* list) {
  std::vector<std::string> out;
  if (!list) return out;
  std::string s = list;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t colon = s.find(':', at);
    const std::string dir = s.substr(at, colon == std::string::npos ? std::string::npos : colon - at);
    if (!dir.empty()) out.push_back(dir);
    if (colon == std::string::npos) break;
    at = colon + 1;
  }
  return out;
}

// The site-packages folders this process can know of without running Python.
std::vector<std::string> site_folders() {
  std::vector<std::string> sites = split_path(getenv("PYTHONPATH"));
  std::vector<std::string> prefixes;
  for (const char* v : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (const char* p = getenv(v)) prefixes.push_back(p);
  for (const std::string& dir : split_path(getenv("PATH")))
    if (exists(dir + "/python3")) {
      const size_t slash = dir.find_last_of('/');
      if (slash != std::string::npos && slash > 0) prefixes.push_back(dir.substr(0, slash));
    }
  if (const char* home = getenv("HOME")) prefixes.push_back(std::string(home) + "/.local");
  prefixes.push_back("/usr/local");
  prefixes.push_back("/usr");
  for (const std::string& p : prefixes)
    for (const char* pk : {"site-packages", "dist-packages"})
      for (const std::string& f : glob_all(p + "/lib/python3*/" + pk)) sites.push_back(f);
  return sites;
}

}  // namespace

std::vector<std::string> library_candidates(const LibrarySearch& s) {
  std::vector<std::string> out;
  if (const char* p = getenv(s.override_var)) {
    out.push_back(is_dir(p) ? std::string(p) + "/" + s.soname : std::string(p));
    return out;
  }
  out.push_back(s.soname);  // the dynamic loader's own search
  for (const char* v : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* c = getenv(v)) out.push_back(std::string(c) + "/lib64/" + s.soname);
  out.push_back("/usr/local/cuda/lib64/" + s.soname);
  for (const std::string& site : site_folders()) {
    for (const std::string& f : s.pip_folders)
      if (exists(site + "/" + f + "/" + s.soname)) out.push_back(site + "/" + f + "/" + s.soname);
    if (exists(site + "/torch/lib/" + s.soname)) out.push_back(site + "/torch/lib/" + s.soname);
  }
  return out;
}

void* open_library(const LibrarySearch& s, std::string& path, std::string& why) {
  std::string errors;
  for (const std::string& t : library_candidates(s)) {
    if (t.find('/') != std::string::npos && !exists(t)) continue;
    if (void* h = dlopen(t.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND)) {
      // the file the loader picked, for a bare soname too
      char where[4096] = {0};
      path = t;
      if (dlinfo(h, RTLD_DI_ORIGIN, where) == 0 && where[0]) {
        const size_t slash = t.find_last_of('/');
        path = std::string(where) + "/" + (slash == std::string::npos ? t : t.substr(slash + 1));
      }
      return h;
    }
    const char* e = dlerror();
    if (t.find('/') != std::string::npos) errors += std::string("; ") + (e ? e : t);
  }
  const char* o = getenv(s.override_var);
  why = o ? std::string("cannot open ") + s.override_var + "=" + o + (errors.empty() ? std::string(": no such file") : errors)
          : s.soname + " was not found (library path, CUDA's lib64, pip's nvidia packages, torch/lib); set " +
                s.override_var + errors;
  return nullptr;
}

}  // namespace cuda
}  // namespace mypt
