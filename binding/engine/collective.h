// The collectives of data-parallel training between the ranks of one group: `world` processes, one a
// device, each with its `rank`. A backend makes them (Backend::make_collective, engine/backend.h): the
// CPU backend sums host buffers over TCP (binding/cpu/collective_tcp.cc), the CUDA backend runs NCCL on
// device buffers (cuda/nccl_collective.cc). engine/data_parallel.h drives them; the engine names neither.
//
// Every rank must call the same collectives in the same order with the same sizes (a group in which one
// rank calls something else fails with GroupFailure where the backend can tell, and hangs until the
// timeout where it cannot). A failed or silent peer ends the call with GroupFailure naming the rank
// where the backend knows it, never an endless wait.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace mypt {

enum class DType { F32 = 0, BF16 = 1, F64 = 2 };
size_t dtype_bytes(DType t);
const char* dtype_name(DType t);

enum class CollOp { AllReduce = 0, ReduceScatter = 1, AllGather = 2, Broadcast = 3 };
const char* coll_op_name(CollOp op);

// A peer failed (its connection closed, it reported an error, it sent nothing within the timeout), or
// the group could not be formed. The message names the rank where it is known.
struct GroupFailure : std::runtime_error {
  explicit GroupFailure(const std::string& what) : std::runtime_error(what) {}
};

// What a backend needs to make (or join) a group. Rank 0 made `id` (Backend::collective_id) and the
// caller handed it to every rank (the TypeScript rendezvous, src/use-cases/train/distributed/).
struct GroupSpec {
  int rank = 0, world = 1;
  std::vector<uint8_t> id;  // the backend's group id: NCCL's unique id, the CPU group's port
  std::string host;         // where rank 0 is (MASTER_ADDR): the CPU group connects there
  int device = 0;           // the device of this rank (a GPU index; unused on the CPU)
  int timeout_ms = 600000;  // the longest wait for a peer before GroupFailure
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  virtual std::string describe() const = 0;  // "nccl 2.21.5, rank 0 of 2 (cuda:0)", "cpu tcp, rank 1 of 2"
  // Where the buffers of the ops below live: the memory of this group's device (true), or host memory.
  virtual bool on_device() const = 0;

  // ---- in place, on the group's memory, `count` elements a rank ----
  // A device group enqueues the op after the work already issued on `stream` (the caller's stream: a
  // cudaStream_t for NCCL) and returns; a host group ignores `stream` and returns with the result.
  //   all_reduce:     buf[0, count) = the sum over ranks
  //   reduce_scatter: buf[0, world*count) in; buf[rank*count, (rank+1)*count) out = the sum over ranks of
  //                   that slice (the other slices are left undefined)
  //   all_gather:     buf[r*count, (r+1)*count) of rank r in; every slice, on every rank, out
  //   broadcast:      buf[0, count) of `root` to every rank
  // Sums are in the element type (bf16 sums are rounded to bf16; a host group sums in fp32 in rank order
  // and rounds once).
  virtual void run(CollOp op, void* buf, int64_t count, DType t, int root, void* stream) = 0;
  void all_reduce(void* buf, int64_t count, DType t, void* stream) { run(CollOp::AllReduce, buf, count, t, 0, stream); }
  void reduce_scatter(void* buf, int64_t count, DType t, void* stream) {
    run(CollOp::ReduceScatter, buf, count, t, 0, stream);
  }
  void all_gather(void* buf, int64_t count, DType t, void* stream) { run(CollOp::AllGather, buf, count, t, 0, stream); }
  void broadcast(void* buf, int64_t count, DType t, int root, void* stream) {
    run(CollOp::Broadcast, buf, count, t, root, stream);
  }
  // Work issued on `stream` from now on waits for every op issued so far (a host group: nothing to do).
  virtual void join(void* stream) = 0;
  // The host waits for `stream` and the ops joined into it, watching for a failed peer and the timeout
  // (a host group: nothing to do, its ops are synchronous).
  virtual void synchronize(void* stream) = 0;

  // ---- on host memory, blocking (a device group stages the buffer through its device) ----
  // The same contracts as run(); for small values (losses, flags, steps) and tests.
  virtual void run_host(CollOp op, void* buf, int64_t count, DType t, int root) = 0;
  void host_all_reduce(double* v, int n) { run_host(CollOp::AllReduce, v, n, DType::F64, 0); }
};

// bf16 <-> fp32 on the host (round to nearest even, as __float2bfloat16_rn), for host groups and tests.
uint16_t to_bf16(float x);
float from_bf16(uint16_t b);

}  // namespace mypt
