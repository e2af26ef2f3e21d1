// Continuous batching: many sequences decoded together, each in its own slot with its own KV cache region,
// position and sampling settings (and its own seeded generator, so a sequence's tokens are those generate()
// gives it alone). A sequence joins at the next step and leaves when it is done; the others go on.
//
//   Decoder  the backend's part (engine.h make_decoder): slots, one step = every active slot decodes its
//            new tokens (a joining slot its whole prompt) and samples its next one.
//   Batcher  the backend-neutral queue around it: requests by id, waiting in order of arrival for a free slot;
//            submit()/cancel() from any thread, run() on a worker thread until nothing is left to do.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/engine.h"

namespace mypt {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual int slots() const = 0;
  // Throws std::invalid_argument when a token is outside the vocabulary or the prompt is empty.
  virtual void check_prompt(const int32_t* prompt, int n) const = 0;
  // Starts a sequence in the free slot `slot`: at most max_new (>= 1) tokens after the prompt.
  virtual void join(int slot, const int32_t* prompt, int n, int max_new, const SampleParams& sp) = 0;
  virtual void leave(int slot) = 0;
  virtual bool active(int slot) const = 0;
  // One token for every active slot: out[slot] = its new id, or -1 where the slot is idle. A slot that has
  // made max_new tokens is idle after the step. Context longer than block_size is cropped as in generate().
  virtual void step(int32_t* out) = 0;
  // No step follows until the next join: other calls may use (and change) the model meanwhile, so drop
  // whatever was prepared for it (the CUDA decoder's captured graph).
  virtual void idle() {}
};

class Batcher {
 public:
  using Emit = std::function<void(const int32_t*, size_t)>;
  explicit Batcher(std::unique_ptr<Decoder> decoder);
  int slots() const { return decoder_->slots(); }

  // Queues request `id` (checked now: a bad prompt throws here). Returns true when no run() is going on, so
  // the caller must start one.
  bool submit(int32_t id, std::vector<int32_t> prompt, int max_new, const SampleParams& sp);
  // Ends request `id` at the next step (waiting or running); its finish event follows as usual.
  void cancel(int32_t id);
  // Steps until no request is waiting or running. emit() gets (id, token) pairs as they are made and
  // (id, -1) when a request is finished (its tokens all made, or cancelled). stop(): when it returns true
  // every request finishes now. On an exception every request is dropped and it propagates.
  void run(const Emit& emit, const std::function<bool()>& stop);
  // Requests waiting for a slot / in a slot.
  size_t waiting() const;
  size_t running() const;

 private:
  struct Pending {
    int32_t id;
    std::vector<int32_t> prompt;
    int max_new;
    SampleParams sp;
  };
  std::unique_ptr<Decoder> decoder_;
  mutable std::mutex mu_;
  std::deque<Pending> pending_;
  std::vector<int32_t> slot_id_;      // request in each slot, -1 when free
  std::vector<int32_t> cancelled_;    // ids to end at the next step
  bool running_ = false;
};

}  // namespace mypt
