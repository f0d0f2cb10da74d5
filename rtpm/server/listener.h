// Listener: accepts TCP connections and starts an HttpSession for each, on
// its own strand, holding a ClientLimits slot. A connection beyond
// --max-connections or --max-connections-per-ip is refused at once: plain
// HTTP gets a fixed `503 Service Unavailable` (written without blocking) and
// the socket is closed; TLS is just closed. When accept itself fails for want
// of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM; only when
// --max-connections was set above what the file limit allows) it pauses
// 100 ms and tries again, instead of spinning on the connection still waiting
// in the backlog.
#pragma once

#include <chrono>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "rtpm/base/error.h"
#include "rtpm/server/client_limits.h"
#include "rtpm/server/context.h"

namespace rtpm::server {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  explicit Listener(ServerContext& ctx);
  /// Opens, binds and listens; sets the process's file limit first (options.max_open_files, or
  /// the soft limit raised to the hard one), and derives the connection cap from it when
  /// options.max_connections is 0.
  Result<void> open(const boost::asio::ip::tcp::endpoint& endpoint);
  uint16_t port() const;
  void run();
  void stop();

 private:
  void do_accept();
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);
  /// Answers and closes a connection that ClientLimits refused.
  void refuse(boost::asio::ip::tcp::socket& socket, ClientLimits::Refusal why);
  ServerContext& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;  // the pause after a failed accept
  int64_t failures_in_a_row_ = 0;
  // Refusals are logged once per 10 s at most, with how many there were.
  int64_t refused_unlogged_ = 0;
  std::chrono::steady_clock::time_point refusal_logged_{};
};

}  // namespace rtpm::server
