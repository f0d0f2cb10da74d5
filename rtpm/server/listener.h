// Listener: accepts TCP connections and starts an HttpSession for each, on
// its own strand.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "rtpm/base/error.h"
#include "rtpm/server/context.h"

namespace rtpm::server {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  explicit Listener(ServerContext& ctx);
  /// Opens, binds and listens; raises the process's file limit first.
  Result<void> open(const boost::asio::ip::tcp::endpoint& endpoint);
  uint16_t port() const;
  void run();
  void stop();

 private:
  void do_accept();
  ServerContext& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace rtpm::server
