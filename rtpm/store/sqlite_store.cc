#include "rtpm/store/sqlite_store.h"

#include <chrono>
#include <filesystem>
#include <memory>

#include <sqlite3.h>

namespace rtpm::store {

namespace {

// Finalizes a prepared statement at scope exit.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

std::string column_text(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s, i))
           : std::string();
}

}  // namespace

std::string database_path(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "realtime-pm.db").string();
}

Error SqliteStore::error(const std::string& what) const {
  return Error{ErrorCode::internal, "sqlite: " + what + ": " + sqlite3_errmsg(db_)};
}

Result<void> SqliteStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return Error{ErrorCode::internal, std::string("sqlite: ") + m};
  }
  return {};
}

Result<void> SqliteStore::run(sqlite3_stmt* s, const char* what) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return error(what);
  return {};
}

void SqliteStore::rollback() { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

sqlite3_stmt* SqliteStore::prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return nullptr;
  return s;
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       int busy_timeout_ms) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string m = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Error{ErrorCode::internal, "sqlite: cannot open " + path + ": " + m};
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  sqlite3_busy_timeout(db, busy_timeout_ms);
  for (const char* sql : {
           "PRAGMA journal_mode=WAL",
           "PRAGMA synchronous=FULL",
           "CREATE TABLE IF NOT EXISTS rooms(name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL)",
           "CREATE TABLE IF NOT EXISTS snapshots(room TEXT PRIMARY KEY, version INTEGER NOT NULL,"
           " doc TEXT NOT NULL)",
           "CREATE TABLE IF NOT EXISTS steps(room TEXT NOT NULL, version INTEGER NOT NULL,"
           " user_id TEXT NOT NULL, step TEXT NOT NULL, PRIMARY KEY(room, version)) WITHOUT ROWID",
       }) {
    auto r = store->exec(sql);
    if (!r) return r.error();
  }
  store->insert_step_ =
      store->prepare("INSERT INTO steps(room, version, user_id, step) VALUES(?,?,?,?)");
  store->last_version_ = store->prepare(
      "SELECT COALESCE((SELECT MAX(version) FROM steps WHERE room = ?1),"
      " (SELECT version FROM snapshots WHERE room = ?1))");
  store->begin_ = store->prepare("BEGIN IMMEDIATE");
  store->commit_ = store->prepare("COMMIT");
  store->savepoint_ = store->prepare("SAVEPOINT batch");
  store->release_ = store->prepare("RELEASE batch");
  store->rollback_to_ = store->prepare("ROLLBACK TO batch");
  if (!store->insert_step_ || !store->last_version_ || !store->begin_ || !store->commit_ ||
      !store->savepoint_ || !store->release_ || !store->rollback_to_)
    return store->error("prepare");
  return store;
}

SqliteStore::~SqliteStore() {
  sqlite3_finalize(insert_step_);
  sqlite3_finalize(last_version_);
  sqlite3_finalize(begin_);
  sqlite3_finalize(commit_);
  sqlite3_finalize(savepoint_);
  sqlite3_finalize(release_);
  sqlite3_finalize(rollback_to_);
  sqlite3_close(db_);
}

Result<void> SqliteStore::create_room(const std::string& room, const std::string& doc_json) {
  std::lock_guard lock(mutex_);
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
  Stmt a{prepare("INSERT OR IGNORE INTO rooms(name, created_ms) VALUES(?, ?)")};
  Stmt b{prepare("INSERT OR IGNORE INTO snapshots(room, version, doc) VALUES(?, 0, ?)")};
  if (!a.s || !b.s) {
    rollback();
    return error("prepare");
  }
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  bind_text(a.s, 1, room);
  sqlite3_bind_int64(a.s, 2, now);
  bind_text(b.s, 1, room);
  bind_text(b.s, 2, doc_json);
  if (sqlite3_step(a.s) != SQLITE_DONE || sqlite3_step(b.s) != SQLITE_DONE) {
    Error e = error("create room");
    rollback();
    return e;
  }
  return exec("COMMIT");
}

Result<std::optional<RoomData>> SqliteStore::load_room(const std::string& room,
                                                       int64_t history_before) {
  std::lock_guard lock(mutex_);
  Stmt snap{prepare("SELECT version, doc FROM snapshots WHERE room = ?")};
  if (!snap.s) return error("prepare");
  bind_text(snap.s, 1, room);
  int rc = sqlite3_step(snap.s);
  if (rc == SQLITE_DONE) return std::optional<RoomData>();
  if (rc != SQLITE_ROW) return error("load snapshot");
  RoomData data;
  data.snapshot_version = sqlite3_column_int64(snap.s, 0);
  data.snapshot_doc = column_text(snap.s, 1);
  Stmt steps{
      prepare("SELECT version, user_id, step FROM steps WHERE room = ? AND version > ?"
              " ORDER BY version")};
  if (!steps.s) return error("prepare");
  bind_text(steps.s, 1, room);
  sqlite3_bind_int64(steps.s, 2, data.snapshot_version - history_before);
  while ((rc = sqlite3_step(steps.s)) == SQLITE_ROW)
    data.steps.push_back(
        {sqlite3_column_int64(steps.s, 0), column_text(steps.s, 1), column_text(steps.s, 2)});
  if (rc != SQLITE_DONE) return error("load steps");
  return std::optional<RoomData>(std::move(data));
}

