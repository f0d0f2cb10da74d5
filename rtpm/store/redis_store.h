// RedisStore: a Store in Redis, so that several servers can share rooms
// (with the leases of redis_leases.h). Keys of a room, all with the hash tag
// {ROOM}:
//   rtpm:{ROOM}:meta      hash: version (latest durable), created_ms, snapshot_version
//   rtpm:{ROOM}:log       stream, an entry per step with the ID VERSION-0; fields u (user),
//                         s (step JSON), t (time_ms). Pruned with XTRIM MINID only, never XDEL
//                         (redis/redis#15808: XDEL and XTRIM together could write an RDB
//                         that does not load)
//   rtpm:{ROOM}:snaps     hash: version -> document JSON, the latest snapshot and the kept ones
//   rtpm:{ROOM}:kept      sorted set of the kept snapshots' versions (score = version)
//   rtpm:{ROOM}:versions  list of named versions, oldest first ("VERSION\nTIME_MS\nNAME")
//   rtpm:{ROOM}:vdocs     hash: name -> the named version's document
//   rtpm:{ROOM}:owner, rtpm:{ROOM}:epoch   the lease (redis_leases.h); kept by delete_room
//   rtpm:rooms            sorted set (scores 0) of room names, for list_rooms and room_count
// Every write is one Lua script (atomic). rtpm:rooms is the one key outside a room's hash
// tag: create_room and delete_room write it in the same script as the room, so they need one
// Redis primary (with replicas), not a Redis Cluster.
//
// Durability: a step is acknowledged only after its script returned, but Redis answers from
// memory. What survives a crash of redis-server depends on its appendfsync: `always` fsyncs
// the AOF before answering (nothing acknowledged is lost), `everysec` can lose the last second,
// `no` whatever the OS had not written; without AOF (snapshots only, or none) everything since
// the last RDB save. With replicas, wait_replicas makes an append wait until that many have
// the steps (WAIT), which survives the loss of the primary's machine instead.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "rtpm/store/redis_client.h"
#include "rtpm/store/store.h"

namespace rtpm::store {

/// Whether a RedisStore write failed because this node does not own the room (any more): the
/// fence found another owner's token, or none. Such a failure is final for this node.
bool is_fenced(const Error& error);

struct RedisStoreOptions {
  RedisClientOptions client;
  /// The room's lease token this node holds (redis_leases.h), nullopt when it holds none. When
  /// set, appends, snapshots, named versions and deletions write only while
  /// rtpm:{ROOM}:owner equals that token; otherwise they fail with is_fenced(). Unset (one
  /// node alone): no owner check. Called on the caller's thread with the store's lock held, so
  /// it must not call the store.
  std::function<std::optional<std::string>(const std::string& room)> fence;
  /// After each append, wait until this many replicas have it (WAIT); fewer within
  /// wait_timeout_ms fail every batch of that append (they are on the primary, unacknowledged).
  int wait_replicas = 0;
  int wait_timeout_ms = 1000;
};

class RedisStore final : public Store {
 public:
  /// Opens the store at `url` (redis://[:password@]host:port[/db]); fails when Redis does not
  /// answer a PING.
  static Result<std::unique_ptr<RedisStore>> open(const std::string& url,
                                                  RedisStoreOptions options = {});
  ~RedisStore() override;

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

  /// The duration of the last round trip to Redis, in microseconds (for a latency metric).
  int64_t last_round_trip_us();

 private:
  RedisStore(RedisUrl url, RedisStoreOptions options);
  /// The fence arguments of a write script ("0", or "1" and the token); nullopt when the fence
  /// says this node holds no lease for the room.
  std::optional<std::vector<std::string>> fence_args(const std::string& room);

  std::mutex mutex_;
  RedisStoreOptions options_;
  RedisClient redis_;
};

}  // namespace rtpm::store
