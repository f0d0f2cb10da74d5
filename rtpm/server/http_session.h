// HttpSession: HTTP on the server's port (over TLS when the server has a
// certificate: the handshake comes first), and the upgrade to WebSocket at /ws. Routes: GET
// /healthz, /metrics, /api/schema, /api/rooms/ROOM, and / (the demo page from the static folder).
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "rtpm/server/context.h"
#include "rtpm/server/server_stream.h"

namespace rtpm::server {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(ServerContext& ctx, boost::asio::ip::tcp::socket&& socket);
  void run();

 private:
  void on_handshake(boost::beast::error_code ec);
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;
  void do_read();
  void on_read(boost::beast::error_code ec, size_t);
  void handle(Request req);
  void respond(Response res);
  void on_write(bool keep_alive, boost::beast::error_code ec, size_t);
  /// Ends the connection after the last response (TLS: close_notify first).
  void close();
  Response make(const Request& req, boost::beast::http::status status, std::string body,
                const char* content_type);

  void expire_after(std::chrono::seconds timeout);

  ServerContext& ctx_;
  ServerStream stream_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::shared_ptr<Response> pending_;
};

/// Decodes a percent-encoded path segment; nullopt when malformed.
std::optional<std::string> percent_decode(std::string_view segment);

}  // namespace rtpm::server
