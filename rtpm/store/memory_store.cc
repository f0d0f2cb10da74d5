#include "rtpm/store/memory_store.h"

#include <algorithm>
#include <chrono>

namespace rtpm::store {

Result<void> MemoryStore::create_room(const std::string& room, const std::string& doc_json) {
  std::lock_guard lock(mutex_);
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  rooms_.try_emplace(room, Room{0, doc_json, {}, now, {{0, doc_json}}, {}});
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
                                        const std::string& doc_json, int64_t keep_history,
                                        int64_t keep_every) {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return Error{ErrorCode::internal, "no room " + room};
  Room& r = it->second;
  r.snapshot_version = version;
  r.snapshot_doc = doc_json;
  std::erase_if(r.snapshots, [&](const auto& s) { return s.first == version; });
  if (keep_every <= 0 || r.snapshots.empty() || r.snapshots.back().first <= version - keep_every)
    r.snapshots.emplace_back(version, doc_json);
  // The oldest snapshot kept is the newest at or before the history's start; the steps after
  // it stay, so that every version from it on can be rebuilt.
  int64_t keep_from = r.snapshots.front().first;
  for (const auto& snap : r.snapshots)
    if (snap.first <= version - keep_history) keep_from = snap.first;
  std::erase_if(r.snapshots, [&](const auto& s) { return s.first < keep_from; });
  std::erase_if(r.steps, [&](const StoredStep& s) { return s.version <= keep_from; });
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

int64_t MemoryStore::last_version(const Room& room) const {
  return room.steps.empty() ? room.snapshot_version
                            : std::max(room.snapshot_version, room.steps.back().version);
}

Result<std::vector<RoomInfo>> MemoryStore::list_rooms(const std::string& prefix,
                                                      const std::string& after, size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<RoomInfo> out;
  auto it = after < prefix ? rooms_.lower_bound(prefix) : rooms_.upper_bound(after);
  for (; it != rooms_.end() && out.size() < limit; ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back({it->first, last_version(it->second), it->second.created_ms});
  }
  return out;
}

Result<std::optional<StepPage>> MemoryStore::read_steps(const std::string& room, int64_t since,
                                                        size_t limit) {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return std::optional<StepPage>();
  const Room& r = it->second;
  StepPage page;
  page.version = last_version(r);
  page.first = r.steps.empty() ? page.version : r.steps.front().version - 1;
  if (since >= page.first)
    for (const auto& s : r.steps)
      if (s.version > since && page.steps.size() < limit) page.steps.push_back(s);
  return std::optional<StepPage>(std::move(page));
}

Result<std::optional<RoomData>> MemoryStore::load_version(const std::string& room,
                                                          int64_t version) {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return std::optional<RoomData>();
  const Room& r = it->second;
  RoomData data{r.snapshots.front().first, r.snapshots.front().second, {}};
  for (const auto& snap : r.snapshots)
    if (snap.first <= version) data = RoomData{snap.first, snap.second, {}};
  if (data.snapshot_version <= version)
    for (const auto& s : r.steps)
      if (s.version > data.snapshot_version && s.version <= version) data.steps.push_back(s);
  return std::optional<RoomData>(std::move(data));
}

Result<AddVersion> MemoryStore::add_named_version(const std::string& room, const NamedVersion& v,
                                                  const std::string& doc_json,
                                                  size_t max_per_room) {
  std::lock_guard lock(mutex_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return AddVersion::no_room;
  auto& named = it->second.named;
  for (const auto& [n, doc] : named)
    if (n.name == v.name) return AddVersion::name_taken;
  if (named.size() >= max_per_room) return AddVersion::full;
  named.emplace_back(v, doc_json);
  return AddVersion::added;
}

Result<std::vector<NamedVersion>> MemoryStore::named_versions(const std::string& room) {
  std::lock_guard lock(mutex_);
  std::vector<NamedVersion> out;
  if (auto it = rooms_.find(room); it != rooms_.end())
    for (const auto& [n, doc] : it->second.named) out.push_back(n);
  return out;
}

Result<std::optional<std::string>> MemoryStore::named_version_doc(const std::string& room,
                                                                  int64_t version) {
  std::lock_guard lock(mutex_);
  std::optional<std::string> out;
  if (auto it = rooms_.find(room); it != rooms_.end())
    for (const auto& [n, doc] : it->second.named)
      if (n.version == version) out = doc;
  return out;
}

Result<bool> MemoryStore::delete_room(const std::string& room) {
  std::lock_guard lock(mutex_);
  return rooms_.erase(room) > 0;
}

}  // namespace rtpm::store
