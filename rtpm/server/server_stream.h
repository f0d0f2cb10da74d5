// ServerStream: the bytes under one connection's HTTP and WebSocket, either
// a plain TCP socket or TLS over it (beast::ssl_stream), chosen when the
// connection is accepted (TLS when the server has --tls-cert).
//
// HttpSession and WebSocketSession are written once against this type; a
// read or write costs one branch on the variant's index more than on the bare
// socket. The socket is typed on its strand (not any_io_executor, whose copies
// make every pending operation larger) and is not a beast::tcp_stream (whose
// impl carries two timers that would sit idle in every WebSocket connection:
// memory per idle connection, docs/benchmark-results.md); the sessions run their own
// timers. It is an AsyncReadStream and AsyncWriteStream, its next_layer() is
// the socket (so beast::get_lowest_layer reaches it), and
// teardown/async_teardown let websocket::stream close it (TLS close_notify,
// then the TCP shutdown).
//
// Held writes: between hold_writes() and release_writes(), what is written
// (the frames of a burst of queued messages, and any control frame Beast
// writes meanwhile) is copied and its write completes at once; the release
// sends it all with one write, one system call instead of one per frame (and
// on loopback one trip through the receiver's stack). The owner releases at
// the end of every burst and starts no new message write until the release's
// callback: what it holds is bounded by its own queue. A control frame that
// Beast writes while a release is in flight is held too, and sent after it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <unistd.h>

namespace rtpm::server {

class ServerStream {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  using Plain = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Strand>;
  using Tls = boost::beast::ssl_stream<Plain>;
  using executor_type = Strand;

  /// Plain TCP.
  explicit ServerStream(Plain&& plain) : s_(std::in_place_index<0>, std::move(plain)) {}
  /// TLS over `plain`; the handshake is the owner's to run (tls().async_handshake).
  ServerStream(Plain&& plain, boost::asio::ssl::context& tls)
      : s_(std::in_place_index<1>, std::move(plain), tls) {}

  /// The accepted socket's descriptor moved onto a socket typed on its strand (the acceptor
  /// gives each connection a strand); TLS when `tls` is given. When moving the descriptor
  /// fails, the stream's socket is closed and the first operation fails.
  static ServerStream adopt(boost::asio::ip::tcp::socket&& socket, boost::asio::io_context& ioc,
                            boost::asio::ssl::context* tls);

  bool is_tls() const { return s_.index() == 1; }
  /// The TLS stream; only when is_tls().
  Tls& tls() { return std::get<1>(s_); }
  /// The TCP socket (beast::get_lowest_layer reaches it).
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
          if (held_ && (held_->holding || held_->flushing)) {
            // Held: copied, and done (never inline: posted to the handler's executor).
            size_t n = 0;
            for (auto it = boost::asio::buffer_sequence_begin(b);
                 it != boost::asio::buffer_sequence_end(b); ++it) {
              boost::asio::const_buffer one = *it;
              held_->pending.append(static_cast<const char*>(one.data()), one.size());
              n += one.size();
            }
            auto ex = boost::asio::get_associated_executor(h, get_executor());
            return boost::asio::post(
                ex, [h = std::move(h), n]() mutable { h(boost::system::error_code{}, n); });
          }
          if (s_.index() == 0)
            std::get<0>(s_).async_write_some(b, std::move(h));
          else
            std::get<1>(s_).async_write_some(b, std::move(h));
        },
        handler, buffers);
  }

  /// From now on writes are held (see above) until release_writes; holding already, nothing.
  void hold_writes() {
    if (!held_) held_ = std::make_unique<Held>();
    held_->holding = true;
  }
  bool holding_writes() const { return held_ && held_->holding; }
  /// Sends what is held in one write (more if control frames were held meanwhile), then calls
  /// `done` with its result; `owner` keeps the stream alive until then.
  void release_writes(std::shared_ptr<void> owner,
                      std::function<void(boost::system::error_code)> done) {
    if (!held_) return done({});
    held_->holding = false;
    held_->done = std::move(done);
    flush_held(std::move(owner));
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
  struct Held {
    std::string pending;  // held, not yet sent
    std::string sending;  // in the write in flight
    bool holding = false;
    bool flushing = false;
    std::function<void(boost::system::error_code)> done;
  };

  void flush_held(std::shared_ptr<void> owner) {
    Held& h = *held_;
    if (h.pending.empty()) {
      // All sent: an idle connection holds no buffers.
      auto done = std::move(h.done);
      held_.reset();
      if (done) done({});
      return;
    }
    h.flushing = true;
    h.sending.swap(h.pending);
    h.pending.clear();
    auto on_sent = [this, owner](boost::system::error_code ec, std::size_t) mutable {
      held_->flushing = false;
      held_->sending.clear();
      if (ec) {
        auto done = std::move(held_->done);
        held_.reset();
        if (done) done(ec);
        return;
      }
      flush_held(std::move(owner));
    };
    if (s_.index() == 0)
      boost::asio::async_write(std::get<0>(s_), boost::asio::buffer(h.sending), std::move(on_sent));
    else
      boost::asio::async_write(std::get<1>(s_), boost::asio::buffer(h.sending), std::move(on_sent));
  }

  std::variant<Plain, Tls> s_;
  std::unique_ptr<Held> held_;  // only while writes are held or being sent
};

inline ServerStream ServerStream::adopt(boost::asio::ip::tcp::socket&& socket,
                                        boost::asio::io_context& ioc,
                                        boost::asio::ssl::context* tls) {
  const Strand* strand = socket.get_executor().target<Strand>();
  Plain plain(strand ? *strand : boost::asio::make_strand(ioc));
  boost::system::error_code ec;
  auto protocol = socket.local_endpoint(ec).protocol();
  if (!ec) {
    auto fd = socket.release(ec);
    if (!ec) plain.assign(protocol, fd, ec);
    if (ec && fd >= 0) ::close(fd);
  }
  if (tls) return ServerStream(std::move(plain), *tls);
  return ServerStream(std::move(plain));
}

}  // namespace rtpm::server
