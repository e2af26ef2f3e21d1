// The part of NCCL's C API that mypt-native calls, declared here from NVIDIA's public API documentation
// (docs.nvidia.com/deeplearning/nccl, "Types" and "Collective Communication Functions"), so the CUDA
// backend builds where NCCL and its headers are absent: the library is opened at run time
// (nccl_loader.h) and every function is called through the table below.
//
// Only the stable ABI is used: the 128-byte unique id, the communicator handle, the result, data-type and
// reduction-op enumerations (values as the documentation gives them, unchanged since NCCL 2.10, when
// ncclBfloat16 = 9 arrived), and functions present since 2.4 (ncclCommGetAsyncError, ncclCommAbort) or
// looked up optionally (ncclGetLastError, 2.13).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

extern "C" {

typedef struct ncclComm* ncclComm_t;

#define MYPT_NCCL_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[MYPT_NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;

typedef enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
} ncclResult_t;

typedef enum {
  ncclFloat32 = 7,
  ncclFloat64 = 8,
  ncclBfloat16 = 9,
} ncclDataType_t;

typedef enum { ncclSum = 0 } ncclRedOp_t;

}  // extern "C"

namespace mypt {
namespace cuda {

// NCCL's entry points, resolved from the library that was opened.
struct NcclApi {
  ncclResult_t (*GetVersion)(int* version);
  ncclResult_t (*GetUniqueId)(ncclUniqueId* id);
  ncclResult_t (*CommInitRank)(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank);
  ncclResult_t (*CommDestroy)(ncclComm_t comm);
  ncclResult_t (*CommAbort)(ncclComm_t comm);
  ncclResult_t (*CommGetAsyncError)(ncclComm_t comm, ncclResult_t* async_error);
  const char* (*GetErrorString)(ncclResult_t result);
  const char* (*GetLastError)(ncclComm_t comm);  // may be null (NCCL < 2.13)
  ncclResult_t (*AllReduce)(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype,
                            ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream);
  ncclResult_t (*ReduceScatter)(const void* sendbuff, void* recvbuff, size_t recvcount, ncclDataType_t datatype,
                                ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream);
  ncclResult_t (*AllGather)(const void* sendbuff, void* recvbuff, size_t sendcount, ncclDataType_t datatype,
                            ncclComm_t comm, cudaStream_t stream);
  ncclResult_t (*Broadcast)(const void* sendbuff, void* recvbuff, size_t count, ncclDataType_t datatype, int root,
                            ncclComm_t comm, cudaStream_t stream);
};

}  // namespace cuda
}  // namespace mypt
