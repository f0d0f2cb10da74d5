#include "rtpm/store/faulty_store.h"

#include <thread>

namespace rtpm::store {

void FaultyStore::fail_batch(int64_t n) {
  std::lock_guard lock(mutex_);
  failing_batches_.insert(seen_ + n);
}

void FaultyStore::fail_room(const std::string& room) {
  std::lock_guard lock(mutex_);
  failing_rooms_.insert(room);
}

void FaultyStore::fail_commit() {
  std::lock_guard lock(mutex_);
  fail_commit_ = true;
}

void FaultyStore::delay_next_append(std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  delay_ = delay;
}

void FaultyStore::clear() {
  std::lock_guard lock(mutex_);
  failing_batches_.clear();
  failing_rooms_.clear();
  fail_commit_ = false;
  delay_ = std::chrono::milliseconds(0);
}

int64_t FaultyStore::batches_seen() {
  std::lock_guard lock(mutex_);
  return seen_;
}

std::vector<Result<void>> FaultyStore::append(const std::vector<AppendBatch>& batches) {
  std::vector<bool> fails(batches.size());
  bool whole = false;
  std::chrono::milliseconds delay{0};
  {
    std::lock_guard lock(mutex_);
    whole = std::exchange(fail_commit_, false);
    delay = std::exchange(delay_, std::chrono::milliseconds(0));
    for (size_t i = 0; i < batches.size(); ++i)
      fails[i] = failing_batches_.erase(++seen_) > 0 || failing_rooms_.count(batches[i].room) > 0;
  }
  if (delay.count()) std::this_thread::sleep_for(delay);
  Error injected{ErrorCode::internal, "faulty store: injected failure"};
  if (whole) return std::vector<Result<void>>(batches.size(), injected);
  std::vector<AppendBatch> rest;
  for (size_t i = 0; i < batches.size(); ++i)
    if (!fails[i]) rest.push_back(batches[i]);
  std::vector<Result<void>> inner = inner_.append(rest);
  std::vector<Result<void>> results;
  results.reserve(batches.size());
  size_t next = 0;
  for (size_t i = 0; i < batches.size(); ++i)
    results.push_back(fails[i] ? Result<void>(injected) : std::move(inner[next++]));
  return results;
}

Result<void> FaultyStore::create_room(const std::string& room, const std::string& doc_json) {
  return inner_.create_room(room, doc_json);
}

Result<std::optional<RoomData>> FaultyStore::load_room(const std::string& room,
                                                       int64_t history_before) {
  return inner_.load_room(room, history_before);
}

Result<void> FaultyStore::save_snapshot(const std::string& room, int64_t version,
                                        const std::string& doc_json, int64_t keep_history,
                                        int64_t keep_every) {
  return inner_.save_snapshot(room, version, doc_json, keep_history, keep_every);
}

Result<bool> FaultyStore::room_exists(const std::string& room) { return inner_.room_exists(room); }

Result<int64_t> FaultyStore::room_count() { return inner_.room_count(); }

Result<std::vector<RoomInfo>> FaultyStore::list_rooms(const std::string& prefix,
                                                      const std::string& after, size_t limit) {
  return inner_.list_rooms(prefix, after, limit);
}

Result<std::optional<StepPage>> FaultyStore::read_steps(const std::string& room, int64_t since,
                                                        size_t limit) {
  return inner_.read_steps(room, since, limit);
}

Result<std::optional<RoomData>> FaultyStore::load_version(const std::string& room,
                                                          int64_t version) {
  return inner_.load_version(room, version);
}

Result<AddVersion> FaultyStore::add_named_version(const std::string& room, const NamedVersion& v,
                                                  const std::string& doc_json,
                                                  size_t max_per_room) {
  return inner_.add_named_version(room, v, doc_json, max_per_room);
}

Result<std::vector<NamedVersion>> FaultyStore::named_versions(const std::string& room) {
  return inner_.named_versions(room);
}

Result<std::optional<std::string>> FaultyStore::named_version_doc(const std::string& room,
                                                                  int64_t version) {
  return inner_.named_version_doc(room, version);
}

Result<bool> FaultyStore::delete_room(const std::string& room) { return inner_.delete_room(room); }

}  // namespace rtpm::store
