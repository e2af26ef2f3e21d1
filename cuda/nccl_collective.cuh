// The CUDA backend's collectives (engine/collective.h) through NCCL (nccl_loader.h), on device buffers.
//
// One communicator per group, made with ncclCommInitRank from rank 0's ncclUniqueId (which the
// TypeScript rendezvous handed to every rank), on the rank's GPU. Ops run on the group's own stream: an
// op waits for an event recorded on the caller's stream (so it sees the gradients the backward wrote
// before it), and join() makes the caller's stream wait for the ops issued so far, so the reductions of
// early gradient buckets overlap the rest of the backward. In-place forms throughout (NCCL's in-place
// reduce-scatter: recvbuff = sendbuff + rank * recvcount; all-gather: sendbuff = recvbuff + rank * count).
//
// Failures, never hangs: synchronize() waits for a stream by polling it while asking NCCL for an
// asynchronous error (a peer that died, a network error: ncclRemoteError and friends); an error, or no
// progress within spec.timeout_ms, aborts the communicator (ncclCommAbort, which ends the kernels stuck
// waiting for a peer) and throws GroupFailure. Across hosts the launcher and the rendezvous connection
// name the rank that failed, usually before NCCL notices (src/use-cases/train/distributed/).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/collective.h"
#include "nccl_api.h"

namespace mypt {
namespace cuda {

// A new group's id: ncclGetUniqueId's 128 bytes (rank 0 only: NCCL's bootstrap root runs in this process).
std::vector<uint8_t> nccl_group_id();

// Joins the group on GPU spec.device; blocks until every rank has called it (ncclCommInitRank).
std::shared_ptr<Collective> make_nccl_collective(const GroupSpec& spec);

}  // namespace cuda
}  // namespace mypt
