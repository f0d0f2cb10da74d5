// MemoryStore: a Store in process memory, for tests and `--store memory`.
// Thread-safe (one mutex).
#pragma once

#include <map>
#include <mutex>

#include "rtpm/store/store.h"

namespace rtpm::store {

class MemoryStore final : public Store {
 public:
  Result<void> create_room(const std::string& room, const std::string& doc_json) override;
  Result<std::optional<RoomData>> load_room(const std::string& room,
                                            int64_t history_before) override;
  std::vector<Result<void>> append(const std::vector<AppendBatch>& batches) override;
  Result<void> save_snapshot(const std::string& room, int64_t version, const std::string& doc_json,
                             int64_t keep_history) override;
  Result<bool> room_exists(const std::string& room) override;
  Result<int64_t> room_count() override;

 private:
  struct Room {
    int64_t snapshot_version = 0;
    std::string snapshot_doc;
    std::vector<StoredStep> steps;
  };
  std::mutex mutex_;
  std::map<std::string, Room> rooms_;
};

}  // namespace rtpm::store
