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

// A row of SELECT version, user_id, step, time_ms.
StoredStep column_step(sqlite3_stmt* s) {
  return {sqlite3_column_int64(s, 0), column_text(s, 1), column_text(s, 2),
          sqlite3_column_int64(s, 3)};
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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
           " user_id TEXT NOT NULL, step TEXT NOT NULL, time_ms INTEGER NOT NULL DEFAULT 0,"
           " PRIMARY KEY(room, version)) WITHOUT ROWID",
           "CREATE TABLE IF NOT EXISTS named_versions(room TEXT NOT NULL, name TEXT NOT NULL,"
           " version INTEGER NOT NULL, time_ms INTEGER NOT NULL, doc TEXT NOT NULL,"
           " UNIQUE(room, name))",
       }) {
    auto r = store->exec(sql);
    if (!r) return r.error();
  }
  // Databases of earlier releases: steps without their time, and no kept snapshots (seeded
  // with the latest one, so versions from it on can be read).
  if (auto r = store->migrate(); !r) return r.error();
  store->insert_step_ =
      store->prepare("INSERT INTO steps(room, version, user_id, step, time_ms) VALUES(?,?,?,?,?)");
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
  Stmt c{prepare("INSERT OR IGNORE INTO snapshot_history(room, version, doc) VALUES(?, 0, ?)")};
  if (!a.s || !b.s || !c.s) {
    rollback();
    return error("prepare");
  }
  bind_text(a.s, 1, room);
  sqlite3_bind_int64(a.s, 2, now_ms());
  bind_text(b.s, 1, room);
  bind_text(b.s, 2, doc_json);
  bind_text(c.s, 1, room);
  bind_text(c.s, 2, doc_json);
  if (sqlite3_step(a.s) != SQLITE_DONE || sqlite3_step(b.s) != SQLITE_DONE ||
      sqlite3_step(c.s) != SQLITE_DONE) {
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
      prepare("SELECT version, user_id, step, time_ms FROM steps WHERE room = ? AND version > ?"
              " ORDER BY version")};
  if (!steps.s) return error("prepare");
  bind_text(steps.s, 1, room);
  sqlite3_bind_int64(steps.s, 2, data.snapshot_version - history_before);
  while ((rc = sqlite3_step(steps.s)) == SQLITE_ROW) data.steps.push_back(column_step(steps.s));
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
    sqlite3_bind_int64(insert_step_, 5, s.time_ms);
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
                                        const std::string& doc_json, int64_t keep_history,
                                        int64_t keep_every) {
  std::lock_guard lock(mutex_);
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
  Stmt up{prepare("INSERT OR REPLACE INTO snapshots(room, version, doc) VALUES(?, ?, ?)")};
  // Kept for reads of old versions unless a kept one is newer than version - keep_every.
  Stmt keep{prepare(
      "INSERT OR REPLACE INTO snapshot_history(room, version, doc) SELECT ?1, ?2, ?3 WHERE ?4 <= 0"
      " OR NOT EXISTS (SELECT 1 FROM snapshot_history WHERE room = ?1 AND version > ?2 - ?4)")};
  // The oldest snapshot kept is the newest at or before the history's start (or the oldest
  // there is); the steps after it stay, so that every version from it on can be rebuilt.
  Stmt from{prepare(
      "SELECT COALESCE((SELECT MAX(version) FROM snapshot_history WHERE room = ?1 AND version <= "
      "?2), (SELECT MIN(version) FROM snapshot_history WHERE room = ?1))")};
  Stmt prune_snapshots{prepare("DELETE FROM snapshot_history WHERE room = ? AND version < ?")};
  Stmt prune{prepare("DELETE FROM steps WHERE room = ? AND version <= ?")};
  if (!up.s || !keep.s || !from.s || !prune_snapshots.s || !prune.s) {
    rollback();
    return error("prepare");
  }
  for (sqlite3_stmt* st : {up.s, keep.s}) {
    bind_text(st, 1, room);
    sqlite3_bind_int64(st, 2, version);
    bind_text(st, 3, doc_json);
  }
  sqlite3_bind_int64(keep.s, 4, keep_every);
  bind_text(from.s, 1, room);
  sqlite3_bind_int64(from.s, 2, version - keep_history);
  if (sqlite3_step(up.s) != SQLITE_DONE || sqlite3_step(keep.s) != SQLITE_DONE ||
      sqlite3_step(from.s) != SQLITE_ROW) {
    Error e = error("save snapshot");
    rollback();
    return e;
  }
  int64_t keep_from = sqlite3_column_int64(from.s, 0);
  for (sqlite3_stmt* st : {prune_snapshots.s, prune.s}) {
    bind_text(st, 1, room);
    sqlite3_bind_int64(st, 2, keep_from);
  }
  if (sqlite3_step(prune_snapshots.s) != SQLITE_DONE || sqlite3_step(prune.s) != SQLITE_DONE) {
    Error e = error("prune history");
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

Result<void> SqliteStore::migrate() {
  Stmt cols{prepare("SELECT 1 FROM pragma_table_info('steps') WHERE name = 'time_ms'")};
  Stmt has_history{
      prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshot_history'")};
  if (!cols.s || !has_history.s) return error("prepare");
  int rc = sqlite3_step(cols.s);
  if (rc == SQLITE_DONE) {
    if (auto r = exec("ALTER TABLE steps ADD COLUMN time_ms INTEGER NOT NULL DEFAULT 0"); !r)
      return r;
  } else if (rc != SQLITE_ROW) {
    return error("read the schema");
  }
  rc = sqlite3_step(has_history.s);
  if (rc == SQLITE_ROW) return {};
  if (rc != SQLITE_DONE) return error("read the schema");
  return exec(
      "BEGIN IMMEDIATE;"
      "CREATE TABLE IF NOT EXISTS snapshot_history(room TEXT NOT NULL, version INTEGER NOT NULL,"
      " doc TEXT NOT NULL, PRIMARY KEY(room, version)) WITHOUT ROWID;"
      "INSERT OR IGNORE INTO snapshot_history(room, version, doc)"
      " SELECT room, version, doc FROM snapshots;"
      "COMMIT");
}

Result<std::vector<RoomInfo>> SqliteStore::list_rooms(const std::string& prefix,
                                                      const std::string& after, size_t limit) {
  std::lock_guard lock(mutex_);
  Stmt q{prepare(
      "SELECT name, created_ms, COALESCE((SELECT MAX(version) FROM steps WHERE room = name),"
      " (SELECT version FROM snapshots WHERE room = name), 0) FROM rooms"
      " WHERE name > ?1 AND name >= ?2 AND substr(name, 1, length(?2)) = ?2"
      " ORDER BY name LIMIT ?3")};
  if (!q.s) return error("prepare");
  bind_text(q.s, 1, after);
  bind_text(q.s, 2, prefix);
  sqlite3_bind_int64(q.s, 3, static_cast<int64_t>(limit));
  std::vector<RoomInfo> out;
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW)
    out.push_back(
        {column_text(q.s, 0), sqlite3_column_int64(q.s, 2), sqlite3_column_int64(q.s, 1)});
  if (rc != SQLITE_DONE) return error("list rooms");
  return out;
}

Result<std::optional<StepPage>> SqliteStore::read_steps(const std::string& room, int64_t since,
                                                        size_t limit) {
  std::lock_guard lock(mutex_);
  Stmt bounds{prepare(
      "SELECT (SELECT 1 FROM rooms WHERE name = ?1), (SELECT MIN(version) FROM steps WHERE room = "
      "?1), COALESCE((SELECT MAX(version) FROM steps WHERE room = ?1),"
      " (SELECT version FROM snapshots WHERE room = ?1), 0)")};
  Stmt q{
      prepare("SELECT version, user_id, step, time_ms FROM steps WHERE room = ? AND version > ?"
              " ORDER BY version LIMIT ?")};
  if (!bounds.s || !q.s) return error("prepare");
  bind_text(bounds.s, 1, room);
  if (sqlite3_step(bounds.s) != SQLITE_ROW) return error("read steps");
  if (sqlite3_column_type(bounds.s, 0) == SQLITE_NULL) return std::optional<StepPage>();
  StepPage page;
  page.version = sqlite3_column_int64(bounds.s, 2);
  page.first = sqlite3_column_type(bounds.s, 1) == SQLITE_NULL
                   ? page.version
                   : sqlite3_column_int64(bounds.s, 1) - 1;
  if (since >= page.first) {
    bind_text(q.s, 1, room);
    sqlite3_bind_int64(q.s, 2, since);
    sqlite3_bind_int64(q.s, 3, static_cast<int64_t>(limit));
    int rc;
    while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) page.steps.push_back(column_step(q.s));
    if (rc != SQLITE_DONE) return error("read steps");
  }
  return std::optional<StepPage>(std::move(page));
}

Result<std::optional<RoomData>> SqliteStore::load_version(const std::string& room,
                                                          int64_t version) {
  std::lock_guard lock(mutex_);
  Stmt snap{
      prepare("SELECT version, doc FROM snapshot_history WHERE room = ?1 AND version = COALESCE("
              "(SELECT MAX(version) FROM snapshot_history WHERE room = ?1 AND version <= ?2),"
              " (SELECT MIN(version) FROM snapshot_history WHERE room = ?1))")};
  Stmt steps{
      prepare("SELECT version, user_id, step, time_ms FROM steps WHERE room = ? AND version > ?"
              " AND version <= ? ORDER BY version")};
  if (!snap.s || !steps.s) return error("prepare");
  bind_text(snap.s, 1, room);
  sqlite3_bind_int64(snap.s, 2, version);
  int rc = sqlite3_step(snap.s);
  if (rc == SQLITE_DONE) return std::optional<RoomData>();
  if (rc != SQLITE_ROW) return error("load version");
  RoomData data;
  data.snapshot_version = sqlite3_column_int64(snap.s, 0);
  data.snapshot_doc = column_text(snap.s, 1);
  if (data.snapshot_version > version) return std::optional<RoomData>(std::move(data));
  bind_text(steps.s, 1, room);
  sqlite3_bind_int64(steps.s, 2, data.snapshot_version);
  sqlite3_bind_int64(steps.s, 3, version);
  while ((rc = sqlite3_step(steps.s)) == SQLITE_ROW) data.steps.push_back(column_step(steps.s));
  if (rc != SQLITE_DONE) return error("load version");
  return std::optional<RoomData>(std::move(data));
}

Result<AddVersion> SqliteStore::add_named_version(const std::string& room, const NamedVersion& v,
                                                  const std::string& doc_json,
                                                  size_t max_per_room) {
  std::lock_guard lock(mutex_);
  Stmt q{
      prepare("SELECT (SELECT 1 FROM rooms WHERE name = ?1),"
              " (SELECT 1 FROM named_versions WHERE room = ?1 AND name = ?2),"
              " (SELECT COUNT(*) FROM named_versions WHERE room = ?1)")};
  Stmt ins{prepare(
      "INSERT INTO named_versions(room, name, version, time_ms, doc) VALUES(?, ?, ?, ?, ?)")};
  if (!q.s || !ins.s) return error("prepare");
  bind_text(q.s, 1, room);
  bind_text(q.s, 2, v.name);
  if (sqlite3_step(q.s) != SQLITE_ROW) return error("add version");
  if (sqlite3_column_type(q.s, 0) == SQLITE_NULL) return AddVersion::no_room;
  if (sqlite3_column_type(q.s, 1) != SQLITE_NULL) return AddVersion::name_taken;
  if (static_cast<size_t>(sqlite3_column_int64(q.s, 2)) >= max_per_room) return AddVersion::full;
  bind_text(ins.s, 1, room);
  bind_text(ins.s, 2, v.name);
  sqlite3_bind_int64(ins.s, 3, v.version);
  sqlite3_bind_int64(ins.s, 4, v.time_ms);
  bind_text(ins.s, 5, doc_json);
  if (sqlite3_step(ins.s) != SQLITE_DONE) return error("add version");
  return AddVersion::added;
}

Result<std::vector<NamedVersion>> SqliteStore::named_versions(const std::string& room) {
  std::lock_guard lock(mutex_);
  Stmt q{
      prepare("SELECT name, version, time_ms FROM named_versions WHERE room = ? ORDER BY rowid")};
  if (!q.s) return error("prepare");
  bind_text(q.s, 1, room);
  std::vector<NamedVersion> out;
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW)
    out.push_back(
        {column_text(q.s, 0), sqlite3_column_int64(q.s, 1), sqlite3_column_int64(q.s, 2)});
  if (rc != SQLITE_DONE) return error("list versions");
  return out;
}

