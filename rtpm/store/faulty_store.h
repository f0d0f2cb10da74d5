// FaultyStore: a Store that wraps another and fails or delays writes on
// demand, for the failures a real store cannot produce when a test wants them
// (a full disk, a lock held by another process at one precise write).
//
// Faults apply to append batches (counted from 1 across all append calls since
// the fault was set), to every batch of one room, to the commit of the next
// append call, or delay the next append call. A batch that fails here never
// reaches the wrapped store, which appends the others of the same call with
// one commit: so a later batch of the failed batch's room fails there too (its
// log would have a gap), exactly as with a real failure. Thread-safe (one
// mutex); the wrapped store is called outside it.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include "rtpm/store/store.h"

namespace rtpm::store {

class FaultyStore final : public Store {
 public:
  explicit FaultyStore(Store& inner) : inner_(inner) {}

  /// The `n`th batch appended from now on (1: the next one) fails, alone.
  void fail_batch(int64_t n);
  /// Every batch of `room` fails until clear().
  void fail_room(const std::string& room);
  /// The next append call fails as a whole, as when its commit fails: every batch fails.
  void fail_commit();
  /// The next append call waits `delay` before it writes (the storage thread is busy).
  void delay_next_append(std::chrono::milliseconds delay);
  /// Removes every fault.
  void clear();
  /// Batches appended (ok or failed) so far.
  int64_t batches_seen();

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
  Store& inner_;
  std::mutex mutex_;
  int64_t seen_ = 0;
  std::set<int64_t> failing_batches_;  // absolute batch numbers
  std::set<std::string> failing_rooms_;
  bool fail_commit_ = false;
  std::chrono::milliseconds delay_{0};
};

}  // namespace rtpm::store
