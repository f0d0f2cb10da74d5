// Reconnection delays: exponential backoff with full jitter.
//
// The n-th retry (n counted from 0 since the last reset) waits a uniformly
// random time in [0, min(max_ms, initial_ms * factor^n)], so that many
// clients cut off at the same moment (a server restart) do not come back in
// lockstep. The random source is a seedable std::mt19937_64, so tests can
// replay a schedule. Not thread-safe; RealtimeClient uses it on its I/O thread.
#pragma once

#include <cstdint>
#include <optional>
#include <random>

namespace rtpm::client {

struct BackoffOptions {
  /// The ceiling of the first delay, in ms. Default 250.
  int64_t initial_ms = 250;
  /// The largest ceiling, in ms. Default 10,000.
  int64_t max_ms = 10000;
  /// How much the ceiling grows per attempt. Default 2.
  double factor = 2.0;
  /// Seed of the random source; unset: seeded from std::random_device.
  std::optional<uint64_t> seed;
};

/// A sequence of retry delays. Call next_ms() before each retry and reset()
/// once a connection has succeeded.
class Backoff {
 public:
  /// Throws std::invalid_argument unless 0 < initial_ms <= max_ms and factor >= 1.
  explicit Backoff(const BackoffOptions& options = {});

  /// The ceiling for the current attempt, before jitter, in ms.
  int64_t ceiling_ms() const;
  /// The delay before the next retry, in ms (uniform in [0, ceiling_ms()]);
  /// counts the attempt.
  int64_t next_ms();
  /// Start over from the first delay.
  void reset() { attempt_ = 0; }
  /// The number of delays handed out since the last reset.
  int attempt() const { return attempt_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

}  // namespace rtpm::client
