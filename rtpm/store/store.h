// Store: where rooms persist (snapshots and the step log).
//
// A room is a snapshot of its document at some version plus the steps after
// it. `append` takes the steps of several rooms in one call so that a server
// can commit a short window of accepted batches with one transaction and one
// sync (group commit), with a result per batch: a batch is acknowledged only
// after `append` returned ok for it, and one room's failed batch does not fail
// the others. Implementations: MemoryStore (tests), SqliteStore (default). Each
// method may be called from any thread, one call at a time per store (the
// server serialises calls on its storage thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rtpm/base/error.h"

namespace rtpm::store {

/// One persisted step: `version` is the room's version after it (1 for the first step).
struct StoredStep {
  int64_t version = 0;
  std::string user_id;
  std::string step_json;
  /// When the server accepted it: Unix milliseconds (0 for steps stored before authorship was
  /// kept).
  int64_t time_ms = 0;
};

/// What a room needs to load.
struct RoomData {
  /// The latest snapshot: its version and document JSON text.
  int64_t snapshot_version = 0;
  std::string snapshot_doc;
  /// Every kept step with version > snapshot_version - history_before, in
  /// version order: those up to snapshot_version are history only, the rest
  /// are replayed on top of the snapshot.
  std::vector<StoredStep> steps;
};

/// A room as GET /api/rooms lists it: its name, its latest durable version, when it was made.
struct RoomInfo {
  std::string room;
  int64_t version = 0;
  int64_t created_ms = 0;
};

/// A page of a room's step log (GET /api/rooms/ROOM/steps).
struct StepPage {
  /// The room's latest version.
  int64_t version = 0;
  /// The oldest `since` the log can answer: the version before its oldest kept step (the
  /// room's version when it keeps none after its snapshot).
  int64_t first = 0;
  /// Steps with version > since, oldest first (empty when since < first).
  std::vector<StoredStep> steps;
};

/// A named version (POST /api/rooms/ROOM/versions): a name for the document at `version`.
struct NamedVersion {
  std::string name;
  int64_t version = 0;
  int64_t time_ms = 0;
};

enum class AddVersion { added, name_taken, full, no_room };

/// The steps of one room to append; versions continue the room's log.
struct AppendBatch {
  std::string room;
  std::vector<StoredStep> steps;
};

class Store {
 public:
  virtual ~Store() = default;
  /// Creates a room with its initial document at version 0; ok when it exists already.
  virtual Result<void> create_room(const std::string& room, const std::string& doc_json) = 0;
  /// Loads a room with up to `history_before` steps at or before its snapshot;
  /// nullopt when the room does not exist.
  virtual Result<std::optional<RoomData>> load_room(const std::string& room,
                                                    int64_t history_before) = 0;
  /// Appends steps of one or more rooms durably, with one commit, and returns one result per
  /// batch (same order). Each batch lands whole or not at all, on its own: a batch that fails (a
  /// gap in its room's log, a missing room, an error writing it) changes nothing, and the others
  /// still commit. A batch of a room whose earlier batch failed fails too (its log would have a
  /// gap). When the commit itself fails, every batch failed.
  virtual std::vector<Result<void>> append(const std::vector<AppendBatch>& batches) = 0;
  /// Records a snapshot; steps older than `version - keep_history` may be dropped. The snapshot
  /// is also kept for reads of old versions (load_version) unless a kept one is newer than
  /// `version - keep_every` (0: always kept), so that rooms that unload often do not keep a
  /// copy per unload: kept snapshots are at least keep_every versions apart.
  virtual Result<void> save_snapshot(const std::string& room, int64_t version,
                                     const std::string& doc_json, int64_t keep_history,
                                     int64_t keep_every) = 0;
  /// Whether a room exists.
  virtual Result<bool> room_exists(const std::string& room) = 0;
  /// How many rooms exist.
  virtual Result<int64_t> room_count() = 0;

  // ---- history and the document API (docs/api.md) ----
  //
  // Snapshots are kept beside the latest one: every snapshot at or after the oldest version
  // still answerable, so that the document at any version from there on is a snapshot plus a
  // replay. save_snapshot's pruning keeps the steps from that oldest snapshot on (at most
  // snapshot_every more than keep_history asks for).

  /// Rooms whose names start with `prefix` and sort after `after` (byte order), at most `limit`.
  virtual Result<std::vector<RoomInfo>> list_rooms(const std::string& prefix,
                                                   const std::string& after, size_t limit) = 0;
  /// Up to `limit` steps with version > `since`; nullopt when the room does not exist.
  virtual Result<std::optional<StepPage>> read_steps(const std::string& room, int64_t since,
                                                     size_t limit) = 0;
  /// What the document at `version` needs: the newest kept snapshot at or before it and the
  /// steps after that snapshot up to `version` (RoomData::steps holds exactly those). nullopt
  /// when the room does not exist; snapshot_version > version when no kept snapshot is that old.
  virtual Result<std::optional<RoomData>> load_version(const std::string& room,
                                                       int64_t version) = 0;
  /// Records a named version with its document; at most `max_per_room` per room.
  virtual Result<AddVersion> add_named_version(const std::string& room, const NamedVersion& v,
                                               const std::string& doc_json,
                                               size_t max_per_room) = 0;
  /// The room's named versions, in the order they were made.
  virtual Result<std::vector<NamedVersion>> named_versions(const std::string& room) = 0;
  /// The document of the room's named version at `version` (the newest when several name it).
  virtual Result<std::optional<std::string>> named_version_doc(const std::string& room,
                                                               int64_t version) = 0;
  /// Deletes the room with everything it holds; false when it did not exist.
  virtual Result<bool> delete_room(const std::string& room) = 0;
};

}  // namespace rtpm::store
