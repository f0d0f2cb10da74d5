#include "rtpm/server/listener.h"

#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include "rtpm/server/http_session.h"

namespace rtpm::server {

namespace net = boost::asio;

Listener::Listener(ServerContext& ctx) : ctx_(ctx), acceptor_(net::make_strand(ctx.ioc)) {}

Result<void> Listener::open(const net::ip::tcp::endpoint& endpoint) {
  // Many idle connections need many descriptors: raise the soft limit to the hard one.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
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
  });
}

void Listener::do_accept() {
  acceptor_.async_accept(
      net::make_strand(ctx_.ioc),
      [self = shared_from_this()](boost::system::error_code ec, net::ip::tcp::socket socket) {
        if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (!ec) {
          socket.set_option(net::ip::tcp::no_delay(true), ec);
          std::make_shared<HttpSession>(self->ctx_, std::move(socket))->run();
        } else if (ec == net::error::no_descriptors) {
          spdlog::warn("accept: out of file descriptors");
        }
        self->do_accept();
      });
}

}  // namespace rtpm::server
