#include "engine/collective.h"

#include <cmath>
#include <cstring>

namespace mypt {

size_t dtype_bytes(DType t) { return t == DType::F64 ? 8 : t == DType::F32 ? 4 : 2; }

const char* dtype_name(DType t) { return t == DType::F64 ? "f64" : t == DType::F32 ? "f32" : "bf16"; }

const char* coll_op_name(CollOp op) {
  switch (op) {
    case CollOp::AllReduce: return "all_reduce";
    case CollOp::ReduceScatter: return "reduce_scatter";
    case CollOp::AllGather: return "all_gather";
    case CollOp::Broadcast: return "broadcast";
  }
  return "?";
}

uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if (std::isnan(x)) return (uint16_t)((u >> 16) | 0x40);  // quiet, sign kept
  u += 0x7fffu + ((u >> 16) & 1u);                          // round to nearest even
  return (uint16_t)(u >> 16);
}

float from_bf16(uint16_t b) {
  const uint32_t u = (uint32_t)b << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

}  // namespace mypt
