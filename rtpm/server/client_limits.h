// ClientLimits: what the server's clients may hold at once and create, in all and per client
// address.
//
// Connections. Every accepted TCP connection, HTTP or WebSocket, holds a Slot from accept to
// close; a connection beyond --max-connections, or beyond --max-connections-per-ip from its
// address, gets none and is refused at once (the Listener answers 503 and closes), so the
// server never runs out of descriptors and one client cannot take every connection.
//
// Rooms. A join that creates a room takes a token from its address's bucket
// (--room-creations-per-ip-per-minute: it holds a minute's worth and refills continuously) and
// counts against --max-rooms, the cap on rooms in the store.
//
// Document API requests (docs/api.md) take a token from another bucket of the address
// (--api-requests-per-ip-per-minute, the same kind), bounding the work (replays, reverts,
// store reads) one client can ask for.
//
// A client address is an IPv4 address (IPv4-mapped IPv6 included), or the /64 network of an
// IPv6 address (one host usually has a whole /64). Loopback is not exempt. The per-address
// tables hold only addresses with open connections or a bucket that is not full, so they stay
// bounded by the connections and the creation rate.
//
// Thread-safe: one mutex, held only to update the counts.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>

#include <boost/asio/ip/address.hpp>

namespace rtpm::server {

class ClientLimits {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    /// Open connections in all; 0 = no limit.
    size_t max_connections = 0;
    /// Open connections per client address; 0 = no limit.
    size_t max_connections_per_address = 0;
    /// Rooms created per client address and minute; 0 = no limit.
    double room_creations_per_minute = 0;
    /// Rooms in the store in all; 0 = no cap.
    int64_t max_rooms = 0;
    /// Document API requests per client address and minute; 0 = no limit.
    double api_requests_per_minute = 0;
  };

  /// `open_gauge`, when given, is kept equal to the number of open connections (a metric).
  explicit ClientLimits(Options options, std::atomic<int64_t>* open_gauge = nullptr);
  ClientLimits(const ClientLimits&) = delete;

  /// The key of a client address: 4 bytes of IPv4, or 8 bytes of an IPv6 /64 after a tag byte.
  static std::string address_key(const boost::asio::ip::address& address);

  /// One open connection; releases its place when destroyed. Move-only.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    ~Slot();
    /// The client's address key (address_key()).
    const std::string& key() const { return key_; }
    /// The connection no longer counts against its address's limit (it still counts in all):
    /// a relay from another node of a cluster, once it proved itself (docs/scaling.md), so
    /// that a node relaying many members is not refused as one crowded client.
    void leave_address();

   private:
    friend class ClientLimits;
    Slot(ClientLimits* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    ClientLimits* owner_ = nullptr;
    std::string key_;
    bool counted_ = true;  // in its address's count
  };

  enum class Refusal { server_full, address_full };
  /// A slot for a new connection from `key`, or why there is none.
  std::variant<Slot, Refusal> connect(const std::string& key);
  /// Open connections.
  size_t connections();

  enum class Creation { allowed, rate_limited, too_many_rooms };
  /// Whether a client at `key` may create a room now. `allowed` takes a token and counts the
  /// room; call room_not_created() if the room was not created after all.
  Creation create_room(const std::string& key, Clock::time_point now);
  void room_not_created();
  /// Whether a client at `key` may make a document API request now (takes a token).
  bool api_request(const std::string& key, Clock::time_point now);
  /// The rooms the store holds at start (counted against max_rooms).
  void set_rooms(int64_t rooms);

  /// The connection cap (set once the file limit is known).
  void set_max_connections(size_t n);
  size_t max_connections();

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at;
  };
  /// Token buckets per address, each holding a minute's worth of `per_minute`.
  struct Buckets {
    std::unordered_map<std::string, Bucket> by_key;
    Clock::time_point pruned_at{};
    /// Takes a token from `key`'s bucket; false when it is empty.
    bool take(const std::string& key, double per_minute, Clock::time_point now);
  };
  void release(const std::string& key, bool counted = true);
  void release_address(const std::string& key);

  std::mutex mutex_;
  Options options_;
  std::atomic<int64_t>* open_gauge_;
  size_t open_ = 0;
  std::unordered_map<std::string, size_t> per_address_;
  Buckets creations_;
  Buckets api_requests_;
  int64_t rooms_ = 0;
};

}  // namespace rtpm::server
