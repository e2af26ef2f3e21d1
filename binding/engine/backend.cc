#include "engine/backend.h"

#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "engine/errors.h"

namespace mypt {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<Backend>> backends;
  std::map<std::string, std::string> absent;  // name -> why this build has no such backend
};

Registry& registry() {
  static Registry r;
  return r;
}

// The backend named `name`, usable here, or BackendUnavailable saying why not.
const Backend& usable(const std::string& name) {
  const Backend* b = find_backend(name);
  if (!b) {
    const BackendStatus s = backend_status(name);
    throw BackendUnavailable("device '" + name + "' is not available: " + s.reason);
  }
  const std::string why = b->unavailable_reason();
  if (!why.empty()) throw BackendUnavailable("device '" + name + "' is not available: " + why);
  return *b;
}

}  // namespace

void register_backend(std::unique_ptr<Backend> backend) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  const std::string name = backend->name();
  r.absent.erase(name);
  r.backends[name] = std::move(backend);
}

void register_absent_backend(const std::string& name, const std::string& reason) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.backends.count(name)) r.absent[name] = reason;
}

const Backend* find_backend(const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.backends.find(name);
  return it == r.backends.end() ? nullptr : it->second.get();
}

BackendStatus backend_status(const std::string& name) {
  BackendStatus s;
  if (const Backend* b = find_backend(name)) {
    s.reason = b->unavailable_reason();
    s.available = s.reason.empty();
    if (s.available) s.devices = b->devices();
    s.libraries = b->libraries();
    s.properties = b->properties();
    return s;
  }
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.absent.find(name);
  s.reason = it != r.absent.end() ? it->second : "this build of mypt-native has no '" + name + "' backend";
  return s;
}

std::unique_ptr<Engine> make_engine(const ModelConfig& cfg, const Placement& where) {
  return usable(where.backend).make_engine(cfg, where.device, where.precision);
}

std::unique_ptr<modded::ModdedRunner> make_modded(modded::ModdedWeights weights, const Placement& where) {
  return usable(where.backend).make_modded(std::move(weights), where.device, where.precision);
}

OpBenchResult bench_op(const std::string& backend, const OpBenchRequest& req) { return usable(backend).bench_op(req); }

DeviceMemory device_memory(const std::string& backend, int device) { return usable(backend).device_memory(device); }

std::vector<uint8_t> Backend::collective_id() const {
  throw std::runtime_error("device '" + name() + "' has no data-parallel groups");
}

std::shared_ptr<Collective> Backend::make_collective(const GroupSpec&) const {
  throw std::runtime_error("device '" + name() + "' has no data-parallel groups");
}

std::vector<uint8_t> collective_id(const std::string& backend) { return usable(backend).collective_id(); }

std::shared_ptr<Collective> make_collective(const std::string& backend, const GroupSpec& spec) {
  return usable(backend).make_collective(spec);
}

}  // namespace mypt
