// The CPU backend as the registry sees it: always available, one device (the device index is not used),
// fp32 whatever the precision asked for (the TypeScript layer refuses bf16 on the CPU before that);
// data-parallel groups over TCP (collective_tcp.h).
#include "cpu/backend.h"

#include <string>

#include "cpu/collective_tcp.h"
#include "cpu/engine.h"
#include "cpu/modded.h"

namespace mypt {
namespace cpu {
namespace {

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::string unavailable_reason() const override { return ""; }
  std::vector<DeviceInfo> devices() const override { return {}; }
  std::unique_ptr<Engine> make_engine(const ModelConfig& cfg, int, Precision) const override {
    return cpu::make_engine(cfg);
  }
  std::unique_ptr<modded::ModdedRunner> make_modded(modded::ModdedWeights weights, int,
                                                    Precision) const override {
    return cpu::make_modded(std::move(weights));
  }
  OpBenchResult bench_op(const OpBenchRequest& req) const override { return cpu::bench_op(req); }
  std::vector<uint8_t> collective_id() const override { return tcp_group_id(); }
  std::shared_ptr<Collective> make_collective(const GroupSpec& spec) const override {
    return make_tcp_collective(spec);
  }
};

}  // namespace

std::unique_ptr<Backend> make_backend() { return std::make_unique<CpuBackend>(); }

std::unique_ptr<Engine> make_engine(const ModelConfig& cfg) { return std::make_unique<CpuEngine>(cfg); }

std::unique_ptr<modded::ModdedRunner> make_modded(modded::ModdedWeights weights) {
  return std::make_unique<modded::ModdedCpu>(std::move(weights));
}

}  // namespace cpu
}  // namespace mypt
