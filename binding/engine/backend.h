// Backends plug into the engine here; the engine names none of them.
//
// A backend (binding/cpu/, cuda/) implements Backend and is registered once, by name, by the composition
// root (binding/backends.cc), which is the one place that knows which backends this build has. Models,
// modded runners and op benchmarks are then made through the registry from a Placement, whose backend
// name comes from the caller (JavaScript's device: 'cpu' | 'cuda').
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/bench.h"
#include "engine/collective.h"
#include "engine/engine.h"
#include "engine/modded.h"

namespace mypt {

// Where a model runs: a backend by name, one of its devices, and the storage precision (a backend that
// computes only in fp32, as the CPU, ignores it).
struct Placement {
  std::string backend = "cpu";
  int device = 0;
  Precision precision = Precision::FP32;
};

// An optional library a backend opens at run time (the CUDA backend's cuBLASLt plugin, NCCL).
struct LibraryStatus {
  std::string name;
  bool loaded = false;
  std::string reason;  // why it is not loaded ("" when it is)
  std::string version;  // "2.21.5" where the library says ("" otherwise)
  std::string path;     // the file in use ("" when not loaded)
};

// A device's memory as its driver sees it now, for the bench's peak-memory figures (the CUDA backend:
// cudaMemGetInfo). -1 where the backend cannot say (the CPU: the process's RSS is read in JavaScript).
struct DeviceMemory {
  int64_t free_bytes = -1;
  int64_t total_bytes = -1;
  int64_t allocated_bytes = -1;  // held by the engines' own allocations (all devices), where the backend counts them
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // "" when models can be made here; otherwise why not (no driver, no device, ...).
  virtual std::string unavailable_reason() const = 0;
  virtual std::vector<DeviceInfo> devices() const = 0;
  virtual std::vector<LibraryStatus> libraries() const { return {}; }
  // Facts about the build and the machine, as name/value pairs ("cudaRuntimeVersion" -> "12.4").
  virtual std::vector<std::pair<std::string, std::string>> properties() const { return {}; }

  virtual std::unique_ptr<Engine> make_engine(const ModelConfig& cfg, int device, Precision precision) const = 0;
  // Takes the weights (a device backend uploads them and lets the host copy go).
  virtual std::unique_ptr<modded::ModdedRunner> make_modded(modded::ModdedWeights weights, int device,
                                                            Precision precision) const = 0;
  virtual OpBenchResult bench_op(const OpBenchRequest& req) const = 0;
  virtual DeviceMemory device_memory(int /*device*/) const { return {}; }

  // Data-parallel groups on this backend (engine/collective.h). collective_id() makes a new group's id on
  // rank 0 (the CPU: a listening TCP port; CUDA: NCCL's unique id); make_collective joins the group,
  // blocking until every rank has joined or spec.timeout_ms has passed (GroupFailure). Default: none.
  virtual std::vector<uint8_t> collective_id() const;
  virtual std::shared_ptr<Collective> make_collective(const GroupSpec& spec) const;
};

// ---- the registry (process-wide; safe to use from any thread once registration is done) ----
void register_backend(std::unique_ptr<Backend> backend);
// A backend this build does not have, and the reason reported for it ("built without CUDA ...").
void register_absent_backend(const std::string& name, const std::string& reason);
const Backend* find_backend(const std::string& name);  // nullptr when not registered

struct BackendStatus {
  bool available = false;
  std::string reason;  // why not available ("" when it is)
  std::vector<DeviceInfo> devices;
  std::vector<LibraryStatus> libraries;
  std::vector<std::pair<std::string, std::string>> properties;
};
BackendStatus backend_status(const std::string& name);

// The factories. They throw BackendUnavailable (engine/errors.h) when the named backend is absent or
// unusable here, std::invalid_argument for a bad config or device index.
std::unique_ptr<Engine> make_engine(const ModelConfig& cfg, const Placement& where);
std::unique_ptr<modded::ModdedRunner> make_modded(modded::ModdedWeights weights, const Placement& where);
OpBenchResult bench_op(const std::string& backend, const OpBenchRequest& req);
DeviceMemory device_memory(const std::string& backend, int device);
std::vector<uint8_t> collective_id(const std::string& backend);
std::shared_ptr<Collective> make_collective(const std::string& backend, const GroupSpec& spec);

}  // namespace mypt
