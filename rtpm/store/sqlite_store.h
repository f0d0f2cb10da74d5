// SqliteStore: the default Store, one SQLite database file (WAL mode,
// synchronous=FULL, so a committed append survives a crash of the process or
// the machine). Tables:
//   rooms(name PRIMARY KEY, created_ms)
//   snapshots(room, version, doc)            the latest snapshot per room
//   steps(room, version, user_id, step)      PRIMARY KEY(room, version)
// Calls are serialised by a mutex; the server makes them from one storage thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "rtpm/store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace rtpm::store {

/// The database file of a server's data folder: `data_dir`/realtime-pm.db. `realtime-pm
/// serve` keeps its rooms there and `realtime-pm backup` copies it.
std::string database_path(const std::string& data_dir);

class SqliteStore final : public Store {
 public:
  /// Opens (creating if needed) the database at `path`. A write that finds the
  /// database locked by another connection waits up to `busy_timeout_ms`, then fails.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   int busy_timeout_ms = 5000);
  ~SqliteStore() override;

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
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  Result<void> exec(const char* sql);
  /// Rolls back the open transaction (after an error that is reported instead).
  void rollback();
  Error error(const std::string& what) const;
  sqlite3_stmt* prepare(const char* sql);
  /// Appends one batch inside the open transaction (its savepoint is the caller's).
  Result<void> append_one(const AppendBatch& batch);
  /// Runs a prepared statement that returns no rows (BEGIN, COMMIT).
  Result<void> run(sqlite3_stmt* s, const char* what);
  /// Brings a database of an earlier release up to this schema.
  Result<void> migrate();

  std::mutex mutex_;
  sqlite3* db_;
  // Statements of the append path, prepared once (append runs for every group commit).
  sqlite3_stmt* insert_step_ = nullptr;
  sqlite3_stmt* last_version_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  // One savepoint per batch: a failing batch rolls back alone inside the group's transaction.
  sqlite3_stmt* savepoint_ = nullptr;
  sqlite3_stmt* release_ = nullptr;
  sqlite3_stmt* rollback_to_ = nullptr;
};

}  // namespace rtpm::store
