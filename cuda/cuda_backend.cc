// The CUDA backend as the registry sees it: available when a driver and at least one GPU answer.
#include "cuda_backend.h"

#include <cuda_runtime_api.h>

#include "cublaslt_loader.h"
#include "nccl_collective.cuh"
#include "nccl_loader.h"

namespace mypt {
namespace cuda {
namespace {

class CudaBackend final : public Backend {
 public:
  std::string name() const override { return "cuda"; }
  std::string unavailable_reason() const override { return discover().reason; }
  std::vector<DeviceInfo> devices() const override { return discover().devices; }
  // The cuBLASLt plugin: found and opened (cublaslt_loader.h), whether or not a GPU is there to use it.
  // NCCL (nccl_loader.h): found and opened, and its version, likewise.
  std::vector<LibraryStatus> libraries() const override {
    LibraryStatus lt;
    lt.name = "cublasLt";
    lt.loaded = cublaslt_plugin(lt.reason) != nullptr;
    if (lt.loaded) lt.reason.clear();
    lt.path = cublaslt_path();
    LibraryStatus nccl;
    nccl.name = "nccl";
    nccl.loaded = nccl_api(nccl.reason) != nullptr;
    if (nccl.loaded) nccl.reason.clear();
    nccl.version = nccl_version();
    nccl.path = nccl_path();
    return {lt, nccl};
  }
  // The CUDA runtime linked in (statically), the driver's CUDA version ("" without a driver), the
  // architectures compiled (CMakeLists.txt: MYPT_CUDA_ARCHS_STR).
  std::vector<std::pair<std::string, std::string>> properties() const override {
    auto version = [](int v) { return v > 0 ? std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10) : std::string(); };
    int driver = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
#ifdef MYPT_CUDA_ARCHS_STR
    const std::string archs = MYPT_CUDA_ARCHS_STR;
#else
    const std::string archs;
#endif
    return {{"cudaRuntimeVersion", version(CUDART_VERSION)}, {"cudaDriverVersion", version(driver)}, {"cudaArchs", archs}};
  }
  std::unique_ptr<Engine> make_engine(const ModelConfig& cfg, int device, Precision precision) const override {
    return cuda::make_engine(cfg, device, precision);
  }
  std::unique_ptr<modded::ModdedRunner> make_modded(modded::ModdedWeights weights, int device,
                                                    Precision precision) const override {
    return cuda::make_modded(std::move(weights), device, precision);
  }
  OpBenchResult bench_op(const OpBenchRequest& req) const override { return cuda::bench_op(req); }
  // cudaMemGetInfo on `device` (the calling thread's current device is restored). The first reading
  // creates the device's context, so a later reading's difference from it leaves the context out.
  DeviceMemory device_memory(int device) const override {
    DeviceMemory m;
    int prev = 0;
    size_t free_b = 0, total_b = 0;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    if (cudaSetDevice(device) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
      m.free_bytes = (int64_t)free_b;
      m.total_bytes = (int64_t)total_b;
    }
    cudaGetLastError();  // a failed reading is -1, not an error left for the next launch check
    if (prev >= 0) cudaSetDevice(prev);
    m.allocated_bytes = cuda::allocated_bytes();
    return m;
  }
  std::vector<uint8_t> collective_id() const override { return nccl_group_id(); }
  std::shared_ptr<Collective> make_collective(const GroupSpec& spec) const override {
    return make_nccl_collective(spec);
  }
};

}  // namespace

std::unique_ptr<Backend> make_backend() { return std::make_unique<CudaBackend>(); }

}  // namespace cuda
}  // namespace mypt
