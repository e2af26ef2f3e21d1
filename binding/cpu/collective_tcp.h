// The CPU backend's collectives (engine/collective.h): host buffers summed over TCP through rank 0.
//
// Every rank > 0 holds one connection to rank 0. An op: each rank > 0 sends a header (op, type, count,
// root, sequence number) and its data; rank 0 reads them in rank order, checks that every rank called
// the same op with the same sizes (GroupFailure naming the first rank that did not), sums in rank order
// (fp32 for f32 and bf16 data, rounded to bf16 once; f64 in double), and sends each rank its result. So a
// sum never depends on timing: the same inputs give the same bits. Meant for tests and small models (all
// the traffic goes through rank 0), and for CI, where no GPU is.
//
// A connection that closes, or a peer that sends nothing for spec.timeout_ms, ends the op with
// GroupFailure naming the rank; the group stays failed (every later op throws the same error).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/collective.h"

namespace mypt {
namespace cpu {

// A new group's id, on rank 0: opens a listening socket on every interface and an ephemeral port (kept
// for make_tcp_collective in this process); the id is "mypt-tcp:<port>".
std::vector<uint8_t> tcp_group_id();

// Joins the group: rank 0 accepts world - 1 connections on the id's socket; rank r > 0 connects to
// spec.host at the id's port. Blocks until every rank has joined (GroupFailure after spec.timeout_ms).
std::shared_ptr<Collective> make_tcp_collective(const GroupSpec& spec);

}  // namespace cpu
}  // namespace mypt
