// HttpSession: HTTP on the server's port (over TLS when the server has a
// certificate: the handshake comes first), and the upgrade to WebSocket at /ws.
// What to answer is decided sans-I/O by handle_request (http_handler.h); this
// class reads requests (within --header-timeout each, TLS handshake included),
// writes the answers, reads rooms for GET /api/rooms/ROOM without creating
// them, asks --auth-url first where handle_request says so, carries out the
// admin API (revoke, remove), and hands upgrades to a WebSocketSession together
// with the connection's ClientLimits slot and the credentials the upgrade
// request presented.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "rtpm/server/authenticator.h"
#include "rtpm/server/client_limits.h"
#include "rtpm/server/context.h"
#include "rtpm/server/http_handler.h"
#include "rtpm/server/server_stream.h"

namespace rtpm::server {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  /// `slot` is the connection's place in ClientLimits, held until it closes.
  HttpSession(ServerContext& ctx, boost::asio::ip::tcp::socket&& socket, ClientLimits::Slot slot);
  void run();

 private:
  void on_handshake(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, size_t);
  /// Carries out a document API request (document_api.h) and answers it.
  void run_api(std::shared_ptr<HttpRequest> req, ApiRequest api);
  /// --auth-url: asks about `token` for `room` and `user_id` (null for reads); runs `allowed` on
  /// this connection's executor with the userId the application names ("" when none) when the
  /// answer grants `needed` (and, for a write, names no other userId), else answers 401
  /// (failure) or 403 (denied).
  /// A relay connection from another node (X-Rtpm-Relay: the cluster's secret): its grant, or
  /// a refusal when the secret is wrong; nullopt when the request is no relay's (or this
  /// server is no cluster node).
  std::optional<SessionAuth> relay_auth(const HttpRequest& req) const;
  void ask_callback(std::shared_ptr<HttpRequest> req, std::string token, std::string room,
                    std::optional<std::string> user_id, auth::Permission needed,
                    std::function<void(const std::string& bound_user)> allowed);
  /// POST /api/admin/revoke: marks the token id revoked and closes its sessions.
  void revoke_token(const HttpRequest& req, const std::string& jti);
  /// POST /api/admin/rooms/ROOM/remove.
  void remove_members(std::shared_ptr<HttpRequest> req, RemoveRequest remove);
  void respond(HttpResponse res);
  void on_write(bool keep_alive, boost::beast::error_code ec, size_t);
  /// Ends the connection after the last response (TLS: close_notify first).
  void close();

  void expire_after(std::chrono::seconds timeout);

  ServerContext& ctx_;
  ClientLimits::Slot slot_;
  ServerStream stream_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<HttpRequestParser> parser_;
  std::shared_ptr<HttpResponse> pending_;
};

}  // namespace rtpm::server
