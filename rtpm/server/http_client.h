// A one-shot HTTP/1.1 POST client for the server's calls to the application (--auth-url,
// --webhook-url): plain http:// only, one connection per request (Connection: close, no
// keep-alive), the whole exchange (resolve, connect, write, read) within a timeout, the answer's
// body read up to a limit. Internal to rtpm/server: AuthCallback and Webhooks share it.
//
// An HttpExchange owns all it needs (it copies the URL), so its starter may go while it runs;
// every handler runs on the exchange's own strand. Thread-safe: start() and cancel() may be
// called from any thread; `done` runs exactly once, on an io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "rtpm/base/error.h"

namespace rtpm::server {

/// A URL http://HOST[:PORT][/PATH], split for the resolver and the request.
struct HttpUrl {
  std::string host;         ///< for the resolver: no brackets around an IPv6 address
  std::string port;         ///< "80" by default
  std::string host_header;  ///< the Host field: as in the URL, with the port when it is not 80
  std::string path;         ///< the request target, "/" by default (a query stays in it)
};

/// Parses http://HOST[:PORT][/PATH] (the scheme in any case; HOST a name, an IPv4 address or a
/// bracketed IPv6 literal; PORT 1 to 65535; PATH without spaces, controls or a fragment).
/// nullopt for anything else: another scheme, user info, an empty host.
std::optional<HttpUrl> parse_http_url(std::string_view url);

/// A request's parts besides the URL.
struct HttpPost {
  /// The method (POST unless the caller forwards another, e.g. a cluster node forwarding a
  /// document API write to the room's owner).
  std::string method = "POST";
  std::string body;
  std::string content_type = "application/json";
  /// More header fields (name, value), sent after Host, Content-Type and Connection.
  std::vector<std::pair<std::string, std::string>> headers;
  /// For the whole exchange, resolving the host included.
  std::chrono::milliseconds timeout{5000};
  /// The largest answer body read; a longer one fails the exchange ("reading the answer").
  uint64_t max_answer_bytes = 64 * 1024;
};

/// An answer, whatever its status.
struct HttpAnswer {
  unsigned status = 0;
  std::string body;
};

/// One POST in flight (a handle; the exchange keeps itself alive until `done` has run).
class HttpExchange {
 public:
  /// Error (ErrorCode::internal) whose message says what failed: "resolving the host: ...",
  /// "connecting: ...", "sending the request: ...", "reading the answer: ...", "no answer
  /// within N ms" or "cancelled".
  using Done = std::function<void(Result<HttpAnswer>)>;

  /// Starts one POST of `post` to `url`; `done` gets the answer (any status) or the failure.
  static std::shared_ptr<HttpExchange> start(boost::asio::io_context& ioc, const HttpUrl& url,
                                             HttpPost post, Done done);
  virtual ~HttpExchange() = default;
  /// Abandons the exchange: its socket closes and `done` gets "cancelled" unless it has already
  /// finished. Idempotent.
  virtual void cancel() = 0;
};

}  // namespace rtpm::server
