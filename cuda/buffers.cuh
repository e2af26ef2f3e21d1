// Owning handles of the CUDA backend: a device allocation, page-locked host staging memory, an event the host
// waits for and an instantiated CUDA graph, each released with its owner (no cudaFree paths to forget on a throw).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>

#include "common.cuh"

namespace mypt {
namespace cuda {

// A device allocation that frees itself (movable, so it can live in a std::vector).
template <typename X>
struct DBuf {
  X* p = nullptr;
  size_t n = 0;
  DBuf() = default;
  DBuf(const DBuf&) = delete;
  DBuf& operator=(const DBuf&) = delete;
  DBuf(DBuf&& o) noexcept : p(o.p), n(o.n) {
    o.p = nullptr;
    o.n = 0;
  }
  DBuf& operator=(DBuf&& o) noexcept {
    if (this != &o) {
      release();
      std::swap(p, o.p);
      std::swap(n, o.n);
    }
    return *this;
  }
  ~DBuf() { release(); }
  void release() {
    cuda_free(p, n * sizeof(X));
    p = nullptr;
    n = 0;
  }
  // Grows to at least `count` elements (contents not kept).
  void ensure(size_t count) {
    if (count <= n && p) return;
    release();
    if (count == 0) count = 1;
    p = (X*)cuda_malloc(count * sizeof(X), "a device buffer");
    n = count;
  }
};

// Page-locked host staging memory (so uploads are truly asynchronous), grown on demand.
template <typename X>
struct HostBuf {
  X* p = nullptr;
  size_t n = 0;
  HostBuf() = default;
  HostBuf(const HostBuf&) = delete;
  HostBuf& operator=(const HostBuf&) = delete;
  ~HostBuf() {
    if (p) cudaFreeHost(p);
  }
  // room for count elements (contents not kept when it grows)
  X* ensure(size_t count) {
    if (count > n || !p) {
      if (p) cudaFreeHost(p);
      p = nullptr;
      p = (X*)cuda_malloc_host(std::max<size_t>(count, 1) * sizeof(X), "a staging buffer");
      n = count;
    }
    return p;
  }
  X* fill(const X* src, size_t count) {
    std::memcpy(ensure(count), src, count * sizeof(X));
    return p;
  }
};

// A point in a stream the host can wait for (an event, made on its first record, destroyed with its owner):
// the host waits until the work queued before the last record() has run; never recorded, it waits for nothing.
struct StreamMark {
  cudaEvent_t ev = nullptr;
  StreamMark() = default;
  StreamMark(const StreamMark&) = delete;
  StreamMark& operator=(const StreamMark&) = delete;
  ~StreamMark() {
    if (ev) cudaEventDestroy(ev);
  }
  void record(cudaStream_t s) {
    if (!ev) CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventRecord(ev, s));
  }
  void wait() {
    if (ev) CUDA_CHECK(cudaEventSynchronize(ev));
  }
};

// An instantiated CUDA graph, destroyed with its owner (or by reset, before a new capture).
struct GraphGuard {
  // Replaces the graph with what record() launches on s, captured in mode and instantiated; if record
  // throws, the capture is ended and dropped (the stream usable again) and the exception goes on.
  template <typename F>
  void capture(cudaStream_t s, cudaStreamCaptureMode mode, F&& record) {
    reset();
    CUDA_CHECK(cudaStreamBeginCapture(s, mode));
    try {
      record();
    } catch (...) {
      cudaGraph_t g = nullptr;
      cudaStreamEndCapture(s, &g);
      if (g) cudaGraphDestroy(g);
      throw;
    }
    CUDA_CHECK(cudaStreamEndCapture(s, &graph));
    CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  }
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  GraphGuard() = default;
  GraphGuard(const GraphGuard&) = delete;
  GraphGuard& operator=(const GraphGuard&) = delete;
  ~GraphGuard() { reset(); }
  void reset() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    exec = nullptr;
    graph = nullptr;
  }
};

}  // namespace cuda
}  // namespace mypt
