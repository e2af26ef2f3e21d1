// lib_search_check SONAME OVERRIDE_VAR PIP_FOLDER: prints the candidates of cuda/lib_search.h, one a line,
// then "open <path>" or "fail <why>" (test/lib-search.test.js builds and runs it; no CUDA needed).
#include <cstdio>

#include "lib_search.h"

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  mypt::cuda::LibrarySearch s{argv[1], argv[2], {argv[3]}};
  for (const std::string& c : mypt::cuda::library_candidates(s)) printf("try %s\n", c.c_str());
  std::string path, why;
  if (mypt::cuda::open_library(s, path, why)) printf("open %s\n", path.c_str());
  else printf("fail %s\n", why.c_str());
  return 0;
}
