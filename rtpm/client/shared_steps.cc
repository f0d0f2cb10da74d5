#include "rtpm/client/shared_steps.h"

namespace rtpm::client {

std::string SharedSteps::key(const std::string& room, int64_t version, size_t count) {
  std::string k = room;
  k += '\0';
  k += std::to_string(version);
  k += '\0';
  k += std::to_string(count);
  return k;
}

std::shared_ptr<const SharedSteps::Range> SharedSteps::find(const std::string& room,
                                                            int64_t version, size_t count) const {
  std::lock_guard lock(mu_);
  auto it = ranges_.find(key(room, version, count));
  if (it == ranges_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  return it->second;
}

void SharedSteps::put(const std::string& room, int64_t version,
                      std::shared_ptr<const Range> range) {
  if (!range || capacity_ == 0) return;
  std::string k = key(room, version, range->steps.size());
  std::lock_guard lock(mu_);
  auto [it, inserted] = ranges_.try_emplace(k, range);
  if (!inserted) {
    if (!it->second->transform && range->transform) it->second = std::move(range);
    return;
  }
  order_.push_back(std::move(k));
  while (order_.size() > capacity_) {
    ranges_.erase(order_.front());
    order_.pop_front();
  }
}

std::shared_ptr<const SharedSteps::Decoded> SharedSteps::decoded(
    const std::string& frame, bool binary, const std::function<Decoded()>& decode) {
  auto& frames = frames_[binary ? 1 : 0];
  {
    std::lock_guard lock(mu_);
    auto it = frames.find(frame);
    if (it != frames.end()) return it->second;
  }
  auto value = std::make_shared<const Decoded>(decode());
  if (capacity_ == 0) return value;
  std::lock_guard lock(mu_);
  auto [it, inserted] = frames.try_emplace(frame, value);
  if (inserted) {
    frame_order_.emplace_back(binary, frame);
    while (frame_order_.size() > capacity_) {
      frames_[frame_order_.front().first ? 1 : 0].erase(frame_order_.front().second);
      frame_order_.pop_front();
    }
  }
  return it->second;
}

int64_t SharedSteps::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

int64_t SharedSteps::misses() const {
  std::lock_guard lock(mu_);
  return misses_;
}

}  // namespace rtpm::client