std::vector<Result<void>> SqliteStore::append(const std::vector<AppendBatch>& batches) {
  std::lock_guard lock(mutex_);
  std::vector<Result<void>> results;
  if (auto r = run(begin_, "begin"); !r) return std::vector<Result<void>>(batches.size(), r);
  results.reserve(batches.size());
  for (const auto& b : batches) {
    // A savepoint per batch: a failing batch rolls back alone, the others commit with the group.
    if (auto r = run(savepoint_, "savepoint"); !r) {
      rollback();
      return std::vector<Result<void>>(batches.size(), r);
    }
    Result<void> r = append_one(b);
    if (!r) {
      if (auto undone = run(rollback_to_, "rollback to"); !undone) {
        rollback();
        return std::vector<Result<void>>(batches.size(), undone);
      }
    }
    if (auto released = run(release_, "release"); !released) {
      rollback();
      return std::vector<Result<void>>(batches.size(), released);
    }
    results.push_back(std::move(r));
  }
  if (auto r = run(commit_, "commit"); !r) {
    rollback();
    return std::vector<Result<void>>(batches.size(), r);
  }
  return results;
}

Result<void> SqliteStore::append_one(const AppendBatch& b) {
  // The log must continue without a gap: a batch that does not start right after the room's
  // last step fails.
  sqlite3_stmt* last = last_version_;
  sqlite3_reset(last);
  bind_text(last, 1, b.room);
  if (sqlite3_step(last) != SQLITE_ROW || sqlite3_column_type(last, 0) == SQLITE_NULL) {
    sqlite3_reset(last);
    return Error{ErrorCode::internal, "sqlite: no room " + b.room};
  }
  int64_t last_version = sqlite3_column_int64(last, 0);
  sqlite3_reset(last);
  if (!b.steps.empty() && b.steps.front().version != last_version + 1)
    return Error{ErrorCode::internal, "sqlite: steps of " + b.room + " start at version " +
                                          std::to_string(b.steps.front().version) +
                                          ", the log is at " + std::to_string(last_version)};
  for (const auto& s : b.steps) {
    sqlite3_reset(insert_step_);
    bind_text(insert_step_, 1, b.room);
    sqlite3_bind_int64(insert_step_, 2, s.version);
    bind_text(insert_step_, 3, s.user_id);
    bind_text(insert_step_, 4, s.step_json);
    if (sqlite3_step(insert_step_) != SQLITE_DONE) {
      Error e = error("append step");
      sqlite3_reset(insert_step_);
      return e;
    }
  }
  sqlite3_reset(insert_step_);
  return {};
}

Result<void> SqliteStore::save_snapshot(const std::string& room, int64_t version,
                                        const std::string& doc_json, int64_t keep_history) {
  std::lock_guard lock(mutex_);
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
  Stmt up{prepare("INSERT OR REPLACE INTO snapshots(room, version, doc) VALUES(?, ?, ?)")};
  Stmt prune{prepare("DELETE FROM steps WHERE room = ? AND version <= ?")};
  if (!up.s || !prune.s) {
    rollback();
    return error("prepare");
  }
  bind_text(up.s, 1, room);
  sqlite3_bind_int64(up.s, 2, version);
  bind_text(up.s, 3, doc_json);
  bind_text(prune.s, 1, room);
  sqlite3_bind_int64(prune.s, 2, version - keep_history);
  if (sqlite3_step(up.s) != SQLITE_DONE || sqlite3_step(prune.s) != SQLITE_DONE) {
    Error e = error("save snapshot");
    rollback();
    return e;
  }
  return exec("COMMIT");
}

Result<bool> SqliteStore::room_exists(const std::string& room) {
  std::lock_guard lock(mutex_);
  Stmt q{prepare("SELECT 1 FROM rooms WHERE name = ?")};
  if (!q.s) return error("prepare");
  bind_text(q.s, 1, room);
  int rc = sqlite3_step(q.s);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return error("room exists");
}

Result<int64_t> SqliteStore::room_count() {
  std::lock_guard lock(mutex_);
  Stmt q{prepare("SELECT COUNT(*) FROM rooms")};
  if (!q.s) return error("prepare");
  if (sqlite3_step(q.s) != SQLITE_ROW) return error("room count");
  return static_cast<int64_t>(sqlite3_column_int64(q.s, 0));
}

}  // namespace rtpm::store
