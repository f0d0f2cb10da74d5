// Room ownership leases in Redis, for running several servers on one Redis:
// one node at a time owns a room (holds its authority and writes its steps),
// the others relay to it. The lease is the key rtpm:{ROOM}:owner holding the
// token "NODE|EPOCH" with a time to live; the epoch (rtpm:{ROOM}:epoch) grows
// with every new owner and is never reset, so a token names one ownership
// only. RedisStore's fence checks the token in the same script that writes,
// so a node that lost its lease (a pause longer than the TTL) cannot write
// over the new owner's steps or snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtpm/base/error.h"
#include "rtpm/store/redis_client.h"

namespace rtpm::store {

/// A room's key: rtpm:{ROOM}:PART. Every key of a room shares the hash tag {ROOM} (one Redis
/// Cluster slot).
std::string redis_room_key(const std::string& room, std::string_view part);

struct Lease {
  /// The owner's token, "NODE|EPOCH": what the fence compares.
  std::string token;
  /// Whether `node` is the caller's.
  bool mine = false;
  /// The owner: the token before its last '|' (opaque text, e.g. a URL with an id).
  std::string node;
  int64_t epoch = 0;
};

/// Splits a token into its node and epoch; nullopt when it has no "|EPOCH".
std::optional<Lease> parse_lease_token(const std::string& token, const std::string& my_node);

/// Takes the room for `node` when nobody owns it (a new epoch, for `ttl_ms`), else returns the
/// current owner's lease (`mine` when that is `node` already).
Result<Lease> acquire(RedisClient& redis, const std::string& room, const std::string& node,
                      int64_t ttl_ms);
/// Extends each (room, token) lease that is still held by that token, in one round trip: true
/// where it is still ours, false where the lease expired or another node took it.
Result<std::vector<bool>> renew(RedisClient& redis,
                                const std::vector<std::pair<std::string, std::string>>& leases,
                                int64_t ttl_ms);
/// Gives the room up when `token` still holds it (a no-op otherwise).
Result<void> release(RedisClient& redis, const std::string& room, const std::string& token);
/// The current owner token of each room (nullopt: nobody), in one round trip.
Result<std::vector<std::optional<std::string>>> owners(RedisClient& redis,
                                                       const std::vector<std::string>& rooms);

}  // namespace rtpm::store
