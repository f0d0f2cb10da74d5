// AuthCallback: authorization by the application (--auth-url). For a join (or an HTTP read) the
// server POSTs {"token","room","userId"} as JSON to the URL and expects 200 with
// {"allow": true|false, "permission": "read"|"write", "userId": "..."}; "permission" defaults
// to "write" and "userId" to the one asked for (null for an HTTP read). Anything else refuses:
// a timeout (--auth-timeout-ms), a refused or dropped connection, a status other than 200, a
// body that is not that JSON object, a `permission` or `userId` of the wrong type. Failures are
// never cached; answers (allow or deny) are cached per (token, room, userId) for
// --auth-cache-s seconds (0: not cached), at most 10,000 entries (the oldest go first).
//
// Plain http:// only (the service is expected on loopback or a private network); the URL is
// parsed at start: http://HOST[:PORT][/PATH]. One connection per request (no keep-alive), the
// answer read up to 64 KiB. Thread-safe; `done` runs on an io_context thread, exactly once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>

#include "rtpm/auth/access.h"
#include "rtpm/base/error.h"

namespace rtpm::server {

class AuthCallback {
 public:
  struct Options {
    std::string url;
    std::chrono::milliseconds timeout{2000};
    std::chrono::seconds cache_for{60};
  };
  /// The callback's decision. `permission` none means denied (`allow: false`).
  struct Decision {
    auth::Permission permission = auth::Permission::none;
    /// The userId the application binds the connection to ("" when it named none).
    std::string user_id;
  };
  using Done = std::function<void(Result<Decision>)>;

  /// Parses the URL. Error (ErrorCode::internal) when it is not http://HOST[:PORT][/PATH].
  static Result<std::unique_ptr<AuthCallback>> create(boost::asio::io_context& ioc,
                                                      Options options);
  ~AuthCallback();

  /// Asks about `token` for `room` and `user_id` (nullopt: an HTTP read, sent as null).
  /// Errors passed to `done`: ErrorCode::unauthorized with the reason (timeout, status, body).
  void authorize(std::string token, std::string room, std::optional<std::string> user_id,
                 Done done);

 private:
  struct Impl;
  explicit AuthCallback(std::unique_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace rtpm::server
