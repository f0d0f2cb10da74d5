#include "rtpm/server/room_registry.h"

#include "rtpm/server/room.h"

namespace rtpm::server {

std::shared_ptr<Room> RoomRegistry::get_or_create(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = rooms_[name];
  if (!slot) {
    slot = std::make_shared<Room>(ctx_, name);
    ctx_.metrics.rooms.store(static_cast<int64_t>(rooms_.size()));
  }
  return slot;
}

std::shared_ptr<Room> RoomRegistry::find(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(name);
  return it == rooms_.end() ? nullptr : it->second;
}

void RoomRegistry::remove(const Room* room) {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(room->name());
  if (it != rooms_.end() && it->second.get() == room) rooms_.erase(it);
  ctx_.metrics.rooms.store(static_cast<int64_t>(rooms_.size()));
}

size_t RoomRegistry::size() {
  std::lock_guard lock(mutex_);
  return rooms_.size();
}

}  // namespace rtpm::server
