// Cluster: this node's part in a cluster of nodes that share one Redis (--store redis,
// docs/scaling.md).
//
// A room has one owner at a time: the node that holds its lease in Redis
// (rtpm/store/redis_leases.h), a key `rtpm:{ROOM}:owner` = "NODE|EPOCH" with a time to live.
// The owner runs the room as a single server does; every append to the room's log passes the
// owner's token to the store's script (the fence, token()), so a node that lost the lease --
// paused, partitioned, slow -- can never write. The other nodes relay their members'
// messages to the owner (relay.h) and its answers back, so a client sees exactly what one
// server would show it.
//
// One thread talks to Redis for the cluster (the store has its own connection, on the
// storage thread): it routes joins (the room's owner, taking the lease when nobody holds
// it), renews the leases of the rooms loaded here every third of the lease time, releases
// those of rooms no longer loaded, fails a loaded room whose lease was lost, and tells the
// relays whose room changed owner (or lost it) so that their members rejoin where the room
// now lives. Every public method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "rtpm/base/error.h"

namespace rtpm::store {
class RedisClient;
}

namespace rtpm::server {

struct ServerContext;
class Relay;

class Cluster {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    /// redis://[:PASSWORD@]HOST:PORT[/DB]
    std::string redis_url;
    /// How the other nodes reach this one: ws://HOST:PORT/ws.
    std::string node_url;
    /// A room's lease; a dead owner's rooms move after at most this long.
    std::chrono::milliseconds lease{5000};
    /// Connect and command timeout of the Redis connection.
    int redis_timeout_ms = 2000;
  };
  /// Connects to Redis (it must answer now) and reads (or makes) the cluster's relay secret.
  static Result<std::unique_ptr<Cluster>> create(ServerContext& ctx, Options options);
  ~Cluster();
  Cluster(const Cluster&) = delete;

  /// This node's name in leases: its URL, '#', a random id (unique per process).
  const std::string& node() const { return node_; }
  /// The secret a relay connection presents (X-Rtpm-Relay), shared by the nodes through Redis.
  const std::string& secret() const { return secret_; }

  /// Where a room is served: here, or by the node at `url` (whose lease is `token`).
  struct Route {
    bool local = true;
    std::string url;
    std::string token;
  };
  /// Finds the room's owner, taking the lease when nobody holds it. `done` runs on the
  /// cluster's thread (post from it). An error: Redis cannot be reached.
  void route(std::string room, std::function<void(Result<Route>)> done);
  /// The lease token of a room this node owns (the store's fence); nullopt otherwise.
  std::optional<std::string> token(const std::string& room) const;
  /// `moved` runs (on the cluster's thread) when the room's owner is no longer `token`;
  /// returns an id for unwatch().
  uint64_t watch(std::string room, std::string token, std::function<void()> moved);
  void unwatch(uint64_t id);
  /// Connection `conn`'s `relay` is to carry `user_id`'s membership of `room` from this node.
  /// Between two connections of one userId the newer (larger id) wins, whichever join came
  /// first: a join that arrives late on a connection its client already gave up must not take
  /// the room from the connection the client uses now. Returns whether `relay` may go on, and
  /// the relay it displaced (an older connection's, still open), which the caller ends.
  struct Claim {
    bool granted = true;
    std::shared_ptr<Relay> displaced;
  };
  Claim claim(const std::string& room, const std::string& user_id, uint64_t conn,
              const std::shared_ptr<Relay>& relay);
  /// On the owner: whether a relayed join of `user_id` from connection `conn` of node `node`
  /// may go on: not when a newer connection of that node (a larger id) joined the room for
  /// that userId already. Remembered while the room is loaded here.
  bool admit_relay(const std::string& room, const std::string& user_id, const std::string& node,
                   uint64_t conn);
  /// `relay` ended: it carries nothing any more (a no-op when a newer one claimed its place).
  void unclaim(const std::string& room, const std::string& user_id, const Relay* relay);

  /// Releases every lease (a clean shutdown hands rooms over at once) and stops the thread.
  void stop();

 private:
  Cluster(ServerContext& ctx, Options options);
  void run();
  void tick();
  void do_route(const std::string& room, const std::function<void(Result<Route>)>& done);
  /// Redis answered (or not) the last request: /healthz and the metrics.
  void record(bool ok);

  ServerContext& ctx_;
  const Options options_;
  std::string node_;
  std::string secret_;
  std::unique_ptr<store::RedisClient> redis_;

  struct Held {
    std::string token;
    /// A route answered `local` for it lately: kept while the join reaches the room.
    Clock::time_point pinned_until;
  };
  struct Watch {
    std::string room;
    std::string token;
    std::function<void()> moved;
  };
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::unordered_map<std::string, Held> held_;
  std::unordered_map<uint64_t, Watch> watches_;
  /// (room, userId) -> the relay that carries that member from this node.
  struct Claimed {
    std::weak_ptr<Relay> relay;
    uint64_t conn = 0;
  };
  std::unordered_map<std::string, Claimed> claims_;
  struct Admitted {
    std::string room;
    std::string node;
    uint64_t conn = 0;
  };
  /// (room, userId) -> the relay connection the owner admitted last.
  std::unordered_map<std::string, Admitted> admitted_;
  uint64_t next_watch_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace rtpm::server
