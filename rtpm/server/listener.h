// Listener: accepts TCP connections and starts an HttpSession for each, on
// its own strand. When accept fails for want of descriptors or memory (EMFILE,
// ENFILE, ENOBUFS, ENOMEM) it pauses 100 ms and tries again, instead of
// spinning on the connection still waiting in the backlog.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "rtpm/base/error.h"
#include "rtpm/server/context.h"

namespace rtpm::server {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  explicit Listener(ServerContext& ctx);
  /// Opens, binds and listens; sets the process's file limit first (options.max_open_files, or
  /// the soft limit raised to the hard one).
  Result<void> open(const boost::asio::ip::tcp::endpoint& endpoint);
  uint16_t port() const;
  void run();
  void stop();

 private:
  void do_accept();
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);
  ServerContext& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;  // the pause after a failed accept
  int64_t failures_in_a_row_ = 0;
};

}  // namespace rtpm::server
