// A small persistent thread pool: workers spin briefly, then sleep on a condition variable, between
// jobs; the caller takes part in every job. Chunks are handed out through one atomic counter.
#include "threads.h"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine.h"

namespace mypt {
namespace {

int default_threads() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

thread_local bool t_in_task = false;

class Pool {
 public:
  explicit Pool(int n) : size_(n) {
    for (int i = 1; i < n; i++) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      gen_++;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int size() const { return size_; }

  // Runs a job with every worker and the caller; the caller holds busy_.
  void run(int64_t n, const std::function<void(int64_t)>& fn) {
    task_ = &fn;
    count_ = n;
    next_.store(0);
    remaining_.store((int)threads_.size());
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen_++;
    }
    cv_.notify_all();
    work();
    while (remaining_.load(std::memory_order_acquire) > 0) cpu_relax();
  }

  std::mutex busy_;  // held by the thread whose job is running

 private:
  void work() {
    t_in_task = true;
    for (int64_t c; (c = next_.fetch_add(1)) < count_;) (*task_)(c);
    t_in_task = false;
  }
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      // spin a little (jobs come in quick succession during a training step), then sleep
      for (int i = 0; i < 20000 && gen_.load(std::memory_order_acquire) == seen; i++) cpu_relax();
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return gen_.load() != seen; });
        seen = gen_.load();
        if (stop_) return;
      }
      work();
      remaining_.fetch_sub(1, std::memory_order_release);
    }
  }

  int size_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  bool stop_ = false;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> remaining_{0};
};

std::mutex g_config_mu;
std::shared_ptr<Pool> g_pool;
std::atomic<int> g_threads{0};

std::shared_ptr<Pool> pool() {
  std::lock_guard<std::mutex> lk(g_config_mu);
  if (!g_pool) {
    g_pool = std::make_shared<Pool>(default_threads());
    g_threads.store(g_pool->size());
  }
  return g_pool;
}

}  // namespace

void set_cpu_threads(int n) {
  int want = n > 0 ? n : default_threads();
  std::lock_guard<std::mutex> lk(g_config_mu);
  if (g_pool && g_pool->size() == want) return;
  g_pool = std::make_shared<Pool>(want);  // the old pool is freed when its last job ends
  g_threads.store(want);
}

int get_cpu_threads() {
  int n = g_threads.load();
  return n > 0 ? n : pool()->size();
}

void parallel_chunks(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  if (n == 1 || t_in_task) {
    for (int64_t c = 0; c < n; c++) fn(c);
    return;
  }
  std::shared_ptr<Pool> p = pool();
  std::unique_lock<std::mutex> lk(p->busy_, std::try_to_lock);
  if (p->size() == 1 || !lk.owns_lock()) {
    for (int64_t c = 0; c < n; c++) fn(c);
    return;
  }
  p->run(n, fn);
}

}  // namespace mypt
