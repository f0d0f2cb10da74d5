#include "rtpm/store/memory_store.h"

#include <algorithm>

namespace rtpm::store {

Result<void> MemoryStore::create_room(const std::string& room, const std::string& doc_json) {
  std::lock_guard lock(mutex_);
  rooms_.try_emplace(room, Room{0, doc_json, {}});
  return {};
}

Result<std::optional<RoomData>> MemoryStore::load_room(const std::string& room,
                                                       int64_t history_before) {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return std::optional<RoomData>();
  RoomData data{it->second.snapshot_version, it->second.snapshot_doc, {}};
  for (const auto& s : it->second.steps)
    if (s.version > it->second.snapshot_version - history_before) data.steps.push_back(s);
  return std::optional<RoomData>(std::move(data));
}

std::vector<Result<void>> MemoryStore::append(const std::vector<AppendBatch>& batches) {
  std::lock_guard lock(mutex_);
  std::vector<Result<void>> results;
  results.reserve(batches.size());
  for (const auto& b : batches) {
    // Each batch on its own; a room's log must continue without a gap.
    auto it = rooms_.find(b.room);
    if (it == rooms_.end()) {
      results.push_back(Error{ErrorCode::internal, "no room " + b.room});
      continue;
    }
    auto& steps = it->second.steps;
    int64_t last = steps.empty() ? it->second.snapshot_version : steps.back().version;
    bool continues = true;
    for (size_t i = 0; i < b.steps.size(); ++i)
      continues = continues && b.steps[i].version == last + 1 + static_cast<int64_t>(i);
    if (!continues) {
      results.push_back(
          Error{ErrorCode::internal, "steps of " + b.room + " do not continue its log"});
      continue;
    }
    steps.insert(steps.end(), b.steps.begin(), b.steps.end());
    results.emplace_back();
  }
  return results;
}

Result<void> MemoryStore::save_snapshot(const std::string& room, int64_t version,
                                        const std::string& doc_json, int64_t keep_history) {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return Error{ErrorCode::internal, "no room " + room};
  it->second.snapshot_version = version;
  it->second.snapshot_doc = doc_json;
  auto& steps = it->second.steps;
  steps.erase(
      std::remove_if(steps.begin(), steps.end(),
                     [&](const StoredStep& s) { return s.version <= version - keep_history; }),
      steps.end());
  return {};
}

Result<bool> MemoryStore::room_exists(const std::string& room) {
  std::lock_guard lock(mutex_);
  return rooms_.count(room) > 0;
}

Result<int64_t> MemoryStore::room_count() {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(rooms_.size());
}

}  // namespace rtpm::store
