#include "rtpm/server/listener.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "rtpm/server/http_session.h"

namespace rtpm::server {

namespace net = boost::asio;

Listener::Listener(ServerContext& ctx)
    : ctx_(ctx), acceptor_(net::make_strand(ctx.ioc)), retry_(acceptor_.get_executor()) {}

Result<void> Listener::open(const net::ip::tcp::endpoint& endpoint) {
  // Many idle connections need many descriptors: raise the soft limit to the hard one (or set
  // the one asked for, within the hard limit).
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    rlim_t want = lim.rlim_max;
    if (ctx_.options.max_open_files > 0)
      want = std::min<rlim_t>(want, static_cast<rlim_t>(ctx_.options.max_open_files));
    if (want != lim.rlim_cur) {
      lim.rlim_cur = want;
      if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
        spdlog::warn("cannot set the file limit to {}: {}", want, std::strerror(errno));
    }
    getrlimit(RLIMIT_NOFILE, &lim);
    uint64_t files = lim.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : lim.rlim_cur;
    // The connections the descriptors allow, less a reserve for the listener, the event loop,
    // SQLite (database, WAL, shared memory), logs, static files and connections being refused.
    uint64_t fit = files - std::min<uint64_t>(64, files / 4);
    size_t cap = ctx_.options.max_connections;
    if (cap == 0) {
      cap = static_cast<size_t>(fit);
      ctx_.limits.set_max_connections(cap);
    } else if (cap > fit) {
      spdlog::warn(
          "--max-connections {} is more than the file limit {} allows ({}): past that, accept "
          "fails and pauses instead of refusing with 503",
          cap, files, fit);
    }
    spdlog::info("file limit {} (hard {}): at most {} connections, {} per client address", files,
                 static_cast<uint64_t>(lim.rlim_max), cap,
                 ctx_.options.max_connections_per_ip == 0
                     ? std::string("any number")
                     : std::to_string(ctx_.options.max_connections_per_ip));
  }
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Error{ErrorCode::internal, "cannot listen on " + endpoint.address().to_string() + ":" +
                                          std::to_string(endpoint.port()) + ": " + ec.message()};
  return {};
}

uint16_t Listener::port() const { return acceptor_.local_endpoint().port(); }

void Listener::run() { do_accept(); }

void Listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_.cancel();
  });
}

void Listener::do_accept() {
  acceptor_.async_accept(
      net::make_strand(ctx_.ioc),
      [self = shared_from_this()](boost::system::error_code ec, net::ip::tcp::socket socket) {
        self->on_accept(ec, std::move(socket));
      });
}

void Listener::on_accept(boost::system::error_code ec, net::ip::tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (!ec) {
    if (failures_in_a_row_ > 0)
      spdlog::info("accepting again after {} failed accepts", failures_in_a_row_);
    failures_in_a_row_ = 0;
    auto peer = socket.remote_endpoint(ec);
    if (ec) return do_accept();  // the peer is gone already
    auto slot = ctx_.limits.connect(ClientLimits::address_key(peer.address()));
    if (auto* why = std::get_if<ClientLimits::Refusal>(&slot)) {
      refuse(socket, *why);
      return do_accept();
    }
    socket.set_option(net::ip::tcp::no_delay(true), ec);
    std::make_shared<HttpSession>(ctx_, std::move(socket),
                                  std::move(std::get<ClientLimits::Slot>(slot)))
        ->run();
    return do_accept();
  }
  bool out_of_resources = ec == net::error::no_descriptors ||
                          ec == boost::system::errc::too_many_files_open_in_system ||
                          ec == net::error::no_buffer_space || ec == net::error::no_memory;
  if (!out_of_resources) return do_accept();  // e.g. the peer gave up (ECONNABORTED)
  // The connection stays in the backlog and accept() would fail again at once: pause until
  // some connection closes. Logged once per episode.
  ctx_.metrics.accept_failures.fetch_add(1, std::memory_order_relaxed);
  if (failures_in_a_row_++ == 0)
    spdlog::warn("accept: {}; pausing new connections until descriptors are free", ec.message());
  retry_.expires_after(std::chrono::milliseconds(100));
  retry_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
    if (!wait_ec && self->acceptor_.is_open()) self->do_accept();
  });
}

void Listener::refuse(net::ip::tcp::socket& socket, ClientLimits::Refusal why) {
  ctx_.metrics.connections_refused.fetch_add(1, std::memory_order_relaxed);
  ++refused_unlogged_;
  auto now = std::chrono::steady_clock::now();
  if (now - refusal_logged_ >= std::chrono::seconds(10)) {
    spdlog::warn("refused {} connection(s): {}", refused_unlogged_,
                 why == ClientLimits::Refusal::server_full
                     ? "--max-connections reached"
                     : "--max-connections-per-ip reached for an address");
    refused_unlogged_ = 0;
    refusal_logged_ = now;
  }
  int fd = socket.native_handle();
  if (!ctx_.tls) {
    // One non-blocking send of a fixed answer; a client whose buffer is full gets none.
    static constexpr std::string_view k503 =
        "HTTP/1.1 503 Service Unavailable\r\nServer: realtime-pm\r\n"
        "Content-Type: text/plain\r\nContent-Length: 21\r\nRetry-After: 1\r\n"
        "Connection: close\r\n\r\ntoo many connections\n";
    [[maybe_unused]] ssize_t sent =
        ::send(fd, k503.data(), k503.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
  }
  // Drop what the client has sent so far, so that closing sends FIN rather than RST (an RST
  // may discard the answer before the client reads it).
  char sink[4096];
  for (int i = 0; i < 16 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  boost::system::error_code ignored;
  socket.close(ignored);
}

}  // namespace rtpm::server
