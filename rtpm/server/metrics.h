// Server metrics, rendered in the Prometheus text format at GET /metrics.
// Every member is atomic: updated from any thread without locks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "rtpm/base/error.h"

namespace rtpm::server {

class Metrics {
 public:
  /// Open WebSocket connections.
  std::atomic<int64_t> connections{0};
  /// Open client connections, HTTP and WebSocket (what --max-connections counts).
  std::atomic<int64_t> sockets{0};
  /// Connections refused at accept by --max-connections or --max-connections-per-ip.
  std::atomic<int64_t> connections_refused{0};
  std::atomic<int64_t> rooms{0};
  std::atomic<int64_t> steps_applied{0};
  std::atomic<int64_t> messages_received{0};
  std::atomic<int64_t> store_commits{0};
  /// accept() failures for want of descriptors or memory (each followed by a pause).
  std::atomic<int64_t> accept_failures{0};
  /// Webhook deliveries answered with a 2xx status.
  std::atomic<int64_t> webhook_deliveries{0};
  /// Webhook delivery attempts that failed (no connection, timeout, a status other than 2xx).
  std::atomic<int64_t> webhook_failures{0};
  /// Webhook deliveries given up after their last attempt or dropped from a full queue.
  std::atomic<int64_t> webhook_dropped{0};

  /// --store redis (rendered only then): Redis answered the last request (1) or not (0), the
  /// microseconds of the last round trip of the cluster's connection, rooms whose lease this
  /// node holds, members relayed to rooms other nodes own.
  std::atomic<bool> redis_enabled{false};
  std::atomic<int64_t> redis_up{1};
  std::atomic<int64_t> redis_rtt_us{0};
  std::atomic<int64_t> rooms_owned{0};
  std::atomic<int64_t> relays{0};

  void count_error(ErrorCode code);
  /// One acknowledged `steps` message: seconds from its receipt to its ack.
  void observe_step_latency(double seconds);
  /// The Prometheus text exposition.
  std::string render() const;

 private:
  static constexpr int kErrorCodes = static_cast<int>(ErrorCode::internal) + 1;
  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.25,   1.0};
  std::array<std::atomic<int64_t>, kErrorCodes> errors_{};
  std::array<std::atomic<int64_t>, kBuckets.size()> buckets_{};  // cumulative at render
  std::atomic<int64_t> latency_count_{0};
  std::atomic<int64_t> latency_sum_ns_{0};
};

}  // namespace rtpm::server
