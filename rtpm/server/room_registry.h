// RoomRegistry: the rooms in memory, by name. Thread-safe (one mutex, held
// only to look up, insert or erase; never while a room works).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace rtpm::server {

class Room;
struct ServerContext;

class RoomRegistry {
 public:
  explicit RoomRegistry(ServerContext& ctx) : ctx_(ctx) {}
  /// The room of that name, created (not yet loaded) when not in memory (or when the one in
  /// memory unloaded: an unloaded room leaves the registry).
  std::shared_ptr<Room> get_or_create(const std::string& name);
  /// The room of that name if it is in memory, else null; never creates one (reads of rooms
  /// that may not exist, and sessions leaving rooms, must not fill the registry).
  std::shared_ptr<Room> find(const std::string& name);
  /// Forgets `room` if it is still the one registered under its name.
  void remove(const Room* room);
  size_t size();

 private:
  ServerContext& ctx_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Room>> rooms_;
};

}  // namespace rtpm::server
