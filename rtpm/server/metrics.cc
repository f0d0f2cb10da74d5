#include "rtpm/server/metrics.h"

#include <cstdio>

namespace rtpm::server {

void Metrics::count_error(ErrorCode code) {
  errors_[static_cast<int>(code)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::observe_step_latency(double seconds) {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  latency_count_.fetch_add(1, std::memory_order_relaxed);
  latency_sum_ns_.fetch_add(static_cast<int64_t>(seconds * 1e9), std::memory_order_relaxed);
}

std::string Metrics::render() const {
  std::string out;
  auto line = [&](const char* text) { out += text; };
  auto value = [&](const std::string& name, int64_t v) {
    out += name + " " + std::to_string(v) + "\n";
  };
  line("# HELP realtime_pm_connections Open WebSocket connections.\n");
  line("# TYPE realtime_pm_connections gauge\n");
  value("realtime_pm_connections", connections.load());
  line(
      "# HELP realtime_pm_sockets Open client connections, HTTP and WebSocket (what "
      "--max-connections counts).\n");
  line("# TYPE realtime_pm_sockets gauge\n");
  value("realtime_pm_sockets", sockets.load());
  line(
      "# HELP realtime_pm_connections_refused_total Connections refused at accept by "
      "--max-connections or --max-connections-per-ip.\n");
  line("# TYPE realtime_pm_connections_refused_total counter\n");
  value("realtime_pm_connections_refused_total", connections_refused.load());
  line("# HELP realtime_pm_rooms Rooms in memory.\n");
  line("# TYPE realtime_pm_rooms gauge\n");
  value("realtime_pm_rooms", rooms.load());
  line("# HELP realtime_pm_steps_applied_total Steps accepted and made durable.\n");
  line("# TYPE realtime_pm_steps_applied_total counter\n");
  value("realtime_pm_steps_applied_total", steps_applied.load());
  line("# HELP realtime_pm_messages_received_total WebSocket messages received.\n");
  line("# TYPE realtime_pm_messages_received_total counter\n");
  value("realtime_pm_messages_received_total", messages_received.load());
  line("# HELP realtime_pm_store_commits_total Store transactions (group commits).\n");
  line("# TYPE realtime_pm_store_commits_total counter\n");
  value("realtime_pm_store_commits_total", store_commits.load());
  line(
      "# HELP realtime_pm_accept_failures_total Connections not accepted for want of file "
      "descriptors or memory (accepting pauses 100 ms after each).\n");
  line("# TYPE realtime_pm_accept_failures_total counter\n");
  value("realtime_pm_accept_failures_total", accept_failures.load());
  line("# HELP realtime_pm_webhook_deliveries_total Webhook deliveries answered with 2xx.\n");
  line("# TYPE realtime_pm_webhook_deliveries_total counter\n");
  value("realtime_pm_webhook_deliveries_total", webhook_deliveries.load());
  line(
      "# HELP realtime_pm_webhook_failures_total Webhook delivery attempts that failed (no "
      "connection, timeout, a status other than 2xx).\n");
  line("# TYPE realtime_pm_webhook_failures_total counter\n");
  value("realtime_pm_webhook_failures_total", webhook_failures.load());
  line(
      "# HELP realtime_pm_webhook_dropped_total Webhook deliveries given up after their last "
      "attempt or dropped from a full queue.\n");
  line("# TYPE realtime_pm_webhook_dropped_total counter\n");
  value("realtime_pm_webhook_dropped_total", webhook_dropped.load());
  line("# HELP realtime_pm_errors_total Error messages sent, by code.\n");
  line("# TYPE realtime_pm_errors_total counter\n");
  for (int i = 0; i < kErrorCodes; ++i)
    value("realtime_pm_errors_total{code=\"" + std::string(to_string(static_cast<ErrorCode>(i))) +
              "\"}",
          errors_[i].load());
  line("# HELP realtime_pm_step_latency_seconds From receipt of a steps message to its ack.\n");
  line("# TYPE realtime_pm_step_latency_seconds histogram\n");
  int64_t cumulative = 0;
  char le[32];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    cumulative += buckets_[i].load();
    std::snprintf(le, sizeof le, "%g", kBuckets[i]);
    value(std::string("realtime_pm_step_latency_seconds_bucket{le=\"") + le + "\"}", cumulative);
  }
  int64_t count = latency_count_.load();
  value("realtime_pm_step_latency_seconds_bucket{le=\"+Inf\"}", count);
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.9f", static_cast<double>(latency_sum_ns_.load()) / 1e9);
  out += std::string("realtime_pm_step_latency_seconds_sum ") + sum + "\n";
  value("realtime_pm_step_latency_seconds_count", count);
  if (redis_enabled.load()) {
    line("# HELP realtime_pm_redis_up Redis answered the cluster's last request.\n");
    line("# TYPE realtime_pm_redis_up gauge\n");
    value("realtime_pm_redis_up", redis_up.load());
    line(
        "# HELP realtime_pm_redis_rtt_seconds The last round trip of the cluster's Redis "
        "connection.\n");
    line("# TYPE realtime_pm_redis_rtt_seconds gauge\n");
    char rtt[64];
    std::snprintf(rtt, sizeof rtt, "%.6f", static_cast<double>(redis_rtt_us.load()) / 1e6);
    out += std::string("realtime_pm_redis_rtt_seconds ") + rtt + "\n";
    line("# HELP realtime_pm_rooms_owned Rooms whose lease this node holds.\n");
    line("# TYPE realtime_pm_rooms_owned gauge\n");
    value("realtime_pm_rooms_owned", rooms_owned.load());
    line("# HELP realtime_pm_relays Members relayed to rooms that other nodes own.\n");
    line("# TYPE realtime_pm_relays gauge\n");
    value("realtime_pm_relays", relays.load());
  }
  return out;
}

}  // namespace rtpm::server
