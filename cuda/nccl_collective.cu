// NCCL collectives (nccl_collective.cuh).
#include "nccl_collective.cuh"

#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "buffers.cuh"
#include "common.cuh"
#include "nccl_loader.h"

namespace mypt {
namespace cuda {
namespace {

const NcclApi& api() {
  std::string why;
  const NcclApi* a = nccl_api(why);
  if (!a) throw GroupFailure("NCCL is not available: " + why);
  return *a;
}

ncclDataType_t nccl_type(DType t) {
  return t == DType::F64 ? ncclFloat64 : t == DType::F32 ? ncclFloat32 : ncclBfloat16;
}

class NcclCollective final : public Collective {
 public:
  explicit NcclCollective(const GroupSpec& spec)
      : a_(api()), rank_(spec.rank), world_(spec.world), dev_(spec.device), timeout_ms_(spec.timeout_ms) {
    if (spec.id.size() != sizeof(ncclUniqueId))
      throw std::invalid_argument("an NCCL group id is " + std::to_string(sizeof(ncclUniqueId)) + " bytes, got " +
                                  std::to_string(spec.id.size()));
    ncclUniqueId id;
    std::memcpy(&id, spec.id.data(), sizeof id);
    CUDA_CHECK(cudaSetDevice(dev_));
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    const ncclResult_t r = a_.CommInitRank(&comm_, world_, id, rank_);
    if (r != ncclSuccess) {
      comm_ = nullptr;
      throw GroupFailure("NCCL could not form the group (rank " + std::to_string(rank_) + " of " + std::to_string(world_) +
                         " on cuda:" + std::to_string(dev_) + "): " + a_.GetErrorString(r));
    }
    describe_ = "nccl " + nccl_version() + ", rank " + std::to_string(rank_) + " of " + std::to_string(world_) + " (cuda:" +
                std::to_string(dev_) + ")";
  }

  ~NcclCollective() override {
    cudaSetDevice(dev_);
    if (comm_) {
      if (failed_.empty()) a_.CommDestroy(comm_);
      else a_.CommAbort(comm_);
    }
    if (ready_) cudaEventDestroy(ready_);
    if (done_) cudaEventDestroy(done_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int world() const override { return world_; }
  std::string describe() const override { return describe_; }
  bool on_device() const override { return true; }

  void run(CollOp op, void* buf, int64_t count, DType t, int root, void* stream) override {
    std::lock_guard<std::mutex> lock(mu_);
    live();
    CUDA_CHECK(cudaSetDevice(dev_));
    CUDA_CHECK(cudaEventRecord(ready_, (cudaStream_t)stream));
    CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
    issue(op, (char*)buf, count, t, root);
  }

  void join(void* stream) override {
    std::lock_guard<std::mutex> lock(mu_);
    live();
    CUDA_CHECK(cudaSetDevice(dev_));
    CUDA_CHECK(cudaEventRecord(done_, stream_));
    CUDA_CHECK(cudaStreamWaitEvent((cudaStream_t)stream, done_, 0));
  }

  void synchronize(void* stream) override {
    std::lock_guard<std::mutex> lock(mu_);
    live();
    CUDA_CHECK(cudaSetDevice(dev_));
    wait((cudaStream_t)stream);
  }

  void run_host(CollOp op, void* buf, int64_t count, DType t, int root) override {
    std::lock_guard<std::mutex> lock(mu_);
    live();
    CUDA_CHECK(cudaSetDevice(dev_));
    const size_t es = dtype_bytes(t);
    const size_t n = (size_t)count * (op == CollOp::ReduceScatter || op == CollOp::AllGather ? world_ : 1);
    stage_.ensure(n * es);
    CUDA_CHECK(cudaMemcpyAsync(stage_.p, buf, n * es, cudaMemcpyHostToDevice, stream_));
    issue(op, (char*)stage_.p, count, t, root);
    CUDA_CHECK(cudaMemcpyAsync(buf, stage_.p, n * es, cudaMemcpyDeviceToHost, stream_));
    wait(stream_);
  }

 private:
  void live() const {
    if (!failed_.empty()) throw GroupFailure(failed_);
  }

  [[noreturn]] void fail(const std::string& why) {
    failed_ = "NCCL, rank " + std::to_string(rank_) + " of " + std::to_string(world_) + ": " + why;
    if (comm_) a_.CommAbort(comm_);
    comm_ = nullptr;
    throw GroupFailure(failed_);
  }

  std::string nccl_error(ncclResult_t r) {
    std::string s = a_.GetErrorString(r);
    if (a_.GetLastError && comm_) {
      const char* last = a_.GetLastError(comm_);
      if (last && *last) s += std::string(" (") + last + ")";
    }
    return s;
  }

  void issue(CollOp op, char* buf, int64_t count, DType t, int root) {
    const size_t es = dtype_bytes(t);
    const ncclDataType_t nt = nccl_type(t);
    ncclResult_t r = ncclSuccess;
    switch (op) {
      case CollOp::AllReduce: r = a_.AllReduce(buf, buf, (size_t)count, nt, ncclSum, comm_, stream_); break;
      case CollOp::ReduceScatter:
        r = a_.ReduceScatter(buf, buf + (size_t)rank_ * count * es, (size_t)count, nt, ncclSum, comm_, stream_);
        break;
      case CollOp::AllGather: r = a_.AllGather(buf + (size_t)rank_ * count * es, buf, (size_t)count, nt, comm_, stream_); break;
      case CollOp::Broadcast: r = a_.Broadcast(buf, buf, (size_t)count, nt, root, comm_, stream_); break;
    }
    if (r != ncclSuccess && r != ncclInProgress) fail(std::string(coll_op_name(op)) + ": " + nccl_error(r));
  }

  // The host waits for `s`, asking NCCL for an asynchronous error as it goes; the timeout counts from the
  // start of this wait (one engine call: a step's backward or optimizer step).
  void wait(cudaStream_t s) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
    int spins = 0;
    while (true) {
      const cudaError_t q = cudaStreamQuery(s);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) check_cuda(q, "cudaStreamQuery (waiting for a collective)", __FILE__, __LINE__);
      ncclResult_t e = ncclSuccess;
      if (a_.CommGetAsyncError(comm_, &e) == ncclSuccess && e != ncclSuccess && e != ncclInProgress)
        fail("a peer failed or the network broke: " + nccl_error(e));
      if (Clock::now() > deadline)
        fail("no progress for " + std::to_string(timeout_ms_ / 1000) +
             " s (another rank stopped, or hangs; MYPT_DIST_TIMEOUT sets the wait)");
      if (++spins > 100) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  const NcclApi& a_;
  const int rank_, world_, dev_, timeout_ms_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr, done_ = nullptr;
  DBuf<unsigned char> stage_;
  std::mutex mu_;
  std::string describe_, failed_;
};

}  // namespace

std::vector<uint8_t> nccl_group_id() {
  const NcclApi& a = api();
  ncclUniqueId id;
  const ncclResult_t r = a.GetUniqueId(&id);
  if (r != ncclSuccess) throw GroupFailure(std::string("ncclGetUniqueId: ") + a.GetErrorString(r));
  return std::vector<uint8_t>((const uint8_t*)&id, (const uint8_t*)&id + sizeof id);
}

std::shared_ptr<Collective> make_nccl_collective(const GroupSpec& spec) {
  return std::make_shared<NcclCollective>(spec);
}

}  // namespace cuda
}  // namespace mypt
