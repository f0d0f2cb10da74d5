// Authenticator: the server's access policy (docs/security.md) in one place, without sockets.
//
// Built at start from the options: the --auth-file tokens, the JWT keys, the --auth-url
// callback, the admin and metrics tokens, the allowed origins and hosts. It answers, for a
// parsed request: which token it carries, what that token grants (Grant), whether its Origin
// and Host are allowed, whether it carries the admin or metrics token. It also holds the
// revoked token ids. Thread-safe: everything is immutable after create() except the revoked
// set, which has its own mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "rtpm/auth/access.h"
#include "rtpm/auth/jwt.h"
#include "rtpm/base/error.h"
#include "rtpm/room/room_core.h"
#include "rtpm/server/auth_callback.h"
#include "rtpm/server/http_handler.h"
#include "rtpm/server/options.h"

namespace rtpm::server {

/// A connection from another node of the cluster relaying one member (relay.h): the node
/// decided the member's subject and access; this node admits it with them.
struct RelayGrant {
  std::string subject;
  room::Access access;
  /// Where the member is: the relaying node (Cluster::node()) and its connection's id there.
  std::string origin_node;
  uint64_t origin_conn = 0;
};

/// What a WebSocket connection presented on its upgrade request.
struct SessionAuth {
  /// False: the connection is answered `unauthorized` and closed.
  bool authorized = true;
  std::string refusal;
  /// The token's grant (file or JWT); null when authentication is off or per join (callback).
  std::shared_ptr<const auth::Grant> grant;
  /// --auth-url: the token, asked about at each join.
  std::string callback_token;
  /// Set for a relay connection that presented the cluster's secret.
  std::optional<RelayGrant> relay;
};

class Authenticator {
 public:
  /// Reads the files the options name. Errors (ErrorCode::internal) say which flag is wrong.
  static Result<std::unique_ptr<Authenticator>> create(const ServerOptions& options,
                                                       boost::asio::io_context& ioc);
  ~Authenticator();

  /// Authentication is on (a token file, JWT keys or a callback).
  bool enabled() const { return enabled_; }
  /// --auth-url: grants are decided per join by the callback.
  AuthCallback* callback() const { return callback_.get(); }
  bool has_admin() const { return !admin_token_.empty(); }
  /// Grants can expire (JWTs carry `exp`; token-file and --auth-url grants do not).
  bool grants_expire() const { return jwt_ != nullptr; }

  /// The token of a request: `Authorization: Bearer TOKEN`, else the percent-decoded value of
  /// `?token=`; "" when none.
  static std::string request_token(const HttpRequest& req);
  /// What `token` grants at `now_ms` (file first, then JWT); unauthorized when it is unknown,
  /// invalid, expired or revoked. Not for callback mode.
  Result<std::shared_ptr<const auth::Grant>> authenticate(std::string_view token,
                                                          int64_t now_ms) const;
  /// The upgrade request's credentials, checked.
  SessionAuth session_auth(const HttpRequest& req, int64_t now_ms) const;
  /// The access of a member with `permission` (read: no steps; presence per the options).
  room::Access access(auth::Permission permission) const;

  /// The request carries the admin token as a bearer token.
  bool is_admin(const HttpRequest& req) const;
  /// The document API is guarded: authentication is on, or --api-token-file is set.
  bool api_guarded() const { return enabled_ || !api_token_.empty(); }
  /// The request may do everything the document API offers: it carries the API token or the
  /// admin token as a bearer token.
  bool is_api_client(const HttpRequest& req) const;
  /// GET /metrics is allowed: its token when --metrics-token-file is set; otherwise only
  /// when authentication is off.
  bool metrics_allowed(const HttpRequest& req) const;

  /// The request's Origin, if any, is allowed (docs/security.md "Origins and hosts").
  bool origin_allowed(const HttpRequest& req) const;
  /// The request's Host is allowed.
  bool host_allowed(const HttpRequest& req) const;

  /// Marks `jti` revoked; false when the set is full (100,000).
  bool revoke(const std::string& jti);
  bool revoked(std::string_view jti) const;

 private:
  Authenticator() = default;

  bool enabled_ = false;
  bool read_only_presence_ = true;
  bool check_host_ = false;
  bool loopback_bind_ = false;
  std::unordered_map<std::string, std::shared_ptr<const auth::Grant>> file_tokens_;
  std::unique_ptr<auth::JwtVerifier> jwt_;
  std::unique_ptr<AuthCallback> callback_;
  std::string admin_token_;
  std::string metrics_token_;
  std::string api_token_;
  bool any_origin_ = false;
  std::vector<std::string> origins_;
  std::vector<std::string> hosts_;  // lower case
  mutable std::mutex revoked_mutex_;
  std::unordered_set<std::string> revoked_;
};

}  // namespace rtpm::server
