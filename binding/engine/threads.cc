// A small persistent thread pool: workers spin briefly, then sleep on a condition variable, between
// jobs; the caller takes part in every job. Chunks are handed out through one atomic counter.
#include "engine/threads.h"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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

// One job at a time (the caller holds busy_). Workers join a job only while it is open: `word_` holds
// (generation << 32) | open flag | number of workers inside, changed by compare-and-swap, so a worker
// that wakes late can never enter a finished job. The caller waits only for the chunks to be done and
// for the workers already inside, never for workers still asleep (which matters on a loaded machine).
class Pool {
 public:
  explicit Pool(int n) : size_(n) {
    for (int i = 1; i < n; i++) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int size() const { return size_; }

  void run(int64_t n, const std::function<void(int64_t)>& fn) {
    task_ = &fn;
    count_ = n;
    next_.store(0, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    gen_++;
    word_.store((uint64_t)gen_ << 32 | kOpen, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(mu_);
      posted_.store(gen_, std::memory_order_release);
    }
    cv_.notify_all();
    work();
    wait([&] { return done_.load(std::memory_order_acquire) >= count_; });
    // close the job once nobody is inside
    for (;;) {
      uint64_t v = word_.load(std::memory_order_acquire);
      if ((v & kInside) == 0 && word_.compare_exchange_weak(v, (uint64_t)gen_ << 32)) break;
      cpu_relax();
    }
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

  std::mutex busy_;  // held by the thread whose job is running

 private:
  static constexpr uint64_t kOpen = 1ULL << 31, kInside = kOpen - 1;

  template <class P>
  static void wait(P ready) {
    for (int i = 0; !ready(); i++) {
      if (i < 2000) cpu_relax();
      else std::this_thread::yield();
    }
  }
  // runs chunks until none is left; an exception is kept (the first one) and rethrown by the caller
  void work() {
    t_in_task = true;
    for (int64_t c; (c = next_.fetch_add(1)) < count_;) {
      try {
        (*task_)(c);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_release);
    }
    t_in_task = false;
  }
  // enter job `gen` if it is still open
  bool enter(uint32_t gen) {
    uint64_t v = word_.load(std::memory_order_acquire);
    while ((v >> 32) == gen && (v & kOpen))
      if (word_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) return true;
    return false;
  }
  void loop() {
    uint32_t seen = 0;
    for (;;) {
      for (int i = 0; i < 4000 && posted_.load(std::memory_order_acquire) == seen; i++) cpu_relax();
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || posted_.load() != seen; });
        if (stop_) return;
        seen = posted_.load();
      }
      if (enter(seen)) {
        work();
        word_.fetch_sub(1, std::memory_order_release);
      }
    }
  }

  int size_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint32_t gen_ = 0;                  // caller side
  std::atomic<uint32_t> posted_{0};   // the latest job, for sleeping workers
  std::atomic<uint64_t> word_{0};
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0}, done_{0};
  std::mutex error_mu_;
  std::exception_ptr error_;
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
