#include "engine/errors.h"

#include <cstdio>

namespace mypt {

std::string format_bytes(uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    u++;
  }
  char buf[64];
  if (u == 0) std::snprintf(buf, sizeof(buf), "%llu bytes", (unsigned long long)bytes);
  else std::snprintf(buf, sizeof(buf), "%.2f %s (%llu bytes)", v, units[u], (unsigned long long)bytes);
  return buf;
}

}  // namespace mypt
