// ServerStream: the bytes under one connection's HTTP and WebSocket, either
// plain TCP (beast::tcp_stream) or TLS over it (beast::ssl_stream), chosen
// when the connection is accepted (TLS when the server has --tls-cert).
//
// HttpSession and WebSocketSession are written once against this type; a
// read or write costs one branch on the variant's index more than on the bare
// stream, and the plain path runs exactly Beast's tcp_stream code. It is an
// AsyncReadStream and AsyncWriteStream, its next_layer() is the TCP stream
// (so beast::get_lowest_layer reaches the socket and its timer), and
// teardown/async_teardown let websocket::stream close it (TLS close_notify,
// then the TCP shutdown).
#pragma once

#include <utility>
#include <variant>

#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace rtpm::server {

class ServerStream {
 public:
  using Plain = boost::beast::tcp_stream;
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using executor_type = Plain::executor_type;

  /// Plain TCP.
  explicit ServerStream(Plain&& plain) : s_(std::in_place_index<0>, std::move(plain)) {}
  /// TLS over `plain`; the handshake is the owner's to run (tls().async_handshake).
  ServerStream(Plain&& plain, boost::asio::ssl::context& tls)
      : s_(std::in_place_index<1>, std::move(plain), tls) {}

  bool is_tls() const { return s_.index() == 1; }
  /// The TLS stream; only when is_tls().
  Tls& tls() { return std::get<1>(s_); }
  /// The TCP stream (for beast::get_lowest_layer: the socket, the timeouts).
  Plain& next_layer() { return s_.index() == 0 ? std::get<0>(s_) : std::get<1>(s_).next_layer(); }
  executor_type get_executor() { return next_layer().get_executor(); }

  template <class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    return boost::asio::async_initiate<Handler, void(boost::system::error_code, std::size_t)>(
        [this](auto&& h, const MutableBuffers& b) {
          if (s_.index() == 0)
            std::get<0>(s_).async_read_some(b, std::move(h));
          else
            std::get<1>(s_).async_read_some(b, std::move(h));
        },
        handler, buffers);
  }

  template <class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    return boost::asio::async_initiate<Handler, void(boost::system::error_code, std::size_t)>(
        [this](auto&& h, const ConstBuffers& b) {
          if (s_.index() == 0)
            std::get<0>(s_).async_write_some(b, std::move(h));
          else
            std::get<1>(s_).async_write_some(b, std::move(h));
        },
        handler, buffers);
  }

  // websocket::stream's closing hooks (found by argument-dependent lookup).
  friend void teardown(boost::beast::role_type role, ServerStream& s,
                       boost::system::error_code& ec) {
    using boost::beast::websocket::teardown;
    if (s.s_.index() == 0)
      teardown(role, std::get<0>(s.s_), ec);
    else
      teardown(role, std::get<1>(s.s_), ec);
  }
  template <class Handler>
  friend void async_teardown(boost::beast::role_type role, ServerStream& s, Handler&& handler) {
    using boost::beast::websocket::async_teardown;
    if (s.s_.index() == 0)
      async_teardown(role, std::get<0>(s.s_), std::forward<Handler>(handler));
    else
      async_teardown(role, std::get<1>(s.s_), std::forward<Handler>(handler));
  }

 private:
  std::variant<Plain, Tls> s_;
};

}  // namespace rtpm::server
