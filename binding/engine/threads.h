// The process-wide pool of host threads: the CPU backend's ops run on it, and so does the engine's own
// host work (parameter initialisation, widening bf16 weights). It lives in the engine, not in cpu/, for
// that second use: a GPU model is initialised on the host too.
//
// parallel_chunks(n, fn) runs fn(0) ... fn(n-1), each exactly once, spread over the pool's threads and
// the calling thread, and returns when all are done. A call made from inside a pool task, or while another
// thread is using the pool, runs serially on the calling thread (never deadlocks, never oversubscribes).
// An exception thrown by fn reaches the caller once every chunk has run (the first one, if several).
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>

namespace mypt {

// Threads of the pool (0: all cores), process-wide; the calling thread counts as one.
void set_cpu_threads(int n);
int get_cpu_threads();
void parallel_chunks(int64_t n, const std::function<void(int64_t)>& fn);

// fn(begin, end) over [0, n) cut into contiguous ranges of at least `grain` items.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  const int64_t threads = get_cpu_threads();
  int64_t chunk = std::max<int64_t>(grain, (n + 4 * threads - 1) / (4 * threads));
  const int64_t count = (n + chunk - 1) / chunk;
  if (count <= 1) return fn(int64_t(0), n);
  parallel_chunks(count, [&](int64_t c) { fn(c * chunk, std::min(n, (c + 1) * chunk)); });
}

}  // namespace mypt
