// NativeGroup: the JS handle of one data-parallel group (engine/collective.h) of this process's rank.
//
//   new NativeGroup({ device: 'cpu'|'cuda', rank, world, id: Uint8Array, host, deviceIndex, timeoutMs })
//       checks the spec; nothing is connected yet
//   .connect() -> Promise<string>     joins the group (blocks a worker thread until every rank has joined);
//                                     resolves to its description ("cpu tcp, rank 1 of 2")
//   .run(op, Float32Array|Float64Array|Uint16Array, root?) -> Promise<typed array>
//                                     one collective on a copy of the array ('all_reduce',
//                                     'reduce_scatter', 'all_gather', 'broadcast'; Uint16Array: bf16 bits)
//   .close()                          leaves the group once the models in it are gone
// groupId(device) (addon.cc) makes rank 0's id. A model joins with NativeModel.joinGroup(group, opts).
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "engine/collective.h"
#include "napi/job.h"

namespace mypt_binding {

struct GroupState {
  std::string backend;
  mypt::GroupSpec spec;
  std::shared_ptr<mypt::Collective> group;  // set by connect()
  Serial serial;
  // the group, or CodedError E_DISTRIBUTED (not connected, or closed)
  std::shared_ptr<mypt::Collective> live() const;
};

class NativeGroup : public Napi::ObjectWrap<NativeGroup> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeGroup(const Napi::CallbackInfo& info);
  std::shared_ptr<GroupState> state() const { return st_; }
  // The group of a JS value that is a NativeGroup (TypeError otherwise).
  static std::shared_ptr<GroupState> Of(const Napi::Value& v);

 private:
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value Describe(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  std::shared_ptr<GroupState> st_;
};

void RegisterGroup(Napi::Env env, Napi::Object exports);  // NativeGroup, groupId, shardPlan

}  // namespace mypt_binding
