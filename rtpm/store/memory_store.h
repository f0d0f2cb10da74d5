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
                             int64_t keep_history, int64_t keep_every) override;
  Result<bool> room_exists(const std::string& room) override;
  Result<int64_t> room_count() override;
  Result<std::vector<RoomInfo>> list_rooms(const std::string& prefix, const std::string& after,
                                           size_t limit) override;
  Result<std::optional<StepPage>> read_steps(const std::string& room, int64_t since,
                                             size_t limit) override;
  Result<std::optional<RoomData>> load_version(const std::string& room, int64_t version) override;
  Result<AddVersion> add_named_version(const std::string& room, const NamedVersion& v,
                                       const std::string& doc_json, size_t max_per_room) override;
  Result<std::vector<NamedVersion>> named_versions(const std::string& room) override;
  Result<std::optional<std::string>> named_version_doc(const std::string& room,
                                                       int64_t version) override;
  Result<bool> delete_room(const std::string& room) override;

 private:
  struct Room {
    int64_t snapshot_version = 0;
    std::string snapshot_doc;
    std::vector<StoredStep> steps;
    int64_t created_ms = 0;
    /// Every kept snapshot (version, doc), oldest first; the last is the latest.
    std::vector<std::pair<int64_t, std::string>> snapshots;
    std::vector<std::pair<NamedVersion, std::string>> named;
  };
  int64_t last_version(const Room& room) const;
  std::mutex mutex_;
  std::map<std::string, Room> rooms_;
};

}  // namespace rtpm::store
