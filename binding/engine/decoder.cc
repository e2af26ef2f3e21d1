// Batcher (decoder.h): the waiting line and the slots around a backend's Decoder.
#include "engine/decoder.h"

#include <algorithm>
#include <stdexcept>

#include "engine/errors.h"

namespace mypt {

std::unique_ptr<Decoder> Engine::make_decoder(int) {
  throw Unsupported("this backend has no multi-slot decoder (continuous batching); requests run one at a time");
}

Batcher::Batcher(std::unique_ptr<Decoder> decoder) : decoder_(std::move(decoder)) {
  slot_id_.assign(decoder_->slots(), -1);
}

bool Batcher::submit(int32_t id, std::vector<int32_t> prompt, int max_new, const SampleParams& sp) {
  if (max_new < 0) throw std::invalid_argument("max_new_tokens must not be negative");
  decoder_->check_prompt(prompt.data(), (int)prompt.size());
  std::lock_guard<std::mutex> lk(mu_);
  pending_.push_back({id, std::move(prompt), max_new, sp});
  const bool start = !running_;
  running_ = true;
  return start;
}

void Batcher::cancel(int32_t id) {
  std::lock_guard<std::mutex> lk(mu_);
  cancelled_.push_back(id);
}

size_t Batcher::waiting() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pending_.size();
}

size_t Batcher::running() const {
  std::lock_guard<std::mutex> lk(mu_);
  return (size_t)std::count_if(slot_id_.begin(), slot_id_.end(), [](int32_t x) { return x >= 0; });
}

void Batcher::run(const Emit& emit, const std::function<bool()>& stop) {
  const int S = decoder_->slots();
  std::vector<int32_t> out(S), ev;
  try {
    for (;;) {
      ev.clear();
      const bool stopping = stop();
      {
        std::lock_guard<std::mutex> lk(mu_);
        auto gone = [&](int32_t id) { return stopping || std::find(cancelled_.begin(), cancelled_.end(), id) != cancelled_.end(); };
        for (int s = 0; s < S; s++) {
          if (slot_id_[s] >= 0 && gone(slot_id_[s])) {
            decoder_->leave(s);
            ev.insert(ev.end(), {slot_id_[s], -1});
            slot_id_[s] = -1;
          }
        }
        for (auto it = pending_.begin(); it != pending_.end();) {
          if (gone(it->id) || it->max_new == 0) {
            ev.insert(ev.end(), {it->id, -1});
            it = pending_.erase(it);
          } else {
            ++it;
          }
        }
        cancelled_.clear();
        for (int s = 0; s < S && !pending_.empty(); s++) {
          if (slot_id_[s] >= 0) continue;
          Pending& p = pending_.front();
          decoder_->join(s, p.prompt.data(), (int)p.prompt.size(), p.max_new, p.sp);
          slot_id_[s] = p.id;
          pending_.pop_front();
        }
        const bool idle = std::all_of(slot_id_.begin(), slot_id_.end(), [](int32_t x) { return x < 0; });
        if (idle) {
          decoder_->idle();
          running_ = false;  // a submit() from now on starts a new run
          if (!ev.empty()) emit(ev.data(), ev.size());
          return;
        }
      }
      if (!ev.empty()) emit(ev.data(), ev.size());
      ev.clear();
      decoder_->step(out.data());
      {
        std::lock_guard<std::mutex> lk(mu_);
        for (int s = 0; s < S; s++) {
          if (slot_id_[s] < 0 || out[s] < 0) continue;
          ev.insert(ev.end(), {slot_id_[s], out[s]});
          if (!decoder_->active(s)) {
            ev.insert(ev.end(), {slot_id_[s], -1});
            slot_id_[s] = -1;
          }
        }
      }
      if (!ev.empty()) emit(ev.data(), ev.size());
    }
  } catch (...) {
    std::lock_guard<std::mutex> lk(mu_);
    for (int s = 0; s < S; s++) {
      if (slot_id_[s] >= 0) decoder_->leave(s);
      slot_id_[s] = -1;
    }
    decoder_->idle();
    pending_.clear();
    cancelled_.clear();
    running_ = false;
    throw;
  }
}

}  // namespace mypt
