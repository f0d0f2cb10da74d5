// A fault-injecting TCP proxy for tests. It listens on a free loopback port
// and forwards each accepted connection to a target port on 127.0.0.1 (which
// can change at runtime, e.g. after a server restart). Bytes of a connection
// always arrive in order and unchanged, or not at all; only their timing and
// the connection's life are disturbed:
//
//  - delay: bytes read in one direction are held for N ms before they are
//    written on (later bytes never overtake earlier ones);
//  - drop: both sockets are closed abruptly (SO_LINGER 0, so both peers get a
//    RST);
//  - stall (half-open): one or both directions stop forwarding while both
//    sockets stay open; nothing tells the peers, which must notice by their
//    own ping or idle timeouts. Held bytes are written on heal();
//  - refuse: new connections are reset as soon as they are accepted, for a
//    while (the listener is "paused" without giving up its port);
//  - heal(): ends every fault (delays, stalls, refusal, the random schedule).
//
// Faults are called directly, or drawn by a random schedule from a seed
// (start_chaos). The proxy runs its own thread with one io_context; every
// public method is thread-safe and returns once the proxy has applied it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace rtpm::testing {

class FaultProxy {
 public:
  /// Which bytes a fault applies to: client to server (up), server to client
  /// (down), or both.
  enum class Direction { up, down, both };

  /// What the random schedule may do, and how often.
  struct ChaosOptions {
    /// The pause between two faults is drawn from [min_gap_ms, max_gap_ms].
    int min_gap_ms = 20;
    int max_gap_ms = 200;
    /// Relative weights of the fault kinds (0 turns one off).
    int weight_delay = 3;
    int weight_drop = 2;
    int weight_stall = 1;
    int weight_refuse = 1;
    /// A delay holds bytes for up to max_delay_ms, and lasts up to max_fault_ms.
    int max_delay_ms = 150;
    /// Refusal and delays end after a time drawn from [1, max_fault_ms]. A
    /// stall never ends by itself: the peers must detect it (or heal()).
    int max_fault_ms = 400;
  };

  /// Counts of what happened since construction.
  struct Stats {
    uint64_t accepted = 0;    // connections accepted and forwarded
    uint64_t refused = 0;     // connections reset while refusing, or target unreachable
    uint64_t dropped = 0;     // connections closed by drop()
    uint64_t stalled = 0;     // stall() calls that hit a live connection
    uint64_t delayed = 0;     // delay() calls that hit a live connection
    uint64_t bytes_up = 0;    // bytes written to the target
    uint64_t bytes_down = 0;  // bytes written back to clients
  };

  /// Starts listening on 127.0.0.1 (a free port) and forwarding to `target_port`.
  explicit FaultProxy(uint16_t target_port);
  /// Stops the thread and closes every socket.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  /// The port clients connect to.
  uint16_t port() const;
  /// New connections go to `target_port` from now on; live ones are kept.
  void set_target(uint16_t target_port);

  /// The ids of the live connections, oldest first.
  std::vector<uint64_t> connections();
  Stats stats();

  /// Closes connection `id` abruptly (RST to both peers). No-op for an unknown id.
  void drop(uint64_t id);
  /// drop() for every live connection.
  void drop_all();
  /// Stops forwarding `dir` of connection `id` until heal() (half-open).
  void stall(uint64_t id, Direction dir);
  /// From now on holds the bytes of `dir` of connection `id` for `ms` (0 ends it).
  void delay(uint64_t id, Direction dir, std::chrono::milliseconds ms);
  /// Resets every new connection for `ms` (0 ends the refusal).
  void refuse_for(std::chrono::milliseconds ms);

  /// Starts drawing faults from a generator seeded with `seed` against random
  /// live connections until stop_chaos() or heal().
  void start_chaos(uint64_t seed, ChaosOptions options);
  void start_chaos(uint64_t seed) { start_chaos(seed, ChaosOptions{}); }
  void stop_chaos();

  /// Ends every fault: stops the schedule, ends refusal, delays and stalls,
  /// and writes the held bytes on.
  void heal();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rtpm::testing
