// Webhooks: the server tells the application what happens in its rooms (docs/api.md,
// "Webhooks"). For each event it POSTs a JSON body {"event","room","version",...} to every
// --webhook-url, signed with --webhook-secret-file's secret:
//   X-Realtime-PM-Signature: t=UNIX_SECONDS,v1=HEX
// where HEX is the lowercase hex HMAC-SHA256 with the secret over `t + "." + body`.
//
// Events: room.created (version 0), room.changed (debounced per room: at most one delivery
// per --webhook-debounce-ms, carrying the latest version reached; the first change of a quiet
// room is sent at once), member.joined and member.left (with "userId"). A failed delivery
// (connection refused, timeout, a status other than 2xx) is retried with exponential backoff
// (1 s, 2 s, 4 s, ... at most 8 attempts); deliveries never block a room: the calls below
// only queue. At most kMaxQueued deliveries wait in all; beyond that the oldest is dropped and
// counted. Plain http:// URLs only, as --auth-url.
//
// Each URL gets its own copy of every event, at most 4 deliveries to one URL at a time (one
// connection each, no keep-alive); each attempt is signed anew, with the time it is sent. The
// body's "time" is the event's, in unix milliseconds.
//
// Thread-safe: every method may be called from any thread (room strands). The Metrics are
// counted until stop() (the destructor stops); destroy the Webhooks before its io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "rtpm/base/error.h"

namespace rtpm::server {

class Metrics;

/// The header value for a delivery at `unix_seconds` of `body`: "t=UNIX_SECONDS,v1=HEX".
std::string webhook_signature(std::string_view secret, int64_t unix_seconds, std::string_view body);

class Webhooks {
 public:
  static constexpr size_t kMaxQueued = 10000;
  struct Options {
    std::vector<std::string> urls;
    std::string secret;
    std::chrono::milliseconds debounce{2000};
    std::chrono::milliseconds timeout{5000};
    /// The first retry's delay (doubling after each failure) and the number of attempts.
    std::chrono::milliseconds retry_base{1000};
    int max_attempts = 8;
  };

  /// Parses the URLs. Error (ErrorCode::internal) naming the URL that is not
  /// http://HOST[:PORT][/PATH].
  static Result<std::unique_ptr<Webhooks>> create(boost::asio::io_context& ioc, Options options,
                                                  Metrics& metrics);
  ~Webhooks();

  void room_created(const std::string& room);
  void room_changed(const std::string& room, int64_t version);
  void member_joined(const std::string& room, const std::string& user_id, int64_t version);
  void member_left(const std::string& room, const std::string& user_id, int64_t version);
  /// Stops: pending timers are cancelled, deliveries in flight are abandoned. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit Webhooks(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace rtpm::server