Result<std::optional<std::string>> SqliteStore::named_version_doc(const std::string& room,
                                                                  int64_t version) {
  std::lock_guard lock(mutex_);
  Stmt q{prepare(
      "SELECT doc FROM named_versions WHERE room = ? AND version = ? ORDER BY rowid DESC LIMIT 1")};
  if (!q.s) return error("prepare");
  bind_text(q.s, 1, room);
  sqlite3_bind_int64(q.s, 2, version);
  int rc = sqlite3_step(q.s);
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return error("read version");
  return std::optional<std::string>(column_text(q.s, 0));
}

Result<bool> SqliteStore::delete_room(const std::string& room) {
  std::lock_guard lock(mutex_);
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r.error();
  bool existed = false;
  for (const char* sql :
       {"DELETE FROM rooms WHERE name = ?", "DELETE FROM snapshots WHERE room = ?",
        "DELETE FROM snapshot_history WHERE room = ?", "DELETE FROM steps WHERE room = ?",
        "DELETE FROM named_versions WHERE room = ?"}) {
    Stmt d{prepare(sql)};
    if (!d.s) {
      rollback();
      return error("prepare");
    }
    bind_text(d.s, 1, room);
    if (sqlite3_step(d.s) != SQLITE_DONE) {
      Error e = error("delete room");
      rollback();
      return e;
    }
    if (!existed) existed = sqlite3_changes(db_) > 0;
  }
  if (auto r = exec("COMMIT"); !r) return r.error();
  return existed;
}

}  // namespace rtpm::store
